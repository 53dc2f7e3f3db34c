"""``crpse info``: describe a model checkpoint.

Example::

    crpse info crp.ckpt            # human-readable
    crpse info crp.ckpt --json     # machine-readable
    crpse info default             # a bundled model, by name

Prints the kind and training stage, the backbone configuration, the SDE, the spectral transform, the sample rate,
the parameter count and the sampler settings the model is meant for (what ``crpse enhance`` uses by default).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from crpse.sampler_spec import SAMPLER_OPTIONS


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``info`` sub-command to ``subparsers`` and return its parser."""
    parser = subparsers.add_parser(
        "info",
        help="print a model's configuration",
        description="Print a model's kind, training stage, backbone, SDE, spectral transform, sample rate, "
        "parameter count and intended sampler settings. Works for crpse and reference sgmse checkpoints.",
    )
    parser.add_argument("model", metavar="MODEL", help="a bundled model's name (see `crpse models`) or a checkpoint file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def model_summary(model: Any) -> dict[str, Any]:
    """Plain-data description of a loaded model (``config`` plus parameter count)."""
    config = model.config.to_dict()
    summary: dict[str, Any] = {
        "kind": config["kind"],
        "stage": config.get("stage"),
        "sample_rate": config["sample_rate"],
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "inference": config.get("inference"),
        "sde": config.get("sde"),
        "transform": config.get("transform"),
        "pad_mode": config.get("pad_mode"),
        "backbone": config.get("backbone"),
    }
    if summary["kind"] != "score":
        summary["inference"] = {"sampler": "none (predictive: one network call)"}
    return summary


def _format_mapping(mapping: dict[str, Any] | None) -> str:
    if not mapping:
        return "-"
    return ", ".join(f"{key}={_format_value(value)}" for key, value in mapping.items())


def _format_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_format_value(v) for v in value) + ")"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_summary(path: str | Path, summary: dict[str, Any]) -> str:
    """The human-readable text of :func:`model_summary`."""
    inference = dict(summary.get("inference") or {})
    if summary["kind"] == "score":
        sampler = inference.pop("sampler", "?")
        steps = inference.pop("steps", "?")
        t_start = inference.pop("t_start", None)
        t_text = "the SDE's t_max" if t_start is None else f"{t_start:g}"
        relevant = SAMPLER_OPTIONS.get(str(sampler), ())
        extra = "".join(f", {k}={_format_value(inference[k])}" for k in relevant if k in inference)
        intended = f"{sampler}, {steps} step(s) from t_start={t_text}{extra}"
    else:
        intended = "predictive: one network call, no sampler"
    sde = dict(summary.get("sde") or {})
    sde_name = str(sde.pop("name", "-")).upper() if sde else "-"
    backbone = dict(summary.get("backbone") or {})
    lines = [
        f"model:        {path}",
        f"kind:         {summary['kind']} (stage: {summary.get('stage') or 'unknown'})",
        f"sample rate:  {summary['sample_rate']} Hz",
        f"parameters:   {summary['parameters']:,} ({summary['parameters'] / 1e6:.2f} M)",
        f"intended:     {intended}",
        f"sde:          {sde_name}" + (f" ({_format_mapping(sde)})" if sde else ""),
        f"transform:    {_format_mapping(summary.get('transform'))}; frame padding: {summary.get('pad_mode')}",
        f"backbone:     {_format_mapping(backbone)}",
    ]
    return "\n".join(lines)


def crp_training(extra: dict[str, Any]) -> dict[str, Any] | None:
    """The stage-2 (CRP) training ranges of a crpse checkpoint's ``extra`` (also of an exported model, whose training
    metadata is under ``source_extra``): N, t_start, how N was weighted, which step carried the gradient and the time
    schedule; ``None`` for any other checkpoint."""
    settings = extra.get("settings") or (extra.get("source_extra") or {}).get("settings")
    if not isinstance(settings, dict) or settings.get("stage") != "crp":
        return None
    if len(settings.get("crp_steps", ())) != 2 or len(settings.get("crp_t_start", ())) != 2:
        return None  # metadata of another version: say nothing rather than something wrong
    return {
        "steps": list(settings.get("crp_steps", ())),
        "t_start": list(settings.get("crp_t_start", ())),
        "steps_weighting": settings.get("crp_steps_weighting"),
        "grad_step": settings.get("grad_step"),
        "schedule": (settings.get("crp_inference") or {}).get("schedule", "uniform"),
    }


def describe_crp_training(training: dict[str, Any]) -> str:
    """One line: ``N = 1..5 per batch (cost-weighted), t_start 0.2..0.8 per batch, uniform time grid, ...``."""
    (n_low, n_high), (t_low, t_high) = training["steps"], training["t_start"]
    steps = f"N = {n_low}" if n_low == n_high else (
        f"N = {n_low}..{n_high} per batch ({training['steps_weighting']}-weighted, gradient through the "
        f"{training['grad_step']} step)")
    t_start = f"t_start = {t_low:g}" if t_low == t_high else f"t_start {t_low:g}..{t_high:g} per batch"
    return f"CRP at {steps}, {t_start}, {training['schedule']} time grid"


def run(args: argparse.Namespace) -> int:
    """Load the model and print its description; 1 if it cannot be loaded."""
    from crpse.assets import resolve_model
    from crpse.checkpoint import model_from_checkpoint, read_checkpoint

    try:
        path = resolve_model(args.model)
        data = read_checkpoint(path)
        model = model_from_checkpoint(data, path=path)
    except (OSError, ValueError, RuntimeError) as error:
        message = " ".join(str(error).split())
        if str(args.model) not in message:
            message = f"{args.model}: {message}"
        print(f"crpse: error: {message}", file=sys.stderr)
        return 1
    from crpse.assets import BUNDLED_MODELS

    summary = model_summary(model)
    training = crp_training(data.get("extra") or {}) if isinstance(data.get("extra"), dict) else None
    if training is not None:
        summary["crp_training"] = training
    region = model.validated_region
    if region is not None:
        summary["validated_region"] = region.to_dict()
    bf16_cost = model.bf16_cost
    if bf16_cost is not None:
        summary["bf16_cost"] = bf16_cost.to_dict()
    shown = args.model
    bundled = BUNDLED_MODELS.get(args.model)
    if bundled is not None:
        summary.update(bundled=bundled.name, file=str(resolve_model(bundled.name)), intended_use=bundled.intended_use)
        shown = f"{bundled.name} (bundled: {summary['file']})"
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(format_summary(shown, summary))
        if training is not None:
            print(f"trained:      {describe_crp_training(training)}")
        if bundled is not None:
            print(f"use:          {bundled.intended_use}")
        if region is not None:
            print("validated:    " + region.describe().replace("\n", "\n              "))
        print("bf16 - fp32:  " + (bf16_cost.describe() if bf16_cost is not None
                                  else "not measured (--precision auto runs fp32)"))
    return 0
