"""A model's own sampler setting, and the warning when another one is asked for.

Every model states the sampler setting it was trained and validated for (``model.inference``, stored in every
crpse checkpoint and derived for reference checkpoints: CRP models their ``inference_N``/``inference_start``,
DSM models predictor-corrector with 30 steps from ``t_max``). A CRP model is trained for one setting only: other
samplers, step counts or starting times are outside what it was trained for and can diverge to loud noise (which
the output guard, :mod:`crpse.output_guard`, then refuses). Asking for one is allowed, with a
:class:`SamplerSettingWarning` that names the model's own setting.

A model whose checkpoint stores a validated region (``model.validated_region``, :mod:`crpse.validated_region`)
was also measured at the settings of that region: settings inside it count as intended too, and the warning for
one outside it describes the region.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

from crpse.model_info import ModelInfo
from crpse.sampler_spec import SamplerSpec
from crpse.validated_region import region_warning

if TYPE_CHECKING:
    from crpse.score_model import ScoreModel


class SamplerSettingWarning(UserWarning):
    """A sampler setting other than the one the model was trained and validated for was asked for."""


def intended_choice(model: ScoreModel | ModelInfo) -> SamplerSpec:
    """The model's own sampler setting, resolved (``t_start`` set); ``model`` may also be a score model's
    :class:`~crpse.model_info.ModelInfo` (so that the torch-free inference path can ask)."""
    if isinstance(model, ModelInfo):
        spec = model.resolve()
    else:
        from crpse.sampling import resolve_sampler

        spec = resolve_sampler(model)
    assert spec is not None  # a score model
    return spec


def describe(spec: SamplerSpec) -> str:
    """``"reverse sampler, 1 step from t=0.3"`` (plus the sampler's options, e.g. ``corrector_steps=1``)."""
    options = "".join(f", {name}={value:g}" if isinstance(value, float) else f", {name}={value}"
                      for name, value in spec.options.items())
    schedule = "" if spec.schedule == "uniform" else f", {spec.schedule} schedule"
    steps = f"{spec.steps} step{'s' if spec.steps != 1 else ''}"
    start = "t_max" if spec.t_start is None else f"{spec.t_start:g}"
    return f"{spec.sampler} sampler, {steps} from t={start}{schedule}{options}"


def is_intended(model: ScoreModel | ModelInfo, spec: SamplerSpec) -> bool:
    """Whether ``spec`` is the model's own setting (times compared to 1e-6; options that do not apply to the
    sampler are ignored) or lies inside the model's validated region."""
    own = intended_choice(model)
    if spec.t_start is None or own.t_start is None or (spec.sampler == own.sampler and spec.options != own.options):
        return False
    if model.validated_region is not None and model.validated_region.contains(
        spec.sampler, spec.steps, spec.t_start, spec.schedule
    ):
        return True
    return (
        spec.sampler == own.sampler
        and spec.steps == own.steps
        and math.isclose(spec.t_start, own.t_start, abs_tol=1e-6)
        and spec.schedule == own.schedule
    )


def warn_if_not_intended(model: ScoreModel | ModelInfo, choice: SamplerSpec) -> bool:
    """Issue a :class:`SamplerSettingWarning` when ``choice`` is not the model's own setting.

    Python shows a given warning once per process (the default warnings filter), so repeated calls with the same
    setting warn once.

    Returns:
        Whether a warning was issued.
    """
    if is_intended(model, choice):
        return False
    region = model.validated_region
    outside = "" if region is None or choice.t_start is None else (
        region_warning(region, choice.sampler, choice.steps, choice.t_start, choice.schedule) or ""
    ) + ". "
    warnings.warn(
        f"the model was trained and validated for the {describe(intended_choice(model))}; you asked for the "
        f"{describe(choice)}, which it was not validated for: the output may be poor or diverge into loud noise "
        f"(unsafe outputs are refused). {outside}Leave the sampler options unset to use the model's own setting.",
        SamplerSettingWarning,
        stacklevel=3,
    )
    return True
