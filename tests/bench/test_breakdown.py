"""Per noise category and SNR band breakdown of per-file scores (crpse.bench.breakdown)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from crpse.bench.breakdown import (
    NOISE_CATEGORY,
    SNR_BAND,
    breakdown,
    breakdown_markdown,
    file_groups,
    noise_category,
    read_manifest,
    snr_band,
    snr_bands,
    write_breakdown,
)
from crpse.corpus.synth import MANIFEST_COLUMNS

#: (name, noise_type, snr_db) of a synthetic split
FILES = [("t_0", "0ad/rain", -3.0), ("t_1", "ufoai/rain", 0.0), ("t_2", "babble", 4.99), ("t_3", "babble", 12.0),
         ("t_4", "keyboard/typing", 20.0), ("t_5", "0ad/rain", 7.5)]


def write_manifest(path: Path) -> Path:
    lines = [",".join(MANIFEST_COLUMNS)]
    for name, noise_type, snr in FILES:
        row = dict.fromkeys(MANIFEST_COLUMNS, "")
        row.update(name=name, split="test_real", noise_type=noise_type, snr_db=f"{snr}")
        lines.append(",".join(row[column] for column in MANIFEST_COLUMNS))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_snr_bands_are_half_open_with_open_ends() -> None:
    assert snr_bands() == ["< 0 dB", "0–5 dB", "5–10 dB", "10–15 dB", "≥ 15 dB"]
    assert [snr_band(snr) for snr in (-0.01, 0.0, 4.99, 5.0, 14.99, 15.0, 40.0)] == [
        "< 0 dB", "0–5 dB", "0–5 dB", "5–10 dB", "10–15 dB", "≥ 15 dB", "≥ 15 dB"]
    assert snr_band(3.0, [-5, 10]) == "-5–10 dB"
    with pytest.raises(ValueError, match="increasing"):
        snr_band(1.0, [5, 0])


def test_noise_category_merges_sources() -> None:
    assert noise_category("0ad/rain") == noise_category("ufoai/rain") == "rain"
    assert noise_category("babble") == "babble"


def test_groups_from_a_manifest(tmp_path: Path) -> None:
    manifest = read_manifest(write_manifest(tmp_path / "manifest.csv"))
    # names as crpse.evaluation gives them (no extension); one file the manifest does not know is skipped
    groups = file_groups(manifest, ["t_0", "t_1", "t_2", "t_3", "t_4", "t_5", "other"])
    assert groups[NOISE_CATEGORY] == {"rain": ["t_0", "t_1", "t_5"], "babble": ["t_2", "t_3"], "typing": ["t_4"]}
    assert groups[SNR_BAND] == {"< 0 dB": ["t_0"], "0–5 dB": ["t_1", "t_2"], "5–10 dB": ["t_5"],
                                "10–15 dB": ["t_3"], "≥ 15 dB": ["t_4"]}


def test_breakdown_means_per_group_and_system(tmp_path: Path) -> None:
    manifest = read_manifest(write_manifest(tmp_path / "manifest.csv"))
    names = [name for name, _, _ in FILES]
    groups = file_groups(manifest, names)
    pesq = {name: 1.0 + index for index, name in enumerate(names)}  # 1 ... 6
    scores = {
        "noisy": {"pesq": pesq},
        "a": {"pesq": {name: value + 0.5 for name, value in pesq.items()}},
        "b": {"pesq": {**pesq, "t_0": math.nan}},  # a failed score is skipped, not averaged
    }
    rows = breakdown(scores, groups, ["pesq"])
    assert len(rows) == 3 * (3 + 5)
    rain = {row["system"]: row for row in rows if row["grouping"] == NOISE_CATEGORY and row["group"] == "rain"}
    assert rain["noisy"]["pesq_mean"] == pytest.approx((1 + 2 + 6) / 3)
    assert rain["noisy"]["pesq_std"] == pytest.approx(math.sqrt(((1 - 3) ** 2 + (2 - 3) ** 2 + (6 - 3) ** 2) / 3))
    assert rain["a"]["pesq_mean"] == pytest.approx(3.5)
    assert (rain["b"]["pesq_mean"], rain["b"]["pesq_count"], rain["b"]["files"]) == (pytest.approx(4.0), 2, 3)
    low = [row for row in rows if row["group"] == "< 0 dB" and row["system"] == "b"][0]
    assert math.isnan(low["pesq_mean"]) and low["pesq_count"] == 0

    table = breakdown_markdown(rows, SNR_BAND, "pesq")
    assert table[0] == "| SNR band | files | noisy | a | b |"
    assert table[2] == "| < 0 dB | 1 | 1.00 | 1.50 | - |"
    assert table[3] == "| 0–5 dB | 2 | 2.50 | 3.00 | 2.50 |"
    assert len(table) == 2 + 5

    path = write_breakdown(rows, tmp_path / "breakdown.csv")
    header = path.read_text(encoding="utf-8").splitlines()[0]
    assert header == "grouping,group,system,files,pesq_mean,pesq_std,pesq_count"
