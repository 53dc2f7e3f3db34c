"""``python -m crpse`` runs the command line."""

from crpse.cli import console

console()
