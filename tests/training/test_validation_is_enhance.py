"""Validation enhances through the product: the same model and file give identical output through both."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from crpse.checkpoint import load_model
from crpse.cli import main
from crpse.data import read_audio
from crpse.sampler_spec import SamplerRequest
from crpse.training.validation import enhance_like_the_product


def _write_noisy(path: Path, seconds: float, rate: int = 16000) -> None:
    rng = np.random.default_rng(3)
    t = np.arange(int(seconds * rate)) / rate
    speechlike = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    sf.write(path, (speechlike + 0.05 * rng.standard_normal(t.size)).astype(np.float32), rate, subtype="FLOAT")


def test_validation_output_equals_crpse_enhance(tiny_ckpt: Path, tmp_path: Path) -> None:
    noisy = tmp_path / "noisy.wav"
    _write_noisy(noisy, 7.0)  # longer than one default window: the windowing is part of what is compared
    for seed, request, options in ((0, SamplerRequest(), []), (5, SamplerRequest(steps=2), ["--steps", "2"])):
        out = tmp_path / f"out{seed}"
        assert main(["enhance", str(noisy), "-o", str(out), "--model", str(tiny_ckpt), "--device", "cpu", "-q", "--no-output-guard",
                     "--precision", "fp32", "--seed", str(seed), *options]) == 0
        from_cli, _ = sf.read(out / "noisy.wav", dtype="float32")
        model = load_model(tiny_ckpt)
        from_validation, calls = enhance_like_the_product(model, read_audio(noisy, 16000), request, seed)
        assert calls == (request.steps or 1)
        np.testing.assert_array_equal(from_validation, from_cli)
