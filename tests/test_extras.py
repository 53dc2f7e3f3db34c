"""A command whose optional extra is missing says so in one line naming ``pip install 'crpse[...]'``, exits 1."""

from __future__ import annotations

import importlib.abc
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from crpse.cli import main
from crpse.extras import EXTRAS, MissingExtraError, extra_of_module, require_extra

SRC = Path(__file__).resolve().parents[1] / "src"


class _Uninstalled(importlib.abc.MetaPathFinder):
    """Makes the named top-level modules unimportable, as if their packages were not installed."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


@pytest.fixture
def uninstall(monkeypatch: pytest.MonkeyPatch):
    def hide(*names: str) -> None:
        for module in list(sys.modules):
            if module.partition(".")[0] in names:
                monkeypatch.delitem(sys.modules, module)
        monkeypatch.setattr(sys, "meta_path", [_Uninstalled(set(names)), *sys.meta_path])

    return hide


def _pairs(root: Path, count: int = 2) -> list[str]:
    rng = np.random.default_rng(0)
    for kind in ("clean", "enhanced", "noisy"):
        (root / kind).mkdir(parents=True)
    for index in range(count):
        clean = 0.1 * rng.standard_normal(16000)
        sf.write(root / "clean" / f"f{index}.wav", clean, 16000)
        sf.write(root / "noisy" / f"f{index}.wav", clean + 0.05 * rng.standard_normal(16000), 16000)
        sf.write(root / "enhanced" / f"f{index}.wav", clean + 0.01 * rng.standard_normal(16000), 16000)
    return ["evaluate", "--clean", str(root / "clean"), "--enhanced", str(root / "enhanced"),
            "--noisy", str(root / "noisy"), "-o", str(root / "out" / "r.csv"), "--no-dnsmos"]


def test_the_message_names_the_extra_and_the_pip_command() -> None:
    error = MissingExtraError("crpse evaluate", "eval", ["pesq", "pystoi"])
    assert str(error) == (
        "crpse evaluate needs the 'eval' extra (missing: pesq, pystoi); install it with: pip install 'crpse[eval]'"
    )
    assert extra_of_module("lightning.pytorch.loggers") == ("train", "lightning")
    assert extra_of_module("G722") == ("data", "g722") and extra_of_module("numpy") is None
    for extra in EXTRAS:
        require_extra(f"crpse {extra}", extra)  # the dev install has every extra


@pytest.mark.parametrize(
    ("argv", "hidden", "extra", "missing"),
    [
        (None, ("pesq",), "eval", "pesq"),
        (["train", "dsm", "--data-dir", "d", "--run-dir", "r"], ("lightning",), "train", "lightning"),
        (["data", "synth", "out"], ("G722",), "data", "g722"),
    ],
    ids=["evaluate", "train", "data"],
)
def test_missing_extra_is_one_line_and_exit_1(
    argv: list[str] | None, hidden: tuple[str, ...], extra: str, missing: str, uninstall, tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    argv = argv or _pairs(tmp_path)
    uninstall(*hidden)
    assert main(argv) == 1
    out, err = capfd.readouterr()
    command = "crpse " + " ".join(argv[:2] if argv[0] == "data" else argv[:1])
    assert err == f"crpse: error: {command} needs the '{extra}' extra (missing: {missing}); " \
                  f"install it with: pip install 'crpse[{extra}]'\n"
    assert out == "" and not (tmp_path / "out").exists() and not (tmp_path / "r").exists()


def test_training_needs_the_metrics_only_when_it_scores_validation_files(
    uninstall, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # e.g. a GPU machine without a pesq wheel: --num-eval-files 0 trains on the validation loss alone
    uninstall("pesq")
    argv = ["train", "dsm", "--data-dir", str(tmp_path / "none"), "--run-dir", str(tmp_path / "r")]
    assert main([*argv, "--num-eval-files", "2"]) == 1
    assert capfd.readouterr().err == (
        "crpse: error: crpse train needs the 'train' extra (missing: pesq); install it with: pip install 'crpse[train]'\n"
    )
    assert main([*argv, "--num-eval-files", "0"]) == 1  # past the check: the missing corpus is what stops it
    err = capfd.readouterr().err
    assert "extra" not in err and str(tmp_path / "none") in err


def test_a_module_missing_in_a_worker_process_is_reported_the_same_way(tmp_path: Path) -> None:
    # a pesq that fails to import in every process (workers too), while the up-front check still finds it
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "pesq.py").write_text("raise ModuleNotFoundError(\"No module named 'pesq'\", name='pesq')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), str(SRC)])}
    argv = [*_pairs(tmp_path / "data", count=4), "--jobs", "2"]
    done = subprocess.run([sys.executable, "-m", "crpse", *argv], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr == (
        "crpse: error: crpse evaluate needs the 'eval' extra (missing: pesq); install it with: pip install 'crpse[eval]'\n"
    )
