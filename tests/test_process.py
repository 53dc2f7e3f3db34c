"""The CLI's process-wide CPU settings (crpse.commands.process), checked in fresh interpreters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")
_PROBE = (
    "import json, os, sys; from crpse.commands.process import prepare_cpu_inference_process as p; "
    "applied = p(); print(json.dumps({'applied': applied, 'omp': os.environ.get('OMP_WAIT_POLICY'), "
    "'spin': os.environ.get('GOMP_SPINCOUNT'), 'torch': 'torch' in sys.modules}))"
)


def _probe(env_extra: dict[str, str], preload_torch: bool = False) -> dict:
    skip = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "GLIBC_TUNABLES")
    env = {k: v for k, v in os.environ.items() if k not in skip and not k.startswith("MALLOC_")}
    env.update(env_extra, PYTHONPATH=SRC)
    code = ("import torch; " if preload_torch else "") + _PROBE
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_sets_passive_wait_policy_before_torch_loads() -> None:
    result = _probe({})
    assert result["omp"] == "PASSIVE" and not result["torch"]
    assert result["applied"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert result["spin"] == result["applied"]["GOMP_SPINCOUNT"] == "10000"


def test_short_spin_only_when_the_user_left_threads_alone() -> None:
    assert _probe({"GOMP_SPINCOUNT": "5"})["spin"] == "5"
    user_policy = _probe({"OMP_WAIT_POLICY": "PASSIVE"})
    assert user_policy["spin"] is None and "GOMP_SPINCOUNT" not in user_policy["applied"]


def test_keeps_the_users_wait_policy_and_does_nothing_after_torch() -> None:
    assert _probe({"OMP_WAIT_POLICY": "ACTIVE"})["omp"] == "ACTIVE"
    late = _probe({}, preload_torch=True)
    assert late["omp"] is None and "OMP_WAIT_POLICY" not in late["applied"]
    assert late["spin"] is None and "GOMP_SPINCOUNT" not in late["applied"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt tuning is for glibc on Linux")
def test_malloc_thresholds_on_glibc_unless_the_user_tunes_malloc() -> None:
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert _probe({})["applied"]["malloc"] == "mmap/trim threshold 256 MiB"
    assert "malloc" not in _probe({"MALLOC_ARENA_MAX": "2"})["applied"]


def test_start_up_pauses_the_collector_then_freezes_once_and_resumes() -> None:
    code = (
        "import gc, json; from crpse.commands.process import start_up\n"
        "seen = {}\n"
        "with start_up():\n"
        "    seen['paused'] = not gc.isenabled(); kept = [[i] for i in range(1000)]\n"
        "seen['resumed'] = gc.isenabled(); seen['frozen'] = gc.get_freeze_count()\n"
        "with start_up():\n"
        "    more = [[i] for i in range(1000)]\n"
        "seen['frozen_again'] = gc.get_freeze_count()\n"
        "gc.disable()\n"
        "with start_up():\n"
        "    pass\n"
        "seen['still_disabled'] = not gc.isenabled()\n"
        "print(json.dumps(seen))"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    seen = json.loads(out)
    assert seen["paused"] and seen["resumed"] and seen["still_disabled"]
    assert seen["frozen"] >= 2000 and seen["frozen_again"] == seen["frozen"]
