"""WorkerPool: spawned workers with their own state, ignoring Ctrl-C, stopped (not awaited) on an error."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from crpse.workers import WorkerPool


def _state(offset: int) -> int:
    return offset


def _add(state: int, value: int) -> int:
    return state + value


def _sleep(state: None, seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _sigint_ignored(state: None) -> bool:
    return signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_items_run_with_the_workers_state_in_order() -> None:
    with WorkerPool(2, _state, (100,)) as pool:
        assert list(pool.map(_add, range(6))) == [100, 101, 102, 103, 104, 105]
        assert pool.submit(_add, 5).result() == 105
        assert pool.submit(_sigint_ignored).result()


def test_an_error_stops_the_workers_instead_of_awaiting_them() -> None:
    before = set(multiprocessing.active_children())
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), WorkerPool(2) as pool:
        running = [pool.submit(_sleep, 60.0) for _ in range(4)]
        time.sleep(1.0)
        raise KeyboardInterrupt
    assert time.monotonic() - started < 30  # the 60 s items were abandoned
    assert not [p for p in multiprocessing.active_children() if p not in before]
    assert all(future.done() for future in running)
