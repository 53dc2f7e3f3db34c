"""Enhancement API (crpse.enhancer): formats, rates, channels, determinism, windowing, bounded memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import crpse.enhancer
from crpse.enhancer import positional_noise
from crpse.metrics import si_sdr
from crpse.nn.ncsnpp import named_config
from crpse.score_model import build_model

# The random, untrained models of these tests return loud noise by construction, which the output guard refuses;
# the guard is tested on its own (tests/test_output_guard.py), so it is off here.
Enhancer = partial(crpse.enhancer.Enhancer, output_limits=None)
enhance = partial(crpse.enhancer.enhance, output_limits=None)


@pytest.fixture(scope="module")
def micro_model() -> torch.nn.Module:
    """An NCSN++ with 4 channels per level: same code path as ``tiny``, a fraction of the cost."""
    return build_model(named_config("tiny", nf=4, ch_mult=(1,) * 7, attn_resolutions=()), seed=0)


def _speechlike(seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """``[C, L]`` float32: amplitude-modulated harmonics plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    out = []
    for c in range(channels):
        f0 = 140 + 40 * c
        voiced = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6) if f0 * k < rate / 2)
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 2.5 * t + c)
        out.append(0.2 * envelope * voiced + 0.05 * rng.standard_normal(t.size))
    return np.asarray(out, dtype=np.float32)


def test_positional_noise_statistics_and_consistency() -> None:
    z = positional_noise(seed=3, channel=0, draw=0, first_frame=0, bins=256, frames=400)
    assert z.shape == (256, 400) and z.dtype == np.complex64
    assert abs(z.real.mean()) < 0.01 and abs(z.imag.mean()) < 0.01
    assert np.mean(np.abs(z) ** 2) == pytest.approx(1.0, abs=0.01)  # like torch.randn(complex): E|z|^2 = 1
    assert np.var(z.real) == pytest.approx(0.5, abs=0.01) and np.var(z.imag) == pytest.approx(0.5, abs=0.01)
    assert abs(np.corrcoef(z.real.ravel(), z.imag.ravel())[0, 1]) < 0.01
    # a window starting at frame 100 sees exactly the noise the whole signal has there
    np.testing.assert_array_equal(positional_noise(3, 0, 0, 100, 256, 50), z[:, 100:150])
    for other in (positional_noise(4, 0, 0, 0, 256, 400), positional_noise(3, 1, 0, 0, 256, 400),
                  positional_noise(3, 0, 1, 0, 256, 400)):
        assert abs(np.corrcoef(other.real.ravel(), z.real.ravel())[0, 1]) < 0.01


def test_array_api_returns_the_input_type_shape_and_dtype(micro_model: torch.nn.Module) -> None:
    enhancer = Enhancer(micro_model, window=None)
    mono = _speechlike(0.3, 16000)[0]
    out = enhancer(mono, 16000)
    assert isinstance(out, np.ndarray) and out.shape == mono.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and np.abs(out).max() > 0

    stereo = _speechlike(0.3, 22050, channels=2).astype(np.float64)
    out = enhancer(stereo, 22050)
    assert out.shape == stereo.shape and out.dtype == np.float64

    pcm = (mono * 20000).astype(np.int16)
    out = enhancer(pcm, 16000)
    assert out.dtype == np.int16 and out.shape == pcm.shape

    tensor = torch.from_numpy(stereo[:, :3000]).to(torch.float32)
    out = enhancer(tensor, 8000)
    assert isinstance(out, torch.Tensor) and out.shape == tensor.shape and out.dtype == torch.float32
    assert out.device == tensor.device
    # scale equivariance through the peak normalisation: integer PCM and float input give the same signal
    from_pcm = enhancer(pcm, 16000) / 20000
    from_float = enhancer(pcm.astype(np.float32) / 20000, 16000)
    unclipped = np.abs(from_float) < 32767 / 20000  # the untrained network overshoots; int16 clips there
    assert unclipped.mean() > 0.5
    np.testing.assert_allclose(from_pcm[unclipped], from_float[unclipped], atol=2e-4)
    assert np.all(np.abs(from_pcm[~unclipped]) >= 32767 / 20000 - 1e-4)


def test_array_api_rejects_bad_input(micro_model: torch.nn.Module) -> None:
    enhancer = Enhancer(micro_model)
    with pytest.raises(ValueError, match=r"\[C, L\]"):
        enhancer(np.zeros((1, 1, 100), np.float32), 16000)
    with pytest.raises(ValueError, match="looks like"):
        enhancer(np.zeros((16000, 2), np.float32), 16000)
    with pytest.raises(ValueError, match="empty"):
        enhancer(np.zeros(0, np.float32), 16000)
    bad = np.zeros(1000, np.float32)
    bad[10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        enhancer(bad, 16000)
    with pytest.raises(TypeError):
        enhancer([0.0, 1.0], 16000)  # type: ignore[arg-type]


def test_silence_gives_silence_without_nan(micro_model: torch.nn.Module, caplog: pytest.LogCaptureFixture) -> None:
    enhancer = Enhancer(micro_model)
    for signal in (np.zeros((2, 5000), np.float32), np.full(5000, 1e-10, np.float32)):
        out = enhancer(signal, 16000)
        assert out.shape == signal.shape and np.all(out == 0)
    assert "silent" in caplog.text


def test_very_short_input(micro_model: torch.nn.Module) -> None:
    enhancer = Enhancer(micro_model)
    for length, rate in ((1, 48000), (3, 16000), (100, 16000), (300, 44100)):
        out = enhancer(np.full(length, 0.3, np.float32), rate)
        assert out.shape == (length,) and np.isfinite(out).all()


def test_seed_and_batch_size(micro_model: torch.nn.Module) -> None:
    signal = _speechlike(3.0, 16000, channels=2)
    settings = dict(window=1.0, overlap=0.25)
    first = Enhancer(micro_model, seed=7, batch_size=3, **settings)(signal, 16000)
    again = Enhancer(micro_model, seed=7, batch_size=3, **settings)(signal, 16000)
    np.testing.assert_array_equal(first, again)
    other_seed = Enhancer(micro_model, seed=8, batch_size=3, **settings)(signal, 16000)
    assert np.abs(other_seed - first).max() > 1e-3
    # the noise depends on (seed, channel, frame) only, so the batch size changes nothing but rounding
    one_by_one = Enhancer(micro_model, seed=7, batch_size=1, **settings)(signal, 16000)
    np.testing.assert_allclose(one_by_one, first, atol=1e-5)
    random_seed = Enhancer(micro_model, seed=None, **settings)
    assert isinstance(random_seed.seed, int)


@pytest.mark.parametrize(("sampler", "options", "nfe_draws"), [
    ("reverse", {}, 2), ("pc", {"corrector_steps": 1, "snr": 0.3}, 4), ("ode", {"method": "heun"}, 1),
])
def test_samplers_and_their_options(micro_model: torch.nn.Module, sampler: str, options: dict, nfe_draws: int) -> None:
    enhancer = Enhancer(micro_model, sampler=sampler, steps=2, **options)
    assert enhancer._noise_draws == nfe_draws
    out = enhancer(_speechlike(0.2, 16000)[0], 16000)
    assert np.isfinite(out).all() and out.shape == (3200,)


def test_invalid_settings_teach_the_fix(micro_model: torch.nn.Module) -> None:
    with pytest.raises(ValueError, match="do not apply to the reverse sampler"):
        Enhancer(micro_model, sampler="reverse", snr=0.5)
    with pytest.raises(ValueError, match="unknown sampler"):
        Enhancer(micro_model, sampler="ddim")
    with pytest.raises(ValueError, match="t_start"):
        Enhancer(micro_model, t_start=1.5)
    with pytest.raises(ValueError, match="half"):
        Enhancer(micro_model, window=1.0, overlap=0.9)
    with pytest.raises(ValueError, match="batch_size"):
        Enhancer(micro_model, batch_size=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Enhancer("/nonexistent/model.ckpt")


def test_predictive_model_runs_without_a_sampler() -> None:
    model = build_model(named_config("tiny", nf=4, ch_mult=(1,) * 7, attn_resolutions=()), kind="predictive", seed=1)
    enhancer = Enhancer(model)
    assert enhancer._noise_draws == 0 and "predictive" in enhancer.describe()
    out = enhancer(_speechlike(0.2, 16000)[0], 16000)
    assert np.isfinite(out).all()
    with pytest.raises(ValueError, match="predictive"):
        Enhancer(model, sampler="pc")


def test_default_model_is_missing_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    import crpse.assets as assets

    missing = assets.BundledModel("default", "no-such-model.ckpt", "a model this installation lacks")
    monkeypatch.setitem(assets.BUNDLED_MODELS, "default", missing)
    with pytest.raises(FileNotFoundError, match="--model"):
        assets.default_model_path()
    with pytest.raises(FileNotFoundError, match="pass a checkpoint"):
        Enhancer(None)


def test_enhance_function_loads_checkpoints_and_follows_the_tensor(tiny_ckpt: Path) -> None:
    signal = torch.from_numpy(_speechlike(0.25, 16000)[0]).double()
    out = enhance(signal, 16000, model=tiny_ckpt, seed=1)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out.shape == signal.shape
    np.testing.assert_array_equal(out.numpy(), enhance(signal, 16000, model=str(tiny_ckpt), seed=1).numpy())


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_files_keep_rate_channels_length_and_subtype(tiny_ckpt: Path, tmp_path: Path, rate: int) -> None:
    enhancer = Enhancer(tiny_ckpt, batch_size=2)
    subtypes = ["PCM_16", "PCM_24", "FLOAT"]
    for channels in (1, 2):
        for index, subtype in enumerate(subtypes):
            if (index + channels) % 3 and rate not in (16000,):
                continue  # every (rate, channels) pair once, every subtype for 16 kHz, all subtypes covered
            source = tmp_path / f"in_{channels}_{subtype}.wav"
            sf.write(source, _speechlike(0.3, rate, channels).T, rate, subtype=subtype)
            target = tmp_path / "out" / source.name
            result = enhancer.enhance_file(source, target)
            info = sf.info(target)
            assert (info.samplerate, info.channels, info.frames, info.subtype) == (rate, channels, int(0.3 * rate),
                                                                                  subtype)
            assert result.frames == info.frames and not result.silent
            data = sf.read(target, always_2d=True)[0]
            assert np.isfinite(data).all() and np.abs(data).max() > 0
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(("suffix", "subtype"), [(".flac", "PCM_24"), (".wav", "FLOAT"), (".ogg", "VORBIS")])
def test_same_seed_gives_identical_bytes(tiny_ckpt: Path, tmp_path: Path, suffix: str, subtype: str) -> None:
    source = tmp_path / f"a{suffix}"
    sf.write(source, _speechlike(0.4, 44100, 2).T, 44100, subtype=subtype)
    Enhancer(tiny_ckpt, seed=5).enhance_file(source, tmp_path / f"x{suffix}")
    Enhancer(tiny_ckpt, seed=5).enhance_file(source, tmp_path / f"y{suffix}")
    Enhancer(tiny_ckpt, seed=6).enhance_file(source, tmp_path / f"z{suffix}")
    assert (tmp_path / f"x{suffix}").read_bytes() == (tmp_path / f"y{suffix}").read_bytes()
    assert (tmp_path / f"x{suffix}").read_bytes() != (tmp_path / f"z{suffix}").read_bytes()
    assert source.read_bytes() != (tmp_path / f"x{suffix}").read_bytes()


def test_file_safety(micro_model: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    enhancer = Enhancer(micro_model, window=0.5, overlap=0.1)
    source = tmp_path / "in.wav"
    sf.write(source, _speechlike(2.0, 16000).T, 16000, subtype="PCM_16")
    original = source.read_bytes()
    with pytest.raises(ValueError, match="input file"):
        enhancer.enhance_file(source, tmp_path / "." / "in.wav", overwrite=True)
    existing = tmp_path / "exists.wav"
    existing.write_bytes(b"keep")
    with pytest.raises(FileExistsError, match="overwrite"):
        enhancer.enhance_file(source, existing)
    assert existing.read_bytes() == b"keep"

    calls = 0
    real = enhancer.enhance_windows

    def fail_midway(*args: object, **kwargs: object) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("simulated failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(enhancer, "enhance_windows", fail_midway)
    with pytest.raises(RuntimeError, match="simulated"):
        enhancer.enhance_file(source, tmp_path / "out" / "partial.wav")
    assert list((tmp_path / "out").iterdir()) == []  # neither the output nor its temporary file
    assert source.read_bytes() == original


def _activate_residual_branches(model: torch.nn.Module, scale: float) -> torch.nn.Module:
    """Give the zero-initialised layers (init_scale=0: the last conv of every residual block, the attention
    output) random weights ``N(0, scale**2 / fan_in)``, so the network depends on its whole input the way a trained
    one does (an untrained NCSN++ is nearly a fixed local filter)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1 and parameter.abs().max() < 1e-3:
                fan_in = parameter[0].numel()
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale / fan_in**0.5)
    return model


def test_chunked_equals_whole_file_on_20_seconds(tiny_ckpt: Path) -> None:
    """Windowed (6 s windows, 1 s cross-fades: 4 windows) vs one pass over a 20 s signal, 1-step CRP sampler.

    The sampler's prior noise is a function of the absolute STFT frame (:func:`positional_noise`), so both runs
    draw identical noise at every time position and differ only through the network's context. The untrained
    ``tiny`` network is nearly local, so they agree to float precision (118 dB); with its residual branches
    activated the network sees its whole input (GroupNorm statistics over the time axis, attention), and the
    difference spreads over the whole file rather than the window edges (measured 32.6 dB at scale 0.1).
    """
    signal = _speechlike(20.0, 16000, seed=2)[0]
    chunked = Enhancer(tiny_ckpt, seed=0, batch_size=2)(signal, 16000)
    whole = Enhancer(tiny_ckpt, seed=0, window=None)(signal, 16000)
    assert chunked.shape == whole.shape == signal.shape
    agreement = si_sdr(whole, chunked)
    print(f"chunked vs whole: SI-SDR {agreement:.1f} dB; input vs whole: {si_sdr(signal, whole):.1f} dB")
    assert agreement > 30.0, agreement
    assert si_sdr(signal, whole) < 0  # the output is not trivially the input

    active = _activate_residual_branches(build_model("tiny", seed=0), scale=0.1)
    chunked = Enhancer(active, seed=0, batch_size=2)(signal, 16000)
    whole = Enhancer(active, seed=0, window=None)(signal, 16000)
    agreement = si_sdr(whole, chunked)
    print(f"activated network: chunked vs whole SI-SDR {agreement:.1f} dB")
    assert agreement > 30.0, agreement


def test_the_sampler_gets_the_official_preprocessing(golden: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole-file mode feeds the sampler exactly what the official eval feeds it: spec_fwd(stft(y / max|y|)),
    zero-padded to 64 frames; with an identity sampler the output is to_audio(.) * max|y|, i.e. the input."""
    import crpse.sampling

    stft = golden["stft"]
    captured = []

    def identity_sampler(model: object, y: torch.Tensor, **kwargs: object) -> tuple[torch.Tensor, int]:
        captured.append(y)
        return y, 1

    monkeypatch.setattr(crpse.sampling, "sample", identity_sampler)
    model = build_model(named_config("tiny", nf=4, ch_mult=(1,) * 7, attn_resolutions=()), seed=0)
    wave = stft["wave"][0].numpy()
    out = Enhancer(model, window=None)(wave, 16000)
    (y,) = captured
    assert y.shape == stft["spec_fwd_padded"].shape
    # |z|**0.5 turns float32 FFT rounding (~1e-6, in the many near-empty bins) into ~3e-4, so compare both the
    # compressed spectrogram loosely and the linear one (peak |Y| = 77) tightly
    torch.testing.assert_close(y, stft["spec_fwd_padded"], atol=1e-3, rtol=0)
    linear = model.transform.decompress
    torch.testing.assert_close(linear(y), linear(stft["spec_fwd_padded"]), atol=2e-5, rtol=0)
    np.testing.assert_allclose(out, stft["inverse_of_padded"].numpy() * float(stft["norm_factor"]), atol=1e-6)
    np.testing.assert_allclose(out, wave, atol=1e-5)


def test_inference_path_does_not_import_lightning() -> None:
    code = (
        "import crpse.enhancer, crpse.commands.enhance, crpse.commands.info, crpse.audio, sys; "
        "assert 'lightning' not in sys.modules and 'pytorch_lightning' not in sys.modules, 'lightning imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def _peak_rss_of(command: list[str], env: dict[str, str] | None = None) -> tuple[int, float]:
    """Run a command; return (peak RSS in bytes, wall seconds) via /usr/bin/time -v or rusage."""
    import resource

    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, timeout=3600)
    wall = time.perf_counter() - start
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, wall


@pytest.mark.slow
def test_ten_minute_file_in_bounded_memory(tiny_ckpt: Path, tmp_path: Path) -> None:
    rate = 16000
    source = tmp_path / "long.wav"
    with sf.SoundFile(source, "w", samplerate=rate, channels=1, subtype="PCM_16") as handle:
        for minute in range(10):
            handle.write(_speechlike(60.0, rate, seed=minute)[0])
    crpse = Path(sys.executable).parent / "crpse"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    rss, wall = _peak_rss_of(
        [str(crpse), "enhance", str(source), "-o", str(tmp_path / "out"), "--model", str(tiny_ckpt), "-q",
         "--no-output-guard"], env,  # the random model's loud noise would be refused
    )
    info = sf.info(tmp_path / "out" / "long.wav")
    assert info.frames == 10 * 60 * rate and info.samplerate == rate
    assert rss < 2 * 1024**3, f"peak RSS {rss / 2**20:.0f} MiB"
    print(f"10-min file: peak RSS {rss / 2**20:.0f} MiB, wall {wall:.0f} s")
