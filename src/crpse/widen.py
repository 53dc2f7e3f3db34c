"""Function-preserving widening of NCSN++: more channels per U-Net level, the same outputs at the start.

A trained network is embedded in a wider one (larger ``ch_mult`` entries, everything else equal) so that training can
go on from where it stood instead of from scratch (Net2Net: Chen, Goodfellow and Shlens, *Net2Net: Accelerating
learning via knowledge transfer*, ICLR 2016; here its zero-initialised variant):

* every old channel keeps its position within each part of a feature map (a level's map, or each half of a decoder
  block's concatenated input) and its weights; new channels follow the old ones of their part;
* new channels get the wider network's own fresh initialisation for their incoming weights, and zero outgoing weights
  into old channels, so at the start they change nothing, yet they receive gradients from the first step;
* a residual block that needs a 1x1 shortcut only in the wider network (its input and output widths now differ)
  gets the identity on the old channels;
* attention scales its logits by ``C ** -0.5``; the old query weights are multiplied by ``sqrt(C_new / C_old)`` and
  the new queries start at zero, so the logits are unchanged;
* group norms are the one place where new channels could change old ones (statistics are shared within a group). The
  embedding is exact when every group norm has the same group size (4 channels: ``min(C // 4, 32)`` groups) before
  and after, and the parts start at multiples of it: then each old group is a group of the wider network and new
  channels form groups of their own. :func:`widen_model` checks this and raises unless ``allow_inexact``.

The network is ``crpse.nn.ncsnpp.NCSNpp``; module order and names are those of its constructor, which
:func:`_module_layouts` walks in step for the two configurations.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crpse.bf16_record import BF16_COST_KEY
from crpse.checkpoint import FORMAT, model_from_checkpoint, read_checkpoint, save_model
from crpse.nn.ncsnpp import NCSNppConfig
from crpse.score_model import Model, model_from_config
from crpse.validated_region import REGION_KEY

#: a feature map's channels as parts, each ``(old channels, new channels)``; one part, or two for a concatenation
Layout = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class _Slot:
    """One module of ``all_modules``: its kind and the channel layouts of its input and output."""

    kind: str  # fourier | dense | conv_in | resblock | attention | combine | norm | conv_out
    inputs: Layout = ()
    outputs: Layout = ()


def _part(old: int, new: int) -> Layout:
    return ((old, new),)


def _module_layouts(old: NCSNppConfig, new: NCSNppConfig) -> Iterator[_Slot]:
    """The modules of ``NCSNpp(new)`` in registration order with old/new channel layouts (mirrors its constructor)."""
    nf = new.nf
    levels = len(new.ch_mult)
    channels = new.num_channels
    yield _Slot("fourier")
    if new.conditional:
        yield _Slot("dense")
        yield _Slot("dense")
    yield _Slot("conv_in", _part(channels, channels), _part(nf, nf))

    def width(level: int) -> tuple[int, int]:
        return nf * old.ch_mult[level], nf * new.ch_mult[level]

    attention = [res in new.attn_resolutions for res in (new.image_size // 2**level for level in range(levels))]
    skips: list[Layout] = [_part(nf, nf)]
    current: Layout = _part(nf, nf)
    for level in range(levels):
        for _ in range(new.num_res_blocks):
            out = _part(*width(level))
            yield _Slot("resblock", current, out)
            current = out
            if attention[level]:
                yield _Slot("attention", current, current)
            skips.append(current)
        if level != levels - 1:
            yield _Slot("resblock", current, current)  # down-sampling
            if new.progressive_input == "input_skip":
                yield _Slot("combine", _part(channels, channels), current)
            skips.append(current)
    current = skips[-1]
    yield _Slot("resblock", current, current)
    yield _Slot("attention", current, current)
    yield _Slot("resblock", current, current)
    for level in reversed(range(levels)):
        for _ in range(new.num_res_blocks + 1):
            out = _part(*width(level))
            yield _Slot("resblock", current + skips.pop(), out)
            current = out
        if attention[level]:
            yield _Slot("attention", current, current)
        if new.progressive == "output_skip":
            yield _Slot("norm", current, current)
            yield _Slot("conv_out", current, _part(channels, channels))
        if level != 0:
            yield _Slot("resblock", current, current)  # up-sampling
    if new.progressive != "output_skip":
        yield _Slot("norm", current, current)
        yield _Slot("conv_out", current, _part(channels, channels))


def _old_positions(layout: Layout) -> torch.Tensor:
    """Indices, in the wider map, of the old channels in their old order."""
    positions, offset = [], 0
    for old, new in layout:
        positions.extend(range(offset, offset + old))
        offset += new
    return torch.tensor(positions, dtype=torch.long)


def _widths(layout: Layout) -> tuple[int, int]:
    return sum(old for old, _ in layout), sum(new for _, new in layout)


def _check_norm(new: nn.GroupNorm, old: nn.GroupNorm, layout: Layout, name: str, problems: list[str]) -> None:
    """Record why ``new`` (``old`` widened) would mix new channels into old channels' statistics, if it does."""
    old_width, new_width = _widths(layout)
    old_size = old_width // old.num_groups
    new_size = new_width // new.num_groups
    offsets = [0]
    for _, new in layout:
        offsets.append(offsets[-1] + new)
    if old_size != new_size or any(offset % new_size for offset in offsets[:-1]) or any(
        old % old_size for old, _ in layout
    ):
        problems.append(f"{name}: {old_width} -> {new_width} channels, groups of {old_size} -> {new_size}")


def _embed(target: torch.Tensor, source: torch.Tensor, out_pos: torch.Tensor, in_pos: torch.Tensor | None = None,
           out_axis: int = 0, in_axis: int = 1) -> None:
    """Copy ``source`` into ``target`` at the old positions, in place; the old outputs' weights from new inputs are 0.

    ``out_pos``/``in_pos``: the old positions along ``out_axis``/``in_axis`` (``in_pos`` ``None``: no input axis, as
    for a bias). Rows of new outputs keep ``target``'s values.
    """
    if in_pos is None:
        target.movedim(out_axis, 0)[out_pos] = source.movedim(out_axis, 0)
        return
    view = target.movedim((out_axis, in_axis), (0, 1))
    view[out_pos] = 0
    view[out_pos[:, None], in_pos[None, :]] = source.movedim((out_axis, in_axis), (0, 1))


def _embed_conv(new: nn.Conv2d, old: nn.Conv2d, inputs: Layout, outputs: Layout) -> None:
    out_pos, in_pos = _old_positions(outputs), _old_positions(inputs)
    _embed(new.weight.data, old.weight.data, out_pos, in_pos)
    if new.bias is not None:
        _embed(new.bias.data, old.bias.data, out_pos)


def _embed_norm(new: nn.GroupNorm, old: nn.GroupNorm, layout: Layout) -> None:
    positions = _old_positions(layout)
    _embed(new.weight.data, old.weight.data, positions)
    _embed(new.bias.data, old.bias.data, positions)


def _embed_resblock(new: nn.Module, old: nn.Module, inputs: Layout, outputs: Layout) -> None:
    _embed_norm(new.GroupNorm_0, old.GroupNorm_0, inputs)
    _embed_conv(new.Conv_0, old.Conv_0, inputs, outputs)
    if hasattr(new, "Dense_0"):
        out_pos = _old_positions(outputs)
        _embed(new.Dense_0.weight.data, old.Dense_0.weight.data, out_pos)
        _embed(new.Dense_0.bias.data, old.Dense_0.bias.data, out_pos)
    _embed_norm(new.GroupNorm_1, old.GroupNorm_1, outputs)
    _embed_conv(new.Conv_1, old.Conv_1, outputs, outputs)
    if hasattr(old, "Conv_2"):
        if not hasattr(new, "Conv_2"):
            raise ValueError(
                f"a residual block's 1x1 shortcut ({_widths(inputs)[0]} -> {_widths(outputs)[0]} channels) would "
                "become the identity in the wider network, which cannot hold it; widen the level before it as well"
            )
        _embed_conv(new.Conv_2, old.Conv_2, inputs, outputs)
    elif hasattr(new, "Conv_2"):  # the old block's shortcut was the identity
        width = _widths(outputs)[0]
        out_pos = _old_positions(outputs)
        _embed(new.Conv_2.weight.data, torch.eye(width)[:, :, None, None], out_pos, _old_positions(inputs))
        _embed(new.Conv_2.bias.data, torch.zeros(width), out_pos)


def _embed_attention(new: nn.Module, old: nn.Module, layout: Layout) -> None:
    old_width, new_width = _widths(layout)
    positions = _old_positions(layout)
    _embed_norm(new.GroupNorm_0, old.GroupNorm_0, layout)
    # NIN weights are [in, units]; queries: old units rescaled for the wider C ** -0.5, new units zero
    new.NIN_0.W.data.zero_()
    new.NIN_0.b.data.zero_()
    for index, (new_nin, old_nin) in enumerate(((new.NIN_0, old.NIN_0), (new.NIN_1, old.NIN_1),
                                                 (new.NIN_2, old.NIN_2), (new.NIN_3, old.NIN_3))):
        scale = math.sqrt(new_width / old_width) if index == 0 else 1.0
        _embed(new_nin.W.data, old_nin.W.data * scale, positions, positions, out_axis=1, in_axis=0)
        _embed(new_nin.b.data, old_nin.b.data * scale, positions)


def widen_model(model: Model, ch_mult: Sequence[int], seed: int = 0, allow_inexact: bool = False) -> Model:
    """A copy of ``model`` with ``ch_mult`` channel multipliers whose outputs equal ``model``'s (see the module doc).

    Args:
        model: a crpse score or predictive model (NCSN++ backbone).
        ch_mult: the new multipliers, one per level, each at least the old one.
        seed: seed of the new channels' initialisation.
        allow_inexact: widen even where a group norm's group size changes (the outputs then differ; see the module
            docstring); otherwise that raises.

    Returns:
        The wider model in eval mode, on the CPU, with ``model``'s configuration apart from ``ch_mult``.

    Raises:
        ValueError: a different number of levels, a multiplier smaller than before, or (without ``allow_inexact``)
            a group norm that the widening would change.
    """
    old_cfg = model.config.backbone
    ch_mult = tuple(int(m) for m in ch_mult)
    if len(ch_mult) != len(old_cfg.ch_mult):
        levels = len(old_cfg.ch_mult)
        raise ValueError(f"ch_mult needs {levels} levels like the model's {old_cfg.ch_mult}, got {ch_mult}")
    if any(new < old for new, old in zip(ch_mult, old_cfg.ch_mult, strict=True)):
        raise ValueError(f"ch_mult {ch_mult} would narrow the model's {old_cfg.ch_mult}; only widening is supported")
    if old_cfg.progressive_combine != "sum":
        raise ValueError("only progressive_combine='sum' networks can be widened")
    new_cfg = replace(old_cfg, ch_mult=ch_mult)
    wide = model_from_config(replace(model.config, backbone=new_cfg), seed=seed)
    old_modules = list(model.dnn.all_modules)
    new_modules = list(wide.dnn.all_modules)
    slots = list(_module_layouts(old_cfg, new_cfg))
    if not len(slots) == len(old_modules) == len(new_modules):
        raise AssertionError("widening: the module walk does not match NCSNpp's constructor")
    problems: list[str] = []
    with torch.no_grad():
        wide.dnn.output_layer.load_state_dict(model.dnn.output_layer.state_dict())
        for index, (slot, new, old) in enumerate(zip(slots, new_modules, old_modules, strict=True)):
            name = f"all_modules.{index}"
            if slot.kind in ("fourier", "dense"):
                new.load_state_dict(old.state_dict())
            elif slot.kind in ("conv_in", "conv_out"):
                _embed_conv(new, old, slot.inputs, slot.outputs)
            elif slot.kind == "combine":
                _embed_conv(new.Conv_0, old.Conv_0, slot.inputs, slot.outputs)
            elif slot.kind == "norm":
                _check_norm(new, old, slot.inputs, name, problems)
                _embed_norm(new, old, slot.inputs)
            elif slot.kind == "attention":
                _check_norm(new.GroupNorm_0, old.GroupNorm_0, slot.inputs, f"{name}.GroupNorm_0", problems)
                _embed_attention(new, old, slot.inputs)
            else:  # resblock
                _check_norm(new.GroupNorm_0, old.GroupNorm_0, slot.inputs, f"{name}.GroupNorm_0", problems)
                _check_norm(new.GroupNorm_1, old.GroupNorm_1, slot.outputs, f"{name}.GroupNorm_1", problems)
                _embed_resblock(new, old, slot.inputs, slot.outputs)
    if problems and not allow_inexact:
        raise ValueError(
            "widening to ch_mult " + ",".join(map(str, ch_mult)) + " would change these group norms' statistics, so "
            "the outputs would differ (allow_inexact widens anyway): " + "; ".join(problems)
        )
    return wide.eval()


def widen_checkpoint(
    source: str | os.PathLike[str], destination: str | os.PathLike[str], ch_mult: Sequence[int], seed: int = 0,
    allow_inexact: bool = False,
) -> Path:
    """Write ``source``'s EMA weights (the ones inference uses) widened to ``ch_mult`` as an export-style checkpoint.

    The new checkpoint records its origin under ``extra["widened_from"]``; a source's validated region and bf16 record
    belong to its own weights and are not carried over. ``source`` may name a bundled model (``"default"``).
    """
    from crpse.assets import resolve_model

    source = resolve_model(source)
    data = read_checkpoint(source)
    model = model_from_checkpoint(data, ema=True, path=source)
    wide = widen_model(model, ch_mult, seed=seed, allow_inexact=allow_inexact)
    origin: dict[str, Any] = {
        "source": str(source),
        "ch_mult": list(model.config.backbone.ch_mult),
        "seed": seed,
        "exact": not allow_inexact,
    }
    if data.get("format") == FORMAT:
        origin["source_extra"] = {
            k: v for k, v in (data.get("extra") or {}).items() if k not in (REGION_KEY, BF16_COST_KEY)
        }
    return save_model(destination, wide, extra={"widened_from": origin})


__all__ = ["widen_checkpoint", "widen_model"]
