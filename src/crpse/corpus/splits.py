"""The split design: which people, noise recordings, noise types and sentences go where.

Splits are ``train``, ``valid``, ``test`` (matched) and ``test_mismatched``.

* People are disjoint across all splits. The recorded talker Allison Smith (Asterisk en + es)
  is a training talker; June Wallack (Asterisk fr) is held out for ``test_mismatched``. TTS people
  are fixed for the voices that share a CMU recording (awb, kal: train; rms: valid; slt: test;
  piper joe: test), and espeak-ng variants go 70/15/15 by a stable hash of their name.
* Noise recordings are disjoint: within each noise type the files go 70/15/15 (by a stable hash,
  at least one per split when a type has three or more files).
* Noise *types* listed as mismatched (default: mains hum, Sonic Pi vinyl and tabla, the freedesktop
  event sounds) appear only in ``test_mismatched``; all other types appear only in the matched splits.
* Sentences for the TTS voices go 80/10/10, so no test sentence was heard in training.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from crpse.corpus.sources import NoiseRecording
from crpse.corpus.tts import stable_fraction

SPLITS = ("train", "valid", "test", "test_mismatched")
MATCHED_SPLITS = ("train", "valid", "test")
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


def person_split(person: str) -> str:
    """Return the split a person belongs to (fixed table, else 70/15/15 by hash)."""
    return FIXED_PERSON_SPLITS.get(person) or _hashed_split("person:" + person, (0.70, 0.15))


def sentence_split(sentence: str) -> str:
    """Return the matched split whose TTS voices may speak ``sentence`` (80/10/10 by hash)."""
    return _hashed_split("sentence:" + sentence, (0.80, 0.10))


def split_sentences(sentences: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Partition sentences by :func:`sentence_split`; ``test_mismatched`` reuses the test sentences."""
    out: dict[str, list[str]] = {split: [] for split in MATCHED_SPLITS}
    for sentence in sentences:
        out[sentence_split(sentence)].append(sentence)
    result = {split: tuple(items) for split, items in out.items()}
    result["test_mismatched"] = result["test"]
    return result


def split_recordings(recordings: Sequence[NoiseRecording],
                     mismatched_types: Iterable[str]) -> dict[str, list[NoiseRecording]]:
    """Assign every recording to exactly one split.

    Recordings of a mismatched type go to ``test_mismatched``. Within every other type the files,
    ordered by a stable hash of their name, go to test and valid (15 % each, at least one each when
    the type has 3+ files) and the rest to train; a type with two files gives one to train and one
    to test.

    Returns:
        split -> recordings (sorted by file name).
    """
    mismatched = tuple(mismatched_types)
    by_type: dict[str, list[NoiseRecording]] = {}
    for recording in recordings:
        by_type.setdefault(recording.noise_type, []).append(recording)
    out: dict[str, list[NoiseRecording]] = {split: [] for split in SPLITS}
    for noise_type, items in sorted(by_type.items()):
        if is_mismatched_type(noise_type, mismatched):
            out["test_mismatched"].extend(items)
            continue
        ordered = sorted(items, key=lambda r: stable_fraction(f"noise:{r.source}/{r.path.name}"))
        n = len(ordered)
        if n >= 3:
            n_held = max(1, round(0.15 * n))
            out["test"].extend(ordered[:n_held])
            out["valid"].extend(ordered[n_held: 2 * n_held])
            out["train"].extend(ordered[2 * n_held:])
        elif n == 2:
            out["test"].append(ordered[0])
            out["train"].append(ordered[1])
        else:
            out["train"].extend(ordered)
    return {split: sorted(items, key=lambda r: (r.source, r.path.name)) for split, items in out.items()}


def is_mismatched_type(noise_type: str, mismatched_types: Iterable[str]) -> bool:
    """True when ``noise_type`` (e.g. ``"sonic-pi/vinyl"``) or its source prefix is listed as mismatched."""
    listed = set(mismatched_types)
    return noise_type in listed or noise_type.split("/")[0] in listed
