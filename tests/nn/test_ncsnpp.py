"""NCSN++: parameter counts and names, shapes, dtypes, attention placement, FIR resampling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from crpse.nn.fir import downsample_2d, fir_kernel_2d, upsample_2d
from crpse.nn.ncsnpp import NCSNpp, NCSNppConfig, count_parameters, named_config


def test_reference_parameter_count_and_names() -> None:
    net = NCSNpp(named_config("ncsnpp"))
    assert count_parameters(net) == 65_590_822
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == 65_590_694
    names = [n for n, _ in net.named_parameters()]
    assert len(names) == 647
    assert names[:3] == ["output_layer.weight", "output_layer.bias", "all_modules.0.W"]
    assert len(net.all_modules) == 77


def test_named_configs_sizes() -> None:
    assert count_parameters(NCSNpp(named_config("tiny"))) < 1_000_000
    mid = count_parameters(NCSNpp(named_config("ncsnpp_m")))
    assert 5_000_000 < mid < 30_000_000


def _tiny(**overrides: object) -> NCSNpp:
    torch.manual_seed(0)
    return NCSNpp(named_config("tiny", **overrides))


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_forward_shape_and_dtype(dtype: torch.dtype) -> None:
    net = _tiny()
    if dtype == torch.complex128:
        net = net.double()
    x = torch.randn(2, 2, 256, 64, dtype=dtype)
    t = torch.tensor([0.5, 0.1], dtype=x.real.dtype)
    out = net(x, t)
    assert out.shape == (2, 1, 256, 64) and out.dtype == dtype
    assert torch.isfinite(torch.view_as_real(out)).all()


def test_other_frequency_sizes_keep_attention_placement() -> None:
    net = _tiny(attn_resolutions=(16,))
    assert net.attention_levels == (False, False, False, False, True, False, False)
    out = net(torch.randn(1, 2, 128, 64, dtype=torch.complex64), torch.tensor([0.3]))  # F = 128, not 256
    assert out.shape == (1, 1, 128, 64)


def test_frame_count_must_divide() -> None:
    with pytest.raises(ValueError, match="divisible by 64"):
        _tiny()(torch.randn(1, 2, 256, 70, dtype=torch.complex64), torch.tensor([0.3]))


def test_unsupported_options_raise() -> None:
    with pytest.raises(ValueError, match="resblock_type"):
        NCSNppConfig(resblock_type="ddpm")
    with pytest.raises(ValueError, match="unknown NCSNpp options"):
        NCSNppConfig.from_dict({"nf": 16, "nff": 3})


def test_cat_combine_and_no_pyramids_run() -> None:
    for overrides in ({"progressive_combine": "cat"}, {"progressive": "none", "progressive_input": "none"},
                      {"conditional": False}):
        net = _tiny(**overrides)
        assert net(torch.randn(1, 2, 256, 64, dtype=torch.complex64), torch.tensor([0.4])).shape == (1, 1, 256, 64)


def _upfirdn_reference(x: torch.Tensor, k: torch.Tensor, up: int, down: int, pad: tuple[int, int]) -> torch.Tensor:
    """Direct zero-insertion / pad / convolve / decimate, per channel (the definition of upfirdn2d)."""
    b, c, h, w = x.shape
    u = torch.zeros(b, c, h * up, w * up, dtype=x.dtype)
    u[:, :, ::up, ::up] = x
    u = F.pad(u, (pad[0], pad[1], pad[0], pad[1]))
    kf = torch.flip(k, (0, 1))[None, None].expand(c, 1, *k.shape)
    return F.conv2d(u, kf, groups=c)[:, :, ::down, ::down]


def test_fir_resampling_matches_upfirdn_definition() -> None:
    x = torch.randn(2, 3, 8, 12, dtype=torch.float64)
    k = fir_kernel_2d((1, 3, 3, 1), dtype=torch.float64)
    torch.testing.assert_close(downsample_2d(x), _upfirdn_reference(x, k, 1, 2, (1, 1)))
    torch.testing.assert_close(upsample_2d(x), _upfirdn_reference(x, k * 4, 2, 1, (2, 1)))
    assert upsample_2d(x).shape == (2, 3, 16, 24) and downsample_2d(x).shape == (2, 3, 4, 6)


def test_cpu_bf16_upsampling_runs_in_fp32_and_keeps_the_bf16_dtype() -> None:
    # bf16 depthwise conv_transpose2d is slow on the CPU, so bf16 upsampling computes in fp32 and casts back: the
    # result is the fp32 one rounded to bf16, under autocast and for a bf16 input alike
    x = torch.randn(1, 4, 6, 10)
    exact = upsample_2d(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = upsample_2d(x)
    direct = upsample_2d(x.to(torch.bfloat16))
    assert under_autocast.dtype == direct.dtype == torch.bfloat16
    torch.testing.assert_close(under_autocast, exact.to(torch.bfloat16), rtol=0, atol=0)
    torch.testing.assert_close(direct.float(), upsample_2d(x.to(torch.bfloat16).float()).to(torch.bfloat16).float(),
                               rtol=0, atol=0)


def test_bf16_autocast_returns_complex64() -> None:
    net = _tiny()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(torch.randn(1, 2, 256, 64, dtype=torch.complex64), torch.tensor([0.3]))
    assert out.dtype == torch.complex64 and torch.isfinite(torch.view_as_real(out)).all()


def test_inference_forward_is_bit_identical_to_training_forward() -> None:
    """Without autograd the residual blocks update their own intermediates in place: same bits, inputs untouched."""
    net = _tiny().eval()
    for parameter in net.parameters():  # non-zero residual branches, so every in-place update matters
        torch.nn.init.normal_(parameter, std=0.05) if parameter.dim() > 1 else None
    x = torch.randn(2, 2, 256, 64, dtype=torch.complex64)
    t = torch.tensor([0.5, 0.1])
    x_copy = x.clone()
    with torch.enable_grad():
        expected = net(x, t).detach()
    with torch.inference_mode():
        got = net(x, t)
    assert torch.equal(got, expected)
    assert torch.equal(x, x_copy)
    assert expected.abs().max() > 0.1
