"""The sampler-setting grid language of ``crpse bench`` (torch-free).

A setting spec is ``SAMPLER[:STEPS][:KEY=VALUE]...``; ``STEPS`` and every value may be a list (``1,2,5``) or a range
(integers ``1..5``; numbers ``0.1..0.9/0.1`` with a step), and a spec expands to the product of its lists::

    model                      the checkpoint's own setting (what ``crpse enhance`` uses by default)
    pc:30:c=1                  predictor-corrector, 30 steps, 1 corrector step each (60 network calls)
    reverse:1,2,5,10:t=0.5,max reverse (CRP) sampler from t = 0.5 and from the SDE's t_max: 8 settings
    reverse:1..5:t=0.1..0.9/0.1:schedule=uniform,power      the issue-18 sweep grid (90 settings)

Keys: ``t`` (start time, or ``max``), ``c`` (PC corrector steps), ``snr`` (PC corrector SNR), ``method`` (ODE
integrator) and ``schedule`` (time schedule of the grid). Whether a key fits a sampler is checked when the
setting is resolved against a model.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from crpse.sampler_spec import SAMPLERS as SPEC_SAMPLERS
from crpse.sampler_spec import UNIFORM

#: spec key -> (Enhancer keyword, value parser)
KEYS: dict[str, str] = {
    "t": "t_start",
    "c": "corrector_steps",
    "snr": "snr",
    "method": "method",
    "schedule": "schedule",
}
#: label order of the option keywords
_OPTION_ORDER = ("corrector_steps", "snr", "method", "schedule")
_OPTION_SHORT = {"corrector_steps": "c", "snr": "snr", "method": "method", "schedule": "schedule"}
#: the sampler names the grammar knows (checked again against the model when resolving)
SAMPLERS = ("model", *SPEC_SAMPLERS)


@dataclass(frozen=True)
class SettingSpec:
    """One sampler request; unset fields take the model's own setting (or the sampler's default).

    Attributes:
        sampler: ``reverse``, ``pc``, ``ode``, or ``None`` for the model's own sampler.
        steps: number of steps N.
        t_start: start time; ``"max"`` is the SDE's ``t_max``; ``None`` the model's (or ``t_max`` for another
            sampler).
        options: sampler options as ``(Enhancer keyword, value)`` pairs (``corrector_steps``, ``snr``, ``method``,
            ``schedule``).
    """

    sampler: str | None = None
    steps: int | None = None
    t_start: float | str | None = None
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.sampler not in (None, *SPEC_SAMPLERS):
            raise ValueError(f"unknown sampler {self.sampler!r}; use one of {', '.join(SAMPLERS)}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if isinstance(self.t_start, str) and self.t_start != "max":
            raise ValueError(f"t must be a number or 'max', got {self.t_start!r}")

    @property
    def option_dict(self) -> dict[str, Any]:
        return dict(self.options)


def _numbers(text: str, kind: type, what: str) -> list[Any]:
    """``"1,2,5"``, ``"1..5"`` (integers) or ``"0.1..0.9/0.1"`` -> a list of values of ``kind``."""
    values: list[Any] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"{what}: empty value in {text!r}")
        if ".." not in part:
            values.append(_one(part, kind, what))
            continue
        bounds, _, step = part.partition("/")
        low_text, _, high_text = bounds.partition("..")
        if kind is int:
            low, high = _one(low_text, int, what), _one(high_text, int, what)
            stride = _one(step, int, what) if step else 1
            if stride < 1 or low > high:
                raise ValueError(f"{what}: the range {part!r} is empty")
            values.extend(range(low, high + 1, stride))
            continue
        if not step:
            raise ValueError(f"{what}: a range of numbers needs a step, e.g. 0.1..0.9/0.1 (got {part!r})")
        try:  # decimal arithmetic: 0.1..0.9/0.1 gives exactly 0.1, 0.2, ..., 0.9
            low_d, high_d, step_d = Decimal(low_text), Decimal(high_text), Decimal(step)
        except InvalidOperation as err:
            raise ValueError(f"{what}: cannot read {part!r} as numbers") from err
        if step_d <= 0 or low_d > high_d:
            raise ValueError(f"{what}: the range {part!r} is empty")
        count = int((high_d - low_d) / step_d) + 1
        values.extend(float(low_d + i * step_d) for i in range(count))
    return values


def _one(text: str, kind: type, what: str) -> Any:
    try:
        return kind(text.strip())
    except ValueError as err:
        raise ValueError(f"{what}: cannot read {text!r} as {kind.__name__}") from err


def _option_values(key: str, text: str) -> list[Any]:
    if key == "t":
        return [("max" if part.strip() == "max" else _numbers(part, float, "t")) for part in text.split(",")]
    if key == "c":
        return _numbers(text, int, "c")
    if key == "snr":
        return _numbers(text, float, "snr")
    return [part.strip() for part in text.split(",") if part.strip()]


def _flatten(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        out.extend(value if isinstance(value, list) else [value])
    return out


def parse_setting(text: str) -> list[SettingSpec]:
    """Expand one spec string into its settings (see the module docstring).

    Raises:
        ValueError: unknown sampler or key, unreadable values (the message names the part).
    """
    parts = [p.strip() for p in str(text).strip().split(":")]
    if not parts or not parts[0]:
        raise ValueError(f"empty sampler setting {text!r}")
    head = parts[0]
    if head not in SAMPLERS:
        raise ValueError(f"{text!r}: unknown sampler {head!r}; use one of {', '.join(SAMPLERS)}")
    sampler = None if head == "model" else head
    rest = parts[1:]
    steps: list[int | None] = [None]
    if rest and "=" not in rest[0]:
        steps = list(_numbers(rest[0], int, f"{text!r} steps"))
        rest = rest[1:]
    axes: dict[str, list[Any]] = {}
    for part in rest:
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in KEYS:
            raise ValueError(f"{text!r}: expected KEY=VALUE with KEY one of {', '.join(KEYS)}, got {part!r}")
        if key in axes:
            raise ValueError(f"{text!r}: {key} is given twice")
        axes[key] = _flatten(_option_values(key, value))
        if not axes[key]:
            raise ValueError(f"{text!r}: no value for {key}")
    keys = list(axes)
    settings = []
    for step in steps:
        for combo in itertools.product(*(axes[k] for k in keys)):
            chosen = dict(zip(keys, combo, strict=True))
            t_start = chosen.pop("t", None)
            options = tuple((KEYS[k], chosen[k]) for k in keys if k in chosen)
            settings.append(SettingSpec(sampler, step, t_start, options))
    return settings


def parse_settings(texts: Iterable[str]) -> list[SettingSpec]:
    """Expand several specs, keeping the first of any duplicates."""
    out: list[SettingSpec] = []
    for text in texts:
        for spec in parse_setting(text):
            if spec not in out:
                out.append(spec)
    return out


def format_setting(sampler: str, steps: int, t_start: float | None, options: dict[str, Any] | None = None) -> str:
    """Canonical label of a resolved setting, in the grid language: ``pc:30:t=0.999:c=1:snr=0.5``.

    The uniform time schedule is left out of the label (it is the default).
    """
    if sampler == "predictive":
        return "predictive"
    options = dict(options or {})
    if "ode_method" in options:  # the sampler specification's name of the ODE integrator
        options["method"] = options.pop("ode_method")
    parts = [sampler, str(int(steps))]
    if t_start is not None:
        parts.append(f"t={float(t_start):g}")
    for name in _OPTION_ORDER:
        value = options.get(name)
        if value is None or (name == "schedule" and value == UNIFORM):
            continue
        text = f"{value:g}" if isinstance(value, float) else str(value)
        parts.append(f"{_OPTION_SHORT[name]}={text}")
    return ":".join(parts)


def parse_assignments(texts: Sequence[str], what: str) -> list[tuple[str, str]]:
    """``["dsm=runs/dsm.ckpt", ...]`` -> ``[("dsm", "runs/dsm.ckpt"), ...]`` (names must be unique words)."""
    pairs = []
    seen = set()
    for text in texts:
        name, sep, value = str(text).partition("=")
        name = name.strip()
        if not sep or not name or not value.strip():
            raise ValueError(f"{what} must be NAME=VALUE, got {text!r}")
        if not all(c.isalnum() or c in "-_." for c in name):
            raise ValueError(f"{what}: the name {name!r} may contain only letters, digits, '-', '_' and '.'")
        if name in seen:
            raise ValueError(f"{what}: the name {name!r} is given twice")
        seen.add(name)
        pairs.append((name, value.strip()))
    return pairs


def slug(label: str) -> str:
    """A file-name-safe form of a label (``pc:30:t=0.999`` -> ``pc_30_t0.999``)."""
    return "".join(c if c.isalnum() or c in "-." else "_" for c in label.replace("=", "")).strip("_")
