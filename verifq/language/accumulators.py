"""The accumulators of an integer (QONNX) network in a spec: `accumulator profile`, `accumulator
order` and `max accumulator` / `accumulator` in the implementation block (every layer), and the
`accumulators { layer N { ... }  layer "node" { ... } }` block (per layer)."""

from __future__ import annotations

import dataclasses

from ..errors import UserError
from ..fixedpoint.format import Overflow
from ..problem import ACCUMULATOR_ORDERS, ACCUMULATOR_PROFILES, Implementation, LayerAccumulator
from .formats import _line_of
from .parser import AccLayer, AccumulatorsBlock, Num, Setting, Name
from .values import MAX_WORD_LIMIT, _enum_setting, _int_setting, _settings, choice_hint, plural, whole

LAYER_ACCUMULATOR_KEYS = ("max accumulator", "accumulator", "accumulator order", "accumulator profile")


def profile_setting(setting: Setting | None):
    """The named accumulator profile of `accumulator profile = NAME` (None when not given)."""
    if setting is None:
        return None
    names = list(ACCUMULATOR_PROFILES)
    about = "; ".join(f"{n}: {p.width} bits, {p.mode.value}, {p.order}" for n, p in ACCUMULATOR_PROFILES.items())
    value = setting.value
    if not isinstance(value, Name):
        raise UserError("'accumulator profile' must be a profile name", value.loc, f"profiles: {about}")
    if value.text not in ACCUMULATOR_PROFILES:
        raise UserError(f"unknown accumulator profile '{value.text}'", value.loc,
                        choice_hint(value.text, names, "profiles") + f" ({about})")
    return ACCUMULATOR_PROFILES[value.text]


def order_setting(setting: Setting | None, default: str) -> str:
    """`accumulator order = sequential | bias_last | split_sign`."""
    if setting is None:
        return default
    value = setting.value
    hint = ("sequential: the bias first, then the products in weight order; bias_last: the products, then the bias; "
            "split_sign: positive and negative products in two accumulators, then combined (only if the hardware does so)")
    if not isinstance(value, Name):
        raise UserError("'accumulator order' must be a name", value.loc, hint)
    if value.text not in ACCUMULATOR_ORDERS:
        raise UserError(f"unknown accumulator order '{value.text}'", value.loc,
                        choice_hint(value.text, ACCUMULATOR_ORDERS, "'accumulator order' is one of") + f" ({hint})")
    return value.text


def layer_accumulators(impl: Implementation, block: AccumulatorsBlock | None, quantized,
                       settings: dict[str, Setting] | None = None) -> Implementation:
    """Every layer's accumulator of an integer network: the implementation block's settings,
    overridden per layer (by number from 1, or by the MatMul/Gemm node's name) by the
    `accumulators` block; within one block, explicit settings override its profile."""
    if quantized is None:
        if block is not None:
            raise UserError("an accumulators block needs an already-quantized (QONNX) network", block.loc,
                            "per-layer accumulators apply to integer networks; for a float network use "
                            "`max accumulator` in the implementation block")
        settings = settings or {}
        if "accumulator profile" in settings:  # its mode and order are the integer semantics'
            raise UserError("an accumulator profile needs an already-quantized (QONNX) network",
                            settings["accumulator profile"].value.loc,
                            "for a float network state the accumulator width with `max accumulator` and its "
                            "overflow behaviour with `overflow = wrap | saturate`")
        if impl.accumulator_order != "sequential":  # the fixed-point semantics adds the bias first
            raise UserError(f"accumulator order {impl.accumulator_order} needs an already-quantized (QONNX) network",
                            settings["accumulator order"].value.loc,
                            "verifq's fixed-point designs start each accumulator at the bias and add the products "
                            "in input order (sequential); drop the setting")
        return impl
    layers = quantized.layers
    base = LayerAccumulator(impl.max_accumulator, impl.accumulator, impl.accumulator_order)
    chosen = [base] * len(layers)
    given: dict[int, AccLayer] = {}
    for entry in block.layers if block else ():
        index = _acc_layer_index(entry, [l.node for l in layers])
        if index in given:
            raise UserError(f"duplicate accumulators entry for layer {index + 1} ({layers[index].node})", entry.ref.loc,
                            f"layer {index + 1} is already given on {_line_of(given[index].loc)}")
        given[index] = entry
        s = _settings(entry, LAYER_ACCUMULATOR_KEYS, "layer accumulator")
        profile = profile_setting(s.get("accumulator profile"))
        width = _int_setting(s.get("max accumulator"), 1, MAX_WORD_LIMIT, profile.width if profile else base.width)
        mode = _enum_setting(s.get("accumulator"), Overflow, profile.mode if profile else base.mode)
        chosen[index] = LayerAccumulator(width, mode, order_setting(s.get("accumulator order"),
                                                                     profile.order if profile else base.order))
    return dataclasses.replace(impl, layer_accumulators=tuple(chosen))


def _acc_layer_index(entry: AccLayer, nodes: list[str]) -> int:
    """The 0-based layer an accumulators entry names (`layer 2` or `layer "node name"`)."""
    listing = ", ".join(f'{i + 1} "{n}"' for i, n in enumerate(nodes))
    if isinstance(entry.ref, Num):
        hint = f"the network's layers (MatMul/Gemm nodes) are numbered from 1: {listing}"
        i = whole(entry.ref, "a layer number", hint)
        if not 1 <= i <= len(nodes):
            raise UserError(f"layer {i} is out of range: the network has {plural(len(nodes), 'layer')}",
                            entry.ref.loc, hint)
        return i - 1
    if entry.ref.value not in nodes:
        raise UserError(f"unknown layer '{entry.ref.value}'", entry.ref.loc,
                        choice_hint(entry.ref.value, nodes, "the network's layers (MatMul/Gemm node names)"))
    return nodes.index(entry.ref.value)
