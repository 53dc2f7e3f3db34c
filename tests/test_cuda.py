"""The CUDA paths (issue 15): eager fp32 against the CPU, bf16 and fp16 autocast, and torch.compile with CUDA graphs
(``--backend compile``). They run where a CUDA GPU exists and are skipped elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crpse.backends import InferenceBackend, select_backend
from crpse.enhancer import Enhancer
from tests.backends.conftest import micro_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

AUDIO = np.random.default_rng(1).standard_normal(16000 * 3).astype(np.float32) * 0.1
OPTIONS = dict(window=1.0, overlap=0.25, output_limits=None, seed=0)


def _inputs(device: str) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(0)
    x_t = torch.randn(2, 1, 256, 64, dtype=torch.complex64, generator=generator)
    y = torch.randn(2, 1, 256, 64, dtype=torch.complex64, generator=generator)
    return x_t.to(device), y.to(device), torch.tensor([0.5, 0.2], device=device)


def _relative(got: torch.Tensor | np.ndarray, expected: torch.Tensor | np.ndarray) -> float:
    got, expected = torch.as_tensor(got).cpu(), torch.as_tensor(expected).cpu()
    return float((got - expected).abs().max() / expected.abs().max())


def test_auto_on_cuda_is_eager_nchw() -> None:
    chosen = select_backend("auto", "fp32", "cuda")
    assert (chosen.name, chosen.precision, chosen.channels_last) == ("eager", "fp32", False)
    with pytest.raises(ValueError, match="runs on the CPU"):
        select_backend("onnxruntime", "fp32", "cuda")


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_network_on_cuda_against_the_cpu(precision: str) -> None:
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    model = micro_model()
    with torch.inference_mode():
        expected = model(*_inputs("cpu"))
        backend = select_backend("eager", precision, "cuda")
        backend.prepare(model.to("cuda"))
        with backend.autocast(torch.device("cuda")):
            got = model(*_inputs("cuda"))
    assert got.device.type == "cuda" and got.dtype == torch.complex64
    error = _relative(got, expected)
    if precision == "fp32":  # the fp32 path turns cuDNN's TF32 off (PyTorch's default lets convolutions use it)
        assert error <= 1e-4
        assert torch.backends.cudnn.allow_tf32  # and restores the process's setting
    else:
        assert error < 0.1


def test_compile_with_cuda_graphs_matches_eager_over_many_windows() -> None:
    eager = Enhancer(micro_model(), device="cuda", backend="eager", precision="fp32", **OPTIONS)
    compiled = Enhancer(micro_model(), device="cuda", backend="compile", precision="fp32", **OPTIONS)
    assert compiled.backend == InferenceBackend("compile", "fp32", False)
    expected = eager(AUDIO, 16000)
    first = compiled(AUDIO, 16000)  # compiles (each window shape once) and records the CUDA graphs
    again = compiled(AUDIO, 16000)  # replays them: a replay must not reuse a stale output buffer
    assert _relative(first, expected) <= 1e-4
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_enhancer_with_half_precision_on_cuda(precision: str) -> None:
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    reference = Enhancer(micro_model(), device="cuda", backend="eager", precision="fp32", **OPTIONS)(AUDIO, 16000)
    half = Enhancer(micro_model(), device="cuda", backend="eager", precision=precision, **OPTIONS)
    assert not half.backend.faithful
    error = _relative(half(AUDIO, 16000), reference)
    assert 0 < error < 0.1
