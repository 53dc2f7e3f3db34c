"""Fixtures for training tests: a tiny generated corpus (harmonic tones + noise) and fast CLI arguments."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

#: a 3-level NCSN++ (frame multiple 4): a training step takes ~0.1 s on one CPU core
MICRO_NET = ["--backbone", "tiny", "--nf", "8", "--ch-mult", "1,2,2", "--attn-resolutions", "none"]


def write_pair(root: Path, split: str, name: str, seconds: float, rate: int, seed: int) -> None:
    """A harmonic tone (clean) and the tone plus white noise at ~5 dB SNR (noisy)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = rng.uniform(120, 260)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(1.5, 4) * t) ** 2
    clean = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6)) / k for k in range(1, 6)) * envelope * 0.2
    noise = rng.standard_normal(t.shape) * np.sqrt(np.mean(clean**2) / 10 ** (5 / 10))
    for side, audio in (("clean", clean), ("noisy", clean + noise)):
        folder = root / split / side
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / name, audio.astype(np.float32), rate, subtype="FLOAT")


def make_corpus(root: Path, train: int = 4, valid: int = 2, seconds: float = 1.0, rate: int = 16000) -> Path:
    for i in range(train):
        write_pair(root, "train", f"tr{i:02d}.wav", seconds, rate, seed=i)
    for i in range(valid):
        write_pair(root, "valid", f"va{i:02d}.wav", seconds, rate, seed=100 + i)
    return root


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def fast_args() -> Callable[..., list[str]]:
    """CLI arguments for a quick CPU run: micro network, 16-frame crops, batch 2, no workers, 1 eval file."""

    def build(stage: str, corpus: Path, run_dir: Path, *extra: str) -> list[str]:
        args = ["train", stage, "--data-dir", str(corpus), "--run-dir", str(run_dir), "--num-frames", "16",
                "--batch-size", "2", "--num-workers", "0", "--num-eval-files", "1", "--log-every", "1",
                "--accelerator", "cpu", "--threads", "1", "--no-progress-bar"]
        if stage != "crp":
            args += MICRO_NET
        if stage == "dsm":
            args += ["--val-steps", "2"]
        return args + list(extra)

    return build
