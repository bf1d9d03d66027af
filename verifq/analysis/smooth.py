"""tanh and sigmoid, rigorously: value bounds (70-digit decimal evaluation
widened by a slack far above its error) and derivative bounds on intervals,
as outward-rounded scaled integers (`verifq.numeric.scaled`)."""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction

from ..network.ir import Activation
from ..numeric import scaled
from ..numeric.scaled import PRECISION

_SLACK = Decimal(10) ** -45  # far above the 70-digit evaluation error, far below 2^-128 * useful


def _smooth_decimal(act: Activation, x: Fraction) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 70
        xd = Decimal(x.numerator) / Decimal(x.denominator)
        if act is Activation.TANH:
            if xd > 200:
                return Decimal(1)
            if xd < -200:
                return Decimal(-1)
            e = (2 * xd).exp()
            return (e - 1) / (e + 1)
        if xd < -400:
            return Decimal(0)
        return 1 / (1 + (-xd).exp())


def smooth_down(act: Activation, n: int) -> int:
    """A scaled lower bound of act(n * 2^-P) for tanh/sigmoid."""
    with localcontext() as ctx:
        ctx.prec = 70
        v = _smooth_decimal(act, scaled.to_fraction(n)) - _SLACK
        return scaled.down(Fraction(v))


def smooth_up(act: Activation, n: int) -> int:
    with localcontext() as ctx:
        ctx.prec = 70
        v = _smooth_decimal(act, scaled.to_fraction(n)) + _SLACK
        return scaled.up(Fraction(v))


def smooth_value_bounds(act: Activation, n: int) -> tuple[int, int]:
    """(smooth_down(act, n), smooth_up(act, n)) with one 70-digit evaluation (same rule as smooth_down / smooth_up)."""
    with localcontext() as ctx:
        ctx.prec = 70
        v = _smooth_decimal(act, scaled.to_fraction(n))
        return scaled.down(Fraction(v - _SLACK)), scaled.up(Fraction(v + _SLACK))


def _abs_value_bounds(act: Activation, m: int, vals: tuple[int, int] | None) -> tuple[int, int]:
    """Bounds of act(|m|) from bounds of act(m) (tanh odd; sigmoid(-x) = 1 - sigmoid(x))."""
    one = 1 << PRECISION
    if m == 0:
        return (0, 0) if act is Activation.TANH else (one >> 1, one >> 1)
    lo, hi = vals if vals is not None else smooth_value_bounds(act, m)
    if m > 0:
        return lo, hi
    return (-hi, -lo) if act is Activation.TANH else (one - hi, one - lo)


def derivative_bounds(act: Activation, lo: int, hi: int, lo_vals=None, hi_vals=None) -> tuple[int, int]:
    """[dlo, dhi] (scaled ints) with dlo <= act'(z) <= dhi for all z in [lo, hi].

    tanh' = 1 - tanh^2 and sigmoid' = sig (1 - sig) are even and decrease
    in |z|: the maximum is at the point of [lo, hi] nearest 0 (0 itself when
    lo <= 0 <= hi), the minimum at the end farthest from 0. Evaluated with the
    rigorous value bounds of `smooth_down/up` (outward; lo_vals /
    hi_vals: those bounds at lo / hi when already known), so the result is an
    enclosure.
    """
    one = 1 << PRECISION
    if act is Activation.LINEAR:
        return one, one
    if act not in (Activation.TANH, Activation.SIGMOID):
        raise ValueError(act)
    ends = {lo: lo_vals, hi: hi_vals}
    if lo <= 0 <= hi:
        near, near_vals = 0, None
    else:
        near = lo if abs(lo) <= abs(hi) else hi
        near_vals = ends[near]
    far = lo if abs(lo) >= abs(hi) else hi
    n_lo, _ = _abs_value_bounds(act, near, near_vals)
    _, f_hi = _abs_value_bounds(act, far, ends[far])
    if act is Activation.TANH:
        t_lo_near = max(n_lo, 0)  # tanh(|z|) >= 0
        t_hi_far = min(f_hi, one)
        dhi = one - scaled.shift_down(t_lo_near * t_lo_near, PRECISION)  # 1 - t^2, t rounded down
        dlo = one - scaled.shift_up(t_hi_far * t_hi_far, PRECISION)
        return max(dlo, 0), min(dhi, one)
    # p = sig(|z|) in [1/2, 1); p(1-p) decreases in p there
    half = one >> 1
    p_lo_near = max(n_lo, half)
    p_hi_far = min(f_hi, one)
    dhi = scaled.shift_up(p_lo_near * (one - p_lo_near), PRECISION)
    dlo = scaled.shift_down(p_hi_far * (one - p_hi_far), PRECISION)
    return max(dlo, 0), min(dhi, one >> 2)
