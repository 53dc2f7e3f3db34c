"""bf16's measured quality cost, as a checkpoint records it (``extra["bf16_cost"]``).

``--precision auto`` runs bf16 on hardware with native bf16 only for a model whose own checkpoint records a
measured cost below :data:`crpse.backends.BF16_MAX_PESQ_COST` (:func:`crpse.backends.select_backend`): the cost
belongs to the weights it was measured with, so a fine-tuned or newly trained model starts without one and runs
fp32 until it is measured (``benchmarks/bf16_quality.py --record``, :func:`crpse.bench.precision.write_bf16_cost`).

This module needs neither torch nor numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

#: the key of the record in a checkpoint's ``extra``
BF16_COST_KEY = "bf16_cost"


@dataclass(frozen=True)
class Bf16Cost:
    """bf16 against fp32 on the same files, setting and sampler noise (paired per file; ``fp32 - bf16``).

    Attributes:
        pesq: mean PESQ cost (positive: bf16 is worse); what ``auto`` compares with its limit.
        worst_pesq: the largest PESQ loss on one file, and ``worst_file`` that file.
        estoi: mean ESTOI cost. si_sdr: mean SI-SDR cost (dB).
        split: the corpus split measured, and ``files`` how many of its files.
        backend: the path both precisions ran (``eager`` or ``openvino``).
    """

    pesq: float
    worst_pesq: float
    worst_file: str
    estoi: float
    si_sdr: float
    split: str
    files: int
    backend: str = "eager"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Bf16Cost:
        return cls(
            pesq=float(data["pesq"]), worst_pesq=float(data["worst_pesq"]), worst_file=str(data["worst_file"]),
            estoi=float(data["estoi"]), si_sdr=float(data["si_sdr"]), split=str(data["split"]),
            files=int(data["files"]), backend=str(data.get("backend", "eager")),
        )

    def describe(self) -> str:
        """One line, e.g. ``PESQ -0.006 (worst -0.077, test_00048.wav), ESTOI -0.0012, SI-SDR -0.03 dB; 100
        test files, eager``."""
        return (f"PESQ {-self.pesq:+.4f} (worst {-self.worst_pesq:+.3f}, {self.worst_file}), ESTOI {-self.estoi:+.4f}, "
                f"SI-SDR {-self.si_sdr:+.2f} dB; {self.files} {self.split} files, {self.backend}")


def read_bf16_cost(checkpoint: Mapping[str, Any]) -> Bf16Cost | None:
    """The record in a checkpoint dict (``extra["bf16_cost"]``), if any."""
    stored = (checkpoint.get("extra") or {}).get(BF16_COST_KEY)
    return Bf16Cost.from_dict(stored) if stored else None
