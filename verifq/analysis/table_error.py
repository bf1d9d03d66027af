"""The error of a tanh/sigmoid lookup table (fixedpoint/tables.py), soundly.

For an input v (the rounded pre-activation) in [V_lo, V_hi], the table returns
out_i = cast(entry_i) for the entry i whose bucket holds v; the activation is
monotone increasing, so over the part [p, q] of bucket i that v can reach,

    out_i - f(v)  lies in  [out_i - f(q), out_i - f(p)].

The error interval is the hull of these over the buckets [V_lo, V_hi] meets
(buckets are closed intervals here, a sound superset of the half-open ones),
the output range the hull of the out_i. f is bounded rigorously at the bucket
edges (`smooth.smooth_down/up`, 70-digit decimal evaluation widened by a slack);
every number is a scaled integer at 2^-P rounded outward. This covers the bucket
width, the entries' own rounding and the clamping outside [-R, R) at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..fixedpoint.format import Rounding
from ..fixedpoint.tables import TableSpec, bucket, output_mantissa, table_entries, table_index
from ..network.ir import Activation
from ..numeric import scaled
from ..numeric.scaled import PRECISION
from .smooth import smooth_down, smooth_up

ONE = 1 << PRECISION


def _limits(act: Activation) -> tuple[int, int]:
    """f(-inf), f(+inf) as scaled ints."""
    return (-ONE, ONE) if act is Activation.TANH else (0, ONE)


@lru_cache(maxsize=32)
def _edge_bounds(act: Activation, size: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per entry i: a lower bound of f at its bucket's lower end, an upper bound at its upper end."""
    f_lo, f_hi = [], []
    neg, pos = _limits(act)
    for i in range(size):
        lo, hi = bucket(act, size, i)
        f_lo.append(neg if lo is None else smooth_down(act, scaled.down(lo)))
        f_hi.append(pos if hi is None else smooth_up(act, scaled.up(hi)))
    return tuple(f_lo), tuple(f_hi)


@dataclass(frozen=True)
class _TableErrors:
    out: tuple[int, ...]  # out_i as scaled ints (exact dyadics, rounded outward when finer than 2^-P)
    out_up: tuple[int, ...]
    err_lo: tuple[int, ...]  # out_i - f(upper end of bucket i)
    err_hi: tuple[int, ...]  # out_i - f(lower end of bucket i)


@lru_cache(maxsize=256)
def _table_errors(act: Activation, spec: TableSpec, out_frac: int, rounding: Rounding) -> _TableErrors:
    entries = table_entries(act, spec)
    f_lo, f_hi = _edge_bounds(act, spec.size)
    down, up = [], []
    for e in entries:
        m = output_mantissa(e, spec, out_frac, rounding)
        shift = PRECISION - out_frac
        if shift >= 0:
            down.append(m << shift)
            up.append(m << shift)
        else:
            down.append(scaled.shift_down(m, -shift))
            up.append(scaled.shift_up(m, -shift))
    err_lo = tuple(d - h for d, h in zip(down, f_hi))
    err_hi = tuple(u - l for u, l in zip(up, f_lo))
    return _TableErrors(tuple(down), tuple(up), err_lo, err_hi)


@dataclass(frozen=True)
class TableBound:
    """Signed error interval of the table output against f(v), and the range of the output (scaled ints)."""

    err_lo: int
    err_hi: int
    out_lo: int
    out_hi: int


def table_bound(act: Activation, spec: TableSpec, out_frac: int, rounding: Rounding, v_lo: int, v_hi: int) -> TableBound:
    """The table's error and output range for every input v in [v_lo, v_hi] (scaled ints)."""
    t = _table_errors(act, spec, out_frac, rounding)
    i_lo = table_index(act, spec.size, int(v_lo), PRECISION)
    i_hi = table_index(act, spec.size, int(v_hi), PRECISION)
    err_hi = t.out_up[i_lo] - smooth_down(act, int(v_lo))
    err_lo = t.out[i_hi] - smooth_up(act, int(v_hi))
    if i_hi > i_lo:
        err_hi = max(err_hi, max(t.err_hi[i_lo + 1:i_hi + 1]))
        err_lo = min(err_lo, min(t.err_lo[i_lo:i_hi]))
    return TableBound(err_lo, err_hi, min(t.out[i_lo:i_hi + 1]), max(t.out_up[i_lo:i_hi + 1]))


__all__ = ["TableBound", "table_bound"]
