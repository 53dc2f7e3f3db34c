"""Time schedules: the uniform grid is the reference's, the power grid concentrates steps near t_eps."""

from __future__ import annotations

import pytest
import torch

from crpse.schedules import POWER_RHO, schedule_times


def test_uniform_is_exactly_linspace() -> None:
    for steps in (1, 2, 5, 30):
        assert torch.equal(schedule_times("uniform", 0.5, 0.03, steps), torch.linspace(0.5, 0.03, steps))


def test_power_grid_values() -> None:
    times = schedule_times("power", 0.5, 0.03, 5, dtype=torch.float64)
    low, high = 0.03 ** (1 / POWER_RHO), 0.5 ** (1 / POWER_RHO)
    expected = [(high + i / 4 * (low - high)) ** POWER_RHO for i in range(5)]
    torch.testing.assert_close(times, torch.tensor(expected, dtype=torch.float64))
    assert times[0] == 0.5 and times[-1] == 0.03
    steps = times[:-1] - times[1:]
    assert torch.all(steps[1:] < steps[:-1])  # shorter and shorter towards t_eps
    assert float(times[2]) == pytest.approx(0.1684, abs=1e-4)  # uniform would be 0.265


def test_one_and_two_steps_do_not_depend_on_the_schedule() -> None:
    for steps in (1, 2):
        assert torch.equal(schedule_times("power", 0.7, 0.03, steps), schedule_times("uniform", 0.7, 0.03, steps))


def test_errors() -> None:
    with pytest.raises(ValueError, match="unknown time schedule"):
        schedule_times("cosine", 0.5, 0.03, 3)
    with pytest.raises(ValueError, match="t_end < t_start"):
        schedule_times("power", 0.03, 0.5, 3)
    with pytest.raises(ValueError, match="steps"):
        schedule_times("power", 0.5, 0.03, 0)
