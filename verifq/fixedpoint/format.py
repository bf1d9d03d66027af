"""Fixed-point formats and the two rounding and overflow modes.

`fx<W, I>` (written `fixed<W,I>` in specs, like `ap_fixed<W,I>`) is signed two's
complement with W bits, I of them integer bits including the sign, so
F = W - I fractional bits; values are k * 2^-F with
k in [-2^(W-1), 2^(W-1) - 1]. `ufx<W, I>` (`ufixed<W,I>`) is unsigned:
k in [0, 2^W - 1]. I may be negative or exceed W.

A value on this grid is represented everywhere (simulator, analysis,
generated C) by its integer mantissa k at scale 2^-F.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction


class Rounding(str, Enum):
    TRUNCATE = "truncate"  # AP_TRN: floor, error in (-2^-F, 0]
    NEAREST = "nearest"  # AP_RND: floor(x + 2^-(F+1)), ties toward +inf, |error| <= 2^-(F+1)


class Overflow(str, Enum):
    WRAP = "wrap"  # AP_WRAP: two's complement modulo 2^W
    SATURATE = "saturate"  # AP_SAT: clamp to [min, max]


@dataclass(frozen=True, order=True)
class FixedFormat:
    width: int
    integer_bits: int
    signed: bool = True

    @property
    def frac_bits(self) -> int:
        return self.width - self.integer_bits

    @property
    def min_int(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_int(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def ulp(self) -> Fraction:
        return Fraction(1, 1 << self.frac_bits) if self.frac_bits >= 0 else Fraction(1 << -self.frac_bits)

    @property
    def min_value(self) -> Fraction:
        return self.min_int * self.ulp

    @property
    def max_value(self) -> Fraction:
        return self.max_int * self.ulp

    def contains(self, lo: Fraction, hi: Fraction) -> bool:
        return self.min_value <= lo and hi <= self.max_value

    def __str__(self) -> str:
        return f"{'fixed' if self.signed else 'ufixed'}<{self.width},{self.integer_bits}>"

    def ap_type(self, rounding: Rounding, overflow: Overflow) -> str:
        q = "AP_TRN" if rounding is Rounding.TRUNCATE else "AP_RND"
        o = "AP_WRAP" if overflow is Overflow.WRAP else "AP_SAT"
        base = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{base}<{self.width},{self.integer_bits},{q},{o}>"


_FORMAT_TEXT = re.compile(r"^\s*(ap_)?(u?)fixed\s*<\s*(-?\d+)\s*,\s*(-?\d+)\s*>\s*$")


def parse_format(text: str) -> FixedFormat:
    """`fixed<16,6>`, `ap_fixed<16,6>`, `ufixed<8,0>` (command-line notation of a format)."""
    from ..errors import UserError

    m = _FORMAT_TEXT.match(text)
    if not m:
        raise UserError(f"'{text}' is not a fixed-point format", hint="write it like fixed<16,6> or ufixed<8,0>")
    width, ibits = int(m.group(3)), int(m.group(4))
    if not 1 <= width <= 1024 or abs(ibits) > 1024:
        raise UserError(f"'{text}': the width must be 1..1024 bits and |I| <= 1024")
    return FixedFormat(width, ibits, signed=not m.group(2))


def shift_round(k: int, shift: int, rounding: Rounding) -> int:
    """Round the integer mantissa k at scale 2^-(F+shift) to scale 2^-F.

    shift <= 0 is exact (the value gains zero bits). Works on Python ints and
    on numpy integer/object arrays alike (>> is floor division by 2^shift).
    """
    if shift <= 0:
        return k << (-shift) if shift < 0 else k
    if rounding is Rounding.TRUNCATE:
        return k >> shift
    return (k + (1 << (shift - 1))) >> shift


def quantize_exact(value: Fraction, frac_bits: int, rounding: Rounding) -> int:
    """Mantissa of `value` rounded to the grid 2^-frac_bits (no overflow handling)."""
    scaled = value * (Fraction(1 << frac_bits) if frac_bits >= 0 else Fraction(1, 1 << -frac_bits))
    if rounding is Rounding.TRUNCATE:
        return scaled.numerator // scaled.denominator
    shifted = scaled + Fraction(1, 2)
    return shifted.numerator // shifted.denominator


def handle_overflow(k, fmt: FixedFormat, overflow: Overflow):
    """Apply the overflow mode to mantissa k (int or numpy array) of format fmt."""
    if overflow is Overflow.SATURATE:
        if isinstance(k, int):
            return min(max(k, fmt.min_int), fmt.max_int)
        import numpy as np

        return np.clip(k, fmt.min_int, fmt.max_int)
    modulus = 1 << fmt.width
    if isinstance(k, int):
        r = k % modulus
        return r - modulus if fmt.signed and r > fmt.max_int else r
    r = k % modulus
    if fmt.signed:
        r = r - modulus * (r > fmt.max_int)
    return r


def rounding_error_bound(from_frac_bits: int | None, to_frac_bits: int, rounding: Rounding) -> Fraction:
    """Largest |error| of rounding a value on grid 2^-from (None: any real) to grid 2^-to.

    Truncation of a grid value loses at most 2^-to - 2^-from; nearest at most 2^-(to+1).
    """
    if from_frac_bits is not None and from_frac_bits <= to_frac_bits:
        return Fraction(0)
    ulp = Fraction(2) ** (-to_frac_bits)
    if rounding is Rounding.NEAREST:
        return ulp / 2
    if from_frac_bits is None:
        return ulp
    return ulp - Fraction(2) ** (-from_frac_bits)
