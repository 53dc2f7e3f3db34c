"""benchmarks/default_model/gate.py: the ship gate on two cell CSVs of known differences."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.bench.conftest import load_benchmark_script


@pytest.fixture(scope="module")
def gate() -> ModuleType:
    return load_benchmark_script("default_model/gate")


def cell(path: Path, rows: dict[str, tuple[float, float, float]]) -> Path:
    lines = ["name,setting,pesq,estoi,si_sdr"] + [f"{n},reverse:1:t=0.3,{p},{e},{s}" for n, (p, e, s) in rows.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_gate_passes_only_a_better_candidate(gate: ModuleType, tmp_path: Path, capsys) -> None:
    old = cell(tmp_path / "old.csv", {"a": (1.5, 0.70, 8.0), "b": (2.0, 0.80, 10.0)})
    better = cell(tmp_path / "better.csv", {"a": (1.6, 0.70, 8.5), "b": (2.2, 0.81, 10.0)})
    trade = cell(tmp_path / "trade.csv", {"a": (1.7, 0.69, 8.0), "b": (2.1, 0.80, 10.0)})
    assert gate.main([str(old), str(better)]) == 0
    line = capsys.readouterr().out
    assert line.startswith("PASS") and "pesq +0.1500 [+0.1000, +0.2000]" in line and "si_sdr +0.2500" in line
    assert gate.main([str(old), str(trade)]) == 1  # PESQ up, ESTOI down by 0.005
    assert "estoi -0.0050" in capsys.readouterr().out
    assert gate.main([str(old), str(trade), str(better)]) == 0  # any candidate passing passes


def test_gate_refuses_cells_of_different_files(gate: ModuleType, tmp_path: Path) -> None:
    old = cell(tmp_path / "old.csv", {"a": (1.5, 0.7, 8.0)})
    other = cell(tmp_path / "other.csv", {"b": (1.5, 0.7, 8.0)})
    with pytest.raises(SystemExit, match="different files"):
        gate.compare(old, other)
