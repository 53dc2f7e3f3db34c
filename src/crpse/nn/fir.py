"""FIR up/down-sampling by 2 with the [1, 3, 3, 1] kernel of NCSN++ (StyleGAN2's ``upfirdn2d``), in plain PyTorch.

The reference ships a CUDA kernel plus a slow native fallback. Both compute, per channel,
``upsample_2d``: zero-insertion by 2, padding (2, 1), convolution with ``4 * k``, and
``downsample_2d``: padding (1, 1), convolution with ``k``, keeping every second sample, where ``k`` is the
separable 2-D kernel ``outer(h, h) / sum(outer(h, h))``. Here the same functions are a strided depthwise
``conv2d`` and ``conv_transpose2d``, which run on any device.

On the CPU, bf16 depthwise ``conv_transpose2d`` is 5-9x slower than fp32 (oneDNN has no fast kernel for it;
BENCHMARKS.md section 19), so under CPU bf16 autocast, or for a bf16 input on the CPU, the upsampling runs in fp32 and
its result is cast back: faster, and closer to the fp32 result.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def fir_kernel_2d(taps: Sequence[float], device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The normalised separable 2-D kernel ``outer(taps, taps) / sum``, ``[K, K]``."""
    h = torch.as_tensor(taps, dtype=dtype, device=device)
    k = torch.outer(h, h)
    return k / k.sum()


def _depthwise(kernel: torch.Tensor, channels: int) -> torch.Tensor:
    # The reference convolves with the flipped kernel (true convolution); flipping makes this exact for any taps.
    return torch.flip(kernel, (0, 1)).expand(channels, 1, *kernel.shape)


def downsample_2d(x: torch.Tensor, taps: Sequence[float] = (1, 3, 3, 1)) -> torch.Tensor:
    """FIR-filter and downsample by 2 along both spatial axes. ``[B, C, H, W] -> [B, C, H/2, W/2]``."""
    k = fir_kernel_2d(taps, x.device, x.dtype)
    p = k.shape[0] - 2
    channels = int(x.shape[1])  # a plain int even while tracing: graph exporters need a kernel of known shape
    x = F.pad(x, ((p + 1) // 2, p // 2, (p + 1) // 2, p // 2))
    return F.conv2d(x, _depthwise(k, channels), stride=2, groups=channels)


def upsample_2d(x: torch.Tensor, taps: Sequence[float] = (1, 3, 3, 1)) -> torch.Tensor:
    """Upsample by 2 along both spatial axes and FIR-filter (gain 4). ``[B, C, H, W] -> [B, C, 2H, 2W]``."""
    k = fir_kernel_2d(taps, x.device, x.dtype) * 4
    size = k.shape[0]
    p = size - 2
    pad_before = (p + 1) // 2 + 1
    # Zero-insertion, padding (pad_before, p // 2) and a true convolution with k equal a stride-2 transposed
    # convolution with weight k and padding size - 1 - pad_before.
    channels = int(x.shape[1])  # a plain int even while tracing (see downsample_2d)
    if x.device.type == "cpu" and (x.dtype == torch.bfloat16 or torch.is_autocast_enabled("cpu")):
        dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
        with torch.autocast("cpu", enabled=False):
            weight = k.float().expand(channels, 1, size, size)
            y = F.conv_transpose2d(x.float(), weight, stride=2, padding=size - 1 - pad_before, groups=channels)
        return y.to(dtype)
    weight = k.expand(channels, 1, size, size)
    return F.conv_transpose2d(x, weight, stride=2, padding=size - 1 - pad_before, groups=channels)
