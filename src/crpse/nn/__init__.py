"""Neural network backbones (pure PyTorch, no compiled extensions)."""

from crpse.nn.ncsnpp import NAMED_CONFIGS, NCSNpp, NCSNppConfig, named_config

__all__ = ["NAMED_CONFIGS", "NCSNpp", "NCSNppConfig", "named_config"]
