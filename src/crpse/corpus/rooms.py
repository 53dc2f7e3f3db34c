"""Recorded room impulse responses (the few that install offline) and their split.

Four recorded spaces ship in Debian packages: a big hall, a stairwell and a "dish" in
``csoundqt-examples`` (``SourceMaterials/``) and a street in ``jconvolver-config-files``. They are
rare, so they are split by *room*, not by file: the hall and the stairwell are training rooms; the
dish and the street are kept for ``test_real``. Every other split (and most reverberant files
everywhere) uses the simulated rooms of :mod:`crpse.corpus.reverb`.

A recorded response is cut at its direct-path peak and scaled so that the peak is 1, which makes
it usable exactly like a simulated one: the direct path sits at sample 0, the dry target stays
aligned, and the early target is the first 50 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from crpse.corpus.reverb import RoomResponse
from crpse.corpus.sources import SAMPLE_RATE, SourcePaths, read_audio

#: room name -> (package folder attribute of SourcePaths, file names, split).
RECORDED_ROOMS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "hall": ("csoundqt_dir", ("impulse_big_hall.wav",), "train"),
    "stairwell": ("csoundqt_dir", ("StairwellL.wav", "StairwellR.wav"), "train"),
    "dish": ("csoundqt_dir", ("dishL.wav", "dishR.wav"), "test_real"),
    "street": ("jconvolver_dir", ("street2-L.wav", "street2-R.wav"), "test_real"),
}
#: Longest recorded response kept, seconds.
MAX_RIR_SECONDS = 2.0


@dataclass(frozen=True)
class RecordedRoom:
    """One recorded impulse response file.

    Attributes:
        room: Room name (a key of :data:`RECORDED_ROOMS`).
        path: The WAV file.
        split: The split allowed to use it.
    """

    room: str
    path: Path
    split: str

    @property
    def label(self) -> str:
        """``"room/file"`` for the manifest."""
        return f"{self.room}/{self.path.name}"


def list_rooms(paths: SourcePaths) -> list[RecordedRoom]:
    """The installed recorded responses, in a fixed order."""
    found = []
    for room, (attribute, names, split) in RECORDED_ROOMS.items():
        folder = getattr(paths, attribute)
        found.extend(RecordedRoom(room, folder / name, split) for name in names if (folder / name).is_file())
    return found


def missing_rooms(paths: SourcePaths) -> str | None:
    """``None`` when at least one recorded response is installed, else the reason."""
    if list_rooms(paths):
        return None
    return f"no impulse responses in {paths.csoundqt_dir} or {paths.jconvolver_dir}"


def schroeder_rt60(rir: np.ndarray) -> float:
    """RT60 of ``rir [K]`` from the -5..-25 dB slope of its Schroeder decay curve (T20 x 3), seconds."""
    energy = np.cumsum(np.square(rir[::-1], dtype=np.float64))[::-1]
    decay = 10 * np.log10(energy / energy[0] + 1e-30)
    start = int(np.argmax(decay <= -5.0))
    stop = int(np.argmax(decay <= -25.0))
    if stop <= start:
        return float(len(rir) / SAMPLE_RATE)
    return 3.0 * (stop - start) / SAMPLE_RATE


@lru_cache(maxsize=16)
def load_room(path: Path) -> RoomResponse:
    """Read a recorded response, cut it at its direct-path peak, and describe it.

    Returns:
        A :class:`crpse.corpus.reverb.RoomResponse` with ``rir[0] == 1`` (at most
        :data:`MAX_RIR_SECONDS` long), its measured RT60 and direct-to-reverberant ratio (direct path:
        the first 2.5 ms).
    """
    audio = np.asarray(read_audio(path), dtype=np.float64)
    peak = int(np.argmax(np.abs(audio)))
    rir = audio[peak: peak + int(MAX_RIR_SECONDS * SAMPLE_RATE)] / audio[peak]
    direct = int(0.0025 * SAMPLE_RATE)
    drr = 10 * np.log10(np.sum(rir[:direct] ** 2) / max(np.sum(rir[direct:] ** 2), 1e-20))
    rir.setflags(write=False)
    return RoomResponse(rir, schroeder_rt60(rir), float(drr))
