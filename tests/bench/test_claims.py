"""``crpse bench claims`` and benchmarks/paper_table.py: verdicts on synthetic cells, and the whole table on micro
models and a tiny corpus (seconds)."""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from crpse.bench import claims
from crpse.bench.grid import slug
from crpse.bench.quality import read_rows, write_rows
from crpse.cli import main
from tests.bench.conftest import load_benchmark_script

SPLITS = ("test", "test_mismatched", "test_real")
FILES = 40


def _cell(split: str, model: str, sampler: str, steps: int, t_start: float | None, pesq: np.ndarray) -> list[dict]:
    setting = "predictive" if sampler == "predictive" else f"{sampler}:{steps}:t={t_start:g}"
    return [{"split": split, "model": model, "setting": setting, "sampler": sampler, "steps": steps,
             "t_start": t_start, "schedule": "uniform", "nfe": steps, "name": f"f{i:02d}.wav", "pesq": float(p),
             "estoi": 0.5 + 0.1 * float(p), "si_sdr": 5.0 * float(p)} for i, p in enumerate(pesq)]


def _write(out: Path, rows: list[dict]) -> None:
    first = rows[0]
    write_rows(rows, out / "cells" / first["split"] / first["model"] / f"{slug(first['setting'])}.csv")


@pytest.fixture()
def paper_cells(tmp_path: Path) -> Path:
    """Cells where every claim holds: CRP at 1-5 calls near DSM-60, DSM at 1 call far below, pred below on unseen
    data, the multi-N model 0.01 below crp1 at one call and 0.01 above both dedicated models at N = 2-5."""
    rng = np.random.default_rng(0)
    for split in SPLITS:
        base = 2.0 + 0.3 * rng.standard_normal(FILES)
        jitter = lambda: 0.01 * rng.standard_normal(FILES)  # noqa: E731 - per-file noise of one cell
        _write(tmp_path, _cell(split, "dsm", "pc", 30, 0.999, base))
        _write(tmp_path, _cell(split, "dsm", "reverse", 1, 0.5, base - 0.9 + jitter()))
        _write(tmp_path, _cell(split, "dsm", "reverse", 1, 0.999, base - 0.95 + jitter()))
        for steps in range(1, 6):
            crp1_gap, multi_gap = (0.02, 0.03) if steps == 1 else (0.1, -0.01)
            _write(tmp_path, _cell(split, "crp1", "reverse", steps, 0.5, base - crp1_gap + jitter()))
            _write(tmp_path, _cell(split, "crp5", "reverse", steps, 0.5, base + jitter()))
            _write(tmp_path, _cell(split, "multi", "reverse", steps, 0.5, base - multi_gap + jitter()))
        pred_gap = 0.0 if split == "test" else 0.2
        _write(tmp_path, _cell(split, "pred", "predictive", 1, None, base - pred_gap + jitter()))
    return tmp_path


def _judge(out: Path, **models: str | None) -> tuple[list[claims.Outcome], dict]:
    plan = claims.comparisons(claims.ClaimModels(**models), list(SPLITS))
    outcomes = claims.judge(claims.load_cells(out), plan, rounds=300)
    return outcomes, claims.verdicts(outcomes)


def test_every_claim_reproduced_when_the_numbers_say_so(paper_cells: Path) -> None:
    outcomes, verdict = _judge(paper_cells)
    for split in SPLITS:
        assert verdict[("1", split)] == verdict[("2", split)] == verdict[("multi-N", split)] == "reproduced"
    assert verdict[("3", "test_mismatched")] == verdict[("3", "test_real")] == "reproduced"
    assert ("3", "test") not in verdict  # the matched split is shown, not judged
    # the difference is the paired mean of the cells' files: crp1 minus pred on test_real is 0.2 - 0.02 + noise
    rows = {r["name"]: r["pesq"] for r in read_rows(paper_cells / "cells/test_real/crp1/reverse_1_t0.5.csv")}
    pred = {r["name"]: r["pesq"] for r in read_rows(paper_cells / "cells/test_real/pred/predictive.csv")}
    expected = float(np.mean([rows[n] - pred[n] for n in rows]))
    found = next(o for o in outcomes if o.comparison.claim == "3" and o.comparison.split == "test_real"
                 and o.comparison.row.model == "crp1")
    assert found.differences["pesq"].mean == pytest.approx(expected, abs=1e-12)
    assert 0.17 < found.differences["pesq"].low < expected < found.differences["pesq"].high < 0.19
    assert found.differences["si_sdr"].mean == pytest.approx(5 * expected, abs=1e-9)


def test_a_claim_fails_when_crp_at_5_falls_short_of_dsm_60(paper_cells: Path) -> None:
    for steps in range(1, 6):  # crp5 0.3 PESQ below DSM-60 on test_real
        path = paper_cells / f"cells/test_real/crp5/reverse_{steps}_t0.5.csv"
        rows = read_rows(path)
        write_rows([{**r, "pesq": r["pesq"] - 0.3} for r in rows], path)
    outcomes, verdict = _judge(paper_cells)
    assert verdict[("1", "test_real")] == "not reproduced"
    assert verdict[("1", "test")] == "reproduced"
    # crp1 at 1 call is now 0.28 above crp5 at 5: still steady; the multi-N model now beats crp5 at its own N
    assert verdict[("2", "test_real")] == "reproduced"
    claim1 = next(o for o in outcomes if o.comparison.claim == "1" and o.comparison.split == "test_real"
                  and o.comparison.row.model == "crp5")
    assert claim1.passed is False and claim1.differences["pesq"].mean == pytest.approx(-0.3, abs=0.01)


def _write_noisy(out: Path, offset: float) -> None:
    """Noisy-input cells ``offset`` PESQ above the DSM-60 reference row, file by file."""
    for split in SPLITS:
        reference = read_rows(out / f"cells/{split}/dsm/pc_30_t0.999.csv")
        _write(out, [{**r, "model": "noisy", "setting": "noisy", "sampler": "noisy", "steps": 0, "t_start": None,
                      "schedule": "-", "nfe": 0, "pesq": r["pesq"] + offset} for r in reference])


def test_claims_against_a_baseline_that_does_not_enhance_are_not_testable(paper_cells: Path) -> None:
    _write_noisy(paper_cells, -0.3)  # DSM-60 enhances: nothing changes
    _, verdict = _judge(paper_cells)
    assert set(verdict.values()) == {"reproduced"}
    _write_noisy(paper_cells, +0.1)  # DSM-60 is 0.1 PESQ below its noisy input
    outcomes, verdict = _judge(paper_cells)
    for split in SPLITS:
        assert verdict[("1", split)] == verdict[("2", split)] == "not testable"
        assert verdict[("multi-N", split)] == "reproduced"  # no diffusion baseline involved
    assert verdict[("3", "test_real")] == "reproduced"
    claim1 = next(o for o in outcomes if o.comparison.claim == "1" and o.comparison.split == "test")
    assert claim1.passed is True and not claim1.testable
    assert claim1.baseline_gain.mean == pytest.approx(-0.1, abs=1e-9) and claim1.baseline_gain.high < 0
    steady = next(o for o in outcomes if o.comparison.claim == "2" and o.comparison.reference.model == "crp5")
    assert steady.testable and steady.baseline_gain is None
    # a comparison that fails on its own still makes the claim "not reproduced"
    for steps in range(1, 6):
        path = paper_cells / f"cells/test/crp1/reverse_{steps}_t0.5.csv"
        write_rows([{**r, "pesq": r["pesq"] - 0.5} for r in read_rows(path)], path)
    _, verdict = _judge(paper_cells)
    assert verdict[("2", "test")] == "not reproduced" and verdict[("1", "test")] == "not testable"
    claims.write_claims(claims.judge(claims.load_cells(paper_cells), claims.comparisons(claims.ClaimModels(),
                                                                                        list(SPLITS)), rounds=100),
                        paper_cells)
    text = (paper_cells / "claims.md").read_text()
    assert "| 1 | not testable | not testable | not testable |" in text
    assert "not testable: dsm @ pc:30 minus noisy input -0.100 [-0.100, -0.100] PESQ (yes by the rule)" in text
    rows = read_rows(paper_cells / "claims.csv")
    assert {r["testable"] for r in rows if r["claim"] == "1"} == {"false"}


def test_missing_models_and_cells(paper_cells: Path) -> None:
    _, verdict = _judge(paper_cells, pred=None)
    assert not any(claim == "3" for claim, _ in verdict)  # no predictive model: claim 3 is left out
    for path in paper_cells.glob("cells/test/dsm/pc_*.csv"):
        path.unlink()
    outcomes, verdict = _judge(paper_cells)
    assert verdict[("1", "test")] == verdict[("2", "test")] == "not run"
    assert verdict[("1", "test_real")] == "reproduced"
    missing = next(o for o in outcomes if o.comparison.split == "test" and o.comparison.claim == "1")
    assert missing.missing == "no dsm @ pc:30 cell on test" and math.isnan(missing.row_mean)
    # one failing comparison decides, even while another of the claim's cells is missing
    for steps in range(1, 6):
        path = paper_cells / f"cells/test/crp1/reverse_{steps}_t0.5.csv"
        write_rows([{**r, "pesq": r["pesq"] - 0.5} for r in read_rows(path)], path)
    _, verdict = _judge(paper_cells)
    assert verdict[("2", "test")] == "not reproduced" and verdict[("1", "test")] == "not run"


def test_find_cell_resolves_t_max_and_refuses_ambiguity(paper_cells: Path) -> None:
    cells = claims.load_cells(paper_cells)
    top, why = claims.find_cell(cells, "test", claims.CellRef("dsm", "reverse", 1, "max"))
    assert why == "" and next(iter(top.values()))["t_start"] == 0.999
    none, why = claims.find_cell(cells, "test", claims.CellRef("dsm", "reverse", 1))
    assert none is None and why == "2 cells match dsm @ reverse:1 on test; name steps and t_start"


def test_claims_command_writes_markdown_and_csv(paper_cells: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "claims", str(paper_cells), "--bootstrap-rounds", "200"]) == 0
    text = (paper_cells / "claims.md").read_text()
    assert "| 1 | reproduced | reproduced | reproduced |" in text
    assert "| 3 | – | reproduced | reproduced |" in text
    rows = read_rows(paper_cells / "claims.csv")
    assert {r["claim"] for r in rows} == {"1", "2", "3", "multi-N"}
    assert all(r["pesq_files"] == FILES for r in rows)
    assert "written:" in capsys.readouterr().out
    assert main(["bench", "claims", str(paper_cells), "--names", "dsm"]) == 1
    assert "--names: 'dsm' is not ROLE=NAME" in capsys.readouterr().err
    assert main(["bench", "claims", str(paper_cells / "nothing")]) == 1


@pytest.fixture(scope="module")
def paper_table() -> ModuleType:
    return load_benchmark_script("paper_table")


def test_paper_table_script_end_to_end(paper_table: ModuleType, bench_corpus: Path, micro_models: dict[str, Path],
                                       tmp_path: Path) -> None:
    """The one documented command on micro checkpoints: every role is the same score model, so CRP at one call
    equals DSM at one call file for file (the difference is exactly 0 and claim 2 is not reproduced)."""
    score, pred = micro_models["score"], micro_models["pred"]
    out = tmp_path / "paper"
    status = paper_table.main([
        "--corpus", str(bench_corpus), "-o", str(out), "--max-files", "2", "--pc-steps", "2", "--dsm-steps", "1,2",
        "--crp-steps", "1,5", "--no-dnsmos", "--bootstrap-rounds", "100",
        "--model", f"dsm={score}", "--model", f"crp1={score}", "--model", f"crp5={score}",
        "--model", f"multi={score}", "--model", f"pred={pred}",
    ])
    assert status == 0
    assert (out / "quality.png").stat().st_size > 10_000 and (out / "quality.md").is_file()
    table = {(r["split"], r["model"], r["setting"]) for r in read_rows(out / "quality.csv")}
    assert any(s == "test_real" and m == "dsm" and k.startswith("pc:2:") for s, m, k in table)
    assert {("test", "multi", f"reverse:{n}:t=0.5") for n in (1, 5)} <= table
    assert ("test", "pred", "predictive") in table
    rows = {(r["claim"], r["split"], r["row"], r["reference"]): r for r in read_rows(out / "claims.csv")}
    same = rows[("2", "test", "crp1 @ reverse:1:t=0.5", "dsm @ reverse:1:t=0.5")]
    assert same["pesq_delta"] == same["pesq_ci_low"] == same["pesq_ci_high"] == 0.0
    assert same["passes"] == "false"
    assert "| 2 | not reproduced | not reproduced |" in (out / "claims.md").read_text()
    # claim 1 compares the PC reference row (here 2 steps) with the dedicated N = 5 model: it ran
    assert rows[("1", "test", "crp5 @ reverse:5:t=0.5", "dsm @ pc:2")]["missing"] == ""
