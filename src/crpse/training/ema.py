"""Exponential moving average of a model's weights, kept in a separate copy of the model (no Lightning).

Same arithmetic as torch-ema 0.3, which the reference sgmse code uses: every parameter is tracked (also
the fixed Fourier features), and the ``n``-th update (counting from 1) uses

    decay_eff = min(decay, (1 + n) / (10 + n))        (warm-up; ``warmup=False`` uses ``decay`` throughout)
    shadow <- decay_eff * shadow + (1 - decay_eff) * param

The averaged weights live in :attr:`ExponentialMovingAverage.averaged`, a full model in eval mode whose
parameters do not require gradients. Nothing is ever swapped in or out of the trained model: validation and
export use the copy explicitly.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class ExponentialMovingAverage:
    """EMA of all parameters (and a copy of the buffers) of ``model``.

    Args:
        model: the model being trained; the average starts from its current weights.
        decay: the EMA decay (reference: 0.999).
        num_updates: updates already made (a continued EMA passes its count so that no warm-up restarts).
        warmup: use the torch-ema warm-up ``min(decay, (1 + n) / (10 + n))``.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, num_updates: int = 0, warmup: bool = True) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        if num_updates < 0:
            raise ValueError(f"num_updates must be >= 0, got {num_updates}")
        self.decay = float(decay)
        self.num_updates = int(num_updates)
        self.warmup = warmup
        self.averaged = copy.deepcopy(model).eval()
        self.averaged.requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next update will use."""
        n = self.num_updates + 1
        return min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s current parameters (call after each optimiser step)."""
        decay = self.current_decay()
        self.num_updates += 1
        averaged = list(self.averaged.parameters())
        current = list(model.parameters())
        if len(averaged) != len(current):
            raise ValueError(f"the EMA tracks {len(averaged)} parameters but the model has {len(current)}")
        for shadow, param in zip(averaged, current, strict=True):
            if shadow.device != param.device:
                raise ValueError(f"EMA weights are on {shadow.device} but the model is on {param.device}; call .to()")
            shadow.lerp_(param.detach().to(shadow.dtype), 1.0 - decay)
        for shadow_buffer, buffer in zip(self.averaged.buffers(), model.buffers(), strict=True):
            shadow_buffer.copy_(buffer)

    def to(self, device: torch.device | str) -> ExponentialMovingAverage:
        """Move the averaged weights to ``device`` (in place); returns ``self``."""
        self.averaged.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.averaged.parameters()).device

    def state_dict(self) -> dict[str, Any]:
        """``{"decay", "num_updates", "warmup", "state_dict"}`` (plain data and tensors)."""
        return {
            "decay": self.decay,
            "num_updates": self.num_updates,
            "warmup": self.warmup,
            "state_dict": {k: v.detach().clone() for k, v in self.averaged.state_dict().items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict` (the weights are copied onto the copy's current device)."""
        self.decay = float(state["decay"])
        self.num_updates = int(state["num_updates"])
        self.warmup = bool(state.get("warmup", True))
        self.averaged.load_state_dict(state["state_dict"])

    def load_weights(self, weights: dict[str, torch.Tensor], num_updates: int) -> None:
        """Set the averaged weights (names as ``model.state_dict()``) and the update count."""
        self.averaged.load_state_dict(weights)
        self.num_updates = int(num_updates)
