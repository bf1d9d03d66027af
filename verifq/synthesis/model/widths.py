"""Exact widths and integer bits of a format group at a given fractional-bit count.

Weights and biases are rounded exactly (to nearest) and their widths counted;
accumulators and outputs get the integer bits their real range needs
(design-independent; a linear output layer is widened by its own error
bound, a tanh/sigmoid output by half an ulp of its lookup). Planning tabulates
these per candidate; decoding and repair use them off the candidate sets.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ...fixedpoint.format import Rounding, integer_bits, quantize_exact, signed_bits, unsigned_bits
from ...network.ir import Activation
from .records import Group, LayerData, ProblemData


def group_width(data: ProblemData, g: Group, f: int) -> tuple[int, int | None]:
    """(width, integer bits) of group g at fractional bits f (before allowed-width padding;
    an accumulator group's bias width is `bias_width`)."""
    if g.kind == "input":
        w = 1
        for k in g.members:
            a = quantize_exact(data.x_lo_q[k], f, data.rounding)
            b = quantize_exact(data.x_hi_q[k], f, data.rounding)
            w = max(w, signed_bits(a), signed_bits(b)) if g.signed else max(w, unsigned_bits(b))
        return w, w - f
    if g.kind == "weight":
        ld = data.layers[g.pos]
        w = 1
        for j in g.members:
            w = max(w, signed_bits(quantize_exact(ld.row_max[j], f, Rounding.NEAREST)),
                    signed_bits(quantize_exact(ld.row_min[j], f, Rounding.NEAREST)))
        return w, w - f
    ld = data.layers[g.pos]
    i = -10**9
    for j in g.members:
        i = max(i, value_int_bits(data, ld, j, g.kind, f))
    return max(1, f + i), i


def value_int_bits(data: ProblemData, ld: LayerData, j: int, kind: str, f: int) -> int:
    """Integer bits of a neuron's accumulator / output on its real range (zero error).
    A linear output layer is widened by its own error bound."""
    if kind == "accum":
        if data.saturate:
            s0 = abs(ld.bias[j]) + Fraction(float(ld.w_abs[j] @ np.maximum(np.abs(ld.x_lo), np.abs(ld.x_hi))))
            return integer_bits(-s0, s0, f)
        return integer_bits(ld.pre_lo_q[j], ld.pre_hi_q[j], f)
    widen = Fraction(0)
    if ld.pos == len(data.layers) - 1 and data.eps[j] is not None and ld.act is Activation.LINEAR:
        widen = Fraction(data.eps[j])
    if ld.act is Activation.RELU:
        return integer_bits(0, max(ld.pre_hi_q[j] + widen, Fraction(0)), f, signed=False)
    if ld.act is Activation.LINEAR:
        return integer_bits(ld.pre_lo_q[j] - widen, ld.pre_hi_q[j] + widen, f)
    h = Fraction(1, 2) * Fraction(2) ** (-f)
    return integer_bits(ld.post_lo_q[j] - h, ld.post_hi_q[j] + h, f)


def bias_width(data: ProblemData, g: Group, f: int) -> int:
    """Width of an accumulator group's biases stored at its fractional bits f."""
    ld = data.layers[g.pos]
    return max([1] + [signed_bits(quantize_exact(ld.bias[j], f, Rounding.NEAREST)) for j in g.members])


def cap_of(data: ProblemData, g: Group) -> int:
    """The widest format the limits allow for the group's role."""
    if g.kind == "accum":
        return data.cap_acc
    return data.cap_operand if g.kind in ("input", "weight", "output") else data.cap_word
