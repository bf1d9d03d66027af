"""Outward-rounded scaled-integer numbers: the analysis's arithmetic.

Every range endpoint and error bound is an integer n standing for n * 2^-P
(P = PRECISION bits): lower ends are rounded down, upper ends and error
bounds up, so each stored number is a sound enclosure of the exact rational
it replaces. Python ints in numpy object arrays keep every step exact;
the only rounding is this explicit outward rounding.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from .rational import ceil_scaled, floor_div_pow2, floor_scaled

PRECISION = 128


def down(value: Fraction) -> int:
    return floor_scaled(Fraction(value), PRECISION)


def up(value: Fraction) -> int:
    return ceil_scaled(Fraction(value), PRECISION)


def to_fraction(n: int) -> Fraction:
    return Fraction(int(n), 1 << PRECISION)


def to_float(n) -> float:
    """Nearest-ish float of a scaled int (display only)."""
    return float(Fraction(int(n), 1 << PRECISION))


def to_float_array(a: np.ndarray) -> np.ndarray:
    return np.array([to_float(v) for v in np.ravel(a)], dtype=np.float64).reshape(np.shape(a))


def div_floor(num, den: int):
    """floor(num / den) for ints / object arrays (den > 0)."""
    return num // den


def div_ceil(num, den: int):
    return -((-num) // den)


def shift_down(num, bits: int):
    """floor(num * 2^-bits) (bits may be negative: exact multiply)."""
    return floor_div_pow2(num, 1, -bits)


def shift_up(num, bits: int):
    return -floor_div_pow2(-num, 1, -bits)


def zeros(n: int) -> np.ndarray:
    a = np.empty(n, dtype=object)
    a[:] = [0] * n
    return a


def obj(values) -> np.ndarray:
    a = np.empty(len(values), dtype=object)
    a[:] = [int(v) for v in values]
    return a
