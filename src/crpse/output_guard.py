"""The output guard: enhanced audio that would hurt ears or speakers is refused, never written.

A score model sampled far from the setting it was trained for (for example the bundled one-step CRP model with 30
predictor-corrector steps from t = 1) can diverge and return near full-scale noise. The guard measures every
enhanced signal while it streams past and, at the end, refuses it when

* any sample is NaN or infinite,
* more than :attr:`GuardLimits.max_clipped_fraction` of its samples exceed full scale (``|y| > 1`` for floats,
  the integer range for PCM arrays) beyond those the input itself has at full scale, or
* its loudest segment (:attr:`GuardLimits.segment_seconds`, per channel) is more than
  :attr:`GuardLimits.max_gain_db` louder than the input's loudest segment.

The defaults were chosen from measured outputs (BENCHMARKS.md section 10): legitimate outputs of the bundled model
at its own setting, on quiet, ordinary and clipping-loud inputs, stay far inside them, and every diverging setting
measured there trips them by a wide margin.

Example::

    guard = OutputGuard(sample_rate=48000, channels=2)
    for block in blocks:                 # [C, n] input blocks
        guard.add_input(block)
    for block in enhanced_blocks:        # [C, n] output blocks, same length in total
        guard.add_output(block)
    guard.check()                        # raises UnsafeOutputError
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: an input sample at or above this share of full scale counts as clipped in the input
_INPUT_FULL_SCALE_SHARE = 0.999


@dataclass(frozen=True)
class GuardLimits:
    """When an enhanced signal is refused (see the module docstring; defaults measured in BENCHMARKS.md §10).

    Attributes:
        max_clipped_fraction: share of output samples allowed above full scale, beyond the input's own share of
            full-scale samples.
        max_gain_db: how much louder (dB) the output's loudest segment may be than the input's loudest segment.
        segment_seconds: length of the segments whose RMS level is compared.
    """

    max_clipped_fraction: float = 0.005
    max_gain_db: float = 6.0
    segment_seconds: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_clipped_fraction < 1.0:
            raise ValueError(f"max_clipped_fraction must lie in [0, 1), got {self.max_clipped_fraction}")
        if self.segment_seconds <= 0:
            raise ValueError(f"segment_seconds must be positive, got {self.segment_seconds}")


@dataclass(frozen=True)
class OutputStats:
    """What the guard measured on one signal.

    Attributes:
        samples: output samples (all channels).
        non_finite: output samples that are NaN or infinite.
        clipped: output samples above full scale (0 when no full scale is known).
        input_clipped: input samples at full scale (at least 99.9 % of it).
        input_samples: input samples (all channels).
        loudest_input_db: RMS level of the input's loudest segment (dB re full scale, or re 1 without one).
        loudest_output_db: the same for the output (finite samples only).
    """

    samples: int
    non_finite: int
    clipped: int
    input_clipped: int
    input_samples: int
    loudest_input_db: float
    loudest_output_db: float

    @property
    def clipped_fraction(self) -> float:
        return self.clipped / max(self.samples, 1)

    @property
    def input_clipped_fraction(self) -> float:
        return self.input_clipped / max(self.input_samples, 1)

    @property
    def gain_db(self) -> float:
        """Loudest output segment minus loudest input segment, in dB."""
        return self.loudest_output_db - self.loudest_input_db

    def problems(self, limits: GuardLimits) -> list[str]:
        """Why the signal is unsafe under ``limits`` (an empty list: it is fine)."""
        found = []
        if self.non_finite:
            found.append(f"{self.non_finite} output samples are NaN or infinite")
        excess = self.clipped_fraction - self.input_clipped_fraction
        if excess > limits.max_clipped_fraction:
            found.append(
                f"{100 * self.clipped_fraction:.3g} % of output samples exceed full scale "
                f"(allowed: {100 * limits.max_clipped_fraction:.3g} % more than the input's "
                f"{100 * self.input_clipped_fraction:.3g} %)"
            )
        if self.gain_db > limits.max_gain_db:
            found.append(
                f"its loudest {limits.segment_seconds:g} s is {self.gain_db:+.1f} dB louder than the input's "
                f"(allowed: {limits.max_gain_db:+.1f} dB)"
            )
        return found


class UnsafeOutputError(RuntimeError):
    """An enhanced signal failed the output guard; nothing was written or returned.

    Attributes:
        stats: the measurements that failed.
        problems: one line per failed criterion.
    """

    def __init__(self, message: str, stats: OutputStats, problems: list[str]) -> None:
        super().__init__(message)
        self.stats = stats
        self.problems = problems


class _LoudestSegment:
    """Running maximum over consecutive ``segment``-sample pieces of each channel's mean square."""

    def __init__(self, channels: int, segment: int) -> None:
        self.segment = max(int(segment), 1)
        self._energy = np.zeros(channels, dtype=np.float64)
        self._count = 0
        self.loudest = 0.0

    def add(self, block: np.ndarray) -> None:
        start, length = 0, block.shape[1]
        while start < length:
            take = min(self.segment - self._count, length - start)
            part = block[:, start : start + take].astype(np.float64)
            self._energy += np.einsum("ij,ij->i", part, part)
            self._count += take
            start += take
            if self._count == self.segment:
                self._close()

    def _close(self) -> None:
        if self._count:
            self.loudest = max(self.loudest, float((self._energy / self._count).max()))
        self._energy[:] = 0.0
        self._count = 0

    def finish(self) -> float:
        """The loudest mean square (a trailing partial segment counts too)."""
        self._close()
        return self.loudest


class OutputGuard:
    """Measures an input stream and the enhanced stream of the same signal, and refuses unsafe output.

    Args:
        sample_rate: the rate of both streams.
        channels: their channel count.
        limits: the thresholds.
        full_scale: the clipping level (1.0 for float audio and files, the integer maximum for PCM arrays);
            ``None`` when the signal has no known full scale (the clipping test is then skipped).
    """

    def __init__(
        self, sample_rate: int, channels: int, limits: GuardLimits | None = None, full_scale: float | None = 1.0
    ) -> None:
        self.limits = limits or GuardLimits()
        self.full_scale = full_scale
        segment = round(self.limits.segment_seconds * sample_rate)
        self._input_level = _LoudestSegment(channels, segment)
        self._output_level = _LoudestSegment(channels, segment)
        self._samples = self._non_finite = self._clipped = 0
        self._input_samples = self._input_clipped = 0

    def add_input(self, block: np.ndarray) -> None:
        """Measure the next input block ``[C, n]``."""
        self._input_level.add(block)
        self._input_samples += block.size
        if self.full_scale is not None:
            self._input_clipped += int(np.count_nonzero(np.abs(block) >= _INPUT_FULL_SCALE_SHARE * self.full_scale))

    def add_output(self, block: np.ndarray) -> None:
        """Measure the next output block ``[C, n]``."""
        finite = np.isfinite(block)
        bad = block.size - int(np.count_nonzero(finite))
        if bad:
            self._non_finite += bad
            block = np.where(finite, block, 0.0)
        self._samples += block.size
        self._output_level.add(block)
        if self.full_scale is not None:
            self._clipped += int(np.count_nonzero(np.abs(block) > self.full_scale))

    def stats(self) -> OutputStats:
        """The measurements so far."""
        reference = self.full_scale or 1.0
        return OutputStats(
            samples=self._samples,
            non_finite=self._non_finite,
            clipped=self._clipped,
            input_clipped=self._input_clipped,
            input_samples=self._input_samples,
            loudest_input_db=_db(self._input_level.finish(), reference),
            loudest_output_db=_db(self._output_level.finish(), reference),
        )

    def check(self, label: str = "the output", intended: str | None = None) -> OutputStats:
        """Raise :class:`UnsafeOutputError` when the output is unsafe; return the measurements otherwise.

        Args:
            label: how to name the signal in the message (a file name).
            intended: the model's own sampler setting, named in the message as the fix.
        """
        stats = self.stats()
        problems = stats.problems(self.limits)
        if problems:
            message = f"{label}: unsafe enhanced audio refused: {'; '.join(problems)}"
            if intended:
                message += f"; this model is meant for the {intended}"
            raise UnsafeOutputError(message, stats, problems)
        return stats


def _db(mean_square: float, reference: float) -> float:
    if mean_square <= 0.0:
        return -math.inf
    return 10.0 * math.log10(mean_square / reference**2)
