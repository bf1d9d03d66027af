"""Activation functions on mantissas, as the hardware computes them.

ReLU and identity are exact. tanh and sigmoid are a lookup table as hls4ml
builds it (tables.py), or, as an explicit option, the ideal lookup table: the output is the input's exact function value rounded to nearest on
the output grid (same fractional bits as the rounded pre-activation), so the
implementation error is at most half an output ulp. The simulator decides
each rounding exactly: float64 first, and where the value lies too close to
a rounding boundary for float64 to decide, 60-digit decimal arithmetic
(tanh and sigmoid of a non-zero rational are irrational, so ties never occur).
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np

from ..network.ir import Activation
from .format import Rounding
from .tables import TableSpec, lookup

_DECIDE_MARGIN = 1e-9  # in output ulps; float64 tanh is far more accurate than this


def activation_mantissas(act: Activation, v: np.ndarray, frac: np.ndarray, rounding: Rounding,
                         table: TableSpec | None = None) -> np.ndarray:
    """Apply `act` to mantissas v (N, n) at fractional bits `frac` (n,); same grid out.
    tanh/sigmoid: the layer's lookup table (tables.py), or the ideal table when `table` is None."""
    if act is Activation.LINEAR:
        return v
    if act is Activation.RELU:
        return np.maximum(v, 0) if v.dtype != object else np.where(v > 0, v, 0).astype(object)
    if table is not None:
        return lookup(act, table, v, np.asarray(frac), rounding)
    return _smooth_lookup(act, v, np.asarray(frac))


def exact_activation_rounded(act: Activation, mant: int, frac: int) -> int:
    """round_nearest(f(mant * 2^-frac)) as a mantissa at 2^-frac, decided exactly."""
    x = Fraction(mant) * Fraction(2) ** (-frac)
    approx = _float_fn(act, float(x)) * 2.0**frac
    lower = np.floor(approx + 0.5)
    if abs(approx + 0.5 - lower) > _DECIDE_MARGIN and abs(approx + 0.5 - lower - 1) > _DECIDE_MARGIN:
        return int(lower)
    with localcontext() as ctx:
        ctx.prec = 60
        xd = Decimal(x.numerator) / Decimal(x.denominator)
        if act is Activation.TANH:
            e = (2 * xd).exp()
            val = (e - 1) / (e + 1)
        else:
            val = 1 / (1 + (-xd).exp())
        scaled = val * (Decimal(2) ** frac) + Decimal("0.5")
        return int(scaled.to_integral_value(rounding="ROUND_FLOOR"))


def _float_fn(act: Activation, x):
    if act is Activation.TANH:
        return np.tanh(x)
    return 1.0 / (1.0 + np.exp(-x))


def _smooth_lookup(act: Activation, v: np.ndarray, frac: np.ndarray) -> np.ndarray:
    out = np.empty(v.shape, dtype=object)
    cache: dict = {}
    for idx in np.ndindex(v.shape):
        key = (int(v[idx]), int(frac[idx[-1]]))
        if key not in cache:
            cache[key] = exact_activation_rounded(act, *key)
        out[idx] = cache[key]
    return out if v.dtype == object else out.astype(np.int64)
