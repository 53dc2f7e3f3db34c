"""The split design: which people, noise recordings, noise types and sentences go where.

Splits are ``train``, ``valid``, ``test`` (matched), ``test_mismatched`` and ``test_real``.

* People are disjoint across all splits. The recorded talker Allison Smith (Asterisk en + es)
  is a training talker; June Wallack (Asterisk fr) is held out for ``test_mismatched``. TTS people
  are fixed for the voices that share a CMU recording (awb, kal: train; rms: valid; slt: test;
  piper joe: test), and espeak-ng variants go 70/15/15 by a stable hash of their name.
* Noise recordings are disjoint: within each noise type the files go 70/15/15 (by a stable hash,
  at least one per split when a type has three or more files).
* Noise *types* listed as mismatched (default: mains hum, Sonic Pi vinyl and tabla, the freedesktop
  event sounds) appear only in ``test_mismatched``; all other types appear only in the matched splits.
* Sentences for the TTS voices go 80/10/10, so no test sentence was heard in training.
* Community recordings (:mod:`crpse.corpus.real_speech`) are split by *group*: all volunteers of one
  language go to one split, so a volunteer who recorded one language for two packages cannot land in
  two splits. :data:`TEST_REAL_LANGUAGES` (languages no other split hears) form ``test_real``,
  :data:`VALID_LANGUAGES` go to ``valid``, every other language to ``train``.
* Recordings of the real-noise packages (:data:`crpse.corpus.real_noise.REAL_NOISE_SOURCES`) go
  70/10/20 to train/valid/test_real within each type; the matched ``test`` keeps its older sources.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from crpse.corpus.sources import NoiseRecording
from crpse.corpus.tts import stable_fraction

SPLITS = ("train", "valid", "test", "test_mismatched", "test_real")
MATCHED_SPLITS = ("train", "valid", "test")
#: Languages whose community recordings form ``test_real`` (unseen talkers, unseen languages): Greek,
#: Lithuanian, Norwegian Nynorsk, German and Hebrew give 4 women and 5 men before the quality gate.
TEST_REAL_LANGUAGES = ("de", "el", "he", "lt", "nn")
#: Languages whose community recordings go to ``valid`` (Catalan, Swedish, Irish, Italian).
VALID_LANGUAGES = ("ca", "ga", "it", "sv")
#: Noise sources split into train/valid/test_real (instead of train/valid/test).
REAL_NOISE_SPLIT = (0.70, 0.10)
#: Noise types kept out of the matched splits and used only in ``test_mismatched``.
DEFAULT_MISMATCHED_NOISE = ("hum", "sonic-pi/vinyl", "sonic-pi/tabla", "freedesktop")
#: People whose split is fixed (everyone else is hashed into the matched splits).
FIXED_PERSON_SPLITS = {
    "allison-smith": "train",
    "june-wallack": "test_mismatched",
    "arctic-awb": "train",
    "cmu-kal": "train",
    "arctic-rms": "valid",
    "arctic-slt": "test",
    "piper:joe": "test",
}


def _hashed_split(key: str, fractions: tuple[float, float]) -> str:
    value = stable_fraction(key)
    if value < fractions[0]:
        return "train"
    return "valid" if value < fractions[0] + fractions[1] else "test"


def person_split(person: str, group: str = "") -> str:
    """Return the split a person belongs to.

    Args:
        person: The person's identity.
        group: Split group of a community recording (``"lang:de"``), or ``""``.

    Returns:
        The fixed split of the person, else the split of its language group, else 70/15/15 by hash.
    """
    if person in FIXED_PERSON_SPLITS:
        return FIXED_PERSON_SPLITS[person]
    if group.startswith("lang:"):
        language = group.removeprefix("lang:")
        if language in TEST_REAL_LANGUAGES:
            return "test_real"
        return "valid" if language in VALID_LANGUAGES else "train"
    return _hashed_split("person:" + person, (0.70, 0.15))


def sentence_split(sentence: str) -> str:
    """Return the matched split whose TTS voices may speak ``sentence`` (80/10/10 by hash)."""
    return _hashed_split("sentence:" + sentence, (0.80, 0.10))


def split_sentences(sentences: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Partition sentences by :func:`sentence_split`; ``test_mismatched``/``test_real`` reuse the test sentences."""
    out: dict[str, list[str]] = {split: [] for split in MATCHED_SPLITS}
    for sentence in sentences:
        out[sentence_split(sentence)].append(sentence)
    result = {split: tuple(items) for split, items in out.items()}
    result["test_mismatched"] = result["test"]
    result["test_real"] = result["test"]
    return result


def split_recordings(recordings: Sequence[NoiseRecording],
                     mismatched_types: Iterable[str]) -> dict[str, list[NoiseRecording]]:
    """Assign every recording to exactly one split.

    Recordings of a mismatched type go to ``test_mismatched``. Within every other type the files,
    ordered by a stable hash of their name, go to test and valid (15 % each, at least one each when
    the type has 3+ files) and the rest to train; a type with two files gives one to train and one
    to test. Types of the real-noise packages go to test_real (20 %, at least one when the type has
    2+ files), valid (10 %, at least one with 3+ files) and train instead.

    Returns:
        split -> recordings (sorted by file name).
    """
    from crpse.corpus.real_noise import REAL_NOISE_SOURCES

    mismatched = tuple(mismatched_types)
    by_type: dict[str, list[NoiseRecording]] = {}
    for recording in recordings:
        by_type.setdefault(recording.noise_type, []).append(recording)
    out: dict[str, list[NoiseRecording]] = {split: [] for split in SPLITS}
    for noise_type, items in sorted(by_type.items()):
        if is_mismatched_type(noise_type, mismatched):
            out["test_mismatched"].extend(items)
            continue
        ordered = sorted(items, key=lambda r: stable_fraction(f"noise:{r.source}/{r.file_label}"))
        n = len(ordered)
        if items[0].source in REAL_NOISE_SOURCES:
            n_held = max(1, round((1 - sum(REAL_NOISE_SPLIT)) * n)) if n >= 2 else 0
            n_valid = max(1, round(REAL_NOISE_SPLIT[1] * n)) if n >= 3 else 0
            out["test_real"].extend(ordered[:n_held])
            out["valid"].extend(ordered[n_held: n_held + n_valid])
            out["train"].extend(ordered[n_held + n_valid:])
        elif n >= 3:
            n_held = max(1, round(0.15 * n))
            out["test"].extend(ordered[:n_held])
            out["valid"].extend(ordered[n_held: 2 * n_held])
            out["train"].extend(ordered[2 * n_held:])
        elif n == 2:
            out["test"].append(ordered[0])
            out["train"].append(ordered[1])
        else:
            out["train"].extend(ordered)
    return {split: sorted(items, key=lambda r: (r.source, r.file_label)) for split, items in out.items()}


def is_mismatched_type(noise_type: str, mismatched_types: Iterable[str]) -> bool:
    """True when ``noise_type`` (e.g. ``"sonic-pi/vinyl"``) or its source prefix is listed as mismatched."""
    listed = set(mismatched_types)
    return noise_type in listed or noise_type.split("/")[0] in listed
