"""Offline corpus generator (``crpse data synth``): determinism, layout, split design, SNRs, errors.

Needs the Debian packages espeak-ng, asterisk-core-sounds-en-g722 and asterisk-core-sounds-fr-g722
and the PyPI package g722 (the sources below are chosen so nothing else is used); tests marked
``needs_sources`` are skipped, naming the packages, where they are absent (tests/system-packages.sh installs them).
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from crpse.cli import main
from crpse.corpus import noise, reverb
from crpse.corpus.conditions import active_level_db
from crpse.corpus.mixing import energy_db, mix, snr_db
from crpse.corpus.sentences import sentence_bank
from crpse.corpus.sources import SAMPLE_RATE, NoiseRecording, SourceMissingError, SourcePaths
from crpse.corpus.splits import SPLITS, person_split, split_recordings
from crpse.corpus.synth import CorpusConfig, plan_corpus, render_file, synthesize_corpus
from crpse.corpus.wav import write_wav

CI_SOURCES = ("asterisk-en", "asterisk-fr", "espeak-ng", "synthetic")
TINY = CorpusConfig(hours=0.004, seed=3, valid_files=2, test_files=2, mismatched_files=3, reverb_prob=0.4,
                    sources=CI_SOURCES, min_seconds=2.0, max_seconds=4.0)


def without_community_sources(empty: Path, **paths: Path) -> SourcePaths:
    """Default paths, except the community speech/noise/room packages (slow to gate) point to ``empty``."""
    defaults = SourcePaths()
    moved = {name: empty for name in defaults.__dataclass_fields__
             if name not in ("asterisk_dir", "sonic_pi_dir", "freedesktop_dir")}
    return SourcePaths(**{**moved, **paths})


def read_manifest(root: Path, split: str) -> list[dict[str, str]]:
    with open(root / split / "manifest.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def all_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same tiny corpus made twice: in-process and with two worker processes."""
    serial, parallel = tmp_path_factory.mktemp("serial"), tmp_path_factory.mktemp("parallel")
    synthesize_corpus(TINY, serial, jobs=1)
    synthesize_corpus(TINY, parallel, jobs=2)
    return serial, parallel


@pytest.mark.needs_sources(*CI_SOURCES)
def test_same_seed_gives_identical_bytes_whatever_the_jobs(corpora: tuple[Path, Path]) -> None:
    serial, parallel = corpora
    first, second = all_files(serial), all_files(parallel)
    assert sorted(first) == sorted(second)
    assert len([name for name in first if name.endswith(".wav")]) >= 2 * 8
    different = [name for name in first if first[name] != second[name]]
    assert different == []


@pytest.mark.needs_sources(*CI_SOURCES)
def test_another_seed_gives_other_audio(corpora: tuple[Path, Path], tmp_path: Path) -> None:
    serial, _ = corpora
    config = CorpusConfig(**{**TINY.__dict__, "seed": TINY.seed + 1})
    plan = plan_corpus(config)
    for kind in ("clean", "noisy"):
        (tmp_path / "test" / kind).mkdir(parents=True)
    render_file(plan, plan.tasks["test"][0], tmp_path)
    name = plan.tasks["test"][0].name
    other = (tmp_path / "test/noisy" / f"{name}.wav").read_bytes()
    assert other != (serial / "test/noisy" / f"{name}.wav").read_bytes()


@pytest.mark.needs_sources(*CI_SOURCES)
def test_layout_pairing_and_format(corpora: tuple[Path, Path]) -> None:
    root, _ = corpora
    summary = json.loads((root / "corpus.json").read_text())
    assert summary["settings"]["seed"] == TINY.seed and summary["sample_rate"] == SAMPLE_RATE
    assert summary["splits"]["test_real"]["files"] == 0  # CI_SOURCES have no community recordings
    for split in (s for s in SPLITS if s != "test_real"):
        clean = sorted(p.name for p in (root / split / "clean").glob("*.wav"))
        noisy = sorted(p.name for p in (root / split / "noisy").glob("*.wav"))
        rows = read_manifest(root, split)
        assert clean == noisy == sorted(f"{r['name']}.wav" for r in rows)
        assert len(rows) == summary["splits"][split]["files"] > 0
        for row in rows:
            info_clean = sf.info(str(root / split / "clean" / f"{row['name']}.wav"))
            info_noisy = sf.info(str(root / split / "noisy" / f"{row['name']}.wav"))
            assert (info_clean.samplerate, info_clean.channels, info_clean.subtype) == (SAMPLE_RATE, 1, "PCM_16")
            assert info_clean.frames == info_noisy.frames
            assert abs(info_clean.frames - float(row["duration_s"]) * SAMPLE_RATE) <= 8  # manifest rounds to 1 ms
            assert TINY.min_seconds - 1.0 <= float(row["duration_s"]) <= TINY.max_seconds + 1e-3
            assert row["split"] == split and row["seed"] == str(TINY.seed)
    assert len(read_manifest(root, "valid")) == 2 and len(read_manifest(root, "test_mismatched")) == 3
    # training files are rendered in order until their total reaches --hours, and no further
    durations = [float(r["duration_s"]) for r in read_manifest(root, "train")]
    assert sum(durations) >= TINY.hours * 3600 > sum(durations[:-1])
    assert [r["name"] for r in read_manifest(root, "train")] == [f"train_{i:05d}" for i in range(len(durations))]


@pytest.mark.needs_sources(*CI_SOURCES)
def test_speakers_and_noises_are_disjoint_across_splits(corpora: tuple[Path, Path]) -> None:
    root, _ = corpora
    summary = json.loads((root / "corpus.json").read_text())["splits"]
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not set(summary[a]["persons"]) & set(summary[b]["persons"]), (a, b)
                assert not set(summary[a]["noise_files"]) & set(summary[b]["noise_files"]), (a, b)
    assert summary["test_mismatched"]["persons"] == ["june-wallack"]
    assert "allison-smith" in summary["train"]["persons"]
    assert summary["test_mismatched"]["noise_types"] == ["hum"]
    assert all("hum" not in summary[split]["noise_types"] for split in ("train", "valid", "test"))
    for split in SPLITS:  # the files really use only their split's people and noise types
        rows = read_manifest(root, split)
        assert {r["person"] for r in rows} <= set(summary[split]["persons"])
        assert {r["noise_type"] for r in rows} <= set(summary[split]["noise_types"])
    assert {r["speech_source"] for r in read_manifest(root, "test_mismatched")} == {"asterisk-fr"}


def test_recorded_noises_are_split_per_type_without_overlap() -> None:
    recordings = [NoiseRecording("sonic-pi", f"sonic-pi/{kind}", Path(f"/x/{kind}_{i}.flac"))
                  for kind, count in (("ambi", 11), ("loop", 5), ("misc", 2), ("vinyl", 4)) for i in range(count)]
    recordings.append(NoiseRecording("freedesktop", "freedesktop", Path("/y/bell.oga")))
    parts = split_recordings(recordings, ("sonic-pi/vinyl", "freedesktop"))
    names = {split: {r.path.name for r in items} for split, items in parts.items()}
    assert sum(len(v) for v in names.values()) == len(recordings)
    assert names["test_mismatched"] == {f"vinyl_{i}.flac" for i in range(4)} | {"bell.oga"}
    for kind in ("ambi", "loop"):
        for split in ("train", "valid", "test"):
            assert any(n.startswith(kind) for n in names[split])
    assert person_split("allison-smith") == "train" and person_split("june-wallack") == "test_mismatched"


@pytest.mark.needs_sources(*CI_SOURCES)
def test_mixture_snr_matches_manifest(corpora: tuple[Path, Path]) -> None:
    root, _ = corpora
    checked = 0
    for split in SPLITS:
        for row in read_manifest(root, split):
            clean, _ = sf.read(str(root / split / "clean" / f"{row['name']}.wav"))
            noisy, _ = sf.read(str(root / split / "noisy" / f"{row['name']}.wav"))
            assert np.max(np.abs(noisy)) <= 0.981 and np.max(np.abs(clean)) <= 0.981
            if row["reverb"] == "0" and not row["channel"]:  # noisy = clean + noise exactly
                if row["conditions"] == "realistic":  # SNR against the active speech level
                    measured = active_level_db(clean) - energy_db(noisy - clean)
                else:
                    measured = snr_db(clean, noisy - clean)
                assert measured == pytest.approx(float(row["snr_db"]), abs=0.1)
                checked += 1
            else:  # reverberant: the early-reflection target differs from the mixture's speech
                assert row["reverb_target"] == "early" and 0.2 <= float(row["rt60_s"]) <= 1.0
    assert checked >= 3


@pytest.mark.needs_sources("asterisk-en", "espeak-ng")
def test_missing_source_names_the_package_and_command(tmp_path: Path) -> None:
    config = CorpusConfig(hours=0.01, paths=SourcePaths(asterisk_dir=tmp_path / "nowhere"))
    with pytest.raises(SourceMissingError, match=r"apt-get install asterisk-core-sounds-en-g722"):
        plan_corpus(config)
    explicit = CorpusConfig(hours=0.01, sources=("asterisk-en", "espeak-ng", "synthetic", "sonic-pi"),
                            mismatched_files=0, paths=SourcePaths(sonic_pi_dir=tmp_path))
    with pytest.raises(SourceMissingError, match=r"apt-get install sonic-pi-samples"):
        plan_corpus(explicit)


@pytest.mark.needs_sources("asterisk-en", "asterisk-fr", "espeak-ng")
def test_missing_optional_source_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = CorpusConfig(hours=0.01, valid_files=1, test_files=1, mismatched_files=1,
                          paths=without_community_sources(tmp_path, sonic_pi_dir=tmp_path, freedesktop_dir=tmp_path))
    with caplog.at_level(logging.WARNING, logger="crpse.corpus.synth"):
        plan = plan_corpus(config)
    assert "sonic-pi" in plan.skipped and "sonic-pi" not in plan.sources
    assert any("sonic-pi" in record.getMessage() and "apt-get install sonic-pi-samples" in record.getMessage()
               for record in caplog.records)
    assert not any(t.startswith("sonic-pi/") for split in SPLITS for t in plan.noise_types[split])


def test_cli_reports_missing_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["data", "synth", str(tmp_path / "out"), "--hours", "0.01", "--quiet",
                   "--asterisk-dir", str(tmp_path / "nowhere")])
    assert status == 2
    assert "apt-get install asterisk-core-sounds-en-g722" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.needs_sources(*CI_SOURCES)
def test_cli_refuses_to_overwrite(corpora: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = corpora
    status = main(["data", "synth", str(root), "--hours", "0.001", "--quiet", "--sources", ",".join(CI_SOURCES)])
    assert status == 2 and "--overwrite" in capsys.readouterr().err


def test_mix_sets_snr_level_and_limits_peaks() -> None:
    rng = np.random.default_rng(0)
    speech, noise_signal = rng.standard_normal(16000) * 0.1, rng.standard_normal(16000)
    quiet = mix(speech, speech, noise_signal, snr=7.5, level_db=-30.0)
    assert snr_db(quiet.clean, quiet.noisy - quiet.clean) == pytest.approx(7.5, abs=1e-9)
    assert 10 * np.log10(np.mean(quiet.clean**2)) == pytest.approx(-30.0, abs=1e-9) and quiet.peak_scale == 1.0
    loud = mix(speech, speech, noise_signal, snr=-5.0, level_db=-8.0)
    assert loud.peak_scale < 1.0 and np.max(np.abs(loud.noisy)) == pytest.approx(0.98)
    assert snr_db(loud.clean, loud.noisy - loud.clean) == pytest.approx(-5.0, abs=1e-9)


def test_noise_generators_are_seeded_and_shaped() -> None:
    n = 12345
    for kind in ("white", "pink", "brown", "bandlimited", "hum", "clicks"):
        a, _ = noise.synthetic_noise(kind, n, np.random.default_rng(5))
        b, _ = noise.synthetic_noise(kind, n, np.random.default_rng(5))
        assert a.shape == (n,) and np.array_equal(a, b) and np.all(np.isfinite(a)) and np.std(a) > 0
    spectra = {}
    for kind in ("white", "pink", "brown"):
        x, _ = noise.synthetic_noise(kind, 2**16, np.random.default_rng(1))
        power = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
        high, low = power[(freqs > 4000) & (freqs < 6000)].mean(), power[(freqs > 200) & (freqs < 400)].mean()
        spectra[kind] = np.log10(high / low)
    assert spectra["white"] == pytest.approx(0.0, abs=0.1)  # flat
    assert spectra["pink"] == pytest.approx(-np.log10(5000 / 300), abs=0.15)  # 1/f
    assert spectra["brown"] == pytest.approx(-2 * np.log10(5000 / 300), abs=0.2)  # 1/f^2
    streams = [(np.sin(np.arange(8000) * (k + 1) / 50), f"talker{k}") for k in range(6)]
    mixed, label = noise.babble(20000, np.random.default_rng(2), streams)
    assert mixed.shape == (20000,) and 4 <= len(label.removeprefix("talkers=").split("|")) <= 6
    events, description = noise.fit_recording(np.hanning(800), 32000, np.random.default_rng(3))
    assert events.shape == (32000,) and description.startswith("events")


def test_room_response_has_the_drawn_drr_and_aligned_targets() -> None:
    room = reverb.exponential_rir(np.random.default_rng(4), (0.4, 0.4), (3.0, 3.0))
    assert room.rir[0] == 1.0 and room.rt60 == 0.4
    assert 10 * np.log10(1.0 / np.sum(room.rir[1:] ** 2)) == pytest.approx(3.0, abs=1e-6)
    speech = np.zeros(8000)
    speech[1000] = 1.0
    wet, early = reverb.reverberate(speech, room, "early")
    assert np.argmax(np.abs(wet)) == np.argmax(np.abs(early)) == 1000  # direct path first, no delay
    assert np.max(np.abs(early[1000 + int(reverb.EARLY_SECONDS * SAMPLE_RATE) + 1:])) < 1e-12
    _, dry = reverb.reverberate(speech, room, "direct")
    assert np.array_equal(dry, speech) and np.sum(wet**2) > np.sum(early**2) > 1.0


def test_wav_writer_round_trips_and_sentences_vary(tmp_path: Path) -> None:
    audio = np.linspace(-0.9, 0.9, 999)
    write_wav(tmp_path / "a.wav", audio, SAMPLE_RATE, "PCM_16")
    write_wav(tmp_path / "b.wav", audio, SAMPLE_RATE, "FLOAT")
    pcm, rate = sf.read(str(tmp_path / "a.wav"))
    flt, _ = sf.read(str(tmp_path / "b.wav"))
    assert rate == SAMPLE_RATE and np.max(np.abs(pcm - audio)) <= 0.5 / 32768 + 1e-12
    assert np.max(np.abs(flt - audio)) < 1e-7
    bank = sentence_bank()
    assert len(bank) >= 300 and len(set(bank)) == len(bank)
    assert len({s.split()[1] for s in bank}) > 20
