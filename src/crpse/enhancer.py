"""Enhance real-world audio: any sample rate, any channel count, any length, in bounded memory.

Two entry points::

    clean = crpse.enhance(noisy, sample_rate)            # numpy or torch, [L] or [C, L]; same type/shape back
    enhancer = crpse.Enhancer("model.ckpt", steps=1)     # holds the model for repeated calls
    clean = enhancer(noisy, sample_rate)
    enhancer.enhance_file("in.flac", "out.flac")        # streams the file; keeps rate, channels and subtype

The pipeline (one code path for arrays and files): the signal is resampled to the model's rate with soxr (VHQ),
divided by its peak ``max |y|`` over the whole signal (the reference's inference normalisation), cut into
overlapping windows (:mod:`crpse.chunking`), each channel of each window is enhanced as one batch item
(``to_spec`` -> ``pad_frames`` -> :func:`crpse.sampling.sample` -> crop -> ``to_wave``, on the chosen backend:
:mod:`crpse.backends`), the windows are cross-faded,
multiplied back by the peak and resampled to the input rate. For input above the model's rate the input's band
above the model's Nyquist frequency is added back, weighted by the gain the model applied just below it
(:mod:`crpse.upper_band`; ``upper_band="drop"`` leaves it out). Finally the output guard
(:mod:`crpse.output_guard`) refuses output that is non-finite, clips or is far louder than the input. Only about
``batch_size`` windows are in memory at a time, so peak memory does not grow with the length of the file.

Determinism: the sampler noise is a function of ``(seed, channel, draw, STFT frame, frequency bin)`` only (a
counter-based generator, :func:`positional_noise`), not of the batch or the windowing, so

* the same seed gives the same output whatever ``batch_size`` is (up to floating-point differences between batch
  sizes in the convolution kernels: bit-identical output needs the same batch size and device), and
* windowed and whole-signal enhancement use the same noise at every time position; they differ only where the
  network sees different context (the window edges, which are cross-faded).

The default seed is 0, so repeated runs give identical files; ``seed=None`` draws a fresh random seed.

Only the windows -> windows step depends on the backend (:mod:`crpse.backends.inference`); everything else here is
numpy. With a graph backend (``onnxruntime``, ``openvino``) and a ready graph, enhancing never imports torch.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from crpse.audio import (
    AUDIO_SUFFIXES,
    BLOCK_FRAMES,
    AtomicAudioWriter,
    StreamResampler,
    iter_blocks,
    output_format,
    scan_audio,
)
from crpse.chunking import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_OVERLAP,
    DEFAULT_WINDOW,
    OverlapAdd,
    StreamingWindower,
    Window,
    plan_windows,
)
from crpse.model_info import ModelInfo
from crpse.output_guard import GuardLimits, OutputGuard
from crpse.sampler_spec import DEFAULT_SEED, SamplerRequest, SamplerSpec
from crpse.upper_band import DEFAULT_UPPER_BAND, UpperBand, UpperBandMixer, band_gain, validate_upper_band

if TYPE_CHECKING:
    import torch

    from crpse.score_model import Model

logger = logging.getLogger(__name__)

#: inputs whose peak is below this are treated as silence (the normalisation would divide by ~0)
SILENCE_PEAK = 1e-8

ArrayT = TypeVar("ArrayT", np.ndarray, "torch.Tensor")
Progress = Callable[[int], Any]


def _is_torch_tensor(value: Any) -> bool:
    """Whether ``value`` is a torch tensor, without importing torch (if torch is not loaded, it cannot be one)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _is_torch_module(value: Any) -> bool:
    """Whether ``value`` is a torch module (a model object), without importing torch."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.nn.Module)


# ---------------------------------------------------------------------------------------------------------------
# counter-based noise
# ---------------------------------------------------------------------------------------------------------------
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser on ``uint64`` arrays (wrapping arithmetic): a fast, well-mixed hash."""
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def positional_noise(seed: int, channel: int, draw: int, first_frame: int, bins: int, frames: int) -> np.ndarray:
    """Complex standard normal noise ``[bins, frames]`` (``E|z|^2 = 1``) that depends only on its arguments.

    Frame ``j`` of the result is the noise of absolute STFT frame ``first_frame + j`` of the signal, so two windows
    that cover the same frame get the same noise there, whatever the windowing or batching.

    Args:
        seed: the user's seed.
        channel: channel index.
        draw: which noise tensor of the sampler (0: prior, 1, 2, ...: per-step draws).
        first_frame: absolute STFT frame index of the first column.
        bins: number of frequency bins F.
        frames: number of frames T.

    Returns:
        ``complex64 [bins, frames]``.
    """
    stream = _splitmix64(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
    stream = _splitmix64(stream ^ np.uint64(channel & 0xFFFFFFFF))
    stream = _splitmix64(stream ^ np.uint64(draw & 0xFFFFFFFF))
    frame = np.arange(first_frame, first_frame + frames, dtype=np.uint64)
    cell = frame[None, :] * np.uint64(bins) + np.arange(bins, dtype=np.uint64)[:, None]  # [F, T]
    with np.errstate(over="ignore"):
        counter = cell * np.uint64(2) + stream[0]
    bits_a = _splitmix64(counter)
    bits_b = _splitmix64(counter + np.uint64(1))
    # uniforms in (0, 1) from the top 53 bits, then Box-Muller
    u1 = ((bits_a >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    u2 = (bits_b >> np.uint64(11)).astype(np.float64) * 2.0**-53
    radius = np.sqrt(-np.log(u1))  # sqrt(-2 ln u1) / sqrt(2): variance 1/2 per part
    angle = 2.0 * np.pi * u2
    return (radius * np.cos(angle) + 1j * (radius * np.sin(angle))).astype(np.complex64)


# ---------------------------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileResult:
    """What :meth:`Enhancer.enhance_file` did.

    Attributes:
        input: the input file.
        output: the file written.
        sample_rate: rate of input and output.
        channels: channel count of input and output.
        frames: frames per channel of input and output.
        windows: windows per channel that were enhanced.
        clipped: output samples clipped to [-1, 1] (integer and lossy subtypes only).
        silent: the input was silent and silence was written.
    """

    input: Path
    output: Path
    sample_rate: int
    channels: int
    frames: int
    windows: int
    clipped: int
    silent: bool


# ---------------------------------------------------------------------------------------------------------------
# the enhancer
# ---------------------------------------------------------------------------------------------------------------
class Enhancer:
    """A loaded model plus sampler and windowing settings, for enhancing many signals or files.

    Args:
        model: ``None`` (the bundled default model), a bundled model's name (``"default"``, see ``crpse models``),
            a checkpoint path (crpse or reference sgmse), or a model.
        sampler: ``reverse`` (CRP), ``pc`` or ``ode``; ``None``: the model's own (``model.inference``).
        steps: reverse steps N; ``None``: the model's setting for its own sampler.
        t_start: reverse starting time; ``None``: the model's setting (or the SDE's ``t_max`` for another sampler).
        seed: noise seed; the same seed gives the same output. ``None``: a fresh random seed per instance.
        device: ``"cpu"``, ``"cuda"``, a ``torch.device``, or ``None``/``"auto"`` (CUDA if available; for a model
            object, where it already is).
        window: window length in seconds for long signals (rounded up to whole 64-frame network blocks);
            ``None`` or ``0`` enhances each signal in one piece (memory then grows with length).
        overlap: overlap of consecutive windows in seconds (at most half the window), cross-faded.
        batch_size: single-channel windows per network call.
        backend: how the network runs (:mod:`crpse.backends`): ``auto`` (the fastest faithful path), ``eager``,
            ``onnxruntime`` (the sampler as a cached ONNX graph; a cached graph runs without importing torch),
            ``openvino`` (the same graph run by OpenVINO) or ``compile`` (eager with the network compiled by
            ``torch.compile``; CUDA graphs on a GPU).
        precision: ``fp32``, ``bf16`` (hardware with native bf16 only), ``fp16`` (CUDA only) or ``auto`` (fp32
            unless bf16's measured quality cost is below the limit). An eager model is put in the backend's memory
            layout in place (and, for ``compile``, its network compiled in place).
        cache_dir: where exported graphs are kept (default: :func:`crpse.backends.ort.default_cache_dir`).
        output_limits: when enhanced audio is refused as unsafe (non-finite, clipping, far louder than the input;
            :class:`crpse.output_guard.UnsafeOutputError`); ``None`` turns the guard off.
        upper_band: for input above the model's rate, ``keep`` adds the input's band above the model's Nyquist
            frequency back, weighted by the gain the model applied just below it (:mod:`crpse.upper_band`);
            ``drop`` leaves nothing above it.
        **sampler_options: ``corrector_steps`` and ``snr`` (``pc``), ``ode_method`` or ``method`` (``ode``:
            ``euler``/``heun``), ``schedule`` (see :mod:`crpse.sampler_spec`).

    A sampler setting other than the model's own (``model.inference``) gets a
    :class:`crpse.sampler_setting.SamplerSettingWarning` naming the model's setting.

    Raises:
        ValueError: invalid settings (the message names the fix).
        FileNotFoundError: the checkpoint (or the bundled default) does not exist.
    """

    def __init__(
        self,
        model: Model | str | os.PathLike[str] | None = None,
        *,
        sampler: str | None = None,
        steps: int | None = None,
        t_start: float | None = None,
        seed: int | None = DEFAULT_SEED,
        device: str | torch.device | None = None,
        window: float | None = DEFAULT_WINDOW,
        overlap: float = DEFAULT_OVERLAP,
        batch_size: int = DEFAULT_BATCH_SIZE,
        backend: str = "auto",
        precision: str = "auto",
        output_limits: GuardLimits | None = GuardLimits(),
        upper_band: UpperBand = DEFAULT_UPPER_BAND,
        cache_dir: str | os.PathLike[str] | None = None,
        **sampler_options: Any,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        request = SamplerRequest.from_options(sampler, steps, t_start, **sampler_options)
        from crpse.backends.inference import open_inference

        self._inference = open_inference(model, request, backend, precision, device, cache_dir)
        self._model: Model | None = None
        if self._inference.notice:
            logger.warning("%s", self._inference.notice)
        #: the model's inference facts (rate, transform, frame multiple, own sampler setting)
        self.info: ModelInfo = self._inference.info
        self.backend = self._inference.backend
        self.device = self._inference.device
        self.seed = secrets.randbits(63) if seed is None else int(seed)
        self.batch_size = int(batch_size)
        self.output_limits = output_limits
        self.upper_band = validate_upper_band(upper_band)
        info = self.info
        self.plan = plan_windows(info.sample_rate, window, overlap, info.transform.hop_length, info.frame_multiple)
        #: the resolved sampler setting (``None`` for a predictive model), resolved once
        self.spec: SamplerSpec | None = self._inference.spec
        if self.spec is not None:
            from crpse.sampler_setting import warn_if_not_intended

            warn_if_not_intended(info, self.spec)
        self._noise_draws = 0 if self.spec is None else self.spec.noise_draws

    # -- settings -----------------------------------------------------------------------------------------------
    @property
    def model(self) -> Model:
        """The torch model (loaded on first use when the network runs as an ONNX graph without it)."""
        if self._model is None:
            self._model = self._inference.load_model()
        return self._model

    @property
    def sample_rate(self) -> int:
        """The model's sample rate (signals are resampled to it internally)."""
        return int(self.info.sample_rate)

    @property
    def is_predictive(self) -> bool:
        return self.spec is None

    @property
    def intended_setting(self) -> str:
        """The model's own sampler setting, in words (what it was trained and validated for)."""
        if self.is_predictive:
            return "predictive model's single network call"
        from crpse.sampler_setting import describe, intended_choice

        return describe(intended_choice(self.info))

    def num_windows(self, frames: int, sample_rate: int) -> int:
        """Windows per channel for a signal of ``frames`` samples at ``sample_rate``."""
        return self.plan.num_windows(round(frames * self.sample_rate / sample_rate))

    def describe(self) -> str:
        """A one-line summary of the settings (for logs)."""
        spec = self.spec
        how = "predictive (1 call)" if spec is None else f"{spec.sampler} sampler, {spec.describe_steps()}"
        window = "whole signal" if self.plan.window is None else (
            f"{self.plan.window / self.sample_rate:.2f} s windows, {self.plan.overlap / self.sample_rate:.2f} s overlap"
        )
        return f"{how}; {window}; batch {self.batch_size}; seed {self.seed}; {self.device}, {self.backend.describe()}"

    # -- arrays ---------------------------------------------------------------------------------------------------
    def __call__(self, audio: ArrayT, sample_rate: int) -> ArrayT:
        """Enhance ``audio`` (numpy or torch, ``[L]`` or ``[C, L]``, channels first) recorded at ``sample_rate``.

        Returns:
            The enhanced signal with the input's type, shape, dtype and (torch) device. Integer input is treated
            as PCM and the result rounded and clipped to the same integer type.

        Raises:
            ValueError: bad shape, empty or non-finite input.
            crpse.output_guard.UnsafeOutputError: the enhanced signal is non-finite, clips (integer input, or
                float input within [-1, 1]) or is far louder than the input (see ``output_limits``).
        """
        samples, restore, full_scale = _as_float_channels(audio)
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        if not np.isfinite(samples).all():
            raise ValueError("audio contains NaN or Inf samples; clean or drop them before enhancing")
        channels, length = samples.shape
        peak = float(np.abs(samples).max())
        blocks = (samples[:, i : i + BLOCK_FRAMES] for i in range(0, length, BLOCK_FRAMES))
        if full_scale is None and peak <= 1.0:
            full_scale = 1.0  # float audio within [-1, 1]: the usual full scale
        parts = list(
            self.stream(blocks, int(sample_rate), channels, length, peak, label="the signal", full_scale=full_scale)
        )
        enhanced = np.concatenate(parts, axis=1) if parts else np.zeros((channels, 0), np.float32)
        return restore(enhanced)

    # -- files ----------------------------------------------------------------------------------------------------
    def enhance_file(
        self,
        input: str | os.PathLike[str],
        output: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> FileResult:
        """Enhance an audio file into ``output``, streaming (bounded memory whatever the length).

        The output has the input's sample rate, channel count and frame count. Its container follows the output
        suffix (``.wav``, ``.flac``, ``.ogg``, ``.mp3``; another suffix keeps the input's container) and the
        input's subtype is kept when that container supports it (``PCM_16``, ``PCM_24``, ``FLOAT``...). The file is
        written under a temporary hidden name and renamed into place only when complete.

        Args:
            input: the noisy file (never modified).
            output: the file to write.
            overwrite: replace an existing ``output``.
            progress: called with ``1`` after each window (all channels) is done.

        Raises:
            crpse.audio.AudioFileError: unreadable, truncated, empty or non-finite input.
            crpse.output_guard.UnsafeOutputError: the enhanced audio is non-finite, clips or is far louder than the
                input (see ``output_limits``); no file is written.
            FileExistsError: ``output`` exists and ``overwrite`` is false.
            ValueError: ``output`` is the input file.
        """
        source, target = Path(input), Path(output)
        if target.exists() and target.resolve() == source.resolve():
            raise ValueError("the output path is the input file; inputs are never overwritten, choose another folder")
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} exists (pass overwrite=True / --overwrite to replace it)")
        scan = scan_audio(source)
        info = scan.info
        container = AUDIO_SUFFIXES.get(target.suffix.lower())
        override = None if container in (None, info.format) else container.lower()
        fmt, subtype, _ = output_format(info, source, override)
        silent = scan.peak < SILENCE_PEAK
        with AtomicAudioWriter(target, info.sample_rate, info.channels, fmt, subtype) as writer:
            blocks = iter_blocks(source)  # lazy: not even opened for silent input
            stream = self.stream(
                blocks, info.sample_rate, info.channels, scan.frames, scan.peak, progress, label=str(source)
            )
            for block in stream:
                writer.write(block)
        if writer.clipped:
            logger.warning("%s: %d output samples exceeded full scale and were clipped", target, writer.clipped)
        return FileResult(
            input=source,
            output=target,
            sample_rate=info.sample_rate,
            channels=info.channels,
            frames=scan.frames,
            windows=self.num_windows(scan.frames, info.sample_rate),
            clipped=writer.clipped,
            silent=silent,
        )

    # -- the streaming core ------------------------------------------------------------------------------------------
    def stream(
        self,
        blocks: Iterable[np.ndarray],
        sample_rate: int,
        channels: int,
        frames: int,
        peak: float,
        progress: Progress | None = None,
        label: str = "the input",
        full_scale: float | None = 1.0,
    ) -> Iterator[np.ndarray]:
        """Enhance a stream of blocks; the building block of :meth:`__call__` and :meth:`enhance_file`.

        Args:
            blocks: ``float32 [C, n]`` blocks at ``sample_rate``, ``frames`` samples per channel in total.
            sample_rate: their rate.
            channels: C.
            frames: total length (the output is trimmed or zero-padded to exactly this).
            peak: ``max |y|`` of the whole signal (the normaliser; silence below :data:`SILENCE_PEAK`).
            progress: called with ``1`` after each window (all channels) is done.
            label: how to name the signal in log and error messages.
            full_scale: the clipping level the output guard checks (``None``: none known, no clipping test).

        Yields:
            Enhanced ``float32 [C, m]`` blocks at ``sample_rate``, ``frames`` samples per channel in total.

        Raises:
            crpse.output_guard.UnsafeOutputError: after the last block, when the output guard refuses the output
                (the caller must then discard what it received).
        """
        if peak < SILENCE_PEAK:
            logger.warning("%s is silent (peak %.3g): the output is silence", label, peak)
            for start in range(0, frames, BLOCK_FRAMES):
                yield np.zeros((channels, min(BLOCK_FRAMES, frames - start)), dtype=np.float32)
            return
        scale = np.float32(1.0 / peak)
        mixer = None  # the input's band above the model's Nyquist frequency, added back (crpse.upper_band)
        if self.upper_band == "keep" and sample_rate > self.sample_rate:
            mixer = UpperBandMixer(sample_rate, self.sample_rate, channels, float(peak))
        to_model = StreamResampler(sample_rate, self.sample_rate, channels)
        # with the upper band kept, the model-rate stream carries the gains as C more channels
        from_model = StreamResampler(self.sample_rate, sample_rate, channels * (2 if mixer else 1))
        windower = StreamingWindower(self.plan, channels)
        batcher = _WindowBatcher(self, channels, float(peak), progress, with_gain=mixer is not None)
        guard = None
        if self.output_limits is not None:
            guard = OutputGuard(sample_rate, channels, self.output_limits, full_scale)
        remaining = frames

        def emit(model_rate_samples: np.ndarray, last: bool = False) -> Iterator[np.ndarray]:
            nonlocal remaining
            out = from_model(model_rate_samples, last=last)
            if mixer is not None:
                mixer.push_output(out[:channels], out[channels:])
                out = mixer.finish() if last else mixer.pop()
            out = out[:, : max(remaining, 0)]
            remaining -= out.shape[1]
            if out.shape[1]:
                if guard is not None:
                    guard.add_output(out)
                yield out

        for block in blocks:
            if guard is not None:
                guard.add_input(block)
            model_rate = to_model(block * scale)
            if mixer is not None:
                mixer.push_input(block, model_rate)
            for window in windower.push(model_rate):
                for finished in batcher.add(window):
                    yield from emit(finished)
        model_rate = to_model.flush()
        if mixer is not None:
            mixer.push_input(np.zeros((channels, 0), np.float32), model_rate, last=True)
        windows = windower.push(model_rate) + windower.finish()
        for window in windows:
            for finished in batcher.add(window):
                yield from emit(finished)
        for finished in batcher.flush():
            yield from emit(finished)
        yield from emit(np.zeros((from_model.channels, 0), np.float32), last=True)
        while remaining > 0:  # resampling rounding: pad the last few samples
            pad = min(remaining, BLOCK_FRAMES)
            remaining -= pad
            tail = np.zeros((channels, pad), dtype=np.float32)
            if guard is not None:
                guard.add_output(tail)
            yield tail
        if guard is not None:
            guard.check(label, self.intended_setting)

    def window_frames(self, length: int) -> tuple[int, int]:
        """``(frames, padding)`` of a ``length``-sample window at the model's rate: its STFT frame count (at least
        ``n_fft`` samples are transformed) and the frames added to reach the network's frame multiple, so the network
        processes ``frames + padding`` frames for it."""
        transform = self.info.transform
        frames = transform.num_frames(max(length, transform.n_fft))
        return frames, (-frames) % self.info.frame_multiple

    def enhance_windows(self, waves: np.ndarray, starts: list[int], channels: list[int]) -> np.ndarray:
        """Enhance a batch of normalised single-channel windows of equal length at the model's rate.

        The windows are padded to the STFT's minimum, the sampler noise of their positions is drawn
        (:func:`positional_noise`) and the backend's windows step runs (:class:`crpse.backends.eager.EagerWindows`
        or :class:`crpse.backends.ort.GraphWindows`: STFT, frame padding, sampler, iSTFT).

        Args:
            waves: ``float32 [B, n]`` windows, already divided by the signal's peak.
            starts: ``[B]`` first sample of each window in the whole signal (a multiple of the STFT hop; it
                selects the noise, see :func:`positional_noise`).
            channels: ``[B]`` channel of each window.

        Returns:
            ``float32 [B, n]`` enhanced windows (still normalised).
        """
        info, transform = self.info, self.info.transform
        length = waves.shape[1]
        padded_length = max(length, transform.n_fft)  # the centred STFT needs at least n_fft / 2 samples
        x = np.zeros((waves.shape[0], padded_length), np.float32)
        x[:, :length] = waves
        frames, padding = self.window_frames(length)
        pad_mode = info.pad_mode
        if pad_mode == "reflect" and padding >= frames:
            pad_mode = "zero"
        noise = None
        if self._noise_draws:
            hop, bins = transform.hop_length, transform.num_bins
            noise = np.stack(
                [
                    np.stack([positional_noise(self.seed, ch, draw, start // hop, bins, frames + padding)
                              for start, ch in zip(starts, channels)])
                    for draw in range(self._noise_draws)
                ]
            )
        return self._inference.windows(x, noise, pad_mode)[:, :length]


class _WindowBatcher:
    """Queue single-channel windows, run them through the model ``batch_size`` at a time (equal lengths only, so
    that padding never depends on the batch), and release enhanced windows in order, cross-faded."""

    def __init__(
        self, enhancer: Enhancer, channels: int, peak: float, progress: Progress | None, with_gain: bool = False
    ) -> None:
        self.enhancer = enhancer
        self.channels = channels
        self.peak = np.float32(peak)
        self.progress = progress
        self.with_gain = with_gain  # also stitch the upper-band gains (crpse.upper_band) as channels C..2C-1
        rows = 2 * channels if with_gain else channels
        self.stitcher = OverlapAdd(enhancer.plan, rows)
        self.scale = np.full((rows, 1), self.peak, np.float32)
        self.scale[channels:] = 1.0
        self._queue: list[tuple[Window, int]] = []
        self._done: dict[int, tuple[Window, np.ndarray, int]] = {}
        self._next = 0

    def add(self, window: Window) -> Iterator[np.ndarray]:
        self._queue.extend((window, channel) for channel in range(self.channels))
        while len(self._queue) >= self.enhancer.batch_size:
            yield from self._run_one_batch()

    def flush(self) -> Iterator[np.ndarray]:
        while self._queue:
            yield from self._run_one_batch()

    def _run_one_batch(self) -> Iterator[np.ndarray]:
        length = self._queue[0][0].data.shape[1]
        take = 0
        while (
            take < len(self._queue)
            and take < self.enhancer.batch_size
            and self._queue[take][0].data.shape[1] == length
        ):
            take += 1
        items, self._queue = self._queue[:take], self._queue[take:]
        waves = np.stack([window.data[channel] for window, channel in items])
        enhanced = self.enhancer.enhance_windows(
            waves, [window.start for window, _ in items], [channel for _, channel in items]
        )
        gains = self._gains(waves, enhanced) if self.with_gain else None
        for i, ((window, channel), wave) in enumerate(zip(items, enhanced)):
            entry = self._done.get(window.index)
            if entry is None:
                entry = (window, np.empty((self.scale.shape[0], window.data.shape[1]), np.float32), 0)
            entry[1][channel] = wave
            if gains is not None:
                entry[1][self.channels + channel] = gains[i]
            self._done[window.index] = (entry[0], entry[1], entry[2] + 1)
        while self._next in self._done and self._done[self._next][2] == self.channels:
            window, data, _ = self._done.pop(self._next)
            self._next += 1
            finished = self.stitcher.add(window.index, data * self.scale, window.last)
            if self.progress is not None:
                self.progress(1)
            yield finished

    def _gains(self, waves: np.ndarray, enhanced: np.ndarray) -> np.ndarray:
        transform = self.enhancer.info.transform
        return band_gain(waves, enhanced, self.enhancer.sample_rate, transform.n_fft, transform.hop_length)


# ---------------------------------------------------------------------------------------------------------------
# array conversion
# ---------------------------------------------------------------------------------------------------------------
def _as_float_channels(audio: Any) -> tuple[np.ndarray, Callable[[np.ndarray], Any], float | None]:
    """``[L]`` or ``[C, L]`` numpy/torch -> ``float32 [C, L]`` numpy, the function that converts back, and the
    full scale of integer input (its type's maximum; ``None`` for floats)."""
    is_torch = _is_torch_tensor(audio)
    if is_torch:
        import torch  # already loaded: the audio is a tensor
    if not is_torch and not isinstance(audio, np.ndarray):
        raise TypeError(f"audio must be a numpy array or a torch tensor, got {type(audio).__name__}")
    if audio.ndim not in (1, 2):
        raise ValueError(f"audio must have shape [L] or [C, L] (channels first), got {tuple(audio.shape)}")
    if audio.ndim == 2 and audio.shape[0] > 64 and audio.shape[1] <= 64:
        raise ValueError(
            f"audio of shape {tuple(audio.shape)} looks like [L, C]; pass channels first ([C, L]), e.g. audio.T"
        )
    if audio.shape[-1] == 0:
        raise ValueError("audio is empty (0 samples)")
    if is_torch:
        dtype, device = audio.dtype, audio.device
        if dtype.is_complex or dtype == torch.bool:
            raise TypeError(f"audio must be real-valued, got {dtype}")
        array = audio.detach().to("cpu", torch.float32 if dtype.is_floating_point else torch.float64).numpy()
        integer = not dtype.is_floating_point
        limits = (torch.iinfo(dtype).min, torch.iinfo(dtype).max) if integer else None
    else:
        dtype, device = audio.dtype, None
        if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
            raise TypeError(f"audio must be real-valued floats or integers, got {dtype}")
        integer = np.issubdtype(dtype, np.integer)
        array = audio
        limits = (np.iinfo(dtype).min, np.iinfo(dtype).max) if integer else None
    samples = np.atleast_2d(np.asarray(array, dtype=np.float32))
    mono = audio.ndim == 1

    def restore(enhanced: np.ndarray) -> Any:
        out = enhanced[0] if mono else enhanced
        if integer:
            assert limits is not None
            out = np.clip(np.rint(out.astype(np.float64)), limits[0], limits[1])
        if is_torch:
            return torch.from_numpy(np.ascontiguousarray(out)).to(device=device, dtype=dtype)
        return np.ascontiguousarray(out).astype(dtype, copy=False)

    return samples, restore, (float(limits[1]) if integer and limits is not None else None)


def enhance(
    audio: ArrayT,
    sample_rate: int,
    model: Model | str | os.PathLike[str] | None = None,
    *,
    device: str | torch.device | None = None,
    **settings: Any,
) -> ArrayT:
    """Enhance one signal with a one-off :class:`Enhancer` (for many signals, hold an :class:`Enhancer`).

    Args:
        audio: numpy array or torch tensor, ``[L]`` or ``[C, L]`` (channels first), any float or integer dtype.
        sample_rate: its sample rate (any; resampled internally to the model's rate and back).
        model: ``None`` (bundled default), checkpoint path, or model.
        device: ``None``: a torch input's device, else CUDA if available, else CPU.
        **settings: the :class:`Enhancer`'s keyword arguments (``sampler``, ``steps``, ``t_start``, ``seed``,
            ``window``, ``overlap``, ``batch_size``, ``backend``, ``precision``, ``output_limits``,
            ``upper_band`` and sampler options).

    Returns:
        The enhanced signal, with the input's type, shape, dtype and device.
    """
    if device is None and _is_torch_tensor(audio) and not _is_torch_module(model):
        device = audio.device  # type: ignore[union-attr]
    return Enhancer(model, device=device, **settings)(audio, sample_rate)
