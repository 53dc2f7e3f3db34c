"""The paper's three claims and the multi-N acceptance, judged from the cells of a ``crpse bench quality`` folder.

The claims (Lay et al. 2024, abstract; ``docs/experiments.md``), each a set of paired comparisons per test split,
with the seeded paired-bootstrap 95 % interval of the difference of means (:func:`crpse.bench.stats.paired_bootstrap`):

1. *Five calls after CRP match the diffusion baseline at 60*: ``crp5 @ reverse:5`` minus ``dsm @ pc:30`` is not
   worse than ``-margin`` (the interval's lower bound is above it).
2. *At one call CRP keeps steady while plain diffusion collapses*: ``crp1 @ reverse:1`` minus ``crp5 @ reverse:5``
   has its lower bound above ``-margin`` (steady), ``dsm @ reverse:1`` from t_start and from t_max minus
   ``dsm @ pc:30`` is significantly negative (collapse), and ``crp1 @ reverse:1`` minus ``dsm @ reverse:1`` from
   t_start is significantly positive.
3. *CRP generalises better than its predictive counterpart*: ``crp1 @ reverse:1`` minus ``pred`` is significantly
   positive on the unseen-data splits (``test_mismatched``, ``test_real``); the matched split is shown, not judged.

Multi-N (issue 16): ``multi @ reverse:N`` against the dedicated models at their own N (``crp1`` at 1, ``crp5`` at 5)
passes when its mean difference is at least ``-margin``; at N = 2-4 against both, when it is not significantly worse
(the interval's upper bound is at least 0).

A claim is *reproduced* on a split when all of its judged comparisons pass, and *not reproduced* as soon as one of
them fails; a comparison whose cells are missing is *not run*, and so is the claim when none of its comparisons
fails. Verdicts use PESQ; ESTOI and SI-SDR differences are reported beside it.

Comparisons against the diffusion baseline (``dsm @ pc:30``: claim 1 and the collapse half of claim 2) only say
something about the method when that baseline enhances at all. When the folder has the noisy input's cells and the
baseline is not significantly better than the noisy input on PESQ (interval's lower bound at or below 0), such a
comparison is *not testable*, and so is its claim on that split unless another of its comparisons fails: an
undertrained score model would otherwise make "CRP matches diffusion" pass vacuously.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from crpse.bench.quality import NOISY, Row, read_rows, write_rows
from crpse.bench.stats import DEFAULT_ROUNDS, DEFAULT_SEED, Difference, mean_std, paired_bootstrap

#: the metric verdicts are judged on, and the ones reported beside it
VERDICT_METRIC = "pesq"
REPORTED_METRICS = ("pesq", "estoi", "si_sdr")
#: splits of unseen data (claim 3 is judged there)
UNSEEN_SPLITS = ("test_mismatched", "test_real")
#: default margin in PESQ: "matches" and "at least as well as" allow this much less
DEFAULT_MARGIN = 0.05

Scores = dict[str, Row]  # file name -> per-file row of one cell
Cells = dict[tuple[str, str, str], Scores]  # (split, model, setting label) -> the cell's files


@dataclass(frozen=True)
class CellRef:
    """Which cell of a model: by sampler, steps and start time rather than by label.

    Attributes:
        model: the model's name in the benchmark (``--model NAME=...``).
        sampler: ``reverse``, ``pc``, ``ode`` or ``predictive``.
        steps: sampler steps (``None``: any; the match must then be unique).
        t_start: a start time, ``"max"`` (the largest start time the model ran with this sampler and steps) or
            ``None`` (any; the match must be unique).
    """

    model: str
    sampler: str
    steps: int | None = None
    t_start: float | str | None = None

    def describe(self) -> str:
        if self.sampler == "predictive":
            return self.model
        text = f"{self.model} @ {self.sampler}"
        if self.steps is not None:
            text += f":{self.steps}"
        if self.t_start is not None:
            text += f":t={self.t_start if isinstance(self.t_start, str) else f'{self.t_start:g}'}"
        return text


@dataclass(frozen=True)
class Rule:
    """How a difference (row minus reference) passes.

    ``above``: the interval's lower bound exceeds ``bound`` (with ``bound = 0``: significantly better; with
    ``-margin``: not worse than the margin). ``below``: the upper bound is under ``bound`` (significantly worse).
    ``mean_above``: the mean difference is at least ``bound``. ``not_worse``: the upper bound is at least ``bound``.
    ``report``: shown, not judged.
    """

    kind: str
    bound: float = 0.0

    def passes(self, diff: Difference) -> bool | None:
        if self.kind == "report":
            return None
        if diff.files == 0 or math.isnan(diff.mean):
            return False
        checks = {"above": diff.low > self.bound, "below": diff.high < self.bound,
                  "mean_above": diff.mean >= self.bound, "not_worse": diff.high >= self.bound}
        return bool(checks[self.kind])

    def describe(self) -> str:
        return {"above": f"CI low > {self.bound:+.2f}", "below": f"CI high < {self.bound:+.2f}",
                "mean_above": f"mean ≥ {self.bound:+.2f}", "not_worse": f"CI high ≥ {self.bound:+.2f}",
                "report": "shown only"}[self.kind]


@dataclass(frozen=True)
class Comparison:
    """One judged (or reported) difference ``row - reference`` on one split."""

    claim: str
    split: str
    row: CellRef
    reference: CellRef
    rule: Rule
    #: a cell that must be significantly better than the noisy input for the comparison to be testable
    baseline: CellRef | None = None


@dataclass(frozen=True)
class Outcome:
    """A comparison's numbers: means of both cells and the paired difference per metric; ``passed`` on PESQ
    (``None``: reported only or not run), ``missing`` names a cell that was not found."""

    comparison: Comparison
    row_mean: float
    reference_mean: float
    differences: Mapping[str, Difference]
    passed: bool | None
    missing: str = ""
    #: the comparison's baseline minus the noisy input on PESQ (``None``: no baseline, or no noisy cells)
    baseline_gain: Difference | None = None

    @property
    def testable(self) -> bool:
        """False when the comparison's baseline is not significantly better than the noisy input."""
        return self.baseline_gain is None or self.baseline_gain.low > 0


@dataclass(frozen=True)
class ClaimModels:
    """The benchmark's names of the paper-table models (``None``: not in the benchmark)."""

    dsm: str | None = "dsm"
    crp1: str | None = "crp1"
    crp5: str | None = "crp5"
    multi: str | None = "multi"
    pred: str | None = "pred"


def load_cells(out_dir: Path) -> Cells:
    """Every finished cell of a ``crpse bench quality`` (or ``sweep``) folder: ``OUT/cells/SPLIT/MODEL/*.csv``.

    Raises:
        FileNotFoundError: the folder has no cells.
    """
    cells: Cells = {}
    for path in sorted(Path(out_dir).glob("cells/*/*/*.csv")):
        for row in read_rows(path):
            cells.setdefault((row["split"], row["model"], row["setting"]), {})[row["name"]] = row
    if not cells:
        raise FileNotFoundError(f"{out_dir} holds no finished cells (cells/SPLIT/MODEL/SETTING.csv)")
    return cells


def find_cell(cells: Cells, split: str, ref: CellRef) -> tuple[Scores | None, str]:
    """The files of the cell ``ref`` names on ``split`` and an empty reason, or ``None`` and why not.

    Only uniform-schedule cells are considered (the paper's grid).
    """
    found = []
    for (cell_split, model, _), scores in cells.items():
        if cell_split != split or model != ref.model:
            continue
        first = next(iter(scores.values()))
        if first.get("sampler") != ref.sampler or first.get("schedule") not in ("uniform", "-", None):
            continue
        if ref.steps is not None and first.get("steps") != ref.steps:
            continue
        found.append((first.get("t_start"), scores))
    if isinstance(ref.t_start, float):
        found = [f for f in found if f[0] is not None and math.isclose(f[0], ref.t_start, abs_tol=1e-6)]
    elif ref.t_start == "max" and found:
        top = max(f[0] for f in found if f[0] is not None)
        found = [f for f in found if f[0] == top]
    if len(found) == 1:
        return found[0][1], ""
    if not found:
        return None, f"no {ref.describe()} cell on {split}"
    return None, f"{len(found)} cells match {ref.describe()} on {split}; name steps and t_start"


def comparisons(models: ClaimModels, splits: Sequence[str], t_start: float = 0.5, margin: float = DEFAULT_MARGIN,
                max_steps: int = 5, pc_steps: int = 30) -> list[Comparison]:
    """The comparisons of the three claims and the multi-N acceptance on ``splits`` (models left out: skipped).

    ``pc_steps``: steps of the DSM model's PC reference row (30 steps with one corrector each: 60 calls).
    """
    out: list[Comparison] = []
    m = models

    def rev(name: str | None, steps: int, start: float | str = t_start) -> CellRef | None:
        return None if name is None else CellRef(name, "reverse", steps, start)

    pc60 = None if m.dsm is None else CellRef(m.dsm, "pc", pc_steps)
    pred = None if m.pred is None else CellRef(m.pred, "predictive")

    def add(claim: str, split: str, row: CellRef | None, ref: CellRef | None, rule: Rule,
            baseline: CellRef | None = None) -> None:
        if row is not None and ref is not None:
            out.append(Comparison(claim, split, row, ref, rule, baseline))

    for split in splits:
        add("1", split, rev(m.crp5, 5), pc60, Rule("above", -margin), baseline=pc60)
        add("1", split, rev(m.multi, 5), pc60, Rule("report"), baseline=pc60)
        add("2", split, rev(m.crp1, 1), rev(m.crp5, 5), Rule("above", -margin))
        add("2", split, rev(m.dsm, 1), pc60, Rule("below", 0.0), baseline=pc60)
        add("2", split, rev(m.dsm, 1, "max"), pc60, Rule("below", 0.0), baseline=pc60)
        add("2", split, rev(m.crp1, 1), rev(m.dsm, 1), Rule("above", 0.0))
        add("3", split, rev(m.crp1, 1), pred, Rule("above", 0.0) if split in UNSEEN_SPLITS else Rule("report"))
        add("3", split, rev(m.multi, 1), pred, Rule("report"))
        for steps in range(1, max_steps + 1):
            own = {1: m.crp1, max_steps: m.crp5}
            for dedicated in (m.crp1, m.crp5):
                if dedicated is None:
                    continue
                if steps in own:
                    rule = Rule("mean_above", -margin) if own[steps] == dedicated else Rule("report")
                else:
                    rule = Rule("not_worse", 0.0)
                add("multi-N", split, rev(m.multi, steps), rev(dedicated, steps), rule)
    return out


def judge(cells: Cells, plan: Sequence[Comparison], rounds: int = DEFAULT_ROUNDS,
          seed: int = DEFAULT_SEED) -> list[Outcome]:
    """Compute each comparison's paired differences (per :data:`REPORTED_METRICS`) and whether it passes."""
    outcomes = []
    gains: dict[tuple[str, CellRef | None], Difference | None] = {}  # one bootstrap per split and baseline
    for comparison in plan:
        row, why_row = find_cell(cells, comparison.split, comparison.row)
        ref, why_ref = find_cell(cells, comparison.split, comparison.reference)
        if row is None or ref is None:
            outcomes.append(Outcome(comparison, math.nan, math.nan, {}, None, why_row or why_ref))
            continue
        diffs = {metric: paired_bootstrap(_values(row, metric), _values(ref, metric), rounds=rounds, seed=seed)
                 for metric in REPORTED_METRICS}
        key = (comparison.split, comparison.baseline)
        if key not in gains:
            gains[key] = _baseline_gain(cells, comparison, rounds, seed)
        outcomes.append(Outcome(comparison, _mean(row), _mean(ref), diffs,
                                comparison.rule.passes(diffs[VERDICT_METRIC]),
                                baseline_gain=gains[key]))
    return outcomes


def _baseline_gain(cells: Cells, comparison: Comparison, rounds: int, seed: int) -> Difference | None:
    """The comparison's baseline minus the noisy input on PESQ, or ``None`` without a baseline or noisy cells."""
    if comparison.baseline is None:
        return None
    baseline, _ = find_cell(cells, comparison.split, comparison.baseline)
    noisy, _ = find_cell(cells, comparison.split, CellRef(NOISY, NOISY))
    if baseline is None or noisy is None:
        return None
    return paired_bootstrap(_values(baseline, VERDICT_METRIC), _values(noisy, VERDICT_METRIC), rounds=rounds,
                            seed=seed)


def verdicts(outcomes: Sequence[Outcome]) -> dict[tuple[str, str], str]:
    """``{(claim, split): "reproduced" | "not reproduced" | "not testable" | "not run"}`` over the judged
    comparisons (see the module's docstring for "not testable")."""
    groups: dict[tuple[str, str], list[Outcome]] = {}
    for outcome in outcomes:
        if outcome.comparison.rule.kind != "report":
            groups.setdefault((outcome.comparison.claim, outcome.comparison.split), []).append(outcome)
    result = {}
    for key, members in groups.items():
        if any(not o.missing and o.testable and not o.passed for o in members):
            result[key] = "not reproduced"  # one failing comparison decides, whatever else is missing
        elif any(o.missing for o in members):
            result[key] = "not run"
        else:
            result[key] = "reproduced" if all(o.testable for o in members) else "not testable"
    return result


def format_markdown(outcomes: Sequence[Outcome], margin: float = DEFAULT_MARGIN) -> str:
    """The verdict table and one table of comparisons per claim (PESQ means, differences with 95 % intervals)."""
    verdict = verdicts(outcomes)
    claims = list(dict.fromkeys(o.comparison.claim for o in outcomes))
    splits = list(dict.fromkeys(o.comparison.split for o in outcomes))
    titles = {"1": "Claim 1: 5 calls after CRP match the diffusion baseline at 60",
              "2": "Claim 2: at 1 call CRP keeps steady while plain diffusion collapses",
              "3": "Claim 3: CRP generalises better than the predictive model (judged on unseen-data splits)",
              "multi-N": "Multi-N: one CRP model at N = 1-5 against the dedicated N = 1 and N = 5 models"}
    lines = ["# The paper's claims", "",
             f"Verdicts on PESQ with the paired-bootstrap 95 % interval of each difference; margin {margin:.2f} PESQ. "
             "A claim is reproduced on a split when every judged comparison passes.", "",
             "| claim | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    for claim in claims:
        lines.append(f"| {claim} | " + " | ".join(verdict.get((claim, s), "–") for s in splits) + " |")
    lines.append("")
    if "not testable" in verdict.values():
        lines += ["*Not testable*: the diffusion baseline these comparisons are made against is not significantly "
                  "better than the noisy input (PESQ), so matching or beating it says nothing about the method.", ""]
    for claim in claims:
        lines += [f"## {titles.get(claim, claim)}", "",
                  "| split | row | minus | PESQ (row / minus) | Δ PESQ [95 % CI] | Δ ESTOI [95 % CI] "
                  "| Δ SI-SDR dB [95 % CI] | rule | passes |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for o in (o for o in outcomes if o.comparison.claim == claim):
            c = o.comparison
            if o.missing:
                cells = ["–"] * 4 + [c.rule.describe(), f"not run ({o.missing})"]
            else:
                passes = {True: "yes", False: "**no**", None: "–"}[o.passed]
                if not o.testable and c.baseline is not None and o.baseline_gain is not None:  # for the types
                    passes = (f"not testable: {c.baseline.describe()} minus noisy input "
                              f"{_interval(o.baseline_gain, 3)} PESQ ({passes} by the rule)")
                cells = [f"{o.row_mean:.3f} / {o.reference_mean:.3f}",
                         *(_interval(o.differences[m], 3 if m != "si_sdr" else 2) for m in REPORTED_METRICS),
                         c.rule.describe(), passes]
            lines.append(f"| {c.split} | {c.row.describe()} | {c.reference.describe()} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def outcome_rows(outcomes: Sequence[Outcome]) -> list[Row]:
    """Flat rows for a CSV: one per comparison, every metric's mean difference and interval."""
    rows = []
    for o in outcomes:
        c = o.comparison
        row: Row = {"claim": c.claim, "split": c.split, "row": c.row.describe(), "reference": c.reference.describe(),
                    "rule": c.rule.describe(), "row_pesq": o.row_mean, "reference_pesq": o.reference_mean,
                    "passes": "" if o.passed is None else str(o.passed).lower(), "missing": o.missing,
                    "testable": str(o.testable).lower()}
        gain = o.baseline_gain or Difference(math.nan, math.nan, math.nan, 0)
        row.update({"baseline_minus_noisy_pesq": gain.mean, "baseline_minus_noisy_ci_low": gain.low,
                    "baseline_minus_noisy_ci_high": gain.high})
        for metric in REPORTED_METRICS:
            d = o.differences.get(metric, Difference(math.nan, math.nan, math.nan, 0))
            row.update({f"{metric}_delta": d.mean, f"{metric}_ci_low": d.low, f"{metric}_ci_high": d.high,
                        f"{metric}_files": d.files})
        rows.append(row)
    return rows


def write_claims(outcomes: Sequence[Outcome], out_dir: Path, margin: float = DEFAULT_MARGIN) -> tuple[Path, Path]:
    """Write ``OUT/claims.csv`` (:func:`outcome_rows`) and ``OUT/claims.md`` (:func:`format_markdown`)."""
    csv_path, md_path = Path(out_dir) / "claims.csv", Path(out_dir) / "claims.md"
    write_rows(outcome_rows(outcomes), csv_path)
    md_path.write_text(format_markdown(outcomes, margin=margin))
    return csv_path, md_path


def judged_splits(cells: Cells) -> list[str]:
    """The splits the cells cover, in the corpus's order (matched, mismatched, real), others after them."""
    order = ("test", "test_mismatched", "test_real")
    present = list(dict.fromkeys(split for split, model, _ in cells if model != NOISY))
    return sorted(present, key=lambda s: (order.index(s) if s in order else len(order), s))


def _values(scores: Scores, metric: str) -> dict[str, float]:
    return {name: float(row[metric]) if row.get(metric) is not None else math.nan for name, row in scores.items()}


def _mean(scores: Scores, metric: str = VERDICT_METRIC) -> float:
    return mean_std(list(_values(scores, metric).values()))[0]


def _interval(diff: Difference, decimals: int) -> str:
    if diff.files == 0:
        return "–"
    return f"{diff.mean:+.{decimals}f} [{diff.low:+.{decimals}f}, {diff.high:+.{decimals}f}]"
