"""The crpse command line: every sub-command teaches its options; the dispatcher imports only what it runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

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
