"""Export a model's whole sampler, for one sampler setting, as an ONNX graph (the ``onnxruntime`` backend).

The graph is traced from the same torch code that eager mode runs (:func:`crpse.sampling.sample` on the model), so
the sampler stays written once. ONNX has no complex numbers, so the graph works on real views (``[B, 2, F, T]``,
channels ``Re, Im``): the samplers only scale and add spectrograms by real numbers, and the models take and return
real views (:mod:`crpse.score_model`). Inputs and output (``B`` and ``T`` dynamic, ``T`` a multiple of the model's
frame multiple, ``F`` its bins):

* ``y``: ``float32 [B, 2, F, T]``, the compressed noisy spectrogram;
* ``noise``: ``float32 [D, B, 2, F, T]``, the sampler's ``D = spec.noise_draws`` noise tensors in sampling order
  (absent for a predictive model);
* ``x``: ``float32 [B, 2, F, T]``, the estimate.

The time grid and every step are constants of the graph (one graph per setting). A sampler's network calls are
unrolled, so settings with more than :data:`MAX_GRAPH_CALLS` calls are not exported. The exporter is torch's
TorchScript-based one (``dynamo=False``, opset :data:`crpse.backends.ort.OPSET`: seconds per network call, and
dynamic shapes that hold), which needs the ``onnx`` package.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crpse import sampling
from crpse.backends.ort import METADATA_KEY, OPSET
from crpse.files import atomic_output
from crpse.model_info import ModelInfo
from crpse.sampler_spec import SamplerSpec
from crpse.score_model import Model

#: the most network calls one graph unrolls (CRP's settings take 1-5)
MAX_GRAPH_CALLS = 8


class ExportError(RuntimeError):
    """A model or setting cannot be exported as a graph."""


class SamplerGraph(nn.Module):
    """``y, noise -> x`` on real views: :func:`crpse.sampling.sample` for one resolved setting (``None``: a
    predictive model's single call)."""

    def __init__(self, model: Model, spec: SamplerSpec | None) -> None:
        super().__init__()
        self.model, self.spec = model, spec

    def forward(self, y: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        draws = None if noise is None else list(noise.unbind(0))
        return sampling.sample(self.model, y, spec=self.spec, noise=draws)[0]


def graph_metadata(info: ModelInfo, spec: SamplerSpec | None, checkpoint_sha256: str | None) -> dict[str, Any]:
    """What a graph records about itself: the model's inference facts, the setting it runs, its inputs, and the
    checkpoint it was exported from (SHA-256 of the file; ``None`` for a model object)."""
    return {
        "format": 1,
        "model": info.to_dict(),
        "spec": None if spec is None else spec.to_dict(),
        "noise_draws": 0 if spec is None else spec.noise_draws,
        "checkpoint_sha256": checkpoint_sha256,
        "torch": torch.__version__,
        "opset": OPSET,
    }


def export_sampler_graph(
    model: Model, spec: SamplerSpec | None, path: str | os.PathLike[str], metadata: dict[str, Any]
) -> Path:
    """Export ``model``'s sampler for ``spec`` to the ONNX file ``path`` (written atomically), with ``metadata``
    (:func:`graph_metadata`) stored in the graph as JSON under :data:`crpse.backends.ort.METADATA_KEY`.

    The model is traced on the CPU in fp32 NCHW (a copy when it lives elsewhere).

    Raises:
        ExportError: too many network calls for one graph, or the ``onnx`` package is missing.
    """
    if spec is not None and spec.network_calls > MAX_GRAPH_CALLS:
        raise ExportError(
            f"the {spec.sampler} sampler's {spec.network_calls} network calls are too many to unroll into one graph "
            f"(at most {MAX_GRAPH_CALLS})"
        )
    try:
        import onnx
    except ImportError as error:
        raise ExportError("the ONNX exporter needs the onnx package (pip install 'crpse[onnx]')") from error
    info = ModelInfo.of(model)
    first = next(model.parameters())
    if first.device.type != "cpu" or first.dtype != torch.float32:
        import copy

        model = copy.deepcopy(model).to("cpu", torch.float32)
    model = model.to(memory_format=torch.contiguous_format).eval()
    batch, bins, frames = 2, info.transform.num_bins, 2 * info.frame_multiple
    generator = torch.Generator().manual_seed(0)
    y = torch.randn(batch, 2, bins, frames, generator=generator)
    inputs: tuple[torch.Tensor, ...] = (y,)
    names = ["y"]
    axes: dict[str, dict[int, str]] = {"y": {0: "batch", 3: "frames"}, "x": {0: "batch", 3: "frames"}}
    if spec is not None:
        inputs += (torch.randn(spec.noise_draws, batch, 2, bins, frames, generator=generator),)
        names.append("noise")
        axes["noise"] = {1: "batch", 4: "frames"}
    target = Path(path)
    with atomic_output(target) as temporary, torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        # tracing warns that the time grid and the tensor checks become constants: by design, one graph per setting
        warnings.simplefilter("ignore")
        torch.onnx.export(
            SamplerGraph(model, spec),
            inputs,
            str(temporary),
            dynamo=False,
            opset_version=OPSET,
            input_names=names,
            output_names=["x"],
            dynamic_axes=axes,
        )
        graph = onnx.load(str(temporary))
        entry = graph.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(metadata, sort_keys=True)
        onnx.save(graph, str(temporary))
    return target
