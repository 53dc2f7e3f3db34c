"""benchmarks/gpu_speed.py: interleaved timing, errors against eager fp32, and its CSV, on the CPU."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from tests.backends.conftest import micro_model
from tests.bench.conftest import load_benchmark_script


def test_interleaved_paths_get_their_errors_and_every_round() -> None:
    script = load_benchmark_script("gpu_speed")
    expected = torch.tensor([1.0, -2.0, 4.0])
    paths = [script._Timed("exact", lambda: expected.clone()), script._Timed("off", lambda: expected * 1.01)]
    script.time_interleaved(paths, expected, torch.device("cpu"), rounds=3)
    assert [len(p.times) for p in paths] == [3, 3]
    assert paths[0].error == 0.0
    assert paths[1].error == pytest.approx(0.04 / 4.0)  # max |a - b| / max |b|


def test_network_rows_and_their_csv(tmp_path: Path) -> None:
    script = load_benchmark_script("gpu_speed")
    rows = script.network_rows("micro", micro_model(), 2, 64, torch.device("cpu"), None, ["fp32"], [], rounds=2)
    assert [(r.part, r.path, r.batch, r.frames) for r in rows] == [("network", "crpse eager fp32", 2, 64)]
    assert rows[0].max_rel_error == 0.0 and rows[0].median_ms > 0
    assert rows[0].rtf == pytest.approx(rows[0].median_ms / 1e3 / (2 * 63 * 128 / 16000))
    script.write_rows(rows, tmp_path / "results.csv")
    with open(tmp_path / "results.csv", encoding="utf-8") as handle:
        assert next(csv.DictReader(handle))["path"] == "crpse eager fp32"
    assert "| network | micro | crpse eager fp32 | 2 | 64 |" in script.markdown(rows)
