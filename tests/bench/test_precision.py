"""crpse.bench.precision: paired per-file quality differences between precisions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from crpse.bench import precision


def test_paired_costs_mean_worst_and_abs() -> None:
    base = [{"name": "a", "pesq": 3.0, "estoi": 0.9, "si_sdr": 10.0},
            {"name": "b", "pesq": 2.0, "estoi": 0.8, "si_sdr": math.nan}]
    other = [{"name": "a", "pesq": 2.9, "estoi": 0.91, "si_sdr": 9.5},
             {"name": "b", "pesq": 2.05, "estoi": 0.8, "si_sdr": 3.0}]
    pesq, estoi, si_sdr = precision.paired_costs(base, other)
    assert pesq.mean == pytest.approx(-0.025) and pesq.cost == pytest.approx(0.025)
    assert pesq.worst == pytest.approx(-0.1) and pesq.worst_file == "a" and pesq.mean_abs == pytest.approx(0.075)
    assert pesq.base_mean == pytest.approx(2.5) and pesq.files == 2
    assert estoi.worst == pytest.approx(0.0) and estoi.worst_file == "b"  # no file lost: the smallest gain
    assert si_sdr.files == 1 and si_sdr.mean == pytest.approx(-0.5)  # a NaN score leaves its file out
    table = precision.markdown([pesq], "bf16")
    assert "| pesq | 2.5000 | -0.0250 | -0.1000 | a | 0.0750 | 2 |" in table


def test_paired_costs_refuse_different_files() -> None:
    with pytest.raises(ValueError, match="different files"):
        precision.paired_costs([{"name": "a", "pesq": 1.0}], [{"name": "b", "pesq": 1.0}], ("pesq",))
    with pytest.raises(ValueError, match="finite pesq"):
        precision.paired_costs([{"name": "a", "pesq": math.nan}], [{"name": "a", "pesq": 1.0}], ("pesq",))


def test_compare_precisions_on_a_micro_model(
    micro_models: dict[str, Path], bench_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crpse import backends
    from crpse.data import find_pairs

    monkeypatch.setattr(backends, "_cpu_flags", lambda: frozenset({"avx512_bf16"}))
    pairs = find_pairs(bench_corpus / "test")[:2]
    runs, largest = precision.compare_precisions(str(micro_models["score"]), pairs, tmp_path, window=None)
    assert [r.precision for r in runs] == ["fp32", "bf16"]
    assert runs[0].backend.startswith("eager fp32") and runs[1].backend.startswith("eager bf16")
    assert [r["name"] for r in runs[1].rows] == [p.name for p in pairs] and len(runs[1].seconds) == 2
    assert (tmp_path / "bf16" / pairs[0].name).is_file()
    assert largest["fp32"] == 0.0 and 0.0 < largest["bf16"] < 0.5  # the same seed: only the arithmetic differs
    costs = precision.paired_costs(runs[0].rows, runs[1].rows)
    assert all(abs(c.mean) < 1.0 for c in costs)
