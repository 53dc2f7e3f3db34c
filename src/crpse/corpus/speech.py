"""Clean utterances of 2-8 s: real Asterisk prompts or TTS sentences, trimmed and concatenated.

A :class:`Speaker` is either a real talker (a folder of Asterisk prompts) or a TTS voice. The
functions here turn a speaker plus a seeded ``numpy.random.Generator`` into a dry clean utterance
``[L]`` (16 kHz, float64) and a description of what it is made of, for the manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from crpse.corpus import sources, tts
from crpse.corpus.activity import active_regions, fade_out, trim
from crpse.corpus.quality import frame_powers_db
from crpse.corpus.real_speech import REAL_SPEECH_SOURCES, list_real_voices
from crpse.corpus.sources import SAMPLE_RATE, SourcePaths

#: Asterisk prompts that are tones rather than speech.
NON_SPEECH_PROMPTS = frozenset({"beep", "beeperr", "ascending-2tone", "descending-2tone", "confbridge-join",
                                "confbridge-leave"})
#: Both Asterisk talkers (Allison Smith, June Wallack) are women.
ASTERISK_SEX = "f"
#: Active level (95th percentile frame power) every community recording is scaled to, dBFS.
UNIT_LEVEL_DBFS = -20.0


@dataclass(frozen=True)
class Speaker:
    """A talker of the corpus.

    Attributes:
        speaker_id: Unique name, e.g. ``"asterisk-en:en_US_f_Allison"`` or ``"espeak-ng:en-gb+m3"``.
        source: The source it comes from (a key of :data:`crpse.corpus.sources.SOURCE_SPECS`).
        person: Identity used for disjoint splits (the es and en Asterisk prompts share one person).
        real: True for recorded human speech.
        voice: The prompt folder (Asterisk), the TTS engine's voice argument, or ``""`` for community
            recordings (which list their ``files``).
        language: Language code of the speech (``""`` when not recorded).
        sex: ``"f"``, ``"m"``, ``"child"`` or ``"?"`` (TTS voices: ``"?"``).
        group: Split group (see :mod:`crpse.corpus.real_speech`), ``""`` for none.
        files: The recordings that passed the quality gate (community recordings only).
    """

    speaker_id: str
    source: str
    person: str
    real: bool
    voice: str
    language: str = ""
    sex: str = "?"
    group: str = ""
    files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Utterance:
    """A dry clean utterance and what it was made of.

    Attributes:
        audio: Speech ``[L]`` at 16 kHz, float64, peak-normalised to 0.5.
        parts: Prompt files (relative to the speaker folder) or sentences, in order.
        settings: Rendering settings (TTS prosody) as ``key=value`` text, empty for real speech.
    """

    audio: np.ndarray
    parts: tuple[str, ...]
    settings: str


def list_speakers(source: str, paths: SourcePaths) -> list[Speaker]:
    """List the speakers one installed speech source provides.

    Args:
        source: ``"asterisk-en"``, ``"asterisk-es"``, ``"asterisk-fr"``, ``"espeak-ng"``, ``"flite"``,
            ``"festival"`` or ``"piper"``.
        paths: Where the packaged files are.

    Returns:
        The speakers, in a fixed order.
    """
    if source in sources.ASTERISK_VOICES:
        folder = sources.asterisk_folder(source, paths)
        if folder is None:
            return []
        return [Speaker(f"{source}:{folder.name}", source, sources.ASTERISK_VOICES[source][1], True, str(folder),
                        language=folder.name.split("_")[0], sex=ASTERISK_SEX)]
    if source in REAL_SPEECH_SOURCES:
        return [Speaker(v.person, source, v.person, True, "", v.language, v.sex, v.group, v.files)
                for v in list_real_voices(source, paths)]
    return [Speaker(f"{v.engine}:{v.voice if v.engine != 'piper' else Path(v.voice).stem}", source, v.person,
                    False, v.voice) for v in tts.list_voices(source)]


@lru_cache(maxsize=4096)
def prompt_units(path: Path, max_seconds: float) -> tuple[np.ndarray, ...]:
    """Cut one Asterisk prompt into phrases no longer than ``max_seconds``.

    Short prompts stay whole; long ones (some last over a minute) are split at pauses and the
    consecutive phrases regrouped up to ``max_seconds``. A phrase that is longer on its own is
    cut there with a 20 ms fade.

    Returns:
        Phrases ``[L_i]`` at 16 kHz (cached; do not modify).
    """
    units = split_units(sources.decode_g722(path), max_seconds)
    for unit in units:
        unit.setflags(write=False)
    return tuple(units)


def split_units(audio: np.ndarray, max_seconds: float) -> list[np.ndarray]:
    """Cut ``audio [L]`` at pauses into phrases, regrouped up to ``max_seconds`` (longer ones cut with a fade)."""
    units: list[np.ndarray] = []
    start = end = None
    for a, b in active_regions(audio):
        if start is not None and (b - start) / SAMPLE_RATE <= max_seconds:
            end = b
            continue
        if start is not None:
            units.append(audio[start:end])
        start, end = a, b
    if start is not None:
        units.append(audio[start:end])
    limit = int(max_seconds * SAMPLE_RATE)
    return [u if len(u) <= limit else fade_out(u[:limit]) for u in units]


@lru_cache(maxsize=8192)
def recording_units(path: Path, max_seconds: float) -> tuple[np.ndarray, ...]:
    """Phrases of one community recording (see :func:`split_units`), each scaled to an active level of
    :data:`UNIT_LEVEL_DBFS` so that a volunteer's files recorded at different gains sound alike.

    Returns:
        Phrases ``[L_i]`` at 16 kHz, float32 (cached; do not modify).
    """
    audio = np.asarray(sources.read_audio(path), dtype=np.float64)
    units = []
    for unit in split_units(audio, max_seconds):
        powers = frame_powers_db(unit)
        if powers.size == 0:
            continue
        gain = 10 ** ((UNIT_LEVEL_DBFS - float(np.percentile(powers, 95))) / 20)
        scaled = (unit * gain).astype(np.float32)
        scaled.setflags(write=False)
        units.append(scaled)
    return tuple(units)


@lru_cache(maxsize=8)
def speaker_prompts(folder: str) -> tuple[Path, ...]:
    """The speech prompts of an Asterisk speaker folder (tones excluded)."""
    return tuple(p for p in sources.asterisk_prompts(Path(folder)) if p.stem not in NON_SPEECH_PROMPTS)


def assemble(next_piece: Callable[[np.random.Generator], tuple[np.ndarray, str]], rng: np.random.Generator,
             target_seconds: float, max_seconds: float, min_seconds: float = 0.0,
             gap_range: tuple[float, float] = (0.1, 0.4), max_tries: int = 12) -> tuple[np.ndarray, tuple[str, ...]]:
    """Concatenate pieces with short silences, aiming at ``target_seconds``.

    Pieces are added while the result is shorter than the target. A piece is skipped (at most
    ``max_tries`` times in all) when it would make the result longer than ``max_seconds``, or when
    the result already has ``min_seconds`` and the piece would overshoot the target by more than
    the current shortfall, so that lengths scatter around the target instead of always above it.
    A first piece longer than ``max_seconds`` is cut with a fade.

    Args:
        next_piece: Draws one piece ``([L], label)`` using the generator it is given.
        rng: The file's generator.
        target_seconds: Length to aim at.
        max_seconds: Hard upper bound on the result.
        min_seconds: Length below which a piece is accepted even if it overshoots the target.
        gap_range: Silence between pieces, seconds.
        max_tries: How many pieces may be skipped before the result is returned as it is.

    Returns:
        ``(audio [L], labels)``.
    """
    pieces: list[np.ndarray] = []
    labels: list[str] = []
    total = 0
    target, limit = int(target_seconds * SAMPLE_RATE), int(max_seconds * SAMPLE_RATE)
    minimum = int(min_seconds * SAMPLE_RATE)
    tries = 0
    while total < target and tries < max_tries:
        piece, label = next_piece(rng)
        if len(piece) == 0:
            tries += 1
            continue
        gap = int(rng.uniform(*gap_range) * SAMPLE_RATE) if pieces else 0
        new_total = total + gap + len(piece)
        too_long = new_total > limit or (total >= minimum and new_total - target > target - total)
        if pieces and too_long:
            tries += 1
            continue
        if not pieces and len(piece) > limit:
            piece = fade_out(piece[:limit])
        if gap:
            pieces.append(np.zeros(gap))
        pieces.append(np.asarray(piece, dtype=np.float64))
        labels.append(label)
        total += gap + len(piece)
    audio = np.concatenate(pieces) if pieces else np.zeros(0)
    return audio, tuple(labels)


def _recording_picker(
    paths: Sequence[Path],
    units_of: Callable[[Path], Sequence[np.ndarray]],
    label_of: Callable[[Path], str],
) -> Callable[[np.random.Generator], tuple[np.ndarray, str]]:
    """A piece source for :func:`assemble` that draws a recording of ``paths``, then one of its units.

    The piece is labelled ``label_of(path)``, plus ``#k`` when the recording has several units; a recording without
    usable units gives an empty piece (which :func:`assemble` skips).
    """

    def next_piece(generator: np.random.Generator) -> tuple[np.ndarray, str]:
        path = paths[int(generator.integers(len(paths)))]
        units = units_of(path)
        if not units:
            return np.zeros(0), ""
        k = int(generator.integers(len(units)))
        return units[k], label_of(path) + (f"#{k}" if len(units) > 1 else "")

    return next_piece


def render_utterance(speaker: Speaker, rng: np.random.Generator, target_seconds: float, max_seconds: float,
                     sentences: Sequence[str], min_seconds: float = 0.0) -> Utterance:
    """Make one dry clean utterance of ``speaker``.

    Args:
        speaker: A real or TTS speaker.
        rng: The file's generator (all random choices come from it).
        target_seconds: Speech length to aim at (pieces are whole prompts/sentences, so the result
            scatters around it; see :func:`assemble`).
        max_seconds: Upper bound.
        sentences: Text the TTS voices may speak (ignored for real speech).
        min_seconds: Length the result should reach even if that overshoots the target.

    Returns:
        The utterance, peak-normalised to 0.5.
    """
    if speaker.real and speaker.files:
        next_piece = _recording_picker(speaker.files, lambda path: recording_units(path, max_seconds),
                                       lambda path: path.name)
        audio, parts = assemble(next_piece, rng, target_seconds, max_seconds, min_seconds)
        settings = ""
    elif speaker.real:
        folder = Path(speaker.voice)
        prompts = speaker_prompts(speaker.voice)
        if not prompts:
            raise ValueError(f"speaker {speaker.speaker_id} has no speech prompts in {folder}")
        next_piece = _recording_picker(prompts, lambda path: prompt_units(path, max_seconds),
                                       lambda path: path.relative_to(folder).as_posix())
        audio, parts = assemble(next_piece, rng, target_seconds, max_seconds, min_seconds)
        settings = ""
    else:
        if not sentences:
            raise ValueError("TTS speakers need at least one sentence")
        voice = tts.TTSVoice(speaker.source, speaker.voice, speaker.person)
        prosody = tts.draw_prosody(speaker.source, rng)
        queue: list[tuple[np.ndarray, str]] = []
        first_batch = max(2, int(np.ceil(target_seconds / 2.5)) + 1)  # sentences last ~2-4 s
        batches = [0]

        def next_piece(generator: np.random.Generator) -> tuple[np.ndarray, str]:
            if not queue:  # render a few sentences at once (one festival process for all of them)
                count = first_batch if batches[0] == 0 else 2
                texts = [sentences[int(generator.integers(len(sentences)))] for _ in range(count)]
                queue.extend(zip(tts.synthesize_batch(voice, texts, prosody), texts))
                batches[0] += 1
            audio, text = queue.pop(0)
            return trim(audio), text

        audio, parts = assemble(next_piece, rng, target_seconds, max_seconds, min_seconds, gap_range=(0.15, 0.45),
                                max_tries=3)
        settings = " ".join(f"{k}={v}" for k, v in prosody.items())
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= 0:
        raise ValueError(f"speaker {speaker.speaker_id} produced silence; check that its source works")
    return Utterance(audio * (0.5 / peak), parts, settings)
