"""A micro score model with non-zero residual branches, its checkpoint, and the error measure the graph backends'
parity tests share (tests/backends/test_ort.py, test_openvino.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from crpse.backends.export import SamplerGraph
from crpse.checkpoint import save_model
from crpse.nn.ncsnpp import named_config
from crpse.sampler_spec import SamplerSpec
from crpse.score_model import build_model


def micro_model(kind: str = "score") -> torch.nn.Module:
    config = named_config("tiny", nf=8, ch_mult=(1, 2, 1, 1, 1, 1, 1), attn_resolutions=(16,))
    model = build_model(config, kind=kind, seed=0).eval()  # type: ignore[arg-type]
    for parameter in model.parameters():  # non-zero residual branches
        if parameter.dim() > 1:
            torch.nn.init.normal_(parameter, std=0.1, generator=torch.Generator().manual_seed(parameter.numel()))
    return model


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    """``max |got - expected| / max |expected|``."""
    return float(np.abs(got - expected).max() / np.abs(expected).max())


def assert_graph_matches_eager(graph: Any, model: torch.nn.Module, spec: SamplerSpec | None) -> None:
    """A loaded sampler graph (either runtime) against the same sampler in eager fp32, within 1e-4 (max relative
    error), for batch sizes and frame counts other than the export's example (2 x 128)."""
    generator = torch.Generator().manual_seed(5)
    for batch, frames in [(1, 192), (3, 64)]:
        y = torch.randn(batch, 2, 256, frames, generator=generator)
        noise = None if spec is None else torch.randn(spec.noise_draws, batch, 2, 256, frames, generator=generator)
        with torch.inference_mode():
            expected = SamplerGraph(model, spec)(y, noise).numpy()
        got = graph.run(y.numpy(), None if noise is None else noise.numpy())
        assert got.shape == expected.shape == (batch, 2, 256, frames)
        assert relative_error(got, expected) <= 1e-4


def noise_audio(seconds: float = 2.0, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(16000 * seconds)) * 0.1).astype(np.float32)


@pytest.fixture(scope="module")
def micro_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("graph") / "micro.ckpt"
    save_model(path, micro_model())
    return path
