"""tanh and sigmoid as hardware computes them: a lookup table, built exactly as
hls4ml 1.3.0 builds it (templates/vivado/nnet_utils/nnet_activation.h, shared
by its Vivado and Vitis backends), so that verifq proves what hls4ml builds and
verifq's own generated code uses the same table.

A table of N entries covers [-R, R) (sigmoid: R = 8, tanh: R = 4; D = 2R):

* entry i stands for x_i = float(2R (i - N/2) / N) (computed in double, stored
  as a float); its value is the C library's float function -- sigmoid:
  float(1.0 / float(1 + expf(-x_i))), tanh: tanhf(x_i) -- cast into the table
  format (`TableSpec.entry`) with the table's own rounding and overflow modes;
* the index of an input x (the rounded pre-activation) is
  trunc0(x N / D) + floor(R N / D), clamped to [0, N-1] (trunc0: toward zero,
  as ap_fixed division and its int() conversion do), so every entry covers a
  bucket of inputs (`bucket`); the one around 0 is twice as wide;
* the output is the entry cast into the output format with the design's
  rounding (the output's overflow mode applies as for every stored value).

The entries are exactly what hls4ml's compiled model computes with glibc's
expf/tanhf (tested bit for bit); they are part of the design a certificate
records, so the proof is about this very table.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

from ..network.ir import Activation
from .format import FixedFormat, Overflow, Rounding, handle_overflow, quantize_exact, shift_round

HALF_RANGE = {Activation.SIGMOID: 8, Activation.TANH: 4}  # R: the table covers [-R, R)
DEFAULT_TABLE_SIZE = 1024  # hls4ml's default table_size
DEFAULT_TABLE_FORMAT = FixedFormat(18, 8)  # hls4ml's default table_t (ap_fixed<18,8>, AP_TRN, AP_WRAP)
MAX_TABLE_SIZE = 4096  # the default limit of the spec language (`max table size`)


@dataclass(frozen=True, order=True)
class TableSpec:
    """The lookup table of a tanh/sigmoid layer: N entries stored in `entry` (hls4ml's
    table_size and table_t, whose quantization and overflow modes are `rounding`/`overflow`)."""

    size: int
    entry: FixedFormat
    rounding: Rounding = Rounding.TRUNCATE
    overflow: Overflow = Overflow.WRAP

    def __str__(self) -> str:
        return f"table<{self.size}, {self.entry}, {self.rounding.value}, {self.overflow.value}>"

    @property
    def memory_bits(self) -> int:
        return self.size * self.entry.width


# ----------------------------------------------------------------------------- the C library's floats
def _f32(x: float) -> float:
    return float(np.float32(x))


@lru_cache(maxsize=1)
def _libm():
    name = ctypes.util.find_library("m")
    if name is None:  # pragma: no cover - every Linux/macOS has one
        return None
    lib = ctypes.CDLL(name)
    for fn in ("expf", "tanhf"):
        getattr(lib, fn).restype = ctypes.c_float
        getattr(lib, fn).argtypes = [ctypes.c_float]
    return lib


def _entry_float(act: Activation, x: float) -> float:
    lib = _libm()
    if act is Activation.SIGMOID:  # sigmoid_fcn_float: 1.0 / (1 + expf(-x)): float add, double divide, float result
        e = lib.expf(_f32(-x)) if lib is not None else float(np.exp(np.float32(-x)))
        return _f32(1.0 / _f32(1.0 + e))
    return lib.tanhf(x) if lib is not None else float(np.tanh(np.float32(x)))


def entry_inputs(act: Activation, size: int) -> list[float]:
    """x_i = float(2R (i - float(N)/2.0) / float(N)), computed in double."""
    r = HALF_RANGE[act]
    n = float(np.float32(size))
    return [_f32(2 * r * (i - n / 2.0) / n) for i in range(size)]


@lru_cache(maxsize=64)
def table_entries(act: Activation, spec: TableSpec) -> tuple[int, ...]:
    """The entry mantissas (at spec.entry.frac_bits), exactly as hls4ml's init_*_table computes them."""
    out = []
    for x in entry_inputs(act, spec.size):
        k = quantize_exact(Fraction(_entry_float(act, x)), spec.entry.frac_bits, spec.rounding)
        out.append(int(handle_overflow(k, spec.entry, spec.overflow)))
    return tuple(out)


# ----------------------------------------------------------------------------- index and buckets
def _offset(act: Activation, size: int) -> int:
    r = HALF_RANGE[act]
    return (r * size) // (2 * r)


def table_index(act: Activation, size: int, mant, frac: int):
    """trunc0(x N / D) + floor(R N / D), clamped to [0, N-1], for x = mant 2^-frac (ints or int arrays)."""
    d = 2 * HALF_RANGE[act]
    num = np.asarray(mant, dtype=object) * size
    den = d << frac if frac >= 0 else d
    if frac < 0:
        num = num * (1 << -frac)
    q = np.where(num >= 0, num // den, -((-num) // den))  # toward zero
    idx = q + _offset(act, size)
    idx = np.minimum(np.maximum(idx, 0), size - 1)
    return int(idx) if np.ndim(idx) == 0 else idx.astype(np.int64)


def bucket(act: Activation, size: int, i: int) -> tuple[Fraction | None, Fraction | None]:
    """The closure [lo, hi] of the inputs whose index is i (None: unbounded)."""
    d = 2 * HALF_RANGE[act]
    u = Fraction(d, size)
    c = _offset(act, size)

    def lower(k):  # the lower end of the inputs with trunc0(x N / D) = k
        return k * u if k >= 1 else -u if k == 0 else (k - 1) * u

    def upper(k):
        return (k + 1) * u if k >= 0 else k * u if k <= -1 else u

    lo = None if i == 0 else lower(i - c)
    hi = None if i == size - 1 else upper(i - c)
    return lo, hi


def output_mantissa(entry_mant: int, spec: TableSpec, out_frac: int, rounding: Rounding) -> int:
    """An entry cast into the output grid with the design's rounding (no overflow handling)."""
    return int(shift_round(int(entry_mant), spec.entry.frac_bits - out_frac, rounding))


def lookup(act: Activation, spec: TableSpec, v: np.ndarray, frac: np.ndarray, rounding: Rounding) -> np.ndarray:
    """The table's outputs for mantissas v (N, n) at fractional bits `frac` (n,); same grid out."""
    entries = table_entries(act, spec)
    out = np.empty(v.shape, dtype=object)
    for col in range(v.shape[1]):
        f = int(frac[col])
        idx = table_index(act, spec.size, v[:, col], f)
        casts = {}
        for r, i in enumerate(np.atleast_1d(idx)):
            i = int(i)
            if i not in casts:
                casts[i] = output_mantissa(entries[i], spec, f, rounding)
            out[r, col] = casts[i]
    return out if v.dtype == object else out.astype(np.int64)


__all__ = ["TableSpec", "table_entries", "table_index", "bucket", "lookup", "output_mantissa", "entry_inputs",
           "HALF_RANGE", "DEFAULT_TABLE_SIZE", "DEFAULT_TABLE_FORMAT", "MAX_TABLE_SIZE"]
