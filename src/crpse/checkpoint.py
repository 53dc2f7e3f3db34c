"""Checkpoints: crpse's self-describing format, and the reference sgmse / sgmse-bbed / sgmse_crp Lightning files.

crpse checkpoint (a ``torch.save`` dict that loads with ``weights_only=True``)::

    {"format": "crpse", "format_version": 1, "crpse_version": "...",
     "config": ModelConfig.to_dict(),       # backbone, SDE, transform, sample rate, stage, inference settings
     "state_dict": {...},                   # raw weights, names as ScoreModel.state_dict() ("dnn.*")
     "ema_state_dict": {...} | None,        # EMA weights, same names
     "extra": {...}}                        # free-form: training step, metrics, provenance

Loading never executes code from the file. Files are read with ``torch.load(weights_only=True)``; reference
Lightning checkpoints that pickle foreign classes (e.g. ``sgmse.data_module.SpecsDataModule`` in their
hyper-parameters) are read the same way, with inert placeholder classes allowed for globals from a short list of
known training packages. A file that references anything else (``os.system``, ``builtins.eval`` ...) is refused
with :class:`UnsafeCheckpointError` before any of it is unpickled.
"""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from crpse import __version__
from crpse.bf16_record import read_bf16_cost
from crpse.files import atomic_output
from crpse.nn.ncsnpp import NCSNppConfig
from crpse.sampler_spec import CRP_SPEC, DSM_SPEC, SamplerSpec
from crpse.score_model import Model, ModelConfig, model_from_config
from crpse.sde import BBED, OUVE, bbve_as_bbed
from crpse.spectral import SpecTransform
from crpse.validated_region import read_region

logger = logging.getLogger(__name__)

FORMAT = "crpse"
FORMAT_VERSION = 1

#: modules whose pickled globals may be replaced by inert placeholders (training-time objects of the reference)
_PLACEHOLDER_PREFIXES = (
    "sgmse.", "pytorch_lightning.", "lightning.", "lightning_fabric.", "torch_ema.", "asteroid.", "wandb.",
    "argparse.", "pathlib.", "numpy.", "typing.", "enum.",
)


class CheckpointError(ValueError):
    """A checkpoint file cannot be read or does not describe a model crpse can build."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint references Python objects whose unpickling could execute code."""


class _Placeholder(dict):
    """Inert stand-in for a foreign class found in a checkpoint: accepts any construction and state."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.placeholder_args = args

    def __setstate__(self, state: Any) -> None:
        self.placeholder_state = state

    def __repr__(self) -> str:
        return f"<placeholder for {type(self).__module__}.{type(self).__qualname__}>"


def _placeholder_class(full_name: str) -> type:
    module, _, name = full_name.rpartition(".")
    cls = type(name, (_Placeholder,), {"__module__": module, "__qualname__": name})
    return cls


def read_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu", mmap: bool = False
) -> dict[str, Any]:
    """Read a checkpoint dict without executing code from it (``mmap=True``: tensors are mapped, not read, for a
    caller that wants only the metadata).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: truncated, corrupt or not a checkpoint.
        UnsafeCheckpointError: the file references globals outside the allow-list.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the checkpoint file is empty")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint (truncated, corrupt, or saved in the legacy non-zip format)"
        )
    try:
        return _load_weights_only(path, map_location, (), mmap)
    except pickle.UnpicklingError:
        pass
    except (RuntimeError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise CheckpointError(f"{path}: the checkpoint is truncated or corrupt ({err})") from err
    try:
        foreign = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as err:  # noqa: BLE001 - any failure here means we cannot inspect the file safely
        raise CheckpointError(f"{path}: cannot inspect the checkpoint's pickled objects ({err})") from err
    unsafe = [name for name in foreign if not name.startswith(_PLACEHOLDER_PREFIXES)]
    if unsafe:
        raise UnsafeCheckpointError(
            f"{path}: refusing to load: the file references {', '.join(sorted(unsafe))}, which could execute code; "
            "crpse only loads weights, configurations and known training objects"
        )
    placeholders = tuple(_placeholder_class(name) for name in foreign)
    try:
        return _load_weights_only(path, map_location, placeholders, mmap)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(f"{path}: refusing to load: {str(err).splitlines()[0]}") from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise CheckpointError(f"{path}: the checkpoint is truncated or corrupt ({err})") from err


def _load_weights_only(
    path: Path, map_location: str | torch.device, extra_globals: tuple[type, ...], mmap: bool = False
) -> dict[str, Any]:
    with torch.serialization.safe_globals(list(extra_globals)):
        data = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{path}: expected a checkpoint dictionary, found {type(data).__name__}")
    return dict(data)


def save_model(
    path: str | os.PathLike[str],
    model: Model,
    ema_state_dict: Mapping[str, torch.Tensor] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a self-describing crpse checkpoint atomically (temporary file in the same folder, then rename).

    Args:
        path: destination file.
        model: the model; its ``state_dict`` is stored as the raw weights.
        ema_state_dict: EMA weights with the same names (``None``: no EMA).
        extra: plain-data metadata (training step, metrics, provenance).

    Returns:
        The path written.
    """
    path = Path(path)
    raw = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    ema = None
    if ema_state_dict is not None:
        if set(ema_state_dict) != set(raw):
            raise ValueError("ema_state_dict must have exactly the model's parameter names")
        ema = {k: v.detach().cpu().clone() for k, v in ema_state_dict.items()}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "crpse_version": __version__,
        "config": model.config.to_dict(),
        "state_dict": raw,
        "ema_state_dict": ema,
        "extra": dict(extra or {}),
    }
    atomic_torch_save(payload, path)
    return path


def rewrite_checkpoint(
    source: str | os.PathLike[str], destination: str | os.PathLike[str], edit: Callable[[dict[str, Any]], None],
    purpose: str,
) -> Path:
    """Copy the crpse checkpoint ``source`` to ``destination`` (atomically; it may be ``source``) after ``edit``
    changed its dict in place (e.g. an entry of ``extra``); the result must load.

    Raises:
        CheckpointError: ``source`` is not a crpse checkpoint (the message says that only crpse checkpoints can
            ``purpose``), or ``edit`` refused it.
    """
    data = read_checkpoint(source)
    if data.get("format") != FORMAT:
        raise CheckpointError(f"{source}: only crpse checkpoints can {purpose} (export it first)")
    edit(data)
    atomic_torch_save(data, destination)
    load_model(destination)
    return Path(destination)


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temporary file next to ``path``, fsync, then rename: readers never see a partial file."""
    with atomic_output(path) as temporary:
        torch.save(obj, temporary)


def load_model(path: str | os.PathLike[str], ema: bool = True, map_location: str | torch.device = "cpu") -> Model:
    """Load a model from a crpse checkpoint or a reference sgmse / sgmse-bbed / sgmse_crp Lightning checkpoint.

    Args:
        path: checkpoint file, or the name of a bundled model (``"default"``; ``crpse models`` lists them).
        ema: use the EMA weights when the file has them (what the reference evaluates with).
        map_location: where to put the tensors; move the model with ``.to(device)`` afterwards as usual.

    Returns:
        A :class:`~crpse.score_model.ScoreModel` or :class:`~crpse.score_model.PredictiveModel` in eval mode.
    """
    from crpse.assets import resolve_model

    path = resolve_model(path)
    return model_from_checkpoint(read_checkpoint(path, map_location), ema, path)


def model_from_checkpoint(data: Mapping[str, Any], ema: bool = True, path: Any = "checkpoint") -> Model:
    """The model of an already read checkpoint (:func:`read_checkpoint`); see :func:`load_model`.

    A crpse checkpoint's validated region (``extra["validated_region"]``) and bf16 cost record
    (``extra["bf16_cost"]``) come with the model (``model.validated_region``, ``model.bf16_cost``).

    Raises:
        CheckpointError: neither a crpse nor a reference checkpoint, or an unusable one (``path`` names it).
    """
    if data.get("format") == FORMAT:
        model = _from_crpse(dict(data), ema, path)
        model.validated_region = read_region(data)
        model.bf16_cost = read_bf16_cost(data)
    elif "state_dict" in data and "hyper_parameters" in data:
        model = _from_reference(dict(data), ema, path)
    else:
        raise CheckpointError(f"{path}: neither a crpse checkpoint nor a reference Lightning checkpoint")
    return model.eval()


def _from_crpse(data: dict[str, Any], ema: bool, path: Any) -> Model:
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r} is newer than this crpse supports ({FORMAT_VERSION}); "
            "upgrade crpse"
        )
    try:
        config = ModelConfig.from_dict(data["config"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: invalid model configuration in checkpoint ({err})") from err
    model = model_from_config(config)
    weights = data["state_dict"]
    if ema:
        if data.get("ema_state_dict") is not None:
            weights = data["ema_state_dict"]
        else:
            logger.debug("%s has no EMA weights; using the raw weights", path)
    _load_weights(model, weights, path)
    return model


def reference_config(hparams: Mapping[str, Any]) -> ModelConfig:
    """Translate reference ``hyper_parameters`` into a :class:`ModelConfig`.

    Network options come from the hyper-parameters when present (the official checkpoints have none, i.e. the
    NCSN++ defaults); BBED's ``k``/``theta``/``T_sampling``, OUVE's ``theta``/``sigma_min``/``sigma_max`` and the
    old ``bbve`` parameterisation are read from them rather than trusted to defaults.
    """
    backbone = hparams.get("backbone", "ncsnpp")
    if backbone != "ncsnpp":
        raise CheckpointError(f"reference backbone {backbone!r} is not supported (only 'ncsnpp')")
    t_eps = float(hparams.get("t_eps", 0.03))
    sde_name = str(hparams.get("sde", "bbed")).lower()
    if sde_name == "bbed":
        sde: BBED | OUVE = BBED(
            k=float(hparams.get("k", 2.6)), c=float(hparams.get("theta", 0.52)),
            t_max=float(hparams.get("T_sampling", 0.999)), t_eps=t_eps,
        )
    elif sde_name == "bbve":
        sde = bbve_as_bbed(
            float(hparams["sigma_min"]), float(hparams["sigma_max"]), float(hparams.get("theta", 0.52)),
            t_max=float(hparams.get("T_sampling", 0.999)), t_eps=t_eps,
        )
    elif sde_name in ("ouve", "ouvesde"):
        sde = OUVE(
            theta=float(hparams.get("theta", 1.5)), sigma_min=float(hparams.get("sigma_min", 0.05)),
            sigma_max=float(hparams.get("sigma_max", 0.5)), t_eps=t_eps,
        )
    else:
        raise CheckpointError(f"reference SDE {sde_name!r} is not supported (bbed, bbve, ouve)")
    transform = SpecTransform(
        n_fft=int(hparams.get("n_fft", 510)), hop_length=int(hparams.get("hop_length", 128)),
        window=hparams.get("window", "hann"), transform=hparams.get("transform_type", "exponent"),
        exponent=float(hparams.get("spec_abs_exponent", 0.5)), factor=float(hparams.get("spec_factor", 0.15)),
    )
    if "inference_N" in hparams:  # sgmse_crp: stage-2 settings
        stage = "crp"
        inference = SamplerSpec(
            sampler=CRP_SPEC.sampler, steps=int(hparams["inference_N"]),
            t_start=float(hparams.get("inference_start", CRP_SPEC.t_start)),
        )
    else:  # stage-1 diffusion model: the SGMSE+/BBED baseline sampler
        stage = "dsm"
        inference = DSM_SPEC
    return ModelConfig(
        kind="score",
        backbone=NCSNppConfig.from_dict(dict(hparams), strict=False),
        sde=sde,
        transform=transform,
        sample_rate=int(hparams.get("sample_rate", hparams.get("sr", 16000))),
        stage=stage,
        inference=inference,
    )


def _from_reference(data: dict[str, Any], ema: bool, path: Any) -> Model:
    hparams = data["hyper_parameters"]
    if not isinstance(hparams, Mapping):
        raise CheckpointError(f"{path}: hyper_parameters is not a mapping ({type(hparams).__name__})")
    model = model_from_config(reference_config(hparams))
    state = data["state_dict"]
    ema_state = data.get("ema")
    if ema and isinstance(ema_state, Mapping) and ema_state.get("shadow_params") is not None:
        shadow = list(ema_state["shadow_params"])
        names = [name for name, _ in model.named_parameters()]
        if len(shadow) != len(names):
            raise CheckpointError(
                f"{path}: the EMA holds {len(shadow)} tensors but the network has {len(names)} parameters"
            )
        state = dict(zip(names, shadow, strict=True))
    elif ema:
        logger.debug("%s has no EMA weights; using the raw weights", path)
    _load_weights(model, state, path)
    return model


def _load_weights(model: Model, weights: Mapping[str, torch.Tensor], path: Any) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match the configured network "
            f"(missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''})"
        )
    for name, tensor in weights.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                f"{path}: {name} has shape {tuple(tensor.shape)}, the network expects {tuple(expected[name].shape)}"
            )
    model.load_state_dict(dict(weights))


def export_model(
    source: str | os.PathLike[str], destination: str | os.PathLike[str], extra: Mapping[str, Any] | None = None
) -> Path:
    """Write a slim inference checkpoint: the EMA weights of ``source`` (crpse or reference) as its only weights.

    The training metadata of a crpse ``source`` (``extra``: step, metrics, arguments) is kept under
    ``extra["source_extra"]``; ``extra`` adds more (e.g. provenance of a bundled model).
    """
    data = read_checkpoint(source)
    model = load_model(source, ema=True)
    source_extra = data.get("extra") if data.get("format") == FORMAT else {"global_step": data.get("global_step")}
    return save_model(destination, model, extra={"source_extra": source_extra or {}, **dict(extra or {})})
