"""The graph backends' run side: find a model's sampler graph, load it in ONNX Runtime, enhance windows with it
(torch-free). The cache, the recorded facts and the windows step are shared with the ``openvino`` backend
(:mod:`crpse.backends.openvino`), which runs the same graph files.

Graphs are exported by :mod:`crpse.backends.export` and kept in a disk cache, one file per model and sampler setting:
``CACHE/graphs/<key>.onnx``, where ``CACHE`` is :func:`default_cache_dir` (``$CRPSE_CACHE_DIR``, else
``$XDG_CACHE_HOME/crpse``, else ``~/.cache/crpse``; the ``cache_dir`` option of the Enhancer overrides it) and the
key hashes the model's identity (the SHA-256 of its checkpoint file, or of a model object's configuration and
weights), the sampler options asked for, the torch and ONNX Runtime versions and the opset. A graph is written
atomically (:mod:`crpse.files`), so concurrent runs at worst export twice. A graph may also ship next to its
checkpoint (``model.ckpt`` + ``model.onnx``; the bundled model has one, built by ``benchmarks/build_bundled_graph.py``):
it is used for the model's own setting when the checkpoint hash it records matches the file.

Each graph records what the pipeline needs (:class:`~crpse.model_info.ModelInfo`, the resolved sampler setting)
as JSON metadata (:class:`GraphFacts`), so a cached graph runs without torch and without the checkpoint: the
Enhancer's windowing, normalisation and guards are shared with the eager path, and :class:`GraphWindows` does the
STFT in numpy (:mod:`crpse.spectral_numpy`) around the graph.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from crpse import spectral_numpy
from crpse.model_info import ModelInfo
from crpse.sampler_spec import SamplerRequest, SamplerSpec

#: ONNX opset of the exported graphs
OPSET = 17
#: key of the graph's JSON metadata entry
METADATA_KEY = "crpse"
#: environment variable that moves the cache
CACHE_ENV = "CRPSE_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$CRPSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/crpse``, else ``~/.cache/crpse``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "crpse"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


def graph_path(cache_dir: str | os.PathLike[str], model_id: str, request: SamplerRequest) -> Path:
    """The cache file of the graph of model ``model_id`` (a content hash) for the sampler options ``request``."""
    identity = {
        "model": model_id,
        "request": asdict(request),
        "torch": _version("torch"),
        "onnxruntime": _version("onnxruntime"),
        "opset": OPSET,
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]
    return Path(cache_dir) / "graphs" / f"{key}.onnx"


def shipped_graph_path(checkpoint: str | os.PathLike[str]) -> Path:
    """Where a graph shipped with a checkpoint lies: the same name with the suffix ``.onnx``."""
    return Path(checkpoint).with_suffix(".onnx")


class GraphFacts:
    """What a sampler graph records about itself (:func:`crpse.backends.export.graph_metadata`), read from its JSON
    metadata entry :data:`METADATA_KEY`.

    Attributes:
        path: the graph file.
        info: the model's inference facts.
        spec: the sampler setting the graph runs (``None``: a predictive model).
        checkpoint_sha256: the checkpoint it was exported from (``None``: a model object).
    """

    def __init__(self, path: str | os.PathLike[str], recorded: str) -> None:
        facts: dict[str, Any] = json.loads(recorded)
        self.path = Path(path)
        self.info = ModelInfo.from_dict(facts["model"])
        self.spec = None if facts["spec"] is None else SamplerSpec.from_dict(facts["spec"])
        self.checkpoint_sha256: str | None = facts.get("checkpoint_sha256")


class LoadedGraph(Protocol):
    """A sampler graph loaded in a runtime (:class:`OrtGraph`, :class:`crpse.backends.openvino.OpenVinoGraph`)."""

    path: Path
    info: ModelInfo
    spec: SamplerSpec | None
    checkpoint_sha256: str | None

    def run(self, y: np.ndarray, noise: np.ndarray | None) -> np.ndarray:
        """``float32 [B, 2, F, T]`` real-view spectrogram (+ ``[D, B, 2, F, T]`` noise) -> ``[B, 2, F, T]``."""
        ...


class OrtGraph(GraphFacts):
    """A loaded sampler graph: an ONNX Runtime session plus the facts it records (:class:`GraphFacts`)."""

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None) -> None:
        """Load the graph at ``path``; ``threads``: intra-op threads (default: ``$OMP_NUM_THREADS`` when set, the
        variable torch's CPU threads follow, else ONNX Runtime's default of one per physical core)."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        threads = threads or omp_threads()
        if threads:
            options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":  # the CLI's setting for torch's threads
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        super().__init__(path, self.session.get_modelmeta().custom_metadata_map[METADATA_KEY])

    def run(self, y: np.ndarray, noise: np.ndarray | None) -> np.ndarray:
        """``float32 [B, 2, F, T]`` real-view spectrogram (+ ``[D, B, 2, F, T]`` noise) -> ``[B, 2, F, T]``."""
        feeds = {"y": y} if noise is None else {"y": y, "noise": noise}
        return self.session.run(["x"], feeds)[0]


def omp_threads() -> int:
    """``$OMP_NUM_THREADS`` (its first level), or 0 when unset or unreadable."""
    try:
        return max(0, int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0]))
    except ValueError:
        return 0


def _real_view(spec: np.ndarray) -> np.ndarray:
    """complex ``[..., 1, F, T]`` -> float32 ``[..., 2, F, T]`` (channels ``Re, Im``)."""
    return np.concatenate([spec.real, spec.imag], axis=-3).astype(np.float32)


class GraphWindows:
    """Enhance windows with a loaded sampler graph (either runtime): ``(waves, noise, pad_mode) -> waves`` (the same
    contract as :class:`crpse.backends.eager.EagerWindows`), numpy STFT around the graph."""

    def __init__(self, graph: LoadedGraph) -> None:
        self.graph = graph

    def __call__(self, waves: np.ndarray, noise: np.ndarray | None, pad_mode: str) -> np.ndarray:
        info = self.graph.info
        y = spectral_numpy.to_spec(info.transform, waves)
        frames = y.shape[-1]
        y = spectral_numpy.pad_frames(y, info.frame_multiple, pad_mode)  # type: ignore[arg-type]
        z = None if noise is None else _real_view(noise[:, :, None])
        x = self.graph.run(_real_view(y), z)
        x_hat = (x[:, :1] + 1j * x[:, 1:])[..., :frames]
        return spectral_numpy.to_wave(info.transform, x_hat, waves.shape[1])
