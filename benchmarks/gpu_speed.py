"""crpse's CUDA paths side by side with the official network, on one GPU (issue 15's GPU figures).

    python benchmarks/gpu_speed.py --reference SGMSE_CRP_CHECKOUT -o OUT [--audio NOISY_DIR] [--budget-s 420]
        [--parts network,enhance,...]

Each part adds its rows to ``OUT/results.csv`` as soon as it finishes (column ``part``; it also prints them as a
Markdown table), so a run stopped at its time limit keeps what it measured; ``--budget-s`` skips the parts that
would start after that many seconds. The parts, in the order they run (``--parts`` picks some):

* ``network``: one score-model call ``model(x_t, y, t)`` on complex ``[B, 1, 256, T]`` inputs under
  ``torch.inference_mode``, the paths **interleaved** (one call of each per round, the order rotating), each call
  bracketed by ``torch.cuda.synchronize()``; median and minimum over the rounds after two warm-up calls. Networks:
  ``ncsnpp`` (random weights, ``init_scale=1``) at B = 1, T = 256 (the input of the issue's CPU table) and the
  bundled model at one 6-s window, B = 1 and 8. Paths: the official NCSN++ of the sgmse_crp checkout on the same
  weights (:mod:`crpse.bench.reference`: its pure-PyTorch ``upfirdn2d_native``), as PyTorch runs it by default
  (cuDNN may use TF32) and with TF32 off; crpse eager fp32 (TF32 off: the faithful path), bf16 and fp16 autocast.
  Errors are the maximum relative error ``max|a - b| / max|b|`` against crpse eager fp32 on the same input.
* ``enhance``: :class:`crpse.Enhancer` with the bundled model on 60 s of generated audio in this process, per
  precision, at ``batch_size`` 1 and 8, after a warm-up call: wall seconds and RTF (median of 3).
* ``process``: ``crpse enhance --device cuda`` of a 60 s file in a fresh process (start-up, model load, CUDA
  context, I/O included; :func:`crpse.bench.speed.time_end_to_end`): wall, RTF, host CPU time, host peak RSS.
* ``windows``: the bundled model's whole window step (:meth:`crpse.Enhancer.enhance_windows`) per window at
  batch 1, 2, 4, 8, 16 and 32, interleaved: what ``--batch-size`` buys on a GPU.
* ``outputs`` (with ``--audio DIR``): ``OUT/outputs.npz``, the noisy files of DIR enhanced by the bundled model at
  fp32, bf16 and fp16 (int16 PCM, key ``precision/file``), to be scored against the clean references on the host
  (``benchmarks/score_precision_outputs.py``).
* ``compiled-bundled``, ``compiled-enhance``, ``compiled-ncsnpp`` (last: each compiles for tens of seconds per
  shape): ``torch.compile`` with CUDA graphs (``--backend compile``) in fp32 and fp16, as ``network`` rows next to
  the reference for the bundled model and ``ncsnpp``, and through the Enhancer on the 60 s audio.

Prints the GPU, driver-visible CUDA version, torch version and the host CPU.
"""

from __future__ import annotations

import argparse
import copy
import csv
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crpse.backends import InferenceBackend, select_backend
from crpse.backends.eager import load_inference_model
from crpse.bench.reference import import_reference, random_model, reference_like
from crpse.bench.speed import frames_for, machine_info, time_end_to_end
from crpse.enhancer import Enhancer


#: the parts in the order they run (compiling ones last: each compiles for tens of seconds per shape)
PARTS = ("network", "enhance", "process", "windows", "outputs", "compiled-bundled", "compiled-enhance",
         "compiled-ncsnpp")


@dataclass
class Row:
    part: str
    network: str
    path: str
    batch: int
    frames: int
    median_ms: float = 0.0
    min_ms: float = 0.0
    vs_reference: float = 0.0  # reference (PyTorch defaults) median / this median
    max_rel_error: float = 0.0
    setup_s: float = 0.0  # the first call (compiling and capturing, for compiled paths)
    rtf: float = 0.0
    peak_rss_mib: float = 0.0
    note: str = ""


@dataclass
class _Timed:
    name: str
    call: Callable[[], Any]
    times: list[float] = field(default_factory=list)
    setup_s: float = 0.0
    error: float = 0.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _relative(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got - expected).abs().max() / expected.abs().max())


def write_rows(rows: Sequence[Row], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(Row.__dataclass_fields__))
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))


def markdown(rows: Sequence[Row]) -> str:
    lines = ["| part | network | path | batch | frames | median ms | min ms | vs reference | max rel. error | "
             "first call s | RTF | peak RSS MiB | note |", "|" + "---|" * 13]
    for r in rows:
        lines.append("| " + " | ".join([
            r.part, r.network, r.path, str(r.batch), str(r.frames), f"{r.median_ms:.2f}", f"{r.min_ms:.2f}",
            f"{r.vs_reference:.2f}x" if r.vs_reference else "-", f"{r.max_rel_error:.1e}" if r.max_rel_error else "-",
            f"{r.setup_s:.1f}" if r.setup_s else "-", f"{r.rtf:.5f}" if r.rtf else "-",
            f"{r.peak_rss_mib:.0f}" if r.peak_rss_mib else "-", r.note]) + " |")
    return "\n".join(lines)


def _crpse_call(model: Any, backend: InferenceBackend, inputs: tuple[torch.Tensor, ...]) -> Callable[[], Any]:
    device = inputs[0].device
    prepared = backend.prepare(copy.deepcopy(model).to(device))

    def call() -> torch.Tensor:
        with torch.inference_mode(), backend.autocast(device):
            return prepared(*inputs)

    return call


def _reference_call(reference: Any, inputs: tuple[torch.Tensor, ...], tf32: bool) -> Callable[[], Any]:
    cudnn = torch.backends.cudnn

    def call() -> torch.Tensor:
        with torch.inference_mode(), cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark,
                                                 deterministic=cudnn.deterministic, allow_tf32=tf32):
            return reference(*inputs)

    return call


def time_interleaved(paths: list[_Timed], expected: torch.Tensor, device: torch.device, rounds: int) -> None:
    """Two warm-up calls per path (the first one's wall time kept as ``setup_s``), then ``rounds`` rounds of one
    call per path in rotating order; fills ``times`` (seconds) and ``error`` (against ``expected``)."""
    for path in paths:
        _sync(device)
        start = time.perf_counter()
        out = path.call()
        _sync(device)
        path.setup_s = time.perf_counter() - start
        path.error = _relative(out.detach().clone(), expected)
        path.call()
    for index in range(rounds):
        shift = index % len(paths)
        for path in paths[shift:] + paths[:shift]:
            _sync(device)
            start = time.perf_counter()
            path.call()
            _sync(device)
            path.times.append(time.perf_counter() - start)


def network_rows(
    name: str, model: Any, batch: int, frames: int, device: torch.device, reference_class: type | None,
    precisions: Sequence[str], compiled: Sequence[str], rounds: int,
) -> list[Row]:
    """One interleaved comparison (see the module docstring, part 1)."""
    generator = torch.Generator().manual_seed(0)
    shape = (batch, 1, int(model.transform.num_bins), frames)
    inputs = tuple(t.to(device) for t in (
        torch.randn(shape, dtype=torch.complex64, generator=generator) * 0.3,
        torch.randn(shape, dtype=torch.complex64, generator=generator) * 0.3,
        torch.full((batch,), 0.5)))
    faithful = InferenceBackend("eager", "fp32", False)
    expected = _crpse_call(model, faithful, inputs)().clone()
    paths: list[_Timed] = []
    if reference_class is not None:
        reference = reference_like(model, reference_class)
        reference.network.to(device)
        paths.append(_Timed("reference (PyTorch defaults)", _reference_call(reference, inputs, tf32=True)))
        paths.append(_Timed("reference, TF32 off", _reference_call(reference, inputs, tf32=False)))
    for precision in precisions:
        backend = faithful if precision == "fp32" else select_backend("eager", precision, device)
        paths.append(_Timed(f"crpse eager {precision}", _crpse_call(model, backend, inputs)))
    for precision in compiled:
        backend = select_backend("compile", precision, device)
        paths.append(_Timed(f"crpse compile {precision}", _crpse_call(model, backend, inputs)))
    time_interleaved(paths, expected, device, rounds)
    print(f"timed {name} at batch {batch}, {frames} frames", flush=True)
    base = statistics.median(paths[0].times) if reference_class is not None else 0.0
    rows = []
    for path in paths:
        median = statistics.median(path.times)
        rows.append(Row("network", name, path.name, batch, frames, median * 1e3, min(path.times) * 1e3,
                        base / median if base else 0.0, path.error, path.setup_s,
                        rtf=median / (batch * (frames - 1) * 128 / 16000)))
    return rows


def enhance_rows(device: torch.device, seconds: float, paths: Sequence[tuple[str, str]], batch: int) -> list[Row]:
    """The bundled model through :class:`Enhancer` on ``seconds`` of generated audio, in this process."""
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
    rows = []
    for backend, precision in paths:
        enhancer = Enhancer(None, device=device, backend=backend, precision=precision, batch_size=batch)
        start = time.perf_counter()
        enhancer(audio, 16000)
        _sync(device)
        first = time.perf_counter() - start
        walls = []
        for _ in range(3):
            start = time.perf_counter()
            enhancer(audio, 16000)
            _sync(device)
            walls.append(time.perf_counter() - start)
        median = statistics.median(walls)
        rows.append(Row("enhance", "bundled", f"{backend} {precision}", batch, 0, median * 1e3, min(walls) * 1e3,
                        setup_s=first, rtf=median / seconds, note=f"{seconds:g} s in process, after a warm-up"))
    return rows


def process_rows(device: str, seconds: float, precisions: Sequence[str]) -> list[Row]:
    rows = []
    for precision in precisions:
        for r in time_end_to_end(None, seconds, repeats=2, extra_args=["--device", device, "--precision", precision],
                                 backends=("eager",)):
            rows.append(Row("process", "bundled", f"crpse enhance --device {device} --precision {precision}", 1, 0,
                            r.median_s * 1e3, r.min_s * 1e3, rtf=r.rtf, peak_rss_mib=r.peak_rss_mib,
                            note=f"{seconds:g} s file, whole process; host CPU {r.cpu_s:.1f} s"))
    return rows


def window_rows(device: torch.device, batches: Sequence[int], seconds: float = 6.0, rounds: int = 5) -> list[Row]:
    enhancer = Enhancer(None, device=device, backend="eager", precision="fp32")
    rng = np.random.default_rng(0)
    waves = {b: (0.1 * rng.standard_normal((b, int(seconds * 16000)))).astype(np.float32) for b in batches}
    walls: dict[int, list[float]] = {b: [] for b in batches}
    for b in batches:
        enhancer.enhance_windows(waves[b], [0] * b, list(range(b)))
    for index in range(rounds):
        shift = index % len(batches)
        for b in list(batches[shift:]) + list(batches[:shift]):
            _sync(device)
            start = time.perf_counter()
            enhancer.enhance_windows(waves[b], [0] * b, list(range(b)))
            _sync(device)
            walls[b].append((time.perf_counter() - start) / b)
    return [Row("windows", "bundled", "eager fp32", b, 0, statistics.median(walls[b]) * 1e3, min(walls[b]) * 1e3,
                rtf=statistics.median(walls[b]) / seconds, note=f"per {seconds:g}-s window") for b in batches]


def enhance_folder(device: torch.device, folder: Path, precisions: Sequence[str], out: Path) -> None:
    import soundfile as sf

    arrays: dict[str, np.ndarray] = {}
    for precision in precisions:
        enhancer = Enhancer(None, device=device, backend="eager", precision=precision, output_limits=None)
        for path in sorted(folder.glob("*.wav")):
            audio, rate = sf.read(path, dtype="float32")
            enhanced = np.clip(enhancer(audio, rate), -1.0, 1.0)
            arrays[f"{precision}/{path.name}"] = np.round(enhanced * 32767).astype(np.int16)
    np.savez_compressed(out, **arrays)


def describe_machine(device: torch.device) -> str:
    text = machine_info().describe()
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        text = (f"{props.name}, {props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs, "
                f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}; host: {text}")
        try:
            text += "; driver " + subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                                 capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            pass
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, help="a sgmse_crp checkout (no reference rows without it)")
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--audio", type=Path, help="a folder of noisy WAV files to enhance at each precision")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--budget-s", type=float, default=420.0, help="start no part after this many seconds")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="small shapes and few rounds (a smoke test)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"which parts to run (default: {','.join(PARTS)})")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    device = torch.device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    half = ["bf16", "fp16"] if device.type == "cuda" else []
    print(describe_machine(device), flush=True)
    reference_class = import_reference(args.reference) if args.reference else None
    bundled, _ = load_inference_model(None, "cpu")
    window_frames = frames_for(6.0, bundled.frame_multiple)
    rounds = 3 if args.quick else args.rounds

    done: list[Row] = []

    wanted = set(args.parts.split(","))
    if wanted - set(PARTS):
        parser.error(f"unknown parts {sorted(wanted - set(PARTS))}; choose from {','.join(PARTS)}")

    def part(name: str, run: Callable[[], list[Row]]) -> list[Row]:
        if name not in wanted:
            return []
        if time.perf_counter() - began > args.budget_s:
            print(f"\n## {name}: skipped (budget of {args.budget_s:g} s spent)", flush=True)
            return []
        start = time.perf_counter()
        rows = run()
        done.extend(rows)
        write_rows(done, args.out / "results.csv")
        print(f"\n## {name} ({time.perf_counter() - start:.0f} s)\n\n{markdown(rows)}", flush=True)
        return rows

    large = random_model("tiny" if args.quick else "ncsnpp", seed=0)
    frames = 64 if args.quick else 256
    if args.quick:
        window_frames = 64
    part("network", lambda: [
        *network_rows("ncsnpp" if not args.quick else "tiny (random)", large, 1, frames, device, reference_class,
                      ["fp32", *half], [], rounds),
        *network_rows("bundled", bundled, 1, window_frames, device, reference_class, ["fp32", *half], [], rounds),
        *network_rows("bundled", bundled, 2 if args.quick else 8, window_frames, device, reference_class,
                      ["fp32", *half], [], rounds)])
    seconds = 4.0 if args.quick else 60.0
    part("enhance", lambda: enhance_rows(device, seconds, [("eager", "fp32"), *[("eager", p) for p in half]], 1)
         + enhance_rows(device, seconds, [("eager", "fp32"), *[("eager", p) for p in half]], 8))
    part("process", lambda: process_rows(args.device, seconds, ["fp32", *half]))
    part("windows", lambda: window_rows(device, (1, 2) if args.quick else (1, 2, 4, 8, 16, 32), rounds=rounds))
    if args.audio and "outputs" in wanted:
        if time.perf_counter() - began <= args.budget_s:
            enhance_folder(device, args.audio, ["fp32", *half], args.out / "outputs.npz")
            print(f"\n## outputs: {args.out / 'outputs.npz'}", flush=True)
    compiled = ["fp32", "fp16"] if device.type == "cuda" else []  # CPU compiling takes minutes (BENCHMARKS 13.1)
    if not compiled:
        return 0
    part("compiled-bundled", lambda: network_rows(
        "bundled", bundled, 1, window_frames, device, reference_class, ["fp32"], compiled, rounds))
    part("compiled-enhance", lambda: enhance_rows(device, seconds, [("compile", p) for p in compiled], 1))
    part("compiled-ncsnpp", lambda: network_rows(
        "ncsnpp" if not args.quick else "tiny (random)", large, 1, frames, device, reference_class,
        ["fp32", *half[1:]], compiled, rounds))
    print(f"\ndone in {time.perf_counter() - began:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
