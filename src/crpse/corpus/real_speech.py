"""Recorded human speech from community packages: who speaks, in which language, which files.

Five Debian packages carry recordings of real people (see ``docs/data.md``):

* ``tuxpaint-stamps-default``: ``*_desc_<lang>.ogg`` stamp descriptions, one volunteer per language
  (``*_desc.ogg`` without a language is English);
* ``festvox-ru``: the studio recordings of the ``msu_ru_nsh`` unit-selection voice (one man);
* ``fillets-ng-data-cs``: Czech voice acting; ``-m-`` lines are the small fish (a woman), ``-v-``
  lines the big fish (a man); other characters are left out (their actors are not named);
* ``klettres-data``: ``<lang>/{alpha,syllab}/*.ogg``, one speaker per language;
* ``ktuberling-data``: ``sounds/<lang>/*.{ogg,opus,wav}``, one speaker per language (the Serbian
  variants ``sr@*`` repeat ``sr`` and are skipped).

**Persons.** Each (package, language) is one person. The packages do not name their volunteers, so
the same person could have recorded one language for two packages; to keep splits disjoint by person
anyway, all community recordings of one language form one *split group* (the language) that goes to
one split as a whole (see :mod:`crpse.corpus.splits`).

**Sex** is estimated from the median F0 measured once on 25 files per person (2026-11-30):
below 165 Hz ``"m"``, 165-300 Hz ``"f"``, above 300 Hz ``"child"``; the table below holds the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from crpse.audio import is_audio_file
from crpse.corpus.sources import SourcePaths

#: Speech sources handled here.
REAL_SPEECH_SOURCES = ("tuxpaint", "festvox-ru", "fillets-cs", "klettres", "ktuberling")

#: (source, language) -> estimated sex, from the median F0 (see the module docstring).
SEX_BY_VOICE: dict[tuple[str, str], str] = {
    **{("tuxpaint", lang): sex for lang, sex in {
        "be": "f", "bg": "m", "ca": "m", "da": "m", "el": "f", "en": "f", "es": "f", "fr": "m", "lt": "m",
        "ml": "f", "nl": "m", "ro": "f", "ru": "m"}.items()},
    ("festvox-ru", "ru"): "m",
    **{("klettres", lang): sex for lang, sex in {
        "ar": "f", "cs": "f", "da": "m", "de": "f", "en": "m", "en_GB": "f", "es": "f", "fr": "m", "he": "f",
        "hu": "child", "it": "f", "lt": "m", "ml": "m", "nb": "f", "nds": "m", "nl": "f", "pt_BR": "f",
        "ru": "f", "tn": "child", "uk": "f"}.items()},
    **{("ktuberling", lang): sex for lang, sex in {
        "ca": "f", "da": "child", "de": "m", "el": "m", "en": "f", "es": "m", "fi": "f", "fr": "f", "ga": "m",
        "gl": "child", "it": "f", "lt": "m", "nds": "m", "nl": "child", "nn": "f", "pt": "f", "ro": "f",
        "ru": "f", "sl": "m", "sr": "f", "sv": "f", "uk": "f", "wa": "m"}.items()},
}
#: fillets-ng line markers -> (person, sex).
FILLETS_LEADS = {"m": ("fillets-cs:small-fish", "f"), "v": ("fillets-cs:big-fish", "m")}


@dataclass(frozen=True)
class RealVoice:
    """One recorded person of a community package.

    Attributes:
        source: Key of :data:`crpse.corpus.sources.SOURCE_SPECS`.
        person: Identity, e.g. ``"klettres:de"``.
        language: Language code as the package names it (``"pt_BR"``, ``"cs"``, ...).
        group: Split group: every voice of a group goes to the same split (the base language for
            community volunteers, see the module docstring).
        sex: ``"f"``, ``"m"``, ``"child"`` or ``"?"``.
        files: The person's recordings, sorted.
    """

    source: str
    person: str
    language: str
    group: str
    sex: str
    files: tuple[Path, ...]


def base_language(language: str) -> str:
    """``"pt_BR"`` -> ``"pt"``, ``"sr@latin"`` -> ``"sr"``, ``"en_GB"`` -> ``"en"``."""
    return re.split(r"[_@]", language)[0]


def _voice(source: str, language: str, files: list[Path], person: str | None = None,
           sex: str | None = None) -> RealVoice:
    return RealVoice(source, person or f"{source}:{language}", language, "lang:" + base_language(language),
                     sex or SEX_BY_VOICE.get((source, language), "?"), tuple(sorted(files)))


def _audio_files(folder: Path, pattern: str = "*") -> list[Path]:
    return [p for p in folder.glob(pattern) if is_audio_file(p)]


def list_real_voices(source: str, paths: SourcePaths) -> list[RealVoice]:
    """List the people of one community speech package (empty when it is not installed).

    Args:
        source: One of :data:`REAL_SPEECH_SOURCES`.
        paths: Where the packages live.

    Returns:
        Voices sorted by person; a voice has at least one file.
    """
    by_language: dict[str, list[Path]] = {}
    if source == "tuxpaint":
        for path in paths.tuxpaint_dir.rglob("*_desc*.ogg"):
            match = re.search(r"_desc(?:_([A-Za-z]+(?:_[A-Za-z]+)?))?\.ogg$", path.name)
            if match:
                by_language.setdefault(match.group(1) or "en", []).append(path)
    elif source == "festvox-ru":
        files = _audio_files(paths.festvox_ru_dir, "*.wav")
        return [_voice(source, "ru", files, person="festvox-ru:msu-nsh")] if files else []
    elif source == "fillets-cs":
        leads: dict[str, list[Path]] = {}
        for path in paths.fillets_dir.glob("**/cs/*.ogg"):
            match = re.match(r"^[^-]*-([a-z]+)-", path.name)
            if match and match.group(1) in FILLETS_LEADS:
                leads.setdefault(match.group(1), []).append(path)
        return [_voice(source, "cs", files, *FILLETS_LEADS[marker]) for marker, files in sorted(leads.items())]
    elif source == "klettres":
        for folder in sorted(p for p in paths.klettres_dir.glob("*") if p.is_dir() and p.name not in ("icons", "pics")):
            files = _audio_files(folder, "*/*")
            if files:
                by_language[folder.name] = files
    elif source == "ktuberling":
        for folder in sorted(p for p in paths.ktuberling_dir.glob("*") if p.is_dir() and "@" not in p.name):
            files = _audio_files(folder)
            if files:
                by_language[folder.name] = files
    else:
        raise ValueError(f"{source!r} is not a community speech source; choose from {', '.join(REAL_SPEECH_SOURCES)}")
    return [_voice(source, language, files) for language, files in sorted(by_language.items())]


def missing_voices(source: str, paths: SourcePaths) -> str | None:
    """``None`` when ``source`` has at least one voice installed, else the reason."""
    if list_real_voices(source, paths):
        return None
    folder = {"tuxpaint": paths.tuxpaint_dir, "festvox-ru": paths.festvox_ru_dir, "fillets-cs": paths.fillets_dir,
              "klettres": paths.klettres_dir, "ktuberling": paths.ktuberling_dir}[source]
    return f"no recordings found under {folder}"
