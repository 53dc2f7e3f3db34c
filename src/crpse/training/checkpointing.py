"""Checkpoint files of a run: crpse model checkpoints plus Lightning's full state, all written atomically.

``RUN_DIR/checkpoints/``:

* ``last.ckpt``: crpse checkpoint (:func:`crpse.checkpoint.save_model`: config, raw + EMA weights, ``extra`` with
  ``global_step``, validation metrics, EMA update count and the run's arguments). ``crpse enhance --model`` reads it.
* ``best.ckpt``: the same for the best validation so far (highest ``val/pesq``; lowest ``val/loss`` when no files
  are scored).
* ``full_state.ckpt``: Lightning's full training state (weights, Adam state, loop progress, EMA, counters, RNG
  states, this callback's best score) for ``--resume``.

Every file is written to a temporary file in the same folder, flushed to disk and renamed, so a crash or a kill
never leaves a truncated checkpoint behind. Only global rank 0 writes.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.trainer.states import TrainerFn

from crpse.checkpoint import atomic_torch_save, read_checkpoint

logger = logging.getLogger(__name__)

FULL_STATE = "full_state.ckpt"
LAST = "last.ckpt"
BEST = "best.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O through :func:`crpse.checkpoint.atomic_torch_save` and
    :func:`crpse.checkpoint.read_checkpoint` (weights-only loading; a truncated file raises
    :class:`crpse.checkpoint.CheckpointError` that names it)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO does not take storage_options")
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path: Any, map_location: Any | None = None, weights_only: bool | None = None) -> dict:
        return read_checkpoint(path, map_location if map_location is not None else "cpu")


class RunCheckpoints(L.Callback):
    """Writes ``last.ckpt`` / ``best.ckpt`` / ``full_state.ckpt`` every ``every_n_steps`` and after each validation.

    Args:
        directory: ``RUN_DIR/checkpoints``.
        every_n_steps: optimiser steps between periodic checkpoints (0: only at validation and at the end).
        val_every_n_steps: validation period in optimiser steps (a periodic checkpoint falling on a validation step
            is written once, after the validation).
        monitor: ``val/pesq`` (higher is better) or ``val/loss`` (lower is better).
    """

    def __init__(self, directory: str | Path, every_n_steps: int, val_every_n_steps: int, monitor: str) -> None:
        if monitor not in ("val/pesq", "val/loss"):
            raise ValueError(f"monitor must be 'val/pesq' or 'val/loss', got {monitor!r}")
        self.directory = Path(directory)
        self.every_n_steps = every_n_steps
        self.val_every_n_steps = val_every_n_steps
        self.monitor = monitor
        self.best_score: float | None = None
        self.best_step: int | None = None
        self.last_saved_step = -1

    @property
    def state_key(self) -> str:
        return "RunCheckpoints"

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "best_score": self.best_score, "best_step": self.best_step,
                "last_saved_step": self.last_saved_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict.get("monitor") == self.monitor:
            self.best_score = state_dict.get("best_score")
            self.best_step = state_dict.get("best_step")
        self.last_saved_step = int(state_dict.get("last_saved_step", -1))

    def _improved(self, value: float | None) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.best_score is None:
            return True
        return value > self.best_score if self.monitor == "val/pesq" else value < self.best_score

    def save(self, trainer: L.Trainer, pl_module: L.LightningModule, best: bool = False) -> None:
        """Write the full state (all ranks take part, rank 0 writes) and, on rank 0, ``last.ckpt`` (and best)."""
        self.last_saved_step = trainer.global_step
        trainer.save_checkpoint(self.directory / FULL_STATE, weights_only=False)
        if trainer.is_global_zero:
            pl_module.export(self.directory / LAST)  # type: ignore[operator]
            if best:
                pl_module.export(self.directory / BEST)  # type: ignore[operator]
            suffix = " and best.ckpt" if best else ""
            logger.info("step %d: wrote %s%s", trainer.global_step, self.directory / LAST, suffix)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if self.every_n_steps <= 0 or step == 0 or step % self.every_n_steps or step == self.last_saved_step:
            return
        if self.val_every_n_steps > 0 and step % self.val_every_n_steps == 0:
            return  # validation follows and saves
        self.save(trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        value = getattr(pl_module, "latest_val_metrics", {}).get(self.monitor)
        best = self._improved(value)
        if best:
            self.best_score, self.best_step = float(value), trainer.global_step  # type: ignore[arg-type]
        self.save(trainer, pl_module, best=best)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step != self.last_saved_step:
            self.save(trainer, pl_module)
