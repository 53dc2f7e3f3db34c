"""A byte-deterministic mono WAV writer (16-bit PCM or 32-bit float).

libsndfile stamps float WAV files with a PEAK chunk that contains the wall-clock time, so two runs
of the same command would differ. This writer emits only the ``fmt``/``fact``/``data`` chunks.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

#: Supported sample formats, named like soundfile's subtypes.
SUBTYPES = ("PCM_16", "FLOAT")


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> None:
    """Write mono ``audio [L]`` (float, full scale 1.0) to ``path``.

    Args:
        path: Output file.
        audio: Samples ``[L]``; PCM_16 stores ``round(x * 32768)`` clipped to the int16 range.
        sample_rate: Sample rate in Hz.
        subtype: ``"PCM_16"`` or ``"FLOAT"`` (IEEE float32).
    """
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio [L], got shape {audio.shape}")
    if subtype == "PCM_16":
        data = np.clip(np.round(audio * 32768.0), -32768, 32767).astype("<i2").tobytes()
        format_tag, bits, extra = 1, 16, b""
    elif subtype == "FLOAT":
        data = audio.astype("<f4").tobytes()
        format_tag, bits = 3, 32
        extra = b"fact" + struct.pack("<II", 4, len(audio))
    else:
        raise ValueError(f"unknown subtype {subtype!r}; choose from {', '.join(SUBTYPES)}")
    block = bits // 8
    fmt = struct.pack("<HHIIHH", format_tag, 1, sample_rate, sample_rate * block, block, bits)
    if format_tag == 3:
        fmt += struct.pack("<H", 0)  # cbSize for non-PCM formats
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra + b"data" + struct.pack("<I", len(data)) + data
    if len(data) % 2:
        body += b"\x00"
    Path(path).write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
