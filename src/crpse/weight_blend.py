"""Weight-space blends of checkpoints of one architecture: ``w = sum_i a_i * w_i`` with ``a_i >= 0``, ``sum a_i = 1``.

A fine-tuned model blended with the model it started from (WiSE-FT: Wortsman et al., *Robust fine-tuning of
zero-shot models*, CVPR 2022) often keeps most of the fine-tuning's gain while losing less of what the start was good
at. The bundled default model's CPU fine-tunes traded ESTOI and SI-SDR for PESQ; blended half and half with the model
they started from they kept part of the PESQ gain without that trade (BENCHMARKS.md section 26).

Each source contributes its EMA weights (the weights inference uses); the blend is computed in float64 and stored as
an export (EMA weights only, :func:`crpse.checkpoint.export_model`'s layout). A source's validated region and bf16
record belong to its own weights and are not carried over; the blend records its sources and weights under
``extra["blend"]``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from crpse.bf16_record import BF16_COST_KEY
from crpse.checkpoint import FORMAT, CheckpointError, model_from_checkpoint, read_checkpoint, save_model
from crpse.validated_region import REGION_KEY

#: how far the weights may sum from 1
WEIGHT_SUM_TOLERANCE = 1e-6


def blend_state_dicts(
    state_dicts: Sequence[dict[str, torch.Tensor]], weights: Sequence[float]
) -> dict[str, torch.Tensor]:
    """``sum_i weights[i] * state_dicts[i]`` tensor by tensor (float64 arithmetic, each tensor's own dtype back).

    Tensors that are not floating point (counters, integer buffers) must be equal in every source and are copied.

    Raises:
        ValueError: no sources, a weight count that differs from the source count, a negative or non-finite weight,
            weights that do not sum to 1, different tensor names or shapes, or unequal non-float tensors.
    """
    if not state_dicts:
        raise ValueError("blend needs at least one checkpoint")
    if len(weights) != len(state_dicts):
        raise ValueError(f"{len(weights)} weights for {len(state_dicts)} checkpoints")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError(f"blend weights must be finite and >= 0, got {list(weights)}")
    if abs(sum(weights) - 1.0) > WEIGHT_SUM_TOLERANCE:
        raise ValueError(f"blend weights must sum to 1, got {list(weights)} (sum {sum(weights):.6g})")
    names = list(state_dicts[0])
    for i, other in enumerate(state_dicts[1:], start=1):
        if list(other) != names:
            raise ValueError(f"checkpoint {i} has other weight names than checkpoint 0")
    blended = {}
    for name in names:
        tensors = [sd[name] for sd in state_dicts]
        shapes = {tuple(t.shape) for t in tensors}
        if len(shapes) != 1:
            raise ValueError(f"{name}: shapes differ between checkpoints: {sorted(shapes)}")
        first = tensors[0]
        if not first.is_floating_point():
            if any(not torch.equal(first, t) for t in tensors[1:]):
                raise ValueError(f"{name}: a non-float tensor differs between checkpoints, so it cannot be blended")
            blended[name] = first.clone()
            continue
        total = torch.zeros(first.shape, dtype=torch.float64)
        for weight, tensor in zip(weights, tensors, strict=True):
            total += weight * tensor.detach().to("cpu", torch.float64)
        blended[name] = total.to(first.dtype)
    return blended


def blend_checkpoints(
    sources: Sequence[str | os.PathLike[str]],
    weights: Sequence[float],
    destination: str | os.PathLike[str],
) -> Path:
    """Write the blend of ``sources`` (crpse or reference checkpoints, or bundled model names) with ``weights``.

    The sources must describe the same model (configuration, stage, sampler setting); the destination takes the
    first source's configuration.

    Returns:
        The path written.

    Raises:
        ValueError: bad weights or weights that do not fit together (:func:`blend_state_dicts`).
        CheckpointError: unreadable sources, or sources of different models.
    """
    from crpse.assets import resolve_model

    paths = [resolve_model(source) for source in sources]
    contents = [read_checkpoint(path) for path in paths]  # each file read once: its weights and its metadata
    models = [model_from_checkpoint(data, ema=True, path=path) for data, path in zip(contents, paths, strict=True)]
    config = models[0].config.to_dict()
    for source, model in zip(sources[1:], models[1:], strict=True):
        if model.config.to_dict() != config:
            raise CheckpointError(f"{source} describes another model than {sources[0]} (its configuration differs)")
    blended = blend_state_dicts([model.state_dict() for model in models], [float(w) for w in weights])
    target = models[0]
    target.load_state_dict(blended)
    provenance = [
        {"source": str(source), "weight": float(weight), "source_extra": _own_extra(data)}
        for source, data, weight in zip(sources, contents, weights, strict=True)
    ]
    return save_model(destination, target, extra={"blend": provenance})


def _own_extra(data: dict) -> dict:
    """A crpse source's metadata (training step, provenance) without what belongs to its own weights only (its
    validated region and bf16 record); empty for a reference checkpoint."""
    extra = data.get("extra") if data.get("format") == FORMAT else None
    if not isinstance(extra, dict):
        return {}
    return {k: v for k, v in extra.items() if k not in (REGION_KEY, BF16_COST_KEY)}


__all__ = ["WEIGHT_SUM_TOLERANCE", "blend_checkpoints", "blend_state_dicts"]
