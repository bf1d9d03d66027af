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

import json
import re
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction

from ..numeric.rational import ceil_scaled, floor_div_pow2, floor_scaled


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
        q, o = ap_mode_names(rounding, overflow)
        base = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{base}<{self.width},{self.integer_bits},{q},{o}>"

    def grid_range(self, lo: Fraction, hi: Fraction) -> tuple[int, int]:
        """Mantissas (k_lo, k_hi) of the first and last point of this format's grid in [lo, hi]
        (k_lo > k_hi when none; not clamped to the format's range)."""
        return ceil_scaled(Fraction(lo), self.frac_bits), floor_scaled(Fraction(hi), self.frac_bits)


AP_QUANTIZATION = {Rounding.TRUNCATE: "AP_TRN", Rounding.NEAREST: "AP_RND"}
AP_OVERFLOW = {Overflow.WRAP: "AP_WRAP", Overflow.SATURATE: "AP_SAT"}


def ap_mode_names(rounding: Rounding, overflow: Overflow) -> tuple[str, str]:
    """The ap_fixed quantization and overflow mode names of the design's modes."""
    return AP_QUANTIZATION[Rounding(rounding)], AP_OVERFLOW[Overflow(overflow)]


_FORMAT_TEXT = re.compile(r"^\s*(ap_)?(u?)fixed\s*<\s*(-?\d+)\s*,\s*(-?\d+)\s*>\s*$")
MAX_FORMAT_BITS = 1024  # largest W and |I| a format may have


def parse_format(text, where: str | None = None) -> FixedFormat:
    """`fixed<16,6>`, `ap_fixed<16,6>`, `ufixed<8,0>` -> FixedFormat.

    The one reader of format text (command line, formats files, certificates
    rebuilt for simulation). `where` names the place in messages; a
    malformed text is a `UserError`.
    """
    from ..errors import UserError

    prefix = f"{where}: " if where else ""
    if not isinstance(text, str):
        shown = json.dumps(text)[:40] if isinstance(text, (int, float, list, dict, type(None), bool)) else repr(text)[:40]
        raise UserError(f'{prefix}expected a format like "fixed<16,6>", got {shown}')
    m = _FORMAT_TEXT.match(text)
    if not m:
        if where:
            raise UserError(f"{where}: '{text}' is not a fixed-point format", hint="write fixed<W,I> or ufixed<W,I>, e.g. fixed<16,6>")
        raise UserError(f"'{text}' is not a fixed-point format", hint="write it like fixed<16,6> or ufixed<8,0>")
    width, ibits = int(m.group(3)), int(m.group(4))
    if not 1 <= width <= MAX_FORMAT_BITS or abs(ibits) > MAX_FORMAT_BITS:
        raise UserError(f"{prefix}'{text}': the width must be 1..{MAX_FORMAT_BITS} bits and |I| <= {MAX_FORMAT_BITS}")
    return FixedFormat(width, ibits, signed=not m.group(2))


# ----------------------------------------------------------------------------- bits and grids
def signed_bits(m: int) -> int:
    """Bits of the smallest two's complement word holding mantissa m."""
    return (m.bit_length() if m >= 0 else (-m - 1).bit_length()) + 1


def unsigned_bits(m: int) -> int:
    """Bits of the smallest unsigned word holding mantissa m >= 0 (at least 1)."""
    return max(1, m.bit_length())


def narrowest_format(lo: int, hi: int, frac: int) -> FixedFormat:
    """The narrowest format with `frac` fractional bits holding every mantissa in lo..hi
    (unsigned when lo >= 0)."""
    lo, hi = int(min(lo, hi)), int(max(lo, hi))
    if lo >= 0:
        width = unsigned_bits(hi)
        return FixedFormat(width, width - frac, False)
    width = max(signed_bits(lo), signed_bits(hi))
    return FixedFormat(width, width - frac, True)


def _ceil_log2(q: Fraction) -> int:
    """Smallest k with 2^k >= q (q > 0), exactly."""
    k = q.numerator.bit_length() - q.denominator.bit_length()
    while Fraction(2) ** k < q:
        k += 1
    while Fraction(2) ** (k - 1) >= q:
        k -= 1
    return k


def integer_bits(lo: Fraction, hi: Fraction, frac: int, signed: bool = True) -> int:
    """Smallest I such that the format with `frac` fractional bits and I integer bits holds
    every real in [lo, hi], exactly: signed -2^(I-1) <= lo and hi <= 2^(I-1) - 2^-frac;
    unsigned (lo >= 0 required) hi <= 2^I - 2^-frac."""
    ulp = Fraction(2) ** (-frac)
    lo, hi = Fraction(lo), Fraction(hi)
    if signed:
        need = max(-lo, hi + ulp)
        return 1 - frac if need <= 0 else _ceil_log2(need) + 1
    if lo < 0:
        raise ValueError("an unsigned format cannot hold a negative value")
    return _ceil_log2(max(hi, Fraction(0)) + ulp)


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
    """Mantissa of `value` rounded to the grid 2^-frac_bits (no overflow handling):
    floor(value 2^F), or floor(value 2^F + 1/2) for round-to-nearest (ties up)."""
    value = Fraction(value)
    return floor_div_pow2(value.numerator, value.denominator, frac_bits, nearest=rounding is Rounding.NEAREST)


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
