"""Initial weights of a run started from a checkpoint (``--init``): raw weights, EMA weights and EMA count.

Works for crpse checkpoints and for reference sgmse / sgmse-bbed / sgmse_crp Lightning checkpoints (through
:func:`crpse.checkpoint.model_from_checkpoint`). No Lightning here.

Which weights the optimiser starts from is explicit (``weights``):

* ``ema`` (crpse default): the optimiser and the EMA both start from the checkpoint's EMA weights, the ones that
  were validated and that inference uses; the EMA keeps its update count, so no warm-up restarts.
* ``raw``: what the official stage 2 (sgmse_crp) does: the optimiser fine-tunes the checkpoint's raw
  weights while the EMA continues from the checkpoint's EMA weights, so for the first few thousand steps the
  evaluated EMA mixes the two trajectories.

A checkpoint without EMA weights starts the EMA from the starting weights with a count of 0 (warm-up).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch

from crpse.checkpoint import FORMAT, CheckpointError, model_from_checkpoint, read_checkpoint
from crpse.score_model import Model

logger = logging.getLogger(__name__)

InitWeights = Literal["raw", "ema"]


@dataclass
class InitialWeights:
    """What a run initialised from a checkpoint starts with.

    Attributes:
        model: the model holding the weights the optimiser starts from (train mode).
        ema_weights: the EMA's starting weights (names as ``model.state_dict()``).
        ema_num_updates: the EMA's update count (0: warm-up from scratch).
        has_ema: whether the checkpoint had EMA weights.
        source: the checkpoint path.
    """

    model: Model
    ema_weights: dict[str, torch.Tensor]
    ema_num_updates: int
    has_ema: bool
    source: str


def _ema_info(data: Mapping) -> tuple[bool, int]:
    if data.get("format") == FORMAT:
        extra = data.get("extra") or {}
        return data.get("ema_state_dict") is not None, int(extra.get("ema_num_updates", 0) or 0)
    ema = data.get("ema")
    if isinstance(ema, Mapping) and ema.get("shadow_params") is not None:
        return True, int(ema.get("num_updates") or 0)
    return False, 0


def load_initial_weights(path: str | os.PathLike[str], weights: InitWeights = "ema") -> InitialWeights:
    """Read a crpse or reference checkpoint for fine-tuning.

    Args:
        path: the checkpoint.
        weights: ``ema`` or ``raw``: which weights the optimiser starts from (see the module docstring).

    Raises:
        FileNotFoundError, CheckpointError: missing, truncated or unusable file.
    """
    if weights not in ("raw", "ema"):
        raise ValueError(f"weights must be 'raw' or 'ema', got {weights!r}")
    data = read_checkpoint(path)  # read once; both models come from it
    has_ema, num_updates = _ema_info(data)
    raw = model_from_checkpoint(data, ema=False, path=path)
    ema_model = model_from_checkpoint(data, ema=True, path=path) if has_ema else raw
    del data
    if weights == "ema" and not has_ema:
        logger.info("%s has no EMA weights: starting from its raw weights with a fresh EMA", path)
    start = ema_model if weights == "ema" else raw
    start.validated_region = None  # found for the checkpoint's weights, not for the ones training will make
    start.bf16_cost = None  # measured with the checkpoint's weights, as well
    if not has_ema:
        num_updates = 0
    ema_weights = {k: v.detach().clone() for k, v in ema_model.state_dict().items()}
    if set(ema_weights) != set(start.state_dict()):
        raise CheckpointError(f"{path}: EMA and raw weights have different names")
    return InitialWeights(
        model=start.train(), ema_weights=ema_weights, ema_num_updates=num_updates, has_ema=has_ema, source=str(path)
    )
