"""The test command of README.md is the whole of CI, and its system-package step degrades to named skips."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from crpse.corpus.sources import SOURCE_SPECS
from tests.test_corpus import CI_SOURCES

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "system-packages.sh"


def readme_test_command() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- \.ci/run executes the next code block verbatim -->\n```bash\n(.*?)```", text, re.S)
    assert block is not None
    return block.group(1).strip()


def test_ci_runs_only_the_readme_command() -> None:
    command = readme_test_command()
    assert command.startswith("sh tests/system-packages.sh && ") and command.endswith("python -m pytest -q")
    ci = (ROOT / ".ci" / "run").read_text()
    code = "\n".join(line for line in ci.splitlines() if not line.lstrip().startswith("#"))
    for step in ("apt-get", "pip ", "venv", "pytest"):
        assert step not in code, f".ci/run does {step!r} itself; README's command must do it"


def test_script_installs_every_package_the_corpus_tests_read() -> None:
    listed = re.search(r'^PACKAGES="([^"]*)"', SCRIPT.read_text(), re.M)
    assert listed is not None
    needed = {package for name in CI_SOURCES for package in SOURCE_SPECS[name].apt}
    assert needed == {"espeak-ng", "asterisk-core-sounds-en-g722", "asterisk-core-sounds-fr-g722"}
    assert needed <= set(listed.group(1).split())


def test_script_without_root_names_the_missing_packages_and_succeeds(tmp_path: Path) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name, body in (("id", "echo 1000"), ("dpkg-query", "exit 1")):  # a non-root user; nothing installed
        (fake_bin / name).write_text(f"#!/bin/sh\n{body}\n")
        (fake_bin / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"}
    done = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == ""
    assert done.stderr.startswith(
        "note: system packages not installed: espeak-ng asterisk-core-sounds-en-g722 asterisk-core-sounds-fr-g722"
    )
    assert "will be skipped" in done.stderr
