"""Folder evaluation and ``crpse evaluate``: numbers equal direct metric calls, CSV/summary files, file matching."""

from __future__ import annotations

import csv
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from pesq import pesq
from pystoi import stoi

from crpse import dnsmos as dnsmos_module
from crpse import evaluation
from crpse.cli import main
from crpse.metrics import energy_ratios, si_sdr

RATE = 16000
SNRS_DB = (0.0, 5.0, 10.0)


def voiced_speech(seconds: float, rate: int, seed: int) -> np.ndarray:
    """Speech-like test signal ``[L]``: harmonics of a gliding f0 under a syllabic (4 Hz) envelope."""
    time = np.arange(int(seconds * rate)) / rate
    f0 = 100.0 + 15.0 * seed + 20.0 * np.sin(2 * np.pi * 0.5 * time + seed)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 30) if k * 160.0 < 0.45 * rate)
    return 0.4 * voice * np.clip(np.sin(2 * np.pi * 4.0 * time + seed), 0.0, None) ** 2


def white_noise(clean: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(clean.shape[0])
    return noise * np.sqrt(np.sum(clean**2) / np.sum(noise**2) / 10 ** (snr_db / 10))


def espeak_speech(seconds: float, rate: int) -> np.ndarray | None:
    """A sentence spoken by espeak-ng, resampled to ``rate`` and cropped/padded to ``seconds`` (None without it)."""
    if shutil.which("espeak-ng") is None:
        return None
    result = subprocess.run(
        ["espeak-ng", "--stdout", "Please call Stella and ask her to bring these things."],
        check=True,
        capture_output=True,
    )
    import io

    speech, native_rate = sf.read(io.BytesIO(result.stdout), dtype="float64")
    speech = soxr.resample(speech, native_rate, rate)[: int(seconds * rate)]
    speech = np.pad(speech, (0, int(seconds * rate) - speech.shape[0]))
    return 0.5 * speech / np.max(np.abs(speech))


def make_set(root: Path, with_speech: bool = False, seconds: float = 3.0) -> dict[str, tuple[np.ndarray, float]]:
    """Write ``root/{clean,noisy}/*.wav`` (16 kHz, float) and return ``{name: (clean, snr)}``."""
    signals = {f"tone{i}.wav": voiced_speech(seconds, RATE, seed=i) for i in range(len(SNRS_DB))}
    if with_speech:
        speech = espeak_speech(seconds, RATE)
        if speech is None:
            pytest.skip("espeak-ng is not installed")
        signals = {"speech.wav": speech, **dict(list(signals.items())[:2])}
    made = {}
    for index, (name, clean) in enumerate(signals.items()):
        snr = SNRS_DB[index % len(SNRS_DB)]
        for folder, audio in (("clean", clean), ("noisy", clean + white_noise(clean, snr, seed=10 + index))):
            (root / folder).mkdir(parents=True, exist_ok=True)
            sf.write(root / folder / name, audio, RATE, subtype="FLOAT")
        made[name] = (clean, snr)
    return made


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("with_speech", [False, True], ids=["tones", "espeak"])
def test_noisy_vs_clean_equals_direct_metrics(tmp_path: Path, with_speech: bool) -> None:
    made = make_set(tmp_path, with_speech)
    rows = evaluation.evaluate_dirs(tmp_path / "clean", tmp_path / "noisy", tmp_path / "noisy", jobs=1, dnsmos=False)
    assert [row["name"] for row in rows] == sorted(made)
    for row in rows:
        clean, snr = made[str(row["name"])]
        noisy, _ = sf.read(tmp_path / "noisy" / str(row["name"]), dtype="float64")
        clean_read, _ = sf.read(tmp_path / "clean" / str(row["name"]), dtype="float64")
        assert row["pesq"] == pytest.approx(pesq(RATE, clean_read, noisy, "wb"), abs=1e-6)
        assert row["estoi"] == pytest.approx(stoi(clean_read, noisy, RATE, extended=True), abs=1e-6)
        assert row["si_sdr"] == pytest.approx(si_sdr(clean_read, noisy), abs=1e-6)
        assert row["si_sdr"] == pytest.approx(snr, abs=0.25)  # noisy = clean + noise at a known SNR
        sdr, sir, sar = energy_ratios(clean_read, noisy, noisy - clean_read)
        assert (row["si_sir"], row["si_sar"]) == pytest.approx((sir, sar), abs=1e-6)
        assert row["si_sar"] > 30.0  # no artefacts in a plain mixture
        baseline = ("pesq", "estoi", "si_sdr")  # the noisy input scored as the baseline: here it is the estimate
        assert set(row) == {"name", "pesq", "estoi", "si_sdr", "si_sir", "si_sar", *(f"noisy_{m}" for m in baseline)}
        assert all(row[f"noisy_{metric}"] == pytest.approx(row[metric], abs=1e-12) for metric in baseline)


def test_cli_writes_csv_summary_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    made = make_set(tmp_path, seconds=2.4)  # DNSMOS repeats 2.4 s to 9.6 s: one network window per file
    out = tmp_path / "out" / "scores.csv"
    status = main(
        [
            "evaluate",
            "--clean",
            str(tmp_path / "clean"),
            "--enhanced",
            str(tmp_path / "noisy"),
            "--noisy",
            str(tmp_path / "noisy"),
            "-o",
            str(out),
            "--plots",
            str(tmp_path / "plots"),
            "--plot-files",
            "2",
            "--jobs",
            "2",
        ]
    )
    assert status == 0
    rows = read_csv(out)
    assert [row["name"] for row in rows] == sorted(made)
    metric_names = [
        "pesq",
        "estoi",
        "si_sdr",
        "si_sir",
        "si_sar",
        "dnsmos_sig",
        "dnsmos_bak",
        "dnsmos_ovrl",
        "dnsmos_p808",
    ]
    baseline_names = [f"noisy_{m}" for m in metric_names if m not in ("si_sir", "si_sar")]
    assert list(rows[0]) == ["name", *metric_names, *baseline_names]
    for row in rows:  # --enhanced is the noisy folder: the baseline equals the scores
        for metric in baseline_names:
            assert float(row[metric]) == pytest.approx(float(row[metric.removeprefix("noisy_")]), abs=1e-12)
    for row in rows:
        assert float(row["si_sdr"]) == pytest.approx(made[row["name"]][1], abs=0.25)
    noisy, _ = sf.read(tmp_path / "noisy" / rows[0]["name"], dtype="float64")
    expected = dnsmos_module.DNSMOS()(noisy, RATE)
    for key in ("sig", "bak", "ovrl", "p808"):
        assert float(rows[0][f"dnsmos_{key}"]) == pytest.approx(expected[key], abs=1e-6)  # 1 vs N ORT threads

    summary = {row["metric"]: row for row in read_csv(out.with_name("scores_summary.csv"))}
    assert list(summary) == metric_names
    for metric in metric_names:
        values = np.array([float(row[metric]) for row in rows])
        assert float(summary[metric]["mean"]) == pytest.approx(values.mean(), abs=1e-12)
        assert float(summary[metric]["std"]) == pytest.approx(values.std(ddof=0), abs=1e-12)
        assert int(summary[metric]["count"]) == 3 and int(summary[metric]["dropped"]) == 0
    sdr = np.array([float(row["si_sdr"]) for row in rows])
    printed = capsys.readouterr().out
    assert f"{sdr.mean():.1f} ± {sdr.std():.1f}" in printed
    markdown = out.with_name("scores_summary.md").read_text()
    sdr_cell = f"{sdr.mean():.1f} ± {sdr.std():.1f}"
    assert f"| SI-SDR | {sdr_cell} | {sdr_cell} | +0.0 ± 0.0 | 0/3 | 3 | 0 |" in markdown
    pesq_values = np.array([float(row["pesq"]) for row in rows])
    pesq_cell = f"{pesq_values.mean():.2f} ± {pesq_values.std():.2f}"
    assert f"| PESQ | {pesq_cell} | {pesq_cell} | +0.00 ± 0.00 | 0/3 | 3 | 0 |" in markdown
    assert "| SI-SIR | - |" in markdown

    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert pngs == sorted(["spec_tone0.png", "spec_tone1.png", *(f"hist_{m}.png" for m in metric_names)])
    assert all((tmp_path / "plots" / name).read_bytes()[:4] == b"\x89PNG" for name in pngs)


def test_missing_files_are_reported_and_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_set(tmp_path)
    (tmp_path / "noisy" / "tone1.wav").unlink()
    sf.write(tmp_path / "noisy" / "extra.wav", np.zeros(RATE), RATE)
    out = tmp_path / "r.csv"
    status = main(
        [
            "evaluate",
            "--clean",
            str(tmp_path / "clean"),
            "--enhanced",
            str(tmp_path / "noisy"),
            "-o",
            str(out),
            "--no-dnsmos",
            "--jobs",
            "1",
        ]
    )
    assert status == 0
    errors = capsys.readouterr().err
    assert "1 file(s) have no enhanced counterpart and are skipped: tone1.wav" in errors
    assert "1 file(s) have no clean counterpart and are skipped: extra.wav" in errors
    assert [row["name"] for row in read_csv(out)] == ["tone0.wav", "tone2.wav"]
    assert list(read_csv(out)[0]) == ["name", "pesq", "estoi", "si_sdr"]


def test_nothing_matching_exits_with_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_set(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    sf.write(other / "unrelated.wav", np.zeros(RATE), RATE)
    args = [
        "evaluate",
        "--clean",
        str(tmp_path / "clean"),
        "--enhanced",
        str(other),
        "--no-dnsmos",
        "-o",
        str(tmp_path / "r.csv"),
    ]
    assert main(args) == 1
    assert "no file name occurs" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()
    assert main(["evaluate", "--clean", str(tmp_path / "absent"), "--enhanced", str(other)]) == 1
    with pytest.raises(ValueError, match="no file name occurs"):
        evaluation.evaluate_dirs(tmp_path / "clean", other, dnsmos=False)
    (other / "tone0.wav").write_bytes(b"not audio")
    assert main(args + ["--jobs", "1"]) == 1
    assert "tone0.wav" in capsys.readouterr().err


def test_rates_lengths_channels_and_silence(tmp_path: Path) -> None:
    clean = voiced_speech(3.0, RATE, seed=1)
    noisy = clean + white_noise(clean, 5.0, seed=2)
    for folder in ("clean", "enhanced"):
        (tmp_path / folder).mkdir()
    sf.write(tmp_path / "clean" / "a.wav", clean, RATE, subtype="FLOAT")
    # enhanced: 22.05 kHz, stereo (identical channels), 0.1 s longer, stored as FLAC -> paired by stem
    noisy_22k = soxr.resample(np.concatenate([noisy, np.zeros(RATE // 10)]), RATE, 22050)
    sf.write(tmp_path / "enhanced" / "a.flac", np.stack([noisy_22k, noisy_22k], axis=1), 22050, subtype="PCM_24")
    # a silent reference gives NaN PESQ/ESTOI/SI-SDR instead of an error
    sf.write(tmp_path / "clean" / "b.wav", np.zeros(3 * RATE), RATE)
    sf.write(tmp_path / "enhanced" / "b.wav", noisy, RATE, subtype="FLOAT")
    rows = evaluation.evaluate_dirs(tmp_path / "clean", tmp_path / "enhanced", jobs=1, dnsmos=False)

    enhanced, rate = sf.read(tmp_path / "enhanced" / "a.flac", dtype="float64")
    enhanced = soxr.resample(enhanced.mean(axis=1), rate, RATE)[: clean.shape[0]]
    clean_read, _ = sf.read(tmp_path / "clean" / "a.wav", dtype="float64")
    assert rows[0]["name"] == "a.wav"
    assert rows[0]["pesq"] == pytest.approx(pesq(RATE, clean_read, enhanced, "wb"), abs=1e-6)
    assert rows[0]["estoi"] == pytest.approx(stoi(clean_read, enhanced, RATE, extended=True), abs=1e-6)
    assert rows[0]["si_sdr"] == pytest.approx(5.0, abs=0.3)
    assert all(math.isnan(float(rows[1][key])) for key in ("pesq", "estoi", "si_sdr"))

    summary = evaluation.summarize(rows)
    assert summary["pesq"]["count"] == 1 and summary["pesq"]["dropped"] == 1
    assert summary["pesq"]["mean"] == pytest.approx(rows[0]["pesq"]) and summary["pesq"]["std"] == 0.0


def test_noisy_baseline_and_per_file_improvement(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    made = make_set(tmp_path)  # noisy at 0, 5 and 10 dB SNR
    (tmp_path / "enhanced").mkdir()
    for index, (name, (clean, snr)) in enumerate(made.items()):  # "enhanced": the same speech with 10 dB less noise
        sf.write(tmp_path / "enhanced" / name, clean + white_noise(clean, snr + 10.0, seed=20 + index), RATE,
                 subtype="FLOAT")
    out = tmp_path / "r.csv"
    assert main(["evaluate", "--clean", str(tmp_path / "clean"), "--enhanced", str(tmp_path / "enhanced"),
                 "--noisy", str(tmp_path / "noisy"), "-o", str(out), "--no-dnsmos", "--jobs", "1"]) == 0
    rows = read_csv(out)
    for row in rows:
        clean, snr = made[row["name"]]
        assert float(row["noisy_si_sdr"]) == pytest.approx(snr, abs=0.25)
        assert float(row["si_sdr"]) == pytest.approx(snr + 10.0, abs=0.25)
        noisy, _ = sf.read(tmp_path / "noisy" / row["name"], dtype="float64")
        clean, _ = sf.read(tmp_path / "clean" / row["name"], dtype="float64")
        assert float(row["noisy_pesq"]) == pytest.approx(pesq(RATE, clean, noisy, "wb"), abs=1e-6)
        assert float(row["noisy_estoi"]) == pytest.approx(stoi(clean, noisy, RATE, extended=True), abs=1e-6)

    summary = {row["metric"]: row for row in read_csv(out.with_name("r_summary.csv"))}
    assert list(summary) == ["pesq", "estoi", "si_sdr", "si_sir", "si_sar"]
    printed, markdown = capsys.readouterr().out, out.with_name("r_summary.md").read_text()
    assert markdown.splitlines()[0] == "| metric | noisy | enhanced | improvement | improved | files | dropped |"
    assert printed.splitlines()[1].split() == ["metric", "noisy", "enhanced", "improvement", "improved", "files",
                                               "dropped"]
    for metric, label, decimals in (("pesq", "PESQ", 2), ("estoi", "ESTOI", 2), ("si_sdr", "SI-SDR", 1)):
        enhanced = np.array([float(row[metric]) for row in rows])
        noisy = np.array([float(row[f"noisy_{metric}"]) for row in rows])
        delta = enhanced - noisy
        stats = summary[metric]
        assert float(stats["noisy_mean"]) == pytest.approx(noisy.mean(), abs=1e-12)
        assert float(stats["noisy_std"]) == pytest.approx(noisy.std(), abs=1e-12)
        assert float(stats["delta_mean"]) == pytest.approx(delta.mean(), abs=1e-12)
        assert float(stats["delta_std"]) == pytest.approx(delta.std(), abs=1e-12)
        assert int(stats["improved"]) == int((delta > 1e-9).sum()) and int(stats["paired"]) == 3
        cells = [f"{noisy.mean():.{decimals}f} ± {noisy.std():.{decimals}f}",
                 f"{enhanced.mean():.{decimals}f} ± {enhanced.std():.{decimals}f}",
                 f"{delta.mean():+.{decimals}f} ± {delta.std():.{decimals}f}", f"{(delta > 1e-9).sum()}/3", "3", "0"]
        assert f"| {label} | {' | '.join(cells)} |" in markdown
        assert any(line.split() == [label, *" ".join(cells).split()] for line in printed.splitlines())
    assert float(summary["si_sdr"]["delta_mean"]) == pytest.approx(10.0, abs=0.25)
    assert summary["si_sdr"]["improved"] == "3" and summary["si_sir"]["noisy_mean"] == ""


def test_narrowband_material_uses_nb_pesq(tmp_path: Path) -> None:
    clean = voiced_speech(3.0, 8000, seed=3)
    noisy = clean + white_noise(clean, 10.0, seed=4)
    for folder, audio in (("clean", clean), ("enhanced", noisy)):
        (tmp_path / folder).mkdir()
        sf.write(tmp_path / folder / "n.wav", audio, 8000, subtype="FLOAT")
    (row,) = evaluation.evaluate_dirs(tmp_path / "clean", tmp_path / "enhanced", jobs=1, dnsmos=False)
    clean, noisy = (sf.read(tmp_path / folder / "n.wav", dtype="float64")[0] for folder in ("clean", "enhanced"))
    assert row["pesq"] == pytest.approx(pesq(8000, clean, noisy, "nb"), abs=1e-6)
    assert row["estoi"] == pytest.approx(stoi(clean, noisy, 8000, extended=True), abs=1e-6)


def test_summary_formatting() -> None:
    rows = [
        {"name": "a", "pesq": 1.0, "si_sdr": 10.0, "dnsmos_ovrl": 3.0},
        {"name": "b", "pesq": 2.0, "si_sdr": 12.5, "dnsmos_ovrl": math.nan},
        {"name": "c", "pesq": math.nan, "si_sdr": math.inf, "dnsmos_ovrl": 3.5},
    ]
    summary = evaluation.summarize(rows)
    assert summary["pesq"] == {"mean": 1.5, "std": 0.5, "count": 2, "dropped": 1}
    assert summary["si_sdr"] == {"mean": 11.25, "std": 1.25, "count": 2, "dropped": 1}
    text = evaluation.format_summary(summary)
    assert text.splitlines()[0].split() == ["metric", "mean", "±", "std", "files", "dropped"]
    assert "PESQ" in text and "1.50 ± 0.50" in text and "11.2 ± 1.2" in text and "3.25 ± 0.25" in text
    markdown = evaluation.format_summary(summary, markdown=True)
    assert "| DNSMOS OVRL | 3.25 ± 0.25 | 2 | 1 |" in markdown


def test_missing_dnsmos_is_reported_and_other_metrics_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_models() -> Path:
        raise ImportError("DNSMOS needs the ONNX models of the 'speechmos' package; install crpse[eval]")

    monkeypatch.setattr(dnsmos_module, "find_model_dir", no_models)
    make_set(tmp_path)
    out = tmp_path / "r.csv"
    args = [
        "evaluate",
        "--clean",
        str(tmp_path / "clean"),
        "--enhanced",
        str(tmp_path / "noisy"),
        "-o",
        str(out),
        "--jobs",
        "1",
    ]
    assert main(args) == 0
    assert "crpse[eval]" in capsys.readouterr().err
    assert list(read_csv(out)[0]) == ["name", "pesq", "estoi", "si_sdr"]
