"""crpse bench speed: machine info, network timing with FLOPs, the table and CSV, end to end in a child process."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from crpse.bench import speed
from crpse.cli import main


def test_frames_for_rounds_up_to_the_network_multiple() -> None:
    assert speed.frames_for(2.04) == 256  # 255 + 1 frames -> 256
    assert speed.frames_for(6.0) == 768  # 751 -> 768, the enhancer's 6 s window
    assert speed.frames_for(0.01) == 64


def test_cpu_flags_reads_the_model_and_known_flags_only() -> None:
    model, isa = speed.cpu_flags()
    assert model
    assert set(isa) <= set(speed.ISA_FLAGS)


def test_network_row_counts_flops_and_times(micro_models: dict[str, Path]) -> None:
    from crpse.checkpoint import load_model

    model = load_model(micro_models["score"]).eval()
    row = speed.time_network(model, seconds=1.0, batch=2, repeats=2, label="micro")
    assert row.kind == "network" and row.batch == 2 and row.repeats == 2
    assert row.gflops_per_call > 0 and row.median_s > 0 and row.min_s <= row.median_s
    assert row.gflops_per_s == pytest.approx(row.gflops_per_call / row.median_s)
    assert row.rtf == pytest.approx(row.median_s / 2.0)


def test_flops_scale_with_batch(micro_models: dict[str, Path]) -> None:
    from crpse.checkpoint import load_model

    model = load_model(micro_models["score"]).eval()
    one = speed.time_network(model, 1.0, 1, repeats=1)
    two = speed.time_network(model, 1.0, 2, repeats=1)
    assert two.gflops_per_call == pytest.approx(2 * one.gflops_per_call, rel=1e-6)


def test_table_and_csv_carry_the_machine(tmp_path: Path) -> None:
    rows = [speed.SpeedRow("network", "tiny", 2.0, 1, 0.5, 0.4, 3, 10.0, 20.0, 0.25, 0.9),
            speed.SpeedRow("end-to-end", "default", 60.0, 1, 3.0, 2.9, 1, rtf=0.05, cpu_s=5.0, peak_rss_mib=550.0)]
    table = speed.markdown_table(rows)
    assert "| network | tiny | – | 2 | 1 | 0.500 | 0.400 | 10.0 | 20.0 | 0.2500 | 0.90 | – | – |" in table
    assert "| end-to-end | default | – | 60 | 1 | 3.000 | 2.900 | – | – | 0.0500 | 5.00 | – | 550 |" in table
    machine = speed.MachineInfo("Test CPU", ("avx2",), 2, 2, "2.x", "3.11")
    path = speed.write_csv(rows, tmp_path / "speed.csv", machine)
    read = list(csv.DictReader(path.open()))
    assert [r["kind"] for r in read] == ["network", "end-to-end"]
    assert read[0]["cpu"] == "Test CPU" and read[0]["isa"] == "avx2" and float(read[1]["peak_rss_mib"]) == 550.0


@pytest.mark.slow
def test_cli_speed_end_to_end(
    micro_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["bench", "speed", "--model", str(micro_models["score"]), "--seconds", "1", "--batch", "1",
                   "--repeats", "1", "--end-to-end", "2", "-o", str(tmp_path)])
    assert status == 0
    out = capsys.readouterr().out
    assert "Machine:" in out and "| end-to-end | score.ckpt | auto | 2 |" in out and "| start-up |" in out
    rows = list(csv.DictReader((tmp_path / "speed.csv").open()))
    assert [r["kind"] for r in rows] == ["end-to-end", "start-up", "network"]
    assert 100 < float(rows[0]["peak_rss_mib"]) < 1500 and float(rows[0]["rtf"]) > 0
    assert float(rows[1]["peak_rss_mib"]) <= float(rows[0]["peak_rss_mib"])  # the child's own peak, not ours


def test_cli_speed_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "speed", "--batch", "0", "--end-to-end", "0"]) == 1
    assert "--batch" in capsys.readouterr().err


def test_network_rows_per_inference_path_carry_their_error(micro_models: dict[str, Path], monkeypatch) -> None:
    from crpse import backends

    monkeypatch.setattr(backends, "_cpu_flags", lambda: frozenset({"avx512_bf16"}))
    rows = speed.run_speed(["model"], [0.5], [1], model=str(micro_models["score"]), repeats=1,
                           end_to_end_seconds=(), precisions=("nchw", "fp32", "bf16"))
    assert [r.path.split(" (")[0] for r in rows] == ["eager fp32", "eager fp32, channels-last",
                                                     "eager bf16, channels-last"]
    assert rows[0].max_rel_error == 0.0 and rows[1].max_rel_error <= 1e-4 and 1e-4 < rows[2].max_rel_error < 0.2
    assert rows[2].gflops_per_call == rows[0].gflops_per_call


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_network_rows_time_a_graph_backend_next_to_eager(runtime: str, micro_models: dict[str, Path]) -> None:
    pytest.importorskip(runtime)
    pytest.importorskip("onnx")
    rows = speed.run_speed(["model"], [0.5], [2], model=str(micro_models["score"]), repeats=1,
                           end_to_end_seconds=(), backends=(runtime,))
    assert [r.path.split(" (")[0] for r in rows] == ["eager fp32, channels-last", f"{runtime} fp32"]
    assert rows[1].kind == "network" and rows[1].batch == 2 and rows[1].median_s > 0
    assert rows[1].max_rel_error <= 1e-4  # against the same one-step sampler in eager NCHW fp32


@pytest.mark.slow
def test_cli_speed_interleaves_backends_end_to_end(
    micro_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("onnxruntime")
    status = main(["bench", "speed", "--model", str(micro_models["score"]), "--seconds", "1", "--batch", "1",
                   "--repeats", "1", "--end-to-end", "2", "--backend", "eager,onnxruntime", "-o", str(tmp_path)])
    assert status == 0
    rows = list(csv.DictReader((tmp_path / "speed.csv").open()))
    assert [(r["kind"], r["path"].split(" (")[0]) for r in rows] == [
        ("end-to-end", "eager"), ("end-to-end", "onnxruntime"), ("start-up", "eager"), ("start-up", "onnxruntime"),
        ("network", "eager fp32, channels-last"), ("network", "onnxruntime fp32"),
    ]
