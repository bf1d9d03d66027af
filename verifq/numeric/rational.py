"""Exact rational arrays as integer numerators over one common denominator,
so numpy object arrays of Python ints do the work instead of (much slower)
`Fraction` objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
import math
from math import lcm

import numpy as np


@dataclass(frozen=True, eq=False)
class RationalArray:
    """value = num / den exactly; `num` is an object array of Python ints, den > 0."""

    num: np.ndarray
    den: int

    @staticmethod
    def from_fractions(values) -> "RationalArray":
        arr = np.asarray(values, dtype=object)
        flat = [x if type(x) is Fraction else Fraction(x) for x in arr.ravel()]
        den = 1
        for d in set(v.denominator for v in flat):
            den = lcm(den, d)
        num = np.empty(len(flat), dtype=object)
        num[:] = [v.numerator * (den // v.denominator) for v in flat]
        return RationalArray(num.reshape(arr.shape), den)

    def floor_scaled(self, frac_bits: int, *, nearest: bool = False) -> np.ndarray:
        """floor(value * 2^F), or with nearest floor(value * 2^F + 1/2) (ties up)."""
        return floor_div_pow2(self.num, self.den, frac_bits, nearest=nearest)

    def ceil_scaled(self, frac_bits: int) -> np.ndarray:
        return -floor_div_pow2(-self.num, self.den, frac_bits)


def floor_div_pow2(num, den: int, frac_bits: int, *, nearest: bool = False):
    """floor(num / den * 2^F (+1/2)) for ints or object arrays, F of any sign."""
    if frac_bits >= 0:
        n, d = num * (1 << frac_bits), den
    else:
        n, d = num, den << (-frac_bits)
    if nearest:
        return (2 * n + d) // (2 * d)
    return n // d


def floor_scaled(value: Fraction, frac_bits: int) -> int:
    """floor(value * 2^F) for a single Fraction."""
    return floor_div_pow2(value.numerator, value.denominator, frac_bits)


def ceil_scaled(value: Fraction, frac_bits: int) -> int:
    return -floor_scaled(-value, frac_bits)


def object_array(values) -> np.ndarray:
    """A 1-D object array of Python ints (numpy int64 would overflow silently)."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = [int(v) for v in values]
    return arr


def show(value, digits: int = 6) -> str:
    """A rational shown to `digits` significant digits, like f"{float(x):.{digits}g}" whenever a
    float holds it, and still right where it does not (1e-1000 is not "0", 1e999 does not crash)."""
    q = Fraction(value)
    if q == 0:
        return "0"
    try:
        f = float(q)
    except OverflowError:
        f = math.inf
    if math.isfinite(f) and abs(f) >= 1e-300:
        return f"{f:.{digits}g}"
    n, d = abs(q.numerator), q.denominator
    exp = len(str(n)) - len(str(d))  # 10^exp is within a factor 10 of |q|
    if Fraction(n, d) < Fraction(10) ** exp:
        exp -= 1
    scaled = Fraction(n, d) / Fraction(10) ** (exp - digits + 1)
    mant = (scaled.numerator * 2 + scaled.denominator) // (2 * scaled.denominator)  # nearest
    if mant >= 10 ** digits:
        mant, exp = (mant + 5) // 10, exp + 1
    text = str(mant).rstrip("0") or "0"
    body = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if q < 0 else ''}{body}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
