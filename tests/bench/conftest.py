"""A tiny corpus (valid, test, test_real; 3 half-second files each) and micro score / predictive checkpoints."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile as sf

from crpse.checkpoint import save_model
from crpse.nn.ncsnpp import named_config
from crpse.score_model import build_model

SPLITS = ("valid", "test", "test_real")
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
RATE = 16000


@pytest.fixture(scope="session")
def bench_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench_corpus")
    rng = np.random.default_rng(0)
    t = np.arange(RATE // 2) / RATE
    for split in SPLITS:
        for i in range(3):
            f0 = 140.0 + 30.0 * i
            clean = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6)) * 0.2 * np.sin(2 * np.pi * 3 * t) ** 2
            noisy = clean + 0.03 * rng.standard_normal(t.shape)
            for side, audio in (("clean", clean), ("noisy", noisy)):
                (root / split / side).mkdir(parents=True, exist_ok=True)
                sf.write(root / split / side / f"{split}_{i}.wav", audio.astype(np.float32), RATE, subtype="FLOAT")
    return root


@pytest.fixture(scope="session")
def micro_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bench_models")
    config = named_config("tiny", nf=4, ch_mult=(1,) * 7, attn_resolutions=())
    paths = {"score": folder / "score.ckpt", "pred": folder / "pred.ckpt"}
    save_model(paths["score"], build_model(config, seed=0))
    save_model(paths["pred"], build_model(config, kind="predictive", seed=0))
    return paths


def load_benchmark_script(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` imported as a module (the scripts are not part of the package)."""
    spec = importlib.util.spec_from_file_location(f"{name}_script", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module's annotations through sys.modules
    spec.loader.exec_module(module)
    return module
