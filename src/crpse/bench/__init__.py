"""Experiments over checkpoints (``crpse bench``): quality tables, sampler sweeps and validated regions.

* :mod:`crpse.bench.grid`: the sampler-setting grid language (``pc:30:c=1``, ``reverse:1..5:t=0.5``), torch-free.
* :mod:`crpse.bench.stats`: mean ± std and the seeded paired bootstrap of a difference.
* :mod:`crpse.bench.quality`: enhance test splits with each model at each setting (through
  :class:`crpse.enhancer.Enhancer`, the code ``crpse enhance`` runs), score them (:mod:`crpse.evaluation`) and
  tabulate.
* :mod:`crpse.bench.figures`: metric-against-NFE plots and sweep heatmaps.
* :mod:`crpse.bench.region`: a model's validated region (settings within a PESQ tolerance of its best on valid/).
"""
