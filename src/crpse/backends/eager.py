"""The eager path: a torch model on its device, and its windows -> windows step.

:func:`load_inference_model` resolves the model argument of the inference API; :class:`EagerWindows` is the
backend-specific core of :meth:`crpse.enhancer.Enhancer.enhance_windows` for PyTorch eager mode (torch STFT,
:func:`crpse.sampling.sample`, torch iSTFT, on the model's device, in the :class:`InferenceBackend`'s layout and
precision).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from crpse import sampling
from crpse.backends import InferenceBackend
from crpse.sampler_spec import SamplerSpec
from crpse.score_model import Model


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` without CUDA is an error."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was requested but is not available on this machine; use device='cpu' (--device cpu)")
    return device


def model_device(model: torch.nn.Module) -> torch.device:
    """Where ``model``'s parameters are (the CPU for a model without any)."""
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


def load_inference_model(
    model: Model | str | os.PathLike[str] | None,
    device: str | torch.device | None = None,
    checkpoint: Mapping[str, Any] | None = None,
) -> tuple[Model, torch.device]:
    """Resolve a model argument: ``None`` (the bundled default model), a bundled model's name (``"default"``), a
    checkpoint path, or a model object.

    Checkpoints are loaded with :func:`crpse.checkpoint.load_model` (crpse or reference sgmse files); nothing is
    cached (hold an :class:`~crpse.enhancer.Enhancer` to enhance many signals with one loaded model). A model object
    is put in eval mode and moved to ``device`` when one is given (else it stays where it is).

    Args:
        checkpoint: the contents of the file ``model`` names, when the caller already read them
            (:func:`crpse.checkpoint.read_checkpoint`): the model is built from them instead of reading the file again.

    Returns:
        ``(model, device)``.
    """
    if model is None or isinstance(model, (str, os.PathLike)):
        from crpse.assets import resolve_model

        path = resolve_model(model)
        if not path.is_file():
            raise FileNotFoundError(f"model checkpoint {path} does not exist; pass the path of a .ckpt file")
        resolved = resolve_device(device)
        from crpse.checkpoint import load_model, model_from_checkpoint

        loaded = load_model(path, map_location=str(resolved)) if checkpoint is None else model_from_checkpoint(
            checkpoint, path=path)
        return loaded.to(resolved).eval(), resolved
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "transform"):
        raise TypeError(
            f"model must be None, a checkpoint path or a crpse model (ScoreModel/PredictiveModel), got {type(model)}"
        )
    resolved = model_device(model) if device is None else resolve_device(device)
    return model.to(resolved).eval(), resolved


class EagerWindows:
    """Enhance windows with the torch model: ``(waves, noise, pad_mode) -> waves``.

    Args:
        model: the model (put into ``backend``'s layout in place).
        device: where it runs.
        backend: layout and precision (:func:`crpse.backends.select_backend`).
        spec: the resolved sampler setting (``None`` for a predictive model).
    """

    def __init__(self, model: Model, device: torch.device, backend: InferenceBackend, spec: SamplerSpec | None) -> None:
        self.model, self.device, self.backend, self.spec = model, device, backend, spec
        backend.prepare(model)

    @torch.inference_mode()
    def __call__(self, waves: np.ndarray, noise: np.ndarray | None, pad_mode: str) -> np.ndarray:
        """Args:
            waves: ``float32 [B, L]`` normalised windows (``L >= n_fft``).
            noise: ``complex64 [D, B, F, T']`` sampler noise (``T'``: frames padded to the model's multiple), or
                ``None`` for a predictive model.
            pad_mode: how the frames are padded (``zero`` or ``reflect``).

        Returns:
            ``float32 [B, L]`` enhanced windows.
        """
        model, transform = self.model, self.model.transform
        y = transform.to_spec(torch.from_numpy(waves).to(self.device))
        frames = y.shape[-1]
        y = transform.pad_frames(y, model.frame_multiple, mode=pad_mode)  # type: ignore[arg-type]
        draws = None if noise is None else [torch.from_numpy(z).unsqueeze(1).to(self.device) for z in noise]
        with self.backend.autocast(self.device):
            x_hat, _ = sampling.sample(model, y, spec=self.spec, noise=draws)
        return transform.to_wave(x_hat[..., :frames], waves.shape[1]).float().cpu().numpy()
