"""crpse.bf16_record: a checkpoint's record of bf16's measured cost, and `--precision auto` following it."""

from __future__ import annotations

from pathlib import Path

import pytest

from crpse import backends
from crpse.backends.inference import open_inference
from crpse.bench.precision import MetricCost, bf16_record, write_bf16_cost
from crpse.bf16_record import Bf16Cost, read_bf16_cost
from crpse.checkpoint import load_model, read_checkpoint, save_model
from crpse.training.initialization import load_initial_weights
from tests.backends.conftest import micro_model

RECORD = Bf16Cost(pesq=0.0062, worst_pesq=0.077, worst_file="test_00048.wav", estoi=0.0009, si_sdr=0.032,
                  split="test", files=100)


@pytest.fixture
def checkpoints(tmp_path: Path) -> tuple[Path, Path]:
    """A micro checkpoint without a record, and its copy with :data:`RECORD`."""
    plain = tmp_path / "plain.ckpt"
    save_model(plain, micro_model())
    return plain, write_bf16_cost(plain, tmp_path / "recorded.ckpt", RECORD)


def test_the_record_round_trips_and_reads_as_bf16_minus_fp32() -> None:
    assert Bf16Cost.from_dict(RECORD.to_dict()) == RECORD
    assert RECORD.describe() == ("PESQ -0.0062 (worst -0.077, test_00048.wav), ESTOI -0.0009, SI-SDR -0.03 dB; "
                                 "100 test files, eager")
    assert read_bf16_cost({"extra": {}}) is None and read_bf16_cost({}) is None


def test_bf16_record_from_paired_costs_turns_differences_into_costs() -> None:
    costs = [MetricCost("pesq", 2.0, -0.0062, -0.077, "a.wav", 0.01, 100),
             MetricCost("estoi", 0.8, -0.0009, -0.01, "b.wav", 0.002, 100),
             MetricCost("si_sdr", 10.0, -0.032, -0.4, "c.wav", 0.05, 99)]
    record = bf16_record(costs, "test")
    assert record == Bf16Cost(pesq=0.0062, worst_pesq=0.077, worst_file="a.wav", estoi=0.0009,
                            si_sdr=0.032, split="test", files=100, backend="eager")


def test_the_record_travels_with_the_checkpoint(checkpoints: tuple[Path, Path]) -> None:
    plain, recorded = checkpoints
    assert load_model(plain).bf16_cost is None
    assert load_model(recorded).bf16_cost == RECORD
    assert read_bf16_cost(read_checkpoint(recorded)) == RECORD
    # the weights are the same: only the record was added
    assert all((a == b).all() for a, b in zip(load_model(plain).state_dict().values(),
                                               load_model(recorded).state_dict().values()))


def test_training_from_a_recorded_checkpoint_drops_the_record(checkpoints: tuple[Path, Path]) -> None:
    assert load_initial_weights(checkpoints[1]).model.bf16_cost is None  # new weights: measure them again


@pytest.mark.parametrize("flags, expected", [
    ({"avx512_bf16"}, ("fp32", "bf16")),  # native bf16: only the recorded model runs bf16
    ({"avx2"}, ("fp32", "fp32")),  # no native bf16: the record does not matter
])
def test_auto_precision_follows_the_models_own_record(
    checkpoints: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    flags: set[str], expected: tuple[str, str],
) -> None:
    monkeypatch.setattr(backends, "_cpu_flags", lambda: frozenset(flags))
    chosen = [open_inference(path, device="cpu", cache_dir=tmp_path / "cache").backend for path in checkpoints]
    assert tuple(c.precision for c in chosen) == expected
    if expected == ("fp32", "bf16"):
        assert "not measured for this model" in chosen[0].reason
        assert chosen[1].reason == "auto: bf16, measured PESQ cost 0.006"
        model = load_model(checkpoints[1])  # a model object carries its record too
        assert open_inference(model, device="cpu").backend.precision == "bf16"
        model.bf16_cost = None
        assert open_inference(model, device="cpu").backend.precision == "fp32"


def test_auto_reads_a_recorded_checkpoint_once(
    checkpoints: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read that finds the bf16 record also builds the model: the file is not read a second time."""
    import crpse.checkpoint

    monkeypatch.setattr(backends, "_cpu_flags", lambda: frozenset({"avx512_bf16"}))
    reads: list[Path] = []
    original = crpse.checkpoint.read_checkpoint
    monkeypatch.setattr(crpse.checkpoint, "read_checkpoint",
                        lambda path, *args, **kwargs: reads.append(Path(path)) or original(path, *args, **kwargs))
    inference = open_inference(checkpoints[1], device="cpu", cache_dir=tmp_path / "cache")
    assert inference.backend.precision == "bf16" and reads == [checkpoints[1]]
    assert read_bf16_cost(read_checkpoint(checkpoints[1])) == RECORD
