"""Build the ONNX graph shipped with each bundled model: ``crpse/assets/NAME.onnx`` next to ``NAME.ckpt``.

The graph is the model's whole sampler for its own setting (crpse.backends.export), with the checkpoint's SHA-256
recorded in it: the ``onnxruntime`` backend (and ``auto`` on CPU) uses it only while that hash matches the shipped
checkpoint, and ``tests/test_bundled_model.py`` checks the hash and the graph's output against eager fp32. Rebuild
it whenever a bundled checkpoint changes:

    PYTHONPATH=src python benchmarks/build_bundled_graph.py            # every bundled model
"""

from __future__ import annotations

import sys

from crpse.assets import BUNDLED_MODELS, bundled_model_path
from crpse.backends.eager import load_inference_model
from crpse.backends.inference import export_graph
from crpse.backends.ort import file_sha256, shipped_graph_path
from crpse.model_info import ModelInfo


def main(names: list[str]) -> None:
    for name in names or list(BUNDLED_MODELS):
        checkpoint = bundled_model_path(name)
        model, _ = load_inference_model(checkpoint, "cpu")
        info = ModelInfo.of(model)
        target = export_graph(model, info, info.resolve(), file_sha256(checkpoint), shipped_graph_path(checkpoint))
        print(f"{name}: {target} ({target.stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main(sys.argv[1:])
