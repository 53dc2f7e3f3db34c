"""The paper table (issue 16) from its checkpoints, in one command: every model at every setting, then the verdicts.

Usage::

    python benchmarks/paper_table.py --corpus $CORPUS -o $RESULTS/paper \\
        --model dsm=dsm.ckpt --model crp1=crp_n1.ckpt --model crp5=crp_n5.ckpt --model multi=crp_multi.ckpt \\
        --model pred=pred.ckpt [--model range=crp_range.ckpt] [--max-files 100] [--threads 1] [--jobs 2]

Runs ``crpse bench quality`` on the test splits the corpus has (``test``, ``test_mismatched``, ``test_real``) with

* ``dsm``: PC with ``--pc-steps`` (default 30) steps and one corrector step (60 network calls, the reference row),
  and one-step reverse-process Euler-Maruyama with N in ``--dsm-steps`` (default 1, 2, 5, 10) from ``--t-start``
  and from t_max;
* every other score model (``crp1``, ``crp5``, ``multi`` and any extra name such as ``range``): reverse with N in
  ``--crp-steps`` (default 1..5) from ``--t-start`` (default 0.5);
* ``pred``: its one predictive call;

and writes OUT/quality.{csv,md,png} (differences to ``dsm@pc:30``), then ``crpse bench claims`` writes
OUT/claims.{csv,md}: the verdict on each of the paper's three claims and on the multi-N model, with paired-bootstrap
95 % intervals. Finished cells are reused, so an interrupted run continues where it stopped and re-running after a
new checkpoint only enhances that model's cells. Needs crpse[eval].
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from crpse.cli import main as crpse_main

#: the roles `crpse bench claims` judges (the names --model must use for them)
ROLES = ("dsm", "crp1", "crp5", "multi", "pred")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, help="folder with test splits (SPLIT/{clean,noisy})")
    parser.add_argument("-o", "--output", required=True, help="results folder (cells are reused across runs)")
    parser.add_argument("--model", action="append", default=[], required=True, metavar="NAME=PATH",
                        help=f"checkpoints; the roles are named {', '.join(ROLES)}; other names are run like crp1")
    parser.add_argument("--max-files", type=int, default=100, help="files per split (default: 100)")
    parser.add_argument("--t-start", default="0.5", help="reverse start time (default: 0.5)")
    parser.add_argument("--pc-steps", type=int, default=30, help="PC steps of the DSM reference row (default: 30)")
    parser.add_argument("--dsm-steps", default="1,2,5,10", help="reverse steps of the DSM rows (default: 1,2,5,10)")
    parser.add_argument("--crp-steps", default="1..5", help="reverse steps of the CRP rows (default: 1..5)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--jobs", type=int, default=1, help="scoring processes (default: 1)")
    parser.add_argument("--margin", type=float, default=0.05, help="PESQ margin of the verdicts (default: 0.05)")
    parser.add_argument("--no-dnsmos", action="store_true", help="skip DNSMOS")
    parser.add_argument("--no-plot", action="store_true", help="write no figure")
    parser.add_argument("--bootstrap-rounds", type=int, default=2000, help="paired bootstrap resamples")
    return parser.parse_args(argv)


def quality_command(args: argparse.Namespace) -> list[str]:
    """The ``crpse bench quality`` arguments of the table."""
    names = [text.partition("=")[0].strip() for text in args.model]
    if "dsm" not in names:
        raise SystemExit("paper_table.py: --model dsm=PATH is required (the reference row is its PC sampler)")
    command = ["bench", "quality", "--corpus", args.corpus, "-o", args.output, "--max-files", str(args.max_files),
               "--threads", str(args.threads), "--jobs", str(args.jobs),
               "--bootstrap-rounds", str(args.bootstrap_rounds), "--reference", f"dsm@pc:{args.pc_steps}:c=1"]
    for text in args.model:
        command += ["--model", text]
    command += ["--settings", f"dsm=pc:{args.pc_steps}:c=1",
                "--settings", f"dsm=reverse:{args.dsm_steps}:t={args.t_start},max"]
    for name in names:
        if name not in ("dsm", "pred"):
            command += ["--settings", f"{name}=reverse:{args.crp_steps}:t={args.t_start}"]
    command += [flag for flag, on in (("--no-dnsmos", args.no_dnsmos), ("--no-plot", args.no_plot)) if on]
    return command


def claims_command(args: argparse.Namespace) -> list[str]:
    """The ``crpse bench claims`` arguments; roles without a model are left out."""
    names = {text.partition("=")[0].strip() for text in args.model}
    missing = ",".join(f"{role}=NONE" for role in ROLES if role not in names)
    command = ["bench", "claims", args.output, "--t-start", args.t_start, "--margin", str(args.margin),
               "--pc-steps", str(args.pc_steps),
               "--bootstrap-rounds", str(args.bootstrap_rounds)]
    return command + (["--names", missing] if missing else [])


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    status = crpse_main(quality_command(args))
    if status:
        return status
    return crpse_main(claims_command(args))


if __name__ == "__main__":
    sys.exit(main())
