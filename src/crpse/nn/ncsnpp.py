"""NCSN++ (Song et al., ICLR 2021) as used by SGMSE+, BBED and CRP, in pure PyTorch.

Input: complex ``[B, 2, F, T]`` (channel 0: the state x_t, channel 1: the noisy y) and times ``t [B]``.
Output: complex ``[B, 1, F, T]``. The same network also takes the real view of its input, real ``[B, 4, F, T]``
(``Re x_t, Im x_t, Re y, Im y``), and then returns the real view of its output, ``[B, 2, F, T]`` (``Re, Im``): graph
exporters have no complex numbers (:mod:`crpse.backends.onnx`). ``F`` and ``T`` must be multiples of ``2 ** (len(ch_mult) - 1)``.

Parameter names, shapes and registration order equal the reference (``output_layer`` first, then
``all_modules.0 ...``), so sgmse / sgmse-bbed / sgmse_crp checkpoints and their positional EMA lists load as they
are. Two deliberate differences, neither of which changes any output for F = 256:

* attention placement is decided once, per U-Net level, from ``image_size`` (the reference decides it again in
  ``forward`` from the live frequency size, so for F != 256 the two disagree and the module indices go wrong);
* FIR resampling is a strided depthwise convolution instead of the JIT-compiled CUDA ``upfirdn2d``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import torch
from torch import nn

from crpse.nn.fir import downsample_2d, upsample_2d
from crpse.nn.layers import AttnBlock, Combine, GaussianFourierProjection, ResnetBlockBigGAN, conv2d, group_norm, linear

_ACTIVATIONS = {"swish": nn.SiLU, "silu": nn.SiLU, "relu": nn.ReLU, "elu": nn.ELU, "lrelu": lambda: nn.LeakyReLU(0.2)}
_FIR_TAPS = (1.0, 3.0, 3.0, 1.0)  # the reference hard-codes this kernel, whatever `fir_kernel` says


@dataclass(frozen=True)
class NCSNppConfig:
    """Constructor arguments of NCSN++, named as in the reference (so ``hyper_parameters`` map one to one).

    Only the options the reference's CRP/BBED models can use are supported: BigGAN residual blocks with FIR
    resampling, Gaussian Fourier time embedding, ``output_skip``/``none`` output pyramids and
    ``input_skip``/``none`` input pyramids.
    """

    nf: int = 128  # base channel count
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 2, 2, 2)  # channel multiplier per U-Net level
    num_res_blocks: int = 2  # residual blocks per level on the way down (one more on the way up)
    attn_resolutions: tuple[int, ...] = (16,)  # levels whose frequency size (for image_size bins) get attention
    image_size: int = 256  # the frequency size used to place attention
    dropout: float = 0.0
    conditional: bool = True  # time conditioning through the residual blocks
    fourier_scale: float = 16.0
    skip_rescale: bool = True  # divide residual sums by sqrt(2)
    init_scale: float = 0.0
    progressive: str = "output_skip"  # output pyramid: output_skip | none
    progressive_input: str = "input_skip"  # input pyramid: input_skip | none
    progressive_combine: str = "sum"  # sum | cat
    resblock_type: str = "biggan"
    embedding_type: str = "fourier"
    nonlinearity: str = "swish"
    centered: bool = True  # False maps the input x to 2x - 1 first (score_sde legacy)
    scale_by_sigma: bool = True  # divide the features by t before the 1x1 output layer
    fir: bool = True
    fir_kernel: Any = field(default=_FIR_TAPS)  # accepted for compatibility; the kernel is always [1, 3, 3, 1]
    resamp_with_conv: bool = True  # only used by 'ddpm' blocks in the reference
    num_channels: int = 4  # real input channels: Re x, Im x, Re y, Im y

    def __post_init__(self) -> None:
        object.__setattr__(self, "ch_mult", tuple(int(m) for m in self.ch_mult))
        object.__setattr__(self, "attn_resolutions", tuple(int(r) for r in self.attn_resolutions))
        object.__setattr__(self, "fir_kernel", _FIR_TAPS)  # the reference ignores it too ('song' is overwritten)
        unsupported = {
            "resblock_type": (self.resblock_type, ("biggan",)),
            "embedding_type": (self.embedding_type, ("fourier",)),
            "progressive": (self.progressive, ("output_skip", "none")),
            "progressive_input": (self.progressive_input, ("input_skip", "none")),
            "progressive_combine": (self.progressive_combine, ("sum", "cat")),
            "nonlinearity": (self.nonlinearity, tuple(_ACTIVATIONS)),
        }
        for name, (value, allowed) in unsupported.items():
            if value not in allowed:
                raise ValueError(f"NCSNpp {name}={value!r} is not supported; use one of {allowed}")
        if not self.fir:
            raise ValueError("NCSNpp fir=False (naive resampling) is not supported; the reference models use FIR")
        if self.nf < 4 or self.nf % 4:
            raise ValueError(f"nf must be a positive multiple of 4 (GroupNorm groups), got {self.nf}")
        if not self.ch_mult or self.num_res_blocks < 1:
            raise ValueError("ch_mult must be non-empty and num_res_blocks >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], strict: bool = True) -> NCSNppConfig:
        """Build from a dict; unknown keys raise (``strict``) or are ignored (reference hyper-parameters)."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if strict and unknown:
            raise ValueError(f"unknown NCSNpp options {sorted(unknown)}")
        return cls(**{k: v for k, v in values.items() if k in known})

    @property
    def frame_multiple(self) -> int:
        """F and T must be multiples of this (one halving per level)."""
        return 2 ** (len(self.ch_mult) - 1)


NAMED_CONFIGS: dict[str, NCSNppConfig] = {
    # the reference network: 65,590,822 parameters
    "ncsnpp": NCSNppConfig(),
    # half the channels and one block per level: ~6x fewer FLOPs than ncsnpp
    "ncsnpp_m": NCSNppConfig(nf=64, num_res_blocks=1),
    # < 1 M parameters, for tests and CPU demos
    "tiny": NCSNppConfig(nf=16, ch_mult=(1, 2, 2, 2, 2, 2, 2), num_res_blocks=1, attn_resolutions=(16,)),
}


def named_config(name: str, **overrides: Any) -> NCSNppConfig:
    """One of :data:`NAMED_CONFIGS` (``ncsnpp``, ``ncsnpp_m``, ``tiny``), optionally with overrides."""
    if name not in NAMED_CONFIGS:
        raise ValueError(f"unknown network configuration {name!r}; choose one of {sorted(NAMED_CONFIGS)}")
    return replace(NAMED_CONFIGS[name], **overrides)


class NCSNpp(nn.Module):
    """The NCSN++ U-Net. ``forward(x, t) -> [B, 1, F, T]`` for complex ``x [B, 2, F, T]`` and ``t [B]``."""

    def __init__(self, config: NCSNppConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or NCSNppConfig()
        nf, ch_mult, num_levels = cfg.nf, cfg.ch_mult, len(cfg.ch_mult)
        channels = cfg.num_channels
        self.act = _ACTIVATIONS[cfg.nonlinearity]()
        # registered first, as in the reference, so that parameters() order (and EMA lists) match
        self.output_layer = nn.Conv2d(channels, 2, 1)

        resolutions = [cfg.image_size // (2**level) for level in range(num_levels)]
        self.attention_levels = tuple(res in cfg.attn_resolutions for res in resolutions)
        temb_dim = 4 * nf if cfg.conditional else None

        def resblock(in_ch: int, out_ch: int | None = None, up: bool = False, down: bool = False) -> nn.Module:
            return ResnetBlockBigGAN(
                in_ch, out_ch, temb_dim=temb_dim, up=up, down=down, dropout=cfg.dropout, fir_taps=_FIR_TAPS,
                skip_rescale=cfg.skip_rescale, init_scale=cfg.init_scale,
            )

        def attention(ch: int) -> nn.Module:
            return AttnBlock(ch, skip_rescale=cfg.skip_rescale, init_scale=cfg.init_scale)

        modules: list[nn.Module] = [GaussianFourierProjection(nf, cfg.fourier_scale)]
        if cfg.conditional:
            modules += [linear(2 * nf, 4 * nf), linear(4 * nf, 4 * nf)]
        modules.append(conv2d(channels, nf, 3))

        # down path
        skip_channels = [nf]
        in_ch = nf
        for level in range(num_levels):
            for _ in range(cfg.num_res_blocks):
                out_ch = nf * ch_mult[level]
                modules.append(resblock(in_ch, out_ch))
                in_ch = out_ch
                if self.attention_levels[level]:
                    modules.append(attention(in_ch))
                skip_channels.append(in_ch)
            if level != num_levels - 1:
                modules.append(resblock(in_ch, down=True))
                if cfg.progressive_input == "input_skip":
                    modules.append(Combine(channels, in_ch, method=cfg.progressive_combine))
                    if cfg.progressive_combine == "cat":
                        in_ch *= 2
                skip_channels.append(in_ch)

        # middle
        in_ch = skip_channels[-1]
        modules += [resblock(in_ch), attention(in_ch), resblock(in_ch)]

        # up path
        for level in reversed(range(num_levels)):
            for _ in range(cfg.num_res_blocks + 1):
                out_ch = nf * ch_mult[level]
                modules.append(resblock(in_ch + skip_channels.pop(), out_ch))
                in_ch = out_ch
            if self.attention_levels[level]:
                modules.append(attention(in_ch))
            if cfg.progressive == "output_skip":
                modules += [group_norm(in_ch), conv2d(in_ch, channels, 3, init_scale=cfg.init_scale)]
            if level != 0:
                modules.append(resblock(in_ch, up=True))
        if skip_channels:
            raise AssertionError("NCSNpp construction left unused skip connections")
        if cfg.progressive != "output_skip":
            modules += [group_norm(in_ch), conv2d(in_ch, channels, 3, init_scale=cfg.init_scale)]
        self.all_modules = nn.ModuleList(modules)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Network output (before the score model's sign flip).

        Args:
            x: complex ``[B, 2, F, T]``: the diffusion state and the conditioning spectrogram; or its real view,
                real ``[B, 4, F, T]`` (``Re x_t, Im x_t, Re y, Im y``).
            t: ``[B]`` diffusion times in (0, 1]; conditioning uses ``log t``, and the output is divided by ``t``.

        Returns:
            complex ``[B, 1, F, T]``; for a real view input, the real view ``[B, 2, F, T]`` (``Re, Im``).
        """
        cfg = self.config
        multiple = cfg.frame_multiple
        complex_input = x.is_complex()
        if x.dim() != 4 or x.shape[1] != (2 if complex_input else 4):
            raise ValueError(
                f"NCSNpp expects complex [B, 2, F, T] or its real view [B, 4, F, T], got {tuple(x.shape)} {x.dtype}"
            )
        if x.shape[-2] % multiple or x.shape[-1] % multiple:
            raise ValueError(
                f"NCSNpp needs F and T divisible by {multiple}, got F={x.shape[-2]}, T={x.shape[-1]}; "
                "pad the frames with SpecTransform.pad_frames"
            )
        modules = iter(self.all_modules)
        h = torch.cat([x[:, :1].real, x[:, :1].imag, x[:, 1:].real, x[:, 1:].imag], dim=1) if complex_input else x

        temb = next(modules)(torch.log(t))
        if cfg.conditional:
            temb = next(modules)(temb)
            temb = next(modules)(self.act(temb))
        else:
            temb = None
        if not cfg.centered:
            h = 2 * h - 1.0

        input_pyramid = h
        hs = [next(modules)(h)]
        num_levels = len(cfg.ch_mult)
        for level in range(num_levels):
            for _ in range(cfg.num_res_blocks):
                out = next(modules)(hs[-1], temb)
                if self.attention_levels[level]:
                    out = next(modules)(out)
                hs.append(out)
            if level != num_levels - 1:
                out = next(modules)(hs[-1], temb)
                if cfg.progressive_input == "input_skip":
                    input_pyramid = downsample_2d(input_pyramid, _FIR_TAPS)
                    out = next(modules)(input_pyramid, out)
                hs.append(out)

        out = hs[-1]
        out = next(modules)(out, temb)
        out = next(modules)(out)
        out = next(modules)(out, temb)

        pyramid = None
        for level in reversed(range(num_levels)):
            for _ in range(cfg.num_res_blocks + 1):
                out = next(modules)(torch.cat([out, hs.pop()], dim=1), temb)
            if self.attention_levels[level]:
                out = next(modules)(out)
            if cfg.progressive == "output_skip":
                norm, conv = next(modules), next(modules)
                branch = conv(self.act(norm(out)))
                pyramid = branch if pyramid is None else upsample_2d(pyramid, _FIR_TAPS) + branch
            if level != 0:
                out = next(modules)(out, temb)

        if cfg.progressive == "output_skip":
            out = pyramid
        else:
            norm, conv = next(modules), next(modules)
            out = conv(self.act(norm(out)))
        if next(modules, None) is not None:
            raise AssertionError("NCSNpp forward did not use every module")

        if cfg.scale_by_sigma:
            out = out / t.reshape(-1, 1, 1, 1)
        out = self.output_layer(out)
        if out.dtype in (torch.float16, torch.bfloat16):  # under autocast; complex half/bf16 does not exist
            out = out.float()
        if not complex_input:
            return out
        out = out.permute(0, 2, 3, 1).contiguous()
        return torch.view_as_complex(out)[:, None]


def count_parameters(module: nn.Module) -> int:
    """All parameters, trainable or not (the reference counts the fixed Fourier features too)."""
    return sum(p.numel() for p in module.parameters())


__all__ = ["NAMED_CONFIGS", "NCSNpp", "NCSNppConfig", "count_parameters", "named_config"]
