"""``crpse train {dsm,crp,predictive}``: train a score model (stage 1), fine-tune it with CRP (stage 2), or train
the predictive baseline. Lightning is imported only inside :func:`run` (through :mod:`crpse.training.runner`).

The CLI layer sets ``OMP_WAIT_POLICY=PASSIVE`` in the environment before torch loads, unless it is already set
(spinning OpenMP threads make CPU training 10x slower when other processes share the cores; docs/training.md).
Library code never changes the environment.

Examples::

    crpse train dsm --data-dir corpus --run-dir runs/bbed --backbone ncsnpp --batch-size 16
    crpse train crp --data-dir corpus --run-dir runs/crp --init runs/bbed/checkpoints/best.ckpt --steps 1 --t-start 0.5
    crpse train predictive --data-dir corpus --run-dir runs/pred --backbone ncsnpp
    crpse train dsm ... --accelerator gpu --devices 4 --strategy ddp --precision bf16-mixed
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from dataclasses import fields
from pathlib import Path
from typing import Any

from crpse.sampler_spec import CRP_SPEC, DSM_SPEC, DSM_VALIDATION, SAMPLERS, SCHEDULES
from crpse.sde_parameters import BBEDParameters, OUVEParameters
from crpse.training.config import (
    ACCELERATORS,
    BACKBONES,
    DOWNMIX,
    INIT_WEIGHTS,
    NORMALIZE,
    PRECISIONS,
    SDES,
    VALIDATION_OPTIONS,
    TrainConfig,
    option_default,
)
from crpse.training.settings import GRAD_STEPS, STEP_WEIGHTINGS

_DESCRIPTION = """\
Train with Lightning (needs crpse[train]). Data: DATA_DIR/{train,valid}/{clean,noisy}/*.wav paired by file name,
random crops of --num-frames frames normalised by the noisy crop's peak. Everything goes to --run-dir: logs
(TensorBoard + CSV), args.json / config.json, and checkpoints/{last,best}.ckpt (crpse format, usable with
`crpse enhance --model`) plus checkpoints/full_state.ckpt for resuming. Re-running the same command on an
existing run directory resumes it. Put --config FILE first: options after it override the file."""

_STAGES = {
    "dsm": (
        "stage 1: denoising score matching (BBED or OUVE score model)",
        "Stage 1 (DSM): t ~ U(t_eps, t_max) per example, loss 1/2 |std(t) s(x_t, y, t) + z|^2. Defaults follow "
        "the reference (Adam 1e-4, EMA 0.999, batch 16, BBED k=2.6 c=0.52). Validation enhances --num-eval-files "
        f"files with a cheap PC sampler ({DSM_VALIDATION.steps} steps = {2 * (DSM_VALIDATION.steps or 0)} network "
        f"calls) by default; --val-steps {DSM_SPEC.steps} is the reference's.",
    ),
    "crp": (
        "stage 2: correcting the reverse process (fine-tune a score model for N steps)",
        "Stage 2 (CRP): start at y + std(t_start) z, run N reverse steps without gradient except the last, and "
        "regress the last step's mean onto the clean spectrogram (Adam 1e-5). --init takes a crpse checkpoint or "
        "a reference sgmse / sgmse-bbed / sgmse_crp checkpoint; the EMA continues from its EMA (and update count). "
        f"The saved model records sampler '{CRP_SPEC.sampler}' with --inference-steps and --inference-t-start.",
    ),
    "predictive": (
        "baseline: the same network mapping y directly to x",
        "Predictive baseline: the same NCSN++ maps the noisy spectrogram to the clean one (loss 1/2 |x_hat - x|^2), "
        "same data pipeline, one network call at inference.",
    ),
}


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults (except unset ones and flags) and keeps the description's line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or "default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _ConfigAction(argparse.Action):
    """``--config FILE``: a YAML or JSON mapping of option names (``batch-size`` or ``batch_size``) to values.

    ``options`` maps the destinations of the stage's options to their actions; a name outside it is an error.
    """

    def __init__(self, *args: Any, options: dict[str, argparse.Action], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options = options

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        path = Path(values)
        try:
            text = path.read_text()
        except OSError as err:
            parser.error(f"--config {path}: {err.strerror}")
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            parser.error(f"--config {path}: expected a mapping of option names to values")
        for key, value in data.items():
            dest = str(key).replace("-", "_")
            if dest not in self.options:
                parser.error(f"--config {path}: unknown option {key!r} for this stage")
            setattr(namespace, dest, value)
        setattr(namespace, self.dest, str(path))


def _add_stage_options(parser: argparse.ArgumentParser, stage: str) -> None:
    options: dict[str, argparse.Action] = {}  # the options a --config file may set

    config_fields = {f.name for f in fields(TrainConfig)} | set(VALIDATION_OPTIONS)

    def add(group: Any, *names: str, **kwargs: Any) -> None:
        """``group.add_argument``; an option of TrainConfig takes its default from there (:func:`option_default`)."""
        dest = kwargs.get("dest") or names[0].lstrip("-").replace("-", "_")
        if "default" not in kwargs and not kwargs.get("required") and dest in config_fields:
            kwargs["default"] = option_default(dest, stage)
        action = group.add_argument(*names, **kwargs)
        options[action.dest] = action

    parser.add_argument("--config", action=_ConfigAction, options=options, metavar="FILE",
                        help="YAML/JSON file of option values (see configs/); give it first")

    run = parser.add_argument_group("run and data")
    add(run, "--data-dir", required=True, type=Path, metavar="DIR",
        help="corpus with train/{clean,noisy} and valid/{clean,noisy}")
    add(run, "--run-dir", required=True, type=Path, metavar="DIR",
        help="output folder (keep it outside the repository); an existing run is resumed")
    add(run, "--resume", action="store_true",
        help="require resuming from RUN_DIR/checkpoints/full_state.ckpt (automatic when it exists)")
    add(run, "--num-frames", type=int, metavar="T", help="STFT frames per training crop ((T-1)*hop samples)")
    add(run, "--batch-size", type=int, metavar="B", help="examples per batch and process")
    add(run, "--num-workers", type=int, metavar="N", help="data loader worker processes")
    add(run, "--normalize", choices=NORMALIZE,
        help="divide each crop by the peak of the noisy (reference) or clean crop")
    add(run, "--downmix", choices=DOWNMIX, help="how multichannel files become mono")
    add(run, "--seed", type=int, metavar="S", help="seed of initialisation, crops, noise and CRP draws")

    model = parser.add_argument_group("model")
    if stage == "crp":
        add(model, "--init", required=True, type=Path, metavar="CKPT",
            help="stage-1 checkpoint: crpse, or reference sgmse / sgmse-bbed / sgmse_crp .ckpt")
    else:
        add(model, "--init", type=Path, metavar="CKPT",
            help="start from this checkpoint's weights (model options below are then ignored)")
    add(model, "--init-weights", choices=INIT_WEIGHTS,
        help="weights the optimiser starts from: the checkpoint's EMA weights, or its raw weights "
             "(the official stage 2); the EMA always continues from the checkpoint's EMA")
    if stage != "crp":
        add(model, "--backbone", choices=BACKBONES,
            help="NCSN++ configuration: the reference's 65.6 M parameters, a ~6x cheaper one, or a "
                 "< 1 M test network")
        add(model, "--nf", type=int, metavar="C", help="override: base channel count")
        add(model, "--ch-mult", metavar="M,M,...", help="override: channel multiplier per U-Net level")
        add(model, "--num-res-blocks", type=int, metavar="N", help="override: residual blocks per level")
        add(model, "--attn-resolutions", metavar="R,...",
            help="override: frequency sizes with attention ('none' for no attention)")
        add(model, "--dropout", type=float, metavar="P", help="override: dropout probability")
        add(model, "--sample-rate", type=int, metavar="HZ",
            help="the model's sample rate (files at other rates are resampled)")
    if stage == "dsm":
        add(model, "--sde", choices=SDES, help="the SDE")
        # an SDE parameter left out keeps the SDE's own default (crpse.sde_parameters), shown here
        bbed, ouve = BBEDParameters, OUVEParameters
        add(model, "--bbed-k", type=float, metavar="K", help=f"BBED diffusion base k (default: {bbed.k:g})")
        add(model, "--bbed-c", type=float, metavar="C", help=f"BBED diffusion scale c (default: {bbed.c:g})")
        add(model, "--ouve-theta", type=float, help=f"OUVE stiffness (default: {ouve.theta:g})")
        add(model, "--ouve-sigma-min", type=float, help=f"OUVE sigma_min (default: {ouve.sigma_min:g})")
        add(model, "--ouve-sigma-max", type=float, help=f"OUVE sigma_max (default: {ouve.sigma_max:g})")
        add(model, "--t-eps", type=float, help=f"smallest DSM time (and end of sampling) (default: {bbed.t_eps:g})")
        add(model, "--t-max", type=float, metavar="T",
            help=f"largest DSM time (default: {bbed.t_max:g} for BBED, {ouve.t_max:g} for OUVE)")

    optim = parser.add_argument_group("optimisation")
    add(optim, "--lr", type=float, help="Adam learning rate")
    add(optim, "--ema-decay", type=float, metavar="D", help="EMA decay (after a warm-up unless --no-ema-warmup)")
    add(optim, "--ema-warmup", action=argparse.BooleanOptionalAction,
        help="the torch-ema warm-up of the decay, as the reference; --no-ema-warmup uses --ema-decay from the first "
        "update (fine-tuning an export, whose weights already are an average: BENCHMARKS.md 26.4)")
    add(optim, "--max-steps", type=int, metavar="N", help="optimiser steps (-1: no limit)")
    add(optim, "--max-time", metavar="DD:HH:MM:SS", help="stop after this wall time (checkpoint written)")
    add(optim, "--accumulate-grad-batches", type=int, metavar="K", help="batches per optimiser step")
    add(optim, "--gradient-clip", type=float, metavar="NORM",
        help="clip the gradient norm (0: no clipping, as the reference)")

    if stage == "crp":
        crp = parser.add_argument_group("CRP")
        add(crp, "--steps", default=str(CRP_SPEC.steps), metavar="N|MIN..MAX",
            help="reverse steps per training batch, or an inclusive range drawn per batch")
        add(crp, "--t-start", default=f"{CRP_SPEC.t_start:g}", metavar="T|A..B",
            help="reverse start time t_rsp, or a range drawn uniformly per batch")
        add(crp, "--steps-weighting", choices=STEP_WEIGHTINGS,
            help="how N is drawn from a --steps range: each N equally often (the reference), or with "
                 "P(N) ~ 1/(N+2) so that every N gets the same compute")
        add(crp, "--grad-step", choices=GRAD_STEPS, help="step whose network call gets the gradient (the paper: last)")
        add(crp, "--schedule", choices=SCHEDULES,
            help="time schedule of the reverse grid in training, saved as the model's (uniform: the "
                 "reference's linspace; power: shorter steps towards t_eps; the same for N <= 2)")
        add(crp, "--inference-steps", type=int, metavar="N",
            help="N saved as the model's inference setting and used for validation "
                 "(default: the largest --steps)")
        add(crp, "--inference-t-start", type=float, metavar="T",
            help="t_start saved as the model's inference setting (default: the largest --t-start)")

    val = parser.add_argument_group("validation and checkpoints")
    add(val, "--val-every", type=int, metavar="N", help="validate every N optimiser steps (0: never)")
    add(val, "--num-eval-files", type=int, metavar="K",
        help="validation files enhanced full-length and scored (PESQ, ESTOI, SI-SDR), chosen uniformly")
    add(val, "--val-loss-batches", type=int, metavar="N",
        help="validation-loss batches per validation (0: all validation files)")
    if stage != "predictive":
        add(val, "--val-sampler", choices=("model", *SAMPLERS),
            help="sampler for the scored files ('model': the model's inference setting)")
        add(val, "--val-steps", type=int, metavar="N", help="sampler steps (unset: the model's)")
        add(val, "--val-t-start", type=float, metavar="T", help="sampler start time (unset: the model's)")
        add(val, "--val-corrector-steps", type=int, metavar="N", help="PC corrector steps (unset: the model's)")
        add(val, "--val-snr", type=float, metavar="R", help="PC corrector SNR (unset: the model's)")
    add(val, "--checkpoint-every", type=int, metavar="N",
        help="write last.ckpt and full_state.ckpt every N optimiser steps (also after each validation)")

    hw = parser.add_argument_group("hardware and logging")
    add(hw, "--accelerator", choices=ACCELERATORS, help="device type")
    add(hw, "--devices", metavar="N|auto|I,J", help="devices per node: a count, 'auto', or a comma list of indices")
    add(hw, "--num-nodes", type=int, metavar="N", help="machines (DDP)")
    add(hw, "--strategy", metavar="NAME", help="Lightning strategy: auto, ddp, ddp_spawn, ...")
    add(hw, "--precision", choices=PRECISIONS, help="numeric precision (bf16-mixed on recent GPUs)")
    add(hw, "--threads", type=int, metavar="N",
        help="CPU threads for torch (0: torch's default); OMP_WAIT_POLICY defaults to PASSIVE")
    add(hw, "--log-every", type=int, metavar="N", help="log training values every N steps")
    add(hw, "--progress-bar", action=argparse.BooleanOptionalAction, default=sys.stderr.isatty(),
        help="show Lightning's progress bar (default: when stderr is a terminal)")


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``train`` with its ``dsm`` / ``crp`` / ``predictive`` sub-commands."""
    parser = subparsers.add_parser(
        "train", help="train DSM, CRP or predictive models (needs crpse[train])", description=_DESCRIPTION,
        formatter_class=_Formatter,
    )
    stages = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for stage, (help_text, description) in _STAGES.items():
        stage_parser = stages.add_parser(
            stage, help=help_text, description=textwrap.fill(description, 100, break_on_hyphens=False),
            formatter_class=_Formatter,
        )
        _add_stage_options(stage_parser, stage)
    return parser


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The typed configuration of a parsed ``crpse train STAGE`` command line (``--config`` file included).

    Raises:
        ValueError: an option value that cannot be read or is out of range.
    """
    return TrainConfig.from_options(vars(args))


def run(args: argparse.Namespace) -> int:
    """Train; returns the exit status (1 with a message for bad options, data or checkpoints)."""
    # OpenMP threads that spin while waiting make CPU steps 10x slower as soon as another process shares the cores
    # (measured in docs/training.md); libgomp reads this when torch loads, which has not happened yet here.
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from crpse.extras import require_extra

    require_extra("crpse train", "train", ("lightning",))  # one line naming pip install 'crpse[train]' (crpse.cli)
    from crpse.training.runner import run_training
    from crpse.checkpoint import CheckpointError
    from crpse.data import DataError

    try:
        config = train_config(args)
        if config.num_eval_files:  # PESQ and ESTOI score validation files; with --num-eval-files 0 nothing does
            require_extra("crpse train", "train", ("pesq", "pystoi"))
        return run_training(config)
    except (CheckpointError, DataError, FileNotFoundError, ValueError) as err:
        if getattr(args, "verbose", False):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1
