"""Exact rational arrays as integer numerators over one common denominator,
so numpy object arrays of Python ints do the work instead of (much slower)
`Fraction` objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
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
