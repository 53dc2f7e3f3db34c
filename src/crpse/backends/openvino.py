"""The ``openvino`` backend's run side: the sampler graph of :mod:`crpse.backends.export` compiled by OpenVINO.

The graph files, their cache and the windows step are the ``onnxruntime`` backend's (:mod:`crpse.backends.ort`);
only the runtime differs. OpenVINO's CPU plugin picks bf16 by default wherever the CPU has native bf16, so the
inference precision is always set explicitly: ``f32`` for the faithful path, ``bf16`` only when asked for (the
backend choice allows it only on CPUs with native bf16, :func:`crpse.backends.select_backend`). Compiled models are
cached by OpenVINO itself in ``CACHE/openvino`` (``CACHE``: the graph cache's folder), which makes every start after
the first cheaper (BENCHMARKS.md section 14).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from crpse.backends.ort import METADATA_KEY, GraphFacts, omp_threads

#: OpenVINO's names of the backend's precisions
INFERENCE_PRECISION = {"fp32": "f32", "bf16": "bf16"}
#: the compiled-model cache's folder inside the graph cache
MODEL_CACHE_DIR = "openvino"


class OpenVinoGraph(GraphFacts):
    """A sampler graph compiled by OpenVINO for the CPU, plus the facts it records (:class:`GraphFacts`).

    Args:
        path: the graph file (ONNX).
        threads: inference threads (default: ``$OMP_NUM_THREADS`` when set, else OpenVINO's default).
        precision: ``fp32`` (faithful) or ``bf16``.
        cache_dir: the graph cache's folder; OpenVINO's compiled models are kept in its ``openvino`` subfolder
            (``None``: no compiled-model cache).
    """

    def __init__(
        self, path: str | os.PathLike[str], threads: int | None = None, precision: str = "fp32",
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        import openvino

        core = openvino.Core()
        if cache_dir is not None:
            core.set_property({"CACHE_DIR": str(Path(cache_dir) / MODEL_CACHE_DIR)})
        model = core.read_model(str(path))
        super().__init__(path, model.get_rt_info(["framework", METADATA_KEY]).astype(str))
        config: dict[str, object] = {
            "INFERENCE_PRECISION_HINT": INFERENCE_PRECISION[precision],
            "PERFORMANCE_HINT": "LATENCY",
        }
        threads = threads or omp_threads()
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.precision = precision
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()

    def run(self, y: np.ndarray, noise: np.ndarray | None) -> np.ndarray:
        """``float32 [B, 2, F, T]`` real-view spectrogram (+ ``[D, B, 2, F, T]`` noise) -> ``[B, 2, F, T]``."""
        feeds = {"y": y} if noise is None else {"y": y, "noise": noise}
        return np.array(self.request.infer(feeds)["x"])  # a copy: the request reuses its output buffer
