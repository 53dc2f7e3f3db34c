"""Open a model for inference on the chosen backend: its facts, its sampler setting and its windows -> windows step.

:func:`open_inference` is the one place where a backend choice meets a model. In order:

0. ``precision="auto"`` on hardware with native bf16 reads the checkpoint's bf16 cost record first
   (:mod:`crpse.bf16_record`): bf16 runs only for a model whose measured cost is small.
1. When a graph path is wanted (``onnxruntime`` or ``openvino`` asked for, or ``auto`` on a CPU with fp32 and ONNX
   Runtime installed) and the model is a checkpoint whose graph for the asked setting is ready (in the cache or
   shipped next to the checkpoint, :mod:`crpse.backends.ort`), that graph runs in the backend's runtime
   (:mod:`crpse.backends.ort`, :mod:`crpse.backends.openvino`): torch is not imported.
2. Otherwise the torch model is loaded. An explicit graph backend exports the graph into the cache
   (:mod:`crpse.backends.export`) and runs it; when that fails, or its runtime is missing, the eager path runs and
   :attr:`Inference.notice` says why in one line.
3. Otherwise the eager path runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crpse.backends import (
    GRAPH_BACKENDS,
    InferenceBackend,
    cuda_possible,
    device_type,
    native_bf16,
    onnxruntime_installed,
    select_backend,
)
from crpse.bf16_record import read_bf16_cost
from crpse.model_info import ModelInfo
from crpse.sampler_spec import SamplerRequest, SamplerSpec

if TYPE_CHECKING:
    import torch

    from crpse.backends.ort import LoadedGraph
    from crpse.score_model import Model

#: ``(waves float32 [B, L], noise complex64 [D, B, F, T'] | None, pad_mode) -> float32 [B, L]``
WindowsStep = Callable[[np.ndarray, "np.ndarray | None", str], np.ndarray]
#: ``graph file -> graph loaded in the chosen runtime``
GraphLoader = Callable[[Path], "LoadedGraph"]


@dataclass
class Inference:
    """A model opened for inference.

    Attributes:
        info: the model's inference facts.
        spec: the resolved sampler setting (``None``: a predictive model).
        windows: the backend's windows -> windows step.
        backend: the path that runs.
        device: where it runs.
        notice: one line for the user when the path asked for could not run (empty otherwise).
        load_model: returns the torch model (loaded on first use when a graph runs without it).
    """

    info: ModelInfo
    spec: SamplerSpec | None
    windows: WindowsStep
    backend: InferenceBackend
    device: Any
    load_model: Callable[[], Model]
    notice: str = ""


def open_inference(
    model: Model | str | os.PathLike[str] | None,
    request: SamplerRequest = SamplerRequest(),
    backend: str = "auto",
    precision: str = "auto",
    device: str | torch.device | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    threads: int | None = None,
) -> Inference:
    """Open ``model`` (``None``: the bundled default; a bundled name; a checkpoint path; a model object) for the
    sampler options ``request`` on ``backend``/``precision`` (:func:`crpse.backends.select_backend`).

    Args:
        cache_dir: the graph cache (default :func:`crpse.backends.ort.default_cache_dir`).
        threads: the graph runtime's threads (default: ``$OMP_NUM_THREADS``, else the runtime's own default).

    Raises:
        ValueError: invalid options or settings. FileNotFoundError: no such checkpoint.
    """
    from_file = model is None or isinstance(model, (str, os.PathLike))
    target = _device_for_choice(model, device, from_file)
    bf16_pesq_cost = None
    read: dict[str, Any] | None = None  # the checkpoint file, when read for its bf16 record: loaded from, not re-read
    if precision == "auto" and backend not in GRAPH_BACKENDS and native_bf16(target):
        # bf16 is the model's call, not the hardware's: its checkpoint records what bf16 costs (crpse.bf16_record)
        read = _read_checkpoint_file(model) if from_file else None
        record = read_bf16_cost(read) if read is not None else getattr(model, "bf16_cost", None)
        bf16_pesq_cost = None if record is None else record.pesq
    choice = select_backend(backend, precision, target, bf16_pesq_cost)
    notice = choice.reason if backend in GRAPH_BACKENDS and choice.name != backend else ""
    wants_graph = choice.name in GRAPH_BACKENDS or (
        backend == "auto" and choice.precision == "fp32" and device_type(target) == "cpu" and onnxruntime_installed()
    )
    from crpse.backends.ort import default_cache_dir

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    graph_choice = choice if choice.name in GRAPH_BACKENDS else InferenceBackend("onnxruntime", "fp32", False)
    load_graph = graph_loader(graph_choice, cache, threads)
    checkpoint: Path | None = None
    if from_file:
        from crpse.assets import resolve_model

        checkpoint = resolve_model(model)  # type: ignore[arg-type]
        if wants_graph and checkpoint.is_file():
            graph = _ready_graph(checkpoint, request, cache, load_graph)
            if graph is not None:
                if backend == "auto":  # keep why fp32 (e.g. no native bf16), then say why the graph
                    graph_reason = "a ready ONNX graph, faster than eager on CPU"
                    graph_reason = f"{choice.reason}; {graph_reason}" if choice.reason else f"auto: {graph_reason}"
                    graph_choice = InferenceBackend("onnxruntime", "fp32", False, graph_reason)
                return _graph_inference(graph, graph_choice, lambda: _load_torch_model(checkpoint, "cpu"))

    from crpse.backends.eager import EagerWindows, load_inference_model

    torch_model, resolved = load_inference_model(model, device, read)  # type: ignore[arg-type]
    info = ModelInfo.of(torch_model)
    spec = info.resolve(request)
    if choice.name in GRAPH_BACKENDS:
        try:
            graph = _export_graph(torch_model, info, spec, checkpoint, request, cache, load_graph)
        except Exception as error:  # noqa: BLE001 - any exporter failure falls back to the eager path
            notice = f"{choice.name}: the graph export failed ({_one_line(error)}): running eager {choice.precision}"
            choice = InferenceBackend("eager", choice.precision, device_type(resolved) == "cpu", notice)
        else:
            return _graph_inference(graph, choice, lambda: torch_model)
    return Inference(info, spec, EagerWindows(torch_model, resolved, choice, spec), choice, resolved,
                     lambda: torch_model, notice)


def _read_checkpoint_file(model: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """The checkpoint file ``model`` names, read (tensors memory-mapped), or ``None`` when there is no such file (the
    load that follows says what is wrong)."""
    from crpse.assets import resolve_model
    from crpse.checkpoint import read_checkpoint

    path = resolve_model(model)
    return read_checkpoint(path, mmap=True) if path.is_file() else None


def _device_for_choice(model: Any, device: Any, from_file: bool) -> Any:
    """The device the backend choice is made for, without loading torch when the answer is surely the CPU."""
    if device is not None and not (isinstance(device, str) and device == "auto"):
        return device
    if from_file and not cuda_possible():
        return "cpu"
    from crpse.backends.eager import model_device, resolve_device

    return resolve_device(device) if from_file else model_device(model)


def _graph_inference(graph: LoadedGraph, backend: InferenceBackend, load_model: Callable[[], Model]) -> Inference:
    from crpse.backends.ort import GraphWindows

    return Inference(graph.info, graph.spec, GraphWindows(graph), backend, "cpu", load_model)


def graph_loader(backend: InferenceBackend, cache: Path | None, threads: int | None) -> GraphLoader:
    """How a graph file is loaded for ``backend`` (``onnxruntime``, or ``openvino`` at its precision, with its
    compiled-model cache in ``cache``, none when ``None``); the runtime is imported only when a graph is loaded."""
    if backend.name == "openvino":

        def load_openvino(path: Path) -> LoadedGraph:
            from crpse.backends.openvino import OpenVinoGraph

            return OpenVinoGraph(path, threads, backend.precision, cache)

        return load_openvino

    def load_onnxruntime(path: Path) -> LoadedGraph:
        from crpse.backends.ort import OrtGraph

        return OrtGraph(path, threads)

    return load_onnxruntime


def _ready_graph(checkpoint: Path, request: SamplerRequest, cache: Path, load: GraphLoader) -> LoadedGraph | None:
    """The cached graph of ``checkpoint`` for ``request``, else one shipped next to it for the model's own setting
    whose recorded checkpoint hash matches, loaded by ``load``; ``None`` when neither exists."""
    from crpse.backends.ort import file_sha256, graph_path, shipped_graph_path

    digest = file_sha256(checkpoint)
    cached = graph_path(cache, digest, request)
    if cached.is_file():
        return load(cached)
    shipped = shipped_graph_path(checkpoint)
    if request.is_empty() and shipped.is_file():
        graph = load(shipped)
        if graph.checkpoint_sha256 == digest:
            return graph
    return None


def _export_graph(
    model: Model, info: ModelInfo, spec: SamplerSpec | None, checkpoint: Path | None, request: SamplerRequest,
    cache: Path, load: GraphLoader,
) -> LoadedGraph:
    from crpse.backends.ort import file_sha256, graph_path

    digest = file_sha256(checkpoint) if checkpoint is not None else None
    path = graph_path(cache, digest or model_sha256(model), request)
    if not path.is_file():
        export_graph(model, info, spec, digest, path)
    return load(path)


def export_graph(model: Model, info: ModelInfo, spec: SamplerSpec | None, checkpoint_sha256: str | None,
                 path: str | os.PathLike[str]) -> Path:
    """Export ``model``'s sampler for ``spec`` to ``path`` with its facts recorded (see
    :func:`crpse.backends.export.export_sampler_graph`); ``checkpoint_sha256`` names the file it came from."""
    from crpse.backends.export import export_sampler_graph, graph_metadata

    return export_sampler_graph(model, spec, path, graph_metadata(info, spec, checkpoint_sha256))


def model_sha256(model: Model) -> str:
    """Hex SHA-256 of a model object's configuration and weights (its identity in the graph cache)."""
    digest = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return digest.hexdigest()


def _load_torch_model(checkpoint: Path, device: str) -> Model:
    from crpse.backends.eager import load_inference_model

    return load_inference_model(checkpoint, device)[0]


def _one_line(error: BaseException) -> str:
    return " ".join((str(error).strip() or type(error).__name__).split())
