"""``crpse bench quality`` / ``sweep`` / ``region`` end to end on micro models and a tiny corpus (seconds)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from crpse.bench.quality import read_rows
from crpse.checkpoint import load_model, read_checkpoint
from crpse.cli import main
from crpse.evaluation import FilePair, load_aligned, score_signals


def _table(path: Path) -> dict[tuple[str, str, str], dict]:
    return {(r["split"], r["model"], r["setting"]): r for r in read_rows(path)}


@pytest.fixture(scope="module")
def quality_run(bench_corpus: Path, micro_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("quality")
    status = main([
        "bench", "quality", "--corpus", str(bench_corpus), "-o", str(out),  # default splits: test, test_real
        "--model", f"dsm={micro_models['score']}", "--model", f"pred={micro_models['pred']}",
        "--settings", "dsm=pc:2:c=1", "--settings", "dsm=reverse:1,2:t=0.5", "--reference", "dsm@pc:2:c=1",
        "--no-dnsmos", "--keep-audio", "--bootstrap-rounds", "200",
    ])
    assert status == 0
    return out


def test_quality_table_rows_and_numbers(quality_run: Path, bench_corpus: Path) -> None:
    table = _table(quality_run / "quality.csv")
    settings = sorted({(m, s) for _, m, s in table})
    assert settings == [("dsm", "pc:2:t=0.999:c=1:snr=0.5"), ("dsm", "reverse:1:t=0.5"), ("dsm", "reverse:2:t=0.5"),
                        ("noisy", "noisy"), ("pred", "predictive")]
    assert {split for split, _, _ in table} == {"test", "test_real"}
    pc = table[("test", "dsm", "pc:2:t=0.999:c=1:snr=0.5")]
    assert pc["nfe"] == 4 and pc["files"] == 3 and pc["rtf"] > 0
    assert table[("test", "dsm", "reverse:2:t=0.5")]["nfe"] == 2
    assert table[("test", "pred", "predictive")]["nfe"] == 1
    # the reference row differs from itself by exactly 0
    assert pc["pesq_delta"] == 0.0 and pc["si_sdr_ci_low"] == 0.0 and pc["reference"] == "dsm@pc:2:t=0.999:c=1:snr=0.5"
    # the noisy row is crpse's metric code on the files themselves
    noisy = table[("test", "noisy", "noisy")]
    direct = []
    for i in range(3):
        noisy_path = bench_corpus / "test" / "noisy" / f"test_{i}.wav"
        pair = FilePair(f"test_{i}.wav", bench_corpus / "test" / "clean" / f"test_{i}.wav", noisy_path, noisy_path)
        clean, enhanced, noisy_audio, rate = load_aligned(pair)
        direct.append(score_signals(clean, enhanced, rate, noisy_audio))
    assert noisy["si_sdr_mean"] == pytest.approx(np.mean([d["si_sdr"] for d in direct]), abs=1e-9)
    assert noisy["pesq_mean"] == pytest.approx(np.mean([d["pesq"] for d in direct]), abs=1e-9)
    assert noisy["si_sdr_std"] == pytest.approx(np.std([d["si_sdr"] for d in direct]), abs=1e-9)
    # differences are paired means and lie inside their intervals
    for row in table.values():
        assert row["si_sdr_ci_low"] - 1e-9 <= row["si_sdr_delta"] <= row["si_sdr_ci_high"] + 1e-9
    delta = noisy["si_sdr_mean"] - pc["si_sdr_mean"]
    assert noisy["si_sdr_delta"] == pytest.approx(delta, abs=1e-9)


def test_quality_markdown_plot_and_per_file(quality_run: Path) -> None:
    text = (quality_run / "quality.md").read_text()
    assert "## test (3 files)" in text and "## test_real (3 files)" in text
    assert "dsm@pc:2:t=0.999:c=1:snr=0.5" in text and "| pred | `predictive` | 1 |" in text
    png = (quality_run / "quality.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with (quality_run / "per_file.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 3 * 5  # splits x files x (noisy, pred, three dsm settings)
    assert {"pesq", "estoi", "si_sdr", "si_sir", "si_sar", "nfe", "seconds", "audio_seconds"} <= set(rows[0])


def test_bench_enhances_exactly_like_crpse_enhance(quality_run: Path, bench_corpus: Path,
                                                  micro_models: dict[str, Path], tmp_path: Path) -> None:
    # --no-output-guard: the random micro model returns loud noise, which `crpse enhance` would refuse to write;
    # --precision fp32: the bench's precision (auto is bf16 on CPUs with native bf16)
    status = main(["enhance", str(bench_corpus / "test" / "noisy"), "-o", str(tmp_path), "--model",
                   str(micro_models["score"]), "--sampler", "reverse", "--steps", "2", "--t-start", "0.5", "-q",
                   "--no-output-guard", "--precision", "fp32"])
    assert status == 0
    for i in range(3):
        ours, _ = sf.read(quality_run / "audio" / "test" / "dsm" / "reverse_2_t0.5" / f"test_{i}.wav")
        theirs, _ = sf.read(tmp_path / f"test_{i}.wav")
        np.testing.assert_array_equal(ours, theirs)


def test_finished_cells_are_reused(quality_run: Path, bench_corpus: Path, micro_models: dict[str, Path]) -> None:
    cell = quality_run / "cells" / "test" / "dsm" / "reverse_1_t0.5.csv"
    before = cell.stat().st_mtime_ns
    status = main([
        "bench", "quality", "--corpus", str(bench_corpus), "--splits", "test", "-o", str(quality_run),
        "--model", f"dsm={micro_models['score']}", "--settings", "reverse:1:t=0.5", "--reference", "noisy",
        "--no-dnsmos", "--no-plot",
    ])
    assert status == 0
    assert cell.stat().st_mtime_ns == before


def test_bad_options_are_one_line_errors(bench_corpus: Path, micro_models: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    base = ["bench", "quality", "--corpus", str(bench_corpus), "-o", str(tmp_path), "--no-dnsmos",
            "--model", f"dsm={micro_models['score']}"]
    assert main([*base, "--splits", "nope"]) == 1
    assert "nope" in capsys.readouterr().err
    assert main([*base, "--splits", "test", "--settings", "other=reverse:1"]) == 1
    assert "unknown model" in capsys.readouterr().err
    assert main([*base, "--splits", "test", "--settings", "reverse:1:t=1.5"]) == 1
    assert "t_start" in capsys.readouterr().err
    empty = ["bench", "quality", "--corpus", str(tmp_path), "-o", str(tmp_path / "out"), "--model", "a=b.ckpt"]
    assert main(empty) == 1
    assert "none of the splits test, test_mismatched, test_real" in capsys.readouterr().err


def test_sweep_region_and_default_setting(bench_corpus: Path, micro_models: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sweep"
    status = main([
        "bench", "sweep", "--corpus", str(bench_corpus), "--splits", "valid", "-o", str(out),
        "--model", f"crp={micro_models['score']}", "--model", f"pred={micro_models['pred']}",
        "--steps", "1..2", "--t-start", "0.3..0.5/0.2", "--no-dnsmos",
    ])
    assert status == 0
    table = read_rows(out / "sweep.csv")
    grid = sorted((r["steps"], r["t_start"]) for r in table if r["model"] == "crp")
    assert grid == [(1, 0.3), (1, 0.5), (2, 0.3), (2, 0.5)]
    assert (out / "heatmap_valid_uniform_pesq.png").is_file() and (out / "heatmap_valid_uniform_si_sdr.png").is_file()
    region = json.loads((out / "region_crp.json").read_text())
    scores = {(p["steps"], p["t_start"]): p["score"] for p in region["points"]}
    best = max(scores.values())
    assert region["best"]["score"] == best and region["split"] == "valid"
    assert all(p["inside"] == (p["score"] >= best - 0.05) for p in region["points"])

    target = tmp_path / "crp.validated.ckpt"
    assert main(["bench", "region", str(out), "--name", "crp", "--checkpoint", str(micro_models["score"]),
                 "-o", str(target)]) == 0
    model = load_model(target)
    assert (model.inference.sampler, model.inference.steps, model.inference.t_start) == (
        "reverse", region["best"]["steps"], region["best"]["t_start"])
    assert read_checkpoint(target)["extra"]["validated_region"] == region
    assert math.isfinite(best)

    # crpse info shows the region; crpse enhance warns outside it and not inside
    capsys.readouterr()
    assert main(["info", str(target)]) == 0
    shown = capsys.readouterr().out
    assert "validated:    within 0.05 PESQ of the best" in shown and "reverse uniform N=1: t_start" in shown
    noisy = bench_corpus / "valid" / "noisy" / "valid_0.wav"
    # --no-output-guard: the random micro model returns loud noise, which `crpse enhance` would refuse to write
    assert main(["enhance", str(noisy), "-o", str(tmp_path / "inside"), "--model", str(target), "-q",
                 "--no-output-guard"]) == 0
    assert "validated region" not in capsys.readouterr().err
    assert main(["enhance", str(noisy), "-o", str(tmp_path / "outside"), "--model", str(target), "-q",
                 "--steps", "3", "--no-output-guard"]) == 0
    err = capsys.readouterr().err
    assert "reverse N=3" in err and "outside this model's validated region" in err


def test_sweep_runs_other_schedules_only_where_they_differ() -> None:
    from crpse.commands.bench import sweep_specs

    assert sweep_specs("1..5", "0.1..0.9/0.1", ("uniform", "power")) == [
        "reverse:1,2,3,4,5:t=0.1..0.9/0.1", "reverse:3,4,5:t=0.1..0.9/0.1:schedule=power"]
    assert sweep_specs("1..2", "0.5", ("uniform", "power")) == ["reverse:1,2:t=0.5"]
    assert sweep_specs("2..4", "0.5", ("power",)) == ["reverse:2:t=0.5", "reverse:3,4:t=0.5:schedule=power"]


def test_cells_hold_no_noisy_baseline_columns(quality_run: Path) -> None:
    rows = read_rows(quality_run / "cells" / "test" / "dsm" / "reverse_1_t0.5.csv")
    assert not [key for key in rows[0] if key.startswith("noisy_")]
    assert {"si_sir", "si_sar"} <= set(rows[0])


def test_bench_and_validation_run_fp32_even_on_native_bf16_hardware(
    micro_models: dict[str, Path], bench_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crpse import backends
    from crpse.bench.grid import parse_setting
    from crpse.bf16_record import Bf16Cost
    from crpse.bench.quality import BenchOptions, _enhancer
    from crpse.enhancer import Enhancer
    from crpse.training import validation

    monkeypatch.setattr(backends, "_cpu_flags", lambda: frozenset({"avx512_bf16"}))  # auto would pick bf16 here
    model = load_model(micro_models["score"])
    options = BenchOptions(corpus=bench_corpus, splits=("test",), out_dir=tmp_path)
    enhancer, _ = _enhancer(model, parse_setting("reverse:1:t=0.5")[0], options)
    assert enhancer.backend.precision == "fp32"
    auto = BenchOptions(corpus=bench_corpus, splits=("test",), out_dir=tmp_path, precision="auto")
    assert _enhancer(model, parse_setting("reverse:1:t=0.5")[0], auto)[0].backend.precision == "fp32"  # no record
    model.bf16_cost = Bf16Cost(pesq=0.005, worst_pesq=0.05, worst_file="a.wav", estoi=0.001, si_sdr=0.01,
                               split="test", files=10)  # a measured cost below the limit: auto may take bf16
    assert _enhancer(model, parse_setting("reverse:1:t=0.5")[0], auto)[0].backend.precision == "bf16"
    made: list[Enhancer] = []
    monkeypatch.setattr(Enhancer, "__call__", lambda self, audio, rate: made.append(self) or audio)
    validation.enhance_like_the_product(model, np.zeros(16000, dtype=np.float32))
    assert [e.backend.precision for e in made] == ["fp32"]
