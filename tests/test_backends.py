"""crpse.backends: option resolution, ISA gating of bf16, and that every path is close to eager NCHW fp32."""

from __future__ import annotations

import pytest
import torch

from crpse import backends
from crpse.backends import InferenceBackend, select_backend
from crpse.enhancer import Enhancer
from tests.backends.conftest import micro_model


@pytest.fixture
def cpu_flags(monkeypatch: pytest.MonkeyPatch):
    def set_flags(*flags: str) -> None:
        monkeypatch.setattr(backends, "_cpu_flags", lambda: frozenset(flags))

    return set_flags


def test_auto_is_faithful_fp32_channels_last_on_cpu_and_says_why(cpu_flags) -> None:
    cpu_flags("avx2", "avx512f")
    chosen = select_backend("auto", "auto", "cpu", bf16_pesq_cost=0.006)
    assert (chosen.name, chosen.precision, chosen.channels_last, chosen.faithful) == ("eager", "fp32", True, True)
    assert chosen.describe() == "eager fp32, channels-last (auto: fp32, no native bf16 on this hardware)"
    cpu_flags("avx512_bf16")
    unmeasured = select_backend("auto", "auto", "cpu")
    assert unmeasured.reason == "auto: fp32, bf16's quality cost is not measured for this model"


def test_auto_runs_bf16_on_native_bf16_hardware_with_the_models_measured_cost(cpu_flags) -> None:
    cpu_flags("avx512_bf16")
    chosen = select_backend("auto", "auto", "cpu", bf16_pesq_cost=0.0062)
    assert (chosen.precision, chosen.faithful) == ("bf16", False)
    assert chosen.reason == "auto: bf16, measured PESQ cost 0.006"
    cpu_flags("amx_bf16")
    assert select_backend("auto", "auto", "cpu", bf16_pesq_cost=0.0062).precision == "bf16"


def test_auto_takes_bf16_only_when_its_measured_cost_is_small(cpu_flags) -> None:
    cpu_flags("avx512_bf16")
    assert select_backend("auto", "auto", "cpu", bf16_pesq_cost=0.01).precision == "bf16"
    too_costly = select_backend("auto", "auto", "cpu", bf16_pesq_cost=0.05)
    assert too_costly.precision == "fp32"
    assert too_costly.reason == "auto: fp32, bf16's measured PESQ cost 0.050 is not below 0.02"
    assert select_backend("auto", "fp32", "cpu", bf16_pesq_cost=0.01).precision == "fp32"  # asked for: kept
    cpu_flags("avx2")
    assert select_backend("auto", "auto", "cpu", bf16_pesq_cost=0.01).precision == "fp32"


def test_bf16_needs_native_hardware(cpu_flags) -> None:
    cpu_flags("avx2", "avx512f")
    with pytest.raises(ValueError, match="native bf16"):
        select_backend("eager", "bf16", "cpu")
    cpu_flags("amx_bf16")
    assert select_backend("eager", "bf16", "cpu").precision == "bf16"


def test_compile_resolves_like_eager_and_fp16_is_cuda_only(cpu_flags) -> None:
    cpu_flags("avx2", "avx512f")
    chosen = select_backend("compile", "auto", "cpu")
    assert (chosen.name, chosen.precision, chosen.channels_last, chosen.faithful) == ("compile", "fp32", True, True)
    assert chosen.describe() == "compile fp32, channels-last (auto: fp32, no native bf16 on this hardware)"
    cpu_flags("avx512_bf16")
    assert select_backend("compile", "bf16", "cpu").precision == "bf16"
    for backend in ("auto", "eager", "compile", "onnxruntime"):
        with pytest.raises(ValueError, match="fp16 runs on CUDA GPUs only, not on cpu"):
            select_backend(backend, "fp16", "cpu")
    assert backends.compile_mode("cuda:0") == "reduce-overhead" and backends.compile_mode("cpu") is None
    assert not InferenceBackend("compile", "fp16", False).faithful


def test_compile_backend_compiles_the_networks_real_view_once_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.compile replaced by a recorder that runs the function as it is: the wrapper around the compiled real
    view gives the network's own complex output, bit for bit, and the state dict keeps its names."""
    calls, seen = [], []

    def fake_compile(function, mode=None):
        calls.append(mode)

        def run(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            seen.append((x.dtype, tuple(x.shape)))
            return function(x, t)

        return run

    monkeypatch.setattr(torch, "compile", fake_compile)
    model = micro_model()
    names = list(model.state_dict())
    generator = torch.Generator().manual_seed(0)
    x_t, y = (torch.randn(1, 1, 256, 64, dtype=torch.complex64, generator=generator) for _ in range(2))
    t = torch.tensor([0.5])
    with torch.inference_mode():
        expected = InferenceBackend("eager", "fp32", channels_last=True).prepare(model)(x_t, y, t)  # same layout
        backend = select_backend("compile", "fp32", "cpu")
        backend.prepare(model)
        backend.prepare(model)  # an Enhancer made twice on one model object: compiled once
        got = model(x_t, y, t)
    assert calls == [None] and seen == [(torch.float32, (1, 4, 256, 64))]
    assert got.dtype == torch.complex64 and torch.equal(got, expected)
    assert list(model.state_dict()) == names


def test_unknown_choices_raise() -> None:
    with pytest.raises(ValueError, match="unknown backend"):
        select_backend("tensorrt")
    with pytest.raises(ValueError, match="unknown precision"):
        select_backend("auto", "fp8")


def _max_relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got - expected).abs().max() / expected.abs().max())


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_backend_paths_against_eager_nchw_fp32(precision: str) -> None:
    model = micro_model()
    generator = torch.Generator().manual_seed(0)
    x_t = torch.randn(2, 1, 256, 64, dtype=torch.complex64, generator=generator)
    y = torch.randn(2, 1, 256, 64, dtype=torch.complex64, generator=generator)
    t = torch.tensor([0.5, 0.2])
    with torch.inference_mode():
        expected = model(x_t, y, t)
        backend = InferenceBackend("eager", precision, channels_last=True)
        with backend.autocast(torch.device("cpu")):
            got = backend.prepare(model)(x_t, y, t)
    assert got.dtype == torch.complex64 and got.shape == expected.shape
    error = _max_relative_error(got, expected)
    if precision == "fp32":
        assert error <= 1e-4
    else:  # bf16 keeps 8 bits of mantissa: visibly different, still the same output
        assert 1e-4 < error < 0.1


def test_enhancer_uses_one_backend_for_every_window() -> None:
    model = micro_model()
    audio = torch.randn(16000 * 2, generator=torch.Generator().manual_seed(1)).numpy() * 0.1
    # output_limits=None: the random micro model returns loud noise, which the output guard would refuse
    # fp32 named: `auto` may run bf16 on CPUs with native bf16 (a model with a bf16 cost record)
    enhancer = Enhancer(model, device="cpu", window=1.0, overlap=0.25, precision="fp32", output_limits=None)
    assert enhancer.backend.faithful and "eager fp32" in enhancer.describe()
    fast = enhancer(audio, 16000)
    model.to(memory_format=torch.contiguous_format)
    reference = Enhancer(model, device="cpu", window=1.0, overlap=0.25, backend="eager", precision="fp32",
                         output_limits=None)
    reference.backend = InferenceBackend("eager", "fp32", channels_last=False)
    reference.backend.prepare(model)
    slow = reference(audio, 16000)
    assert abs(fast - slow).max() <= 1e-4 * abs(slow).max()


@pytest.mark.slow
def test_compile_backend_against_eager_fp32() -> None:
    """torch.compile on the CPU (minutes on 2 cores): the Enhancer's windows match eager fp32 within 1e-4."""
    audio = torch.randn(16000 * 2, generator=torch.Generator().manual_seed(1)).numpy() * 0.1
    options = dict(device="cpu", window=1.0, overlap=0.25, precision="fp32", output_limits=None)
    compiled = Enhancer(micro_model(), backend="compile", **options)
    assert compiled.backend.name == "compile"
    fast = compiled(audio, 16000)
    slow = Enhancer(micro_model(), backend="eager", **options)(audio, 16000)
    assert abs(fast - slow).max() <= 1e-4 * abs(slow).max()
