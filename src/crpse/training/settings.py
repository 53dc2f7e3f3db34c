"""Plain settings of a training run (no Lightning): what the stage trains and how it validates."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from crpse.sampler_spec import CRP_SPEC, SamplerRequest, SamplerSpec

Stage = Literal["dsm", "crp", "predictive"]
STAGES: tuple[str, ...] = ("dsm", "crp", "predictive")


#: how N is drawn from a CRP steps range: each N equally often (the reference), or P(N) ~ 1/(N+2)
STEP_WEIGHTINGS: tuple[str, ...] = ("uniform", "cost")
#: which reverse step's network call carries the CRP gradient (the paper: the last)
GRAD_STEPS: tuple[str, ...] = ("last", "random")


@dataclass(frozen=True)
class TrainSettings:
    """Objective, optimiser and validation settings of one run.

    Attributes:
        stage: ``dsm`` (stage 1), ``crp`` (stage 2) or ``predictive`` (baseline).
        lr: Adam learning rate.
        ema_decay: EMA decay.
        ema_warmup: the torch-ema warm-up of the decay (``min(decay, (1 + n) / (10 + n))``, the reference's);
            ``False`` uses ``ema_decay`` from the first update, so the EMA starts as a long average anchored at its
            starting weights (for fine-tuning from an export, whose weights already are an average).
        seed: seed of everything random in training (crops, noise, t, N, t_start).
        crp_steps: CRP reverse steps N, drawn uniformly (inclusive) per batch from this range.
        crp_t_start: CRP start time t_rsp, drawn uniformly per batch from this range.
        crp_steps_weighting: how N is drawn from ``crp_steps``: ``uniform`` (each N equally often, the
            reference's ``randint``) or ``cost`` (P(N) proportional to 1 / (N + 2), the inverse cost of a batch in
            forward-pass equivalents: N - 1 calls without gradient, one with, about two more for its backward pass;
            so every N gets the same share of the compute).
        grad_step: CRP step that carries the gradient: ``last`` (paper) or ``random``.
        crp_inference: the sampler setting the CRP model is trained for (its validation loss, its saved config).
        val_sampler: the sampler that enhances the validation files (unset fields: the model's own).
        num_eval_files: validation files enhanced full-length at each validation (0: loss only).
        downmix: mono rule of the data.
    """

    stage: Stage
    lr: float
    ema_decay: float = 0.999
    ema_warmup: bool = True
    seed: int = 0
    crp_steps: tuple[int, int] = (CRP_SPEC.steps, CRP_SPEC.steps)
    crp_t_start: tuple[float, float] = (CRP_SPEC.t_start, CRP_SPEC.t_start)  # type: ignore[assignment]
    crp_steps_weighting: Literal["uniform", "cost"] = STEP_WEIGHTINGS[0]  # type: ignore[assignment]
    grad_step: Literal["last", "random"] = GRAD_STEPS[0]  # type: ignore[assignment]
    crp_inference: SamplerSpec = CRP_SPEC
    val_sampler: SamplerRequest = SamplerRequest()
    num_eval_files: int = 10
    downmix: Literal["mean", "first"] = "mean"

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        low, high = self.crp_steps
        if not 1 <= low <= high:
            raise ValueError(f"CRP steps must satisfy 1 <= N_min <= N_max, got {low}..{high}")
        a, b = self.crp_t_start
        if not 0 < a <= b:
            raise ValueError(f"CRP t_start must satisfy 0 < min <= max, got {a}..{b}")
        if self.crp_steps_weighting not in STEP_WEIGHTINGS:
            raise ValueError(f"crp_steps_weighting must be one of {STEP_WEIGHTINGS}, got {self.crp_steps_weighting!r}")
        if self.grad_step not in GRAD_STEPS:
            raise ValueError(f"grad_step must be one of {GRAD_STEPS}, got {self.grad_step!r}")
        if self.num_eval_files < 0:
            raise ValueError(f"num_eval_files must be >= 0, got {self.num_eval_files}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists instead of tuples), for JSON and checkpoints."""
        data = asdict(self)
        data["crp_steps"] = list(self.crp_steps)
        data["crp_t_start"] = list(self.crp_t_start)
        return data
