"""The bundled default model ships in the package, loads offline and enhances audio."""

from __future__ import annotations

import numpy as np
import pytest

import crpse
from crpse.assets import default_model_path
from crpse.checkpoint import load_model, read_checkpoint


def test_bundled_model_is_a_small_crp_model() -> None:
    path = default_model_path()
    assert path.stat().st_size < 25 * 2**20
    model = load_model(path)
    assert model.config.stage == "crp"
    assert model.inference.sampler == "reverse" and model.inference.steps == 1 and model.inference.t_start == 0.3
    assert model.sample_rate == 16000
    assert read_checkpoint(path)["ema_state_dict"] is None  # EMA weights only


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
