"""Atomic file output: write under a hidden temporary name next to the destination, then rename it into place.

Readers never see a partial file, and a failed or interrupted write leaves nothing under the destination's name.
The temporary file is created with mode ``0o666`` so that the kernel applies the process umask, as for any new
file: nothing here reads or changes the umask (a process-wide setting).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

#: suffix of the temporary files (a run directory's leftovers from killed writers are ``.*.tmp``)
TEMPORARY_SUFFIX = ".tmp"


def create_temporary_sibling(path: str | os.PathLike[str]) -> Path:
    """Create a new, empty hidden file ``.NAME.<random>.tmp`` next to ``path`` (creating its folder) and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        candidate = path.parent / f".{path.name}.{secrets.token_hex(6)}{TEMPORARY_SUFFIX}"
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return candidate


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary file next to ``path`` to write; when the block succeeds it is flushed to disk and renamed
    onto ``path``, otherwise removed.

    Example::

        with atomic_output("out/model.ckpt") as temporary:
            torch.save(obj, temporary)
    """
    destination = Path(path)
    temporary = create_temporary_sibling(destination)
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
