"""Files shipped inside the package: the default enhancement model.

``crpse enhance`` and :func:`crpse.enhance` use :func:`default_model_path` when no model is given. Nothing is
ever downloaded: the file either ships with the package or the caller passes a checkpoint explicitly.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: file name of the bundled model inside this package
DEFAULT_MODEL_NAME = "default.ckpt"


def default_model_path() -> Path:
    """The path of the bundled default model (``crpse/assets/default.ckpt``).

    Raises:
        FileNotFoundError: when this installation has no bundled model; the message says how to pass one.
    """
    path = Path(str(resources.files(__name__).joinpath(DEFAULT_MODEL_NAME)))
    if not path.is_file():
        raise FileNotFoundError(
            f"no bundled default model in this installation (looked for {path}); pass a checkpoint explicitly: "
            "`crpse enhance --model MODEL.ckpt ...` or `crpse.enhance(audio, sample_rate, model='MODEL.ckpt')` "
            "(crpse checkpoints from `crpse train`, or reference sgmse/sgmse_crp .ckpt files)"
        )
    return path
