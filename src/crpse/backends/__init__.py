"""How the network runs at inference: backend and precision, chosen once per :class:`~crpse.enhancer.Enhancer`.

One seam: :func:`select_backend` turns the user's ``backend``/``precision`` options into an :class:`InferenceBackend`,
:meth:`InferenceBackend.prepare` puts the model into the memory format the backend wants, and
:meth:`InferenceBackend.autocast` is the context the sampler runs in. The STFT, the complex arithmetic and the
sampler stay outside it (autocast only changes convolutions and matrix products; everything else stays fp32).

Paths (figures in BENCHMARKS.md section 8.3):

* ``eager`` ``fp32``: PyTorch eager mode, weights and feature maps in the channels-last layout on CPU (oneDNN's
  native layout: less CPU time per call than NCHW, about 1e-5 relative difference). Faithful: parity-tested
  against eager NCHW fp32 to a max relative error of 1e-4.
* ``eager`` ``bf16``: the same under bf16 autocast; only where the hardware has native bf16 (``avx512_bf16`` or
  ``amx_bf16`` on x86 CPUs, a bf16-capable GPU). Not faithful (about 1e-2 relative difference).
* ``onnxruntime`` ``fp32`` (CPU; the ``onnx`` extra): the whole sampler for one sampler setting, exported once from
  the same torch code to an ONNX graph (spectrogram in, enhanced spectrogram out, noise as inputs), cached on disk
  and run by ONNX Runtime, with the STFT in numpy (:mod:`crpse.backends.ort`). A cached graph runs without
  importing torch at all. Faithful: parity-tested against eager fp32 to a max relative error of 1e-4. When the
  runtime is missing or the export fails, the eager path runs instead, with a one-line notice.
* ``openvino`` ``fp32`` (CPU; the ``openvino`` extra): the same cached graph, compiled by OpenVINO's CPU plugin
  with its inference precision set to f32 explicitly (OpenVINO's own default is bf16 wherever the CPU has it), and
  OpenVINO's compiled-model cache next to the graphs (:mod:`crpse.backends.openvino`). Faithful, parity-tested like
  ``onnxruntime``; fallbacks the same. ``openvino`` ``bf16``: only when asked for and where the CPU has native bf16;
  not faithful (BENCHMARKS.md section 14: larger errors than eager bf16), so ``auto`` never picks it.
* ``compile`` (torch >= 2.2 and, on CPU, a C++ compiler): the eager path with the network compiled by
  ``torch.compile`` on first use (one compilation per window shape: seconds to minutes). On CUDA it uses the
  ``reduce-overhead`` mode, which replays CUDA graphs, the launch-bound case it helps; on CPU the default mode
  (BENCHMARKS.md section 13.1: the ``tiny`` network compiled in 200 s and ran 1.01x as fast, so ``auto`` never picks
  it). Faithful in fp32 (parity-tested to 1e-4 on CPU; on CUDA where a GPU runs the tests); ``bf16`` and ``fp16``
  are its autocast as for eager.
* ``fp16`` (CUDA only): fp16 autocast, for GPUs whose fp16 is faster than their bf16 or that have no bf16; not
  faithful, never chosen by ``auto``. CPUs have no fast fp16 path here, so it is refused there.
* ``auto``: the fastest faithful path. ``precision="auto"`` is fp32 unless the model's checkpoint records bf16's
  quality cost, measured on real outputs below :data:`BF16_MAX_PESQ_COST` (:mod:`crpse.bf16_record`), and the
  hardware has native bf16: then bf16. The cost belongs to the weights it was measured with, so a model without a
  record (a new or fine-tuned one) runs fp32 until ``benchmarks/bf16_quality.py --record`` measures it. On CPU with
  fp32, ``auto`` runs ``onnxruntime`` when the model's graph for the setting is ready (shipped with the package or
  in the cache; measured faster to start, BENCHMARKS.md section 12), and eager otherwise (an export costs seconds,
  so ``auto`` never starts one: ``--backend onnxruntime`` does, once per model and setting). ``auto`` never picks
  ``openvino``: measured, it was not faster than ``auto``'s choice on the CPU it was measured on (section 14).

This module loads without torch (the eager methods import it), so that the ONNX Runtime path never loads it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: ``--backend`` choices
BACKENDS = ("auto", "eager", "onnxruntime", "openvino", "compile")
#: the backends that run the exported sampler graph (:mod:`crpse.backends.export`), and the optional extra each
#: needs (``pip install 'crpse[EXTRA]'``: the runtime, and the exporter's ONNX library; a cached graph needs only
#: the runtime)
GRAPH_BACKENDS = {"onnxruntime": "onnx", "openvino": "openvino"}
#: the extra of the ``onnxruntime`` backend
ONNX_EXTRA = GRAPH_BACKENDS["onnxruntime"]
#: ``--precision`` choices
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: ``auto`` may pick bf16 only when its mean PESQ cost against fp32 on a test split is below this
BF16_MAX_PESQ_COST = 0.02


@lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def device_type(device: torch.device | str) -> str:
    """``"cpu"``, ``"cuda"``... of a ``torch.device`` or a device string such as ``"cuda:1"`` (without torch)."""
    return getattr(device, "type", None) or str(device).partition(":")[0]


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` computes bf16 natively (x86: ``avx512_bf16`` or ``amx_bf16``; CUDA: compute >= 8.0)."""
    kind = device_type(device)
    if kind == "cuda":
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if kind == "cpu":
        return bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())
    return False


def onnxruntime_installed() -> bool:
    """Whether ONNX Runtime can be imported (checked without importing it)."""
    return importlib.util.find_spec("onnxruntime") is not None


def openvino_installed() -> bool:
    """Whether OpenVINO's runtime can be imported (checked without importing it)."""
    return importlib.util.find_spec("openvino") is not None


def graph_runtime_installed(backend: str) -> bool:
    """Whether the runtime of a graph backend (:data:`GRAPH_BACKENDS`) can be imported."""
    return onnxruntime_installed() if backend == "onnxruntime" else openvino_installed()


def cuda_possible() -> bool:
    """Whether this machine could have a CUDA device, answered without loading torch: CUDA needs the NVIDIA
    driver's device files. ``False`` means certainly none; ``True`` means ask torch."""
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvidia0")


@dataclass(frozen=True)
class InferenceBackend:
    """A resolved inference path.

    Attributes:
        name: ``eager``, ``compile``, ``onnxruntime`` or ``openvino``.
        precision: ``fp32``, ``bf16`` or ``fp16``.
        channels_last: whether 4-D weights and feature maps use the channels-last layout (eager).
        reason: why ``auto`` chose this, or why the path asked for could not run (empty when the user's choice
            runs as asked).
    """

    name: str
    precision: str
    channels_last: bool
    reason: str = ""

    @property
    def faithful(self) -> bool:
        """fp32 paths match eager NCHW fp32 to about 1e-5 (parity-tested); bf16 and fp16 do not."""
        return self.precision == "fp32"

    def describe(self) -> str:
        layout = ", channels-last" if self.channels_last else ""
        return f"{self.name} {self.precision}{layout}" + (f" ({self.reason})" if self.reason else "")

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """Put ``model`` (in place) into the layout this backend runs, and for ``compile`` mark its network for
        compilation on first use (:func:`compile_network`); returns it."""
        import torch

        model = model.to(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        if self.name == "compile":
            compile_network(model)
        return model

    @contextlib.contextmanager
    def autocast(self, device: torch.device) -> Iterator[None]:
        """The context the sampler runs in: bf16 or fp16 autocast; for fp32 on CUDA, cuDNN without TF32 (PyTorch
        lets cuDNN convolutions use TF32 by default, about 1e-3 relative error: not the faithful fp32), restored
        on exit; else nothing."""
        import torch

        if self.precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
            with torch.autocast(device.type, dtype=dtype):
                yield
        elif device_type(device) == "cuda":
            cudnn = torch.backends.cudnn
            with cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic,
                             allow_tf32=False):
                yield
        else:
            yield


def compile_mode(device: torch.device | str) -> str | None:
    """``torch.compile``'s mode for ``device``: ``reduce-overhead`` (CUDA graphs) on CUDA, the default elsewhere."""
    return "reduce-overhead" if device_type(device) == "cuda" else None


def compile_network(model: torch.nn.Module) -> torch.nn.Module:
    """Compile ``model``'s network (its ``dnn``) in place with ``torch.compile`` in :func:`compile_mode` for the
    device its parameters are on; compilation happens on the first call (and once per new input shape).

    The compiled function sees only the network's real view (``[B, 4, F, T]`` in, ``[B, 2, F, T]`` out): TorchInductor
    generates no code for complex operators, so the complex <-> real-view conversions (the same operations as
    :meth:`crpse.nn.ncsnpp.NCSNpp.forward`'s) stay outside it. The parameters, their names and the state dict are
    unchanged. Calling it again on the same model does nothing."""
    import torch

    network = getattr(model, "dnn", model)
    if getattr(network, "_crpse_compiled", False):
        return model
    real_forward = torch.compile(network.forward, mode=compile_mode(next(network.parameters()).device))

    def forward(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if not x.is_complex():
            return real_forward(x, t)
        real = torch.cat([x[:, :1].real, x[:, :1].imag, x[:, 1:].real, x[:, 1:].imag], dim=1)
        out = real_forward(real, t)
        return torch.view_as_complex(out.permute(0, 2, 3, 1).contiguous())[:, None]

    network.forward = forward
    network._crpse_compiled = True
    return model


def select_backend(
    backend: str = "auto", precision: str = "auto", device: torch.device | str = "cpu",
    bf16_pesq_cost: float | None = None,
) -> InferenceBackend:
    """Resolve the ``backend``/``precision`` options for ``device``.

    ``auto`` resolves to an eager path here; whether a ready ONNX graph replaces it is decided where the model is
    known (:func:`crpse.backends.inference.open_inference`). A graph backend (``onnxruntime``, ``openvino``) without
    its runtime installed resolves to eager (fp32, or bf16 when asked for) with the reason in
    :attr:`InferenceBackend.reason` (shown as a one-line notice). ``openvino`` runs fp32 unless bf16 is asked for.

    ``compile`` resolves its precision like ``eager`` (``auto`` included). ``bf16_pesq_cost`` is the model's measured
    mean PESQ cost of bf16 (:class:`crpse.bf16_record.Bf16Cost`; ``None``: not measured): ``auto`` precision takes
    bf16 only on native bf16 hardware and when it is below :data:`BF16_MAX_PESQ_COST`.

    Raises:
        ValueError: an unknown choice, bf16 asked for on hardware without native bf16, fp16 anywhere but on CUDA,
            ``onnxruntime`` with bf16, or a graph backend on a device other than the CPU.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    kind = device_type(device)
    channels_last = kind == "cpu"
    if backend in GRAPH_BACKENDS and kind != "cpu":
        raise ValueError(f"the {backend} backend runs on the CPU, not {device}; use --device cpu or another backend")
    if backend == "onnxruntime" and precision == "bf16":
        raise ValueError("the onnxruntime backend runs fp32 only; use --precision fp32 or auto, or --backend eager")
    if precision == "fp16" and kind != "cuda":
        raise ValueError(
            f"fp16 runs on CUDA GPUs only, not on {device}; use --precision fp32, bf16 (native bf16 hardware) or auto"
        )
    if precision == "bf16" and not native_bf16(device):
        raise ValueError(
            f"bf16 needs native bf16 hardware (avx512_bf16/amx_bf16 CPU or a bf16 GPU), which {device} lacks; "
            "use --precision fp32 or auto"
        )
    if backend in GRAPH_BACKENDS:
        precision = "bf16" if precision == "bf16" else "fp32"  # a graph backend's auto: the faithful fp32
        if not graph_runtime_installed(backend):
            reason = (f"{backend} is not installed (pip install 'crpse[{GRAPH_BACKENDS[backend]}]'): "
                      f"running eager {precision}")
            return InferenceBackend("eager", precision, channels_last, reason)
        return InferenceBackend(backend, precision, False)
    name = "compile" if backend == "compile" else "eager"
    reason = ""
    if precision == "auto":
        precision = "fp32"
        if not native_bf16(device):
            reason = "auto: fp32, no native bf16 on this hardware"
        elif bf16_pesq_cost is None:
            reason = "auto: fp32, bf16's quality cost is not measured for this model"
        elif bf16_pesq_cost >= BF16_MAX_PESQ_COST:
            reason = f"auto: fp32, bf16's measured PESQ cost {bf16_pesq_cost:.3f} is not below {BF16_MAX_PESQ_COST}"
        else:
            precision, reason = "bf16", f"auto: bf16, measured PESQ cost {bf16_pesq_cost:.3f}"
    return InferenceBackend(name, precision, channels_last, reason)
