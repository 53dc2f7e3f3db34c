"""crpse: single- and few-step diffusion speech enhancement.

Public API (imported lazily, so ``import crpse`` is cheap and has no side effects)::

    model = crpse.load_model("model.ckpt")          # crpse or reference sgmse checkpoints
    score = model(x_t, y, t)                         # complex [B, 1, F, T] spectrograms, t: [B]
    clean = crpse.enhance(noisy, sample_rate)        # numpy/torch [L] or [C, L]
    enhancer = crpse.Enhancer(model, steps=1)        # hold a model for repeated calls
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_model": "crpse.checkpoint",
    "save_model": "crpse.checkpoint",
    "ScoreModel": "crpse.score_model",
    "PredictiveModel": "crpse.score_model",
    "SpecTransform": "crpse.spectral",
    "BBED": "crpse.sde",
    "OUVE": "crpse.sde",
    "SamplerSpec": "crpse.sampler_spec",
    "SamplerRequest": "crpse.sampler_spec",
    "enhance": "crpse.enhancer",
    "Enhancer": "crpse.enhancer",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'crpse' has no attribute {name!r}")
