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
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crpse.corpus import noise as noise_lib
from crpse.corpus import sources as src
from crpse.corpus import splits as split_lib
from crpse.corpus.activity import trim
from crpse.corpus.mixing import mix
from crpse.corpus.reverb import REVERB_TARGETS, exponential_rir, reverberate
from crpse.corpus.sentences import sentence_bank
from crpse.corpus.speech import Speaker, list_speakers, render_utterance
from crpse.corpus.tts import stable_fraction
from crpse.corpus.wav import SUBTYPES, write_wav

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
    "seed", "seed_key",
)
#: Relative weight of each noise type when a file's noise type is drawn (default 1).
NOISE_TYPE_WEIGHTS = {"babble": 2.0}
#: Weight of each Sonic Pi category (there are a dozen of them).
SONIC_PI_TYPE_WEIGHT = 0.5
#: Talkers rendered per split for babble noise.
BABBLE_TALKERS = 12
#: Training files are planned for this multiple of ``--hours`` (rendering stops at ``--hours``).
TRAIN_OVERPLAN = 1.5


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
        real_fraction: Share of files spoken by real talkers in splits that have real and TTS talkers.
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
    min_seconds: float = 2.0
    max_seconds: float = 8.0
    real_fraction: float = 0.5
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
        if not 0 <= self.reverb_prob <= 1 or not 0 <= self.real_fraction <= 1:
            raise ValueError("reverb_prob and real_fraction must lie in [0, 1]")
        if self.reverb_target not in REVERB_TARGETS:
            raise ValueError(f"reverb_target must be one of {REVERB_TARGETS}, got {self.reverb_target!r}")
        if not 0 < self.rt60_range[0] <= self.rt60_range[1]:
            raise ValueError(f"rt60_range must be positive LOW <= HIGH, got {self.rt60_range}")
        if not 0.5 <= self.min_seconds <= self.max_seconds:
            raise ValueError(f"need 0.5 <= min_seconds <= max_seconds, got {self.min_seconds}, {self.max_seconds}")
        if min(self.valid_files, self.test_files, self.mismatched_files) < 0:
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
    _babble: dict[str, list[tuple[str, np.ndarray, str]]] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_babble"] = {}
        return state

    def babble_streams(self, split: str) -> list[tuple[str, np.ndarray, str]]:
        """Talkers for babble noise in ``split``: ``(person, speech [L], label)``, rendered once per process.

        One speaker per person, at most :data:`BABBLE_TALKERS` people, chosen by a stable hash; each
        talker's ~10 s stream is seeded by ``(seed, split, talker)`` so every process renders the same.
        """
        if split not in self._babble:
            by_person: dict[str, Speaker] = {}
            for speaker in sorted(self.speakers[split], key=lambda s: s.speaker_id):
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


def _type_weight(noise_type: str) -> float:
    if noise_type.startswith("sonic-pi/"):
        return SONIC_PI_TYPE_WEIGHT
    return NOISE_TYPE_WEIGHTS.get(noise_type, 1.0)


def plan_corpus(config: CorpusConfig) -> CorpusPlan:
    """Resolve sources, assign people/noises/sentences to splits, and list the files to render.

    Raises:
        SourceMissingError: A required source is not installed.
        ValueError: A split that should get files has no speaker or no noise type.
    """
    config.validate()
    used, skipped = resolve_sources(config)
    speakers: dict[str, list[Speaker]] = {split: [] for split in SPLITS}
    for source in used:
        if src.SOURCE_SPECS[source].kind == "speech":
            for speaker in list_speakers(source, config.paths):
                speakers[split_lib.person_split(speaker.person)].append(speaker)
    recordings_all = [r for source in used if source in ("sonic-pi", "freedesktop")
                      for r in src.list_recordings(source, config.paths)]
    recordings = split_lib.split_recordings(recordings_all, config.mismatched_noise)
    sentences = split_lib.split_sentences(sentence_bank())

    # Files are whole prompts/sentences, so their real lengths differ from the planned ones: plan
    # more training files than needed and stop rendering once the real total reaches the hours.
    train_seconds = config.hours * 3600.0
    train_lengths = _plan_lengths(config, "train", None, TRAIN_OVERPLAN * train_seconds)
    expected_train = int(np.searchsorted(np.cumsum(train_lengths), train_seconds)) + 1 if train_lengths else 0
    n_valid = round(config.valid_fraction * expected_train) if config.valid_fraction is not None \
        else config.valid_files
    counts = {"valid": n_valid, "test": config.test_files, "test_mismatched": config.mismatched_files}
    tasks: dict[str, tuple[FileTask, ...]] = {}
    noise_types: dict[str, tuple[str, ...]] = {}
    for split in SPLITS:
        lengths = train_lengths if split == "train" else _plan_lengths(config, split, counts[split], None)
        tasks[split] = tuple(FileTask(split, i, f"{split}_{i:05d}", t) for i, t in enumerate(lengths))
        types = set()
        if "synthetic" in used:
            types.update(noise_lib.SYNTHETIC_TYPES)
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
    )


def _choose_speaker(plan: CorpusPlan, split: str, rng: np.random.Generator) -> Speaker:
    """Pick the talker of one file.

    Real speech with probability ``real_fraction`` when the split has both kinds. TTS: first a voice
    group, uniformly (all espeak-ng variants form one group; every other TTS person is its own group,
    so a person rendered by two engines is not counted twice), then a voice of that group.
    """
    pool = plan.speakers[split]
    real = [s for s in pool if s.real]
    groups: dict[str, list[Speaker]] = {}
    for speaker in pool:
        if not speaker.real:
            groups.setdefault("espeak-ng" if speaker.source == "espeak-ng" else speaker.person, []).append(speaker)
    use_real = bool(real) and (not groups or rng.random() < plan.config.real_fraction)
    if use_real:
        return real[int(rng.integers(len(real)))]
    voices = groups[sorted(groups)[int(rng.integers(len(groups)))]]
    return voices[int(rng.integers(len(voices)))]


def _load_recording(path: Path) -> np.ndarray:
    audio = trim(src.read_audio(path))
    if audio.size == 0:
        raise ValueError(f"noise recording {path} is silent")
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
    weights = np.array([_type_weight(t) for t in types])
    noise_type = types[int(rng.choice(len(types), p=weights / weights.sum()))]
    if noise_type == "babble":
        audio, params = noise_lib.babble(n, rng, babble_streams)
        info = {"noise_source": "synthetic", "noise_file": ""}
    elif noise_type in noise_lib.SYNTHETIC_TYPES:
        audio, params = noise_lib.synthetic_noise(noise_type, n, rng)
        info = {"noise_source": "synthetic", "noise_file": ""}
    else:
        candidates = [r for r in plan.recordings[split] if r.noise_type == noise_type]
        recording = candidates[int(rng.integers(len(candidates)))]
        audio, params = noise_lib.fit_recording(_load_recording(recording.path), n, rng)
        info = {"noise_source": recording.source, "noise_file": recording.path.name}
    info.update(noise_type=noise_type, noise_params=params)
    return audio, info


def render_file(plan: CorpusPlan, task: FileTask, outdir: Path) -> dict[str, str]:
    """Render one clean/noisy pair, write both WAV files, and return its manifest row."""
    config = plan.config
    root = np.random.SeedSequence(config.seed, spawn_key=(_SPLIT_CODES[task.split], task.index))
    speech_rng, room_rng, noise_rng, mix_rng = (np.random.default_rng(s) for s in root.spawn(4))

    speaker = _choose_speaker(plan, task.split, speech_rng)
    lead, tail = (int(x * SAMPLE_RATE) for x in speech_rng.uniform(0.05, 0.25, size=2))
    pad = (lead + tail) / SAMPLE_RATE
    utterance = render_utterance(speaker, speech_rng, max(task.target_seconds - pad, 0.3),
                                 config.max_seconds - pad, plan.sentences[task.split],
                                 min_seconds=max(config.min_seconds - pad, 0.3))
    dry = np.concatenate([np.zeros(lead), utterance.audio, np.zeros(tail)])

    reverb = {"reverb": "0", "rt60_s": "", "drr_db": "", "reverb_target": ""}
    if room_rng.random() < config.reverb_prob:
        room = exponential_rir(room_rng, config.rt60_range, config.drr_range)
        speech, target = reverberate(dry, room, config.reverb_target)
        reverb = {"reverb": "1", "rt60_s": f"{room.rt60:.3f}", "drr_db": f"{room.drr_db:.2f}",
                  "reverb_target": config.reverb_target}
    else:
        speech, target = dry, dry

    noise, noise_info = _render_noise(plan, task.split, speaker, len(dry), noise_rng)
    snr = round(float(mix_rng.uniform(*config.snr_range)), 2)
    level = round(float(mix_rng.uniform(*config.level_range)), 2)
    mixture = mix(speech, target, noise, snr, level)

    split_dir = outdir / task.split
    write_wav(split_dir / "clean" / f"{task.name}.wav", mixture.clean, SAMPLE_RATE, config.subtype)
    write_wav(split_dir / "noisy" / f"{task.name}.wav", mixture.noisy, SAMPLE_RATE, config.subtype)
    row = {
        "name": task.name, "split": task.split, "duration_s": f"{len(dry) / SAMPLE_RATE:.3f}",
        "speech_source": speaker.source, "speaker": speaker.speaker_id, "person": speaker.person,
        "speech_files": "|".join(utterance.parts), "speech_settings": utterance.settings,
        **noise_info,
        "snr_db": f"{snr:.2f}", "speech_level_dbfs": f"{level:.2f}",
        "speech_gain_db": f"{mixture.speech_gain_db:.3f}", "noise_gain_db": f"{mixture.noise_gain_db:.3f}",
        "peak_scale": f"{mixture.peak_scale:.5f}", **reverb,
        "seed": str(config.seed), "seed_key": f"{_SPLIT_CODES[task.split]}/{task.index}",
    }
    return {column: row[column] for column in MANIFEST_COLUMNS}


_WORKER_STATE: dict[str, object] = {}


def _init_worker(plan: CorpusPlan, outdir: Path) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle (it cancels the queued files)
    _WORKER_STATE["plan"], _WORKER_STATE["outdir"] = plan, outdir


def _render_in_worker(task: FileTask) -> dict[str, str]:
    return render_file(_WORKER_STATE["plan"], task, _WORKER_STATE["outdir"])  # type: ignore[arg-type]


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


def _summary(plan: CorpusPlan, rows: dict[str, list[dict[str, str]]]) -> dict:
    from crpse import __version__

    splits = {}
    for split in SPLITS:
        split_rows = rows[split]
        splits[split] = {
            "files": len(split_rows),
            "hours": round(sum(float(r["duration_s"]) for r in split_rows) / 3600.0, 4),
            "real_speech_files": sum(1 for r in split_rows if r["speech_source"].startswith("asterisk-")),
            "reverberant_files": sum(1 for r in split_rows if r["reverb"] == "1"),
            "persons": sorted({s.person for s in plan.speakers[split]}),
            "speakers": [s.speaker_id for s in plan.speakers[split]],
            "noise_types": list(plan.noise_types[split]),
            "noise_files": [f"{r.source}/{r.path.name}" for r in plan.recordings[split]],
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
        "definitions": {
            "snr_db": "energy ratio over the whole file of the speech as it is in the mixture (reverberant "
                      "when reverb=1) to the added noise, before the common peak scaling",
            "clean_target": "dry speech; for reverberant files the direct path plus the first 50 ms of "
                            "reflections (reverb_target=early) or the dry speech (reverb_target=direct), "
                            "time-aligned with the mixture",
            "peak_scale": "common factor applied to clean and noisy so that no sample exceeds 0.98",
        },
        "splits": splits,
    }


def _rows_in_order(plan: CorpusPlan, tasks: Sequence[FileTask], outdir: Path,
                   executor: ProcessPoolExecutor | None, window: int) -> Iterator[dict[str, str]]:
    """Render ``tasks`` and yield their rows in task order, keeping at most ``window`` tasks in flight.

    When the consumer stops early, tasks not yet started are cancelled and running ones awaited.
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
    finally:
        for future in pending:
            future.cancel()
        wait(pending)


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
        plan = plan_corpus(config)
    _prepare_outdir(outdir, overwrite)
    rows: dict[str, list[dict[str, str]]] = {split: [] for split in SPLITS}
    with ExitStack() as stack:
        executor = None
        if jobs > 1:
            import multiprocessing

            executor = stack.enter_context(ProcessPoolExecutor(
                max_workers=jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                initargs=(plan, outdir)))
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
