"""Bit-exact simulator of a quantized network on integer mantissas.

Implements exactly the semantics written in `design.py` on batches of
inputs (rows). Uses int64 numpy arrays when a static bound shows no
intermediate can exceed 2^62, Python-int object arrays otherwise, so results
are always exact. This is the reference the analysis is tested against and
that generated C/HLS code must match bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..network.ir import Activation
from .activation import activation_mantissas
from .format import FixedFormat, Overflow, Rounding
from .quantize import QuantizedLayer, QuantizedNetwork

INT64_SAFE_BITS = 62


@dataclass(frozen=True, eq=False)
class SimulationResult:
    outputs: np.ndarray  # (N, n_out) mantissas of the network outputs
    output_frac: np.ndarray  # (n_out,) fractional bits of each output
    overflow: np.ndarray  # (N,) bool: some stored value left its format
    first_overflow: list  # per row: None or (layer index, role, neuron)
    layer_outputs: list | None = None  # per layer (N, n) mantissas when requested

    def outputs_float(self) -> np.ndarray:
        return mantissas_to_float(self.outputs, self.output_frac)


def mantissas_to_float(mant: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """Nearest float64 of mant * 2^-frac (exact while |mant| < 2^53)."""
    m = np.asarray(mant).astype(np.float64) if mant.dtype != object else np.array(
        [[float(v) for v in row] for row in mant], dtype=np.float64
    ).reshape(mant.shape)
    return np.ldexp(m, -np.asarray(frac, dtype=np.int64))


def shift_round_array(v: np.ndarray, shift: np.ndarray, rounding: Rounding) -> np.ndarray:
    """Elementwise `format.shift_round` with per-element shifts (broadcast)."""
    shift = np.asarray(shift)
    s_pos = np.maximum(shift, 0)
    s_neg = np.maximum(-shift, 0)
    if v.dtype == object:
        s_pos = s_pos.astype(object)
        s_neg = s_neg.astype(object)
        one = 1
    else:
        s_pos = s_pos.astype(np.int64)
        s_neg = s_neg.astype(np.int64)
        one = np.int64(1)
    if rounding is Rounding.NEAREST:
        half = (one << s_pos) >> 1
        right = (v + half) >> s_pos
    else:
        right = v >> s_pos
    return right << s_neg


def apply_overflow(v: np.ndarray, fmts: list[FixedFormat] | tuple, overflow: Overflow):
    """Apply per-column formats to v (N, n); returns (new v, bool mask of overflowing cells)."""
    lo = np.array([f.min_int for f in fmts], dtype=object)
    hi = np.array([f.max_int for f in fmts], dtype=object)
    if v.dtype != object:
        if all(-(1 << 62) <= f.min_int and f.max_int < (1 << 62) for f in fmts):
            lo, hi = lo.astype(np.int64), hi.astype(np.int64)
        else:
            v = v.astype(object)
    out_of_range = (v < lo) | (v > hi)
    if not out_of_range.any():
        return v, np.asarray(out_of_range, dtype=bool)
    if overflow is Overflow.SATURATE:
        v = np.minimum(np.maximum(v, lo), hi)
    else:
        modulus = np.array([1 << f.width for f in fmts], dtype=object)
        vo = v.astype(object) % modulus
        signed = np.array([f.signed for f in fmts])
        vo = vo - modulus * ((vo > hi.astype(object)) & signed)
        v = vo.astype(v.dtype) if v.dtype != object else vo
    return v, np.asarray(out_of_range, dtype=bool)


def quantize_inputs(qnet: QuantizedNetwork, x: np.ndarray):
    """Round real inputs (float64 rows, network-input units) into the input formats.

    Exact: floor(x * 2^(F+1)) is computed exactly in float64 (scaling by a
    power of two is exact), then rounded in integers. Returns (mantissas,
    overflow mask per row).
    """
    x = np.asarray(x, dtype=np.float64)
    frac = qnet.input_frac
    scaled = np.floor(np.ldexp(x, frac + 1))
    if np.abs(scaled).max(initial=0) < 2.0**62:
        k = scaled.astype(np.int64)
    else:
        k = np.array([[int(v) for v in row] for row in scaled], dtype=object)
    mant = shift_round_array(k, np.ones_like(frac), qnet.design.rounding)
    mant, over = apply_overflow(mant, qnet.design.inputs, qnet.design.overflow)
    return mant, over.any(axis=1)


def inputs_from_mantissas(qnet: QuantizedNetwork, mant: np.ndarray) -> np.ndarray:
    """The real values of input mantissas (for fixed-point inputs), as float64."""
    return mantissas_to_float(np.asarray(mant), qnet.input_frac)


def _max_bits(a: np.ndarray) -> int:
    """Bits of the largest magnitude in a (0 for an empty or all-zero array)."""
    if a.size == 0:
        return 0
    return max(int(abs(int(a.max()))).bit_length(), int(abs(int(a.min()))).bit_length())


def _needs_object(qlayer: QuantizedLayer, x: np.ndarray, in_frac: np.ndarray, shifts: np.ndarray) -> bool:
    """Whether some intermediate of this batch could leave int64 (bound from the actual values)."""
    if x.dtype == object:
        return True
    left = int(max(0, -shifts.min(), int(in_frac.max() - in_frac.min())))
    product_bits = _max_bits(qlayer.weight_mant) + _max_bits(x) + left
    acc_bits = max(f.width for f in qlayer.formats.accum) + 1
    sum_bits = max(product_bits + int(qlayer.n_in).bit_length(), acc_bits, _max_bits(qlayer.bias_acc_mant)) + 2
    out_shift = int(max(0, (qlayer.output_frac - qlayer.accum_frac).max()))
    return sum_bits + out_shift >= INT64_SAFE_BITS


_CHUNK_CELLS = 1 << 22  # rows x neurons x inputs held at once when rounding products


def _sum_rounded_products(x, w, shifts, rounding):
    """sum_k round(x_k * w_jk, shift_jk) for every row and neuron, in row chunks."""
    n = x.shape[0]
    n_out, n_in = w.shape
    out = np.zeros((n, n_out), dtype=x.dtype)
    rows = max(1, _CHUNK_CELLS // max(1, n_out * n_in))
    for i in range(0, n, rows):
        prod = x[i : i + rows, None, :] * w[None, :, :]
        out[i : i + rows] = shift_round_array(prod, shifts[None, :, :], rounding).sum(axis=2)
    return out


def simulate_layer(qlayer: QuantizedLayer, x: np.ndarray, in_frac: np.ndarray, design):
    """One dense layer on mantissas x (N, n_in).

    Returns (y mantissas, accumulator overflow mask (N, n_out), output overflow mask (N, n_out)).
    """
    rounding, overflow = design.rounding, design.overflow
    shifts = qlayer.weight_frac[:, None] + in_frac[None, :] - qlayer.accum_frac[:, None]  # (n_out, n_in)
    if _needs_object(qlayer, x, in_frac, shifts):
        x = x.astype(object)
        w = qlayer.weight_mant
        bias = qlayer.bias_acc_mant
    else:
        w = qlayer.weight_mant.astype(np.int64)
        bias = qlayer.bias_acc_mant.astype(np.int64)
    n = x.shape[0]
    acc_fmts = qlayer.formats.accum
    over_acc = np.zeros((n, qlayer.n_out), dtype=bool)
    if overflow is Overflow.SATURATE:
        acc, o = apply_overflow(np.broadcast_to(bias, (n, qlayer.n_out)).copy(), acc_fmts, overflow)
        over_acc |= o
        for k in range(qlayer.n_in):
            prod = x[:, k : k + 1] * w[:, k][None, :]
            p = shift_round_array(prod, shifts[:, k][None, :], rounding)
            p, o1 = apply_overflow(p, acc_fmts, overflow)
            acc, o2 = apply_overflow(acc + p, acc_fmts, overflow)
            over_acc |= o1 | o2
    else:
        if (shifts <= 0).all():
            # exact accumulation: align inputs to a common scale, one matrix product
            g = int(in_frac.max())
            align = (g - in_frac)[None, :]
            x_al = x << (align.astype(object) if x.dtype == object else align)
            s = x_al @ w.T  # scale 2^-(F_w[j] + g)
            acc = shift_round_array(s, (qlayer.weight_frac + g - qlayer.accum_frac)[None, :], Rounding.TRUNCATE)
        else:
            acc = _sum_rounded_products(x, w, shifts, rounding)
        acc = acc + bias[None, :]
        acc, o = apply_overflow(acc, acc_fmts, overflow)
        over_acc |= o
    v = shift_round_array(acc, (qlayer.accum_frac - qlayer.output_frac)[None, :], rounding)
    v = activation_mantissas(qlayer.activation, v, qlayer.output_frac, rounding, qlayer.formats.table)
    y, o = apply_overflow(v, qlayer.formats.output, overflow)
    return y, over_acc, o


def simulate(qnet: QuantizedNetwork, input_mant: np.ndarray, *, keep_layers: bool = False) -> SimulationResult:
    """Run rows of input mantissas through the quantized network."""
    x = np.asarray(input_mant)
    n = x.shape[0]
    overflow = np.zeros(n, dtype=bool)
    first: list = [None] * n
    layers_out = [] if keep_layers else None
    for pos, ql in enumerate(qnet.layers):
        in_frac = qnet.frac_bits_into(pos)
        x, o_acc, o_out = simulate_layer(ql, x, in_frac, qnet.design)
        for role, cells in (("accum", o_acc), ("output", o_out)):
            mask = cells.any(axis=1)
            for i in np.nonzero(mask & ~overflow)[0]:
                first[i] = (ql.index, role, int(np.argmax(cells[i])))
            overflow |= mask
        if keep_layers:
            layers_out.append(x)
    return SimulationResult(x, qnet.layers[-1].output_frac, overflow, first, layers_out)


def is_relu(act: Activation) -> bool:
    return act is Activation.RELU
