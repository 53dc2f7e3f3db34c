"""``crpse enhance`` and ``crpse info`` end to end: layout, formats, bad inputs, safety, determinism."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from crpse.checkpoint import save_model
from crpse.cli import main as cli_main
from crpse.nn.ncsnpp import named_config
from crpse.score_model import build_model


def main(argv: list[str]) -> int:
    """``crpse ARGV``; ``enhance`` runs without the output guard: the random, untrained models of these tests return
    loud noise by construction (the guard has its own tests in tests/test_output_guard.py)."""
    return cli_main([*argv, "--no-output-guard"] if argv[:1] == ["enhance"] else argv)


@pytest.fixture(scope="module")
def micro_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "micro.ckpt"
    save_model(path, build_model(named_config("tiny", nf=4, ch_mult=(1,) * 7, attn_resolutions=()), seed=0))
    return path


def _noise(seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    frames = int(seconds * rate)
    return (0.1 * np.random.default_rng(seed).standard_normal((frames, channels))).astype(np.float32)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_bad_inputs_are_reported_and_good_files_enhanced(
    micro_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    sf.write(src / "good.wav", _noise(0.5, 16000), 16000, subtype="PCM_16")
    sf.write(src / "sub" / "good2.flac", _noise(0.5, 44100, 2), 44100, subtype="PCM_24")
    sf.write(src / "all_zero.wav", np.zeros((8000, 1), np.float32), 16000, subtype="PCM_16")
    raw = (src / "good.wav").read_bytes()
    (src / "corrupt_header.wav").write_bytes(b"RIFF" + b"\xff" * 40 + raw[44:])
    (src / "zero_length.wav").write_bytes(b"")
    (src / "text.wav").write_text("definitely not audio\n")
    (src / "truncated.wav").write_bytes(raw[: len(raw) // 2])
    nan = _noise(0.5, 16000)
    nan[123] = np.nan
    sf.write(src / "nan.wav", nan, 16000, subtype="FLOAT")
    inputs_before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}

    out = tmp_path / "out"
    status = main(["enhance", str(src), "-o", str(out), "--model", str(micro_ckpt), "--window", "0.5",
                   "--overlap", "0.1"])
    err = capsys.readouterr().err
    assert status == 1
    expected_errors = {
        "corrupt_header.wav": "not a readable audio file",
        "zero_length.wav": "empty file (0 bytes)",
        "text.wav": "not a readable audio file",
        "truncated.wav": "truncated file",
        "nan.wav": "non-finite (NaN/Inf) samples, the first at frame 123",
    }
    error_lines = [line for line in err.splitlines() if line.startswith("crpse: error: ")]
    assert len(error_lines) == len(expected_errors), err
    for name, reason in expected_errors.items():
        assert any(line.startswith(f"crpse: error: {src / name}: ") and reason in line for line in error_lines), name
    assert "all_zero.wav is silent" in caplog.text  # a logging warning (stderr in the real CLI)
    assert "crpse: enhanced 3 files, 5 failed" in err
    # exactly the good files (and the silent one), no partial or temporary files
    assert _files(out) == ["all_zero.wav", "good.wav", "sub/good2.flac"]
    assert np.all(sf.read(out / "all_zero.wav")[0] == 0)
    info = sf.info(out / "sub" / "good2.flac")
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (44100, 2, 22050, "PCM_24")
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == inputs_before  # inputs untouched


def test_layout_format_skip_and_overwrite(micro_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "rec"
    (folder / "day1").mkdir(parents=True)
    sf.write(folder / "day1" / "a.wav", _noise(0.3, 8000), 8000, subtype="PCM_16")
    sf.write(folder / "b.ogg", _noise(0.3, 16000), 16000)
    single = tmp_path / "single.flac"
    sf.write(single, _noise(0.3, 48000, 2), 48000, subtype="PCM_24")
    out = tmp_path / "out"
    args = ["enhance", str(folder), str(single), "-o", str(out), "--model", str(micro_ckpt), "-q"]
    assert main(args) == 0
    assert _files(out) == ["b.ogg", "day1/a.wav", "single.flac"]
    assert sf.info(out / "b.ogg").subtype == "VORBIS"

    assert main([*args, "--format", "flac"]) == 0
    assert _files(out) == ["b.flac", "b.ogg", "day1/a.flac", "day1/a.wav", "single.flac"]
    assert sf.info(out / "day1" / "a.flac").subtype == "PCM_16" and sf.info(out / "b.flac").subtype == "PCM_24"

    capsys.readouterr()
    before = (out / "single.flac").stat().st_mtime_ns
    assert main(args[:-1]) == 0  # not quiet: reports the skips
    err = capsys.readouterr().err
    assert err.count("exists (use --overwrite)") == 3 and "enhanced 0 files, 0 failed, 3 skipped" in err
    assert (out / "single.flac").stat().st_mtime_ns == before
    assert main([*args, "--overwrite", "--seed", "3"]) == 0
    assert (out / "single.flac").stat().st_mtime_ns != before


def test_writing_over_an_input_is_refused(micro_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "a.wav"
    sf.write(source, _noise(0.3, 16000), 16000, subtype="PCM_16")
    original = source.read_bytes()
    status = main(["enhance", str(source), "-o", str(tmp_path), "--model", str(micro_ckpt), "--overwrite", "-q"])
    err = capsys.readouterr().err
    assert status == 1 and "is an input file; refusing to overwrite inputs" in err
    assert source.read_bytes() == original and _files(tmp_path) == ["a.wav"]


def test_one_input_file_to_an_output_file(micro_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "talk.wav"
    sf.write(source, _noise(0.3, 48000, 2), 48000, subtype="PCM_24")
    original = source.read_bytes()
    model = ["--model", str(micro_ckpt), "-q"]
    assert main(["enhance", str(source), "-o", str(tmp_path / "clean.flac"), *model]) == 0
    written = sf.info(tmp_path / "clean.flac")  # a file, not a folder; the suffix picks the container
    assert (written.format, written.subtype, written.samplerate, written.channels, written.frames) == (
        "FLAC", "PCM_24", 48000, 2, 14400)
    assert main(["enhance", str(source), "-o", str(tmp_path / "clean.flac"), *model]) == 0  # exists: skipped
    assert "exists (use --overwrite)" not in capsys.readouterr().err  # -q

    # -o as the input itself: refused, the input untouched
    assert main(["enhance", str(source), "-o", str(source), "--overwrite", *model]) == 1
    assert "refusing to overwrite inputs" in capsys.readouterr().err and source.read_bytes() == original
    # a file name for several inputs, or against --format: invalid options (exit 2), nothing written
    other = tmp_path / "other.wav"
    sf.write(other, _noise(0.3, 16000), 16000, subtype="PCM_16")
    assert main(["enhance", str(source), str(other), "-o", str(tmp_path / "both.wav"), *model]) == 2
    assert "takes exactly one input file" in capsys.readouterr().err
    assert main(["enhance", str(source), "-o", str(tmp_path / "x.wav"), "--format", "flac", *model]) == 2
    assert "--format asks for FLAC" in capsys.readouterr().err
    assert not (tmp_path / "both.wav").exists() and not (tmp_path / "x.wav").exists()
    # an existing folder with an audio-like name stays a folder
    (tmp_path / "dir.wav").mkdir()
    assert main(["enhance", str(source), "-o", str(tmp_path / "dir.wav"), *model]) == 0
    assert _files(tmp_path / "dir.wav") == ["talk.wav"]


def test_jobs_give_the_same_files_and_report_like_one_process(
    micro_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for index, (seconds, rate, channels) in enumerate([(0.4, 16000, 1), (0.9, 8000, 2), (0.3, 44100, 1)]):
        sf.write(src / f"f{index}.wav", _noise(seconds, rate, channels, seed=index), rate, subtype="PCM_16")
    (src / "broken.wav").write_text("not audio\n")
    args = ["enhance", str(src), "--model", str(micro_ckpt), "--window", "0.5", "--overlap", "0.1"]
    capsys.readouterr()
    assert main([*args, "-o", str(tmp_path / "one")]) == 1
    one = capsys.readouterr().err
    assert main([*args, "-o", str(tmp_path / "two"), "--jobs", "2"]) == 1
    two = capsys.readouterr().err
    names = ["f0.wav", "f1.wav", "f2.wav"]
    assert _files(tmp_path / "one") == _files(tmp_path / "two") == names
    for name in names:  # the noise depends on the seed and window position only, not on the process
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert "2 worker processes x 1 thread" in two
    for err in (one, two):
        assert re.search(r"error: \S*broken.wav: ", err) and "enhanced 3 files, 1 failed" in err
        done = [line.split(" -> ")[0].split("] ")[-1] for line in err.splitlines() if "] " in line and " -> " in line]
        assert sorted(done) == [str(src / n) for n in names]  # one line per file
    # an invalid model fails before any file, with exit 2, in the workers too
    assert main(["enhance", str(src), "-o", str(tmp_path / "bad"), "--model", str(tmp_path / "nope.ckpt"),
                 "--jobs", "2"]) == 2
    assert "nope.ckpt" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_same_seed_same_bytes_through_the_cli(tiny_ckpt: Path, tmp_path: Path) -> None:
    source = tmp_path / "a.wav"
    sf.write(source, _noise(0.4, 16000, 2), 16000, subtype="FLOAT")
    for name in ("x", "y"):
        assert main(["enhance", str(source), "-o", str(tmp_path / name), "--model", str(tiny_ckpt), "-q",
                     "--seed", "11", "--device", "cpu"]) == 0
    assert (tmp_path / "x" / "a.wav").read_bytes() == (tmp_path / "y" / "a.wav").read_bytes()
    info = sf.info(tmp_path / "x" / "a.wav")
    assert (info.channels, info.frames, info.subtype) == (2, 6400, "FLOAT")


def test_sampler_options_and_invalid_settings(
    micro_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "a.wav"
    sf.write(source, _noise(0.2, 16000), 16000, subtype="PCM_16")
    base = ["enhance", str(source), "--model", str(micro_ckpt), "-q"]
    assert main([*base, "-o", str(tmp_path / "pc"), "--sampler", "pc", "--steps", "2", "--corrector-steps", "1",
                 "--snr", "0.33"]) == 0
    assert main([*base, "-o", str(tmp_path / "ode"), "--sampler", "ode", "--steps", "2", "--ode-method", "heun",
                 "--t-start", "0.8"]) == 0
    capsys.readouterr()
    assert main([*base, "-o", str(tmp_path / "bad"), "--snr", "0.3"]) == 2
    assert "do not apply to the reverse sampler" in capsys.readouterr().err
    assert main([*base, "-o", str(tmp_path / "bad"), "--window", "1", "--overlap", "0.9"]) == 2
    assert "more than half" in capsys.readouterr().err
    assert main(["enhance", str(source), "-o", str(tmp_path / "bad"), "--model", str(tmp_path / "nope.ckpt")]) == 2
    assert "nope.ckpt" in capsys.readouterr().err
    assert main(["enhance", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "bad")]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_info_describes_the_model(tiny_ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(tiny_ckpt)]) == 0
    text = capsys.readouterr().out
    for fragment in ("kind:         score (stage: untrained)", "sample rate:  16000 Hz", "parameters:   840,646",
                     "intended:     reverse, 1 step(s) from t_start=0.5", "sde:          BBED (k=2.6",
                     "n_fft=510, hop_length=128", "nf=16"):
        assert fragment in text, (fragment, text)
    assert main(["info", str(tiny_ckpt), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["parameters"] == 840646 and summary["inference"]["steps"] == 1
    assert summary["backbone"]["ch_mult"] == [1, 2, 2, 2, 2, 2, 2]
    assert main(["info", str(tiny_ckpt.parent / "missing.ckpt")]) == 1
    assert "crpse: error:" in capsys.readouterr().err


@pytest.mark.parametrize("nested", [False, True])  # a training checkpoint, and an exported one (source_extra)
def test_info_shows_the_crp_training_ranges(micro_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            nested: bool) -> None:
    from crpse.checkpoint import load_model

    settings = {"stage": "crp", "crp_steps": [1, 5], "crp_t_start": [0.2, 0.8], "crp_steps_weighting": "cost",
                "grad_step": "last", "crp_inference": {"sampler": "reverse", "steps": 1, "t_start": 0.5,
                                                       "schedule": "power"}}
    path = tmp_path / "range.ckpt"
    save_model(path, load_model(micro_ckpt),
               extra={"source_extra": {"settings": settings}} if nested else {"settings": settings})
    assert main(["info", str(path)]) == 0
    assert ("trained:      CRP at N = 1..5 per batch (cost-weighted, gradient through the last step), "
            "t_start 0.2..0.8 per batch, power time grid") in capsys.readouterr().out
    assert main(["info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["crp_training"] == {
        "steps": [1, 5], "t_start": [0.2, 0.8], "steps_weighting": "cost", "grad_step": "last", "schedule": "power"}
    assert main(["info", str(micro_ckpt)]) == 0  # no training metadata: no line
    assert "trained:" not in capsys.readouterr().out


def test_one_line_per_file_and_a_speed_summary_without_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for name, seconds, rate in (("a", 0.5, 16000), ("b", 1.0, 8000), ("c", 1.5, 44100)):
        sf.write(src / f"{name}.wav", _noise(seconds, rate), rate)
    assert main(["enhance", str(src), "-o", str(tmp_path / "out"), "--model", "default"]) == 0
    lines = capsys.readouterr().err.splitlines()  # captured: not a terminal, so no progress bars
    assert len(lines) == 5 and lines[0].startswith("crpse: reverse sampler")
    number = r"(\d+\.\d)"
    for index, (name, seconds) in enumerate((("a", "0.5"), ("b", "1.0"), ("c", "1.5")), start=1):
        match = re.fullmatch(
            rf"crpse: \[{index}/3\] {src / name}.wav -> {tmp_path / 'out' / name}.wav: "
            rf"{seconds} s of audio in {number} s, RTF (\d+\.\d\d)", lines[index],
        )
        assert match is not None, lines[index]
        # printed rounded: the wall time to 0.1 s (off by <= 0.05 s), the RTF to 0.01 (off by <= 0.005)
        tolerance = 0.05 / float(seconds) + 0.0051
        assert float(match.group(2)) == pytest.approx(float(match.group(1)) / float(seconds), abs=tolerance)
    final = re.fullmatch(rf"crpse: enhanced 3 files, 0 failed, 3\.0 s of audio in {number} s, RTF (\d+\.\d\d)",
                         lines[4])
    assert final is not None, lines[4]
    assert float(final.group(2)) == pytest.approx(float(final.group(1)) / 3.0, abs=0.05 / 3.0 + 0.0051)

    assert main(["enhance", str(src), "-o", str(tmp_path / "quiet"), "--model", "default", "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_a_worker_gives_its_graph_runtime_its_share_of_the_threads(
    micro_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each `--jobs` worker runs ONNX Runtime on `threads // jobs` threads, not on every core (which made two
    workers oversubscribe two cores: BENCHMARKS.md section 22)."""
    import torch

    from crpse.commands.enhance_jobs import worker_setup

    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # what the parent had; restored after the test
    threads = torch.get_num_threads()
    try:
        state = worker_setup({"model": str(micro_ckpt), "backend": "onnxruntime", "cache_dir": tmp_path,
                              "window": 0.5, "overlap": 0.1}, 1)
    finally:
        torch.set_num_threads(threads)
    assert state.error is None and "onnxruntime" in state.description
    session = state.enhancer._inference.windows.graph.session
    assert session.get_session_options().intra_op_num_threads == 1
