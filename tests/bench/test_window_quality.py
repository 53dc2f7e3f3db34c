"""benchmarks/window_quality.py on micro models and the tiny corpus: long signals, network frames, the CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.bench.conftest import load_benchmark_script


@pytest.fixture(scope="module")
def window_quality():
    return load_benchmark_script("window_quality")


def test_long_signals_concatenate_consecutive_valid_files(window_quality, bench_corpus: Path) -> None:
    signals = window_quality.long_signals(bench_corpus, per_signal=3, count=2)
    assert len(signals) == 1  # 3 valid files make one signal of 3, not two
    name, noisy, clean, rate = signals[0]
    assert name == "valid_0.wav..valid_2.wav" and rate == 16000 and len(noisy) == len(clean) == 3 * 8000


def test_windows_and_frames_counted_as_the_enhancer_pads(window_quality, bench_corpus: Path,
                                                         micro_models: dict[str, Path], tmp_path: Path) -> None:
    status = window_quality.main(["--corpus", str(bench_corpus), "--out", str(tmp_path), "--model",
                                  str(micro_models["score"]), "--files-per-signal", "3", "--signals", "1",
                                  "--settings", "0.6:0.1"])
    assert status == 0
    with open(tmp_path / "window_quality.csv") as handle:
        rows = {row["setting"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"whole", "0.6:0.1"}
    # 1.5 s: one window of 188 frames, padded to 192 (the micro U-Net's multiple of 64)
    assert int(rows["whole"]["windows"]) == 1 and float(rows["whole"]["frames_per_second"]) == pytest.approx(192 / 1.5)
    # 0.6 s is lengthened to a 128-frame window (16256 samples: 1 + 16256 / 128 frames is a multiple of 64), 0.1 s
    # rounds to 13 hops of overlap (1664 samples): hop 14592, 2 windows, the second 9408 samples = 74 frames -> 128
    assert int(rows["0.6:0.1"]["windows"]) == 2
    assert float(rows["0.6:0.1"]["frames_per_second"]) == pytest.approx(256 / 1.5)
    assert float(rows["whole"]["si_sdr_to_whole"]) == float("inf")
