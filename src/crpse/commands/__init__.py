"""Sub-commands of the ``crpse`` CLI; each module has ``register(subparsers)`` and ``run(args)``."""
