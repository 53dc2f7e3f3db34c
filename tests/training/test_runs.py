"""End-to-end `crpse train` runs on a generated corpus: checkpoints, CRP from reference checkpoints, errors, CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from crpse.checkpoint import load_model, read_checkpoint
from crpse.cli import build_parser, main
from crpse.commands.train import train_config
from crpse.data import find_pairs
from crpse.sampler_spec import SamplerRequest
from crpse.training.module import derived_seed
from crpse.training.validation import score_pair

GOLDEN_PICKLE = "public_official_pickle.ckpt"


def _run(argv: list[str]) -> int:
    return main(argv)


@pytest.fixture(scope="module")
def dsm_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("dsm_run")
    from .conftest import MICRO_NET

    argv = ["train", "dsm", "--data-dir", str(corpus), "--run-dir", str(run_dir), "--num-frames", "16",
            "--batch-size", "2", "--num-workers", "0", "--num-eval-files", "2", "--log-every", "1",
            "--accelerator", "cpu", "--threads", "1", "--no-progress-bar", *MICRO_NET, "--val-steps", "2",
            "--max-steps", "4", "--val-every", "2", "--checkpoint-every", "1"]
    assert _run(argv) == 0
    return run_dir


def test_dsm_run_writes_checkpoints_logs_and_run_files(dsm_run: Path) -> None:
    checkpoints = dsm_run / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.ckpt", "full_state.ckpt", "last.ckpt"]
    model = load_model(checkpoints / "last.ckpt")
    assert model.config.stage == "dsm" and model.config.inference.sampler == "pc"
    data = read_checkpoint(checkpoints / "last.ckpt")
    extra = data["extra"]
    assert extra["global_step"] == 4 and extra["ema_num_updates"] == 4 and extra["batches_seen"] == 4
    assert extra["train_args"]["max_steps"] == 4 and extra["stage"] == "dsm"
    for name in ("val/loss", "val/pesq", "val/estoi", "val/si_sdr"):
        assert torch.isfinite(torch.tensor(extra["metrics"][name])), name
    assert data["ema_state_dict"] is not None
    assert any(not torch.equal(data["state_dict"][k], data["ema_state_dict"][k]) for k in data["state_dict"])
    full = read_checkpoint(checkpoints / "full_state.ckpt")
    assert full["global_step"] == 4 and full["crpse"]["ema"]["num_updates"] == 4
    assert json.loads((dsm_run / "config.json").read_text())["stage"] == "dsm"
    assert json.loads((dsm_run / "args.json").read_text())["batch_size"] == 2
    metrics = (dsm_run / "logs" / "csv" / "version_0" / "metrics.csv").read_text()
    assert "val/pesq" in metrics and "train/loss" in metrics
    assert list((dsm_run / "logs").glob("events.out.tfevents.*"))


def test_validation_metrics_are_the_ema_models_scores(dsm_run: Path, corpus: Path) -> None:
    extra = read_checkpoint(dsm_run / "checkpoints" / "last.ckpt")["extra"]
    model = load_model(dsm_run / "checkpoints" / "last.ckpt", ema=True)
    pairs = find_pairs(corpus / "valid")
    choice = SamplerRequest(sampler="pc", steps=2, corrector_steps=1, snr=0.5)
    scores = [score_pair(model, pair, choice, seed=derived_seed(0, 4, i)) for i, pair in enumerate(pairs)]
    for name in ("pesq", "estoi", "si_sdr"):
        expected = sum(s[name] for s in scores) / len(scores)
        assert extra["metrics"][f"val/{name}"] == pytest.approx(expected, rel=1e-4, abs=1e-4), name


def test_predictive_run(corpus: Path, tmp_path: Path, fast_args) -> None:
    assert _run(fast_args("predictive", corpus, tmp_path, "--max-steps", "2", "--val-every", "2")) == 0
    model = load_model(tmp_path / "checkpoints" / "last.ckpt")
    assert model.config.kind == "predictive" and model.config.stage == "predictive"
    assert read_checkpoint(tmp_path / "checkpoints" / "best.ckpt")["extra"]["global_step"] == 2


def test_crp_from_the_official_pickled_checkpoint(golden_dir: Path, corpus: Path, tmp_path: Path, fast_args) -> None:
    init = golden_dir / GOLDEN_PICKLE
    argv = fast_args("crp", corpus, tmp_path, "--init", str(init), "--steps", "1", "--t-start", "0.5",
                     "--max-steps", "2", "--val-every", "2")
    assert _run(argv) == 0
    model = load_model(tmp_path / "checkpoints" / "last.ckpt")
    assert model.config.stage == "crp"
    inference = model.config.inference
    assert (inference.sampler, inference.steps, inference.t_start) == ("reverse", 1, 0.5)
    extra = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["extra"]
    assert extra["init"]["path"] == str(init.resolve()) and extra["init"]["had_ema"] is True
    assert extra["ema_num_updates"] == extra["init"]["ema_num_updates"] + 2
    assert extra["metrics"]["val/nfe"] == 1.0
    reference = load_model(init, ema=True)
    assert reference.config.backbone == model.config.backbone and reference.config.sde == model.config.sde


@pytest.mark.parametrize("init_weights", ["ema", "raw"])
def test_crp_initial_weights_are_explicit(golden_dir: Path, corpus: Path, tmp_path: Path, fast_args,
                                          init_weights: str) -> None:
    from crpse.training.runner import prepare

    init = golden_dir / GOLDEN_PICKLE
    argv = fast_args("crp", corpus, tmp_path, "--init", str(init), "--init-weights", init_weights)
    _, module, _, resume = prepare(train_config(build_parser(argv).parse_args(argv)))
    assert resume is None
    raw, ema = load_model(init, ema=False).state_dict(), load_model(init, ema=True).state_dict()
    start = module.model.state_dict()
    for name, value in (ema if init_weights == "ema" else raw).items():
        assert torch.equal(start[name], value), name
    for name, value in module.ema.averaged.state_dict().items():
        assert torch.equal(value, ema[name]), name  # the EMA always continues from the checkpoint's EMA
    assert any(not torch.equal(raw[k], ema[k]) for k in raw)  # the golden file makes the two differ


def test_crp_continues_the_ema_count_of_a_crpse_checkpoint(dsm_run: Path, corpus: Path, tmp_path: Path,
                                                           fast_args) -> None:
    argv = fast_args("crp", corpus, tmp_path, "--init", str(dsm_run / "checkpoints" / "last.ckpt"),
                     "--steps", "1..2", "--t-start", "0.4..0.6", "--max-steps", "2", "--val-every", "0")
    assert _run(argv) == 0
    extra = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["extra"]
    assert extra["ema_num_updates"] == 4 + 2
    inference = load_model(tmp_path / "checkpoints" / "last.ckpt").config.inference
    assert (inference.steps, inference.t_start) == (2, 0.6)  # the largest of each range by default


def _truncated_copy(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data[: len(data) // 2])
    return target


def test_truncated_init_checkpoint_is_a_clear_error(dsm_run: Path, corpus: Path, tmp_path: Path, fast_args,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    broken = _truncated_copy(dsm_run / "checkpoints" / "last.ckpt", tmp_path / "broken.ckpt")
    assert _run(fast_args("crp", corpus, tmp_path / "run", "--init", str(broken), "--max-steps", "1")) == 1
    message = capsys.readouterr().err
    assert "broken.ckpt" in message and "truncated" in message
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_truncated_full_state_on_resume_is_a_clear_error(dsm_run: Path, corpus: Path, tmp_path: Path, fast_args,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(dsm_run, run_dir)
    _truncated_copy(dsm_run / "checkpoints" / "full_state.ckpt", run_dir / "checkpoints" / "full_state.ckpt")
    assert _run(fast_args("dsm", corpus, run_dir, "--resume", "--max-steps", "6")) == 1
    message = capsys.readouterr().err
    assert "full_state.ckpt" in message and "truncated" in message


def test_resume_without_state_and_bad_options_are_errors(corpus: Path, tmp_path: Path, fast_args,
                                                         capsys: pytest.CaptureFixture[str], golden_dir: Path) -> None:
    assert _run(fast_args("dsm", corpus, tmp_path / "a", "--resume")) == 1
    assert "nothing to resume" in capsys.readouterr().err
    init = str(golden_dir / GOLDEN_PICKLE)
    assert _run(fast_args("crp", corpus, tmp_path / "b", "--init", init, "--steps", "3..1")) == 1
    assert "empty" in capsys.readouterr().err
    assert _run(fast_args("crp", corpus, tmp_path / "c", "--init", init, "--t-start", "1.2")) == 1
    assert "start times must lie in" in capsys.readouterr().err
    assert _run(fast_args("dsm", corpus, tmp_path / "d", "--val-sampler", "reverse", "--val-t-start", "1.5")) == 1
    assert "t_start must lie in" in capsys.readouterr().err


def test_data_pairing_error_names_the_file(tmp_path: Path, corpus: Path, fast_args,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    shutil.copytree(corpus, data)
    (data / "train" / "noisy" / "tr01.wav").unlink()
    assert _run(fast_args("dsm", data, tmp_path / "run", "--max-steps", "1")) == 1
    assert "noisy/tr01.wav is missing" in capsys.readouterr().err


def test_help_teaches_every_option_with_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    for stage, expected in {
        "dsm": ["--backbone", "(default: ncsnpp)", "--sde", "(default: bbed)", "--lr", "(default: 0.0001)",
                "--val-sampler", "(default: pc)", "--ema-decay", "(default: 0.999)", "--precision", "--devices"],
        "crp": ["--init", "--init-weights", "(default: ema)", "--steps", "--t-start", "--grad-step",
                "(default: 1e-05)", "--resume", "--checkpoint-every"],
        "predictive": ["--backbone", "--batch-size", "(default: 16)", "--num-eval-files", "(default: 10)"],
    }.items():
        with pytest.raises(SystemExit):
            build_parser(["train", stage, "--help"]).parse_args(["train", stage, "--help"])
        text = capsys.readouterr().out
        for item in expected:
            assert item in text, (stage, item)
        parser = build_parser(["train", stage])
        sub = parser._subparsers._group_actions[0].choices["train"]._subparsers._group_actions[0].choices[stage]
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{stage} {action.option_strings} has no help"


def test_config_file_sets_defaults_and_later_options_win(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("batch-size: 4\nsteps: 1..3\nlr: 2.0e-5\n")
    argv = ["train", "crp", "--config", str(config), "--data-dir", "d", "--run-dir", "r", "--init", "x.ckpt",
            "--lr", "3e-5"]
    args = build_parser(argv).parse_args(argv)
    assert (args.batch_size, args.steps, args.lr) == (4, "1..3", 3e-5)
    config.write_text("no-such-option: 1\n")
    with pytest.raises(SystemExit):
        build_parser(argv).parse_args(argv)


def test_training_modules_keep_lightning_out_of_the_inference_path() -> None:
    code = (
        "import sys, crpse.cli, crpse.commands.train, crpse.data, crpse.training, crpse.training.validation, "
        "crpse.training.ema, crpse.training.initialization, crpse.training.settings, crpse.training.rng\n"
        "crpse.cli.build_parser(['train', 'dsm'])\n"
        "assert not [m for m in sys.modules if m.startswith(('lightning', 'pytorch_lightning'))], 'lightning imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_example_configs_parse() -> None:
    configs = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
    assert configs
    for config in configs:
        stage = "crp" if "crp" in config.name else "predictive" if "predictive" in config.name else "dsm"
        argv = ["train", stage, "--config", str(config), "--data-dir", "d", "--run-dir", "r"]
        argv += ["--init", "x.ckpt"] if stage == "crp" else []
        args = build_parser(argv).parse_args(argv)
        assert args.batch_size >= 1 and args.lr > 0, config.name


def test_a_run_directory_in_use_is_refused(corpus: Path, tmp_path: Path, fast_args,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); "
         "fcntl.flock(f, fcntl.LOCK_EX); f.write('pid 4242'); f.flush(); print('locked', flush=True); time.sleep(60)",
         str(run_dir / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert _run(fast_args("dsm", corpus, run_dir, "--max-steps", "1")) == 1
        assert "in use by another crpse train process (pid 4242)" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    assert _run(fast_args("dsm", corpus, run_dir, "--max-steps", "1", "--val-every", "0")) == 0


def test_ctrl_c_during_training_is_handed_back_as_keyboard_interrupt(
    corpus: Path, tmp_path: Path, fast_args, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lightning turns Ctrl-C into its own graceful stop and ``sys.exit(1)``; crpse reports it as Ctrl-C (130)."""
    import lightning as L

    from crpse.cli import build_parser
    from crpse.training.runner import run_training

    class CtrlC(L.Callback):
        def on_train_batch_start(self, *args: object) -> None:
            raise KeyboardInterrupt

    argv = fast_args("dsm", corpus, tmp_path / "run", "--max-steps", "2")
    with pytest.raises(KeyboardInterrupt):
        run_training(train_config(build_parser(argv).parse_args(argv)), callbacks=[CtrlC()])
    assert not (tmp_path / "run" / "checkpoints" / "last.ckpt").exists()
