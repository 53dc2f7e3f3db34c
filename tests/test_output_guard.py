"""The output guard (crpse.output_guard): measurements, limits, and refusal through the API and the CLI, on real
diverging output of the bundled model (predictor-corrector sampling from t = 1) as well as on synthetic signals."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from crpse.cli import main
from crpse.enhancer import Enhancer, enhance
from crpse.output_guard import GuardLimits, OutputGuard, UnsafeOutputError

RATE = 16000


def _noisy_speechlike(seconds: float = 0.5, rate: int = RATE, level: float = 0.1, seed: int = 0) -> np.ndarray:
    """``float32 [L]``: a gliding harmonic tone with syllable-rate envelope (peak ``level``) plus white noise."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(140 + 20 * np.sin(2 * np.pi * 2 * t)) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 20)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (level * voiced / np.abs(voiced).max() + 0.2 * level * noise).astype(np.float32)


def _stats(inp: np.ndarray, out: np.ndarray, block: int | None = None, **kwargs):
    guard = OutputGuard(RATE, inp.shape[0], **kwargs)
    step = block or inp.shape[1]
    for start in range(0, inp.shape[1], step):
        guard.add_input(inp[:, start : start + step])
        guard.add_output(out[:, start : start + step])
    return guard


# ---------------------------------------------------------------------------------------------------------------
# measurements and limits
# ---------------------------------------------------------------------------------------------------------------
def test_a_quieter_cleaned_output_passes_with_exact_measurements() -> None:
    rng = np.random.default_rng(0)
    inp = (0.1 * rng.standard_normal((1, 2 * RATE))).astype(np.float32)
    stats = _stats(inp, 0.5 * inp).check()
    assert stats.non_finite == 0 and stats.clipped == 0 and stats.samples == 2 * RATE
    assert stats.gain_db == pytest.approx(20 * math.log10(0.5), abs=1e-4)
    assert stats.loudest_input_db == pytest.approx(-20.0, abs=0.2)


def test_non_finite_output_is_refused() -> None:
    inp = _noisy_speechlike()[None]
    out = inp.copy()
    out[0, 100:103] = [np.nan, np.inf, -np.inf]
    with pytest.raises(UnsafeOutputError, match="3 output samples are NaN or infinite") as caught:
        _stats(inp, out).check("x.wav", "reverse sampler, 1 step from t=0.3")
    assert str(caught.value).startswith("x.wav: ")
    assert "meant for the reverse sampler, 1 step from t=0.3" in str(caught.value)
    assert caught.value.stats.non_finite == 3


def test_clipping_is_refused_beyond_what_the_input_already_clips() -> None:
    inp = np.full((1, 10000), 0.5, np.float32)
    out = inp.copy()
    out[0, :80] = 1.5  # 0.8 % of the samples exceed full scale
    with pytest.raises(UnsafeOutputError, match=r"0.8 % of output samples exceed full scale") as caught:
        _stats(inp, out, limits=GuardLimits(max_gain_db=20.0)).check()
    assert caught.value.stats.clipped == 80
    # the same output from an input that is itself at full scale on 0.8 % of its samples is what the input was
    clipped_input = inp.copy()
    clipped_input[0, :80] = 1.0
    assert _stats(clipped_input, out, limits=GuardLimits(max_gain_db=20.0)).check().input_clipped == 80
    # 0.3 % is within the default allowance of 0.5 %
    out[0, 30:80] = 0.5
    assert _stats(inp, out, limits=GuardLimits(max_gain_db=20.0)).check().clipped == 30
    # no known full scale (float audio outside [-1, 1]): no clipping test
    assert _stats(4 * inp, 4 * out, full_scale=None).check().clipped == 0


def test_a_loud_segment_is_refused_even_in_a_long_quiet_signal() -> None:
    rng = np.random.default_rng(1)
    inp = (0.05 * rng.standard_normal((2, 20 * RATE))).astype(np.float32)
    out = 0.7 * inp
    out[1, 7 * RATE : 8 * RATE] *= 4.0  # one second of one channel 12 dB louder than anything in the input
    with pytest.raises(UnsafeOutputError, match=r"loudest 0.5 s is \+8.9 dB louder than the input's"):
        _stats(inp, out, block=4099).check()
    out[1, 7 * RATE : 8 * RATE] *= 0.5  # now +2.9 dB: allowed
    assert _stats(inp, out, block=4099).check().gain_db == pytest.approx(20 * math.log10(1.4), abs=0.1)


def test_measurements_do_not_depend_on_block_sizes() -> None:
    rng = np.random.default_rng(2)
    inp = (0.2 * rng.standard_normal((2, 3 * RATE + 17))).astype(np.float32)
    out = (inp * np.linspace(0.1, 3.0, inp.shape[1])).astype(np.float32)
    whole = _stats(inp, out, limits=GuardLimits(max_gain_db=99, max_clipped_fraction=0.5)).stats()
    blocks = _stats(inp, out, block=1000, limits=GuardLimits(max_gain_db=99, max_clipped_fraction=0.5)).stats()
    assert whole == blocks


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_clipped_fraction"):
        GuardLimits(max_clipped_fraction=1.0)
    with pytest.raises(ValueError, match="segment_seconds"):
        GuardLimits(segment_seconds=0)


# ---------------------------------------------------------------------------------------------------------------
# the bundled model, at its own setting and diverging
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("peak", [0.003, 0.1, 0.999])
def test_the_bundled_model_at_its_own_setting_passes_at_any_level(peak: float) -> None:
    noisy = _noisy_speechlike(1.0, level=peak / 1.2)
    noisy *= peak / np.abs(noisy).max()
    enhanced = enhance(noisy, RATE)  # the guard is on by default
    assert np.isfinite(enhanced).all()
    assert np.sqrt(np.mean(enhanced**2)) < np.sqrt(np.mean(noisy**2))


def test_the_bundled_model_diverging_from_t1_is_refused_by_the_array_api() -> None:
    noisy = _noisy_speechlike()
    with pytest.warns(UserWarning, match="trained and validated for the reverse sampler, 1 step from t=0.3"):
        enhancer = Enhancer(sampler="pc", steps=3)
    with pytest.raises(UnsafeOutputError) as caught:
        enhancer(noisy, RATE)
    stats = caught.value.stats
    assert stats.clipped_fraction > 0.9 and stats.gain_db > 40  # measured: 99.9 %, +94 dB
    assert "meant for the reverse sampler, 1 step from t=0.3" in str(caught.value)
    # the same with the guard off returns the noise, as before the guard existed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        blast = Enhancer(sampler="pc", steps=3, output_limits=None)(noisy, RATE)
    assert np.mean(np.abs(blast) > 1.0) > 0.9


def test_integer_arrays_use_their_own_full_scale() -> None:
    noisy = np.round(_noisy_speechlike() * 32767 * 9).clip(-32768, 32767).astype(np.int16)  # clips on input
    enhanced = enhance(noisy, RATE)
    assert enhanced.dtype == np.int16
    with pytest.warns(UserWarning), pytest.raises(UnsafeOutputError, match="exceed full scale"):
        enhance(noisy, RATE, sampler="reverse", t_start=0.999)


def test_cli_fails_the_diverging_file_writes_nothing_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case: the bundled model with predictor-corrector sampling from t = 1 (3 steps here for speed;
    30 steps in the slow test below)."""
    src = tmp_path / "in"
    src.mkdir()
    sf.write(src / "speech.wav", _noisy_speechlike(), RATE, subtype="PCM_16")
    sf.write(src / "silence.wav", np.zeros(RATE // 2, np.float32), RATE, subtype="PCM_16")
    out = tmp_path / "out"
    status = main(["enhance", str(src), "-o", str(out), "--sampler", "pc", "--steps", "3", "-q"])
    err = capsys.readouterr().err
    assert status == 1
    assert sorted(p.name for p in out.iterdir()) == ["silence.wav"]  # the other file was still processed
    warning = [line for line in err.splitlines() if line.startswith("crpse: warning:")]
    assert len(warning) == 1 and "trained and validated for the reverse sampler, 1 step from t=0.3" in warning[0]
    assert "asked for the pc sampler, 3 steps from t=0.999" in warning[0]
    error = [line for line in err.splitlines() if line.startswith("crpse: error:")]
    assert len(error) == 1
    assert error[0].startswith(f"crpse: error: {src / 'speech.wav'}: unsafe enhanced audio refused: ")
    assert "of output samples exceed full scale" in error[0] and "dB louder than the input's" in error[0]
    assert error[0].endswith("meant for the reverse sampler, 1 step from t=0.3; no output written")
    assert not list(out.glob(".*"))  # no temporary file left behind
    # the model's own setting enhances the same file
    assert main(["enhance", str(src / "speech.wav"), "-o", str(tmp_path / "own"), "-q"]) == 0
    written, rate = sf.read(tmp_path / "own" / "speech.wav")
    assert rate == RATE and np.abs(written).max() < 0.2


def test_cli_no_output_guard_writes_the_noise(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "speech.wav"
    sf.write(source, _noisy_speechlike(), RATE, subtype="FLOAT")
    args = ["enhance", str(source), "-o", str(tmp_path / "out"), "--sampler", "reverse", "--t-start", "0.999", "-q"]
    assert main([*args, "--no-output-guard"]) == 0
    written, _ = sf.read(tmp_path / "out" / "speech.wav")
    assert np.mean(np.abs(written) > 1.0) > 0.9


@pytest.mark.slow
def test_the_issues_exact_case_pc_30_steps_from_t1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    source = tmp_path / "x.wav"
    sf.write(source, _noisy_speechlike(2.0), RATE, subtype="PCM_16")
    assert main(["enhance", str(source), "-o", str(tmp_path / "out"), "--sampler", "pc", "--steps", "30", "-q"]) == 1
    assert "unsafe enhanced audio refused" in capsys.readouterr().err
    assert not (tmp_path / "out" / "x.wav").exists()
