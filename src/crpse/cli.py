"""The ``crpse`` command line: a thin dispatcher over sub-command modules.

Each sub-command lives in ``crpse.commands.<name>`` and exposes two functions:
``register(subparsers) -> argparse.ArgumentParser`` and ``run(args) -> int``.
Modules are imported lazily, so ``crpse enhance`` never imports Lightning and
``crpse --help`` stays fast.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from crpse import __version__

#: sub-command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "enhance": ("crpse.commands.enhance", "enhance WAV/FLAC/OGG/MP3 files or folders"),
    "evaluate": ("crpse.commands.evaluate", "score enhanced files against clean references"),
    "info": ("crpse.commands.info", "print a model's configuration"),
    "models": ("crpse.commands.models", "list the bundled models (use them by name: --model NAME)"),
    "train": ("crpse.commands.train", "train DSM, CRP or predictive models (needs crpse[train])"),
    "data": ("crpse.commands.data", "make a paired training corpus offline"),
    "bench": ("crpse.commands.bench", "experiments: quality tables, sampler sweeps, validated regions"),
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser. Only the sub-command named in ``argv`` is imported."""
    parser = argparse.ArgumentParser(
        prog="crpse",
        description="Single- and few-step diffusion speech enhancement (CRP).",
    )
    parser.add_argument("--version", action="version", version=f"crpse {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = next((a for a in (argv or []) if a in COMMANDS), None)
    for name, (module_name, help_text) in COMMANDS.items():
        if name == wanted:
            module = importlib.import_module(module_name)
            sp = module.register(sub)
            sp.set_defaults(_run=module.run)
        else:
            sub.add_parser(name, help=help_text)
    return parser


#: exit status after Ctrl-C (128 + SIGINT), as shells report it
INTERRUPTED_STATUS = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``crpse`` console script. Returns the process exit status.

    Two failures are reported in one line on stderr for every command, without a traceback: Ctrl-C (``crpse:
    interrupted``, status 130; commands write outputs atomically, so nothing partial is left) and a missing
    optional extra (``crpse evaluate needs the 'eval' extra ...; install it with: pip install 'crpse[eval]'``,
    status 1), also when a worker process is the one that found the module missing.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.INFO,
            format="%(levelname)s: %(message)s",
        )
        if not getattr(args, "_run", None):
            parser.print_help()
            return 2
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("crpse: interrupted", file=sys.stderr)
        return INTERRUPTED_STATUS
    except ImportError as error:
        from crpse.extras import MissingExtraError, extra_of_module

        if isinstance(error, MissingExtraError):
            print(f"crpse: error: {error}", file=sys.stderr)
            return 1
        found = extra_of_module(error.name)
        if found is None:
            raise
        command = f"crpse {next((a for a in argv if a in COMMANDS), '')}".strip()
        print(f"crpse: error: {MissingExtraError(command, found[0], [found[1]])}", file=sys.stderr)
        return 1


def console() -> NoReturn:
    """The ``crpse`` console script (and ``python -m crpse``): :func:`main` on ``sys.argv``, then exit with its status.

    Before the interpreter shuts down, every object still alive is moved out of the cyclic garbage collector's reach
    (:func:`gc.freeze`): shutdown otherwise runs full collections over the ~165 000 objects that ``import torch``
    creates, 0.35 s of a 4 s ``crpse enhance`` (BENCHMARKS.md section 29). The process exits right after, so this
    costs no memory; :func:`main` itself, which tests and scripts call in-process, leaves the collector alone.
    """
    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    console()
