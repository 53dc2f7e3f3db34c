"""Full-band input: does ``--upper-band keep`` bring the band above the model's Nyquist frequency back?

Material (allowed sources only, docs/data.md): clean full-band speech are the spoken words of Debian's
``ktuberling-data`` (real voices, 44.1/48 kHz, GPL-2+; extract the .deb with ``dpkg-deb -x`` and pass the
``usr/share/ktuberling/sounds`` folder), up to ``--per-language`` files from each of the languages in
``--languages``, each at least 0.5 s long and recorded at 44.1 kHz or more. Each is mixed with full-band noise
(rotating: white, pink, and 'hiss', white noise high-passed at 4 kHz) at a rotating SNR (0, 5, 10 dB, over the
whole band), with a fixed seed. The mixture is enhanced by the bundled model at its own setting with
``upper_band="keep"`` and ``"drop"`` (the input's rate is kept; the model runs at 16 kHz).

Scores, against the clean reference:

* upper-band log-spectral distance, ``LSD = mean_frames sqrt(mean_bins (10 log10 (P_est + e) / (P_ref + e))^2)``
  in dB, over the STFT bins from 8.5 to 16 kHz (2048-point Hann, hop 512), ``e`` = 1e-8 times the reference's mean
  bin power in that band (a floor 80 dB under its average level), for keep, drop and the untouched noisy input;
* PESQ (wide-band) and SI-SDR on the band-limited part: every signal resampled to 16 kHz (soxr), for keep, drop and
  noisy: keep and drop must be equal there.

    python benchmarks/upper_band.py --speech DEB/usr/share/ktuberling/sounds --json out.json
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from crpse.enhancer import Enhancer
from crpse.metrics import pesq_score, si_sdr

NOISES = ("white", "pink", "hiss")
SNRS = (0.0, 5.0, 10.0)
BAND = (8500.0, 16000.0)


def noise(kind: str, length: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(length)
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(length, 1.0 / rate)
    if kind == "pink":
        spectrum[1:] /= np.sqrt(freqs[1:] / freqs[1])
        spectrum[0] = 0
    elif kind == "hiss":
        spectrum[freqs < 4000] = 0
    shaped = np.fft.irfft(spectrum, n=length)
    return shaped / np.sqrt(np.mean(shaped**2))


def lsd(reference: np.ndarray, estimate: np.ndarray, rate: int) -> float:
    def power(x: np.ndarray) -> np.ndarray:
        spec = torch.stft(torch.from_numpy(x), 2048, 512, window=torch.hann_window(2048, dtype=torch.float64),
                          return_complex=True)
        freqs = np.fft.rfftfreq(2048, 1.0 / rate)
        return (spec.abs() ** 2).numpy()[(freqs >= BAND[0]) & (freqs <= BAND[1])]

    ref, est = power(reference), power(estimate)
    floor = 1e-8 * ref.mean()
    diff = 10 * np.log10((est + floor) / (ref + floor))
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=0))))


def speech_files(root: Path, languages: list[str], per_language: int) -> list[Path]:
    chosen = []
    for language in languages:
        found = 0
        for path in sorted((root / language).glob("*")):
            if path.suffix.lower() not in (".ogg", ".wav", ".opus") or found >= per_language:
                continue
            info = sf.info(path)
            if info.samplerate >= 44100 and info.frames >= 0.5 * info.samplerate:
                chosen.append(path)
                found += 1
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speech", type=Path, required=True, help="ktuberling-data's sounds folder")
    parser.add_argument("--languages", default="da,el,fr,gl,lt,nn,uk,wa")
    parser.add_argument("--per-language", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(args.seed)
    enhancers = {mode: Enhancer(upper_band=mode) for mode in ("keep", "drop")}
    rows = []
    for index, path in enumerate(speech_files(args.speech, args.languages.split(","), args.per_language)):
        clean, rate = sf.read(path, always_2d=True)
        clean = clean.mean(axis=1)
        clean = 0.05 * clean / np.sqrt(np.mean(clean**2))  # -26 dBFS RMS
        kind, snr = NOISES[index % len(NOISES)], SNRS[(index // len(NOISES)) % len(SNRS)]
        noisy = clean + noise(kind, clean.size, rate, rng) * np.sqrt(np.mean(clean**2)) * 10 ** (-snr / 20)
        noisy = noisy.astype(np.float32)
        outputs = {mode: enhancer(noisy, rate).astype(np.float64) for mode, enhancer in enhancers.items()}
        outputs["noisy"] = noisy.astype(np.float64)
        low_clean = soxr.resample(clean, rate, 16000)
        row = {"file": f"{path.parent.name}/{path.name}", "rate": rate, "noise": kind, "snr": snr}
        for name, signal in outputs.items():
            low = soxr.resample(signal, rate, 16000)
            row[f"lsd_{name}"] = lsd(clean, signal, rate)
            row[f"pesq_{name}"] = pesq_score(low_clean, low, 16000)
            row[f"si_sdr_{name}"] = si_sdr(low_clean, low)
        row["max_low_band_difference"] = float(
            np.abs(soxr.resample(outputs["keep"], rate, 16000) - soxr.resample(outputs["drop"], rate, 16000)).max()
        )
        rows.append(row)
        print(f"{row['file']}: LSD keep {row['lsd_keep']:.1f} drop {row['lsd_drop']:.1f} noisy "
              f"{row['lsd_noisy']:.1f} dB", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(f"\n{len(rows)} files, rates {sorted({r['rate'] for r in rows})}, noises {', '.join(NOISES)}, "
          f"SNR {', '.join(f'{s:g}' for s in SNRS)} dB\n")
    print("| signal | upper-band LSD 8.5-16 kHz (dB) | PESQ (16 kHz) | SI-SDR (16 kHz, dB) |")
    print("|---|---|---|---|")
    for name in ("noisy", "drop", "keep"):
        cells = []
        for metric in ("lsd", "pesq", "si_sdr"):
            values = np.array([r[f"{metric}_{name}"] for r in rows], dtype=float)
            cells.append(f"{np.nanmean(values):.2f} ± {np.nanstd(values):.2f}")
        print(f"| {name} | {' | '.join(cells)} |")
    for snr in SNRS:
        part = [r for r in rows if r["snr"] == snr]
        print(f"SNR {snr:g} dB ({len(part)} files): LSD noisy {np.mean([r['lsd_noisy'] for r in part]):.2f}, "
              f"drop {np.mean([r['lsd_drop'] for r in part]):.2f}, keep {np.mean([r['lsd_keep'] for r in part]):.2f}")
    print(f"largest |keep - drop| after resampling both to 16 kHz: "
          f"{max(r['max_low_band_difference'] for r in rows):.2e}")


if __name__ == "__main__":
    main()
