"""benchmarks/cells_vs_peers.py: a bench-quality cell against peers' scores on the same files, paired."""

from __future__ import annotations

from pathlib import Path

import pytest

from crpse.bench.quality import write_rows
from tests.bench.conftest import load_benchmark_script


def _scores(path: Path, pesq: list[float]) -> None:
    write_rows([{"name": f"f{i}.wav", "pesq": p, "estoi": p / 4, "si_sdr": 3 * p} for i, p in enumerate(pesq)], path)


def test_paired_differences_of_a_cell_and_the_peers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = load_benchmark_script("cells_vs_peers")
    _scores(tmp_path / "paper/cells/test_real/pred/predictive.csv", [2.0, 2.5, 3.0, 1.5])
    _scores(tmp_path / "peers/test_real/dfn3.csv", [1.9, 2.4, 2.9, 1.4])  # 0.1 below, file by file
    args = ["--cells", str(tmp_path / "paper"), "--peers", str(tmp_path / "peers"), "--split", "test_real",
            "--row", "pred=predictive", "--systems", "dfn3", "--rounds", "200"]
    assert script.main(args) == 0
    out = capsys.readouterr().out
    assert "| pred=predictive | 4 | 2.250 | 0.562 | 6.75 |" in out
    assert "| dfn3 | 4 | 2.150 | 0.537 | 6.45 |" in out
    expected = "| pred=predictive − dfn3 | +0.100 [+0.100, +0.100] | +0.025 [+0.025, +0.025] | +0.30 [+0.30, +0.30] |"
    assert expected in out
    _scores(tmp_path / "peers/test_real/dfn3.csv", [1.9, 2.4, 2.9])  # another subset: refused
    assert script.main(args) == 1
    assert "pred=predictive scored 4 files and dfn3 3, 3 in common" in capsys.readouterr().err
