"""Offline paired speech-enhancement corpus built from installable speech and noise sources.

Entry points (imported lazily)::

    from crpse.corpus import CorpusConfig, synthesize_corpus
    summary = synthesize_corpus(CorpusConfig(hours=4.0, seed=0), "corpus/", jobs=2)

See ``docs/data.md`` for the sources, the split design and the licences.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "CorpusConfig": "crpse.corpus.synth",
    "plan_corpus": "crpse.corpus.synth",
    "synthesize_corpus": "crpse.corpus.synth",
    "SourceMissingError": "crpse.corpus.sources",
    "SourcePaths": "crpse.corpus.sources",
    "SOURCE_SPECS": "crpse.corpus.sources",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'crpse.corpus' has no attribute {name!r}")
