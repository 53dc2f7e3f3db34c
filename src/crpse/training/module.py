"""The LightningModule: a thin shell around :mod:`crpse.losses`, :mod:`crpse.sampling` and an explicit EMA.

* Training step: waveform crops -> ``model.transform.to_spec`` on the device -> ``dsm_loss`` / ``crp_loss`` /
  ``predictive_loss``. All randomness of a step (DSM t and z, CRP prior and step noise, CRP N and t_start) comes
  from generators seeded by ``(seed, stream, batch counter[, rank])``, so a resumed run draws exactly what the
  uninterrupted run would have drawn. CRP draws N and t_start once per batch, identically on every rank.
* After every optimiser step the EMA copy is updated (:class:`~crpse.training.ema.ExponentialMovingAverage`).
* Validation uses the EMA copy explicitly: the loss on centre crops (CRP at its inference N and t_start), then K
  files enhanced full-length with the validation sampler and scored with PESQ / ESTOI / SI-SDR. Sums and counts are
  gathered over all ranks before the means are logged, so the numbers do not depend on the number of processes.
* ``on_save_checkpoint`` / ``on_load_checkpoint`` carry the EMA (weights, decay, update count), the batch counter,
  the latest validation metrics and the torch / numpy / python (and CUDA) RNG states.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch

from crpse.checkpoint import save_model
from crpse.data import SpeechPair
from crpse.losses import crp_loss, dsm_loss, predictive_loss
from crpse.score_model import Model, ModelConfig
from crpse.training.ema import ExponentialMovingAverage
from crpse.training.rng import capture_rng_state, restore_rng_state
from crpse.training.settings import GRAD_STEPS, STEP_WEIGHTINGS, TrainSettings
from crpse.training.validation import metric_means, metric_sums, score_pair

logger = logging.getLogger(__name__)

# seed streams (second element of the seed sequence)
_TRAIN_NOISE, _CRP_SCHEDULE, _VAL_NOISE, _VAL_SAMPLING = 1, 2, 3, 4

#: key of crpse's state inside Lightning's full-state checkpoint
STATE_KEY = "crpse"


def crp_steps_weights(low: int, high: int, weighting: str) -> np.ndarray:
    """Probabilities of N = low..high: ``uniform``, or ``cost`` (proportional to 1 / (N + 2), equal compute per N)."""
    steps = np.arange(low, high + 1, dtype=np.float64)
    weights = np.ones_like(steps) if weighting == STEP_WEIGHTINGS[0] else 1.0 / (steps + 2.0)
    return weights / weights.sum()


def derived_seed(*keys: int) -> int:
    """A 63-bit seed from a sequence of non-negative integers (numpy's SeedSequence hashing)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1, dtype=np.uint64)[0] >> 1)


class EnhancementModule(L.LightningModule):
    """Trains one model with one of the three objectives.

    Args:
        model: the model (its ``config.stage`` and ``config.inference`` are what the saved checkpoints say).
        settings: objective, optimiser and validation settings.
        eval_pairs: validation files enhanced full-length at each validation.
        ema_weights: starting EMA weights (default: the model's current weights).
        ema_num_updates: the EMA's update count so far (continued EMAs skip the warm-up).
        run_info: plain data stored in the ``extra`` of every crpse checkpoint (training arguments, init path...).
    """

    def __init__(
        self,
        model: Model,
        settings: TrainSettings,
        eval_pairs: Sequence[SpeechPair] = (),
        ema_weights: dict[str, torch.Tensor] | None = None,
        ema_num_updates: int = 0,
        run_info: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if settings.stage in ("dsm", "crp") and model.config.kind != "score":
            raise ValueError(f"the {settings.stage} stage needs a score model, got a {model.config.kind} model")
        if settings.stage == "predictive" and model.config.kind != "predictive":
            raise ValueError(f"the predictive stage needs a predictive model, got a {model.config.kind} model")
        self.model = model
        self.settings = settings
        self.ema = ExponentialMovingAverage(
            model, settings.ema_decay, num_updates=ema_num_updates, warmup=settings.ema_warmup
        )
        if ema_weights is not None:
            self.ema.load_weights(ema_weights, ema_num_updates)
        self.eval_pairs = list(eval_pairs)
        self.run_info = dict(run_info or {})
        self.batches_seen = 0
        self.latest_val_metrics: dict[str, float] = {}
        self._val_loss = [0.0, 0.0]
        self._last_batch_start: float | None = None

    # -- helpers ------------------------------------------------------------------------------------------------
    def ema_model(self) -> Model:
        """The EMA copy of the model, on this module's device."""
        if self.ema.device != self.device:
            self.ema.to(self.device)
        return self.ema.averaged  # type: ignore[return-value]

    def _generator(self, *keys: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(derived_seed(self.settings.seed, *keys))

    def _spectrograms(self, batch: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        clean, noisy = batch
        transform = self.model.transform
        with torch.autocast(self.device.type, enabled=False):
            return transform.to_spec(clean.float()), transform.to_spec(noisy.float())

    def crp_schedule(self, batch_index: int) -> tuple[int, float]:
        """N and t_start of the CRP training step on batch ``batch_index`` (same on every rank).

        N is drawn from ``settings.crp_steps`` with :func:`crp_steps_weights`, t_start uniformly from
        ``settings.crp_t_start``.
        """
        rng = np.random.default_rng([self.settings.seed, _CRP_SCHEDULE, batch_index])
        low, high = self.settings.crp_steps
        a, b = self.settings.crp_t_start
        if self.settings.crp_steps_weighting == STEP_WEIGHTINGS[0]:  # the reference's randint (same draws as before)
            steps = int(rng.integers(low, high + 1))
        else:
            choices = np.arange(low, high + 1)
            steps = int(rng.choice(choices, p=crp_steps_weights(low, high, self.settings.crp_steps_weighting)))
        t_start = float(rng.uniform(a, b)) if b > a else float(a)
        return steps, t_start

    def _loss(
        self, model: Model, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, validation: bool
    ) -> torch.Tensor:
        stage = self.settings.stage
        if stage == "dsm":
            return dsm_loss(model, x, y, generator=generator)  # type: ignore[arg-type]
        if stage == "predictive":
            return predictive_loss(model, x, y)  # type: ignore[arg-type]
        if validation:
            spec, grad_step = self.settings.crp_inference, GRAD_STEPS[0]
            steps, t_start = spec.steps, spec.t_start
        else:
            (steps, t_start), grad_step = self.crp_schedule(self.batches_seen), self.settings.grad_step
            self.log("train/crp_steps", float(steps), on_step=True, on_epoch=False)
            self.log("train/crp_t_start", t_start, on_step=True, on_epoch=False)
        schedule = self.settings.crp_inference.schedule
        return crp_loss(  # type: ignore[arg-type]
            model, x, y, steps, t_start, generator=generator, grad_step=grad_step, schedule=schedule
        )

    # -- training -----------------------------------------------------------------------------------------------
    def configure_optimizers(self) -> torch.optim.Optimizer:
        # all parameters, as the reference; Adam skips the fixed Fourier features (they never get a gradient)
        return torch.optim.Adam(self.model.parameters(), lr=self.settings.lr)

    def on_fit_start(self) -> None:
        self.ema_model()

    def training_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> torch.Tensor:
        started = time.perf_counter()
        x, y = self._spectrograms(batch)
        generator = self._generator(_TRAIN_NOISE, self.global_rank, self.batches_seen)
        loss = self._loss(self.model, x, y, generator, validation=False)
        self.batches_seen += 1
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=x.shape[0])
        if self._last_batch_start is not None:
            self.log("train/seconds_per_batch", started - self._last_batch_start, on_step=True, on_epoch=False)
        self._last_batch_start = started
        return loss

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        self.ema_model()  # on this device
        self.ema.update(self.model)

    # -- validation ---------------------------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._val_loss = [0.0, 0.0]
        self._last_batch_start = None

    def validation_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> None:
        x, y = self._spectrograms(batch)
        generator = self._generator(_VAL_NOISE, self.global_rank, batch_idx)
        loss = self._loss(self.ema_model(), x, y, generator, validation=True)
        self._val_loss[0] += float(loss) * x.shape[0]
        self._val_loss[1] += x.shape[0]

    def _score_eval_files(self) -> list[dict[str, float]]:
        model = self.ema_model()
        results = []
        world, rank = self.trainer.world_size, self.global_rank
        with torch.autocast(self.device.type, enabled=False):
            for index in range(rank, len(self.eval_pairs), world):
                seed = derived_seed(self.settings.seed, _VAL_SAMPLING, index)
                results.append(
                    score_pair(model, self.eval_pairs[index], self.settings.val_sampler, seed, self.settings.downmix)
                )
        return results

    def on_validation_epoch_end(self) -> None:
        started = time.perf_counter()
        results = self._score_eval_files()
        seconds = sum(r["seconds"] for r in results)
        nfe = sum(r["nfe"] for r in results)
        local = torch.tensor(
            [*self._val_loss, *metric_sums(results), seconds, nfe, float(len(results))],
            dtype=torch.float64, device=self.device,
        )
        gathered = self.all_gather(local)
        totals = gathered.reshape(-1, local.numel()).sum(dim=0).tolist()
        loss_sum, loss_count = totals[0], totals[1]
        means = metric_means(totals[2:8])
        files = totals[10]
        metrics = {"val/loss": loss_sum / loss_count if loss_count else math.nan}
        if files:
            metrics.update({f"val/{name}": value for name, value in means.items()})
            metrics["val/nfe"] = totals[9] / files
            metrics["val/seconds_per_file"] = totals[8] / files
        for name, value in metrics.items():
            self.log(name, value, rank_zero_only=True)
        self.latest_val_metrics = {k: float(v) for k, v in metrics.items()}
        self.latest_val_metrics["global_step"] = float(self.global_step)
        logger.info(
            "validation at step %d: %s (%.1f s)", self.global_step,
            ", ".join(f"{k.removeprefix('val/')} {v:.4g}" for k, v in metrics.items()), time.perf_counter() - started,
        )

    # -- checkpoints --------------------------------------------------------------------------------------------
    def checkpoint_extra(self) -> dict[str, Any]:
        """The ``extra`` of crpse checkpoints: step, counters, metrics, EMA count and the run's arguments."""
        return {
            "global_step": int(self.global_step),
            "batches_seen": int(self.batches_seen),
            "stage": self.settings.stage,
            "metrics": dict(self.latest_val_metrics),
            "ema_num_updates": int(self.ema.num_updates),
            "ema_decay": float(self.ema.decay),
            "settings": self.settings.to_dict(),
            **self.run_info,
        }

    def export(self, path: Any) -> None:
        """Write a crpse checkpoint (raw + EMA weights, config, :meth:`checkpoint_extra`) atomically."""
        save_model(path, self.model, ema_state_dict=self.ema.averaged.state_dict(), extra=self.checkpoint_extra())

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[STATE_KEY] = {
            "model_config": self.model.config.to_dict(),
            "settings": self.settings.to_dict(),
            "ema": self.ema.state_dict(),
            "batches_seen": int(self.batches_seen),
            "latest_val_metrics": dict(self.latest_val_metrics),
            "rng": capture_rng_state(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get(STATE_KEY)
        if state is None:
            raise ValueError("this Lightning checkpoint was not written by crpse train (no 'crpse' state)")
        stored = ModelConfig.from_dict(state["model_config"]).to_dict()  # older files lack newer default fields
        if stored != self.model.config.to_dict():
            raise ValueError(
                "the checkpoint's model configuration differs from this run's; resume with the run directory that "
                "wrote it"
            )
        self.ema.load_state_dict(state["ema"])
        self.batches_seen = int(state["batches_seen"])
        self.latest_val_metrics = dict(state.get("latest_val_metrics", {}))
        restore_rng_state(state["rng"])
