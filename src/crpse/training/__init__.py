"""Training of DSM (stage 1), CRP (stage 2) and predictive models with Lightning as the training shell.

Modules: :mod:`~crpse.training.runner` (options -> Trainer), :mod:`~crpse.training.module` (the LightningModule),
:mod:`~crpse.training.datamodule`, :mod:`~crpse.training.checkpointing` (atomic checkpoints and the callback),
and the Lightning-free :mod:`~crpse.training.ema`, :mod:`~crpse.training.initialization`,
:mod:`~crpse.training.validation`, :mod:`~crpse.training.settings` and :mod:`~crpse.training.rng`.
Importing this package imports nothing heavy; only the modules that need Lightning import it.
"""
