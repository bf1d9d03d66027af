"""The integer semantics of an already-quantized network (INTEGER_SEMANTICS.md):
integer requantization, sequential accumulators of a stated width (wrap or
saturate), and the bit-exact simulator of it.

Everything is exact integer arithmetic (numpy int64 where a bound shows it
cannot overflow, Python integers otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..network.quantized import Bipolar, IntLayer, QuantizedNetwork, Relu, Requant, Step, Thresholds

Q31 = 31  # non-dyadic multipliers: m in [2^30, 2^31), as integer-only engines (gemmlowp/TFLite) store them


def integer_multiplier(mult: Fraction) -> tuple[int, int]:
    """(m, n) with the requantization multiplier realised as m / 2^n: exact when `mult` is dyadic
    (power-of-two scales), else m = round-half-even(mult * 2^n) with m in [2^30, 2^31)."""
    den = mult.denominator
    if den & (den - 1) == 0:  # dyadic
        return mult.numerator, den.bit_length() - 1
    n = 0
    while mult * (1 << n) < (1 << (Q31 - 1)):
        n += 1
    while mult * (1 << n) >= (1 << Q31):
        n -= 1
    v = mult * (1 << n)
    m = round(v)  # Python's round of a Fraction: half to even
    if m >= 1 << Q31:  # rounded up onto 2^31
        m, n = m >> 1, n - 1
    return m, n


def round_div(p, q: int, mode: str):
    """rnd(p / q) for integer arrays (or ints) p and a positive integer q, in a QONNX rounding mode."""
    p = np.asarray(p)
    f = p // q
    rem = p - f * q
    if mode == "FLOOR":
        return f
    if mode == "CEIL":
        return f + (rem > 0)
    if mode == "DOWN":
        return f + ((rem > 0) & (p < 0))
    if mode == "UP":
        return f + ((rem > 0) & (p > 0))
    twice = 2 * rem
    if mode in ("ROUND", "HALF_EVEN"):
        tie_up = (f % 2) == 1
    elif mode == "HALF_UP":  # ties away from zero
        tie_up = p > 0
    else:  # HALF_DOWN: ties toward zero
        tie_up = p < 0
    return f + ((twice > q) | ((twice == q) & tie_up))


def _clamp(r, step: Requant):
    if step.bits == 0:
        return r
    lo, hi = step.bounds
    return np.minimum(np.maximum(r, lo), hi)


def apply_step(step: Step, c: np.ndarray) -> np.ndarray:
    """One step on integer codes (rows = inputs, columns = channels)."""
    if isinstance(step, Relu):
        return np.maximum(c, 0)
    if isinstance(step, Bipolar):
        return np.where(c >= 0, 1, -1)
    if isinstance(step, Thresholds):
        t = step.thresholds
        out = np.zeros(c.shape, dtype=object if c.dtype == object else np.int64)
        for j, row in enumerate(t):
            col = c[:, j]
            out[:, j] = sum((col >= v).astype(np.int64) for v in row) if row else 0
        return out + step.offset
    cols = []
    for j in range(c.shape[1]):
        m, n = integer_multiplier(step.multiplier[j])
        z = step.zero_point[j]
        col = c[:, j].astype(object)
        r = round_div(col * m + z * (1 << n), 1 << n, step.rounding)
        cols.append(_clamp(r, step) - z)
    return _as_int(np.stack(cols, axis=1) if cols else c)


def requant_one(step: Requant, j: int, c: int) -> int:
    """One channel of a requantization on one integer code."""
    m, n = integer_multiplier(step.multiplier[j])
    z = step.zero_point[j]
    r = int(round_div(c * m + z * (1 << n), 1 << n, step.rounding))
    if step.bits:
        lo, hi = step.bounds
        r = min(max(r, lo), hi)
    return r - z


def _fast_input(step: Requant, x: np.ndarray) -> np.ndarray | None:
    """The input quantizer on a float64 array: exact in float64 for power-of-two multipliers and
    zero points 0 (x * 2^k is exact, and so is x - floor(x)); otherwise float64 values far from
    every rounding boundary are decided in float64 and the others exactly (None: not applicable)."""
    mults = step.multiplier
    dyadic = not any(m.numerator & (m.numerator - 1) or m.denominator & (m.denominator - 1) for m in mults)
    cols = [j if len(mults) > 1 else 0 for j in range(x.shape[1])]
    if dyadic and not any(step.zero_point):
        v = x * np.array([float(mults[j]) for j in cols])
    else:
        z = np.array([step.zero_point[j if len(step.zero_point) > 1 else 0] for j in range(x.shape[1])], dtype=np.float64)
        v = x * np.array([float(mults[j]) for j in cols]) + z  # relative error a few 2^-53
        if not np.all(np.isfinite(v)) or np.abs(v).max(initial=0) >= 2.0**40:
            return None
        near = np.abs(v - np.round(v * 2) / 2) <= 2.0**-30 * np.maximum(np.abs(v), 1.0)  # near k/2: decide exactly
        r = _round_float(v, step)
        for i, j in zip(*np.nonzero(near)):
            m, zz = mults[cols[j]], step.zero_point[j if len(step.zero_point) > 1 else 0]
            e = Fraction(float(x[i, j])) * m + zz
            val = int(round_div(e.numerator, e.denominator, step.rounding))
            r[i, j] = min(max(val, step.bounds[0]), step.bounds[1]) if step.bits else val
        return r - z.astype(np.int64)
    if not np.all(np.isfinite(v)) or np.abs(v).max(initial=0) >= 2.0**52:
        return None
    return _round_float(v, step)


def _round_float(v: np.ndarray, step: Requant) -> np.ndarray:
    """Round float64 values (exact, or decided far from boundaries) in the step's mode, clamp."""
    f = np.floor(v)
    frac = v - f
    mode = step.rounding
    if mode == "FLOOR":
        r = f
    elif mode == "CEIL":
        r = f + (frac > 0)
    elif mode == "DOWN":
        r = f + ((frac > 0) & (v < 0))
    elif mode == "UP":
        r = f + ((frac > 0) & (v > 0))
    else:
        tie_up = {"ROUND": np.mod(f, 2) == 1, "HALF_EVEN": np.mod(f, 2) == 1, "HALF_UP": v > 0, "HALF_DOWN": v < 0}[mode]
        r = f + ((frac > 0.5) | ((frac == 0.5) & tie_up))
    if step.bits:
        lo, hi = step.bounds
        r = np.clip(r, lo, hi)
    return r.astype(np.int64)


def quantize_input(qnet: QuantizedNetwork, x) -> np.ndarray:
    """Input codes of real inputs (rows): each input step with its exact rational multiplier."""
    xa = np.asarray(x)
    steps = qnet.input_steps
    if xa.dtype.kind == "f" and len(steps) == 1 and isinstance(steps[0], Requant):
        fast = _fast_input(steps[0], xa.astype(np.float64))
        if fast is not None:
            return fast
    vals = np.array([[Fraction(v) for v in row] for row in np.asarray(x, dtype=object)], dtype=object)
    for step in qnet.input_steps:
        if isinstance(step, Requant):
            cols = []
            for j in range(vals.shape[1]):
                mult, z = step.multiplier[j if len(step.multiplier) > 1 else 0], step.zero_point[j if len(step.zero_point) > 1 else 0]
                v = vals[:, j] * mult + z
                num = np.array([f.numerator for f in v], dtype=object)
                den = np.array([f.denominator for f in v], dtype=object)
                r = np.array([round_div(a, b, step.rounding) for a, b in zip(num, den)], dtype=object)
                cols.append(_clamp(r, step) - z)
            vals = np.stack(cols, axis=1)
        elif isinstance(step, Bipolar):
            vals = np.where(vals >= 0, 1, -1).astype(object)
        else:
            vals = apply_step(step, _as_int(vals))
    return _as_int(vals)


def _as_int(a: np.ndarray) -> np.ndarray:
    """int64 when every value fits comfortably, else Python integers."""
    a = np.asarray(a)
    if a.dtype != object:
        return a.astype(np.int64)
    if a.size == 0:
        return a.astype(np.int64)
    big = max(abs(int(v)) for v in a.ravel())
    return a.astype(np.int64) if big < 1 << 40 else a


def accumulator_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _wrap(v, bits: int):
    half = 1 << (bits - 1)
    return ((v + half) % (1 << bits)) - half


@dataclass(frozen=True)
class IntSimulation:
    inputs: tuple[np.ndarray, ...]  # the codes entering each layer
    accumulators: tuple[np.ndarray, ...]  # the final accumulator of each layer (after wrap/saturate)
    overflowed: tuple[np.ndarray, ...]  # (rows, neurons): some partial sum left the accumulator range
    prefix_max: tuple[np.ndarray, ...] | None  # widest partial sums per row and neuron (bias first)
    prefix_min: tuple[np.ndarray, ...] | None
    outputs: np.ndarray  # output codes

    def output_values(self, qnet: QuantizedNetwork) -> np.ndarray:
        """Exact output values as Fractions (code x unit)."""
        unit = qnet.layers[-1].out_unit
        return np.array([[int(c) * unit[j] for j, c in enumerate(row)] for row in self.outputs], dtype=object)


ORDERS = ("sequential", "bias_last", "split_sign")  # partial-sum orders (INTEGER_SEMANTICS.md)


def _reduce(v, bits: int, mode: str):
    lo, hi = accumulator_range(bits)
    return _wrap(v, bits) if mode == "wrap" else np.minimum(np.maximum(v, lo), hi)


def _accumulate(b, products, order: str, bits: int | None, mode: str):
    """(final sum, max held partial sum, min held partial sum) of one order; `products(i)` gives the
    i-th product column block; with `bits`, every addition is reduced (wrap or saturate)."""
    red = (lambda v: v) if bits is None else (lambda v: _reduce(v, bits, mode))
    if order == "split_sign":  # two accumulators: bias and positive products, bias and negative products
        zero = b * 0
        pos, neg = red(np.maximum(b, zero)), red(np.minimum(b, zero))
        for p in products():
            pos = red(pos + np.maximum(p, 0))
            neg = red(neg + np.minimum(p, 0))
        return red(pos + neg), pos, neg  # S+ >= 0 >= S-: every held sum lies in [S-, S+]
    run = red(b) if order == "sequential" else b * 0
    pmax, pmin = run, run
    for p in products():
        run = red(run + p)
        pmax, pmin = np.maximum(pmax, run), np.minimum(pmin, run)
    if order == "bias_last":
        run = red(run + b)
        pmax, pmin = np.maximum(pmax, run), np.minimum(pmin, run)
    return run, pmax, pmin


def layer_accumulate(layer: IntLayer, a: np.ndarray, bits: int | None, mode: str, prefixes: bool,
                     order: str = "sequential"):
    """acc = the layer's sums in the stated order (sequential: bias first, then products in weight
    order); (acc, overflowed, max held partial sum, min held partial sum)."""
    w = np.array(layer.weights, dtype=np.int64).T  # (K, n_out)
    b = np.array(layer.bias, dtype=object)
    amax = max((abs(int(v)) for v in a.ravel()), default=0)
    safe = max(abs(int(v)) for v in b) + amax * int(np.abs(w).sum(axis=0).max(initial=0)) < 1 << 62
    ai = a.astype(np.int64) if safe else a.astype(object)
    wi = w if safe else w.astype(object)
    bi = b.astype(np.int64) if safe else b
    rows, k = ai.shape
    pmax = pmin = None
    if prefixes or bits is not None:
        acc, pmax, pmin = _accumulate(np.tile(bi, (rows, 1)), lambda: (ai[:, i:i + 1] * wi[i:i + 1, :] for i in range(k)),
                                      order, None, mode)
    else:
        acc = ai @ wi + bi
    over = np.zeros(acc.shape, dtype=bool)
    if bits is not None:
        lo, hi = accumulator_range(bits)
        over = (pmax > hi) | (pmin < lo)
        if over.any():  # replay the rows that overflow, step by step
            idx = np.nonzero(over.any(axis=1))[0]
            ao, wo = a[idx].astype(object), w.astype(object)
            run, _, _ = _accumulate(np.tile(b, (len(idx), 1)).astype(object),
                                    lambda: (ao[:, i:i + 1] * wo[i:i + 1, :] for i in range(k)), order, bits, mode)
            acc = acc.astype(object)
            acc[idx] = run
    return _as_int(acc), over, pmax, pmin


def simulate(qnet: QuantizedNetwork, x, acc_bits: list[int | None] | None = None, mode: str | list[str] = "wrap",
             prefixes: bool = False, codes: np.ndarray | None = None, orders: list[str] | None = None) -> IntSimulation:
    """Run the integer network on real inputs `x` (rows), or on input codes `codes`.
    `acc_bits[l]`: accumulator width of layer l (None: unbounded); `mode`: wrap|saturate (one, or
    per layer); `orders[l]`: the partial-sum order of layer l (default sequential)."""
    a = quantize_input(qnet, x) if codes is None else _as_int(codes)
    n = len(qnet.layers)
    acc_bits = acc_bits or [None] * n
    modes = [mode] * n if isinstance(mode, str) else list(mode)
    orders = orders or ["sequential"] * n
    ins, accs, overs, pmaxs, pmins = [], [], [], [], []
    for layer, bits, md, order in zip(qnet.layers, acc_bits, modes, orders):
        ins.append(a)
        acc, over, pmax, pmin = layer_accumulate(layer, a, bits, md, prefixes, order)
        accs.append(acc)
        overs.append(over)
        pmaxs.append(pmax)
        pmins.append(pmin)
        a = acc
        for step in layer.steps:
            a = apply_step(step, a)
        a = _as_int(a)
    return IntSimulation(tuple(ins), tuple(accs), tuple(overs), tuple(pmaxs) if prefixes else None,
                         tuple(pmins) if prefixes else None, a)


def step_interval(step: Step, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every step is monotone non-decreasing in the code: the interval image is the endpoints' images."""
    return apply_step(step, lo.reshape(1, -1))[0], apply_step(step, hi.reshape(1, -1))[0]
