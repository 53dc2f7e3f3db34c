"""Resuming after SIGKILL restores the saved state exactly; DDP over 2 CPU processes writes one set of files."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from crpse.checkpoint import CheckpointError, load_model, read_checkpoint
from crpse.cli import build_parser
from crpse.commands.train import train_config
from crpse.data import find_pairs
from crpse.sampler_spec import SamplerRequest
from crpse.training.module import derived_seed
from crpse.training.runner import prepare
from crpse.training.validation import score_pair

_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def _wait_for_step(path: Path, step: int, process: subprocess.Popen, timeout: float = 150.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"training exited early:\n{process.stdout.read() if process.stdout else ''}")
        if path.exists():
            try:
                state = read_checkpoint(path)
            except (CheckpointError, FileNotFoundError):  # renamed away between the two calls
                state = None
            if state is not None and state["global_step"] >= step:
                return state
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint at step {step} within {timeout} s")


class _CaptureRestoredState(L.Callback):
    """Copies global step, optimizer state, EMA and batch counter as training (re)starts."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.global_step = trainer.global_step
        self.optimizer = copy.deepcopy(trainer.optimizers[0].state_dict())  # Adam updates its tensors in place
        self.ema = copy.deepcopy(pl_module.ema.state_dict())
        self.batches_seen = pl_module.batches_seen
        self.weights = {k: v.clone() for k, v in pl_module.model.state_dict().items()}


def _assert_same(actual, expected, where: str) -> None:
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor) and torch.equal(actual.cpu(), expected.cpu()), where
    elif isinstance(expected, dict):
        assert set(actual) == set(expected), where
        for key in expected:
            _assert_same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list | tuple):
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_same(a, e, f"{where}[{i}]")
    else:
        assert actual == expected, where


def test_sigkill_then_resume_restores_the_saved_state(corpus: Path, tmp_path: Path, fast_args) -> None:
    argv = fast_args("dsm", corpus, tmp_path, "--checkpoint-every", "1", "--val-every", "0", "--max-steps", "100000")
    full_state = tmp_path / "checkpoints" / "full_state.ckpt"
    process = subprocess.Popen([sys.executable, "-m", "crpse", *argv], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=_ENV)
    try:
        _wait_for_step(full_state, 3, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    saved = read_checkpoint(full_state)  # whatever the kill left behind must be a complete checkpoint
    step = saved["global_step"]
    assert step >= 3

    resumed_argv = fast_args("dsm", corpus, tmp_path, "--checkpoint-every", "1", "--val-every", "0",
                             "--max-steps", str(step + 2))
    capture = _CaptureRestoredState()
    resumed = train_config(build_parser(resumed_argv).parse_args(resumed_argv))
    trainer, module, datamodule, resume_from = prepare(resumed, callbacks=[capture])
    assert resume_from == full_state
    assert not list(full_state.parent.glob(".*.tmp"))
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume_from))

    assert capture.global_step == step
    assert capture.batches_seen == saved["crpse"]["batches_seen"] == step
    _assert_same(capture.optimizer, saved["optimizer_states"][0], "optimizer")
    _assert_same(capture.ema, saved["crpse"]["ema"], "ema")
    _assert_same(capture.weights, {k.removeprefix("model."): v for k, v in saved["state_dict"].items()}, "weights")
    assert saved["crpse"]["ema"]["num_updates"] == step

    final = read_checkpoint(full_state)
    assert final["global_step"] == step + 2 and final["crpse"]["ema"]["num_updates"] == step + 2
    assert final["crpse"]["batches_seen"] == step + 2
    assert any(not torch.equal(final["state_dict"][k], saved["state_dict"][k]) for k in saved["state_dict"])
    last = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert last["extra"]["global_step"] == step + 2


def test_resumed_training_draws_what_an_uninterrupted_run_draws(corpus: Path, tmp_path: Path, fast_args) -> None:
    """4 steps in one go == 2 steps, stop, resume, 2 more steps: same weights (seeded crops, noise, t)."""
    straight = fast_args("dsm", corpus, tmp_path / "a", "--val-every", "0", "--max-steps", "4")
    trainer, module, datamodule, _ = prepare(train_config(build_parser(straight).parse_args(straight)))
    trainer.fit(module, datamodule=datamodule)
    reference = {k: v.clone() for k, v in module.model.state_dict().items()}

    for max_steps in ("2", "4"):
        argv = fast_args("dsm", corpus, tmp_path / "b", "--val-every", "0", "--max-steps", max_steps)
        trainer, module, datamodule, resume_from = prepare(train_config(build_parser(argv).parse_args(argv)))
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume_from) if resume_from else None)
    assert trainer.global_step == 4
    for name, value in module.model.state_dict().items():
        torch.testing.assert_close(value, reference[name], rtol=0, atol=0, msg=name)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_ddp_with_two_cpu_processes_writes_one_set_of_checkpoints(corpus: Path, tmp_path: Path, fast_args) -> None:
    argv = fast_args("dsm", corpus, tmp_path, "--devices", "2", "--strategy", "ddp", "--max-steps", "2",
                     "--val-every", "2", "--num-eval-files", "2", "--checkpoint-every", "1")
    result = subprocess.run([sys.executable, "-m", "crpse", *argv], capture_output=True, text=True, env=_ENV,
                            timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    checkpoints = tmp_path / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.ckpt", "full_state.ckpt", "last.ckpt"]
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["args.json", "config.json"]
    assert [p.name for p in (tmp_path / "logs" / "csv").iterdir()] == ["version_0"]
    assert len(list((tmp_path / "logs").glob("events.out.tfevents.*"))) == 1
    extra = read_checkpoint(checkpoints / "last.ckpt")["extra"]
    assert extra["global_step"] == 2 and extra["ema_num_updates"] == 2
    assert extra["train_args"]["devices"] == "2"
    metrics = extra["metrics"]
    assert all(torch.isfinite(torch.tensor(metrics[f"val/{m}"])) for m in ("loss", "pesq", "estoi", "si_sdr"))
    assert "distributed_backend=gloo" in result.stdout + result.stderr
    # each rank scored one of the two files; the logged means are over both (gathered sums / counts)
    model = load_model(checkpoints / "last.ckpt", ema=True)
    choice = SamplerRequest(sampler="pc", steps=2, corrector_steps=1, snr=0.5)
    scores = [score_pair(model, pair, choice, seed=derived_seed(0, 4, i))
              for i, pair in enumerate(find_pairs(corpus / "valid"))]
    assert len(scores) == 2
    for name in ("pesq", "estoi", "si_sdr"):
        expected = sum(s[name] for s in scores) / 2
        assert metrics[f"val/{name}"] == pytest.approx(expected, rel=1e-3, abs=1e-3), name
