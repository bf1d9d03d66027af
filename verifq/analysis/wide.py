"""A uniform design wide enough to prove no overflow, with a chosen number of
fractional bits: integer bits come from the analysed ranges. Used to
exercise the analysis on real networks (soundness sweeps, tightness
benchmarks), not as an optimiser (that is `verifq synth`)."""

from __future__ import annotations

import math
from dataclasses import replace

from ..fixedpoint.design import Design
from ..fixedpoint.format import FixedFormat, Overflow, Rounding
from ..numeric import scaled
from .prove import Analysis, analyse


def _int_bits(magnitude: float) -> int:
    return max(1, math.ceil(math.log2(magnitude + 1e-300)) + 1) if magnitude > 0 else 1


def uniform_design(network, i_bits: int, frac: int, acc_i: int, rounding: Rounding, overflow: Overflow, fixed_inputs: bool) -> Design:
    """fixed<i_bits+frac, i_bits> everywhere, accumulators fixed<acc_i+2 frac, acc_i>."""
    return Design.uniform([l.n_out for l in network.layers], network.n_inputs, FixedFormat(i_bits + frac, i_bits),
                          rounding, overflow, fixed_inputs, accum=FixedFormat(acc_i + 2 * frac, acc_i))


def wide_uniform_analysis(problem, frac: int = 16, rounding: Rounding = Rounding.TRUNCATE,
                          overflow: Overflow = Overflow.WRAP, fixed_inputs: bool = False, tries: int = 6,
                          **methods) -> Analysis:
    """Analysis of the narrowest-integer-bits uniform fixed<I+frac, I> design that has no overflow
    (`methods`: range_method / error_method of `analyse`, default its own)."""
    problem = without_limits(problem)
    probe = analyse(problem, uniform_design(problem.network, 40, frac, 60, rounding, overflow, fixed_inputs), **methods)
    mags = [max(abs(scaled.to_float(v)) for v in (*probe.inputs.q_lo, *probe.inputs.q_hi))]
    acc_mags = []
    for la in probe.layers:
        e = la.errors
        mags.append(max(abs(scaled.to_float(v)) for v in (*e.out_lo, *e.out_hi)))
        acc_mags.append(max(abs(scaled.to_float(v)) for v in (*e.acc_lo, *e.acc_hi)))
    for layer in problem.network.layers:
        mags.append(max(abs(float(w)) for row in layer.weights for w in row))
        mags.append(max(abs(float(b)) for b in layer.bias))
    i_bits, acc_i = _int_bits(max(mags)), _int_bits(max(acc_mags))
    for _ in range(tries):
        a = analyse(problem, uniform_design(problem.network, i_bits, frac, acc_i, rounding, overflow, fixed_inputs), **methods)
        if not any(v.kind != "error" for v in a.violations):
            return a
        i_bits, acc_i = i_bits + 1, acc_i + 1
    return a


def without_limits(problem):
    """The problem with word-length limits lifted (max word 1024, no accumulator or width limit):
    these sweeps analyse designs wider than a spec's defaults on purpose."""
    impl = replace(problem.implementation, max_word=1024, max_accumulator=None, allowed_widths=None)
    return replace(problem, implementation=impl)


def without_error_requirement(problem):
    return replace(problem, max_error=(None,) * problem.network.n_outputs)
