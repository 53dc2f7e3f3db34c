"""benchmarks/peers.py's summaries on synthetic scores and commands: no peers venv, no model, seconds."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile as sf

from crpse.corpus.synth import MANIFEST_COLUMNS
from tests.bench.conftest import load_benchmark_script


@pytest.fixture(scope="module")
def peers() -> ModuleType:
    return load_benchmark_script("peers")


def corpus_split(root: Path, rows: list[tuple[str, str, float, float]]) -> Path:
    """A split with a manifest (name, noise_type, snr_db) and noisy files of the given seconds."""
    split = root / "test_real"
    (split / "noisy").mkdir(parents=True)
    lines = [",".join(MANIFEST_COLUMNS)]
    for name, noise_type, snr, seconds in rows:
        row = dict.fromkeys(MANIFEST_COLUMNS, "")
        row.update(name=name, noise_type=noise_type, snr_db=str(snr))
        lines.append(",".join(row[c] for c in MANIFEST_COLUMNS))
        audio = np.full(int(seconds * 16000), 0.01 * (1 + len(lines)), dtype=np.float32)  # a: 0.03, b: 0.04, ...
        sf.write(split / "noisy" / f"{name}.wav", audio, 16000, subtype="PCM_16")
    (split / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return split


def synthetic_scores(peers: ModuleType, names: list[str]) -> dict:
    """system -> metric -> name -> score: noisy i, crpse i + 1, each peer i + 0.5 (i = the file's index)."""
    offsets = {"noisy": 0.0, "crpse": 1.0, **dict.fromkeys(peers.PEERS, 0.5)}
    return {system: {metric: {name: i + offset for i, name in enumerate(names)} for metric in peers.METRICS}
            for system, offset in offsets.items()}


def test_breakdown_and_report_tables(peers: ModuleType, tmp_path: Path) -> None:
    corpus_split(tmp_path, [("a", "0ad/rain", -2.0, 0.1), ("b", "babble", 3.0, 0.1), ("c", "ufoai/rain", 17.0, 0.1)])
    scores = synthetic_scores(peers, ["a", "b", "c"])
    rows = peers.split_breakdown(tmp_path, "test_real", scores, [0.0, 5.0, 10.0, 15.0])
    assert [row["system"] for row in rows[:6]] == ["noisy", "crpse", *peers.PEERS]  # the noisy input first
    rain = [row for row in rows if row["group"] == "rain" and row["system"] == "crpse"][0]
    assert (rain["files"], rain["pesq_mean"], rain["si_sdr_mean"]) == (2, pytest.approx(2.0), pytest.approx(2.0))
    assert peers.split_breakdown(tmp_path, "no_such_split", scores, [0.0]) == []  # no manifest: no breakdown

    summary = {m: {"mean": 2.0, "std": 0.5, "noisy_mean": 1.0, "noisy_std": 0.25} for m in peers.METRICS}
    difference = {"mean": 0.5, "low": 0.25, "high": 0.75, "files": 3}
    report = {"splits": {"test_real": {
        "files": 3, "summaries": dict.fromkeys(("crpse", *peers.PEERS), summary),
        "alignment_lag": dict.fromkeys(("crpse", *peers.PEERS), 0),
        "crpse_minus": {p: dict.fromkeys(peers.METRICS, difference) for p in (*peers.PEERS, "noisy")},
        "breakdown": rows}}}
    text = peers.markdown(report)
    assert "| noisy input | 1.00 ± 0.25 | 1.000 ± 0.250 | 1.00 ± 0.25 |" in text  # ESTOI with 3 decimals
    assert "| crpse | 2.00 ± 0.50 | 2.000 ± 0.500 | 2.00 ± 0.50 |" in text
    assert "| dfn3 | +0.50 [+0.25, +0.75] | +0.50 [+0.25, +0.75] |" in text
    assert "test_real, mean pesq per noise category" in text
    assert "| noise category | files | noisy | crpse | dfn3-peak | dfn3 | rnnoise | noisereduce |" in text
    assert "| rain | 2 | 1.00 | 2.00 | 1.50 | 1.50 | 1.50 | 1.50 |" in text
    assert "| ≥ 15 dB | 1 | 2.00 | 3.00 | 2.50 | 2.50 | 2.50 | 2.50 |" in text
    assert "| babble | 1 | 1.000 | 2.000 |" in text  # ESTOI table
    assert "mean dnsmos_ovrl per noise category" in text
    for system in scores.values():  # scored without DNSMOS: no empty DNSMOS tables
        for metric in ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak"):
            system[metric] = {}
    report["splits"]["test_real"]["breakdown"] = peers.split_breakdown(tmp_path, "test_real", scores, [0.0])
    text = peers.markdown(report)
    assert "mean pesq per noise category" in text and "dnsmos_ovrl per" not in text


def test_speed_input_concatenates_and_cuts(peers: ModuleType, tmp_path: Path) -> None:
    split = corpus_split(tmp_path, [("a", "babble", 0.0, 0.5), ("b", "babble", 0.0, 0.75), ("c", "babble", 0.0, 1.0)])
    used = peers.speed_input(split / "noisy", 1.0, tmp_path / "speed" / "long.wav")
    assert used == ["a", "b"]
    audio, rate = sf.read(tmp_path / "speed" / "long.wav", dtype="float32")
    info = sf.info(tmp_path / "speed" / "long.wav")
    assert (rate, len(audio), info.subtype) == (16000, 16000, "PCM_16")
    assert audio[7999] == pytest.approx(0.03, abs=1e-4) and audio[8000] == pytest.approx(0.04, abs=1e-4)  # a, then b
    with pytest.raises(SystemExit, match="less than 10 s"):
        peers.speed_input(split / "noisy", 10.0, tmp_path / "speed" / "too_long.wav")


def test_speed_runs_interleaved_and_summarised(peers: ModuleType) -> None:
    env = peers.thread_env(2)
    assert all(env[name] == "2" for name in peers.THREAD_VARIABLES)
    report = "import os, sys; sys.exit(0 if os.environ['OMP_NUM_THREADS'] == sys.argv[1] else 3)"
    commands = {"quick": [sys.executable, "-c", "pass"], "threads": [sys.executable, "-c", report]}
    # the "threads" command fails unless its OMP_NUM_THREADS is the thread count being timed: pass it per count
    with pytest.raises(RuntimeError, match="exited with 3"):
        peers.time_commands({"threads": [*commands["threads"], "1"]}, [2], repeats=1)
    runs = peers.time_commands({"quick": commands["quick"]}, [1, 2], repeats=2)
    assert list(runs) == ["quick@1", "quick@2"] and all(len(done) == 2 for done in runs.values())
    wall, cpu, rss = runs["quick@1"][0]
    assert 0 < wall < 30 and cpu >= 0 and 1 < rss < 1024

    rows = peers.speed_summary({"crpse@1": [(3.0, 2.5, 500.0), (1.0, 1.0, 400.0), (2.0, 2.0, 450.0)],
                                "dfn3@2": [(4.0, 3.0, 130.0)]}, 10.0)
    crpse, dfn3 = rows
    assert (crpse["system"], crpse["threads"], crpse["repeats"]) == ("crpse", 1, 3)
    assert (crpse["median_s"], crpse["min_s"], crpse["rtf"], crpse["cpu_s"], crpse["peak_rss_mib"]) == (
        2.0, 1.0, pytest.approx(0.2), 2.0, 500.0)
    assert (dfn3["threads"], dfn3["rtf"]) == (2, pytest.approx(0.4))
    speed = {"input": {"seconds": 10.0, "files": ["a", "b"]}, "rows": rows,
             "machine": {"cpu": "Test CPU", "isa": ["avx2"], "cores": 2, "load_average_before": [3.0, 0, 0],
                         "load_average_after": [4.0, 0, 0]}}
    lines = peers.speed_markdown(speed)
    assert lines[0].startswith("Speed: whole command on one 10 s file (2 noisy files concatenated), median of 3")
    assert "Test CPU, 2 cores, ISA: avx2; load average 3.0 before, 4.0 after" in lines[0]
    assert lines[4] == "| crpse | 1 | 2.00 | 1.00 | 0.200 | 2.00 | 500 |"
    assert lines[5] == "| dfn3 | 2 | 4.00 | 4.00 | 0.400 | 3.00 | 130 |"
    assert not math.isnan(rows[0]["rtf"])


def test_complete_score_csv_is_reused(peers: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import crpse.evaluation

    clean = tmp_path / "clean"
    clean.mkdir()
    for name in ("a", "b"):
        sf.write(clean / f"{name}.wav", np.zeros(160, dtype=np.float32), 16000)
    csv_path = tmp_path / "sys.csv"
    # as crpse.evaluation.write_csv names rows: the file name with its extension
    csv_path.write_text("name,pesq,noisy_pesq\na.wav,2.5,1.5\nb.wav,3.0,nan\n", encoding="utf-8")
    calls = []
    monkeypatch.setattr(crpse.evaluation, "evaluate_dirs", lambda *args, **kwargs: calls.append(args) or [])
    rows = peers.scored_rows(clean, tmp_path, tmp_path, csv_path, jobs=1, dnsmos=False)
    assert not calls and [(r["name"], r["pesq"]) for r in rows] == [("a.wav", 2.5), ("b.wav", 3.0)]
    assert math.isnan(rows[1]["noisy_pesq"])
    csv_path.write_text("name,pesq\na.wav,2.5\nb.wav,3.0\n", encoding="utf-8")  # no baseline: scored again
    peers.scored_rows(clean, tmp_path, tmp_path, csv_path, jobs=1, dnsmos=False)
    csv_path.write_text("name,pesq\na.wav,2.5\n", encoding="utf-8")  # a file missing: scored again
    peers.scored_rows(clean, tmp_path, None, csv_path, jobs=1, dnsmos=False)
    assert len(calls) == 2
    csv_path.write_text("name,pesq\na.wav,2.5\nb.wav,3.0\n", encoding="utf-8")
    peers.scored_rows(clean, tmp_path, None, csv_path, jobs=1, dnsmos=False)  # complete without DNSMOS: reused
    assert len(calls) == 2
    peers.scored_rows(clean, tmp_path, None, csv_path, jobs=1)  # DNSMOS asked for and missing: scored again
    assert len(calls) == 3


def test_uniform_subset_is_the_files_bench_quality_scores(peers: ModuleType, tmp_path: Path) -> None:
    from crpse.bench.quality import BenchOptions, split_pairs

    corpus = tmp_path / "corpus"
    for kind in ("clean", "noisy"):
        (corpus / "test_real" / kind).mkdir(parents=True)
        for i in range(10):
            sf.write(corpus / "test_real" / kind / f"f{i:02d}.wav", np.zeros(1600, np.float32), 16000)
    _, noisy = peers.subset(corpus, "test_real", 4, tmp_path / "out", "uniform")
    picked = sorted(p.name for p in noisy.glob("*.wav"))
    options = BenchOptions(corpus=corpus, splits=("test_real",), out_dir=tmp_path / "q", max_files=4)
    assert picked == [p.name for p in split_pairs(options, "test_real")] == ["f00.wav", "f03.wav", "f06.wav", "f09.wav"]
    _, first = peers.subset(corpus, "test_real", 4, tmp_path / "out2")
    assert sorted(p.name for p in first.glob("*.wav")) == ["f00.wav", "f01.wav", "f02.wav", "f03.wav"]


def test_compare_names_are_parsed_and_checked(peers: ModuleType) -> None:
    assert peers.parse_compare(["previous=old.ckpt", "wide=default"]) == {"previous": "old.ckpt", "wide": "default"}
    for bad in ("previous", "=old.ckpt", "previous=", "dfn3=x.ckpt", "crpse=x.ckpt", "a/b=x.ckpt"):
        with pytest.raises(SystemExit, match="--compare"):
            peers.parse_compare([bad])
    with pytest.raises(SystemExit, match="taken"):
        peers.parse_compare(["x=a.ckpt", "x=b.ckpt"])


def test_outputs_of_another_checkpoint_are_made_again(peers: ModuleType, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A crpse system's folder is reused only when it is complete and made with the same checkpoint."""
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    for name in ("a", "b"):
        sf.write(noisy / f"{name}.wav", np.zeros(160, dtype=np.float32), 16000)
    target = tmp_path / "crpse"
    runs: list[str] = []

    def fake_enhance(command: list[str], **kwargs: object) -> None:  # what `crpse enhance FOLDER -o OUT` leaves
        runs.append(command[command.index("--model") + 1])
        target.mkdir(exist_ok=True)
        for path in noisy.glob("*.wav"):
            (target / path.name).write_bytes(path.read_bytes())

    monkeypatch.setattr(peers.subprocess, "run", fake_enhance)
    monkeypatch.setattr(peers, "model_stamp", lambda model: f"sha-of-{model}")
    env = peers.thread_env(1)
    assert peers.enhance_with("old.ckpt", noisy, target, env) >= 0 and runs == ["old.ckpt"]
    assert (tmp_path / "crpse.model").read_text(encoding="utf-8") == "sha-of-old.ckpt\n"
    assert peers.enhance_with("old.ckpt", noisy, target, env) == 0.0 and runs == ["old.ckpt"]  # reused
    (tmp_path / "crpse.csv").write_text("name,pesq\na.wav,2.0\nb.wav,2.0\n", encoding="utf-8")
    (target / "stale.wav").write_bytes(b"")
    peers.enhance_with("new.ckpt", noisy, target, env)  # another checkpoint: outputs and scores of the old go
    assert runs == ["old.ckpt", "new.ckpt"] and not (tmp_path / "crpse.csv").exists()
    assert sorted(p.name for p in target.glob("*.wav")) == ["a.wav", "b.wav"]
    (tmp_path / "crpse.model").unlink()  # a folder from before the stamps: made again
    peers.enhance_with("new.ckpt", noisy, target, env)
    assert runs == ["old.ckpt", "new.ckpt", "new.ckpt"]
