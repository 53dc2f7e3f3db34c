"""The onnxruntime backend: exported sampler graphs against eager fp32, the graph cache, fallbacks, and the
torch-free path (crpse.backends.export / .ort / .inference)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from crpse import backends
from crpse.backends import export
from crpse.backends.export import export_sampler_graph, graph_metadata
from crpse.backends.ort import OrtGraph, default_cache_dir, file_sha256, graph_path
from crpse.enhancer import Enhancer
from crpse.model_info import ModelInfo
from crpse.sampler_spec import SamplerRequest
from tests.backends.conftest import assert_graph_matches_eager, micro_model, noise_audio, relative_error

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

SRC = Path(__file__).resolve().parents[2] / "src"


def test_real_view_is_the_complex_model() -> None:
    model = micro_model()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 256, 64, dtype=torch.complex64, generator=generator)
    y = torch.randn(2, 1, 256, 64, dtype=torch.complex64, generator=generator)
    t = torch.tensor([0.5, 0.2])
    with torch.inference_mode():
        score = model(x, y, t)
        real = model(torch.cat([x.real, x.imag], 1), torch.cat([y.real, y.imag], 1), t)
    assert real.dtype == torch.float32 and real.shape == (2, 2, 256, 64)
    torch.testing.assert_close(torch.complex(real[:, :1], real[:, 1:]), score, rtol=0, atol=0)


@pytest.mark.parametrize(
    "kind, request_",
    [
        ("score", {}),
        pytest.param("score", {"steps": 2}, marks=pytest.mark.slow),
        pytest.param("score", {"sampler": "pc", "steps": 1, "snr": 0.3}, marks=pytest.mark.slow),
        pytest.param("score", {"sampler": "ode", "steps": 2, "ode_method": "heun"}, marks=pytest.mark.slow),
        ("predictive", {}),
    ],
    ids=["crp-1-step", "crp-2-steps", "pc", "ode-heun", "predictive"],
)
def test_graph_matches_eager_fp32_with_dynamic_batch_and_frames(kind: str, request_: dict, tmp_path: Path) -> None:
    model = micro_model(kind)
    info = ModelInfo.of(model)
    spec = info.resolve(SamplerRequest.from_options(**request_))
    path = export_sampler_graph(model, spec, tmp_path / "g.onnx", graph_metadata(info, spec, None))
    graph = OrtGraph(path, threads=1)
    assert graph.info == info and graph.spec == spec and graph.checkpoint_sha256 is None
    assert_graph_matches_eager(graph, model, spec)


def test_too_many_network_calls_are_not_unrolled(tmp_path: Path) -> None:
    model = micro_model()
    spec = ModelInfo.of(model).resolve(SamplerRequest(sampler="pc", steps=30))
    with pytest.raises(export.ExportError, match="60 network calls"):
        export_sampler_graph(model, spec, tmp_path / "g.onnx", {})
    assert not list(tmp_path.iterdir())


def test_enhancer_on_onnxruntime_matches_eager_and_caches_the_graph(
    micro_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audio = noise_audio()
    # output_limits=None: the random micro model returns loud noise, which the output guard would refuse
    settings = dict(window=1.0, overlap=0.25, batch_size=2, output_limits=None)
    eager = Enhancer(micro_checkpoint, backend="eager", precision="fp32", **settings)(audio, 16000)
    enhancer = Enhancer(micro_checkpoint, backend="onnxruntime", **settings)
    assert enhancer.backend.name == "onnxruntime" and "onnxruntime fp32" in enhancer.describe()
    assert relative_error(enhancer(audio, 16000), eager) <= 1e-4
    cached = graph_path(default_cache_dir(), file_sha256(micro_checkpoint), SamplerRequest())
    assert cached.is_file()
    assert json.loads(OrtGraph(cached).session.get_modelmeta().custom_metadata_map["crpse"])["checkpoint_sha256"] == (
        file_sha256(micro_checkpoint)
    )

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached graph should have been used")

    monkeypatch.setattr(export, "export_sampler_graph", no_export)
    again = Enhancer(micro_checkpoint, backend="onnxruntime", **settings)
    assert again.backend.name == "onnxruntime" and again._model is None  # torch model never loaded
    np.testing.assert_array_equal(again(audio, 16000), enhancer(audio, 16000))
    # auto (fp32) takes the ready graph; with an empty cache it stays eager (auto never exports)
    assert Enhancer(micro_checkpoint, precision="fp32", **settings).backend.name == "onnxruntime"
    monkeypatch.setattr(backends, "_cpu_flags", lambda: frozenset({"avx2"}))  # auto precision: says why fp32
    assert Enhancer(micro_checkpoint, **settings).backend.describe() == (
        "onnxruntime fp32 (auto: fp32, no native bf16 on this hardware; a ready ONNX graph, faster than eager on CPU)")
    empty = micro_checkpoint.parent / "empty"
    assert Enhancer(micro_checkpoint, cache_dir=empty, precision="fp32", **settings).backend.name == "eager"


def test_a_model_object_is_cached_by_content(tmp_path: Path) -> None:
    model = micro_model()
    first = Enhancer(model, backend="onnxruntime", cache_dir=tmp_path, output_limits=None)
    assert first.backend.name == "onnxruntime" and first.model is model
    assert len(list((tmp_path / "graphs").glob("*.onnx"))) == 1
    Enhancer(model, backend="onnxruntime", cache_dir=tmp_path, output_limits=None)
    assert len(list((tmp_path / "graphs").glob("*.onnx"))) == 1


def test_failed_export_falls_back_to_eager_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="crpse.enhancer"):
        pc = Enhancer(micro_model(), backend="onnxruntime", sampler="pc", steps=30, cache_dir=tmp_path,
                      output_limits=None)
    assert pc.backend.name == "eager" and "60 network calls are too many to unroll" in caplog.records[-1].getMessage()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Unsupported: ONNX export of\nsome operator")

    monkeypatch.setattr(export, "export_sampler_graph", broken)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="crpse.enhancer"):
        enhancer = Enhancer(micro_model(), backend="onnxruntime", cache_dir=tmp_path, output_limits=None)
    assert enhancer.backend.name == "eager"
    (message,) = [r.getMessage() for r in caplog.records]
    assert message == (
        "onnxruntime: the graph export failed (Unsupported: ONNX export of some operator): running eager fp32"
    )


def test_onnxruntime_needs_cpu_and_fp32() -> None:
    with pytest.raises(ValueError, match="runs on the CPU"):
        backends.select_backend("onnxruntime", "auto", "cuda")
    with pytest.raises(ValueError, match="fp32 only"):
        backends.select_backend("onnxruntime", "bf16", "cpu")


def test_a_cached_graph_runs_without_importing_torch(micro_checkpoint: Path, tmp_path: Path) -> None:
    import soundfile as sf

    Enhancer(micro_checkpoint, backend="onnxruntime", output_limits=None)  # exports into the session's cache
    noisy = tmp_path / "noisy.wav"
    sf.write(noisy, noise_audio(1.5), 16000)
    script = f"""
import sys
from crpse.enhancer import Enhancer
from crpse.cli import main
enhancer = Enhancer({str(micro_checkpoint)!r}, backend="onnxruntime", output_limits=None)
assert enhancer.backend.name == "onnxruntime", enhancer.describe()
enhancer(enhancer_input := __import__("numpy").zeros(8000, "float32") + 0.1, 16000)
status = main(["enhance", {str(noisy)!r}, "-o", {str(tmp_path / "out")!r}, "--model", {str(micro_checkpoint)!r},
               "--backend", "onnxruntime", "--no-output-guard", "-q"])
assert status == 0, status
print("torch" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": str(SRC)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    assert (tmp_path / "out" / "noisy.wav").is_file()
