"""Orchestrate the paired corpus: plan the splits, render every file, write manifests.

Layout written by :func:`synthesize_corpus`::

    OUTDIR/corpus.json                        settings, sources, split design, per-split totals
    OUTDIR/{train,valid,test,test_mismatched}/clean/NAME.wav
    OUTDIR/{train,valid,test,test_mismatched}/noisy/NAME.wav
    OUTDIR/{train,valid,test,test_mismatched}/manifest.csv

Determinism: every file draws from its own generators, seeded by ``(seed, split, index)`` through
``numpy.random.SeedSequence`` (separate children for speech, room, noise and mixing), and nothing
depends on global random state, on the order in which files finish, or on the number of jobs.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import logging
import shutil
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crpse.corpus import noise as noise_lib
from crpse.corpus import sources as src
from crpse.corpus import splits as split_lib
from crpse.corpus.activity import trim
from crpse.corpus.conditions import (
    REALISTIC_SPLITS,
    ConditionSettings,
    active_level_db,
    apply_channel,
    draw_level,
    level_steps,
)
from crpse.corpus.mixing import mix
from crpse.corpus.quality import REJECT_REASONS, GateSettings, assess_files
from crpse.corpus.real_noise import REAL_NOISE_SOURCES, list_noise, read_recording
from crpse.corpus.real_speech import REAL_SPEECH_SOURCES
from crpse.corpus.reverb import REVERB_TARGETS, exponential_rir, reverberate
from crpse.corpus.rooms import RecordedRoom, list_rooms, load_room
from crpse.corpus.sentences import sentence_bank
from crpse.corpus.speech import Speaker, list_speakers, render_utterance
from crpse.corpus.tts import stable_fraction
from crpse.corpus.wav import SUBTYPES, write_wav
from crpse.workers import WorkerPool

logger = logging.getLogger(__name__)

SAMPLE_RATE = src.SAMPLE_RATE
SPLITS = split_lib.SPLITS
_SPLIT_CODES = {split: code for code, split in enumerate(SPLITS)}
_PLAN_KEY, _BABBLE_KEY = 1_000_001, 1_000_002

#: Columns of every ``manifest.csv``, in order.
MANIFEST_COLUMNS = (
    "name", "split", "duration_s", "speech_source", "speaker", "person", "speech_files", "speech_settings",
    "noise_source", "noise_type", "noise_file", "noise_params", "snr_db", "speech_level_dbfs",
    "speech_gain_db", "noise_gain_db", "peak_scale", "reverb", "rt60_s", "drr_db", "reverb_target",
    "seed", "seed_key", "language", "sex", "conditions", "level_kind", "level_steps", "channel", "room",
)
#: Relative weight of each noise type when a file's noise type is drawn (default 1).
NOISE_TYPE_WEIGHTS = {"babble": 2.0}
#: Weight of each Sonic Pi category (there are a dozen of them).
SONIC_PI_TYPE_WEIGHT = 0.5
#: Talkers rendered per split for babble noise.
BABBLE_TALKERS = 12
#: Training files are planned for this multiple of ``--hours`` (rendering stops at ``--hours``).
TRAIN_OVERPLAN = 1.5
#: Total weight of each real-noise package's types in a split (shared evenly by its types there).
REAL_NOISE_WEIGHTS = {"0ad": 3.0, "ufoai": 2.0, "supertuxkart": 2.0, "openttd": 1.5, "megaglest": 1.5,
                      "keyboard": 1.0, "tuxpaint": 1.0}
#: A community voice needs this much accepted audio (seconds) to be used.
MIN_PERSON_SECONDS = 10.0
#: Probability of each sex when a realistic split draws a real talker (children share the rest).
SEX_WEIGHTS = {"f": 0.45, "m": 0.45, "child": 0.10}


@dataclass(frozen=True)
class CorpusConfig:
    """Settings of one corpus; the same settings always give byte-identical files.

    Attributes:
        hours: Amount of training audio to plan (files are 2-8 s; the actual total is reported).
        seed: Master seed.
        snr_range: SNR range in dB (uniform).
        level_range: Level of the speech in the mixture, dBFS mean power (uniform).
        reverb_prob: Probability that a file is reverberated.
        reverb_target: Clean target of reverberated files: ``"early"`` (direct path + 50 ms) or ``"direct"``.
        rt60_range: RT60 range of the synthetic rooms, seconds.
        drr_range: Direct-to-reverberant ratio range, dB.
        valid_files: Number of validation files (ignored when ``valid_fraction`` is set).
        valid_fraction: Validation size as a fraction of the number of training files.
        test_files: Number of matched test files.
        mismatched_files: Number of ``test_mismatched`` files.
        min_seconds: Shortest utterance, seconds.
        max_seconds: Longest utterance, seconds.
        real_test_files: Number of ``test_real`` files (community talkers of held-out languages).
        real_fraction: Share of files spoken by real talkers in splits that have real and TTS talkers.
        recorded_room_prob: Share of reverberant files that use a recorded room, where the split has one.
        gate: Quality gate for community speech recordings.
        conditions: How often the realistic conditions occur (train, valid, test_real).
        sources: Sources to use (names from :data:`crpse.corpus.sources.SOURCE_SPECS`), or ``None`` for
            all installed ones (missing required ones raise, missing optional ones are skipped).
        mismatched_noise: Noise types (or source names) used only in ``test_mismatched``.
        subtype: ``"PCM_16"`` or ``"FLOAT"`` WAV samples.
        paths: Where the Debian packages put their files.
    """

    hours: float = 4.0
    seed: int = 0
    snr_range: tuple[float, float] = (-5.0, 20.0)
    level_range: tuple[float, float] = (-33.0, -18.0)
    reverb_prob: float = 0.25
    reverb_target: str = "early"
    rt60_range: tuple[float, float] = (0.2, 1.0)
    drr_range: tuple[float, float] = (-3.0, 10.0)
    valid_files: int = 50
    valid_fraction: float | None = None
    test_files: int = 100
    mismatched_files: int = 100
    real_test_files: int = 200
    min_seconds: float = 2.0
    max_seconds: float = 8.0
    real_fraction: float = 0.75
    recorded_room_prob: float = 0.3
    gate: GateSettings = field(default_factory=GateSettings)
    conditions: ConditionSettings = field(default_factory=ConditionSettings)
    sources: tuple[str, ...] | None = None
    mismatched_noise: tuple[str, ...] = split_lib.DEFAULT_MISMATCHED_NOISE
    subtype: str = "PCM_16"
    paths: src.SourcePaths = field(default_factory=src.SourcePaths)

    def validate(self) -> None:
        """Raise ``ValueError`` with a hint when a setting is out of range."""
        if self.hours < 0:
            raise ValueError(f"hours must be >= 0, got {self.hours}")
        if self.snr_range[0] > self.snr_range[1] or self.level_range[0] > self.level_range[1]:
            raise ValueError("ranges must be given as LOW HIGH with LOW <= HIGH")
        if self.level_range[1] > -6:
            raise ValueError(f"speech level {self.level_range[1]} dBFS is too loud; keep it <= -6 dBFS")
        if not all(0 <= p <= 1 for p in (self.reverb_prob, self.real_fraction, self.recorded_room_prob)):
            raise ValueError("reverb_prob, real_fraction and recorded_room_prob must lie in [0, 1]")
        if self.reverb_target not in REVERB_TARGETS:
            raise ValueError(f"reverb_target must be one of {REVERB_TARGETS}, got {self.reverb_target!r}")
        if not 0 < self.rt60_range[0] <= self.rt60_range[1]:
            raise ValueError(f"rt60_range must be positive LOW <= HIGH, got {self.rt60_range}")
        if not 0.5 <= self.min_seconds <= self.max_seconds:
            raise ValueError(f"need 0.5 <= min_seconds <= max_seconds, got {self.min_seconds}, {self.max_seconds}")
        if min(self.valid_files, self.test_files, self.mismatched_files, self.real_test_files) < 0:
            raise ValueError("file counts must be >= 0")
        if self.valid_fraction is not None and not 0 <= self.valid_fraction <= 1:
            raise ValueError(f"valid_fraction must lie in [0, 1], got {self.valid_fraction}")
        if self.subtype not in SUBTYPES:
            raise ValueError(f"subtype must be one of {SUBTYPES}, got {self.subtype!r}")

    def to_json(self) -> dict:
        """The settings as JSON-ready values (paths as strings)."""
        data = dataclasses.asdict(self)
        data["paths"] = {k: str(v) for k, v in data["paths"].items()}
        return data


@dataclass(frozen=True)
class FileTask:
    """One pair to render: ``split/{clean,noisy}/name.wav`` with a planned length."""

    split: str
    index: int
    name: str
    target_seconds: float


@dataclass
class CorpusPlan:
    """Everything a worker needs to render any file (picklable; caches are rebuilt per process).

    Attributes:
        config: The settings.
        sources: Sources in use.
        skipped: Optional sources left out, with the reason.
        train_seconds: Training audio to render; train files are rendered in index order until their
            total length reaches it.
        expected_train_files: Estimate of the number of training files (from the planned lengths).
        speakers: split -> speakers.
        recordings: split -> recorded noises.
        noise_types: split -> noise types that may be drawn.
        sentences: split -> TTS sentences.
        tasks: split -> files to render (for train, candidates in order; see ``train_seconds``).
        rooms: split -> recorded room responses it may use.
        gate_report: source -> {"files", "accepted", "rejected": {reason: n}, "persons_dropped"} for the
            community speech sources.
    """

    config: CorpusConfig
    sources: tuple[str, ...]
    skipped: dict[str, str]
    train_seconds: float
    expected_train_files: int
    speakers: dict[str, tuple[Speaker, ...]]
    recordings: dict[str, tuple[src.NoiseRecording, ...]]
    noise_types: dict[str, tuple[str, ...]]
    sentences: dict[str, tuple[str, ...]]
    tasks: dict[str, tuple[FileTask, ...]]
    rooms: dict[str, tuple[RecordedRoom, ...]] = field(default_factory=dict)
    gate_report: dict[str, dict] = field(default_factory=dict)
    _babble: dict[str, list[tuple[str, np.ndarray, str]]] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_babble"] = {}
        return state

    def babble_streams(self, split: str) -> list[tuple[str, np.ndarray, str]]:
        """Talkers for babble noise in ``split``: ``(person, speech [L], label)``, rendered once per process.

        One speaker per person, at most :data:`BABBLE_TALKERS` people, chosen by a stable hash; each
        talker's ~10 s stream is seeded by ``(seed, split, talker)`` so every process renders the same.
        In the realistic splits only real talkers babble when the split has at least five of them.
        """
        if split not in self._babble:
            pool = self.speakers[split]
            real = [s for s in pool if s.real]
            if split in REALISTIC_SPLITS and len({s.person for s in real}) >= 5:
                pool = tuple(real)
            by_person: dict[str, Speaker] = {}
            for speaker in sorted(pool, key=lambda s: s.speaker_id):
                by_person.setdefault(speaker.person, speaker)
            persons = sorted(by_person, key=lambda p: stable_fraction(f"babble:{self.config.seed}:{p}"))
            streams = []
            for k, person in enumerate(persons[:BABBLE_TALKERS]):
                speaker = by_person[person]
                rng = np.random.default_rng(np.random.SeedSequence(
                    self.config.seed, spawn_key=(_SPLIT_CODES[split], _BABBLE_KEY, k)))
                utterance = render_utterance(speaker, rng, 10.0, 12.0, self.sentences[split], min_seconds=10.0)
                streams.append((person, utterance.audio, speaker.speaker_id))
            self._babble[split] = streams
        return self._babble[split]


def resolve_sources(config: CorpusConfig) -> tuple[tuple[str, ...], dict[str, str]]:
    """Decide which sources to use.

    With ``config.sources is None`` every installed source is used; a missing required source
    raises :class:`crpse.corpus.sources.SourceMissingError` (``asterisk-fr`` only when
    ``test_mismatched`` files are requested), a missing optional one is logged and skipped.
    Sources named explicitly must be installed.

    Returns:
        ``(sources in use, {skipped source: reason})``.
    """
    paths = config.paths
    if config.sources is not None:
        for name in config.sources:
            src.require_source(name, paths)
        return tuple(n for n in src.SOURCE_SPECS if n in config.sources), {}
    used, skipped = [], {}
    for name, spec in src.SOURCE_SPECS.items():
        reason = src.missing_reason(name, paths)
        if reason is None:
            used.append(name)
            continue
        needed = spec.required and not (name == "asterisk-fr" and config.mismatched_files == 0)
        if needed:
            src.require_source(name, paths)
        logger.warning("optional source %s skipped: %s (install: %s)", name, reason, spec.install_hint())
        skipped[name] = reason
    return tuple(used), skipped


def _plan_lengths(config: CorpusConfig, split: str, count: int | None, seconds: float | None) -> list[float]:
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(_SPLIT_CODES[split], _PLAN_KEY)))
    lengths: list[float] = []
    while (count is not None and len(lengths) < count) or (seconds is not None and sum(lengths) < seconds):
        lengths.append(round(float(rng.uniform(config.min_seconds, config.max_seconds)), 3))
    return lengths


def _type_weights(types: Sequence[str]) -> np.ndarray:
    """Drawing weights of ``types``: babble 2, each Sonic Pi category 0.5, each real-noise package
    :data:`REAL_NOISE_WEIGHTS` shared by its types present, everything else 1."""
    per_source: dict[str, int] = {}
    for noise_type in types:
        per_source[noise_type.split("/")[0]] = per_source.get(noise_type.split("/")[0], 0) + 1
    weights = []
    for noise_type in types:
        source = noise_type.split("/")[0]
        if "/" in noise_type and source in REAL_NOISE_WEIGHTS:
            weights.append(REAL_NOISE_WEIGHTS[source] / per_source[source])
        elif source == "sonic-pi":
            weights.append(SONIC_PI_TYPE_WEIGHT)
        else:
            weights.append(NOISE_TYPE_WEIGHTS.get(noise_type, 1.0))
    return np.array(weights)


def _gate_speakers(community: list[Speaker], config: CorpusConfig,
                   jobs: int) -> tuple[list[Speaker], dict[str, dict]]:
    """Run the quality gate on every community recording; keep voices with enough accepted audio."""
    files = [path for speaker in community for path in speaker.files]
    verdicts = dict(zip(files, assess_files(files, config.gate, jobs)))
    report: dict[str, dict] = {}
    kept = []
    for speaker in community:
        entry = report.setdefault(speaker.source, {"files": 0, "accepted": 0, "accepted_hours": 0.0,
                                                   "rejected": {r: 0 for r in REJECT_REASONS},
                                                   "persons": 0, "persons_dropped": []})
        accepted = tuple(p for p in speaker.files if verdicts[p].accepted)
        seconds = sum(verdicts[p].seconds for p in accepted)
        entry["files"] += len(speaker.files)
        entry["accepted"] += len(accepted)
        for path in speaker.files:
            if not verdicts[path].accepted:
                entry["rejected"][verdicts[path].reason] += 1
        if seconds < MIN_PERSON_SECONDS:
            entry["persons_dropped"].append(f"{speaker.person} ({seconds:.0f} s accepted)")
            continue
        entry["persons"] += 1
        entry["accepted_hours"] = round(entry["accepted_hours"] + seconds / 3600.0, 4)
        kept.append(dataclasses.replace(speaker, files=accepted))
    return kept, report


def plan_corpus(config: CorpusConfig, jobs: int = 1) -> CorpusPlan:
    """Resolve sources, gate the community recordings, assign people/noises/rooms/sentences to splits,
    and list the files to render.

    Args:
        config: The settings.
        jobs: Worker processes for the quality gate (the plan does not depend on it).

    Raises:
        SourceMissingError: A required source is not installed.
        ValueError: A split that should get files has no speaker or no noise type.
    """
    config.validate()
    used, skipped = resolve_sources(config)
    speakers: dict[str, list[Speaker]] = {split: [] for split in SPLITS}
    listed = [speaker for source in used if src.SOURCE_SPECS[source].kind == "speech"
              for speaker in list_speakers(source, config.paths)]
    community = [s for s in listed if s.source in REAL_SPEECH_SOURCES]
    gated, gate_report = _gate_speakers(community, config, jobs) if community else ([], {})
    for speaker in [s for s in listed if s.source not in REAL_SPEECH_SOURCES] + gated:
        speakers[split_lib.person_split(speaker.person, speaker.group)].append(speaker)
    recordings_all = [r for source in used if source in ("sonic-pi", "freedesktop")
                      for r in src.list_recordings(source, config.paths)]
    recordings_all += [r for source in used if source in REAL_NOISE_SOURCES for r in list_noise(source, config.paths)]
    recordings = split_lib.split_recordings(recordings_all, config.mismatched_noise)
    rooms: dict[str, list[RecordedRoom]] = {split: [] for split in SPLITS}
    for room in list_rooms(config.paths) if "rooms" in used else []:
        rooms[room.split].append(room)
    sentences = split_lib.split_sentences(sentence_bank())

    # Files are whole prompts/sentences, so their real lengths differ from the planned ones: plan
    # more training files than needed and stop rendering once the real total reaches the hours.
    train_seconds = config.hours * 3600.0
    train_lengths = _plan_lengths(config, "train", None, TRAIN_OVERPLAN * train_seconds)
    expected_train = int(np.searchsorted(np.cumsum(train_lengths), train_seconds)) + 1 if train_lengths else 0
    n_valid = round(config.valid_fraction * expected_train) if config.valid_fraction is not None \
        else config.valid_files
    counts = {"valid": n_valid, "test": config.test_files, "test_mismatched": config.mismatched_files,
              "test_real": config.real_test_files if speakers["test_real"] else 0}
    if config.real_test_files and not speakers["test_real"]:
        logger.warning("no community recordings of the test_real languages (%s) are installed: test_real is empty",
                       ", ".join(split_lib.TEST_REAL_LANGUAGES))
    tasks: dict[str, tuple[FileTask, ...]] = {}
    noise_types: dict[str, tuple[str, ...]] = {}
    for split in SPLITS:
        lengths = train_lengths if split == "train" else _plan_lengths(config, split, counts[split], None)
        tasks[split] = tuple(FileTask(split, i, f"{split}_{i:05d}", t) for i, t in enumerate(lengths))
        types = set()
        # test_real: recorded noise and babble of real talkers only, unless no real-noise package is installed
        real_noise_only = split == "test_real" and bool(recordings[split])
        if "synthetic" in used and not real_noise_only:
            types.update(noise_lib.SYNTHETIC_TYPES)
        elif "synthetic" in used:
            types.add("babble")
        types.update(r.noise_type for r in recordings[split])
        mismatched = split == "test_mismatched"
        noise_types[split] = tuple(sorted(t for t in types
                                          if split_lib.is_mismatched_type(t, config.mismatched_noise) == mismatched))
        if tasks[split] and not speakers[split]:
            raise ValueError(f"the {split} split has no speakers with sources {', '.join(used)}; "
                             f"install or enable more speech sources (see `crpse data sources`)")
        if tasks[split] and not noise_types[split]:
            raise ValueError(f"the {split} split has no noise types with sources {', '.join(used)} and "
                             f"mismatched noise {', '.join(config.mismatched_noise)}; change --mismatched-noise "
                             f"or enable more noise sources")
    for split in SPLITS:
        if tasks[split] and not any(s.real for s in speakers[split]) and split in ("train", "test_mismatched"):
            logger.warning("the %s split has no real talker; it uses TTS voices only", split)
    return CorpusPlan(
        config=config, sources=used, skipped=skipped, train_seconds=train_seconds,
        expected_train_files=min(expected_train, len(train_lengths)),
        speakers={k: tuple(v) for k, v in speakers.items()},
        recordings={k: tuple(v) for k, v in recordings.items()},
        noise_types=noise_types, sentences=sentences, tasks=tasks,
        rooms={k: tuple(v) for k, v in rooms.items()}, gate_report=gate_report,
    )


def _choose_speaker(plan: CorpusPlan, split: str, rng: np.random.Generator) -> Speaker:
    """Pick the talker of one file.

    Real speech with probability ``real_fraction`` when the split has both kinds. TTS: first a voice
    group, uniformly (all espeak-ng variants form one group; every other TTS person is its own group,
    so a person rendered by two engines is not counted twice), then a voice of that group.
    """
    pool = plan.speakers[split]
    real = [s for s in pool if s.real]
    if split in REALISTIC_SPLITS and any(s.source in REAL_SPEECH_SOURCES for s in real):
        return _choose_speaker_balanced(plan, split, rng, real)
    groups: dict[str, list[Speaker]] = {}
    for speaker in pool:
        if not speaker.real:
            groups.setdefault("espeak-ng" if speaker.source == "espeak-ng" else speaker.person, []).append(speaker)
    use_real = bool(real) and (not groups or rng.random() < plan.config.real_fraction)
    if use_real:
        return real[int(rng.integers(len(real)))]
    voices = groups[sorted(groups)[int(rng.integers(len(groups)))]]
    return voices[int(rng.integers(len(voices)))]


def _choose_speaker_balanced(plan: CorpusPlan, split: str, rng: np.random.Generator,
                             real: list[Speaker]) -> Speaker:
    """Pick a talker in a split with community recordings: real speech with probability ``real_fraction``
    (when TTS voices exist too); a real talker by sex first (:data:`SEX_WEIGHTS`, renormalised over the
    sexes present), then a person of that sex, then one of the person's speakers; TTS voices as in
    :func:`_choose_speaker`."""
    tts_pool = [s for s in plan.speakers[split] if not s.real]
    if tts_pool and rng.random() >= plan.config.real_fraction:
        groups: dict[str, list[Speaker]] = {}
        for speaker in tts_pool:
            groups.setdefault("espeak-ng" if speaker.source == "espeak-ng" else speaker.person, []).append(speaker)
        voices = groups[sorted(groups)[int(rng.integers(len(groups)))]]
        return voices[int(rng.integers(len(voices)))]
    by_sex: dict[str, dict[str, list[Speaker]]] = {}
    for speaker in real:
        sex = speaker.sex if speaker.sex in SEX_WEIGHTS else "child"
        by_sex.setdefault(sex, {}).setdefault(speaker.person, []).append(speaker)
    sexes = sorted(by_sex)
    weights = np.array([SEX_WEIGHTS[s] for s in sexes])
    persons = by_sex[sexes[int(rng.choice(len(sexes), p=weights / weights.sum()))]]
    speakers = persons[sorted(persons)[int(rng.integers(len(persons)))]]
    return speakers[int(rng.integers(len(speakers)))]


def _load_recording(recording: src.NoiseRecording) -> np.ndarray:
    audio = trim(read_recording(recording.path, recording.member))
    if audio.size == 0:
        raise ValueError(f"noise recording {recording.path} {recording.member} is silent")
    return audio


def _render_noise(plan: CorpusPlan, split: str, speaker: Speaker, n: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, dict[str, str]]:
    types = list(plan.noise_types[split])
    babble_streams: list[tuple[np.ndarray, str]] = []
    if "babble" in types:
        babble_streams = [(a, label) for person, a, label in plan.babble_streams(split) if person != speaker.person]
        if len(babble_streams) < 4:
            types.remove("babble")
    if not types:
        raise ValueError(f"no noise type is usable for a {speaker.speaker_id} file in {split}")
    weights = _type_weights(types)
    noise_type = types[int(rng.choice(len(types), p=weights / weights.sum()))]
    if noise_type == "keyboard/typing":
        strokes = [_load_recording(r) for r in plan.recordings[split] if r.noise_type == noise_type]
        audio, params = noise_lib.typing(n, rng, [s for s in strokes if s.size])
        info = {"noise_source": "keyboard", "noise_file": ""}
    elif noise_type == "babble":
        audio, params = noise_lib.babble(n, rng, babble_streams)
        info = {"noise_source": "synthetic", "noise_file": ""}
    elif noise_type in noise_lib.SYNTHETIC_TYPES:
        audio, params = noise_lib.synthetic_noise(noise_type, n, rng)
        info = {"noise_source": "synthetic", "noise_file": ""}
    else:
        candidates = [r for r in plan.recordings[split] if r.noise_type == noise_type]
        first = int(rng.integers(len(candidates)))
        for step in range(len(candidates)):  # a silent recording gives way to the next one of its type
            recording = candidates[(first + step) % len(candidates)]
            recorded = trim(read_recording(recording.path, recording.member))
            if recorded.size:
                break
        else:
            raise ValueError(f"every {noise_type} recording of the {split} split is silent")
        audio, params = noise_lib.fit_recording(recorded, n, rng)
        info = {"noise_source": recording.source, "noise_file": recording.file_label}
    info.update(noise_type=noise_type, noise_params=params)
    return audio, info


def _draw_room(plan: CorpusPlan, split: str, rng: np.random.Generator, realistic: bool) -> tuple[object, str]:
    """A simulated room, or (realistic splits, with probability ``recorded_room_prob``) a recorded one."""
    config = plan.config
    recorded = plan.rooms.get(split, ())
    if realistic and recorded and rng.random() < config.recorded_room_prob:
        room = recorded[int(rng.integers(len(recorded)))]
        return load_room(room.path), room.label
    return exponential_rir(rng, config.rt60_range, config.drr_range), "simulated"


def render_file(plan: CorpusPlan, task: FileTask, outdir: Path) -> dict[str, str]:
    """Render one clean/noisy pair, write both WAV files, and return its manifest row.

    Splits in :data:`crpse.corpus.conditions.REALISTIC_SPLITS` get the realistic conditions (active
    speech level, quiet/loud files, level steps, recorded rooms, channels) from a fifth generator;
    the other splits are rendered exactly as before those conditions existed.
    """
    config = plan.config
    realistic = task.split in REALISTIC_SPLITS
    root = np.random.SeedSequence(config.seed, spawn_key=(_SPLIT_CODES[task.split], task.index))
    speech_rng, room_rng, noise_rng, mix_rng, condition_rng = (np.random.default_rng(s) for s in root.spawn(5))

    speaker = _choose_speaker(plan, task.split, speech_rng)
    lead, tail = (int(x * SAMPLE_RATE) for x in speech_rng.uniform(0.05, 0.25, size=2))
    pad = (lead + tail) / SAMPLE_RATE
    utterance = render_utterance(speaker, speech_rng, max(task.target_seconds - pad, 0.3),
                                 config.max_seconds - pad, plan.sentences[task.split],
                                 min_seconds=max(config.min_seconds - pad, 0.3))
    dry = np.concatenate([np.zeros(lead), utterance.audio, np.zeros(tail)])
    conditions = {"conditions": "realistic" if realistic else "legacy", "level_kind": "", "level_steps": "",
                  "channel": "", "room": ""}
    if realistic and condition_rng.random() < config.conditions.step_prob:
        gain, conditions["level_steps"] = level_steps(dry, condition_rng, config.conditions.step_range)
        dry = dry * gain

    reverb = {"reverb": "0", "rt60_s": "", "drr_db": "", "reverb_target": ""}
    if room_rng.random() < config.reverb_prob:
        room, conditions["room"] = _draw_room(plan, task.split, room_rng, realistic)
        speech, target = reverberate(dry, room, config.reverb_target)
        reverb = {"reverb": "1", "rt60_s": f"{room.rt60:.3f}", "drr_db": f"{room.drr_db:.2f}",
                  "reverb_target": config.reverb_target}
    else:
        speech, target = dry, dry

    noise, noise_info = _render_noise(plan, task.split, speaker, len(dry), noise_rng)
    snr = round(float(mix_rng.uniform(*config.snr_range)), 2)
    if realistic:
        level, conditions["level_kind"] = draw_level(mix_rng, config.conditions, config.level_range)
        mixture = mix(speech, target, noise, snr, level, speech_level_db=active_level_db(speech))
    else:
        level = round(float(mix_rng.uniform(*config.level_range)), 2)
        mixture = mix(speech, target, noise, snr, level)
    noisy, clean = mixture.noisy, mixture.clean
    if realistic and condition_rng.random() < config.conditions.channel_prob:
        noisy, clean, conditions["channel"] = apply_channel(noisy, clean, condition_rng)

    split_dir = outdir / task.split
    write_wav(split_dir / "clean" / f"{task.name}.wav", clean, SAMPLE_RATE, config.subtype)
    write_wav(split_dir / "noisy" / f"{task.name}.wav", noisy, SAMPLE_RATE, config.subtype)
    row = {
        "name": task.name, "split": task.split, "duration_s": f"{len(dry) / SAMPLE_RATE:.3f}",
        "speech_source": speaker.source, "speaker": speaker.speaker_id, "person": speaker.person,
        "speech_files": "|".join(utterance.parts), "speech_settings": utterance.settings,
        **noise_info,
        "snr_db": f"{snr:.2f}", "speech_level_dbfs": f"{level:.2f}",
        "speech_gain_db": f"{mixture.speech_gain_db:.3f}", "noise_gain_db": f"{mixture.noise_gain_db:.3f}",
        "peak_scale": f"{mixture.peak_scale:.5f}", **reverb,
        "seed": str(config.seed), "seed_key": f"{_SPLIT_CODES[task.split]}/{task.index}",
        "language": speaker.language, "sex": speaker.sex, **conditions,
    }
    return {column: row[column] for column in MANIFEST_COLUMNS}


def _worker_state(plan: CorpusPlan, outdir: Path) -> tuple[CorpusPlan, Path]:
    return plan, outdir


def _render_in_worker(state: tuple[CorpusPlan, Path], task: FileTask) -> dict[str, str]:
    plan, outdir = state
    return render_file(plan, task, outdir)


def _prepare_outdir(outdir: Path, overwrite: bool) -> None:
    owned = [outdir / split for split in SPLITS] + [outdir / "corpus.json"]
    existing = [p for p in owned if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{outdir} already holds a corpus ({existing[0].name}); pass overwrite=True "
                              f"(CLI: --overwrite) to replace it, or choose another folder")
    for path in existing:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    for split in SPLITS:
        for kind in ("clean", "noisy"):
            (outdir / split / kind).mkdir(parents=True, exist_ok=True)


def _manifest_text(rows: Sequence[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _hours(rows: Sequence[dict[str, str]]) -> float:
    return round(sum(float(r["duration_s"]) for r in rows) / 3600.0, 4)


def _summary(plan: CorpusPlan, rows: dict[str, list[dict[str, str]]]) -> dict:
    from crpse import __version__

    splits = {}
    for split in SPLITS:
        split_rows = rows[split]
        real_rows = [r for r in split_rows if r["speech_source"].startswith("asterisk-")
                     or r["speech_source"] in REAL_SPEECH_SOURCES]
        persons_by_sex: dict[str, list[str]] = {}
        for speaker in plan.speakers[split]:
            if speaker.real and speaker.person not in persons_by_sex.get(speaker.sex, []):
                persons_by_sex.setdefault(speaker.sex, []).append(speaker.person)
        by_source: dict[str, list[dict[str, str]]] = {}
        for row in split_rows:
            by_source.setdefault(row["speech_source"], []).append(row)
        splits[split] = {
            "files": len(split_rows),
            "hours": _hours(split_rows),
            "real_speech_files": len(real_rows),
            "real_speech_hours": _hours(real_rows),
            "reverberant_files": sum(1 for r in split_rows if r["reverb"] == "1"),
            "recorded_room_files": sum(1 for r in split_rows if r["room"] not in ("", "simulated")),
            "channel_files": sum(1 for r in split_rows if r["channel"]),
            "level_step_files": sum(1 for r in split_rows if r["level_steps"]),
            "level_kinds": {k: sum(1 for r in split_rows if r["level_kind"] == k) for k in ("normal", "quiet", "loud")
                            if any(r["level_kind"] == k for r in split_rows)},
            "hours_by_speech_source": {k: _hours(v) for k, v in sorted(by_source.items())},
            "real_persons_by_sex": {k: sorted(v) for k, v in sorted(persons_by_sex.items())},
            "languages": sorted({s.language for s in plan.speakers[split] if s.real}),
            "persons": sorted({s.person for s in plan.speakers[split]}),
            "speakers": [s.speaker_id for s in plan.speakers[split]],
            "noise_types": list(plan.noise_types[split]),
            "noise_files": [f"{r.source}/{r.file_label}" for r in plan.recordings[split]],
            "recorded_rooms": [r.label for r in plan.rooms.get(split, ())],
            "sentences": len(plan.sentences[split]),
        }
    return {
        "generator": "crpse data synth",
        "crpse_version": __version__,
        "sample_rate": SAMPLE_RATE,
        "settings": plan.config.to_json(),
        "sources": {name: {"used": name in plan.sources, "missing": plan.skipped.get(name, ""),
                           "kind": spec.kind, "apt": list(spec.apt), "pip": list(spec.pip)}
                    for name, spec in src.SOURCE_SPECS.items()},
        "quality_gate": plan.gate_report,
        "definitions": {
            "snr_db": "legacy splits (test, test_mismatched): energy ratio over the whole file of the speech as "
                      "it is in the mixture (reverberant when reverb=1) to the added noise; realistic splits "
                      "(train, valid, test_real): the same ratio with the speech at its active level (frames "
                      "within 30 dB of the loudest); both before the common peak scaling",
            "speech_level_dbfs": "legacy splits: mean power of the speech over the file; realistic splits: "
                                 "its active level; before peak scaling",
            "clean_target": "dry speech; for reverberant files the direct path plus the first 50 ms of "
                            "reflections (reverb_target=early) or the dry speech (reverb_target=direct), "
                            "time-aligned with the mixture; band-limited like the mixture for the lowpass and "
                            "telephone channels",
            "peak_scale": "common factor applied to clean and noisy so that no sample exceeds 0.98",
        },
        "splits": splits,
    }


def _rows_in_order(plan: CorpusPlan, tasks: Sequence[FileTask], outdir: Path,
                   executor: WorkerPool | None, window: int) -> Iterator[dict[str, str]]:
    """Render ``tasks`` and yield their rows in task order, keeping at most ``window`` tasks in flight.

    When the consumer stops early, tasks not yet started are cancelled and running ones awaited; an error or Ctrl-C
    stops the workers instead (:class:`crpse.workers.WorkerPool`).
    """
    if executor is None:
        for task in tasks:
            yield render_file(plan, task, outdir)
        return
    remaining = iter(tasks)
    pending: deque[Future[dict[str, str]]] = deque(
        executor.submit(_render_in_worker, task) for task in itertools.islice(remaining, window))
    try:
        while pending:
            row = pending.popleft().result()
            following = next(remaining, None)
            if following is not None:
                pending.append(executor.submit(_render_in_worker, following))
            yield row
    except GeneratorExit:  # the consumer has enough: finish the running files (the caller removes them)
        for future in pending:
            future.cancel()
        wait(pending)
        raise


def synthesize_corpus(config: CorpusConfig, outdir: str | Path, jobs: int = 1, overwrite: bool = False,
                      progress: Callable[[int], None] | None = None, plan: CorpusPlan | None = None) -> dict:
    """Generate the whole corpus into ``outdir``.

    Training files are rendered in index order until their total length reaches ``config.hours``;
    the other splits get their fixed numbers of files.

    Args:
        config: Corpus settings.
        outdir: Output folder (created if needed).
        jobs: Worker processes (the output does not depend on it).
        overwrite: Replace a corpus already in ``outdir``.
        progress: Called with the number of files just finished (e.g. ``tqdm.update``).
        plan: The result of ``plan_corpus(config)`` when the caller already made it.

    Returns:
        The summary also written to ``outdir/corpus.json``.
    """
    outdir = Path(outdir)
    if plan is None or plan.config != config:
        plan = plan_corpus(config, jobs=jobs)
    _prepare_outdir(outdir, overwrite)
    rows: dict[str, list[dict[str, str]]] = {split: [] for split in SPLITS}
    with ExitStack() as stack:
        executor = None
        if jobs > 1:
            executor = stack.enter_context(WorkerPool(jobs, _worker_state, (plan, outdir)))
        window = 4 * max(1, jobs)
        rendered = 0.0
        if plan.train_seconds > 0:
            train_rows = _rows_in_order(plan, plan.tasks["train"], outdir, executor, window)
            for row in train_rows:
                rows["train"].append(row)
                rendered += float(row["duration_s"])
                if progress:
                    progress(1)
                if rendered >= plan.train_seconds:
                    break
            train_rows.close()
        if rendered < plan.train_seconds and plan.train_seconds > 0:
            logger.warning("planned training files ran out at %.3f of %.3f hours", rendered / 3600,
                           plan.train_seconds / 3600)
        others = [task for split in SPLITS[1:] for task in plan.tasks[split]]
        for row in _rows_in_order(plan, others, outdir, executor, window):
            rows[row["split"]].append(row)
            if progress:
                progress(1)
    kept = {row["name"] for row in rows["train"]}
    for task in plan.tasks["train"]:  # files rendered ahead of the cut
        if task.name not in kept:
            for kind in ("clean", "noisy"):
                (outdir / "train" / kind / f"{task.name}.wav").unlink(missing_ok=True)
    for split in SPLITS:
        (outdir / split / "manifest.csv").write_text(_manifest_text(rows[split]), encoding="utf-8")
    summary = _summary(plan, rows)
    (outdir / "corpus.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
