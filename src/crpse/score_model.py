"""Models: the score model (DSM / CRP) and the predictive baseline, each a backbone plus its configuration.

One call convention everywhere: ``score = model(x_t, y, t)`` with complex ``x_t, y [B, 1, F, T]`` and ``t [B]``;
the predictive baseline is ``x_hat = model(y)``. Both also take the real view of their spectrograms, real
``[B, 2, F, T]`` (channels ``Re, Im``), and answer in it: the samplers only scale and add spectrograms by real
numbers, so they run unchanged on real views, which is how they are exported as graphs (:mod:`crpse.backends.onnx`). No Lightning, no data module: a model knows its SDE, its
spectral transform, its sample rate and the sampler settings it was trained for.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Self, TypeGuard

import torch
from torch import nn

from crpse._tensor import batch_times
from crpse.bf16_record import Bf16Cost
from crpse.nn.ncsnpp import NCSNpp, NCSNppConfig, count_parameters, named_config
from crpse.sampler_spec import CRP_SPEC, PREDICTIVE_SPEC, SamplerSpec
from crpse.sde import BBED, OUVE, SDE, sde_from_dict
from crpse.spectral import SpecTransform
from crpse.validated_region import ValidatedRegion

ModelKind = Literal["score", "predictive"]


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model (stored in every crpse checkpoint).

    Attributes:
        kind: ``score`` (DSM/CRP score model) or ``predictive`` (direct y -> x mapping).
        backbone: NCSN++ configuration.
        sde: the SDE (score models only).
        transform: STFT + compression settings.
        sample_rate: the rate the model was trained at; inputs are resampled to it.
        stage: how the weights were trained: ``dsm``, ``crp``, ``predictive`` or ``untrained``.
        inference: the sampler setting the model is meant for.
        pad_mode: frame padding of spectrograms, ``zero`` (reference) or ``reflect``.
    """

    kind: ModelKind = "score"
    backbone: NCSNppConfig = field(default_factory=NCSNppConfig)
    sde: SDE | None = field(default_factory=BBED)
    transform: SpecTransform = field(default_factory=SpecTransform)
    sample_rate: int = 16000
    stage: str = "untrained"
    inference: SamplerSpec = CRP_SPEC
    pad_mode: Literal["zero", "reflect"] = "zero"

    def __post_init__(self) -> None:
        if self.kind not in ("score", "predictive"):
            raise ValueError(f"kind must be 'score' or 'predictive', got {self.kind!r}")
        if self.kind == "score" and self.sde is None:
            raise ValueError("a score model needs an SDE")
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.transform.num_bins % self.backbone.frame_multiple:
            raise ValueError(
                f"{self.transform.num_bins} frequency bins are not divisible by {self.backbone.frame_multiple} "
                f"({len(self.backbone.ch_mult)} U-Net levels); choose n_fft accordingly"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (only str/int/float/bool/None/list/dict), safe for ``torch.load(weights_only=True)``."""
        return {
            "kind": self.kind,
            "backbone": self.backbone.to_dict(),
            "sde": None if self.sde is None else self.sde.to_dict(),
            "transform": self.transform.to_dict(),
            "sample_rate": self.sample_rate,
            "stage": self.stage,
            "inference": self.inference.to_dict(),
            "pad_mode": self.pad_mode,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(
            kind=data["kind"],
            backbone=NCSNppConfig.from_dict(data["backbone"]),
            sde=None if data.get("sde") is None else sde_from_dict(data["sde"]),
            transform=SpecTransform(**data["transform"]),
            sample_rate=int(data["sample_rate"]),
            stage=data.get("stage", "untrained"),
            inference=SamplerSpec.from_dict(data.get("inference", {})),
            pad_mode=data.get("pad_mode", "zero"),
        )


class _SpectralModel(nn.Module):
    """Shared parts: the backbone ``dnn`` (the reference's attribute name) and the configuration."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.dnn = NCSNpp(config.backbone)
        #: the settings a sweep of these weights found good (``crpse bench region``; checkpoint
        #: ``extra["validated_region"]``), or ``None``; set by :func:`crpse.checkpoint.load_model`
        self.validated_region: ValidatedRegion | None = None
        #: bf16's measured quality cost for these weights (checkpoint ``extra["bf16_cost"]``), or ``None``; set by
        #: :func:`crpse.checkpoint.load_model`; ``--precision auto`` needs it to run bf16
        self.bf16_cost: Bf16Cost | None = None

    @property
    def transform(self) -> SpecTransform:
        return self.config.transform

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def inference(self) -> SamplerSpec:
        return self.config.inference

    @property
    def frame_multiple(self) -> int:
        """Spectrogram frame counts must be multiples of this."""
        return self.config.backbone.frame_multiple

    def num_parameters(self) -> int:
        return count_parameters(self)

    def with_config(self, **changes: Any) -> Self:
        """A copy of this model (same weights, device and mode) with configuration fields replaced that do not change
        the network (stage, inference settings...); this model is left as it is."""
        if "backbone" in changes:
            raise ValueError("the backbone configuration of a built model cannot change")
        copied = copy.deepcopy(self)
        copied.config = replace(self.config, **changes)
        return copied


class ScoreModel(_SpectralModel):
    """Score model ``s(x_t, y, t) = -NCSN++([x_t, y], t)`` (the network divides by t before its 1x1 output layer).

    Equals the reference ``ScoreModel.forward(x_t, t, y, t[:, None, None, None])`` of sgmse_crp and
    ``ScoreModel.forward(x_t, t, y)`` of sgmse-bbed / sgmse.
    """

    def __init__(self, config: ModelConfig) -> None:
        if config.kind != "score":
            raise ValueError(f"ScoreModel needs kind='score', got {config.kind!r}")
        super().__init__(config)

    @property
    def sde(self) -> SDE:
        assert self.config.sde is not None
        return self.config.sde

    def forward(self, x_t: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Score of the perturbed state.

        Args:
            x_t: complex ``[B, 1, F, T]`` state at time t (or its real view ``[B, 2, F, T]``).
            y: complex ``[B, 1, F, T]`` noisy (conditioning) spectrogram (or its real view).
            t: ``[B]`` diffusion times (each element may differ).

        Returns:
            complex ``[B, 1, F, T]`` score estimate (the real view ``[B, 2, F, T]`` for real-view inputs).
        """
        if x_t.shape != y.shape:
            raise ValueError(f"x_t and y must have the same shape, got {tuple(x_t.shape)} and {tuple(y.shape)}")
        if t.dim() != 1 or t.shape[0] != x_t.shape[0]:
            raise ValueError(f"t must have shape [{x_t.shape[0]}], got {tuple(t.shape)}")
        return -self.dnn(torch.cat([x_t, y], dim=1), t)


class PredictiveModel(_SpectralModel):
    """Predictive baseline: the same NCSN++ mapping y directly to an estimate of x (``x_hat = model(y)``).

    The network sees ``[y, y]`` at the fixed time t = 1 (so its time embedding is constant and no rescaling
    happens); it is trained with the CRP loss's regression ``1/2 sum |x_hat - x|**2`` but without diffusion.
    """

    def __init__(self, config: ModelConfig) -> None:
        if config.kind != "predictive":
            raise ValueError(f"PredictiveModel needs kind='predictive', got {config.kind!r}")
        super().__init__(config)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` complex ``[B, 1, F, T]`` -> estimate of the clean spectrogram, complex ``[B, 1, F, T]`` (real views
        ``[B, 2, F, T]`` in and out work too)."""
        t = batch_times(1.0, y.shape[0], y)
        return self.dnn(torch.cat([y, y], dim=1), t)


Model = ScoreModel | PredictiveModel


def is_score_model(model: object) -> TypeGuard[ScoreModel]:
    """Whether ``model`` is sampled with an SDE: a :class:`ScoreModel`, or anything else that is not a
    :class:`PredictiveModel` and has an ``sde`` and the ``model(x_t, y, t)`` call (e.g. analytic scores in tests)."""
    return not isinstance(model, PredictiveModel) and hasattr(model, "sde")


def model_from_config(config: ModelConfig, seed: int | None = None) -> Model:
    """Instantiate the right model class for ``config.kind`` (randomly initialised; ``seed``: its initialisation's
    seed, drawn from a private generator state, ``None``: the global RNG)."""
    if seed is None:
        return ScoreModel(config) if config.kind == "score" else PredictiveModel(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model_from_config(config)


def build_model(
    backbone: str | NCSNppConfig = "tiny",
    sde: str | SDE = "bbed",
    kind: ModelKind = "score",
    sample_rate: int = 16000,
    transform: SpecTransform | None = None,
    inference: SamplerSpec | None = None,
    seed: int | None = None,
) -> Model:
    """Build a randomly initialised model.

    Args:
        backbone: a named configuration (``tiny``, ``ncsnpp_m``, ``ncsnpp``) or an :class:`NCSNppConfig`.
        sde: ``bbed``, ``ouve`` or an SDE object (ignored for predictive models).
        kind: ``score`` or ``predictive``.
        sample_rate: the model's sample rate.
        transform: spectral transform (default: the reference 16 kHz settings).
        inference: default sampler settings.
        seed: seed for the initialisation (``None``: the global RNG).
    """
    backbone_config = named_config(backbone) if isinstance(backbone, str) else backbone
    if isinstance(sde, str):
        sde = {"bbed": BBED, "ouve": OUVE}[sde]() if sde in ("bbed", "ouve") else sde_from_dict({"name": sde})
    config = ModelConfig(
        kind=kind,
        backbone=backbone_config,
        sde=sde if kind == "score" else None,
        transform=transform or SpecTransform(),
        sample_rate=sample_rate,
        stage="untrained",
        inference=inference or (CRP_SPEC if kind == "score" else PREDICTIVE_SPEC),
    )
    return model_from_config(config, seed)
