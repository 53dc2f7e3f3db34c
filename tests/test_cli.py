"""The crpse command line: every sub-command teaches its options; the dispatcher imports only what it runs."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from crpse.cli import COMMANDS, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: crpse {command}")
    assert len(out.splitlines()) > 5


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "enhance" in capsys.readouterr().out


def test_version_and_lazy_imports() -> None:
    code = (
        "import sys; from crpse.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'lightning', 'matplotlib', 'onnxruntime') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "lightning" not in result.stdout and "matplotlib" not in result.stdout
    version = subprocess.run([sys.executable, "-m", "crpse", "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("crpse ")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_ctrl_c_is_one_line_and_status_130(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    def register_without_arguments(subparsers: Any) -> argparse.ArgumentParser:
        return subparsers.add_parser(command)

    module = importlib.import_module(COMMANDS[command][0])
    monkeypatch.setattr(module, "register", register_without_arguments)  # any command, whatever its options
    monkeypatch.setattr(module, "run", interrupted)
    assert main([command]) == 130
    assert capsys.readouterr().err == "crpse: interrupted\n"


def _interrupt(argv: list[str], ready: Callable[[subprocess.Popen], bool], timeout: float = 120.0) -> tuple[int, str]:
    """Run ``crpse argv`` in its own process group, press Ctrl-C (SIGINT to the group) once ``ready``."""
    process = subprocess.Popen([sys.executable, "-m", "crpse", *argv], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not ready(process):
            assert process.poll() is None, f"finished before it could be interrupted: {process.communicate()}"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=timeout)
        return process.returncode, err
    finally:  # a failed wait must not leave the command (and its workers) running after the test
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def _largest_file(folder: Path, pattern: str) -> int:
    sizes = [0]
    for path in folder.glob(pattern):
        with contextlib.suppress(OSError):  # renamed or removed meanwhile
            sizes.append(path.stat().st_size)
    return max(sizes)


def _children(process: subprocess.Popen) -> list[str]:
    path = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    return path.read_text().split() if path.exists() else []


def _ignores_sigint(pid: str) -> bool:
    """Whether process ``pid`` has set SIGINT to ignored (a pool worker after its initializer ran)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigIgn:"):
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    return False


def _workers_ready(process: subprocess.Popen, count: int = 2) -> bool:
    """At least ``count`` worker processes exist and all of them ignore Ctrl-C (their initializer has run)."""
    children = _children(process)
    return len(children) >= count and all(_ignores_sigint(pid) for pid in children)


def test_ctrl_c_during_enhance_leaves_no_partial_file(tiny_ckpt: Path, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    noise = 0.1 * np.random.default_rng(0).standard_normal(16000 * 40)
    for name in ("a", "b"):
        sf.write(tmp_path / "in" / f"{name}.wav", noise, 16000)
    out = tmp_path / "out"
    status, err = _interrupt(
        ["enhance", str(tmp_path / "in"), "-o", str(out), "--model", str(tiny_ckpt), "--steps", "5", "--window", "2",
         "--no-output-guard"],  # a random model: whatever it returns is written
        ready=lambda _: _largest_file(out, ".*") > 4096,  # the first file is half written (under its temporary name)
    )
    assert status == 130
    assert err.splitlines()[-1] == "crpse: interrupted" and "Traceback" not in err
    assert [p.name for p in out.iterdir()] == []  # no temporary file, and the file was not finished


def test_ctrl_c_during_evaluate_stops_the_workers_quietly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for kind in ("clean", "enhanced"):
        (tmp_path / kind).mkdir()
    for index in range(40):
        clean = 0.1 * rng.standard_normal(16000 * 4)
        sf.write(tmp_path / "clean" / f"f{index:02d}.wav", clean, 16000)
        sf.write(tmp_path / "enhanced" / f"f{index:02d}.wav", clean + 0.01 * rng.standard_normal(clean.size), 16000)
    status, err = _interrupt(
        ["evaluate", "--clean", str(tmp_path / "clean"), "--enhanced", str(tmp_path / "enhanced"),
         "-o", str(tmp_path / "res" / "r.csv"), "--no-dnsmos", "--jobs", "2"],
        ready=_workers_ready,
    )
    assert status == 130
    assert err == "crpse: interrupted\n"
    assert not (tmp_path / "res").exists()


@pytest.mark.needs_sources("asterisk-en", "asterisk-fr", "espeak-ng")
def test_ctrl_c_during_data_synth_leaves_no_partial_corpus(tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    status, err = _interrupt(
        ["data", "synth", str(out), "--hours", "0.2", "--jobs", "2", "--quiet",
         "--sources", "asterisk-en,asterisk-fr,espeak-ng,synthetic"],  # not the slow-to-gate community packages
        ready=lambda _: any((out / "train" / "noisy").glob("*.wav")),  # files are being written
    )
    assert status == 130
    assert err.splitlines()[-1] == "crpse: interrupted" and "Traceback" not in err  # (plus source warnings)
    assert not out.exists()


def test_console_exits_with_mains_status_and_freezes_the_collector_only_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    from crpse import cli

    before = gc.get_freeze_count()
    assert cli.main(["models"]) == 0 and gc.get_freeze_count() == before
    frozen: list[bool] = []
    monkeypatch.setattr(cli.gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setattr(cli, "main", lambda: 3)
    with pytest.raises(SystemExit) as exit_info:
        cli.console()
    assert exit_info.value.code == 3 and frozen == [True]
    bad = subprocess.run([sys.executable, "-m", "crpse", "enhance", "/no/such/file.wav", "-o", "/tmp/x"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "/no/such/file.wav" in bad.stderr
