"""benchmarks/loader_speed.py and benchmarks/ort_levels.py: they run, and report what they say they do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.conftest import load_benchmark_script

pytest.importorskip("onnxruntime")


def test_loader_speed_times_batches_of_the_training_set(bench_corpus: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "train").symlink_to(bench_corpus / "valid", target_is_directory=True)
    seconds = load_benchmark_script("loader_speed").main(
        ["--data-dir", str(tmp_path), "--batch", "2", "--frames", "64", "--batches", "3"])
    assert 0 < seconds < 5
    assert capsys.readouterr().out.startswith("3 training pairs; ")


def test_ort_levels_runs_the_shipped_graph_at_three_levels_with_the_same_result() -> None:
    graph = Path(__file__).resolve().parents[2] / "src" / "crpse" / "assets" / "default.onnx"
    results = load_benchmark_script("ort_levels").main(["--graph", str(graph), "--frames", "64", "--rounds", "2"])
    assert set(results) == {"all", "extended", "basic"}
    assert results["basic"][1] == 0.0
    assert all(seconds > 0 and error < 1e-4 for seconds, error in results.values())
