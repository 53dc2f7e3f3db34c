"""crpse.data: pairing by name, crops, padding, normalisation, resampling, mono, the resumable sampler."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from crpse.data import (
    DataError,
    InfiniteShuffleSampler,
    PairedSpeechDataset,
    crop_start,
    find_pairs,
    num_samples_for_frames,
    pad_symmetric,
    read_audio,
    uniform_subset,
)

RATE = 16000


def _write(path: Path, audio: np.ndarray, rate: int = RATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.astype(np.float32), rate, subtype="FLOAT")


def _split(root: Path, signals: dict[str, tuple[np.ndarray, np.ndarray]], rate: int = RATE) -> Path:
    for name, (clean, noisy) in signals.items():
        _write(root / "clean" / name, clean, rate)
        _write(root / "noisy" / name, noisy, rate)
    return root


def _ramp(n: int) -> np.ndarray:
    return np.linspace(0.01, 0.5, n)


def test_pairs_by_name_not_by_order(tmp_path: Path) -> None:
    ramp = _ramp(1000)
    _split(tmp_path, {"b.wav": (ramp, 2 * ramp), "a.wav": (ramp, ramp), "sub/c.wav": (ramp, ramp)})
    pairs = find_pairs(tmp_path)
    assert [p.name for p in pairs] == ["a.wav", "b.wav", "sub/c.wav"]
    assert all(p.clean.name == p.noisy.name for p in pairs)
    assert pairs[1].clean_frames == 1000 and pairs[1].clean_rate == RATE


def test_missing_noisy_file_is_named(tmp_path: Path) -> None:
    ramp = _ramp(1000)
    _split(tmp_path, {"a.wav": (ramp, ramp)})
    _write(tmp_path / "clean" / "only_clean.wav", ramp)
    with pytest.raises(DataError, match=r"noisy/only_clean\.wav is missing"):
        find_pairs(tmp_path)


def test_extra_noisy_file_is_named(tmp_path: Path) -> None:
    ramp = _ramp(1000)
    _split(tmp_path, {"a.wav": (ramp, ramp)})
    _write(tmp_path / "noisy" / "stray.wav", ramp)
    with pytest.raises(DataError, match=r"clean/stray\.wav is missing"):
        find_pairs(tmp_path)


def test_missing_folder_and_empty_split(tmp_path: Path) -> None:
    (tmp_path / "clean").mkdir()
    with pytest.raises(FileNotFoundError, match="noisy"):
        find_pairs(tmp_path)
    (tmp_path / "noisy").mkdir()
    with pytest.raises(DataError, match="no audio files"):
        find_pairs(tmp_path)


def test_duration_mismatch_names_the_file(tmp_path: Path) -> None:
    _split(tmp_path, {"a.wav": (_ramp(16000), _ramp(12000))})
    with pytest.raises(DataError, match=r"a\.wav.*same duration"):
        find_pairs(tmp_path)


def test_crop_helpers_follow_the_reference() -> None:
    assert num_samples_for_frames(256, 128) == 32640
    assert crop_start(100, 40, random_crop=False) == 30
    assert crop_start(101, 40, random_crop=False) == 30  # int(61 / 2)
    assert crop_start(30, 40, random_crop=False) == 0
    starts = {crop_start(100, 40, True, np.random.default_rng(s)) for s in range(200)}
    assert min(starts) >= 0 and max(starts) <= 59 and len(starts) > 40
    padded = pad_symmetric(np.ones(5), 10)  # pad 5: 2 before, 3 after
    np.testing.assert_array_equal(padded, [0, 0, 1, 1, 1, 1, 1, 0, 0, 0])


def test_random_crop_is_shared_by_clean_and_noisy_and_normalised(tmp_path: Path) -> None:
    n = 8000
    clean = _ramp(n) * np.sin(np.arange(n) * 0.3)
    noisy = 3.0 * clean + 0.01
    pairs = find_pairs(_split(tmp_path, {"a.wav": (clean, noisy)}))
    dataset = PairedSpeechDataset(pairs, RATE, num_samples=1000, random_crop=True, seed=7)
    seen = set()
    for draw in range(6):
        x, y = dataset[(0, draw)]
        assert x.shape == y.shape == (1000,) and x.dtype == torch.float32
        assert float(y.abs().max()) == pytest.approx(1.0, abs=1e-6)  # divided by max |noisy crop|
        offset = y - 3.0 * x  # noisy = 3 clean + c, so c / scale everywhere iff both use the same crop
        assert float(offset.std()) < 1e-6 and float(offset.mean()) > 0
        seen.add(round(float(x[0]), 6))
        x2, _ = dataset[(0, draw)]
        torch.testing.assert_close(x, x2)  # a draw always gives the same crop
    assert len(seen) > 1  # different draws, different crops


def test_centre_crop_and_padding_values(tmp_path: Path) -> None:
    long = np.arange(1, 1001) / 1000.0
    short = np.arange(1, 6) / 10.0
    pairs = find_pairs(_split(tmp_path, {"long.wav": (long, long), "short.wav": (short, short)}))
    dataset = PairedSpeechDataset(pairs, RATE, num_samples=10, random_crop=False, normalize="none")
    x, _ = dataset[0]
    np.testing.assert_allclose(x.numpy(), long[495:505], atol=1e-7)  # start int((1000 - 10) / 2)
    x, y = dataset[1]
    np.testing.assert_allclose(x.numpy(), [0, 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0, 0, 0], atol=1e-7)
    dataset = PairedSpeechDataset(pairs, RATE, num_samples=10, random_crop=False, normalize="clean")
    x, y = dataset[1]
    assert float(x.max()) == pytest.approx(1.0)


def test_silent_crop_is_not_divided_by_zero(tmp_path: Path) -> None:
    pairs = find_pairs(_split(tmp_path, {"a.wav": (np.zeros(500), np.zeros(500))}))
    x, y = PairedSpeechDataset(pairs, RATE, 100, random_crop=False)[0]
    assert torch.isfinite(x).all() and float(y.abs().max()) == 0.0


def test_other_rates_are_resampled(tmp_path: Path) -> None:
    rate = 8000
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t)
    pairs = find_pairs(_split(tmp_path, {"a.wav": (tone, tone)}, rate=rate))
    assert pairs[0].length(RATE) == 16000
    audio = read_audio(pairs[0].clean, RATE)
    assert audio.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(audio[2000:14000]))
    assert np.argmax(spectrum) * RATE / 12000 == pytest.approx(1000, abs=2)
    x, _ = PairedSpeechDataset(pairs, RATE, 4000, random_crop=True)[(0, 3)]
    assert x.shape == (4000,)


def test_multichannel_downmix(tmp_path: Path) -> None:
    left, right = np.full(100, 0.2), np.full(100, 0.6)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1).astype(np.float32), RATE, subtype="FLOAT")
    np.testing.assert_allclose(read_audio(path, RATE), 0.4, atol=1e-6)
    np.testing.assert_allclose(read_audio(path, RATE, downmix="first"), 0.2, atol=1e-6)


def test_nonfinite_audio_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.wav"
    audio = np.zeros(100, dtype=np.float32)
    audio[10] = np.nan
    sf.write(path, audio, RATE, subtype="FLOAT")
    with pytest.raises(DataError, match="bad.wav.*NaN"):
        read_audio(path, RATE)


def test_sampler_visits_every_item_per_epoch_and_resumes_exactly() -> None:
    sampler = InfiniteShuffleSampler(7, seed=3)
    stream = list(islice(iter(sampler), 21))
    for epoch in range(3):
        assert sorted(i for i, _ in stream[7 * epoch: 7 * epoch + 7]) == list(range(7))
    assert [draw for _, draw in stream] == list(range(21))
    assert [i for i, _ in stream[:7]] != [i for i, _ in stream[7:14]]  # reshuffled each epoch
    resumed = list(islice(iter(InfiniteShuffleSampler(7, seed=3, start=9)), 12))
    assert resumed == stream[9:]
    assert list(islice(iter(InfiniteShuffleSampler(7, seed=4)), 7)) != stream[:7]


def test_sampler_ranks_are_disjoint_shards_of_one_stream() -> None:
    full = list(islice(iter(InfiniteShuffleSampler(10, seed=1)), 20))
    rank0 = list(islice(iter(InfiniteShuffleSampler(10, seed=1, rank=0, world_size=2)), 10))
    rank1 = list(islice(iter(InfiniteShuffleSampler(10, seed=1, rank=1, world_size=2)), 10))
    assert rank0 == full[0::2] and rank1 == full[1::2]
    with pytest.raises(ValueError, match="rank"):
        InfiniteShuffleSampler(10, rank=2, world_size=2)


def test_uniform_subset_matches_linspace() -> None:
    assert uniform_subset(3, 10) == [0, 4, 9]
    assert uniform_subset(20, 5) == [0, 1, 2, 3, 4]
    assert uniform_subset(0, 5) == []
