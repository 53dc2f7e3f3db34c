"""crpse's network next to the official sgmse_crp NCSN++ on the same weights (``crpse bench speed --reference PATH``).

The official network comes from a checkout of https://github.com/sp-uhh/sgmse_crp at ``PATH`` (nothing of it is
copied into crpse). Importing it on a machine without CUDA needs two run-time changes, both local to the imported
modules:

* its ``op`` package JIT-compiles CUDA extensions with ``torch.utils.cpp_extension.load`` at import time; while it is
  imported that loader is replaced by one that returns a placeholder (an error on use, never reached on CPU), then
  restored;
* the resampling layers' ``upfirdn2d`` is rebound to the checkout's own pure-PyTorch ``upfirdn2d_native`` (the
  function its CPU branch dispatches to anyway), so no path can reach the CUDA op.

crpse's parameters are then loaded into the official network by name (crpse keeps the official names under
``dnn.``, which is also how official checkpoints are imported), and the paths are timed **interleaved**: one call of
each path per round, the order rotating between rounds, so that load from other processes hits every path alike and
the ratios hold on a busy machine. Library code: nothing is printed; the CLI formats the rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import inspect
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from crpse.bench.speed import SpeedRow, frames_for

#: the official network's module inside the checkout (``sgmse/backbones/ncsnpp.py``)
REFERENCE_MODULE = "sgmse.backbones.ncsnpp"
_RESAMPLING_MODULE = "sgmse.backbones.ncsnpp_utils.up_or_down_sampling"
_UPFIRDN2D_MODULE = "sgmse.backbones.ncsnpp_utils.op.upfirdn2d"

#: the official network as the official code runs it (eager NCHW fp32); every ratio is relative to it
REFERENCE_PATH = "reference"
#: crpse paths ``--precision`` may name in reference mode: (precision, channels-last, torch.compile)
CRPSE_PATHS: dict[str, tuple[str, bool, bool]] = {
    "nchw": ("fp32", False, False),
    "fp32": ("fp32", True, False),  # the faithful default on CPU
    "bf16-nchw": ("bf16", False, False),
    "bf16": ("bf16", True, False),
    "compile": ("fp32", True, True),
    "compile-bf16": ("bf16", True, True),
}
#: crpse's graph paths ``--precision`` may name in reference mode: (backend, precision). They run the exported graph
#: of a one-step reverse sampler (one network call plus the step's elementwise arithmetic,
#: :func:`crpse.bench.speed.one_call_graph`) on an input of the same shape, with their errors against that sampler
#: in eager NCHW fp32; the graph is exported once for all of them.
GRAPH_PATHS: dict[str, tuple[str, str]] = {
    "onnxruntime": ("onnxruntime", "fp32"),
    "openvino": ("openvino", "fp32"),
    "openvino-bf16": ("openvino", "bf16"),
}
#: the default crpse paths of reference mode (compiling the full network takes minutes: ask for it by name)
DEFAULT_PATHS = ("nchw", "fp32", "bf16-nchw", "bf16")


class _UnbuiltExtension:
    """Stands in for a CUDA extension that was not compiled; any use raises."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise RuntimeError(f"the reference's CUDA extension {self._name!r} was not built (CPU-only import)")


@contextlib.contextmanager
def _cuda_extensions_not_built() -> Iterator[None]:
    import torch.utils.cpp_extension as cpp_extension

    original = cpp_extension.load
    cpp_extension.load = lambda name, *args, **kwargs: _UnbuiltExtension(name)
    try:
        yield
    finally:
        cpp_extension.load = original


def import_reference(path: str | Path) -> type:
    """The official ``NCSNpp`` class of the sgmse_crp checkout at ``path``, importable without CUDA.

    Raises:
        FileNotFoundError: ``path`` has no ``sgmse/backbones/ncsnpp.py``.
        ImportError: another ``sgmse`` package was imported already, or the checkout does not import.
    """
    root = Path(path).resolve()
    if not (root / "sgmse" / "backbones" / "ncsnpp.py").is_file():
        raise FileNotFoundError(f"{root} is not a sgmse_crp checkout (no sgmse/backbones/ncsnpp.py)")
    loaded = sys.modules.get("sgmse")
    if loaded is not None:
        locations = [Path(p).resolve() for p in getattr(loaded, "__path__", [])]
        if root / "sgmse" not in locations:
            raise ImportError(f"another sgmse package is imported already ({locations}); cannot import {root}")
    sys.path.insert(0, str(root))
    try:
        with _cuda_extensions_not_built():
            module = importlib.import_module(REFERENCE_MODULE)
    finally:
        sys.path.remove(str(root))
    _use_native_upfirdn2d(sys.modules[_RESAMPLING_MODULE], sys.modules[_UPFIRDN2D_MODULE])
    return module.NCSNpp


def _use_native_upfirdn2d(resampling: ModuleType, op: ModuleType) -> None:
    native = op.upfirdn2d_native

    def upfirdn2d(input: Any, kernel: Any, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)) -> Any:
        return native(input, kernel, up, up, down, down, pad[0], pad[1], pad[0], pad[1])

    resampling.upfirdn2d = upfirdn2d


def random_model(config: str, seed: int = 0) -> Any:
    """A randomly initialised crpse ScoreModel of a named configuration for the comparison, with ``init_scale=1``:
    the default initialisation zeroes the last convolution of every residual branch, which would leave most of the
    network out of the error figures (the timing is the same either way)."""
    from crpse.nn.ncsnpp import named_config
    from crpse.score_model import build_model

    return build_model(named_config(config, init_scale=1.0), seed=seed).eval()


class ReferenceScore:
    """The official network called as the official ``ScoreModel.forward`` calls it, with crpse's signature:
    ``score = reference(x_t, y, t) = -dnn(cat([x_t, y]), t, t[:, None, None, None])`` for complex ``[B, 1, F, T]``
    spectrograms and ``t [B]``."""

    def __init__(self, network: Any) -> None:
        self.network = network

    def __call__(self, x_t: Any, y: Any, t: Any) -> Any:
        import torch

        return -self.network(torch.cat([x_t, y], dim=1), t, t[:, None, None, None])


def reference_like(model: Any, reference_class: type) -> ReferenceScore:
    """The official network with ``model``'s configuration and weights (a crpse ScoreModel, eval mode)."""
    parameters = inspect.signature(reference_class.__init__).parameters
    options = {k: v for k, v in dataclasses.asdict(model.dnn.config).items() if k in parameters}
    network = reference_class(**options).eval()
    weights = {name[len("dnn."):]: tensor for name, tensor in model.state_dict().items() if name.startswith("dnn.")}
    network.load_state_dict(weights, strict=True)  # raises when a name or shape differs
    return ReferenceScore(network)


@dataclasses.dataclass
class _Path:
    name: str
    label: str
    call: Callable[..., Any]
    autocast: Callable[[], Any]
    setup_s: float = 0.0
    times: list[float] = dataclasses.field(default_factory=list)
    cpu_times: list[float] = dataclasses.field(default_factory=list)
    error: float = 0.0
    l2_error: float = 0.0
    expected: Any = None  # what the error is measured against (default: crpse eager NCHW fp32's score)


def _crpse_paths(model: Any, names: Sequence[str]) -> list[_Path]:
    import copy

    import torch

    from crpse.backends import InferenceBackend, native_bf16

    unknown = [n for n in names if n not in CRPSE_PATHS and n not in GRAPH_PATHS]
    if unknown:
        raise ValueError(
            f"unknown reference-mode path(s) {unknown}; choose from {', '.join([*CRPSE_PATHS, *GRAPH_PATHS])}"
        )
    layouts: dict[bool, Any] = {}
    paths = []
    for name in [n for n in names if n in CRPSE_PATHS]:
        precision, channels_last, compiled = CRPSE_PATHS[name]
        if precision == "bf16" and not native_bf16(torch.device("cpu")):
            raise ValueError(f"path {name!r} needs native bf16 (avx512_bf16/amx_bf16), which this CPU lacks")
        backend = InferenceBackend("eager", precision, channels_last)
        if channels_last not in layouts:
            layouts[channels_last] = backend.prepare(copy.deepcopy(model))
        call = layouts[channels_last]
        label = "crpse " + backend.describe()
        if compiled:
            call, label = torch.compile(call), label.replace("eager", "torch.compile")
        paths.append(_Path(name, label, call, lambda b=backend: b.autocast(torch.device("cpu"))))
    return paths


def _graph_paths(model: Any, names: Sequence[str], seconds: float, batch: int, folder: Path) -> list[_Path]:
    """The :data:`GRAPH_PATHS` among ``names``: one exported one-call graph (into ``folder``), loaded in each
    runtime; each path's call ignores the score inputs and runs the graph on its own input of the same shape."""
    import torch

    from crpse.backends import InferenceBackend, select_backend
    from crpse.backends.inference import graph_loader
    from crpse.bench.speed import one_call_graph

    wanted = [n for n in names if n in GRAPH_PATHS]
    if not wanted:
        return []
    for name in wanted:  # before the export: a missing runtime or bf16 without native hardware raises here
        backend, precision = GRAPH_PATHS[name]
        if select_backend(backend, precision, "cpu").name != backend:
            raise ValueError(f"path {name!r} needs {backend} (pip install 'crpse[{backend}]')")
    path, y, noise, expected = one_call_graph(model, seconds, batch, folder)
    paths = []
    for name in wanted:
        backend = InferenceBackend(*GRAPH_PATHS[name], channels_last=False)
        graph = graph_loader(backend, None, torch.get_num_threads())(path)
        call = lambda *_, graph=graph: torch.from_numpy(graph.run(y, noise))  # noqa: E731
        paths.append(_Path(name, f"crpse {backend.describe()} (one-step sampler graph)", call,
                           contextlib.nullcontext, expected=torch.from_numpy(expected)))
    return paths


def compare_with_reference(
    model: Any,
    reference_class: type,
    seconds: float,
    batch: int,
    paths: Sequence[str] = DEFAULT_PATHS,
    repeats: int = 5,
    label: str = "",
    progress: Callable[[str], Any] | None = None,
) -> list[SpeedRow]:
    """Time the official network and crpse's ``paths`` on the same weights and input, interleaved.

    Args:
        model: a crpse ScoreModel (eval mode, CPU) whose weights both sides use.
        reference_class: from :func:`import_reference`.
        seconds, batch: the input, complex ``[batch, 1, F, frames_for(seconds)]`` (2.04 s: 256 x 256).
        paths: names from :data:`CRPSE_PATHS` and :data:`GRAPH_PATHS`.
        repeats: timed rounds after one warm-up round (the warm-up call of a compiled path is its compile time).

    Returns:
        One ``kind="reference"`` row per path, the reference first: median wall and CPU seconds per call,
        ``vs_reference`` = reference median / this median, ``max_rel_error`` = ``max |a - b| / max |b|`` and
        ``rel_l2_error`` = ``||a - b|| / ||b||`` against crpse eager NCHW fp32 on the same input, ``setup_s`` = the
        first call's seconds (compiling).
    """
    import torch

    frames = frames_for(seconds, model.frame_multiple)
    bins = int(model.transform.num_bins)
    generator = torch.Generator().manual_seed(0)
    shape = (batch, 1, bins, frames)
    x_t = torch.randn(shape, dtype=torch.complex64, generator=generator) * 0.3
    y = torch.randn(shape, dtype=torch.complex64, generator=generator) * 0.3
    t = torch.full((batch,), 0.5)
    timed = [_Path(REFERENCE_PATH, "reference sgmse_crp NCSN++ eager fp32", reference_like(model, reference_class),
                   contextlib.nullcontext)]
    timed += _crpse_paths(model, paths)
    with tempfile.TemporaryDirectory() as folder:
        timed += _graph_paths(model, paths, seconds, batch, Path(folder))
    with torch.inference_mode():
        score = model(x_t, y, t)
        for path in timed:  # warm-up round; its output gives the error
            start = time.perf_counter()
            with path.autocast():
                got = path.call(x_t, y, t)
            path.setup_s = time.perf_counter() - start
            expected = score if path.expected is None else path.expected
            difference = got.to(expected.dtype) - expected
            path.error = float(difference.abs().max() / expected.abs().max())
            path.l2_error = float(torch.linalg.vector_norm(difference) / torch.linalg.vector_norm(expected))
            if progress:
                progress(f"{path.label}: first call {path.setup_s:.1f} s, error {path.error:.1e} (max), "
                         f"{path.l2_error:.1e} (L2)")
        for round_index in range(repeats):
            shift = round_index % len(timed)
            for path in timed[shift:] + timed[:shift]:
                start, cpu_start = time.perf_counter(), time.process_time()
                with path.autocast():
                    path.call(x_t, y, t)
                path.times.append(time.perf_counter() - start)
                path.cpu_times.append(time.process_time() - cpu_start)
            if progress:
                progress(f"round {round_index + 1}/{repeats}: "
                         + ", ".join(f"{p.name} {p.times[-1]:.2f} s" for p in timed))
    reference_median = statistics.median(timed[0].times)
    rows = []
    for path in timed:
        median = statistics.median(path.times)
        rows.append(SpeedRow(
            kind="reference", config=label, seconds=seconds, batch=batch, median_s=median, min_s=min(path.times),
            repeats=repeats, rtf=median / (seconds * batch), cpu_s=statistics.median(path.cpu_times),
            path=path.label, max_rel_error=path.error, vs_reference=reference_median / median, setup_s=path.setup_s,
            rel_l2_error=path.l2_error,
        ))
    return rows


def reference_table(rows: Sequence[SpeedRow]) -> str:
    """Reference-mode rows as the issue's table: time, ratio to the reference and to crpse fp32, error."""
    baseline = next((r for r in rows if r.path.startswith("crpse eager fp32") and "channels" not in r.path), None)
    lines = [
        "| path | median s per call | CPU s per call | vs reference | vs crpse eager NCHW fp32 | max rel. error "
        "| rel. L2 error | first call s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        versus_fp32 = f"{baseline.median_s / r.median_s:.2f}x" if baseline and r.kind == "reference" else "–"
        lines.append(
            f"| {r.path} | {r.median_s:.3f} | {r.cpu_s:.3f} | {r.vs_reference:.2f}x | {versus_fp32} "
            f"| {r.max_rel_error:.1e} | {r.rel_l2_error:.1e} | {r.setup_s:.1f} |"
        )
    return "\n".join(lines)
