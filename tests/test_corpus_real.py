"""Community speech, real noise, recorded rooms, the quality gate, test_real and `crpse data stats`.

The community packages are faked in a temporary folder with generated "speech" (harmonic syllables
with pauses), so these tests need only the sources of tests/test_corpus.py (espeak-ng, the Asterisk
en/fr prompts and the PyPI package g722); tests marked ``needs_sources`` are skipped where they are absent.
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
from crpse.corpus.conditions import active_level_db, apply_channel, level_steps
from crpse.corpus.quality import assess, assess_file
from crpse.corpus.real_noise import category_of, list_noise
from crpse.corpus.real_speech import list_real_voices
from crpse.corpus.rooms import list_rooms, load_room
from crpse.corpus.sources import SAMPLE_RATE, SourceMissingError, SourcePaths
from crpse.corpus.splits import SPLITS, TEST_REAL_LANGUAGES, VALID_LANGUAGES
from crpse.corpus.synth import CorpusConfig, plan_corpus, synthesize_corpus

BASE_SOURCES = ("asterisk-en", "asterisk-fr", "espeak-ng", "synthetic")
COMMUNITY = ("tuxpaint", "klettres", "ktuberling")
#: (source, language, F0): train (fr, ru), valid (ca), test_real (de, el); fr and de in two packages.
VOICES = (("tuxpaint", "fr", 120.0), ("tuxpaint", "el", 220.0), ("klettres", "de", 210.0), ("klettres", "ru", 230.0),
          ("klettres", "fr", 110.0), ("ktuberling", "de", 115.0), ("ktuberling", "ca", 240.0),
          ("ktuberling", "el", 125.0))


def fake_speech(f0: float, seconds: float, rate: int, seed: int, floor_db: float = -90.0) -> np.ndarray:
    """Harmonic 'syllables' (0.15-0.3 s) separated by pauses, over a noise floor ``floor_db`` below the peak."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    voiced = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6)) / k for k in range(1, 12))
    envelope = np.zeros(n)
    position = int(0.1 * rate)
    while position < n - int(0.2 * rate):
        length = int(rng.uniform(0.15, 0.3) * rate)
        envelope[position: position + length] = np.hanning(length)[: n - position]
        position += length + int(rng.uniform(0.05, 0.35) * rate)
    speech = 0.3 * voiced * envelope / np.max(np.abs(voiced))
    return speech + rng.standard_normal(n) * 0.3 * 10 ** (floor_db / 20)


def make_community(root: Path) -> SourcePaths:
    """Fake tuxpaint/klettres/ktuberling installs (8 files of 1.6 s per voice, plus one noisy file each)."""
    tux, klettres, ktuberling = root / "tuxpaint", root / "klettres", root / "ktuberling"
    for index, (source, language, f0) in enumerate(VOICES):
        for k in range(9):
            floor = -15.0 if k == 8 else -90.0  # the last one is a noisy home recording
            audio = fake_speech(f0, 1.6, 22050, seed=100 * index + k, floor_db=floor)
            if source == "tuxpaint":
                path = tux / "animals" / f"stamp{k}_desc_{language}.ogg"
            elif source == "klettres":
                path = klettres / language / "alpha" / f"l{k}.ogg"
            else:
                path = ktuberling / language / f"w{k}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            ogg = {"format": "OGG", "subtype": "VORBIS"} if path.suffix == ".ogg" else {}
            sf.write(str(path), audio, 22050, **ogg)
    return SourcePaths(tuxpaint_dir=tux, klettres_dir=klettres, ktuberling_dir=ktuberling,
                       **{name: root / "none" for name in ("festvox_ru_dir", "fillets_dir", "zero_ad_zip", "ufoai_pk3",
                                                           "supertuxkart_dir", "openttd_cat", "megaglest_dir",
                                                           "keyboard_dir", "csoundqt_dir", "jconvolver_dir")})


TINY_REAL = dict(hours=0.003, seed=5, valid_files=3, test_files=2, mismatched_files=2, real_test_files=4,
                 reverb_prob=0.4, min_seconds=2.0, max_seconds=4.0, sources=BASE_SOURCES + COMMUNITY)


@pytest.fixture(scope="module")
def community(tmp_path_factory: pytest.TempPathFactory) -> SourcePaths:
    return make_community(tmp_path_factory.mktemp("packages"))


@pytest.fixture(scope="module")
def real_corpora(community: SourcePaths, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    config = CorpusConfig(**TINY_REAL, paths=community)
    serial, parallel = tmp_path_factory.mktemp("real1"), tmp_path_factory.mktemp("real2")
    synthesize_corpus(config, serial, jobs=1)
    synthesize_corpus(config, parallel, jobs=2)
    return serial, parallel


def rows_of(root: Path, split: str) -> list[dict[str, str]]:
    with open(root / split / "manifest.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_quality_gate_rejects_a_noisy_clean_file_and_clipping() -> None:
    clean = fake_speech(180.0, 3.0, SAMPLE_RATE, seed=1)
    verdict = assess(clean)
    assert verdict.accepted and verdict.snr_db > 60
    noisy = clean + np.random.default_rng(2).standard_normal(len(clean)) * 0.3 * 10 ** (-18 / 20)
    rejected = assess(noisy)
    assert rejected.reason == "low_snr" and 10 < rejected.snr_db < 25
    clipped = np.clip(clean * 8, -1.0, 1.0)
    assert assess(clipped).reason == "clipped"
    assert assess(clean * 1e-4).reason == "silent"


def test_quality_gate_reads_files_and_rejects_bogus_rates(tmp_path: Path) -> None:
    good, bogus = tmp_path / "good.wav", tmp_path / "bogus.wav"
    sf.write(str(good), fake_speech(150.0, 2.0, 44100, seed=3), 44100)
    sf.write(str(bogus), fake_speech(150.0, 2.0, 44100, seed=3), 128000)
    assert assess_file(good).accepted
    assert assess_file(bogus).reason == "bad_rate"
    (tmp_path / "broken.ogg").write_bytes(b"not audio")
    assert assess_file(tmp_path / "broken.ogg").reason == "unreadable"


def test_community_voices_are_listed_by_person_and_language(community: SourcePaths) -> None:
    voices = {v.person: v for source in COMMUNITY for v in list_real_voices(source, community)}
    assert sorted(voices) == sorted(f"{s}:{lang}" for s, lang, _ in VOICES)
    assert all(len(v.files) == 9 and v.group == f"lang:{v.language}" for v in voices.values())
    assert voices["tuxpaint:el"].sex == "f" and voices["ktuberling:de"].sex == "m"


@pytest.mark.needs_sources(*BASE_SOURCES)
def test_speakers_are_disjoint_by_person_and_language_group_across_sources(real_corpora: tuple[Path, Path]) -> None:
    root, _ = real_corpora
    summary = json.loads((root / "corpus.json").read_text())
    persons = {split: set(summary["splits"][split]["persons"]) for split in SPLITS}
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not persons[a] & persons[b], (a, b)
    language_split = {}
    for split in SPLITS:
        for row in rows_of(root, split):
            assert row["person"] in persons[split]
            if row["speech_source"] in COMMUNITY:
                assert language_split.setdefault(row["language"], split) == split  # one split per language
    assert persons["test_real"] == {"tuxpaint:el", "klettres:de", "ktuberling:de", "ktuberling:el"}
    assert {"tuxpaint:fr", "klettres:fr", "klettres:ru"} <= persons["train"]
    assert "ktuberling:ca" in persons["valid"]
    assert set(summary["splits"]["test_real"]["languages"]) <= set(TEST_REAL_LANGUAGES)
    assert set(summary["splits"]["valid"]["languages"]) <= set(VALID_LANGUAGES) | {""}
    assert summary["splits"]["test_real"]["real_persons_by_sex"] == {"f": ["klettres:de", "tuxpaint:el"],
                                                                     "m": ["ktuberling:de", "ktuberling:el"]}
    real_rows = rows_of(root, "test_real")
    assert len(real_rows) == 4 and all(r["speech_source"] in COMMUNITY for r in real_rows)


@pytest.mark.needs_sources(*BASE_SOURCES)
def test_gate_rejections_are_counted_in_corpus_json(real_corpora: tuple[Path, Path]) -> None:
    root, _ = real_corpora
    gate = json.loads((root / "corpus.json").read_text())["quality_gate"]
    assert set(gate) == set(COMMUNITY)
    for source in COMMUNITY:
        voices = sum(1 for s, _, _ in VOICES if s == source)
        assert gate[source]["files"] == 9 * voices
        assert gate[source]["rejected"]["low_snr"] == voices  # the noisy file of every voice
        assert gate[source]["accepted"] == 8 * voices and gate[source]["persons"] == voices
    for split in SPLITS:  # no rejected (noisy) file is ever used
        for row in rows_of(root, split):
            assert "stamp8_" not in row["speech_files"] and "l8.ogg" not in row["speech_files"]
            assert "w8.wav" not in row["speech_files"]


@pytest.mark.needs_sources(*BASE_SOURCES)
def test_corpus_with_community_sources_is_deterministic(real_corpora: tuple[Path, Path]) -> None:
    serial, parallel = real_corpora
    files = sorted(p.relative_to(serial).as_posix() for p in serial.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(parallel).as_posix() for p in parallel.rglob("*") if p.is_file())
    assert len([f for f in files if f.startswith("test_real/noisy/")]) == 4
    assert all((serial / f).read_bytes() == (parallel / f).read_bytes() for f in files)


@pytest.mark.needs_sources(*BASE_SOURCES)
def test_legacy_splits_do_not_change_when_community_sources_are_added(real_corpora: tuple[Path, Path],
                                                                     tmp_path: Path) -> None:
    root, _ = real_corpora
    base = CorpusConfig(**{**TINY_REAL, "sources": BASE_SOURCES, "hours": 0.0, "valid_files": 0})
    synthesize_corpus(base, tmp_path, jobs=1)
    for split in ("test", "test_mismatched"):
        for kind in ("clean", "noisy"):
            names = sorted(p.name for p in (root / split / kind).glob("*.wav"))
            assert names and names == sorted(p.name for p in (tmp_path / split / kind).glob("*.wav"))
            assert all((root / split / kind / n).read_bytes() == (tmp_path / split / kind / n).read_bytes()
                       for n in names)


@pytest.mark.needs_sources(*BASE_SOURCES)
def test_realistic_rows_measure_snr_against_active_speech(real_corpora: tuple[Path, Path]) -> None:
    root, _ = real_corpora
    checked = 0
    for split in ("train", "valid", "test_real"):
        for row in rows_of(root, split):
            assert row["conditions"] == "realistic"
            if row["reverb"] == "0" and not row["channel"]:
                clean, _ = sf.read(str(root / split / "clean" / f"{row['name']}.wav"))
                noisy, _ = sf.read(str(root / split / "noisy" / f"{row['name']}.wav"))
                noise_db = 10 * np.log10(np.mean((noisy - clean) ** 2))
                assert active_level_db(clean) - noise_db == pytest.approx(float(row["snr_db"]), abs=0.15)
                checked += 1
    assert checked >= 3
    assert all(r["conditions"] == "legacy" for r in rows_of(root, "test"))


@pytest.mark.needs_sources(*BASE_SOURCES)
def test_missing_optional_source_is_skipped_with_its_install_command(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    paths = SourcePaths(**{name: tmp_path for name in SourcePaths.__dataclass_fields__
                           if name not in ("asterisk_dir",)})
    config = CorpusConfig(hours=0.01, valid_files=1, test_files=1, mismatched_files=1, paths=paths)
    with caplog.at_level(logging.WARNING, logger="crpse.corpus.synth"):
        plan = plan_corpus(config)
    messages = " ".join(record.getMessage() for record in caplog.records)
    for source, package in (("tuxpaint", "tuxpaint-stamps-default"), ("klettres", "klettres-data"),
                            ("0ad", "0ad-data"), ("rooms", "csoundqt-examples jconvolver-config-files")):
        assert source in plan.skipped and source not in plan.sources
        assert f"optional source {source} skipped" in messages and f"apt-get install {package}" in messages
    assert plan.tasks["test_real"] == ()  # no community talkers: test_real is empty, not an error
    explicit = CorpusConfig(hours=0.01, sources=BASE_SOURCES + ("ktuberling",), paths=paths)
    with pytest.raises(SourceMissingError, match=r"apt-get install ktuberling-data"):
        plan_corpus(explicit)


@pytest.mark.needs_sources(*BASE_SOURCES)
def test_stats_command_prints_tables_and_writes_histograms(real_corpora: tuple[Path, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = real_corpora
    png = tmp_path / "hist.png"
    assert main(["data", "stats", str(root), "--png", str(png)]) == 0
    text = capsys.readouterr().out
    assert "| test_real | 4 |" in text and "Quality gate" in text and "| klettres | 27 | 24 |" in text
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    assert main(["data", "stats", str(tmp_path / "nothing")]) == 2


def test_recorded_room_is_aligned_and_measured(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(int(0.8 * 44100)) / 44100
    rir = rng.standard_normal(len(t)) * np.exp(-6.908 * t / 0.5) * 0.05
    rir = np.concatenate([np.zeros(300), [0.9], rir])
    folder = tmp_path / "csound"
    folder.mkdir()
    sf.write(str(folder / "StairwellL.wav"), rir, 44100, subtype="FLOAT")
    rooms = list_rooms(SourcePaths(csoundqt_dir=folder, jconvolver_dir=tmp_path))
    assert [(r.room, r.split) for r in rooms] == [("stairwell", "train")]
    room = load_room(rooms[0].path)
    assert room.rir[0] == pytest.approx(1.0) and np.argmax(np.abs(room.rir)) == 0
    assert 0.4 < room.rt60 < 0.6


def test_conditions_steps_channels_and_noise_categories() -> None:
    rng = np.random.default_rng(4)
    speech = fake_speech(150.0, 3.0, SAMPLE_RATE, seed=5)
    gain, text = level_steps(speech, rng, (6.0, 6.0))
    steps = text.count("dB")
    assert 1 <= steps <= 2 and {round(abs(20 * np.log10(g)), 3) for g in (gain[0], gain[-1])} <= {0.0, 6.0, 12.0}
    noisy = speech + 0.01 * rng.standard_normal(len(speech))
    for _ in range(6):
        out_noisy, out_clean, label = apply_channel(noisy, speech, rng)
        assert out_noisy.shape == out_clean.shape == speech.shape and label
        if label.startswith(("lowpass", "telephone")):
            spectrum = np.abs(np.fft.rfft(out_clean)) ** 2
            freqs = np.fft.rfftfreq(len(out_clean), 1 / SAMPLE_RATE)
            assert spectrum[freqs > 7200].sum() < 1e-6 * spectrum.sum()
    assert category_of("audio/ambient/dayscape/day_temperate_gen_02.ogg") == "ambience"
    assert category_of("audio/actor/human/movement/hstep_dirt_MN_11.ogg") == "steps"
    assert category_of("sound/ambience/hum2.ogg") == "machine" and category_of("lenautile_restaurant.ogg") == "crowd"
    assert list_noise("keyboard", SourcePaths(keyboard_dir=Path("/nonexistent"))) == []


def test_openttd_catalogue_is_parsed_and_empty_placeholders_are_skipped(tmp_path: Path) -> None:
    import io
    import struct

    def wav(seconds: float) -> bytes:
        buffer = io.BytesIO()
        sf.write(buffer, fake_speech(300.0, seconds, 11025, seed=7), 11025, format="WAV", subtype="PCM_16")
        return buffer.getvalue()

    entries = [(b'"Train horn". License: CC0.', wav(0.5)), (b'"Unused/Nothing". Empty.', wav(0.01))]
    table, body = b"", b""
    offset = 8 * len(entries)
    for name, data in entries:
        entry = bytes([len(name)]) + name + data
        table += struct.pack("<II", (offset + len(body)) | 0x80000000, len(entry))
        body += entry
    cat = tmp_path / "opensfx.cat"
    cat.write_bytes(table + body)
    recordings = list_noise("openttd", SourcePaths(openttd_cat=cat))
    assert [(r.member, r.noise_type) for r in recordings] == [('"Train horn". License: CC0.', "openttd/vehicle")]
    from crpse.corpus.real_noise import read_recording

    assert len(read_recording(cat, recordings[0].member)) == pytest.approx(0.5 * SAMPLE_RATE, abs=2)
