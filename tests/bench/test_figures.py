"""crpse.bench.figures: what the sweep heatmaps mark (hatched cells below the noisy input, the best cell outlined)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from crpse.bench.figures import sweep_heatmaps  # noqa: E402


def _row(model: str, sampler: str, steps: int, t_start: float | None, pesq: float) -> dict[str, Any]:
    return {"split": "valid", "model": model, "sampler": sampler, "steps": steps, "t_start": t_start,
            "schedule": "uniform" if sampler == "reverse" else "-", "pesq_mean": pesq, "si_sdr_mean": math.nan}


def test_heatmap_hatches_cells_below_noisy_and_outlines_the_best(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # crp: N = 1, 2 x t = 0.1, 0.5; two cells below the noisy input (1.5), the best (2.2) at N = 1, t = 0.5
    table = [_row("noisy", "noisy", 0, None, 1.5), _row("pred", "predictive", 1, None, 2.0),
             _row("crp", "reverse", 1, 0.1, 1.4), _row("crp", "reverse", 1, 0.5, 2.2),
             _row("crp", "reverse", 2, 0.1, 1.6), _row("crp", "reverse", 2, 0.5, 1.2)]
    figures: list[Figure] = []
    original = Figure.savefig

    def keep(self: Figure, *args: Any, **kwargs: Any) -> None:
        figures.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    written = sweep_heatmaps(table, tmp_path)
    assert [p.name for p in written] == ["heatmap_valid_uniform_pesq.png"]  # SI-SDR all NaN: no figure
    assert written[0].stat().st_size > 0
    axis = figures[0].axes[0]
    rectangles = [p for p in axis.patches if isinstance(p, Rectangle)]
    hatched = sorted((p.get_x() + 0.5, p.get_y() + 0.5) for p in rectangles if p.get_hatch())
    outlined = [(p.get_x() + 0.5, p.get_y() + 0.5) for p in rectangles if not p.get_hatch()]
    # (column = t index, row = N index): below 1.5 are (t=0.1, N=1) = 1.4 and (t=0.5, N=2) = 1.2
    assert hatched == [(0.0, 0.0), (1.0, 1.0)]
    assert outlined == [(1.0, 0.0)]
    title = figures[0].get_suptitle()
    assert "predictive model 2.00" in title and "noisy input 1.50" in title
