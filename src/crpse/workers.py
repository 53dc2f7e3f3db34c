"""Worker process pools for the parallel parts of crpse (``crpse evaluate --jobs``, ``crpse data synth --jobs``,
the corpus quality gate).

A :class:`WorkerPool` starts its workers with the ``spawn`` method: a forked worker inherits every lock the parent
held at that moment (a progress bar's thread writing to stderr, a logging handler ...) and can block on it forever,
and then so does the parent that waits for it. Each worker ignores Ctrl-C, which the parent handles, and builds its
own state once (``setup``, e.g. an onnxruntime session, which cannot be pickled); the functions it runs receive that
state as their first argument. When the ``with`` block ends with an error or Ctrl-C, the queued items are dropped
and the workers are stopped and reaped, not awaited, so nothing is written after the caller's clean-up and nothing
hangs.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
import weakref
from concurrent import futures
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial
from types import TracebackType
from typing import Any

#: seconds to wait for a stopped worker to exit
_STOP_TIMEOUT_S = 10.0

#: the state ``setup`` made in this worker process (set only inside workers, by :func:`_start_worker`)
_WORKER_STATE: Any = None


def _start_worker(setup: Callable[..., Any], setup_args: tuple[Any, ...]) -> None:
    global _WORKER_STATE
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if hasattr(signal, "pthread_sigmask"):  # started with Ctrl-C blocked (WorkerPool.__init__); now ignored instead
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _WORKER_STATE = setup(*setup_args)


def _with_state(function: Callable[..., Any], *args: Any) -> Any:
    return function(_WORKER_STATE, *args)


def _no_state() -> None:
    return None


class WorkerPool:
    """``jobs`` spawned worker processes, each with the state ``setup(*setup_args)`` (see the module docstring).

    Use it as a context manager; ``function`` arguments of :meth:`map` and :meth:`submit` must be picklable
    (module-level functions) and take the worker's state first.
    """

    def __init__(self, jobs: int, setup: Callable[..., Any] = _no_state, setup_args: tuple[Any, ...] = ()) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1; got {jobs}")
        self._before = set(multiprocessing.active_children())
        self._submitted: weakref.WeakSet[Future[Any]] = weakref.WeakSet()
        self._executor = ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
            initargs=(setup, setup_args),
        )
        # start every worker now, with Ctrl-C blocked: a new process inherits the signal mask, so a Ctrl-C while it
        # boots cannot interrupt it (with a traceback) before it ignores Ctrl-C; one pressed meanwhile reaches this
        # process when the mask is restored
        can_block = hasattr(signal, "pthread_sigmask")
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if can_block else None
        try:
            try:
                for _ in range(jobs):  # each task finds no idle worker, so each starts one
                    self._executor.submit(_no_state)
            finally:
                if previous is not None:
                    signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a pending Ctrl-C is raised here
        except BaseException:
            self.stop()
            raise

    def submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run ``function(state, *args)`` in a worker."""
        future = self._executor.submit(_with_state, function, *args)
        self._submitted.add(future)
        return future

    def map(self, function: Callable[..., Any], *iterables: Iterable[Any], chunksize: int = 1) -> Iterator[Any]:
        """``function(state, *items)`` for the items of ``iterables`` in parallel; results in input order."""
        return self._executor.map(partial(_with_state, function), *iterables, chunksize=chunksize)

    def stop(self) -> None:
        """Drop the queued items and stop the workers now (running items are abandoned)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        for _ in range(5):  # the executor's thread may be starting a worker meanwhile: stop that one too
            workers = [p for p in multiprocessing.active_children() if p not in self._before]
            if not workers:
                break
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.join(_STOP_TIMEOUT_S)
                if worker.is_alive():  # pragma: no cover - a worker that does not honour SIGTERM
                    worker.kill()
                    worker.join()
            time.sleep(0.05)
        # the executor marks the abandoned items failed (BrokenProcessPool) from its own thread once it sees the
        # workers gone: wait for that, so that no caller is left holding a future that never finishes
        futures.wait([future for future in list(self._submitted) if not future.done()], timeout=_STOP_TIMEOUT_S)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is None:
            self._executor.shutdown(wait=True)
        else:
            self.stop()
