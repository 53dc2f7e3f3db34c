"""Audio files for enhancement (crpse.audio): discovery, validation, formats, atomic writes, resampling."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from crpse.audio import (
    OGG_SERIAL,
    AtomicAudioWriter,
    AudioFileError,
    AudioInfo,
    StreamResampler,
    _ogg_crc,
    audio_info,
    find_audio_files,
    iter_blocks,
    output_format,
    resample,
    scan_audio,
)


def _noise(frames: int, channels: int = 1, seed: int = 0, scale: float = 0.1) -> np.ndarray:
    """``[frames, channels]`` noise (soundfile layout)."""
    return (scale * np.random.default_rng(seed).standard_normal((frames, channels))).astype(np.float32)


def test_find_audio_files_keeps_the_layout(tmp_path: Path) -> None:
    root = tmp_path / "in"
    (root / "a" / "b").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for name in ("x.wav", "a/y.FLAC", "a/b/z.mp3", "a/b/w.ogg", ".hidden/h.wav", "a/.dot.wav", "notes.txt"):
        (root / name).write_bytes(b"")
    single = tmp_path / "single.wav"
    single.write_bytes(b"")
    files, problems = find_audio_files([root, single, tmp_path / "missing", root / "x.wav"])
    assert [str(f.relative) for f in files] == ["a/b/w.ogg", "a/b/z.mp3", "a/y.FLAC", "x.wav", "single.wav"]
    assert files[0].path == root / "a/b/w.ogg"
    assert problems == [(tmp_path / "missing", "no such file or folder")]  # x.wav given twice is listed once


def test_find_audio_files_skips_the_output_folder(tmp_path: Path) -> None:
    (tmp_path / "in" / "enhanced").mkdir(parents=True)
    (tmp_path / "in" / "a.wav").write_bytes(b"")
    (tmp_path / "in" / "enhanced" / "a.wav").write_bytes(b"")
    files, _ = find_audio_files([tmp_path / "in"], exclude=[tmp_path / "in" / "enhanced"])
    assert [str(f.relative) for f in files] == ["a.wav"]


def test_explicit_file_with_any_suffix_is_taken(tmp_path: Path) -> None:
    odd = tmp_path / "take.aiff"
    odd.write_bytes(b"")
    files, problems = find_audio_files([odd])
    assert [f.relative for f in files] == [Path("take.aiff")] and problems == []


def test_scan_reports_frames_and_peak(tmp_path: Path) -> None:
    data = _noise(12345, 2)
    data[77, 1] = -0.9
    sf.write(tmp_path / "a.flac", data, 22050, subtype="PCM_24")
    scan = scan_audio(tmp_path / "a.flac", block_frames=1000)
    assert scan.info == AudioInfo(22050, 2, 12345, "FLAC", "PCM_24")
    assert scan.frames == 12345
    assert scan.peak == pytest.approx(0.9, abs=1e-6)
    blocks = list(iter_blocks(tmp_path / "a.flac", block_frames=1000))
    assert all(b.shape[0] == 2 and b.dtype == np.float32 for b in blocks)
    np.testing.assert_allclose(np.concatenate(blocks, axis=1), data.T, atol=2**-22)


def _make_bad_files(folder: Path) -> dict[str, str]:
    """Write one file per failure mode; returns name -> expected message fragment."""
    good = folder / "good.wav"
    sf.write(good, _noise(16000), 16000, subtype="PCM_16")
    raw = good.read_bytes()
    (folder / "corrupt_header.wav").write_bytes(b"RIFF" + b"\xff" * 40 + raw[44:])
    (folder / "zero_bytes.wav").write_bytes(b"")
    sf.write(folder / "zero_frames.wav", np.zeros((0, 1), np.float32), 16000)
    (folder / "text.wav").write_text("this is not audio\n" * 10)
    (folder / "truncated.wav").write_bytes(raw[: len(raw) // 2])
    flac = folder / "truncated.flac"
    sf.write(flac, _noise(48000), 16000, subtype="PCM_24")
    flac.write_bytes(flac.read_bytes()[:20000])
    nan = _noise(16000)
    nan[5000] = np.nan
    sf.write(folder / "nan.wav", nan, 16000, subtype="FLOAT")
    inf = _noise(16000)
    inf[7, 0] = np.inf
    sf.write(folder / "inf.wav", inf, 16000, subtype="FLOAT")
    return {
        "corrupt_header.wav": "not a readable audio file",
        "zero_bytes.wav": "empty file (0 bytes)",
        "zero_frames.wav": "empty audio (0 frames)",
        "text.wav": "not a readable audio file",
        "truncated.wav": "truncated file",
        "truncated.flac": "cannot decode the file",
        "nan.wav": "non-finite (NaN/Inf) samples, the first at frame 5000",
        "inf.wav": "first at frame 7",
    }


def test_bad_files_raise_one_clear_error_each(tmp_path: Path) -> None:
    expected = _make_bad_files(tmp_path)
    for name, fragment in expected.items():
        with pytest.raises(AudioFileError) as caught:
            scan_audio(tmp_path / name)
        message = str(caught.value)
        assert fragment in message, (name, message)
        assert "\n" not in message and str(tmp_path) not in message  # the caller prefixes the path
    with pytest.raises(AudioFileError, match="no such file"):
        audio_info(tmp_path / "missing.wav")
    assert scan_audio(tmp_path / "good.wav").frames == 16000


def test_output_format_keeps_or_converts_the_subtype() -> None:
    def info(fmt: str, subtype: str) -> AudioInfo:
        return AudioInfo(16000, 1, 100, fmt, subtype)

    assert output_format(info("WAV", "PCM_24"), Path("a.wav")) == ("WAV", "PCM_24", ".wav")
    assert output_format(info("WAV", "FLOAT"), Path("a.WAV")) == ("WAV", "FLOAT", ".WAV")
    assert output_format(info("FLAC", "PCM_16"), Path("a.flac")) == ("FLAC", "PCM_16", ".flac")
    assert output_format(info("WAV", "PCM_24"), Path("a.wav"), "flac") == ("FLAC", "PCM_24", ".flac")
    assert output_format(info("WAV", "FLOAT"), Path("a.wav"), "flac") == ("FLAC", "PCM_24", ".flac")
    assert output_format(info("OGG", "VORBIS"), Path("a.ogg"), "wav") == ("WAV", "PCM_16", ".wav")
    assert output_format(info("WAV", "PCM_16"), Path("a.wav"), "mp3") == ("MP3", "MPEG_LAYER_III", ".mp3")
    assert output_format(info("MP3", "MPEG_LAYER_III"), Path("a.mp3")) == ("MP3", "MPEG_LAYER_III", ".mp3")
    with pytest.raises(ValueError, match="unknown output format"):
        output_format(info("WAV", "PCM_16"), Path("a.wav"), "aiff")


def test_atomic_writer_commits_only_complete_files(tmp_path: Path) -> None:
    target = tmp_path / "out" / "a.wav"
    block = np.array([[0.5, -2.0, 0.25, 3.0]], np.float32)
    with AtomicAudioWriter(target, 8000, 1, "WAV", "PCM_16") as writer:
        writer.write(block)
        assert not target.exists()
        assert len(list(target.parent.iterdir())) == 1  # the hidden temporary file
    assert writer.clipped == 2 and writer.frames == 4
    data, rate = sf.read(target, dtype="float32")
    assert rate == 8000 and sf.info(target).subtype == "PCM_16"
    np.testing.assert_allclose(data, [0.5, -1.0, 0.25, 32767 / 32768], atol=1e-4)

    with pytest.raises(RuntimeError, match="boom"):
        with AtomicAudioWriter(tmp_path / "out" / "b.wav", 8000, 1, "WAV", "PCM_16") as writer:
            writer.write(block)
            raise RuntimeError("boom")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.wav"]  # no partial or temporary file

    with AtomicAudioWriter(tmp_path / "f.wav", 8000, 1, "WAV", "FLOAT") as writer:
        writer.write(block)
    assert writer.clipped == 0
    np.testing.assert_array_equal(sf.read(tmp_path / "f.wav", dtype="float32")[0], block[0])


def test_written_files_are_byte_reproducible(tmp_path: Path) -> None:
    """libsndfile stamps float WAVs with the time (PEAK chunk) and Ogg streams with a clock-seeded serial."""
    block = _noise(20000, 2).T
    for fmt, subtype, suffix in (("WAV", "FLOAT", ".wav"), ("OGG", "VORBIS", ".ogg"), ("FLAC", "PCM_24", ".flac")):
        written = []
        for name in ("a", "b"):
            with AtomicAudioWriter(tmp_path / f"{name}{suffix}", 16000, 2, fmt, subtype) as writer:
                writer.write(block)
            written.append((tmp_path / f"{name}{suffix}").read_bytes())
        assert written[0] == written[1], fmt
        assert b"PEAK" not in written[0]
        assert sf.info(tmp_path / f"a{suffix}").frames == 20000
    # the rewritten Ogg pages carry the fixed serial and valid checksums
    data = (tmp_path / "a.ogg").read_bytes()
    offset = pages = 0
    while offset < len(data):
        assert data[offset : offset + 4] == b"OggS"
        count = data[offset + 26]
        size = 27 + count + sum(data[offset + 27 : offset + 27 + count])
        page = bytearray(data[offset : offset + size])
        assert struct.unpack_from("<I", page, 14)[0] == OGG_SERIAL
        stored = struct.unpack_from("<I", page, 22)[0]
        struct.pack_into("<I", page, 22, 0)
        assert _ogg_crc(bytes(page)) == stored
        offset += size
        pages += 1
    assert pages >= 3


def test_ogg_checksum_matches_libogg(tmp_path: Path) -> None:
    sf.write(tmp_path / "x.ogg", _noise(8000), 8000)
    data = (tmp_path / "x.ogg").read_bytes()
    size = 27 + data[26] + sum(data[27 : 27 + data[26]])
    page = bytearray(data[:size])
    stored = struct.unpack_from("<I", page, 22)[0]
    struct.pack_into("<I", page, 22, 0)
    assert _ogg_crc(bytes(page)) == stored  # libsndfile's own (libogg) checksum of its first page


def test_atomic_writer_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "a.flac"
    target.write_bytes(b"old")
    with AtomicAudioWriter(target, 16000, 2, "FLAC", "PCM_24") as writer:
        writer.write(np.zeros((2, 10), np.float32))
    assert sf.info(target).frames == 10 and sf.info(target).channels == 2


@pytest.mark.parametrize(("rate_in", "rate_out"), [(44100, 16000), (16000, 48000), (8000, 16000), (16000, 16000)])
def test_stream_resampler_matches_one_shot_resampling(rate_in: int, rate_out: int) -> None:
    signal = _noise(rate_in // 2 + 17, 2, seed=3).T.copy()  # [C, L]
    whole = resample(signal, rate_in, rate_out)
    assert whole.shape == (2, round(signal.shape[1] * rate_out / rate_in))
    stream = StreamResampler(rate_in, rate_out, 2)
    parts = [stream(signal[:, i : i + 1234]) for i in range(0, signal.shape[1], 1234)] + [stream.flush()]
    streamed = np.concatenate(parts, axis=1)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-6)


def test_resampling_preserves_a_tone() -> None:
    t = np.arange(44100) / 44100
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    down = resample(tone, 44100, 16000)
    expected = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    np.testing.assert_allclose(down[200:-200], expected[200:-200], atol=1e-3)  # VHQ: no delay, tiny error
