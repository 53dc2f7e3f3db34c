"""crpse.nn.layers: the per-channel addition of the time embedding is the broadcast addition, bit for bit."""

from __future__ import annotations

import pytest
import torch

from crpse.nn.layers import add_channel_bias_


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("shape", [(1, 16, 8, 12), (3, 4, 5, 7), (2, 32, 6, 4), (1, 96, 4, 4), (2, 1, 3, 3)])
def test_add_channel_bias_matches_the_broadcast_addition(dtype, layout, shape) -> None:
    generator = torch.Generator().manual_seed(0)
    h = torch.randn(*shape, generator=generator).to(dtype).contiguous(memory_format=layout)
    bias = torch.randn(shape[0], shape[1], generator=generator).to(dtype)
    expected = h + bias[:, :, None, None]
    result = add_channel_bias_(h, bias)
    assert result is h
    assert h.is_contiguous(memory_format=layout)
    assert torch.equal(h, expected)


def test_add_channel_bias_adds_each_channel_its_own_value() -> None:
    """16 channels last (the bundled model's top resolution: the regrouped path) over 24 pixels."""
    h = torch.zeros(1, 16, 4, 6).contiguous(memory_format=torch.channels_last)
    bias = torch.arange(16, dtype=torch.float32)[None]
    add_channel_bias_(h, bias)
    assert torch.equal(h, bias[:, :, None, None].expand(1, 16, 4, 6))
