"""Time schedules of the sampler grid: where the N grid times between t_start and t_eps lie.

* ``uniform``: ``linspace(t_start, t_eps, N)``, the reference's grid (bit-identical to it).
* ``power``: EDM-like spacing (Karras et al. 2022, eq. 5, applied to the diffusion time instead of sigma),
  ``t_i = (t_start^(1/rho) + i / (N - 1) * (t_eps^(1/rho) - t_start^(1/rho)))^rho`` with ``rho = 3``: the steps get
  shorter towards t_eps, where the reverse process removes the last, finest noise.

Every schedule starts at ``t_start`` and ends at ``t_eps`` (the last reverse step then goes from ``t_eps`` to 0), so
for N = 1 and N = 2 all schedules give the same grid; they differ from N = 3 on.
"""

from __future__ import annotations

import torch

from crpse.sampler_spec import SCHEDULES, UNIFORM

#: the schedules, the first being the default
SCHEDULE_NAMES: tuple[str, ...] = SCHEDULES
#: exponent of the ``power`` schedule (EDM uses 7 on sigma; 3 keeps the first steps usable at N = 3..5)
POWER_RHO = 3.0


def schedule_times(
    schedule: str, t_start: float, t_end: float, steps: int, dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The ``steps`` grid times from ``t_start`` down to ``t_end`` (both included; ``[t_start]`` for one step).

    Raises:
        ValueError: unknown schedule, ``steps < 1`` or not ``0 < t_end < t_start``.
    """
    if schedule not in SCHEDULE_NAMES:
        raise ValueError(f"unknown time schedule {schedule!r}; choose one of {', '.join(SCHEDULE_NAMES)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not 0 < t_end < t_start:
        raise ValueError(f"need 0 < t_end < t_start, got t_start={t_start}, t_end={t_end}")
    if schedule == UNIFORM or steps < 3:
        return torch.linspace(t_start, t_end, steps, dtype=dtype, device=device)
    fraction = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)
    low, high = t_end ** (1.0 / POWER_RHO), t_start ** (1.0 / POWER_RHO)
    times = (high + fraction * (low - high)) ** POWER_RHO
    times[0], times[-1] = t_start, t_end
    return times.to(dtype=dtype, device=device)
