"""Noise signals for the corpus: coloured, band-limited, mains hum, clicks, babble, recordings.

Every generator takes a length ``n`` (samples at 16 kHz) and the file's seeded
``numpy.random.Generator`` and returns ``(noise [n] float64, description)``; the description goes
into the manifest. Levels are arbitrary: :mod:`crpse.corpus.mixing` scales the noise to the SNR.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from crpse.corpus.sources import SAMPLE_RATE

#: Synthetic noise types (``babble`` needs talkers of the same split).
SYNTHETIC_TYPES = ("white", "pink", "brown", "bandlimited", "hum", "clicks", "babble")


def _fft_size(n: int) -> int:
    """Smallest power of two >= n (FFTs of arbitrary lengths can be slow)."""
    return 1 << max(0, (n - 1).bit_length())


def _shaped_noise(n: int, rng: np.random.Generator, gain_of: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Gaussian noise ``[n]`` whose spectrum is multiplied by ``gain_of(frequencies in Hz)``."""
    size = _fft_size(n)
    freqs = np.fft.rfftfreq(size, 1.0 / SAMPLE_RATE)
    spectrum = np.fft.rfft(rng.standard_normal(size)) * gain_of(freqs)
    return np.fft.irfft(spectrum, n=size)[:n]


def coloured_noise(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum ``1 / f**exponent`` (0 white, 1 pink, 2 brown).

    Below 40 Hz the spectrum is held flat and below 20 Hz it is removed, so that inaudible rumble
    does not dominate the noise power.

    Args:
        n: Length in samples.
        rng: Generator.
        exponent: Spectral slope.

    Returns:
        Noise ``[n]``.
    """
    def gain_of(freqs: np.ndarray) -> np.ndarray:
        gain = np.maximum(freqs, 40.0) ** (-exponent / 2.0)
        gain[freqs < 20.0] = 0.0
        return gain

    return _shaped_noise(n, rng, gain_of)


def bandlimited_noise(n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Noise in one random band (centre 150 Hz-5 kHz, 0.3-2 octaves wide, smooth edges)."""
    centre = float(np.exp(rng.uniform(np.log(150.0), np.log(5000.0))))
    octaves = float(rng.uniform(0.3, 2.0))
    low, high = centre * 2 ** (-octaves / 2), min(centre * 2 ** (octaves / 2), 7800.0)
    edge = 0.15  # octaves of raised-cosine roll-off

    def gain_of(freqs: np.ndarray) -> np.ndarray:
        log_f = np.log2(np.maximum(freqs, 1.0))
        rise = np.clip((log_f - (np.log2(low) - edge)) / edge, 0, 1)
        fall = np.clip(((np.log2(high) + edge) - log_f) / edge, 0, 1)
        return 0.5 - 0.5 * np.cos(np.pi * rise * fall)

    return _shaped_noise(n, rng, gain_of), f"band={low:.0f}-{high:.0f}Hz"


def mains_hum(n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Mains hum: a 50 or 60 Hz fundamental (slightly detuned) with random harmonics and a faint hiss."""
    mains = float(rng.choice([50.0, 60.0])) * (1 + rng.uniform(-0.004, 0.004))
    harmonics = int(rng.integers(4, 21))
    slope = float(rng.uniform(0.3, 1.5))
    odd_boost = float(rng.uniform(0.0, 1.0))
    t = np.arange(n) / SAMPLE_RATE
    hum = np.zeros(n)
    for k in range(1, harmonics + 1):
        if k * mains > 7500:
            break
        amplitude = k ** (-slope) * (1 + odd_boost * (k % 2)) * np.exp(rng.normal(0, 0.3))
        hum += amplitude * np.sin(2 * np.pi * k * mains * t + rng.uniform(0, 2 * np.pi))
    wobble = 1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.1, 1.0) * t + rng.uniform(0, 2 * np.pi))
    hum *= wobble
    hiss = rng.standard_normal(n) * np.sqrt(np.mean(hum**2)) * 10 ** (-30 / 20)
    return hum + hiss, f"f0={mains:.2f}Hz harmonics={harmonics}"


def clicks(n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Crackle and clicks: Poisson-timed short decaying noise bursts (1-60 per second) over a faint floor."""
    rate = float(np.exp(rng.uniform(np.log(1.0), np.log(60.0))))
    count = max(1, int(rng.poisson(rate * n / SAMPLE_RATE)))
    out = np.zeros(n)
    for _ in range(count):
        start = int(rng.integers(n))
        tau = rng.uniform(0.0001, 0.002) * SAMPLE_RATE
        length = min(n - start, int(8 * tau) + 1)
        shape = np.exp(-np.arange(length) / tau) * rng.standard_normal(length)
        out[start: start + length] += shape * 10 ** (rng.uniform(-20, 0) / 20)
    return add_floor(out, rng), f"rate={rate:.1f}/s"


def add_floor(noise: np.ndarray, rng: np.random.Generator, below_db: tuple[float, float] = (25.0, 40.0)) -> np.ndarray:
    """Add a faint stationary floor (white to brown) under a sparse noise, so that it has no digital silence.

    Args:
        noise: Sparse noise ``[n]`` (events, clicks).
        rng: Generator.
        below_db: Range of the floor's level below the mean power of ``noise``, dB.

    Returns:
        ``noise + floor``.
    """
    floor = coloured_noise(len(noise), rng, float(rng.uniform(0.0, 2.0)))
    power, floor_power = np.mean(noise**2), np.mean(floor**2)
    if power <= 0 or floor_power <= 0:
        return noise
    return noise + floor * np.sqrt(power / floor_power * 10 ** (-rng.uniform(*below_db) / 10))


def _normalised(audio: np.ndarray) -> np.ndarray:
    rms = np.sqrt(np.mean(audio**2))
    return audio / rms if rms > 0 else audio


def _crossfade_loop(recording: np.ndarray, n: int, offset: int, fade: int) -> np.ndarray:
    """Repeat ``recording`` from ``offset`` with raised-cosine crossfades of ``fade`` samples."""
    length = len(recording)
    fade = min(fade, length // 4)
    window = np.ones(length)
    if fade > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)
        window[:fade], window[-fade:] = ramp, ramp[::-1]
    tapered = recording * window
    out = np.zeros(n + length)
    position = -offset
    while position < n:
        start = max(position, 0)
        out[start: position + length] += tapered[start - position:]
        position += length - fade
    return out[:n]


def fit_recording(recording: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Fit a recorded noise to ``n`` samples.

    Long recordings are cropped at a random offset; recordings of at least 1 s are looped with
    crossfades from a random offset; shorter ones are events scattered at random times (0.05-1 s
    apart, -6..0 dB each). A faint stationary floor (:func:`add_floor`) goes under all of them, since
    many samples contain digital silence.

    Args:
        recording: Noise ``[L]`` at 16 kHz (silence already trimmed).
        n: Output length.
        rng: Generator.

    Returns:
        ``(noise [n], description)``.
    """
    length = len(recording)
    if length == 0:
        raise ValueError("empty noise recording")
    if length >= n:
        offset = int(rng.integers(length - n + 1))
        return add_floor(np.array(recording[offset: offset + n]), rng), f"crop offset={offset / SAMPLE_RATE:.3f}s"
    if length >= SAMPLE_RATE:
        offset = int(rng.integers(length))
        looped = _crossfade_loop(np.asarray(recording), n, offset, int(0.03 * SAMPLE_RATE))
        return add_floor(looped, rng), f"loop offset={offset / SAMPLE_RATE:.3f}s"
    out = np.zeros(n)
    position = int(rng.uniform(0, 0.5) * SAMPLE_RATE)
    count = 0
    while position < n or count == 0:
        position = min(position, n - 1)
        end = min(n, position + length)
        out[position:end] += recording[: end - position] * 10 ** (rng.uniform(-6, 0) / 20)
        count += 1
        position = end + int(rng.uniform(0.05, 1.0) * SAMPLE_RATE)
    return add_floor(out, rng), f"events count={count}"


def babble(n: int, rng: np.random.Generator, streams: Sequence[tuple[np.ndarray, str]],
           talker_range: tuple[int, int] = (4, 8)) -> tuple[np.ndarray, str]:
    """Sum 4-8 talkers, each at a random offset and a random level within +-4 dB.

    Args:
        n: Length in samples.
        rng: Generator.
        streams: Candidate talkers ``(speech [L], label)`` (different people, none the target talker).
        talker_range: Inclusive range of the number of talkers.

    Returns:
        ``(noise [n], description)`` naming the talkers used.
    """
    low, high = talker_range
    if len(streams) < low:
        raise ValueError(f"babble needs at least {low} talkers, got {len(streams)}")
    count = int(rng.integers(low, min(high, len(streams)) + 1))
    chosen = rng.choice(len(streams), size=count, replace=False)
    out = np.zeros(n)
    labels = []
    for index in sorted(int(i) for i in chosen):
        speech, label = streams[index]
        offset = int(rng.integers(len(speech)))
        looped = np.resize(np.roll(speech, -offset), n)  # np.resize repeats the signal when it is short
        out += _normalised(looped) * 10 ** (rng.uniform(-4, 4) / 20)
        labels.append(label)
    return out, "talkers=" + "|".join(labels)


def typing(n: int, rng: np.random.Generator, keystrokes: Sequence[np.ndarray]) -> tuple[np.ndarray, str]:
    """Typing noise: keystrokes at 4-9 per second in bursts, with pauses, over a faint floor.

    Args:
        n: Length in samples.
        rng: Generator.
        keystrokes: Single keystroke recordings ``[L_i]`` (16 kHz, silence trimmed).

    Returns:
        ``(noise [n], description)``.
    """
    if not keystrokes:
        raise ValueError("typing noise needs at least one keystroke recording")
    rate = float(rng.uniform(4.0, 9.0))
    out = np.zeros(n)
    position, count = int(rng.uniform(0, 0.3) * SAMPLE_RATE), 0
    while position < n:
        stroke = keystrokes[int(rng.integers(len(keystrokes)))]
        end = min(n, position + len(stroke))
        out[position:end] += stroke[: end - position] * 10 ** (rng.uniform(-6, 0) / 20)
        count += 1
        pause = rng.exponential(1.0 / rate) + (rng.uniform(0.5, 1.5) if rng.random() < 0.08 else 0.0)
        position += int(max(pause, 0.04) * SAMPLE_RATE)
    return add_floor(out, rng), f"typing rate={rate:.1f}/s strokes={count}"


def synthetic_noise(kind: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Generate one of the non-babble synthetic types (see :data:`SYNTHETIC_TYPES`)."""
    if kind == "white":
        return coloured_noise(n, rng, 0.0), ""
    if kind == "pink":
        return coloured_noise(n, rng, 1.0), ""
    if kind == "brown":
        return coloured_noise(n, rng, 2.0), ""
    if kind == "bandlimited":
        return bandlimited_noise(n, rng)
    if kind == "hum":
        return mains_hum(n, rng)
    if kind == "clicks":
        return clicks(n, rng)
    raise ValueError(f"unknown synthetic noise {kind!r}; choose from {', '.join(SYNTHETIC_TYPES)}")
