"""Models shipped inside the package, by name: ``default`` today; a new bundled model needs only a registry entry.

Wherever a model is taken (``crpse enhance --model``, ``crpse info``, :func:`crpse.load_model`,
:class:`crpse.Enhancer`), a bundled model's name works as well as a checkpoint path; ``crpse models`` lists them::

    crpse enhance noisy.wav -o out/ --model default
    model = crpse.load_model("default")

A name wins over a file of the same name in the current folder (write ``./default`` for the file). Nothing is ever
downloaded: a bundled file either ships with the package or the caller passes a checkpoint explicitly. Each entry
holds only what the checkpoint cannot tell: its file and its intended use. Sampler settings, sample rate and size
are read from the checkpoint itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["BUNDLED_MODELS", "DEFAULT_MODEL", "BundledModel", "bundled_model_path", "default_model_path", "resolve_model"]


@dataclass(frozen=True)
class BundledModel:
    """One model file inside ``crpse/assets``.

    Attributes:
        name: what users type (``--model NAME``).
        file: the checkpoint's file name inside this package.
        intended_use: one line: material, language, setting and limits (details in MODEL_CARD.md).
    """

    name: str
    file: str
    intended_use: str


#: name -> bundled model, in listing order
BUNDLED_MODELS: dict[str, BundledModel] = {
    model.name: model
    for model in (
        BundledModel(
            "default",
            "default.ckpt",
            "general model: 16 kHz speech in everyday noise and light reverberation, one network call on CPU "
            "(N = 3..5 validated too: `crpse info default`); on real recordings ahead of DeepFilterNet3 on ESTOI "
            "and SI-SDR and level on PESQ, behind it on PESQ on unseen noise types (MODEL_CARD.md)",
        ),
    )
}

#: the model used when none is given
DEFAULT_MODEL = "default"


def bundled_model_path(name: str = DEFAULT_MODEL) -> Path:
    """The checkpoint file of the bundled model ``name``.

    Raises:
        KeyError: no bundled model has this name.
        FileNotFoundError: this installation lacks the model's file; the message says how to pass one.
    """
    model = BUNDLED_MODELS[name]
    path = Path(str(resources.files(__name__).joinpath(model.file)))
    if not path.is_file():
        raise FileNotFoundError(
            f"no bundled model {name!r} in this installation (looked for {path}); pass a checkpoint explicitly: "
            "`crpse enhance --model MODEL.ckpt ...` or `crpse.enhance(audio, sample_rate, model='MODEL.ckpt')` "
            "(crpse checkpoints from `crpse train`, or reference sgmse/sgmse_crp .ckpt files)"
        )
    return path


def default_model_path() -> Path:
    """The checkpoint file of the default bundled model (see :func:`bundled_model_path`)."""
    return bundled_model_path(DEFAULT_MODEL)


def resolve_model(model: str | os.PathLike[str] | None) -> Path:
    """The checkpoint file meant by ``model``: a bundled model's name, a path, or ``None`` for the default model.

    Raises:
        FileNotFoundError: neither an existing file nor a bundled model (the message lists the bundled names), or
            the bundled model's file is missing from this installation.
    """
    if model is None:
        return default_model_path()
    if isinstance(model, str) and model in BUNDLED_MODELS:
        return bundled_model_path(model)
    path = Path(model)
    if not path.exists() and path.suffix == "" and path.parent == Path("."):
        raise FileNotFoundError(
            f"{model!r} is neither a checkpoint file nor a bundled model (bundled: {', '.join(BUNDLED_MODELS)}; "
            "`crpse models` lists them)"
        )
    return path
