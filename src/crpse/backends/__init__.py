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
* ``auto``: the fastest faithful path. ``precision="auto"`` is fp32 until bf16's quality cost has been measured
  below :data:`BF16_MAX_PESQ_COST` for the model; :data:`BF16_MEASURED_PESQ_COST` records that measurement (done
  for the bundled model, below the limit: so ``auto`` runs bf16 where the hardware has native bf16, fp32 elsewhere).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import torch

#: ``--backend`` choices (compiled runtimes such as OpenVINO or ONNX Runtime are not built in yet)
BACKENDS = ("auto", "eager")
#: ``--precision`` choices
PRECISIONS = ("auto", "fp32", "bf16")
#: ``auto`` may pick bf16 only when its mean PESQ cost against fp32 on a test split is below this
BF16_MAX_PESQ_COST = 0.02
#: measured mean PESQ cost of bf16 (fp32 PESQ - bf16 PESQ, paired per file) for the bundled model at its own setting:
#: 100 test files, mean 0.0084, worst file 0.089 (BENCHMARKS.md section 13.2, benchmarks/bf16_quality.py);
#: ``None`` would mean not measured (``auto`` then stays fp32)
BF16_MEASURED_PESQ_COST: float | None = 0.0084


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


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (x86: ``avx512_bf16`` or ``amx_bf16``; CUDA: compute >= 8.0)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())
    return False


@dataclass(frozen=True)
class InferenceBackend:
    """A resolved inference path.

    Attributes:
        name: ``eager``.
        precision: ``fp32`` or ``bf16``.
        channels_last: whether 4-D weights and feature maps use the channels-last layout.
        reason: why ``auto`` chose this (empty when the user chose explicitly).
    """

    name: str
    precision: str
    channels_last: bool
    reason: str = ""

    @property
    def faithful(self) -> bool:
        """fp32 paths match eager NCHW fp32 to about 1e-5 (parity-tested); bf16 does not."""
        return self.precision == "fp32"

    def describe(self) -> str:
        layout = ", channels-last" if self.channels_last else ""
        return f"{self.name} {self.precision}{layout}" + (f" ({self.reason})" if self.reason else "")

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """Put ``model`` (in place) into the layout this backend runs; returns it."""
        return model.to(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)

    @contextlib.contextmanager
    def autocast(self, device: torch.device) -> Iterator[None]:
        """The context the sampler runs in (bf16 autocast, or nothing)."""
        if self.precision == "bf16":
            with torch.autocast(device.type, dtype=torch.bfloat16):
                yield
        else:
            yield


def select_backend(
    backend: str = "auto", precision: str = "auto", device: torch.device | str = "cpu"
) -> InferenceBackend:
    """Resolve the ``backend``/``precision`` options for ``device``.

    Raises:
        ValueError: an unknown choice, or bf16 asked for on hardware without native bf16.
    """
    device = torch.device(device)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    channels_last = device.type == "cpu"
    if precision == "bf16" and not native_bf16(device):
        raise ValueError(
            f"bf16 needs native bf16 hardware (avx512_bf16/amx_bf16 CPU or a bf16 GPU), which {device} lacks; "
            "use --precision fp32 or auto"
        )
    reason = ""
    if precision == "auto":
        precision = "fp32"
        if not native_bf16(device):
            reason = "auto: fp32, no native bf16 on this hardware"
        elif BF16_MEASURED_PESQ_COST is None or BF16_MEASURED_PESQ_COST >= BF16_MAX_PESQ_COST:
            reason = f"auto: fp32, bf16's PESQ cost is not measured below {BF16_MAX_PESQ_COST}"
        else:
            precision, reason = "bf16", f"auto: bf16, measured PESQ cost {BF16_MEASURED_PESQ_COST:.3f}"
    return InferenceBackend("eager", precision, channels_last, reason)
