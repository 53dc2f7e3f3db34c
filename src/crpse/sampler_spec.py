"""Sampler specification: the one place where sampler names, their defaults and their valid ranges live.

No torch here, so the CLI can build its ``--sampler`` choices and help texts from it without loading torch.

* :class:`SamplerSpec` is a complete setting: which sampler, how many steps, from which time, on which time
  schedule, with which options. Models store the one they are meant for (``model.inference``, saved in every
  checkpoint); a resolved spec (``t_start`` set) is what the samplers run.
* :class:`SamplerRequest` is what a user asks for: every field optional, ``None`` meaning "the model's own".
  :meth:`SamplerRequest.resolve` turns it into a resolved :class:`SamplerSpec` once, against the model's spec and
  its SDE's time range; everything downstream receives that result and resolves nothing again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Final, Literal

SamplerName = Literal["reverse", "pc", "ode"]
OdeMethod = Literal["euler", "heun"]
Schedule = Literal["uniform", "power"]

#: Euler-Maruyama steps of the reverse SDE from t_start (CRP's sampler)
REVERSE: Final = "reverse"
#: predictor-corrector sampling (the SGMSE+/BBED baseline)
PC: Final = "pc"
#: probability-flow ODE
ODE: Final = "ode"
#: the samplers
SAMPLERS: tuple[SamplerName, ...] = (REVERSE, PC, ODE)
#: integrators of the ``ode`` sampler
EULER: Final = "euler"
HEUN: Final = "heun"
ODE_METHODS: tuple[OdeMethod, ...] = (EULER, HEUN)
#: time schedules of the sampler grid (:mod:`crpse.schedules`): ``uniform`` is the reference's
#: ``linspace(t_start, t_eps, steps)``, ``power`` an EDM-like spacing with shorter steps towards t_eps
UNIFORM: Final = "uniform"
POWER: Final = "power"
SCHEDULES: tuple[Schedule, ...] = (UNIFORM, POWER)
#: the options each sampler takes besides steps, t_start and schedule
SAMPLER_OPTIONS: dict[str, tuple[str, ...]] = {REVERSE: (), PC: ("corrector_steps", "snr"), ODE: ("ode_method",)}
#: steps of a sampler asked for without a step count when it is not the model's own sampler
DEFAULT_STEPS: dict[str, int] = {REVERSE: 1, PC: 30, ODE: 30}
#: seed of the sampler noise when none is given: the same seed gives the same output
DEFAULT_SEED = 0


@dataclass(frozen=True)
class SamplerSpec:
    """A complete sampler setting (the defaults are the paper's CRP setting: one reverse step from t = 0.5).

    Attributes:
        sampler: ``reverse`` (Euler-Maruyama from t_start, CRP), ``pc`` (predictor-corrector) or ``ode``.
        steps: number of reverse steps N (network calls for ``reverse``).
        t_start: start time of the reverse process; ``None`` means the SDE's ``t_max`` (set once resolved).
        corrector_steps: Langevin corrector steps per step (``pc`` only).
        snr: corrector signal-to-noise ratio (``pc`` only).
        ode_method: ``euler`` or ``heun`` (``ode`` only).
        schedule: spacing of the time grid between t_start and the SDE's t_eps (see :data:`SCHEDULES`).
    """

    sampler: SamplerName = REVERSE
    steps: int = DEFAULT_STEPS[REVERSE]
    t_start: float | None = 0.5
    corrector_steps: int = 1
    snr: float = 0.5
    ode_method: OdeMethod = EULER
    schedule: Schedule = UNIFORM

    def __post_init__(self) -> None:
        _check(self.sampler, self.steps, self.t_start, self.corrector_steps, self.snr, self.ode_method, self.schedule)

    @property
    def options(self) -> dict[str, Any]:
        """The options that apply to this sampler, e.g. ``{"corrector_steps": 1, "snr": 0.5}`` for ``pc``."""
        return {name: getattr(self, name) for name in SAMPLER_OPTIONS[self.sampler]}

    @property
    def noise_draws(self) -> int:
        """Number of noise tensors the sampler draws: prior first, then per-step draws in sampling order."""
        if self.sampler == REVERSE:
            return self.steps
        if self.sampler == PC:
            return 1 + self.steps * self.corrector_steps + self.steps - 1
        return 1

    @property
    def network_calls(self) -> int:
        """Network evaluations of one run (NFE)."""
        if self.sampler == PC:
            return self.steps * (self.corrector_steps + 1)
        if self.sampler == ODE and self.ode_method == HEUN:
            return 2 * self.steps - 1
        return self.steps

    def with_time_range(self, t_eps: float, t_max: float) -> SamplerSpec:
        """This spec with ``t_start`` set (``None`` -> ``t_max``) and checked to lie in ``(t_eps, t_max]``.

        Raises:
            ValueError: t_start outside the SDE's range.
        """
        t_start = t_max if self.t_start is None else float(self.t_start)
        check_t_start(t_start, t_eps, t_max)
        return replace(self, t_start=t_start)

    def describe(self) -> str:
        """E.g. ``reverse, 1 step(s) from t=0.5`` or ``pc, 30 step(s) from t=0.999, corrector_steps=1, snr=0.5``."""
        return f"{self.sampler}, {self.describe_steps()}"

    def describe_steps(self) -> str:
        """The setting without the sampler's name: ``1 step(s) from t=0.5``."""
        start = "t_max" if self.t_start is None else f"{self.t_start:g}"
        schedule = "" if self.schedule == UNIFORM else f", {self.schedule} schedule"
        options = "".join(f", {k}={v:g}" if isinstance(v, float) else f", {k}={v}" for k, v in self.options.items())
        return f"{self.steps} step(s) from t={start}{schedule}{options}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for checkpoints and JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamplerSpec:
        """Inverse of :meth:`to_dict`; keys missing in older checkpoints (``schedule``) take their defaults."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown sampler settings {unknown} (known: {sorted(known)})")
        return cls(**data)


@dataclass(frozen=True)
class SamplerRequest:
    """Sampler settings asked for by a user; ``None`` fields take the model's own (:meth:`resolve`).

    Same fields as :class:`SamplerSpec`. Values that are given are validated at construction.
    """

    sampler: SamplerName | None = None
    steps: int | None = None
    t_start: float | None = None
    corrector_steps: int | None = None
    snr: float | None = None
    ode_method: OdeMethod | None = None
    schedule: Schedule | None = None

    def __post_init__(self) -> None:
        _check(self.sampler, self.steps, self.t_start, self.corrector_steps, self.snr, self.ode_method, self.schedule)

    @classmethod
    def from_options(
        cls, sampler: str | None = None, steps: int | None = None, t_start: float | None = None, **options: Any
    ) -> SamplerRequest:
        """Build a request from keyword options (``method`` is accepted for ``ode_method``; ``None`` is unset).

        Raises:
            ValueError: an unknown option.
        """
        if "method" in options:
            options["ode_method"] = options.pop("method")
        unknown = sorted(set(options) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown sampler options {unknown}; known: corrector_steps, snr, ode_method, schedule")
        return cls(sampler, steps, t_start, **options)  # type: ignore[arg-type]

    def is_empty(self) -> bool:
        """True when nothing is asked for (the model's own setting applies unchanged)."""
        return all(getattr(self, f.name) is None for f in fields(self))

    def resolve(self, own: SamplerSpec, t_eps: float, t_max: float) -> SamplerSpec:
        """The complete setting this request gives for a model whose own setting is ``own``.

        The model's steps and t_start apply when its own sampler is used; another sampler named without a step
        count gets :data:`DEFAULT_STEPS`, and without a start time the SDE's ``t_max``. Options not given come
        from ``own``.

        Raises:
            ValueError: an option that does not apply to the sampler, or a start time outside ``(t_eps, t_max]``.
        """
        sampler = self.sampler or own.sampler
        given = {name for name in ("corrector_steps", "snr", "ode_method") if getattr(self, name) is not None}
        unknown = sorted(given - set(SAMPLER_OPTIONS[sampler]))
        if unknown:
            allowed = ", ".join(SAMPLER_OPTIONS[sampler]) or "none"
            raise ValueError(f"options {unknown} do not apply to the {sampler} sampler (it takes: {allowed})")
        if sampler == own.sampler:
            steps = self.steps or own.steps
            t_start = own.t_start if self.t_start is None else self.t_start
        else:
            steps = self.steps or DEFAULT_STEPS[sampler]
            t_start = self.t_start
        spec = SamplerSpec(
            sampler=sampler,
            steps=steps,
            t_start=t_start,
            corrector_steps=_first(self.corrector_steps, own.corrector_steps),
            snr=_first(self.snr, own.snr),
            ode_method=_first(self.ode_method, own.ode_method),
            schedule=_first(self.schedule, own.schedule),
        )
        return spec.with_time_range(t_eps, t_max)


def resolve_for_model(
    request: SamplerRequest, own: SamplerSpec | None, t_eps: float | None, t_max: float | None
) -> SamplerSpec | None:
    """The complete setting ``request`` gives on a model whose own setting is ``own`` and whose SDE runs from
    ``t_eps`` to ``t_max``; ``own=None`` is a predictive model, which runs no sampler (returns ``None``).

    Raises:
        ValueError: any sampler setting for a predictive model, or what :meth:`SamplerRequest.resolve` raises.
    """
    if own is None:
        if not request.is_empty():
            raise ValueError(
                "this is a predictive model (one network call, no sampler): it maps y to x directly; drop the "
                "sampler settings (--sampler, --steps, --t-start and sampler options)"
            )
        return None
    assert t_eps is not None and t_max is not None
    return request.resolve(own, t_eps, t_max)


def check_t_start(t_start: float, t_eps: float, t_max: float, what: str = "t_start") -> None:
    """Raise ``ValueError`` unless ``t_eps < t_start <= t_max`` (the reverse process must start inside the SDE)."""
    if not t_eps < t_start <= t_max:
        raise ValueError(f"{what} must lie in ({t_eps}, {t_max}] for this SDE, got {t_start}")


def _first(value: Any, default: Any) -> Any:
    return default if value is None else value


def _check(
    sampler: str | None,
    steps: int | None,
    t_start: float | None,
    corrector_steps: int | None,
    snr: float | None,
    ode_method: str | None,
    schedule: str | None,
) -> None:
    if sampler is not None and sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if steps is not None and (isinstance(steps, bool) or int(steps) != steps or steps < 1):
        raise ValueError(f"steps must be a whole number >= 1, got {steps}")
    if t_start is not None and not t_start > 0:
        raise ValueError(f"t_start must be positive, got {t_start}")
    if corrector_steps is not None and (int(corrector_steps) != corrector_steps or corrector_steps < 0):
        raise ValueError(f"corrector_steps must be a whole number >= 0, got {corrector_steps}")
    if snr is not None and not snr > 0:
        raise ValueError(f"snr must be positive, got {snr}")
    if ode_method is not None and ode_method not in ODE_METHODS:
        raise ValueError(f"the ode method must be one of {', '.join(ODE_METHODS)}, got {ode_method!r}")
    if schedule is not None and schedule not in SCHEDULES:
        raise ValueError(f"unknown time schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")


#: the setting CRP models are trained for by default (the paper's headline: one step from t = 0.5)
CRP_SPEC = SamplerSpec()
#: the setting of stage-1 (DSM) models: the SGMSE+/BBED baseline, PC with 30 steps from t_max (60 network calls)
DSM_SPEC = SamplerSpec(sampler=PC, steps=DEFAULT_STEPS[PC], t_start=None)
#: the placeholder setting of predictive models (one network call; no sampler runs)
PREDICTIVE_SPEC = SamplerSpec(t_start=None)
#: what validation runs during DSM training: a cheaper PC run (10 steps = 20 network calls)
DSM_VALIDATION = SamplerRequest(sampler=PC, steps=10)
