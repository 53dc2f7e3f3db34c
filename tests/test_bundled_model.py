"""The bundled default model ships in the package, loads offline and enhances audio."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import crpse
from crpse.assets import default_model_path
from crpse.checkpoint import load_model, read_checkpoint
from crpse.cli import main


def test_bundled_model_is_a_small_crp_model() -> None:
    path = default_model_path()
    assert path.stat().st_size < 25 * 2**20
    model = load_model(path)
    assert model.config.stage == "crp"
    assert model.inference.sampler == "reverse" and model.inference.steps == 1 and model.inference.t_start == 0.3
    assert model.sample_rate == 16000
    assert read_checkpoint(path)["ema_state_dict"] is None  # EMA weights only


def test_bundled_model_stores_its_valid_sweep_region() -> None:
    """The multi-N default model's validated region (MODEL_CARD.md): its own setting, N = 3..5 over t = 0.2..0.4,
    and not the one-step sampler away from t = 0.3, where it was trained."""
    from crpse.validated_region import read_region

    region = read_region(read_checkpoint(default_model_path()))
    assert region is not None
    assert (region.split, region.metric, region.tolerance, region.files) == ("valid", "pesq", 0.05, 50)
    assert (region.best.steps, region.best.t_start) == (3, 0.2) and abs(region.best.score - 1.964) < 5e-4
    assert region.contains("reverse", 1, 0.3) and not region.contains("reverse", 1, 0.35)
    assert not region.contains("reverse", 1, 0.25) and not region.contains("reverse", 2, 0.3)
    assert region.contains("reverse", 2, 0.2) and region.contains("reverse", 2, 0.25)
    assert all(region.contains("reverse", n, t) for n in (3, 4, 5) for t in (0.2, 0.25, 0.3, 0.35, 0.4))


def test_bundled_model_enhances_a_generated_clip(monkeypatch: pytest.MonkeyPatch) -> None:
    # no network: any attempt to open a socket fails the test
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("the bundled model must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    rng = np.random.default_rng(0)
    t = np.arange(22050) / 22050
    speech_like = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    noisy = (speech_like + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    enhanced = crpse.enhance(noisy, 22050)
    assert enhanced.shape == noisy.shape and enhanced.dtype == np.float32
    assert np.isfinite(enhanced).all() and 0 < np.abs(enhanced).max() < 2


def test_bundled_models_are_usable_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from crpse.assets import BUNDLED_MODELS, resolve_model

    assert set(BUNDLED_MODELS) == {"default"} and resolve_model("default") == default_model_path()
    assert resolve_model(None) == default_model_path()
    named = crpse.load_model("default")
    assert named.inference.t_start == 0.3 and named.config.to_dict() == load_model(default_model_path()).config.to_dict()
    assert crpse.Enhancer("default").model.config.stage == "crp"

    assert main(["info", "default"]) == 0
    info = capsys.readouterr().out
    assert info.startswith(f"model:        default (bundled: {default_model_path()})\n")
    assert "intended:     reverse, 1 step(s) from t_start=0.3" in info and "use:          general model" in info

    assert main(["models"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0] == "default: 2,358,566 parameters, 9.2 MiB, 16000 Hz, crp; sampler: reverse, 1 step(s) from t=0.3"
    assert listing[1].startswith("  use:  general model: 16 kHz speech")
    assert main(["models", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["parameters"] == 2358566 and row["inference"]["steps"] == 1 and row["file_bytes"] > 9 * 2**20

    noisy = tmp_path / "in.wav"
    sf.write(noisy, 0.1 * np.random.default_rng(0).standard_normal(8000), 16000)
    assert main(["enhance", str(noisy), "-o", str(tmp_path / "out"), "--model", "default", "-q"]) == 0
    assert sf.info(tmp_path / "out" / "in.wav").frames == 8000

    assert main(["info", "nosuch"]) == 1
    assert capsys.readouterr().err == (
        "crpse: error: 'nosuch' is neither a checkpoint file nor a bundled model (bundled: default; "
        "`crpse models` lists them)\n"
    )


def test_a_new_bundled_model_needs_only_a_registry_entry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from crpse import assets

    monkeypatch.setitem(assets.BUNDLED_MODELS, "second", assets.BundledModel("second", "default.ckpt", "a test entry"))
    assert crpse.load_model("second").config.stage == "crp"
    assert main(["models"]) == 0
    names = [line.split(":")[0] for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")]
    assert names == ["default", "second"]


def test_shipped_graph_is_the_bundled_checkpoint() -> None:
    """crpse/assets/default.onnx (benchmarks/build_bundled_graph.py) is the default model's sampler for its own
    setting: it records the checkpoint's hash, and its output matches eager fp32."""
    pytest.importorskip("onnxruntime")
    from crpse.backends.ort import OrtGraph, file_sha256, shipped_graph_path

    graph = OrtGraph(shipped_graph_path(default_model_path()))
    assert graph.checkpoint_sha256 == file_sha256(default_model_path()), "rebuild: benchmarks/build_bundled_graph.py"
    assert graph.path.stat().st_size < 12 * 2**20
    enhancer = crpse.Enhancer("default", backend="onnxruntime")  # the test session's graph cache is empty
    assert enhancer.backend.name == "onnxruntime" and enhancer._inference.windows.graph.path == graph.path
    assert graph.spec == enhancer.info.resolve()
    rng = np.random.default_rng(3)
    t = np.arange(16000 * 3) / 16000
    noisy = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    eager = crpse.Enhancer("default", backend="eager", precision="fp32")(noisy, 16000)
    assert np.abs(enhancer(noisy, 16000) - eager).max() <= 1e-4 * np.abs(eager).max()
