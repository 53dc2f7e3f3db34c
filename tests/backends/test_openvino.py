"""The openvino backend: the exported sampler graph run by OpenVINO against eager fp32, its explicit f32 precision,
the shared graph cache, ``crpse enhance --backend openvino``, and the fallback to eager when a graph backend's
runtime is missing (both graph backends; crpse.backends.openvino / .inference)."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from crpse import backends
from crpse.backends.export import export_sampler_graph, graph_metadata
from crpse.backends.ort import default_cache_dir, file_sha256, graph_path
from crpse.cli import main
from crpse.enhancer import Enhancer
from crpse.model_info import ModelInfo
from crpse.sampler_spec import SamplerRequest
from tests.backends.conftest import assert_graph_matches_eager, micro_model, noise_audio, relative_error

needs_openvino = pytest.mark.skipif(
    not (backends.openvino_installed() and importlib.util.find_spec("onnx")),
    reason="needs OpenVINO and onnx (pip install 'crpse[openvino]')",
)


@needs_openvino
@pytest.mark.parametrize("kind", ["score", "predictive"])
def test_graph_on_openvino_matches_eager_fp32_with_dynamic_batch_and_frames(kind: str, tmp_path: Path) -> None:
    import openvino

    from crpse.backends.openvino import OpenVinoGraph

    model = micro_model(kind)
    info = ModelInfo.of(model)
    spec = info.resolve(SamplerRequest())
    path = export_sampler_graph(model, spec, tmp_path / "g.onnx", graph_metadata(info, spec, None))
    graph = OpenVinoGraph(path, threads=1, precision="fp32", cache_dir=tmp_path)
    assert graph.info == info and graph.spec == spec and graph.checkpoint_sha256 is None
    # f32 set explicitly: OpenVINO's default is bf16 on CPUs with native bf16
    assert graph.compiled.get_property("INFERENCE_PRECISION_HINT") == openvino.Type.f32
    assert_graph_matches_eager(graph, model, spec)


@needs_openvino
def test_enhancer_on_openvino_matches_eager_and_shares_the_graph_cache(micro_checkpoint: Path) -> None:
    audio = noise_audio()
    # output_limits=None: the random micro model returns loud noise, which the output guard would refuse
    settings = dict(window=1.0, overlap=0.25, batch_size=2, output_limits=None)
    eager = Enhancer(micro_checkpoint, backend="eager", precision="fp32", **settings)(audio, 16000)
    enhancer = Enhancer(micro_checkpoint, backend="openvino", **settings)
    assert (enhancer.backend.name, enhancer.backend.precision) == ("openvino", "fp32")
    assert "openvino fp32" in enhancer.describe() and enhancer.backend.faithful
    assert relative_error(enhancer(audio, 16000), eager) <= 1e-4
    # the graph file is the onnxruntime backend's, and OpenVINO keeps its compiled model next to it
    assert graph_path(default_cache_dir(), file_sha256(micro_checkpoint), SamplerRequest()).is_file()
    assert any((default_cache_dir() / "openvino").iterdir())
    again = Enhancer(micro_checkpoint, backend="openvino", **settings)
    assert again.backend.name == "openvino" and again._model is None  # from the cache: torch model never loaded
    np.testing.assert_array_equal(again(audio, 16000), enhancer(audio, 16000))


@pytest.mark.parametrize("backend, extra", [("onnxruntime", "onnx"), ("openvino", "openvino")])
def test_missing_graph_runtime_falls_back_to_eager_with_one_line(
    backend: str, extra: str, micro_checkpoint: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(backends, f"{backend}_installed", lambda: False)
    with caplog.at_level(logging.WARNING, logger="crpse.enhancer"):
        enhancer = Enhancer(micro_checkpoint, backend=backend, output_limits=None)
    assert (enhancer.backend.name, enhancer.backend.precision) == ("eager", "fp32")
    assert [r.getMessage() for r in caplog.records] == [
        f"{backend} is not installed (pip install 'crpse[{extra}]'): running eager fp32"
    ]


def test_openvino_precision_and_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "openvino_installed", lambda: True)
    monkeypatch.setattr(backends, "_cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    chosen = backends.select_backend("openvino", "auto", "cpu")
    assert (chosen.name, chosen.precision, chosen.faithful, chosen.reason) == ("openvino", "fp32", True, "")
    with pytest.raises(ValueError, match="native bf16"):
        backends.select_backend("openvino", "bf16", "cpu")
    monkeypatch.setattr(backends, "_cpu_flags", lambda: frozenset({"amx_bf16"}))
    assert backends.select_backend("openvino", "auto", "cpu").precision == "fp32"  # auto stays faithful
    assert backends.select_backend("openvino", "bf16", "cpu").precision == "bf16"
    with pytest.raises(ValueError, match="runs on the CPU"):
        backends.select_backend("openvino", "fp32", "cuda")


@needs_openvino
@pytest.mark.skipif(not backends.native_bf16("cpu"), reason="this CPU has no native bf16 (avx512_bf16/amx_bf16)")
def test_openvino_bf16_runs_bf16_where_the_cpu_has_it(micro_checkpoint: Path) -> None:
    import openvino

    enhancer = Enhancer(micro_checkpoint, backend="openvino", precision="bf16", output_limits=None)
    assert (enhancer.backend.name, enhancer.backend.precision) == ("openvino", "bf16")
    graph = enhancer._inference.windows.graph  # type: ignore[attr-defined]
    assert graph.compiled.get_property("INFERENCE_PRECISION_HINT") == openvino.Type.bf16


@needs_openvino
def test_cli_enhance_with_openvino(micro_checkpoint: Path, tmp_path: Path) -> None:
    noisy = tmp_path / "noisy.wav"
    sf.write(noisy, noise_audio(1.5), 16000, subtype="FLOAT")
    outputs = {}
    for backend in ("eager", "openvino"):
        argv = ["enhance", str(noisy), "-o", str(tmp_path / backend), "--model", str(micro_checkpoint),
                "--backend", backend, "--precision", "fp32", "--no-output-guard", "-q"]
        assert main(argv) == 0
        outputs[backend], rate = sf.read(tmp_path / backend / "noisy.wav", dtype="float32")
        assert rate == 16000
    assert relative_error(outputs["openvino"], outputs["eager"]) <= 1e-4
