"""What the inference pipeline needs to know about a model besides its network, as plain data (torch-free).

The :class:`~crpse.enhancer.Enhancer` windows, normalises, transforms and guards audio from these facts alone; only
the step from spectrogram windows to enhanced ones needs the network (:mod:`crpse.backends`). A torch model gives
them with :meth:`ModelInfo.of`; an exported graph carries them (:mod:`crpse.backends.ort`), so that a cached graph
runs without loading torch or the checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from crpse.sampler_spec import SamplerRequest, SamplerSpec, resolve_for_model
from crpse.spectral import SpecTransform
from crpse.validated_region import ValidatedRegion

if TYPE_CHECKING:
    from crpse.score_model import Model


@dataclass(frozen=True)
class ModelInfo:
    """A model's inference facts.

    Attributes:
        kind: ``score`` or ``predictive``.
        sample_rate: the model's rate; inputs are resampled to it.
        transform: its STFT and compression.
        frame_multiple: spectrogram frame counts must be multiples of this.
        pad_mode: frame padding, ``zero`` or ``reflect``.
        inference: the sampler setting the model is meant for (unresolved, as stored; score models).
        t_eps: the SDE's smallest time (score models; ``None`` for predictive ones).
        t_max: the SDE's largest time (score models; ``None`` for predictive ones).
        validated_region: the checkpoint's validated region (:mod:`crpse.validated_region`), if it has one.
    """

    kind: Literal["score", "predictive"]
    sample_rate: int
    transform: SpecTransform
    frame_multiple: int
    pad_mode: Literal["zero", "reflect"]
    inference: SamplerSpec | None
    t_eps: float | None
    t_max: float | None
    validated_region: ValidatedRegion | None = None

    @classmethod
    def of(cls, model: Model) -> ModelInfo:
        """The facts of a crpse model object (a score model's validated region included)."""
        score = model.config.kind == "score"
        return cls(
            kind=model.config.kind,
            sample_rate=int(model.sample_rate),
            transform=model.transform,
            frame_multiple=int(model.frame_multiple),
            pad_mode=model.config.pad_mode,
            inference=model.inference if score else None,
            t_eps=float(model.sde.t_eps) if score else None,  # type: ignore[union-attr]
            t_max=float(model.sde.t_max) if score else None,  # type: ignore[union-attr]
            validated_region=getattr(model, "validated_region", None) if score else None,
        )

    @property
    def is_predictive(self) -> bool:
        return self.kind == "predictive"

    def resolve(self, request: SamplerRequest = SamplerRequest()) -> SamplerSpec | None:
        """The complete sampler setting ``request`` gives on this model (``None`` for a predictive model); see
        :func:`crpse.sampler_spec.resolve_for_model`."""
        return resolve_for_model(request, self.inference, self.t_eps, self.t_max)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON)."""
        return {
            "kind": self.kind,
            "sample_rate": self.sample_rate,
            "transform": self.transform.to_dict(),
            "frame_multiple": self.frame_multiple,
            "pad_mode": self.pad_mode,
            "inference": None if self.inference is None else self.inference.to_dict(),
            "t_eps": self.t_eps,
            "t_max": self.t_max,
            "validated_region": None if self.validated_region is None else self.validated_region.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        """Inverse of :meth:`to_dict`."""
        inference = data.get("inference")
        return cls(
            kind=data["kind"],
            sample_rate=int(data["sample_rate"]),
            transform=SpecTransform(**data["transform"]),
            frame_multiple=int(data["frame_multiple"]),
            pad_mode=data["pad_mode"],
            inference=None if inference is None else SamplerSpec.from_dict(inference),
            t_eps=data.get("t_eps"),
            t_max=data.get("t_max"),
            validated_region=None if not data.get("validated_region") else ValidatedRegion.from_dict(
                data["validated_region"]
            ),
        )
