"""Audio files: discovery, reading, resampling and atomic writes, for enhancement, evaluation, training data and
the corpus generator (the one place where crpse reads, lists and resamples audio).

The enhancement path works on ``float32`` numpy blocks shaped ``[C, n]`` (channels first) and never holds more than
one block of a file in memory, so arbitrarily long files can be processed in bounded memory
(:func:`scan_audio`, :func:`iter_blocks`, :class:`StreamResampler`, :class:`AtomicAudioWriter`); :func:`read_audio`
reads a whole file (or a part of it) as mono. Supported containers are the ones libsndfile (through ``soundfile``)
reads and writes: WAV, FLAC, OGG (Vorbis/Opus) and MP3.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import soundfile as sf

from crpse.files import atomic_output

logger = logging.getLogger(__name__)

#: file suffix (lower case) -> soundfile container name: the files crpse reads (enhance, evaluate, data, corpus)
AUDIO_SUFFIXES: dict[str, str] = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".opus": "OGG", ".mp3": "MP3"}
#: soxr quality of :func:`resample` unless a caller asks for another (the enhancement and training-data paths)
RESAMPLE_QUALITY = "VHQ"
#: soxr quality of scoring (evaluation, metrics, DNSMOS) and of the corpus generator (soxr's default)
SCORING_RESAMPLE_QUALITY = "HQ"

#: ``--format`` choice -> (container, suffix)
OUTPUT_FORMATS: dict[str, tuple[str, str]] = {
    "wav": ("WAV", ".wav"),
    "flac": ("FLAC", ".flac"),
    "ogg": ("OGG", ".ogg"),
    "mp3": ("MP3", ".mp3"),
}

#: frames per streaming block when reading files
BLOCK_FRAMES = 65536

#: subtype used when the input's subtype cannot be stored in the output container
_FALLBACK_SUBTYPE = {"WAV": "PCM_16", "FLAC": "PCM_24", "OGG": "VORBIS", "MP3": "MPEG_LAYER_III"}
_FLOAT_FALLBACK = {"WAV": "FLOAT", "FLAC": "PCM_24"}


class AudioFileError(ValueError):
    """An input file cannot be enhanced (unreadable, truncated, empty, non-finite samples, ...).

    The message is the reason only; callers prefix it with the path.
    """


@dataclass(frozen=True)
class AudioInfo:
    """What the header of an audio file says.

    Attributes:
        sample_rate: samples per second.
        channels: number of channels C.
        frames: number of frames (samples per channel) the header declares.
        format: soundfile container name (``WAV``, ``FLAC``, ``OGG``, ``MP3``, ...).
        subtype: soundfile subtype (``PCM_16``, ``PCM_24``, ``FLOAT``, ``VORBIS``, ...).
    """

    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str


@dataclass(frozen=True)
class AudioScan:
    """The result of a full validating pass over a file (see :func:`scan_audio`).

    Attributes:
        info: the header information.
        frames: frames actually decoded (the truth for the output length).
        peak: ``max |y|`` over all channels and frames.
    """

    info: AudioInfo
    frames: int
    peak: float


@dataclass(frozen=True)
class InputFile:
    """An audio file found by :func:`find_audio_files`.

    Attributes:
        path: the file.
        relative: where its output goes, relative to the output folder (keeps the input folder layout).
    """

    path: Path
    relative: Path


def _reason(error: BaseException) -> str:
    """A short, single-line description of a soundfile / OS error."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    # soundfile prefixes "Error opening 'PATH': "; the caller already prints the path.
    if text.startswith("Error opening") and "': " in text:
        text = text.split("': ", 1)[1]
    return text


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Read the header of an audio file.

    Raises:
        AudioFileError: when the file does not exist, is not readable audio, or has no frames.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioFileError("no such file" if not path.exists() else "not a regular file")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        reason = _reason(error)
        if path.stat().st_size == 0:
            reason = "empty file (0 bytes)"
        elif "not recognised" in reason.lower() or "unknown format" in reason.lower():
            reason = f"not a readable audio file ({reason.rstrip('.')}); supported: WAV, FLAC, OGG, MP3"
        raise AudioFileError(reason) from error
    if info.frames <= 0:
        raise AudioFileError("empty audio (0 frames)")
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioFileError(f"invalid header (sample rate {info.samplerate}, {info.channels} channels)")
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames), info.format, info.subtype)


def _wav_truncation(path: Path) -> str | None:
    """Return a reason if a RIFF/WAVE file declares more sample bytes than it holds, else ``None``.

    libsndfile silently shortens such files; a truncated copy is better reported than half-enhanced.
    Streaming writers that leave a placeholder size (0 or 0xFFFFFFFF) are not flagged.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            header = handle.read(12)
            if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
                return None
            offset = 12
            while offset + 8 <= size:
                handle.seek(offset)
                chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
                if chunk_id == b"data":
                    if chunk_size in (0, 0xFFFFFFFF) or chunk_size >= 0xFFFFFF00:
                        return None
                    present = size - offset - 8
                    if chunk_size > present:
                        return (
                            f"truncated file: the header declares {chunk_size} bytes of samples but only {present} "
                            "are present; re-export or repair the file"
                        )
                    return None
                offset += 8 + chunk_size + (chunk_size & 1)
    except OSError:
        return None
    return None


def scan_audio(path: str | os.PathLike[str], block_frames: int = BLOCK_FRAMES) -> AudioScan:
    """Validate a file with one streaming pass: decodable to the end, not empty, all samples finite.

    Args:
        path: the audio file.
        block_frames: frames per read.

    Returns:
        The header, the number of decoded frames and the peak ``max |y|``.

    Raises:
        AudioFileError: unreadable, truncated, empty, or containing NaN/Inf samples.
    """
    path = Path(path)
    info = audio_info(path)
    if info.format in ("WAV", "WAVEX"):
        reason = _wav_truncation(path)
        if reason:
            raise AudioFileError(reason)
    frames = 0
    peak = 0.0
    try:
        with sf.SoundFile(str(path)) as handle:
            for block in handle.blocks(blocksize=block_frames, dtype="float32", always_2d=True):
                finite = np.isfinite(block)
                if not finite.all():
                    first = frames + int(np.argmin(finite.all(axis=1)))
                    raise AudioFileError(
                        f"non-finite (NaN/Inf) samples, the first at frame {first}; the file is corrupt or was "
                        "written from a failed computation"
                    )
                if block.size:
                    peak = max(peak, float(np.abs(block).max()))
                frames += block.shape[0]
    except AudioFileError:
        raise
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioFileError(
            f"cannot decode the file after frame {frames} (truncated or corrupt): {_reason(error)}"
        ) from error
    if frames == 0:
        raise AudioFileError("empty audio (0 frames)")
    if info.format not in ("MP3", "OGG") and frames < info.frames:
        raise AudioFileError(f"truncated file: the header declares {info.frames} frames, only {frames} decode")
    return AudioScan(info=info, frames=frames, peak=peak)


def iter_blocks(path: str | os.PathLike[str], block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
    """Stream a file as ``float32`` blocks ``[C, n]`` (``n <= block_frames``; the last one may be shorter).

    Raises:
        AudioFileError: when decoding fails midway.
    """
    frames = 0
    try:
        with sf.SoundFile(str(path)) as handle:
            for block in handle.blocks(blocksize=block_frames, dtype="float32", always_2d=True):
                frames += block.shape[0]
                yield np.ascontiguousarray(block.T)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioFileError(
            f"cannot decode the file after frame {frames} (truncated or corrupt): {_reason(error)}"
        ) from error


def find_audio_files(
    inputs: Sequence[str | os.PathLike[str]], exclude: Sequence[str | os.PathLike[str]] = ()
) -> tuple[list[InputFile], list[tuple[Path, str]]]:
    """Expand files and folders (recursively) into the audio files to enhance.

    A file given directly keeps only its name (``OUTDIR/name``); files found in a folder keep their path relative
    to that folder. Inside folders, hidden files and folders (names starting with ``.``) and files whose suffix is
    not one of :data:`AUDIO_SUFFIXES` are skipped; a file named explicitly is always taken (and reported later if
    it is not readable audio). A file reached twice is listed once.

    Args:
        inputs: files and folders.
        exclude: folders not to descend into (e.g. the output folder when it lies inside an input folder, so
            that a second run does not enhance the first run's outputs).

    Returns:
        ``(files, problems)``: the files in a deterministic order (inputs in the given order, folder contents
        sorted), and ``(path, reason)`` for inputs that do not exist.
    """
    files: list[InputFile] = []
    problems: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    excluded = tuple(exclude)

    def add(path: Path, relative: Path) -> None:
        source = path.resolve()
        if source not in seen:
            seen.add(source)
            files.append(InputFile(path=path, relative=relative))

    for item in inputs:
        root = Path(item)
        if root.is_dir():
            for path in list_audio_files(root, exclude=excluded):
                add(path, path.relative_to(root))
        elif root.exists():
            add(root, Path(root.name))
        else:
            problems.append((root, "no such file or folder"))
    return files, problems


def is_audio_file(path: Path) -> bool:
    """Whether ``path`` is a visible file whose suffix is one of :data:`AUDIO_SUFFIXES`."""
    return not path.name.startswith(".") and path.suffix.lower() in AUDIO_SUFFIXES and path.is_file()


def list_audio_files(
    folder: str | os.PathLike[str], exclude: Sequence[str | os.PathLike[str]] = (), recursive: bool = True
) -> list[Path]:
    """The audio files in ``folder`` (and its sub-folders when ``recursive``), sorted by path.

    Hidden files and folders (names starting with ``.``), folders in ``exclude`` and files whose suffix is not one
    of :data:`AUDIO_SUFFIXES` are skipped.
    """
    excluded = {Path(other).resolve() for other in exclude}
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(
            d for d in dirnames if recursive and not d.startswith(".") and (Path(dirpath) / d).resolve() not in excluded
        )
        found += [Path(dirpath) / name for name in filenames if is_audio_file(Path(dirpath) / name)]
    return sorted(found)


def read_audio(
    source: str | os.PathLike[str] | BinaryIO,
    sample_rate: int | None = None,
    start: int = 0,
    stop: int | None = None,
    downmix: Literal["mean", "first"] | None = "mean",
    dtype: Literal["float32", "float64"] = "float32",
    quality: str = RESAMPLE_QUALITY,
) -> tuple[np.ndarray, int]:
    """Read an audio file (a path or a binary file object) as mono (or all channels), optionally resampled.

    Args:
        source: any file soundfile reads.
        sample_rate: resample to this rate (:func:`resample` at ``quality``); ``None`` keeps the file's rate.
        start, stop: the samples to read, **at the file's own rate** (only that part is decoded).
        downmix: channels averaged (``mean``), the first channel kept (``first``), or all kept (``None``).
        dtype: sample type of the result (and of the decoding).

    Returns:
        ``(audio, rate)``: contiguous samples ``[L]`` (``[C, L]`` without ``downmix``) and their rate
        (``sample_rate`` when given).

    Raises:
        AudioFileError: the file cannot be read.
    """
    target = os.fspath(source) if isinstance(source, str | os.PathLike) else source
    try:
        audio, rate = sf.read(target, start=start, stop=stop, dtype=dtype, always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as error:
        raise AudioFileError(_reason(error)) from error
    if downmix is None:
        audio = audio.T
    else:
        audio = audio[:, 0] if downmix == "first" else audio.mean(axis=1)
    if sample_rate is not None and sample_rate != rate:
        audio, rate = resample(audio, int(rate), sample_rate, quality), sample_rate
    return np.ascontiguousarray(audio, dtype=dtype), int(rate)


def output_format(info: AudioInfo, source: Path, override: str | None = None) -> tuple[str, str, str]:
    """Choose the container, subtype and suffix of an output file.

    Without ``override`` the input's container and subtype are kept (``PCM_16`` stays ``PCM_16``, ...). With
    ``override`` (``wav``/``flac``/``ogg``/``mp3``) the input's subtype is kept when the new container supports
    it, else a sensible default is used (float input -> ``FLOAT`` WAV or 24-bit FLAC; otherwise ``PCM_16`` WAV,
    ``PCM_24`` FLAC, Vorbis, MP3 layer III).

    Returns:
        ``(format, subtype, suffix)``; ``suffix`` is the input's suffix unless the container changed.
    """
    if override is None:
        container = info.format
        suffix = source.suffix
    else:
        key = override.lower().lstrip(".")
        if key not in OUTPUT_FORMATS:
            raise ValueError(f"unknown output format {override!r}; choose one of {sorted(OUTPUT_FORMATS)}")
        container, suffix = OUTPUT_FORMATS[key]
        if container == info.format:
            suffix = source.suffix
    subtype = info.subtype
    if not sf.check_format(container, subtype):
        if subtype in ("FLOAT", "DOUBLE") and container in _FLOAT_FALLBACK:
            subtype = _FLOAT_FALLBACK[container]
        else:
            subtype = _FALLBACK_SUBTYPE.get(container) or sf.default_subtype(container)
    return container, subtype, suffix


def is_integer_subtype(subtype: str) -> bool:
    """Whether samples of ``subtype`` are stored as clipped fixed-point values (PCM, lossy codecs)."""
    return subtype not in ("FLOAT", "DOUBLE")


class AtomicAudioWriter:
    """Write an audio file block by block under a temporary hidden name and rename it into place on success.

    The temporary file (``.NAME.<random>.tmp`` next to the destination) is removed if anything fails, so a partial
    output never appears under the final name. Samples of integer/lossy subtypes are clipped to ``[-1, 1]``
    (libsndfile would otherwise wrap around); the number of clipped samples is available as ``clipped``.

    Example::

        with AtomicAudioWriter(out, 16000, 1, "WAV", "PCM_16") as writer:
            writer.write(block)      # [C, n] float
    """

    def __init__(
        self,
        destination: str | os.PathLike[str],
        sample_rate: int,
        channels: int,
        format: str,
        subtype: str,
    ) -> None:
        self.destination = Path(destination)
        self.sample_rate = sample_rate
        self.channels = channels
        self.format = format
        self.subtype = subtype
        self.clipped = 0
        self.frames = 0
        self._clip = is_integer_subtype(subtype)
        self._handle: sf.SoundFile | None = None
        self._temp: Path | None = None
        self._output: contextlib.ExitStack | None = None

    def __enter__(self) -> AtomicAudioWriter:
        self._output = contextlib.ExitStack()
        self._temp = temp = self._output.enter_context(atomic_output(self.destination))
        try:
            self._handle = sf.SoundFile(
                temp,
                mode="w",
                samplerate=self.sample_rate,
                channels=self.channels,
                format=self.format,
                subtype=self.subtype,
            )
            _disable_peak_chunk(self._handle)
        except BaseException:
            self._discard()
            raise
        return self

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` (``[C, n]`` float) to the file."""
        if self._handle is None:
            raise RuntimeError("AtomicAudioWriter.write called outside its `with` block")
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"expected a block [{self.channels}, n], got shape {block.shape}")
        data = np.ascontiguousarray(block.T, dtype=np.float32)
        if self._clip:
            over = np.abs(data) > 1.0
            if over.any():
                self.clipped += int(over.sum())
                np.clip(data, -1.0, 1.0, out=data)
        self._handle.write(data)
        self.frames += data.shape[0]

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        handle, self._handle = self._handle, None
        if exc_type is not None:
            with contextlib.suppress(Exception):
                if handle is not None:
                    handle.close()
            self._discard()
            return
        try:
            if handle is not None:
                handle.close()
            assert self._temp is not None
            if self.format == "OGG":
                fix_ogg_serial(self._temp)
        except BaseException:
            self._discard()
            raise
        output, self._output, self._temp = self._output, None, None
        output.close()  # crpse.files.atomic_output: flush to disk, rename into place

    def _discard(self) -> None:
        """Remove the temporary file (crpse.files.atomic_output's cleanup)."""
        output, self._output, self._temp = self._output, None, None
        if output is not None:
            with contextlib.suppress(BaseException):
                output.__exit__(RuntimeError, RuntimeError("discarded"), None)


#: libsndfile's SFC_SET_ADD_PEAK_CHUNK command (sndfile.h), not exported by soundfile
_SFC_SET_ADD_PEAK_CHUNK = 0x1050


def _disable_peak_chunk(handle: sf.SoundFile) -> None:
    """Ask libsndfile not to write a PEAK chunk into float WAV/AIFF files.

    The chunk stores the time of writing, so two otherwise identical float files would differ in their bytes.
    Uses soundfile's internal handle; without it the file is still valid, only not byte-reproducible.
    """
    try:
        sf._snd.sf_command(handle._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
    except AttributeError:  # pragma: no cover - a soundfile without these internals
        logger.debug("cannot disable the PEAK chunk with this soundfile version")


_BIT_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))

#: the Ogg stream serial number written by :func:`fix_ogg_serial` ("crps")
OGG_SERIAL = 0x63727073


def _ogg_crc(page: bytes) -> int:
    """Ogg's page checksum: CRC-32, polynomial 0x04C11DB7, MSB first, initial value 0, no final xor.

    Computed with zlib's (bit-reflected) CRC-32 on bit-reversed bytes, so it runs at C speed.
    """
    reflected = zlib.crc32(page.translate(_BIT_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


def fix_ogg_serial(path: str | os.PathLike[str], serial: int = OGG_SERIAL) -> bool:
    """Replace the random stream serial number libsndfile writes into an Ogg file by a fixed one, in place.

    libsndfile seeds the serial number from the clock, so the same audio encodes to different bytes on every
    run; with a fixed serial the file is byte-reproducible. Page checksums are recomputed. The file is processed
    page by page (at most 64 KiB in memory). Files with more than one logical stream are left unchanged.

    Returns:
        Whether the file was changed.
    """
    pages: list[tuple[int, bytes]] = []
    serials: set[int] = set()
    with open(path, "rb") as handle:
        offset = 0
        while True:
            header = handle.read(27)
            if len(header) < 27:
                break
            if header[:4] != b"OggS":
                logger.debug("%s: not an Ogg page at byte %d; serial left unchanged", path, offset)
                return False
            table = handle.read(header[26])
            size = 27 + len(table) + sum(table)
            handle.seek(offset + size)
            serials.add(struct.unpack_from("<I", header, 14)[0])
            pages.append((offset, header))
            offset += size
    if len(serials) != 1:
        return False
    with open(path, "r+b") as handle:
        for offset, header in pages:
            handle.seek(offset + 27)
            table = handle.read(header[26])
            handle.seek(offset)
            page = bytearray(handle.read(27 + len(table) + sum(table)))
            struct.pack_into("<I", page, 14, serial)
            struct.pack_into("<I", page, 22, 0)
            struct.pack_into("<I", page, 22, _ogg_crc(bytes(page)))
            handle.seek(offset + 14)
            handle.write(page[14:26])
    return True


def resample(audio: np.ndarray, rate_in: int, rate_out: int, quality: str = RESAMPLE_QUALITY) -> np.ndarray:
    """Resample ``[C, L]`` (or ``[L]``) float audio with soxr; the result has the input's float type.

    ``quality`` is soxr's: :data:`RESAMPLE_QUALITY` or :data:`SCORING_RESAMPLE_QUALITY`. Identity if the rates
    match.
    """
    if rate_in == rate_out:
        return audio
    import soxr

    if audio.ndim == 1:
        return soxr.resample(audio, rate_in, rate_out, quality=quality)
    return np.ascontiguousarray(soxr.resample(audio.T, rate_in, rate_out, quality=quality).T)


class StreamResampler:
    """Block-by-block soxr resampling (VHQ) of ``[C, n]`` float32 blocks; the identity when the rates match.

    The concatenated output equals :func:`resample` of the whole signal, whatever the block sizes, and has
    ``round(L * rate_out / rate_in)`` frames once :meth:`flush` has been called.
    """

    def __init__(self, rate_in: int, rate_out: int, channels: int) -> None:
        self.rate_in = rate_in
        self.rate_out = rate_out
        self.channels = channels
        self._stream = None
        if rate_in != rate_out:
            import soxr

            self._stream = soxr.ResampleStream(rate_in, rate_out, channels, dtype="float32", quality=RESAMPLE_QUALITY)

    def __call__(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        """Resample the next block ``[C, n]``; ``last=True`` flushes the filter tail."""
        if self._stream is None:
            return block
        out = self._stream.resample_chunk(np.ascontiguousarray(block.T, dtype=np.float32), last=last)
        return np.ascontiguousarray(out.reshape(-1, self.channels).T)

    def flush(self) -> np.ndarray:
        """The remaining output ``[C, m]`` after the last input block."""
        return self(np.zeros((self.channels, 0), dtype=np.float32), last=True)
