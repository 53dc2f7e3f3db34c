"""``python -m crpse`` runs the command line."""

import sys

from crpse.cli import main

sys.exit(main())
