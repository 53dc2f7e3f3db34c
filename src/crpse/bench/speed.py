"""Speed of the network and of the whole enhancement path on this machine (``crpse bench speed``).

Three kinds of figures, each the median of ``repeats`` runs after a warm-up:

* **network calls**: one score-model call ``model(x_t, y, t)`` on complex ``[B, 1, 256, T]`` spectrograms under
  ``torch.inference_mode``, for each network configuration, length and batch size: seconds per call, achieved
  GFLOP/s (``torch.utils.flop_counter``: a multiply-add is 2 FLOPs) and the per-call real-time factor;
* **end to end**: ``crpse enhance`` on a generated file, in a fresh process (start-up, model load, reading,
  resampling, windows, STFT and writing included): wall time, RTF, CPU time and the child's peak RSS;
* **start-up**: a fresh process that imports crpse and constructs an :class:`~crpse.enhancer.Enhancer`.

Every row carries the machine it ran on (:func:`machine_info`: CPU model, ISA flags, cores, threads, torch), so a
table means something on the next CPU. Library code: nothing is printed; the CLI formats the rows.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: ISA flags that decide which kernels (and precisions) are fast, as /proc/cpuinfo names them
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8", "avx512_fp16")
#: spectrogram frames per second of 16 kHz audio with the reference STFT (hop 128)
_HOP_SECONDS = 128 / 16000


@dataclass(frozen=True)
class MachineInfo:
    """Where a figure was measured."""

    cpu: str
    isa: tuple[str, ...]
    cores: int
    threads: int
    torch: str
    python: str

    def describe(self) -> str:
        isa = " ".join(self.isa) or "none of " + " ".join(ISA_FLAGS)
        return (
            f"{self.cpu}; {self.cores} cores visible, {self.threads} torch threads; ISA: {isa}; "
            f"torch {self.torch}, Python {self.python}"
        )


def cpu_flags() -> tuple[str, tuple[str, ...]]:
    """``(CPU model name, the ISA_FLAGS it has)`` from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model in ("", platform.machine(), platform.processor()):
                    model = value.strip()
                elif key == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return model, tuple(flag for flag in ISA_FLAGS if flag in flags)


def machine_info() -> MachineInfo:
    import torch

    model, isa = cpu_flags()
    return MachineInfo(
        cpu=model, isa=isa, cores=os.cpu_count() or 1, threads=torch.get_num_threads(), torch=torch.__version__,
        python=platform.python_version(),
    )


@dataclass(frozen=True)
class SpeedRow:
    """One measured configuration (times in seconds; ``gflops_per_s`` is 0 where FLOPs were not counted; ``cpu_s``
    is the CPU time of all threads, which other processes on the machine inflate less than the wall time)."""

    kind: str  # "network", "end-to-end", "start-up" or "reference" (crpse.bench.reference)
    config: str
    seconds: float  # audio seconds per item (network, end-to-end) or 0
    batch: int
    median_s: float
    min_s: float
    repeats: int
    gflops_per_call: float = 0.0
    gflops_per_s: float = 0.0
    rtf: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mib: float = 0.0
    path: str = ""  # the inference backend (network rows)
    max_rel_error: float = 0.0  # against eager NCHW fp32 on the same input (network rows)
    vs_reference: float = 0.0  # the official network's median / this median (reference rows)
    setup_s: float = 0.0  # seconds of the first (warm-up) call: compiling, for compiled paths
    rel_l2_error: float = 0.0  # ||a - b|| / ||b|| against the same (reference rows)


def frames_for(seconds: float, multiple: int = 64) -> int:
    """Spectrogram frames the network sees for ``seconds`` of audio (rounded up to the network's multiple)."""
    frames = int(round(seconds / _HOP_SECONDS)) + 1
    return max(multiple, -(-frames // multiple) * multiple)


def time_network(
    model: Any, seconds: float, batch: int, repeats: int = 5, count_flops: bool = True, label: str = "",
    backend: Any = None,
) -> SpeedRow:
    """Median time of one score-model call on ``[batch, 1, F, frames_for(seconds)]`` inputs (after a warm-up).

    With ``backend`` (a :class:`crpse.backends.InferenceBackend`) the call runs on that path, and the row also holds
    its max error relative to eager NCHW fp32 on the same input (``max |a - b| / max |b|``).
    """
    import torch

    from crpse.backends import GRAPH_BACKENDS, InferenceBackend

    if backend is not None and backend.name in GRAPH_BACKENDS:
        return time_graph(model, seconds, batch, repeats=repeats, label=label, backend=backend)
    frames = frames_for(seconds, model.frame_multiple)
    bins = int(model.transform.num_bins)
    generator = torch.Generator().manual_seed(0)
    shape = (batch, 1, bins, frames)
    device = next(model.parameters()).device
    x_t = (torch.randn(shape, dtype=torch.complex64, generator=generator) * 0.3).to(device)
    y = (torch.randn(shape, dtype=torch.complex64, generator=generator) * 0.3).to(device)
    t = torch.full((batch,), 0.5, device=device)
    flops, error = 0, 0.0
    if backend is not None:
        with torch.inference_mode():
            expected = InferenceBackend("eager", "fp32", False).prepare(model)(x_t, y, t)
        backend.prepare(model)
        with torch.inference_mode(), backend.autocast(device):
            got = model(x_t, y, t)
        error = float((got - expected).abs().max() / expected.abs().max())
    if count_flops:  # outside autocast (the counter does not combine with it); the count is the same
        from torch.utils.flop_counter import FlopCounterMode

        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            model(x_t, y, t)
        flops = counter.get_total_flops()
    context = backend.autocast(device) if backend is not None else contextlib.nullcontext()
    with torch.inference_mode(), context:
        model(x_t, y, t)  # warm-up
        times, cpu_times = [], []
        for _ in range(repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            model(x_t, y, t)
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    median = statistics.median(times)
    return SpeedRow(
        kind="network", config=label, seconds=seconds, batch=batch, median_s=median, min_s=min(times),
        repeats=repeats, gflops_per_call=flops / 1e9, gflops_per_s=flops / 1e9 / median,
        rtf=median / (seconds * batch), cpu_s=statistics.median(cpu_times),
        path=backend.describe() if backend is not None else "", max_rel_error=error,
    )


def one_call_graph(
    model: Any, seconds: float, batch: int, folder: Path
) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray]:
    """Export the sampler graph of one network call (the reverse sampler, 1 step from the default t_start: one
    network call plus the step's elementwise arithmetic) to ``folder``, with an input ``y [batch, 2, F,
    frames_for(seconds)]`` and ``noise [1, batch, 2, F, T]`` and the same sampler's eager NCHW fp32 output on them.

    Returns:
        ``(graph file, y, noise, expected)``, the arrays float32.
    """
    import torch

    from crpse.backends import InferenceBackend
    from crpse.backends.export import SamplerGraph
    from crpse.backends.inference import export_graph
    from crpse.model_info import ModelInfo
    from crpse.sampler_spec import REVERSE, SamplerSpec

    info = ModelInfo.of(model)
    spec = SamplerSpec(sampler=REVERSE, steps=1)
    frames = frames_for(seconds, info.frame_multiple)
    generator = torch.Generator().manual_seed(0)
    y = torch.randn(batch, 2, info.transform.num_bins, frames, generator=generator) * 0.3
    noise = torch.randn(1, *y.shape, generator=generator) * 0.7
    with torch.inference_mode():
        expected = SamplerGraph(InferenceBackend("eager", "fp32", False).prepare(model), spec)(y, noise).numpy()
    path = export_graph(model, info, spec, None, folder / "graph.onnx")
    return path, y.numpy(), noise.numpy(), expected


def time_graph(
    model: Any, seconds: float, batch: int, repeats: int = 5, label: str = "", backend: Any = None
) -> SpeedRow:
    """Median time of one call of a graph backend's (``backend``: an :class:`~crpse.backends.InferenceBackend`,
    default ``onnxruntime`` fp32) graph of a one-step sampler (:func:`one_call_graph`) on ``[batch, 2, F,
    frames_for(seconds)]``, after a warm-up; the row's error is against the same sampler in eager NCHW fp32. The
    graph is exported into a temporary folder first."""
    import torch

    from crpse.backends import InferenceBackend
    from crpse.backends.inference import graph_loader

    backend = backend or InferenceBackend("onnxruntime", "fp32", False)
    with tempfile.TemporaryDirectory() as tmp:
        path, y, noise, expected = one_call_graph(model, seconds, batch, Path(tmp))
        graph = graph_loader(backend, None, torch.get_num_threads())(path)
    got = graph.run(y, noise)  # warm-up
    error = float(np.abs(got - expected).max() / np.abs(expected).max())
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        graph.run(y, noise)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    median = statistics.median(times)
    return SpeedRow(
        kind="network", config=label, seconds=seconds, batch=batch, median_s=median, min_s=min(times),
        repeats=repeats, rtf=median / (seconds * batch), cpu_s=statistics.median(cpu_times),
        path=f"{backend.describe()} (one-step sampler graph)", max_rel_error=error,
    )


def make_test_file(path: Path, seconds: float, sample_rate: int = 16000) -> Path:
    """A speech-like test signal (gated harmonic tone plus noise, seeded) as 16-bit WAV."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    voice = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    sf.write(path, (voice + 0.05 * rng.standard_normal(t.size)).astype(np.float32), sample_rate, subtype="PCM_16")
    return path


#: runs argv[1:] as its own child and prints its exit status, wall time, CPU time and peak RSS (KiB) as JSON. The
#: extra generation matters: a child's peak RSS counts its parent's memory at fork time, and the launcher is small.
_LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), time.perf_counter() - start,
                  usage.ru_utime + usage.ru_stime, usage.ru_maxrss]))
"""


def measure_child(command: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Run ``command``; returns its ``(wall s, CPU s, peak RSS MiB)``. Raises RuntimeError when it fails."""
    if not hasattr(os, "fork"):  # no per-child usage here
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        return time.perf_counter() - start, float("nan"), float("nan")
    with tempfile.TemporaryFile() as errors:
        done = subprocess.run([sys.executable, "-c", _LAUNCHER, *command], env=env, stdout=subprocess.PIPE,
                              stderr=errors, check=False)
        status, wall, cpu, rss_kib = json.loads(done.stdout.decode().strip().splitlines()[-1])
        if status or done.returncode:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-500:]
            raise RuntimeError(f"{' '.join(command[:5])} ... exited with {status}: {tail}")
    return wall, cpu, rss_kib / 1024


def _child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])  # run this crpse, installed or not
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def time_end_to_end(
    model: str | None, seconds: float, repeats: int = 3, threads: int = 0, extra_args: Sequence[str] = (),
    workdir: Path | None = None, backends: Sequence[str] = ("auto",),
) -> list[SpeedRow]:
    """``crpse enhance --backend B`` of a generated ``seconds``-long file in a fresh process, ``repeats`` times per
    backend, the backends interleaved (so that their ratio holds on a shared machine); one row per backend."""
    runs: dict[str, list[tuple[float, float, float]]] = {backend: [] for backend in backends}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        source = make_test_file(Path(tmp) / "input.wav", seconds)
        command = [sys.executable, "-m", "crpse.cli", "enhance", str(source), "-o", str(Path(tmp) / "out"), "-q",
                   "--overwrite", *extra_args]
        if model:
            command += ["--model", model]
        for _ in range(repeats):
            for backend in backends:
                runs[backend].append(measure_child([*command, "--backend", backend], _child_env(threads)))
    rows = []
    for backend, done in runs.items():
        walls = [r[0] for r in done]
        median = statistics.median(walls)
        rows.append(SpeedRow(
            kind="end-to-end", config=Path(model).name if model else "default", seconds=seconds, batch=1,
            median_s=median, min_s=min(walls), repeats=repeats, rtf=median / seconds,
            cpu_s=statistics.median(r[1] for r in done), peak_rss_mib=max(r[2] for r in done), path=backend,
        ))
    return rows


def time_start_up(
    model: str | None, repeats: int = 3, threads: int = 0, backends: Sequence[str] = ("auto",)
) -> list[SpeedRow]:
    """A fresh process that imports crpse and builds an Enhancer (the cost before the first window), ``repeats``
    times per backend, interleaved; one row per backend."""
    code = ("import crpse, sys; crpse.Enhancer(sys.argv[2] if len(sys.argv) > 2 else None, device='cpu', "
            "backend=sys.argv[1])")
    baseline = [sys.executable, "-c", "pass"]
    runs: dict[str, list[tuple[float, float, float]]] = {backend: [] for backend in backends}
    empty = []
    for _ in range(repeats):
        empty.append(measure_child(baseline)[0])
        for backend in backends:
            runs[backend].append(measure_child([sys.executable, "-c", code, backend, *([model] if model else [])],
                                        _child_env(threads)))
    rows = []
    for backend, done in runs.items():
        walls = [r[0] - statistics.median(empty) for r in done]
        rows.append(SpeedRow(
            kind="start-up", config=Path(model).name if model else "default", seconds=0.0, batch=0,
            median_s=statistics.median(walls), min_s=min(walls), repeats=repeats,
            cpu_s=statistics.median(r[1] for r in done), peak_rss_mib=max(r[2] for r in done), path=backend,
        ))
    return rows


def peak_rss_mib() -> float:
    """This process's peak RSS so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_csv(rows: Iterable[SpeedRow], path: Path, machine: MachineInfo) -> Path:
    """Rows plus the machine columns, one CSV."""
    rows = list(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = list(asdict(rows[0]).keys()) if rows else list(SpeedRow.__dataclass_fields__)
    extra = {"cpu": machine.cpu, "isa": " ".join(machine.isa), "cores": machine.cores, "threads": machine.threads,
             "torch": machine.torch}
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*fields, *extra])
        writer.writeheader()
        for row in rows:
            writer.writerow({**asdict(row), **extra})
    return path


def markdown_table(rows: Iterable[SpeedRow]) -> str:
    """The rows as one Markdown table."""
    lines = [
        "| kind | config | path | audio s | batch | median s | min s | GFLOP/call | GFLOP/s | RTF | CPU s "
        "| max rel. error | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            r.kind, r.config, r.path or "–", f"{r.seconds:g}" if r.seconds else "–",
            str(r.batch) if r.batch else "–",
            f"{r.median_s:.3f}", f"{r.min_s:.3f}",
            f"{r.gflops_per_call:.1f}" if r.gflops_per_call else "–",
            f"{r.gflops_per_s:.1f}" if r.gflops_per_s else "–", f"{r.rtf:.4f}" if r.rtf else "–",
            f"{r.cpu_s:.2f}" if r.cpu_s else "–",
            f"{r.max_rel_error:.1e}" if r.kind == "network" and r.path else "–",
            f"{r.peak_rss_mib:.0f}" if r.peak_rss_mib else "–",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_speed(
    configs: Sequence[str],
    seconds: Sequence[float],
    batches: Sequence[int],
    *,
    model: str | None = None,
    repeats: int = 5,
    end_to_end_seconds: Sequence[float] = (60.0,),
    threads: int = 0,
    precisions: Sequence[str] = (),
    backends: Sequence[str] = (),
    progress: Callable[[str], Any] | None = None,
) -> list[SpeedRow]:
    """Network rows for each config (``model`` = the checkpoint given, else the bundled one; other names are
    randomly initialised NCSN++ configurations), and end-to-end and start-up rows of the checkpoint (measured first,
    while this process is small).

    ``precisions`` (``fp32``, ``bf16``, ``auto``, and ``nchw`` for plain eager NCHW fp32): the inference paths to
    time one after another on the same inputs; empty: the model as loaded. ``backends`` (``auto``, ``eager``,
    ``onnxruntime``, ``openvino``): the end-to-end and start-up runs' ``--backend`` (interleaved; empty: ``auto``),
    and a graph backend adds its graph (fp32) to the network rows (:func:`time_graph`). Before the timed runs, the
    checkpoint's graph is exported into the cache when it is not ready (and compiled once into OpenVINO's cache),
    so that they measure the cached path."""
    from crpse.backends import GRAPH_BACKENDS, InferenceBackend, select_backend
    from crpse.backends.eager import load_inference_model

    from crpse.score_model import build_model

    paths: list[Any] = [None]
    if precisions:
        paths = [InferenceBackend("eager", "fp32", False, "eager NCHW") if p == "nchw" else select_backend("auto", p)
                 for p in precisions]
    for graph_backend in [b for b in backends if b in GRAPH_BACKENDS]:
        paths = [p for p in paths if p is not None] or [select_backend("eager", "fp32")]  # the graph is fp32
        paths.append(InferenceBackend(graph_backend, "fp32", False))
        if end_to_end_seconds:
            from crpse.enhancer import Enhancer

            Enhancer(model, device="cpu", backend=graph_backend)  # the graph into the cache, before the timed runs
    process_backends = list(backends) or ["auto"]

    rows: list[SpeedRow] = []
    for length in end_to_end_seconds:
        for row in time_end_to_end(model, length, repeats=max(1, min(repeats, 3)), threads=threads,
                                   backends=process_backends):
            rows.append(row)
            if progress:
                progress(f"end to end {length:g} s, {row.path}: {row.median_s:.2f} s, RTF {row.rtf:.4f}, "
                         f"{row.cpu_s:.2f} s CPU, peak {row.peak_rss_mib:.0f} MiB")
    if end_to_end_seconds:
        for row in time_start_up(model, repeats=max(1, min(repeats, 3)), threads=threads, backends=process_backends):
            rows.append(row)
            if progress:
                progress(f"start-up, {row.path}: {row.median_s:.2f} s, {row.cpu_s:.2f} s CPU, "
                         f"peak {row.peak_rss_mib:.0f} MiB")
    for config in configs:
        if config == "model":
            net, _ = load_inference_model(model, "cpu")
            label = Path(model).name if model else "default"
        else:
            net, label = build_model(config, seed=0).eval(), config
        for length in seconds:
            for batch in batches:
                for path in paths:
                    row = time_network(net, length, batch, repeats=repeats, label=label, backend=path)
                    rows.append(row)
                    if progress:
                        progress(f"{label} {length:g} s x {batch} {row.path}: {row.median_s:.3f} s per call, "
                                 f"{row.cpu_s:.3f} s CPU, {row.gflops_per_s:.1f} GFLOP/s, "
                                 f"error {row.max_rel_error:.1e}")
        del net
    return rows
