"""The parameters of the task-adapted SDEs, their defaults (the reference's) and their valid ranges, without torch.

:mod:`crpse.sde` builds the SDEs' maths on these classes (``BBED`` is a :class:`BBEDParameters`), so each default
is written once; the command line reads them here to show them and to check values before torch loads. Building one
with a value out of its range raises ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class BBEDParameters:
    """Parameters of the Brownian bridge with exponential diffusion coefficient (BBED).

    Attributes:
        k: base of the exponential diffusion coefficient ``g(t) = sqrt(c) * k**t`` (> 1).
        c: scale of the diffusion (called ``theta`` in the reference code).
        t_max: largest time used for DSM training and the default start of sampling (reference ``T_sampling``).
        t_eps: smallest time used for DSM training; samplers integrate from ``t_eps`` to 0 in their last step.
    """

    k: float = 2.6
    c: float = 0.52
    t_max: float = 0.999
    t_eps: float = 0.03

    name: ClassVar[str] = "bbed"
    #: the bridge ends at T_c = 1, where the drift is singular and the marginal collapses onto y.
    T_c: ClassVar[float] = 1.0

    def __post_init__(self) -> None:
        if not 1.0 < self.k <= 50.0:
            raise ValueError(f"BBED needs 1 < k <= 50, got k={self.k}")
        if self.c <= 0:
            raise ValueError(f"BBED needs c > 0, got c={self.c}")
        if not 0.0 < self.t_eps < self.t_max < self.T_c:
            raise ValueError(f"BBED needs 0 < t_eps < t_max < 1, got t_eps={self.t_eps}, t_max={self.t_max}")


@dataclass(frozen=True)
class OUVEParameters:
    """Parameters of the Ornstein-Uhlenbeck SDE with variance exploding diffusion (SGMSE+).

    Attributes:
        theta: stiffness of the drift towards y.
        sigma_min, sigma_max: diffusion range, ``g(t) = sigma_min (sigma_max/sigma_min)**t sqrt(2 log(ratio))``.
        t_max: largest DSM / default sampling start time (1 in the reference).
        t_eps: smallest DSM time and the end of the sampling grid.
    """

    name: ClassVar[str] = "ouve"

    theta: float = 1.5
    sigma_min: float = 0.05
    sigma_max: float = 0.5
    t_max: float = 1.0
    t_eps: float = 0.03

    def __post_init__(self) -> None:
        if self.theta <= 0:
            raise ValueError(f"OUVE needs theta > 0, got {self.theta}")
        if not 0.0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"OUVE needs 0 < sigma_min < sigma_max, got {self.sigma_min}, {self.sigma_max}")
        if not 0.0 < self.t_eps < self.t_max <= 1.0:
            raise ValueError(f"OUVE needs 0 < t_eps < t_max <= 1, got t_eps={self.t_eps}, t_max={self.t_max}")
