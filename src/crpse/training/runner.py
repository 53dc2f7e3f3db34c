"""Turn ``crpse train`` options into a model, data, a :class:`~crpse.training.module.EnhancementModule` and a
Lightning ``Trainer``, then fit (see docs/training.md).

Run directory layout::

    RUN_DIR/args.json            the options of the latest launch (args.<n>.json keeps earlier launches)
    RUN_DIR/config.json          stage, model configuration and training settings (written at the first launch)
    RUN_DIR/logs/                TensorBoard events (when tensorboard is installed) and metrics.csv
    RUN_DIR/checkpoints/         last.ckpt, best.ckpt (crpse format), full_state.ckpt (Lightning, for resuming)
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch

from crpse.checkpoint import CheckpointError
from crpse.data import find_pairs, num_samples_for_frames, uniform_subset
from crpse.files import atomic_output
from crpse.nn.ncsnpp import named_config
from crpse.sampler_spec import CRP_SPEC, DSM_SPEC, PREDICTIVE_SPEC, SamplerSpec, check_t_start
from crpse.sampling import resolve_sampler
from crpse.score_model import Model, ModelConfig, build_model, model_from_config
from crpse.sde import BBED, OUVE
from crpse.training.config import TrainConfig
from crpse.training.checkpointing import FULL_STATE, AtomicCheckpointIO, RunCheckpoints
from crpse.training.datamodule import PairedSpeechDataModule
from crpse.training.initialization import load_initial_weights
from crpse.training.module import EnhancementModule
from crpse.training.settings import TrainSettings

logger = logging.getLogger(__name__)


def _write_json(data: Any, path: Path) -> None:
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def check_checkpoint_file(path: Path, what: str) -> None:
    """Fail early and clearly on an empty, truncated or corrupt checkpoint (zip structure and CRCs)."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path}: no such checkpoint file")
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise CheckpointError(f"{what} {path}: the checkpoint is truncated or corrupt ({err})") from err
    if broken is not None:
        raise CheckpointError(f"{what} {path}: the checkpoint is corrupt (bad CRC in {broken})")


def _new_model(config: TrainConfig, stage: str) -> Model:
    overrides: dict[str, Any] = {}
    if config.nf is not None:
        overrides["nf"] = config.nf
    if config.ch_mult is not None:
        overrides["ch_mult"] = config.ch_mult
    if config.num_res_blocks is not None:
        overrides["num_res_blocks"] = config.num_res_blocks
    if config.attn_resolutions is not None:
        overrides["attn_resolutions"] = config.attn_resolutions
    if config.dropout is not None:
        overrides["dropout"] = config.dropout
    backbone = named_config(config.backbone, **overrides)
    sde: BBED | OUVE | str = "bbed"
    if stage == "dsm":
        sde = (BBED if config.sde == "bbed" else OUVE)(**config.sde_parameters())
    kind = "predictive" if stage == "predictive" else "score"
    return build_model(backbone, sde=sde, kind=kind, sample_rate=config.sample_rate, seed=config.seed)


def _settings(config: TrainConfig, stage: str, model: Model) -> TrainSettings:
    extra: dict[str, Any] = {}
    if stage == "crp":
        steps, t_start = config.steps, config.t_start
        sde = model.sde  # type: ignore[union-attr]
        for value in (*t_start, config.inference_t_start):
            if value is not None:
                check_t_start(value, sde.t_eps, sde.t_max, what="CRP start times")
        inference = SamplerSpec(
            sampler=CRP_SPEC.sampler,
            steps=config.inference_steps or steps[1],
            t_start=config.inference_t_start if config.inference_t_start is not None else t_start[1],
            schedule=config.schedule,
        )
        extra = dict(crp_steps=steps, crp_t_start=t_start, grad_step=config.grad_step, crp_inference=inference,
                     crp_steps_weighting=config.steps_weighting)
    assert config.lr is not None and config.val_sampler is not None  # set by TrainConfig
    return TrainSettings(
        stage=stage, lr=config.lr, ema_decay=config.ema_decay, ema_warmup=config.ema_warmup, seed=config.seed,
        val_sampler=config.val_sampler, num_eval_files=config.num_eval_files, downmix=config.downmix, **extra,
    )


def _inference_for(stage: str, settings: TrainSettings) -> SamplerSpec:
    """The sampler setting saved with the trained model."""
    return {"crp": settings.crp_inference, "dsm": DSM_SPEC}.get(stage, PREDICTIVE_SPEC)


def _loggers(run_dir: Path) -> list[Any]:
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    loggers: list[Any] = []
    if importlib.util.find_spec("tensorboard") is not None or importlib.util.find_spec("tensorboardX") is not None:
        loggers.append(TensorBoardLogger(save_dir=str(run_dir / "logs"), name="", version="", default_hp_metric=False))
    else:
        logger.info("tensorboard is not installed: logging to CSV only")
    # one CSV folder per launch (csv/version_0, csv/version_1 after a resume ...): Lightning's CSV writer replaces
    # an existing metrics.csv
    loggers.append(CSVLogger(save_dir=str(run_dir / "logs"), name="csv"))
    return loggers


def _quiet_duplicate_lightning_logs() -> None:
    # Lightning gives its 'lightning' logger a handler of its own; when the application configured the root logger
    # (the crpse CLI does), every message would print twice.
    if logging.getLogger().handlers:
        lightning_logger = logging.getLogger("lightning")
        for handler in list(lightning_logger.handlers):
            lightning_logger.removeHandler(handler)


def prepare(config: TrainConfig, callbacks: Sequence[L.Callback] = ()) -> tuple[
    L.Trainer, EnhancementModule, PairedSpeechDataModule, Path | None
]:
    """Build everything for ``config`` (one launch of ``crpse train STAGE``).

    Returns:
        ``(trainer, module, datamodule, full-state checkpoint to resume from or None)``.
    """
    _quiet_duplicate_lightning_logs()
    stage: str = config.stage
    if config.threads:
        torch.set_num_threads(config.threads)
    run_dir = config.run_dir.resolve()
    checkpoint_dir = run_dir / "checkpoints"
    full_state = checkpoint_dir / FULL_STATE
    resume_from: Path | None = None
    if full_state.exists():
        resume_from = full_state
    elif config.resume:
        raise FileNotFoundError(f"--resume: {full_state} does not exist (nothing to resume in {run_dir})")
    if _launched_as_global_zero():
        lock_run_dir(run_dir)  # before reading anything of the run: one launch per run directory
    config_path = run_dir / "config.json"
    L.seed_everything(config.seed, workers=False, verbose=False)

    ema_weights, ema_count, init_info = None, 0, None
    if resume_from is not None:
        check_checkpoint_file(resume_from, "--resume")
        if not config_path.is_file():
            raise FileNotFoundError(f"{config_path}: missing; cannot rebuild the model of the run to resume")
        stored = json.loads(config_path.read_text())
        if stored.get("stage") != stage:
            raise ValueError(f"{run_dir} holds a {stored.get('stage')!r} run; resume it with `crpse train "
                             f"{stored.get('stage')}` or choose another --run-dir")
        model = model_from_config(ModelConfig.from_dict(stored["model"]))
        logger.info("resuming %s from %s", run_dir, resume_from)
    elif config.init is not None:
        check_checkpoint_file(config.init, "--init")
        initial = load_initial_weights(config.init, config.init_weights)
        model, ema_weights, ema_count = initial.model, initial.ema_weights, initial.ema_num_updates
        init_info = {"path": str(config.init.resolve()), "weights": config.init_weights,
                     "had_ema": initial.has_ema, "ema_num_updates": ema_count}
        logger.info("initialised from %s (%s weights; EMA count %d)", config.init, config.init_weights, ema_count)
    else:
        model = _new_model(config, stage)

    settings = _settings(config, stage, model)
    if resume_from is None:
        model = model.with_config(stage=stage, inference=_inference_for(stage, settings))
    resolve_sampler(model, settings.val_sampler)  # a validation sampler that does not fit the model fails now
    expected_kind = "predictive" if stage == "predictive" else "score"
    if model.config.kind != expected_kind:
        raise ValueError(f"the {stage} stage needs a {expected_kind} model, but the checkpoint holds a "
                         f"{model.config.kind} model")

    data_dir = config.data_dir
    train_pairs = find_pairs(data_dir / "train")
    valid_pairs = find_pairs(data_dir / "valid")
    eval_pairs = [valid_pairs[i] for i in uniform_subset(config.num_eval_files, len(valid_pairs))]
    num_samples = num_samples_for_frames(config.num_frames, model.transform.hop_length)
    if config.num_frames % model.frame_multiple:
        raise ValueError(f"--num-frames must be a multiple of {model.frame_multiple} for this network, "
                         f"got {config.num_frames}")
    datamodule = PairedSpeechDataModule(
        train_pairs, valid_pairs, model.sample_rate, num_samples, config.batch_size, config.num_workers, config.seed,
        config.downmix, config.normalize,
    )
    run_info = {"train_args": config.record(), "init": init_info, "run_dir": str(run_dir)}
    module = EnhancementModule(model, settings, eval_pairs, ema_weights, ema_count, run_info)

    val_every = config.val_every
    monitor = "val/pesq" if config.num_eval_files > 0 else "val/loss"
    checkpoints = RunCheckpoints(checkpoint_dir, config.checkpoint_every, val_every, monitor)
    trainer = L.Trainer(
        accelerator=config.accelerator,
        devices=list(config.devices) if isinstance(config.devices, tuple) else config.devices,
        num_nodes=config.num_nodes,
        strategy=config.strategy,
        precision=config.precision,
        max_steps=config.max_steps,
        max_epochs=-1,
        max_time=config.max_time,
        accumulate_grad_batches=config.accumulate_grad_batches,
        gradient_clip_val=config.gradient_clip or None,
        val_check_interval=val_every * config.accumulate_grad_batches if val_every else 1,
        check_val_every_n_epoch=None,
        limit_val_batches=(config.val_loss_batches or 1.0) if val_every else 0,
        num_sanity_val_steps=0,
        log_every_n_steps=config.log_every,
        logger=_loggers(run_dir),
        callbacks=[checkpoints, *callbacks],
        plugins=[AtomicCheckpointIO()],
        enable_checkpointing=False,
        enable_progress_bar=bool(config.progress_bar),
        use_distributed_sampler=False,
        default_root_dir=str(run_dir),
    )
    if trainer.is_global_zero:
        lock_run_dir(run_dir)
        _remove_stale_temporaries(checkpoint_dir)
        _record_run(run_dir, config, stage, model, settings, init_info, resume_from is not None)
    return trainer, module, datamodule, resume_from


def _launched_as_global_zero() -> bool:
    # DDP workers started by Lightning, torchrun or SLURM carry their rank in the environment
    names = ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK")
    return all(os.environ.get(name, "0") == "0" for name in names)


#: run directories locked by this process -> the open lock file (flock is released when the process ends)
_RUN_LOCKS: dict[Path, Any] = {}


class RunDirectoryBusyError(ValueError):
    """Another process is training in the same run directory."""


def lock_run_dir(run_dir: Path) -> None:
    """Take ``RUN_DIR/.lock`` (an exclusive ``flock``) so two launches never train into one run directory.

    The lock is held until :func:`unlock_run_dir` or the end of the process (also after ``kill -9``); taking it
    again from the same process is a no-op. Without ``fcntl`` (Windows) nothing is locked.
    """
    if run_dir in _RUN_LOCKS:
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir / ".lock", "a+")  # noqa: SIM115 - kept open while training
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise RunDirectoryBusyError(
            f"{run_dir} is in use by another crpse train process ({owner}); wait for it to finish or choose "
            "another --run-dir"
        ) from err
    handle.truncate(0)
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    _RUN_LOCKS[run_dir] = handle


def unlock_run_dir(run_dir: Path) -> None:
    """Release the lock taken by :func:`lock_run_dir` (no-op when not held)."""
    handle = _RUN_LOCKS.pop(Path(run_dir).resolve(), None)
    if handle is not None:
        handle.close()


def _remove_stale_temporaries(checkpoint_dir: Path) -> None:
    # a process killed while writing leaves its temporary file (never a truncated checkpoint); tidy them up
    for stale in checkpoint_dir.glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def _record_run(run_dir: Path, config: TrainConfig, stage: str, model: Model, settings: TrainSettings,
                init_info: dict[str, Any] | None, resuming: bool) -> None:
    args_path = run_dir / "args.json"
    if args_path.exists():
        launches = 1 + sum(1 for _ in run_dir.glob("args.*.json"))
        os.replace(args_path, run_dir / f"args.{launches}.json")
    _write_json(config.record(), args_path)
    if not resuming:
        _write_json({"stage": stage, "model": model.config.to_dict(), "settings": settings.to_dict(),
                     "init": init_info, "num_parameters": model.num_parameters()}, run_dir / "config.json")


def run_training(config: TrainConfig, callbacks: Sequence[L.Callback] = ()) -> int:
    """Prepare and fit; returns 0. Raises on bad options, data or checkpoints (the CLI reports them)."""
    trainer, module, datamodule, resume_from = prepare(config, callbacks)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume_from) if resume_from else None)
    except SystemExit:
        if trainer.interrupted:  # Lightning turns Ctrl-C into a graceful stop and exit(1): hand Ctrl-C back
            raise KeyboardInterrupt from None
        raise
    finally:
        unlock_run_dir(config.run_dir)
    return 0
