"""Windowing and cross-fading (crpse.chunking): exact reconstruction, streaming equals one-shot, bounds."""

from __future__ import annotations

import numpy as np
import pytest

from crpse.chunking import (
    OverlapAdd,
    StreamingWindower,
    WindowPlan,
    fade_in,
    overlap_add,
    plan_windows,
    split_windows,
)

PLANS = [WindowPlan(1000, 200), WindowPlan(1000, 0), WindowPlan(1000, 500), WindowPlan(None), WindowPlan(7, 3)]
LENGTHS = [1, 6, 7, 100, 999, 1000, 1001, 1800, 1801, 5000, 12345]


def _stream(signal: np.ndarray, plan: WindowPlan, block: int) -> list:
    windower = StreamingWindower(plan, signal.shape[0])
    windows = []
    for start in range(0, signal.shape[1], block):
        windows += windower.push(signal[:, start : start + block])
    return windows + windower.finish()


@pytest.mark.parametrize("plan", PLANS, ids=str)
def test_identical_windows_reconstruct_the_signal(plan: WindowPlan) -> None:
    rng = np.random.default_rng(0)
    for length in LENGTHS:
        signal = rng.standard_normal((2, length)).astype(np.float32)
        windows = split_windows(signal, plan)
        assert len(windows) == plan.num_windows(length)
        restored = overlap_add(windows, plan, channels=2)
        assert restored.shape == signal.shape
        np.testing.assert_allclose(restored, signal, atol=2e-6, rtol=0)


@pytest.mark.parametrize("plan", PLANS, ids=str)
def test_streaming_windows_equal_the_one_shot_windows(plan: WindowPlan) -> None:
    rng = np.random.default_rng(1)
    for length in LENGTHS:
        signal = rng.standard_normal((1, length)).astype(np.float32)
        for block in (1, 333, 100000):
            windows = _stream(signal, plan, block)
            assert len(windows) == plan.num_windows(length)
            assert windows[-1].last and not any(w.last for w in windows[:-1])
            for index, window in enumerate(windows):
                start, stop = plan.bounds(index, length)
                assert (window.index, window.start) == (index, start)
                np.testing.assert_array_equal(window.data, signal[:, start:stop])
                if plan.window is not None and len(windows) > 1:
                    assert window.data.shape[1] > plan.overlap  # even the last window is longer than the overlap


def test_weights_sum_to_one_everywhere() -> None:
    plan = WindowPlan(window=960, overlap=320)
    length = 5000
    total = np.zeros(length)
    count = plan.num_windows(length)
    for index in range(count):
        start, stop = plan.bounds(index, length)
        total[start:stop] += plan.weights(index, stop - start, last=index == count - 1)
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_fade_is_a_complementary_raised_cosine() -> None:
    ramp = fade_in(100).astype(np.float64)
    assert np.all(np.diff(ramp) > 0) and 0 < ramp[0] < 0.001 and 0.999 < ramp[-1] < 1
    np.testing.assert_allclose(ramp + ramp[::-1], 1.0, atol=1e-6)  # fade-in + mirrored fade-in = 1
    i = np.arange(100)
    np.testing.assert_allclose(ramp, np.sin(np.pi / 2 * (i + 0.5) / 100) ** 2, atol=1e-7)


def test_cross_fade_blends_different_windows_smoothly() -> None:
    plan = WindowPlan(window=100, overlap=40)
    ones = np.ones((1, 100), np.float32)
    stitcher = OverlapAdd(plan, 1)
    first = stitcher.add(0, ones * 1.0, last=False)
    second = stitcher.add(1, ones * 3.0, last=True)
    out = np.concatenate([first, second], axis=1)[0]
    assert out.shape == (160,)
    np.testing.assert_allclose(out[:60], 1.0)
    np.testing.assert_allclose(out[100:], 3.0)
    blend = out[60:100]
    assert np.all(np.diff(blend) > 0) and 1 < blend[0] < 1.01 and 2.99 < blend[-1] < 3
    np.testing.assert_allclose(blend, 1 + 2 * fade_in(40), atol=1e-6)


def test_windows_must_be_added_in_order() -> None:
    stitcher = OverlapAdd(WindowPlan(100, 10), 1)
    with pytest.raises(ValueError, match="in order"):
        stitcher.add(1, np.zeros((1, 100), np.float32), last=False)


def test_plan_rounds_to_stft_frames_and_network_blocks() -> None:
    plan = plan_windows(16000, 6.0, 1.0, hop_length=128, frame_multiple=64)
    assert plan.window is not None and plan.hop is not None
    assert plan.window % 128 == 0 and plan.overlap % 128 == 0 and plan.hop % 128 == 0
    assert (1 + plan.window // 128) % 64 == 0  # exactly fills whole 64-frame blocks
    assert 6.0 <= plan.window / 16000 < 6.0 + 64 * 128 / 16000
    assert plan.overlap == 16000
    assert plan_windows(16000, None, 1.0).window is None
    assert plan_windows(16000, 0, 1.0).window is None


def test_plan_rejects_bad_overlap() -> None:
    with pytest.raises(ValueError, match="more than half"):
        plan_windows(16000, 2.0, 1.5, hop_length=128, frame_multiple=64)
    with pytest.raises(ValueError, match="non-negative"):
        plan_windows(16000, 2.0, -1.0)
    with pytest.raises(ValueError, match="half the window"):
        WindowPlan(window=100, overlap=60)


def test_empty_signal_has_no_windows() -> None:
    assert WindowPlan(100, 10).num_windows(0) == 0
    windower = StreamingWindower(WindowPlan(100, 10), 1)
    assert windower.push(np.zeros((1, 0), np.float32)) == [] and windower.finish() == []
