"""Optional extras (``pip install 'crpse[eval]'`` ...): which importable modules each command needs.

The CLI checks a command's extra before doing any work, and turns a :class:`ModuleNotFoundError` for a module of
an extra raised later (also from a worker process) into the same one-line message::

    crpse evaluate needs the 'eval' extra (missing: pesq, pystoi); install it with: pip install 'crpse[eval]'
"""

from __future__ import annotations

import importlib.util

__all__ = ["EXTRAS", "MissingExtraError", "extra_of_module", "missing_modules", "require_extra"]

#: extra -> {importable module: PyPI distribution} that every command using the extra imports. Modules needed only
#: by an option (matplotlib for ``--plots``, onnxruntime for DNSMOS) are checked where the option is handled.
EXTRAS: dict[str, dict[str, str]] = {
    "eval": {"pesq": "pesq", "pystoi": "pystoi"},
    "train": {"lightning": "lightning", "pesq": "pesq", "pystoi": "pystoi"},
    "data": {"G722": "g722"},
}

#: modules used by one option of an extra's command: module -> (extra, PyPI distribution)
_OPTIONAL: dict[str, tuple[str, str]] = {
    "matplotlib": ("eval", "matplotlib"),
    "onnxruntime": ("eval", "onnxruntime"),
    "yaml": ("train", "pyyaml"),
    "tensorboard": ("train", "tensorboard"),
}


class MissingExtraError(ImportError):
    """A command needs an optional extra that is not installed; the message is the one line to show."""

    def __init__(self, command: str, extra: str, distributions: list[str]) -> None:
        self.command, self.extra, self.distributions = command, extra, distributions
        super().__init__(
            f"{command} needs the '{extra}' extra (missing: {', '.join(distributions)}); "
            f"install it with: pip install 'crpse[{extra}]'"
        )


def missing_modules(extra: str, modules: tuple[str, ...] | None = None) -> list[str]:
    """PyPI distributions of ``extra`` (or of just ``modules`` of it) whose modules cannot be found."""
    wanted = EXTRAS[extra] if modules is None else {m: _distribution(m) for m in modules}
    return [dist for module, dist in wanted.items() if not _importable(module)]


def require_extra(command: str, extra: str, modules: tuple[str, ...] | None = None) -> None:
    """Raise :class:`MissingExtraError` naming ``pip install 'crpse[extra]'`` when ``extra`` is incomplete.

    Args:
        command: how to name the command in the message, e.g. ``"crpse evaluate"``.
        extra: a key of :data:`EXTRAS`.
        modules: check only these modules (e.g. ``("matplotlib",)`` for an option); default: the extra's own.
    """
    missing = missing_modules(extra, modules)
    if missing:
        raise MissingExtraError(command, extra, missing)


def extra_of_module(module: str | None) -> tuple[str, str] | None:
    """``(extra, distribution)`` that provides the top-level module of ``module``, or ``None`` if no extra does."""
    top = (module or "").partition(".")[0]
    for extra, modules in EXTRAS.items():
        if top in modules:
            return extra, modules[top]
    return _OPTIONAL.get(top)


def _distribution(module: str) -> str:
    found = extra_of_module(module)
    return found[1] if found is not None else module


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing, or sys.modules[module] is None
        return False
