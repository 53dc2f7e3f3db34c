"""Building blocks of NCSN++ (Song et al. 2021), with the reference's parameter names.

Names matter: ``GroupNorm_0``, ``Conv_0``, ``Dense_0``, ``NIN_0.W`` ... are the names in sgmse / sgmse_crp
checkpoints, so their ``state_dict`` loads without remapping.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from crpse.nn.fir import downsample_2d, upsample_2d


def variance_scaling_uniform(shape: Sequence[int], scale: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """DDPM ``default_init``: U(-a, a) with ``a = sqrt(3 * scale / fan_avg)``; ``scale = 0`` means 1e-10.

    Fans follow the reference: axis 1 is "in", axis 0 is "out", the rest is the receptive field.
    """
    scale = 1e-10 if scale == 0 else scale
    receptive = math.prod(shape) / shape[1] / shape[0]
    fan_avg = (shape[0] + shape[1]) * receptive / 2
    bound = math.sqrt(3 * scale / fan_avg)
    return (torch.rand(*shape, generator=generator) * 2 - 1) * bound


def conv2d(in_ch: int, out_ch: int, kernel_size: int, init_scale: float = 1.0, bias: bool = True) -> nn.Conv2d:
    """A 'same'-padded conv with DDPM initialisation (zero bias)."""
    conv = nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=bias)
    with torch.no_grad():
        conv.weight.copy_(variance_scaling_uniform(conv.weight.shape, init_scale))
        if bias:
            conv.bias.zero_()
    return conv


def linear(in_features: int, out_features: int) -> nn.Linear:
    """A dense layer with DDPM initialisation (zero bias)."""
    layer = nn.Linear(in_features, out_features)
    with torch.no_grad():
        layer.weight.copy_(variance_scaling_uniform(layer.weight.shape))
        layer.bias.zero_()
    return layer


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with ``min(C // 4, 32)`` groups and eps 1e-6, as in the reference."""
    return nn.GroupNorm(num_groups=min(channels // 4, 32), num_channels=channels, eps=1e-6)


class GaussianFourierProjection(nn.Module):
    """Fixed random Fourier features of a scalar: ``[sin(2 pi u W), cos(2 pi u W)]``. ``[B] -> [B, 2 * size]``."""

    def __init__(self, embedding_size: int, scale: float) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.randn(embedding_size) * scale, requires_grad=False)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        proj = u[:, None] * self.W[None, :] * 2 * math.pi
        return torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)


class NIN(nn.Module):
    """Per-pixel linear map over channels ("network in network"): ``[B, C, H, W] -> [B, units, H, W]``."""

    def __init__(self, in_dim: int, num_units: int, init_scale: float = 0.1) -> None:
        super().__init__()
        self.W = nn.Parameter(variance_scaling_uniform((in_dim, num_units), init_scale))
        self.b = nn.Parameter(torch.zeros(num_units))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bchw,cu->buhw", x, self.W) + self.b[None, :, None, None]


class AttnBlock(nn.Module):
    """Single-head self-attention over all H*W positions, residual, optionally rescaled by 1/sqrt(2)."""

    def __init__(self, channels: int, skip_rescale: bool = True, init_scale: float = 0.0) -> None:
        super().__init__()
        self.GroupNorm_0 = group_norm(channels)
        self.NIN_0 = NIN(channels, channels)
        self.NIN_1 = NIN(channels, channels)
        self.NIN_2 = NIN(channels, channels)
        self.NIN_3 = NIN(channels, channels, init_scale=init_scale)
        self.skip_rescale = skip_rescale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        normed = self.GroupNorm_0(x)
        q = self.NIN_0(normed).flatten(2)  # [B, C, HW]
        k = self.NIN_1(normed).flatten(2)
        v = self.NIN_2(normed).flatten(2)
        weights = torch.softmax(torch.einsum("bcq,bck->bqk", q, k) * (c ** -0.5), dim=-1)
        out = self.NIN_3(torch.einsum("bqk,bck->bcq", weights, v).reshape(b, c, h, w))
        return (x + out) / math.sqrt(2.0) if self.skip_rescale else x + out


class Combine(nn.Module):
    """Merge the input pyramid into the feature map: 1x1 conv then sum or concatenation."""

    def __init__(self, in_ch: int, out_ch: int, method: str = "sum") -> None:
        super().__init__()
        if method not in ("sum", "cat"):
            raise ValueError(f"combine method must be 'sum' or 'cat', got {method!r}")
        self.Conv_0 = conv2d(in_ch, out_ch, 1)
        self.method = method

    def forward(self, pyramid: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        p = self.Conv_0(pyramid)
        return torch.cat([p, h], dim=1) if self.method == "cat" else p + h


#: channels-last rows shorter than this many elements are regrouped before a per-channel addition (see below)
_MIN_ROW = 64


def add_channel_bias_(h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``h += bias[:, :, None, None]`` in place, for ``h [B, C, H, W]`` and ``bias [B, C]``; returns ``h``.

    Bit-identical to the broadcast addition (the same element-wise sums). For a channels-last ``h`` with few channels
    it adds through a view whose rows hold ``k`` pixels (``bias`` repeated ``k`` times): PyTorch's CPU kernel for a
    bf16 broadcast over rows of 16 elements is about 15x slower than over rows of 64 or more (BENCHMARKS.md 25), and
    these additions at the top resolution were 6 % of the bundled model's bf16 call.
    """
    batch, channels, height, width = h.shape
    if channels < _MIN_ROW and h.is_contiguous(memory_format=torch.channels_last) and not h.is_contiguous():
        k = 1
        while channels * k < _MIN_ROW and (height * width) % (2 * k) == 0:
            k *= 2
        rows = h.permute(0, 2, 3, 1).view(batch, height * width // k, channels * k)
        rows.add_(bias.repeat(1, k)[:, None, :])
        return h
    h += bias[:, :, None, None]
    return h


class ResnetBlockBigGAN(nn.Module):
    """BigGAN-style residual block with time conditioning and optional FIR up/down-sampling of both branches."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int | None = None,
        temb_dim: int | None = None,
        up: bool = False,
        down: bool = False,
        dropout: float = 0.0,
        fir_taps: Sequence[float] = (1, 3, 3, 1),
        skip_rescale: bool = True,
        init_scale: float = 0.0,
    ) -> None:
        super().__init__()
        out_ch = out_ch or in_ch
        self.GroupNorm_0 = group_norm(in_ch)
        self.Conv_0 = conv2d(in_ch, out_ch, 3)
        if temb_dim is not None:
            self.Dense_0 = linear(temb_dim, out_ch)
        self.GroupNorm_1 = group_norm(out_ch)
        self.Dropout_0 = nn.Dropout(dropout)
        self.Conv_1 = conv2d(out_ch, out_ch, 3, init_scale=init_scale)
        if in_ch != out_ch or up or down:
            self.Conv_2 = conv2d(in_ch, out_ch, 1)
        self.up, self.down = up, down
        self.fir_taps = tuple(fir_taps)
        self.skip_rescale = skip_rescale
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        if not (torch.is_grad_enabled() or self.training):
            return self._forward_no_grad(x, temb)
        h, x = self._resample(self.act(self.GroupNorm_0(x)), x)
        h = self.Conv_0(h)
        if temb is not None:
            h = h + self.Dense_0(self.act(temb))[:, :, None, None]
        h = self.Conv_1(self.Dropout_0(self.act(self.GroupNorm_1(h))))
        x = self._shortcut(x)
        return (x + h) / math.sqrt(2.0) if self.skip_rescale else x + h

    def _resample(self, h: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both branches FIR up- or down-sampled (unchanged when the block keeps the resolution)."""
        if self.up:
            return upsample_2d(h, self.fir_taps), upsample_2d(x, self.fir_taps)
        if self.down:
            return downsample_2d(h, self.fir_taps), downsample_2d(x, self.fir_taps)
        return h, x

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """The skip branch: a 1x1 convolution when the channels or the resolution change, else ``x`` itself."""
        return self.Conv_2(x) if hasattr(self, "Conv_2") else x

    def _forward_no_grad(self, x: torch.Tensor, temb: torch.Tensor | None) -> torch.Tensor:
        """:meth:`forward` without autograd: the same operations in the same order, but every intermediate the block
        allocated itself is updated in place, so a call allocates about half as many feature maps (less memory,
        fewer page faults); the result is bit-identical. ``x`` is never written (it may be a skip connection the
        caller still needs)."""
        h, x = self._resample(F.silu(self.GroupNorm_0(x), inplace=True), x)
        h = self.Conv_0(h)
        if temb is not None:
            add_channel_bias_(h, self.Dense_0(F.silu(temb)))
        h = self.Conv_1(F.silu(self.GroupNorm_1(h), inplace=True))  # Dropout is the identity in eval mode
        h.add_(self._shortcut(x))
        return h.div_(math.sqrt(2.0)) if self.skip_rescale else h
