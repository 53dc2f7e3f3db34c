"""Paired speech data for training: ``DIR/{train,valid,test}/{clean,noisy}/*.wav`` matched by file name.

No Lightning here: a :class:`PairedSpeechDataset` yields waveform crops ``(clean [L], noisy [L])`` as float32
tensors, the way the reference (sgmse) data module prepares them, and
:class:`InfiniteShuffleSampler` feeds it a reproducible, resumable stream of ``(file index, draw)`` keys.

* **Pairing** is by relative path inside ``clean/`` and ``noisy/`` (not by sorted order as in the reference): a
  file present on one side only is an error that names it.
* **Mono**: multichannel files are averaged over channels (``downmix="mean"``, default) or reduced to their first
  channel (``downmix="first"``); the same rule is applied to clean and noisy.
* **Reading and resampling** go through :mod:`crpse.audio` (any format it lists; soxr VHQ to the model's rate).
* **Cropping** (in samples at the model rate, ``num_samples = (num_frames - 1) * hop`` gives exactly
  ``num_frames`` STFT frames): training draws a random start ``int(U(0, L - num_samples))``, validation takes the
  centre crop ``int((L - num_samples) / 2)``; the same crop is used for clean and noisy. A shorter file is zero
  padded symmetrically (``pad // 2`` before, ``pad // 2 + pad % 2`` after).
* **Normalisation**: both signals are divided by ``max |noisy|`` of the crop (``normalize="noisy"``, reference
  default), by ``max |clean|`` (``"clean"``), or left as they are (``"none"``). An all-zero crop is not scaled.

The STFT is not done here: the training module computes ``model.transform.to_spec`` on the batch, on the
accelerator (docs/training.md gives the measurements behind that choice).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from crpse.audio import AUDIO_SUFFIXES, AudioFileError, AudioInfo, audio_info, list_audio_files
from crpse.audio import read_audio as read_audio_file

Downmix = Literal["mean", "first"]
Normalize = Literal["noisy", "clean", "none"]

#: clean and noisy files of a pair may differ by this many seconds (resampling rounding); longer is an error
_LENGTH_TOLERANCE_S = 0.002


class DataError(ValueError):
    """The corpus is malformed: unpaired, unreadable or inconsistent files. The message names the file."""


@dataclass(frozen=True)
class SpeechPair:
    """One clean/noisy pair of a split.

    Attributes:
        name: relative path inside ``clean/`` and ``noisy/`` (posix form), e.g. ``p232_001.wav``.
        clean, noisy: the two files.
        clean_rate, noisy_rate: their sample rates.
        clean_frames, noisy_frames: their lengths in frames (samples per channel).
    """

    name: str
    clean: Path
    noisy: Path
    clean_rate: int
    noisy_rate: int
    clean_frames: int
    noisy_frames: int

    def length(self, sample_rate: int) -> int:
        """Common length in samples once both files are at ``sample_rate`` (the shorter of the two)."""
        return min(
            _resampled_length(self.clean_frames, self.clean_rate, sample_rate),
            _resampled_length(self.noisy_frames, self.noisy_rate, sample_rate),
        )


def _resampled_length(frames: int, rate_in: int, rate_out: int) -> int:
    return frames if rate_in == rate_out else int(round(frames * rate_out / rate_in))


def _audio_files(folder: Path) -> dict[str, Path]:
    return {path.relative_to(folder).as_posix(): path for path in list_audio_files(folder)}


def _info(path: Path) -> AudioInfo:
    try:
        return audio_info(path)
    except AudioFileError as err:
        raise DataError(f"{path}: cannot read the audio header ({err})") from err


def find_pairs(split_dir: str | os.PathLike[str]) -> list[SpeechPair]:
    """List the clean/noisy pairs of one split folder (``split_dir/clean`` and ``split_dir/noisy``).

    Files are matched by their path relative to ``clean/`` and ``noisy/`` (sub-folders allowed), sorted by name.
    Headers are read to check that each pair has the same duration.

    Args:
        split_dir: e.g. ``corpus/train``.

    Returns:
        The pairs, sorted by name.

    Raises:
        FileNotFoundError: ``clean/`` or ``noisy/`` is missing.
        DataError: a file has no counterpart (the message names it), a header is unreadable, a pair's durations
            differ, or the split is empty.
    """
    split_dir = Path(split_dir)
    folders = {side: split_dir / side for side in ("clean", "noisy")}
    for folder in folders.values():
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{folder}: no such folder; a split needs {split_dir}/clean and {split_dir}/noisy with the same "
                "file names"
            )
    clean, noisy = _audio_files(folders["clean"]), _audio_files(folders["noisy"])
    only_clean = sorted(set(clean) - set(noisy))
    only_noisy = sorted(set(noisy) - set(clean))
    if only_clean or only_noisy:
        problems = [f"{folders['noisy'] / name} is missing (clean/{name} has no noisy counterpart)"
                    for name in only_clean[:10]]
        problems += [f"{folders['clean'] / name} is missing (noisy/{name} has no clean counterpart)"
                     for name in only_noisy[:10]]
        more = len(only_clean) + len(only_noisy) - len(problems)
        raise DataError(
            f"{split_dir}: clean and noisy files must pair by name: " + "; ".join(problems)
            + (f"; and {more} more" if more > 0 else "")
        )
    if not clean:
        raise DataError(f"{split_dir}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in clean/ and noisy/")
    pairs = []
    for name in sorted(clean):
        clean_info, noisy_info = _info(clean[name]), _info(noisy[name])
        pair = SpeechPair(
            name=name, clean=clean[name], noisy=noisy[name],
            clean_rate=clean_info.sample_rate, noisy_rate=noisy_info.sample_rate,
            clean_frames=int(clean_info.frames), noisy_frames=int(noisy_info.frames),
        )
        duration_gap = abs(pair.clean_frames / pair.clean_rate - pair.noisy_frames / pair.noisy_rate)
        if duration_gap > _LENGTH_TOLERANCE_S:
            raise DataError(
                f"{pair.noisy}: {pair.noisy_frames} samples at {pair.noisy_rate} Hz, but {pair.clean} has "
                f"{pair.clean_frames} samples at {pair.clean_rate} Hz; a pair must have the same duration"
            )
        pairs.append(pair)
    return pairs


def read_audio(
    path: str | os.PathLike[str],
    sample_rate: int,
    start: int = 0,
    stop: int | None = None,
    downmix: Downmix = "mean",
) -> np.ndarray:
    """Read a training file as mono float32 at ``sample_rate`` (:func:`crpse.audio.read_audio`).

    ``start``/``stop`` select samples **at the file's own rate** (only the needed part is read).

    Returns:
        ``[L]`` float32.

    Raises:
        DataError: unreadable file or non-finite samples.
    """
    try:
        audio, _ = read_audio_file(path, sample_rate, start, stop, downmix)
    except AudioFileError as err:
        raise DataError(f"{path}: cannot read the audio ({err})") from err
    if not np.isfinite(audio).all():
        raise DataError(f"{path}: the audio contains NaN or infinite samples")
    return audio


def crop_start(length: int, num_samples: int, random_crop: bool, rng: np.random.Generator | None = None) -> int:
    """Start of the crop in a signal of ``length`` samples (0 when the signal is not longer than the crop).

    Random crops use ``int(U(0, length - num_samples))`` as the reference; otherwise the centre crop
    ``int((length - num_samples) / 2)``.
    """
    if length <= num_samples:
        return 0
    if random_crop:
        if rng is None:
            raise ValueError("a random crop needs a numpy Generator")
        return int(rng.uniform(0, length - num_samples))
    return int((length - num_samples) / 2)


def pad_symmetric(audio: np.ndarray, num_samples: int) -> np.ndarray:
    """Zero-pad ``[L]`` to ``num_samples``: ``pad // 2`` before, ``pad // 2 + pad % 2`` after (``L <= num_samples``)."""
    pad = num_samples - audio.shape[-1]
    if pad < 0:
        raise ValueError(f"cannot pad {audio.shape[-1]} samples to {num_samples}")
    return np.pad(audio, (pad // 2, pad // 2 + pad % 2))


def normalization_factor(clean: np.ndarray, noisy: np.ndarray, normalize: Normalize) -> float:
    """The divisor of both signals: ``max |noisy|``, ``max |clean|`` or 1 (also 1 for an all-zero reference)."""
    if normalize == "none":
        return 1.0
    if normalize not in ("noisy", "clean"):
        raise ValueError(f"normalize must be 'noisy', 'clean' or 'none', got {normalize!r}")
    peak = float(np.max(np.abs(noisy if normalize == "noisy" else clean), initial=0.0))
    return peak if peak > 0 else 1.0


class PairedSpeechDataset(Dataset):
    """Fixed-length crops of clean/noisy pairs, normalised as the reference.

    Items are ``(clean [num_samples], noisy [num_samples])`` float32 tensors at ``sample_rate``.

    Keys: an ``int`` file index, or ``(index, draw)`` where ``draw`` seeds the random crop (the training sampler
    passes its stream position, so crops are reproducible and independent of worker processes). With
    ``random_crop=False`` the centre crop is used and ``draw`` is ignored.

    Args:
        pairs: from :func:`find_pairs`.
        sample_rate: the model's rate.
        num_samples: crop length; ``(num_frames - 1) * hop_length`` gives ``num_frames`` STFT frames.
        random_crop: random (training) or centre (validation) crops.
        seed: seed of the random crops.
        downmix: ``mean`` or ``first`` channel for multichannel files.
        normalize: ``noisy`` (reference), ``clean`` or ``none``.
    """

    def __init__(
        self,
        pairs: Sequence[SpeechPair],
        sample_rate: int,
        num_samples: int,
        random_crop: bool,
        seed: int = 0,
        downmix: Downmix = "mean",
        normalize: Normalize = "noisy",
    ) -> None:
        if num_samples < 1:
            raise ValueError(f"num_samples must be positive, got {num_samples}")
        if not pairs:
            raise ValueError("a dataset needs at least one pair")
        if downmix not in ("mean", "first"):
            raise ValueError(f"downmix must be 'mean' or 'first', got {downmix!r}")
        normalization_factor(np.zeros(1), np.zeros(1), normalize)  # validates the option
        self.pairs = list(pairs)
        self.sample_rate = sample_rate
        self.num_samples = num_samples
        self.random_crop = random_crop
        self.seed = seed
        self.downmix: Downmix = downmix
        self.normalize: Normalize = normalize

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, draw = (int(key[0]), int(key[1])) if isinstance(key, tuple | list) else (int(key), int(key))
        pair = self.pairs[index]
        rng = np.random.default_rng([self.seed, draw, index]) if self.random_crop else None
        clean, noisy = self._load_crop(pair, rng)
        scale = normalization_factor(clean, noisy, self.normalize)
        return torch.from_numpy(clean / scale), torch.from_numpy(noisy / scale)

    def _load_crop(self, pair: SpeechPair, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
        length = pair.length(self.sample_rate)
        start = crop_start(length, self.num_samples, self.random_crop, rng)
        stop = start + min(length, self.num_samples)
        direct = pair.clean_rate == self.sample_rate and pair.noisy_rate == self.sample_rate
        if direct:  # read only the crop
            clean = read_audio(pair.clean, self.sample_rate, start, stop, self.downmix)
            noisy = read_audio(pair.noisy, self.sample_rate, start, stop, self.downmix)
        else:
            clean = read_audio(pair.clean, self.sample_rate, downmix=self.downmix)[start:stop]
            noisy = read_audio(pair.noisy, self.sample_rate, downmix=self.downmix)[start:stop]
        if clean.shape != noisy.shape:
            raise DataError(f"{pair.noisy}: read {noisy.shape[0]} samples but {pair.clean} gave {clean.shape[0]}")
        if clean.shape[0] < self.num_samples:
            clean, noisy = pad_symmetric(clean, self.num_samples), pad_symmetric(noisy, self.num_samples)
        return clean.astype(np.float32, copy=False), noisy.astype(np.float32, copy=False)


class InfiniteShuffleSampler(Sampler):
    """An endless, reproducible stream of ``(file index, draw)`` keys for :class:`PairedSpeechDataset`.

    The global stream visits every file once per epoch in the order ``randperm(num_items)`` seeded by
    ``(seed, epoch)``; element ``s`` of the stream has ``draw = s`` (it seeds that item's crop). With several
    processes, rank ``r`` of ``world_size`` takes elements ``s = q * world_size + r`` (``q = 0, 1, ...``), so the
    ranks see disjoint items. ``start`` skips the first ``start`` per-rank elements: resuming after ``k`` batches of
    ``B`` continues exactly where the interrupted run stopped with ``start = k * B``.

    Args:
        num_items: dataset size.
        seed: shuffling seed.
        rank, world_size: this process and the number of processes.
        start: per-rank elements to skip.
    """

    def __init__(self, num_items: int, seed: int = 0, rank: int = 0, world_size: int = 1, start: int = 0) -> None:
        if num_items < 1:
            raise ValueError(f"num_items must be positive, got {num_items}")
        if not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank}, world_size {world_size}")
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        self.num_items, self.seed, self.rank, self.world_size, self.start = num_items, seed, rank, world_size, start

    def _permutation(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0]))
        return torch.randperm(self.num_items, generator=generator).tolist()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        position = self.start
        epoch, order = -1, []
        while True:
            stream_index = position * self.world_size + self.rank
            item_epoch, offset = divmod(stream_index, self.num_items)
            if item_epoch != epoch:
                epoch, order = item_epoch, self._permutation(item_epoch)
            yield order[offset], stream_index
            position += 1


def num_samples_for_frames(num_frames: int, hop_length: int) -> int:
    """Crop length giving exactly ``num_frames`` frames with a centred STFT: ``(num_frames - 1) * hop``."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    return (num_frames - 1) * hop_length


def uniform_subset(count: int, total: int) -> list[int]:
    """``count`` indices spread uniformly over ``range(total)`` (the reference's ``linspace(0, n - 1, k)``)."""
    if total < 1 or count < 1:
        return []
    count = min(count, total)
    return sorted({int(i) for i in np.linspace(0, total - 1, count, dtype=np.int64)})


__all__ = [
    "AUDIO_SUFFIXES", "DataError", "InfiniteShuffleSampler", "PairedSpeechDataset", "SpeechPair", "crop_start",
    "find_pairs", "normalization_factor", "num_samples_for_frames", "pad_symmetric", "read_audio", "uniform_subset",
]
