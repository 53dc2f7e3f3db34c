"""Recorded noise from game and toolkit packages: where the files are and how to read them.

Sources (Debian packages; see ``docs/data.md`` for licences):

* ``0ad``: ambiences, animals, footsteps and work sounds of ``audio/`` inside
  ``mods/public/public.zip`` (:data:`ZERO_AD_FOLDERS`; music, battle and death cries are left out);
* ``ufoai``: ``sound/ambience`` and ``sound/footsteps`` inside ``base/0snd.pk3`` (a zip);
* ``supertuxkart``: a chosen list of ambient files of ``data/sfx`` (crowd, airport, rain, engines...);
* ``openttd``: the WAVs packed in ``opensfx.cat``;
* ``megaglest``: ``tilesets/*/sounds``;
* ``keyboard``: bucklespring's single keystrokes, assembled into typing noise by
  :func:`crpse.corpus.noise.typing`;
* ``tuxpaint``: the household sounds of the stamps (vacuum cleaner, kettle, washing machine, ...).

Each recording gets a *noise type* ``"<source>/<category>"`` where the category is found from
keywords of its name (:func:`category_of`); recordings are split per type (see
:func:`crpse.corpus.splits.split_recordings`).
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from crpse.corpus.sources import NoiseRecording, SourcePaths, corpus_signal, read_audio

#: Noise sources handled here.
REAL_NOISE_SOURCES = ("0ad", "ufoai", "supertuxkart", "openttd", "megaglest", "keyboard", "tuxpaint")

#: Keyword categories, tried in order on the words of the lower-case file name and its folder; a keyword
#: matches a word it begins (``"hum="``: only the whole word).
CATEGORY_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("crowd", ("crowd", "market", "restaurant", "applause", "people", "harbo", "airport", "cheer", "voices")),
    ("rain", ("rain", "storm", "snow")),
    ("thunder", ("thunder",)),
    ("wind", ("wind", "breeze", "blizzard")),
    ("water", ("water", "river", "wave", "sea", "ocean", "splash", "stream", "fountain", "bubble", "drip", "lake")),
    ("fire", ("fire", "flame", "burn")),
    ("birds", ("bird", "owl", "hawk", "rooster", "chicken", "seagull", "gull", "crow", "duck")),
    ("insects", ("cricket", "insect", "cicada", "bee", "fly")),
    ("machine", ("machine", "engine", "motor", "hum=", "generator", "pump", "turbine", "drill", "jackhammer", "saw",
                 "vacuum", "washing", "ventilation", "droning", "factory", "mill", "kettle")),
    ("vehicle", ("train", "bus", "car", "jet", "plane", "helicopter", "ship", "truck", "tram", "boat", "aircraft")),
    ("static", ("static", "radio", "tv_", "sparks")),
    ("steps", ("footstep", "step", "hstep", "singlestep", "walk")),
    ("work", ("chop", "hammer", "build", "mine", "mining", "dig", "anvil", "forge", "gather", "harvest",
              "construct", "lumber", "farming", "resource", "smith")),
    ("animals", ("wolf", "dog", "cow", "sheep", "pig", "horse", "goat", "elephant", "lion", "animal", "camel",
                 "deer", "bear", "cat", "frog")),
    ("ambience", ("ambient", "ambience", "day", "night", "forest", "jungle", "desert", "atmo", "atm")),
)
#: supertuxkart files (data/sfx) that are ambient or continuous noises.
SUPERTUXKART_FILES = (
    "lenautile_restaurant.ogg", "sara_airport_pa.ogg", "rain.ogg", "river_loop.ogg", "waterfall_loop_2.ogg",
    "static-radio.ogg", "engine_large.ogg", "engine_small.ogg", "airplane_jetEngine.ogg", "exotic-birds.ogg",
    "exotic-birds_2.ogg", "machine_sound.ogg", "thunder.ogg", "fireworks_show.ogg", "car_revup.ogg", "clock.ogg",
)
#: Folders of 0ad's audio/ used as noise (ambiences, animals, footsteps, work); battle and death cries are not.
ZERO_AD_FOLDERS = ("audio/ambient/", "audio/actor/fauna/", "audio/actor/singlesteps/", "audio/actor/human/movement/",
                   "audio/resource/")
#: OpenTTD catalogue entries this small are placeholders ("Unused/Nothing"), not sounds.
MIN_ENTRY_BYTES = 4096
#: Members of archives that are music, interface sounds or speech, never noise.
EXCLUDED_MEMBER = re.compile(r"(^|/)(music|interface|ui|voice|dialog|speech|narration)(/|_)", re.IGNORECASE)


def category_of(name: str) -> str:
    """The noise category of a recording, from keywords in its (member) path; ``"other"`` if none."""
    words = [w for w in re.split(r"[^a-z]+", "/".join(name.lower().split("/")[-2:])) if w]
    for category, keywords in CATEGORY_KEYWORDS:
        for keyword in keywords:
            if any(w == keyword[:-1] if keyword.endswith("=") else w.startswith(keyword) for w in words):
                return category
    return "other"


def _zip_members(archive: Path, prefixes: tuple[str, ...]) -> list[str]:
    with zipfile.ZipFile(archive) as handle:
        return sorted(info.filename for info in handle.infolist()
                      if info.filename.lower().endswith((".ogg", ".wav")) and info.filename.startswith(prefixes)
                      and not EXCLUDED_MEMBER.search(info.filename) and info.file_size > 0)


def openttd_entries(cat: Path) -> dict[str, tuple[int, int]]:
    """Parse an OpenTTD sound catalogue: ``{name: (offset, size)}`` of its RIFF WAV entries.

    The file starts with a table of ``(offset, size)`` little-endian uint32 pairs (the first offset
    is the table's size; the top bit of an offset is a flag); each entry is a 1-byte name length, the
    name, then the WAV data.
    """
    data = cat.read_bytes()
    first = struct.unpack_from("<I", data, 0)[0] & 0x7FFFFFFF
    entries: dict[str, tuple[int, int]] = {}
    for k in range(first // 8):
        offset = struct.unpack_from("<I", data, 8 * k)[0] & 0x7FFFFFFF
        name_len = data[offset]
        name = data[offset + 1: offset + 1 + name_len].split(b"\0")[0].decode("latin-1").strip()
        start = offset + 1 + name_len
        length = 8 + struct.unpack_from("<I", data, start + 4)[0] if data[start: start + 4] == b"RIFF" else 0
        if length > MIN_ENTRY_BYTES:  # the WAV's own header gives its length; tiny entries are empty placeholders
            entries[name or f"sound{k:03d}.wav"] = (start, length)
    return entries


def list_noise(source: str, paths: SourcePaths) -> list[NoiseRecording]:
    """List the recordings of one installed noise package (sorted; empty when it is not installed)."""
    def made(path: Path, member: str = "", category: str | None = None) -> NoiseRecording:
        return NoiseRecording(source, f"{source}/{category or category_of(member or path.name)}", path, member)

    if source == "0ad":
        if not paths.zero_ad_zip.is_file():
            return []
        return [made(paths.zero_ad_zip, m) for m in _zip_members(paths.zero_ad_zip, ZERO_AD_FOLDERS)]
    if source == "ufoai":
        if not paths.ufoai_pk3.is_file():
            return []
        members = _zip_members(paths.ufoai_pk3, ("sound/ambience/", "sound/footsteps/"))
        return [made(paths.ufoai_pk3, m, "steps" if "/footsteps/" in m else None) for m in members]
    if source == "supertuxkart":
        return [made(paths.supertuxkart_dir / name) for name in SUPERTUXKART_FILES
                if (paths.supertuxkart_dir / name).is_file()]
    if source == "openttd":
        if not paths.openttd_cat.is_file():
            return []
        return [made(paths.openttd_cat, name, category_of(name.split('"')[1] if name.count('"') >= 2 else name))
                for name in sorted(openttd_entries(paths.openttd_cat))]
    if source == "megaglest":
        files = sorted(p for p in paths.megaglest_dir.glob("*/sounds/*") if p.suffix.lower() in (".ogg", ".wav"))
        return [made(p) for p in files]
    if source == "keyboard":
        files = sorted(paths.keyboard_dir.glob("*.wav"))
        return [made(p, category="typing") for p in files]
    if source == "tuxpaint":
        household = paths.tuxpaint_dir / "household"
        files = sorted(p for p in household.rglob("*.ogg") if "_desc" not in p.name)
        return [made(p, category="household") for p in files]
    raise ValueError(f"{source!r} is not a recorded-noise package; choose from {', '.join(REAL_NOISE_SOURCES)}")


def missing_noise(source: str, paths: SourcePaths) -> str | None:
    """``None`` when ``source`` has recordings installed, else the reason."""
    if list_noise(source, paths):
        return None
    where = {"0ad": paths.zero_ad_zip, "ufoai": paths.ufoai_pk3, "supertuxkart": paths.supertuxkart_dir,
             "openttd": paths.openttd_cat, "megaglest": paths.megaglest_dir, "keyboard": paths.keyboard_dir,
             "tuxpaint": paths.tuxpaint_dir / "household"}[source]
    return f"no recordings found at {where}"


@lru_cache(maxsize=1024)
def read_recording(path: Path, member: str = "") -> np.ndarray:
    """Read a recording (a plain file, or ``member`` of a zip archive or an OpenTTD catalogue) as 16 kHz mono.

    Returns:
        Samples ``[L]`` at 16 kHz, float32, DC removed (cached: do not modify).
    """
    if not member:
        return read_audio(path)
    if path.suffix == ".cat":
        offset, size = openttd_entries(path)[member]
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read(size)
    else:
        with zipfile.ZipFile(path) as handle:
            data = handle.read(member)
    return corpus_signal(io.BytesIO(data))
