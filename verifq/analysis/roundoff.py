"""Roundoff-error bounds and quantized-value ranges of a design.

For neuron j of a dense layer with inputs x (real) and x~ (quantized),
|x~_k - x_k| <= e_k:

  acc~_j - z_j = (b_eff_j - b_j) + sum_k [ w~_jk (x~_k - x_k) + (w~_jk - w_jk) x_k ]
                 + sum_k (rounding of product k to the accumulator)

so  E_acc_j = |b_eff_j - b_j| + sum_k |w~_jk| e_k + sum_k |w~_jk - w_jk| max|x_k| + sum_k r_jk
(row l1 norms of the quantized weights and exact per-weight quantization
errors -- never signed sums). Rounding the sum to the output grid adds
r_out_j; the activation then multiplies by its Lipschitz constant (ReLU: 1,
and 0 when both the real and the quantized pre-activation are provably
<= 0), and tanh/sigmoid add their lookup error (the table's, table_error.py,
over the rounded pre-activation's range; half an output ulp for the ideal table).

These bounds hold as long as no stored value overflows, which is checked
separately on the ranges widened by these bounds (`prove.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..fixedpoint.format import Overflow, Rounding, quantize_exact, rounding_error_bound
from ..fixedpoint.quantize import QuantizedLayer, QuantizedNetwork
from ..network.ir import Activation
from ..numeric import scaled
from .intervals import LayerRanges, activation_bounds
from .smooth import smooth_down, smooth_up
from .table_error import table_bound


@dataclass(frozen=True, eq=False)
class LayerErrors:
    """Per-neuron error bounds and quantized ranges of one layer (scaled ints)."""

    err_acc: np.ndarray  # |acc~ - z| before rounding to the output grid
    err_pre: np.ndarray  # |round(acc~) - z|
    err_out: np.ndarray  # |y~ - y| after the activation
    acc_lo: np.ndarray  # every value the accumulator can hold (final sum; all partial sums when saturating)
    acc_hi: np.ndarray
    out_lo: np.ndarray  # every value the neuron's output can take
    out_hi: np.ndarray
    budget: dict  # error-budget parts summed over the layer's worst neuron: name -> scaled int


@dataclass(frozen=True, eq=False)
class InputErrors:
    err: np.ndarray  # |x~ - x| per input
    q_lo: np.ndarray  # range of quantized inputs
    q_hi: np.ndarray


def input_errors(qnet: QuantizedNetwork, x_lo: np.ndarray, x_hi: np.ndarray, box) -> InputErrors:
    design = qnet.design
    if design.inputs_fixed:
        return InputErrors(scaled.zeros(len(box)), x_lo, x_hi)
    errs, q_lo, q_hi = [], [], []
    for (lo, hi), fmt in zip(box, design.inputs):
        errs.append(scaled.up(rounding_error_bound(None, fmt.frac_bits, design.rounding)))
        # rounding is monotone: the quantized range is [round(lo), round(hi)], exactly
        for v, sink in ((lo, q_lo), (hi, q_hi)):
            sink.append(scaled.down(quantize_exact(v, fmt.frac_bits, design.rounding) * fmt.ulp))
    return InputErrors(scaled.obj(errs), scaled.obj(q_lo), scaled.obj(q_hi))


def _pow2(k: int) -> Fraction:
    return Fraction(2) ** k


def layer_errors(
    ql: QuantizedLayer,
    in_frac: np.ndarray,
    ranges: LayerRanges,
    x_lo: np.ndarray,
    x_hi: np.ndarray,
    e_in: np.ndarray,
    xq_lo: np.ndarray,
    xq_hi: np.ndarray,
    rounding: Rounding,
    overflow: Overflow,
) -> LayerErrors:
    """Error bounds and quantized ranges of one layer, neuron by neuron."""
    n_out = ql.n_out
    w = ql.weights
    x_abs = np.where(-x_lo > x_hi, -x_lo, x_hi)  # max |x_k| of the real input
    xq_abs = np.where(-xq_lo > xq_hi, -xq_lo, xq_hi)
    err_acc = scaled.zeros(n_out)
    err_pre = scaled.zeros(n_out)
    err_out = scaled.zeros(n_out)
    sat_bound = scaled.zeros(n_out)
    parts_worst = {"propagated": 0, "weight quantization": 0, "bias quantization": 0, "product rounding": 0, "output rounding": 0, "activation": 0}
    worst = -1
    for j in range(n_out):
        fw = int(ql.weight_frac[j])
        fa = int(ql.accum_frac[j])
        fo = int(ql.output_frac[j])
        wm = ql.weight_mant[j]
        wm_abs = np.abs(wm)
        # sum_k |w~_jk| e_k   (w~ = wm 2^-fw, e at 2^-P)
        propagated = scaled.shift_up(int(wm_abs.dot(e_in)), fw)
        # sum_k |w~_jk - w_jk| max|x_k|: w~ - w = (wm 2^b D - N 2^a) / (D 2^a)
        a, b = max(fw, 0), max(-fw, 0)
        dw_num = np.abs(wm * ((1 << b) * w.den) - w.num[j] * (1 << a))
        weight_q = scaled.div_ceil(int(dw_num.dot(x_abs)), w.den << a)
        b_eff = Fraction(int(ql.bias_acc_mant[j])) * _pow2(-fa)
        b_real = Fraction(int(ql.bias.num[j]), ql.bias.den)
        bias_q = scaled.up(abs(b_eff - b_real))
        # rounding of each non-zero product whose exact grid is finer than the accumulator's
        prod_round = Fraction(0)
        nonzero = wm != 0
        for fx in sorted(set(int(v) for v in in_frac)):
            cnt = int(np.count_nonzero(nonzero & (in_frac == fx)))
            if cnt:
                prod_round += cnt * rounding_error_bound(fw + fx, fa, rounding)
        prod_q = scaled.up(prod_round)
        e_acc = propagated + weight_q + bias_q + prod_q
        out_round = scaled.up(rounding_error_bound(fa, fo, rounding))
        e_pre = e_acc + out_round
        act_extra = 0
        if ql.activation is Activation.RELU:
            e_out = 0 if ranges.pre_hi[j] + e_pre <= 0 else e_pre
        elif ql.activation is Activation.LINEAR:
            e_out = e_pre
        else:
            if ql.formats.table is None:  # the ideal table: half an output ulp
                act_extra = scaled.up(rounding_error_bound(None, fo, Rounding.NEAREST))
            else:
                tb = table_bound(ql.activation, ql.formats.table, fo, rounding,
                                 int(ranges.pre_lo[j] - e_pre), int(ranges.pre_hi[j] + e_pre))
                act_extra = max(-tb.err_lo, tb.err_hi, 0)
            lip = ql.activation.lipschitz
            e_out = scaled.up(lip * scaled.to_fraction(e_pre)) + act_extra
        err_acc[j], err_pre[j], err_out[j] = e_acc, e_pre, e_out
        if overflow is Overflow.SATURATE:
            # every partial sum: |bias| + sum_k (|w~_jk| max|x~_k| + r_jk)
            s = scaled.shift_up(int(wm_abs.dot(xq_abs)), fw)
            sat_bound[j] = scaled.up(abs(b_eff)) + s + prod_q
        if worst < 0 or e_out > err_out[worst]:
            worst = j
            parts_worst = {
                "propagated": propagated,
                "weight quantization": weight_q,
                "bias quantization": bias_q,
                "product rounding": prod_q,
                "output rounding": out_round,
                "activation": act_extra,
            }
    if overflow is Overflow.SATURATE:
        acc_lo, acc_hi = -sat_bound, sat_bound.copy()
    else:
        acc_lo, acc_hi = ranges.pre_lo - err_acc, ranges.pre_hi + err_acc
    out_lo, out_hi = quantized_output_range(ql, ranges.pre_lo - err_pre, ranges.pre_hi + err_pre, rounding)
    return LayerErrors(err_acc, err_pre, err_out, acc_lo, acc_hi, out_lo, out_hi, parts_worst)


def quantized_output_range(ql: QuantizedLayer, v_lo: np.ndarray, v_hi: np.ndarray, rounding: Rounding):
    """Range of the stored output given the range of the rounded pre-activation."""
    if ql.activation in (Activation.RELU, Activation.LINEAR):
        return activation_bounds(ql.activation, v_lo, v_hi)
    if ql.formats.table is not None:
        bounds = [table_bound(ql.activation, ql.formats.table, int(f), rounding, int(a), int(b))
                  for f, a, b in zip(ql.output_frac, v_lo, v_hi)]
        return scaled.obj([b.out_lo for b in bounds]), scaled.obj([b.out_hi for b in bounds])
    half_ulp = [scaled.up(rounding_error_bound(None, int(f), Rounding.NEAREST)) for f in ql.output_frac]
    lo = scaled.obj([smooth_down(ql.activation, v) - h for v, h in zip(v_lo, half_ulp)])
    hi = scaled.obj([smooth_up(ql.activation, v) + h for v, h in zip(v_hi, half_ulp)])
    return lo, hi
