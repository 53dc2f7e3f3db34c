"""Overlapping windows and cross-fading for enhancing long signals in bounded memory.

A signal of ``N`` samples is covered by windows ``k = 0 .. K-1`` that start at ``k * hop`` and span ``window``
samples (the last one may be shorter, but is always longer than ``overlap``); consecutive windows share
``overlap = window - hop`` samples. Processed windows are cross-faded with complementary raised-cosine ramps,
``fade_in(i) = sin^2(pi/2 * (i + 0.5) / overlap)`` and ``fade_out = 1 - fade_in``, so the weights of every sample
sum to one: windows that agree on their overlap reconstruct the signal exactly.

:class:`StreamingWindower` cuts a stream of ``[C, n]`` blocks into windows and :class:`OverlapAdd` stitches the
processed windows back into a stream; neither ever holds more than about one window of samples.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

#: default window and overlap for enhancing long signals (seconds; the window is rounded up to whole network blocks)
DEFAULT_WINDOW = 6.0
DEFAULT_OVERLAP = 1.0
#: default number of single-channel windows per network call. 1 on purpose: on CPU, 4 windows per call cost the same
#: CPU time per window as 1, but twice the peak memory (1.1 GiB instead of 0.55 GiB for the bundled model,
#: BENCHMARKS.md section 8); on a GPU, larger batches pay off (``--batch-size``)
DEFAULT_BATCH_SIZE = 1


@dataclass(frozen=True)
class WindowPlan:
    """How a signal is cut into overlapping windows (all sizes in samples).

    Attributes:
        window: samples per window; ``None`` processes the whole signal as one window.
        overlap: samples shared by consecutive windows (``0 <= overlap <= window / 2``).
    """

    window: int | None
    overlap: int = 0

    def __post_init__(self) -> None:
        if self.window is None:
            return
        if self.window < 1:
            raise ValueError(f"window must be at least 1 sample, got {self.window}")
        if self.overlap < 0 or 2 * self.overlap > self.window:
            raise ValueError(
                f"overlap must be between 0 and half the window ({self.window // 2} samples), got {self.overlap}; "
                "use a longer window or a shorter overlap"
            )

    @property
    def hop(self) -> int | None:
        """Distance between window starts (``None`` for a single whole-signal window)."""
        return None if self.window is None else self.window - self.overlap

    def num_windows(self, length: int) -> int:
        """Number of windows covering ``length`` samples (0 for an empty signal)."""
        if length <= 0:
            return 0
        if self.window is None or length <= self.window:
            return 1
        assert self.hop is not None
        return math.ceil((length - self.overlap) / self.hop)

    def bounds(self, index: int, length: int) -> tuple[int, int]:
        """``(start, stop)`` sample range of window ``index`` of a ``length``-sample signal."""
        if self.window is None:
            return 0, length
        assert self.hop is not None
        start = index * self.hop
        return start, min(length, start + self.window)

    def weights(self, index: int, size: int, last: bool) -> np.ndarray:
        """Cross-fade weights ``[size]`` (float32) of window ``index``, which is ``size`` samples long.

        The first window has no fade-in and the last no fade-out.
        """
        weights = np.ones(size, dtype=np.float32)
        if self.window is None or self.overlap == 0:
            return weights
        ramp = fade_in(self.overlap)
        if index > 0:
            weights[: self.overlap] = ramp
        if not last:
            weights[size - self.overlap :] = 1.0 - ramp
        return weights


def fade_in(overlap: int) -> np.ndarray:
    """Raised-cosine fade-in ``[overlap]`` (float32); ``1 - fade_in(overlap)`` is its complementary fade-out."""
    position = (np.arange(overlap, dtype=np.float64) + 0.5) / overlap
    return (np.sin(0.5 * np.pi * position) ** 2).astype(np.float32)


def plan_windows(
    sample_rate: int,
    window_seconds: float | None,
    overlap_seconds: float,
    hop_length: int = 1,
    frame_multiple: int = 1,
) -> WindowPlan:
    """Turn window/overlap durations into a :class:`WindowPlan` at ``sample_rate``.

    Sizes are rounded to whole STFT hops (``hop_length``) so that window starts fall on STFT frame boundaries,
    and the window is lengthened to the next size whose STFT frame count (``1 + window // hop_length``) is a
    multiple of ``frame_multiple`` (the U-Net pads to such a multiple anyway, so this costs nothing).

    Args:
        sample_rate: rate of the signal to be cut (the model's rate).
        window_seconds: window duration; ``None`` or ``0`` for no windowing (whole signal at once).
        overlap_seconds: overlap duration (at most half the window).
        hop_length: the STFT hop in samples.
        frame_multiple: the network's frame multiple (64 for NCSN++).

    Raises:
        ValueError: negative durations or an overlap longer than half the window.
    """
    if window_seconds is None or window_seconds == 0:
        return WindowPlan(window=None)
    if window_seconds < 0 or overlap_seconds < 0:
        raise ValueError(f"window and overlap must be non-negative, got {window_seconds} s and {overlap_seconds} s")
    frames = max(1, round(window_seconds * sample_rate / hop_length)) + 1
    frames = math.ceil(frames / frame_multiple) * frame_multiple
    window = (frames - 1) * hop_length if frames > 1 else hop_length
    overlap = round(overlap_seconds * sample_rate / hop_length) * hop_length
    if 2 * overlap > window:
        raise ValueError(
            f"--overlap {overlap_seconds} s is more than half of --window {window_seconds} s "
            f"({window / sample_rate:.3f} s after rounding to STFT frames); use a longer window or a shorter overlap"
        )
    return WindowPlan(window=window, overlap=overlap)


@dataclass(frozen=True)
class Window:
    """One window cut from a stream.

    Attributes:
        index: window number k.
        start: first sample of the window in the whole signal.
        data: samples ``[C, n]`` (float32).
        last: whether this is the final window of the signal.
    """

    index: int
    start: int
    data: np.ndarray
    last: bool


class StreamingWindower:
    """Cut a stream of ``[C, n]`` blocks into the windows of a :class:`WindowPlan`.

    Feed blocks with :meth:`push` (returns the windows that became complete) and call :meth:`finish` at the end
    of the stream (returns the remaining windows, the final one flagged ``last``). A window is released only
    once a sample beyond it has arrived, so that whether it is the last one is known.
    """

    def __init__(self, plan: WindowPlan, channels: int) -> None:
        self.plan = plan
        self.channels = channels
        self._buffer = np.zeros((channels, 0), dtype=np.float32)
        self._buffer_start = 0  # absolute index of _buffer[:, 0]
        self._next = 0  # index of the next window to release
        self._finished = False

    @property
    def received(self) -> int:
        """Samples received so far."""
        return self._buffer_start + self._buffer.shape[1]

    def push(self, block: np.ndarray) -> list[Window]:
        """Append ``block`` (``[C, n]``) and return the windows completed by it."""
        if self._finished:
            raise RuntimeError("StreamingWindower.push called after finish()")
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"expected a block [{self.channels}, n], got shape {block.shape}")
        if block.shape[1]:
            self._buffer = np.concatenate([self._buffer, block.astype(np.float32, copy=False)], axis=1)
        windows: list[Window] = []
        if self.plan.window is None:
            return windows
        assert self.plan.hop is not None
        while True:
            start = self._next * self.plan.hop
            if self.received <= start + self.plan.window:
                break  # incomplete, or possibly the last window: wait for more samples
            windows.append(self._release(start, start + self.plan.window, last=False))
        return windows

    def finish(self) -> list[Window]:
        """End of stream: return the remaining windows (the last one flagged ``last``)."""
        self._finished = True
        length = self.received
        windows: list[Window] = []
        while self._next < self.plan.num_windows(length):
            start, stop = self.plan.bounds(self._next, length)
            windows.append(self._release(start, stop, last=self._next == self.plan.num_windows(length) - 1))
        return windows

    def _release(self, start: int, stop: int, last: bool) -> Window:
        offset = start - self._buffer_start
        data = self._buffer[:, offset : offset + (stop - start)].copy()
        window = Window(index=self._next, start=start, data=data, last=last)
        self._next += 1
        if self.plan.hop is not None:
            keep_from = self._next * self.plan.hop - self._buffer_start
            if keep_from > 0:
                self._buffer = self._buffer[:, keep_from:]
                self._buffer_start += keep_from
        return window


class OverlapAdd:
    """Cross-fade processed windows, given in index order, back into a stream of finished samples.

    :meth:`add` returns the samples that no later window can change any more, ``[C, m]``; after the last window
    everything has been returned. Only the pending overlap (``[C, overlap]``) is held between calls.
    """

    def __init__(self, plan: WindowPlan, channels: int) -> None:
        self.plan = plan
        self.channels = channels
        self._pending = np.zeros((channels, 0), dtype=np.float32)
        self._next = 0
        self.emitted = 0

    def add(self, index: int, data: np.ndarray, last: bool) -> np.ndarray:
        """Add processed window ``index`` (``data [C, n]``, the window's own length) and return finished samples."""
        if index != self._next:
            raise ValueError(f"windows must be added in order: expected window {self._next}, got {index}")
        self._next += 1
        size = data.shape[1]
        out = data.astype(np.float32, copy=True) * self.plan.weights(index, size, last)
        overlap = self._pending.shape[1]
        if overlap:
            out[:, :overlap] += self._pending
        if last or self.plan.hop is None:
            self._pending = np.zeros((self.channels, 0), dtype=np.float32)
            finished = out
        else:
            finished = out[:, : self.plan.hop]
            self._pending = out[:, self.plan.hop :]
        self.emitted += finished.shape[1]
        return finished


def split_windows(audio: np.ndarray, plan: WindowPlan) -> list[Window]:
    """All windows of ``audio [C, L]`` at once (a convenience over :class:`StreamingWindower`)."""
    windower = StreamingWindower(plan, audio.shape[0])
    return windower.push(audio) + windower.finish()


def overlap_add(windows: Iterable[Window], plan: WindowPlan, channels: int) -> np.ndarray:
    """Cross-fade processed windows (in order) into one signal ``[C, L]``."""
    stitcher = OverlapAdd(plan, channels)
    parts = [stitcher.add(w.index, w.data, w.last) for w in windows]
    return np.concatenate(parts, axis=1) if parts else np.zeros((channels, 0), dtype=np.float32)
