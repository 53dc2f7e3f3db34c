"""``crpse models``: list the models bundled with the package (usable by name wherever a model is taken).

Example::

    crpse models           # name, parameters, file size, sample rate, sampler setting, intended use
    crpse models --json
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from crpse.sampler_spec import SamplerSpec


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``models`` sub-command to ``subparsers`` and return its parser."""
    parser = subparsers.add_parser(
        "models",
        help="list the bundled models (use them by name: --model NAME)",
        description="List the models that ship with crpse: name, size, sample rate, the sampler setting each was "
        "trained and validated for (what `crpse enhance --model NAME` uses), and its intended use. Every name "
        "works with `crpse enhance --model`, `crpse info` and `crpse.load_model()`.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def bundled_model_rows() -> list[dict[str, Any]]:
    """One plain-data row per bundled model; settings and size come from its checkpoint."""
    from crpse.assets import BUNDLED_MODELS, bundled_model_path
    from crpse.checkpoint import read_checkpoint

    rows = []
    for name, bundled in BUNDLED_MODELS.items():
        row: dict[str, Any] = {"name": name, "intended_use": bundled.intended_use}
        try:
            path = bundled_model_path(name)
        except FileNotFoundError:
            rows.append({**row, "file": None})
            continue
        data = read_checkpoint(path)
        config = data.get("config", {})
        weights = data.get("ema_state_dict") or data["state_dict"]
        rows.append({
            **row,
            "file": str(path),
            "file_bytes": path.stat().st_size,
            "parameters": int(sum(tensor.numel() for tensor in weights.values())),
            "sample_rate": config.get("sample_rate"),
            "stage": config.get("stage"),
            "inference": config.get("inference") if config.get("kind") == "score" else None,
        })
    return rows


def sampler_setting(inference: dict[str, Any] | None) -> str:
    """``reverse, 1 step from t=0.3`` (or ``predictive, 1 call``) from a checkpoint's inference settings."""
    if inference is None:
        return "predictive, 1 call"
    return SamplerSpec.from_dict(inference).describe()


def run(args: argparse.Namespace) -> int:
    """Print the bundled models; 1 when this installation has none of their files."""
    rows = bundled_model_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            if row["file"] is None:
                print(f"{row['name']}: not installed in this copy of crpse\n  use: {row['intended_use']}")
                continue
            print(
                f"{row['name']}: {row['parameters']:,} parameters, {row['file_bytes'] / 2**20:.1f} MiB, "
                f"{row['sample_rate']} Hz, {row['stage']}; sampler: {sampler_setting(row['inference'])}\n"
                f"  use:  {row['intended_use']}\n"
                f"  file: {row['file']}"
            )
    if all(row["file"] is None for row in rows):
        print("crpse: error: no bundled model file is installed; pass --model PATH.ckpt", file=sys.stderr)
        return 1
    return 0
