"""Symbolic ranges of the real network: DeepPoly/CROWN-style back-substitution,
computed in exact integer arithmetic, intersected with interval propagation.

Rule (what a checker re-derives, layer by layer, from the certified ranges
of the layers below and the hints; no search):

1. Relaxations.  Every neuron i of a hidden layer k with certified
   pre-activation range [l_i, u_i] (scaled ints at 2^-P, P = 128) gets two
   lines, valid for all z in [l_i, u_i]:
       lo_slope_i * z + lo_icpt_i  <=  act(z)  <=  up_slope_i * z + up_icpt_i
   Slopes are dyadic at 2^-SLOPE_BITS (SLOPE_BITS = 32), intercepts at 2^-P.
   * linear: both lines (1, 0);
   * ReLU, l >= 0: both (1, 0);  u <= 0: both (0, 0);
   * ReLU, l < 0 < u ("unstable"): upper slope a = ceil(u 2^32 / (u - l)) / 2^32
     (>= u/(u-l)), upper intercept ceil(-a l) on the 2^-P grid; lower line
     slope hint alpha in [0, 1] (per neuron: DeepPoly's choice, 1 iff u > -l;
     per (target row, neuron) when optimized: `relu_alpha`, alpha.py), intercept 0.
     Sound: ReLU is convex and the upper line is >= 0 at l and >= u at u;
     a lower line with slope in [0, 1] and intercept 0 lies below ReLU.
   * tanh / sigmoid: the "parallelogram" of `smooth_relaxation` (one slope s,
     two intercepts), or the interval fallback s = 0,
     intercepts act_lo(l), act_hi(u) when l == u.
2. Back-substitution, for every neuron j of layer t >= 2: start from the
   rows +W_t[j] and -W_t[j] (the upper bound of z_j and of -z_j), and for
   k = t-1 .. 1 replace h_k by the upper line where the row's coefficient is
   >= 0 and by the lower line where it is < 0, then z_k by W_k h_{k-1} + b_k;
   at the input, maximise over the box (coefficient >= 0: hi, else lo). All
   in exact rationals (here: integer numerators over one integer denominator
   per layer; the only rounding is the final outward rounding to 2^-P, lower
   ends down, upper ends up). The back-substitution depth is always full
   (down to the input box).
3. The certified range of z_j is the intersection of this bound with the
   interval bound computed from the certified post-activation ranges of layer
   t-1 (`intervals.affine_bounds`); `LayerRangeHints.lo_method/hi_method` say
   which one each end came from, so a checker only needs to recompute that one.
   Post-activation ranges are the activation's monotone image of the pre range,
   exactly as in `intervals.activation_bounds`.

Exactness makes the re-derivation deterministic: a checker computing step 2
in exact rationals (any representation) obtains exactly the unrounded value
this module rounded outward, so every certified end must be <= (lo) / >= (hi)
the checker's value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from math import lcm

import numpy as np

from ..network.ir import Activation
from ..numeric import scaled
from ..numeric.scaled import PRECISION
from .methods import RangeMethod
from .intervals import ExactLayer, LayerRanges, activation_bounds, affine_bounds, interval_ranges
from .smooth import derivative_bounds, smooth_up, smooth_value_bounds
from .alpha import ALPHA_BITS, ALPHA_ONE, DEFAULT_ALPHA_ITERS, optimise_alphas, to_grid

SLOPE_BITS = 32
SLOPE_ONE = 1 << SLOPE_BITS
SMOOTH_PIECES = 16


# ----------------------------------------------------------------------------- hints


@dataclass(frozen=True, eq=False)
class LayerRangeHints:
    """How one layer's certified pre-activation range was obtained.

    lo_method / hi_method: per neuron "interval" | "symbolic" | "milp".
    relu_lower_slope: neuron -> 0 or 1, for every unstable ReLU of this
      layer (the lower line used when later layers back-substitute through it).
    smooth_slope: neuron -> slope numerator at 2^-SLOPE_BITS of the
      parallelogram relaxation of a tanh/sigmoid neuron (with SMOOTH_PIECES
      pieces; see `smooth_relaxation`).
    """

    lo_method: tuple[str, ...]
    hi_method: tuple[str, ...]
    relu_lower_slope: dict = field(default_factory=dict)
    smooth_slope: dict = field(default_factory=dict)
    smooth_icpt: dict = field(default_factory=dict)  # neuron -> (c_lo, c_up) scaled ints (the checker proves them and uses them)
    # optimized lower ReLU slopes used when back-substituting THIS layer's rows:
    # {"hi" | "lo": {neuron j: {earlier layer k (0-based): {neuron i: alpha numerator at 2^-ALPHA_BITS}}}}
    # ("hi": the row +W_t[j], upper bound; "lo": the row -W_t[j]); entries absent use layer k's relu_lower_slope
    relu_alpha: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out = {
            "lo_method": list(self.lo_method),
            "hi_method": list(self.hi_method),
            "relu_lower_slope": {str(k): int(v) for k, v in sorted(self.relu_lower_slope.items())},
            "smooth_slope": {str(k): str(Fraction(int(v), SLOPE_ONE)) for k, v in sorted(self.smooth_slope.items())},
            "smooth_intercepts": {str(k): [str(scaled.to_fraction(c)) for c in v] for k, v in sorted(self.smooth_icpt.items())},
        }
        if self.relu_alpha:
            out["relu_alpha"] = {side: {str(j): {str(k): {str(i): str(Fraction(int(a), ALPHA_ONE)) for i, a in sorted(row.items())}
                                                 for k, row in sorted(per_k.items())}
                                        for j, per_k in sorted(rows.items())}
                                 for side, rows in sorted(self.relu_alpha.items())}
        return out


@dataclass(frozen=True, eq=False)
class RangeResult:
    """Ranges of every layer plus what a checker needs to re-derive them."""

    method: RangeMethod
    layers: tuple[LayerRanges, ...]
    hints: tuple[LayerRangeHints, ...]
    relax: tuple = ()  # per layer: the Relaxation lines (symbolic/milp only)

    def hints_json(self) -> dict:
        return {
            "range_method": self.method,
            "precision_bits": PRECISION,
            "slope_bits": SLOPE_BITS,
            "smooth_pieces": SMOOTH_PIECES,
            "backsubstitution_depth": "full",
            "alpha_bits": ALPHA_BITS,
            "layers": [h.to_json() for h in self.hints],
        }


# ----------------------------------------------------------------------------- relaxations


@dataclass(frozen=True, eq=False)
class Relaxation:
    """Per-neuron lines of one layer: slopes at 2^-SLOPE_BITS, intercepts at 2^-P."""

    lo_slope: np.ndarray
    lo_icpt: np.ndarray
    up_slope: np.ndarray
    up_icpt: np.ndarray


def relu_upper_slope(lo: int, hi: int) -> int:
    """ceil(hi / (hi - lo) * 2^SLOPE_BITS) for lo < 0 < hi (scaled ints)."""
    return -((-hi * SLOPE_ONE) // (hi - lo))


def default_relu_lower(lo: int, hi: int) -> int:
    """DeepPoly's lower-slope choice: 1 when the positive side is larger."""
    return 1 if hi > -lo else 0


def relaxation(act: Activation, pre_lo: np.ndarray, pre_hi: np.ndarray, lower_choice: dict | None = None,
               smooth_slopes: dict | None = None) -> tuple[Relaxation, dict, dict]:
    """Relaxation lines of a layer (rule 1 of the module docstring).

    lower_choice / smooth_slopes: hints to reuse (neuron -> value); missing
    entries get the default choice. Returns (relaxation, lower choices used,
    smooth slopes used).
    """
    n = len(pre_lo)
    ls, li, us, ui = scaled.zeros(n), scaled.zeros(n), scaled.zeros(n), scaled.zeros(n)
    used_lower: dict = {}
    used_smooth: dict = {}
    for i in range(n):
        lo, hi = int(pre_lo[i]), int(pre_hi[i])
        if act is Activation.LINEAR:
            ls[i] = us[i] = SLOPE_ONE
        elif act is Activation.RELU:
            if lo >= 0:
                ls[i] = us[i] = SLOPE_ONE
            elif hi <= 0:
                pass
            else:
                a = relu_upper_slope(lo, hi)
                us[i] = a
                ui[i] = -((a * lo) >> SLOPE_BITS)  # ceil(-a*lo / 2^32)
                k = default_relu_lower(lo, hi) if not lower_choice or i not in lower_choice else int(lower_choice[i])
                if k not in (0, 1):
                    raise ValueError("ReLU lower slope hint must be 0 or 1")
                ls[i] = k * SLOPE_ONE
                used_lower[i] = k
        else:
            s = None if not smooth_slopes or i not in smooth_slopes else int(smooth_slopes[i])
            s, c_lo, c_up = smooth_relaxation(act, lo, hi, s)
            ls[i] = us[i] = s
            li[i], ui[i] = c_lo, c_up
            used_smooth[i] = s
    return Relaxation(ls, li, us, ui), used_lower, used_smooth


def smooth_relaxation(act: Activation, lo: int, hi: int, slope: int | None = None) -> tuple[int, int, int]:
    """Parallelogram relaxation of tanh/sigmoid on [lo, hi]: (s, c_lo, c_up) with
    s z + c_lo <= act(z) <= s z + c_up for all z in [lo, hi].

    s (at 2^-SLOPE_BITS, >= 0) is a hint; the default is the chord slope
    rounded down. The intercepts are bounds of phi(z) = act(z) - s z over
    [lo, hi], computed on SMOOTH_PIECES pieces [a, b] (a_k = lo +
    floor(k (hi - lo) / K)) with the rigorous value bounds f_lo/f_hi and the
    derivative bounds [d_lo, d_hi] of the piece:
        max phi <= min( f_hi(b) - s a,  f_hi(a) - s a + max(0, d_hi - s) (b - a) )
        min phi >= max( f_lo(a) - s b,  f_lo(b) - s b - max(0, d_hi - s) (b - a) )
    (monotonicity, resp. the mean value theorem: phi' <= d_hi - s), each
    product rounded outward; c_up is the max over pieces, c_lo the min.
    lo == hi gives s = 0 and the value bounds.
    """
    f_lo_l, f_hi_l = smooth_value_bounds(act, lo)
    if hi <= lo:
        return 0, f_lo_l, smooth_up(act, hi)
    f_lo_h, f_hi_h = smooth_value_bounds(act, hi)
    if slope is None:
        s = ((f_lo_h - f_hi_l) * SLOPE_ONE) // (hi - lo)
        s = max(s, 0)
    else:
        s = int(slope)
        if s < 0:
            raise ValueError("smooth relaxation slope must be >= 0")
    K = SMOOTH_PIECES
    pts = [lo + ((hi - lo) * k) // K for k in range(K)] + [hi]
    vals = {0: (f_lo_l, f_hi_l), K: (f_lo_h, f_hi_h)}
    for k in range(1, K):
        vals[k] = smooth_value_bounds(act, pts[k])
    c_up = None
    c_lo = None
    for k in range(K):
        a, b = pts[k], pts[k + 1]
        if b == a:
            continue
        _, d_hi = derivative_bounds(act, a, b, vals[k], vals[k + 1])
        # s*a and s*b at 2^-P: S*A / 2^32
        sa_dn = (s * a) >> SLOPE_BITS
        sb_up = -((-s * b) >> SLOPE_BITS)
        excess = max(0, (d_hi << SLOPE_BITS) - s * (1 << PRECISION))  # (d_hi - s) at 2^-(P+32)
        slack = -((-excess * (b - a)) >> (PRECISION + SLOPE_BITS))  # ceil((d_hi - s)(b - a)) at 2^-P
        up = min(vals[k + 1][1] - sa_dn, vals[k][1] - sa_dn + slack)
        dn = max(vals[k][0] - sb_up, vals[k + 1][0] - sb_up - slack)
        c_up = up if c_up is None else max(c_up, up)
        c_lo = dn if c_lo is None else min(c_lo, dn)
    return s, c_lo, c_up


# ----------------------------------------------------------------------------- back-substitution


@dataclass(frozen=True, eq=False)
class _IntLayer:
    """W = num / den, b = bnum / den (one common integer denominator)."""

    num: np.ndarray
    bnum: np.ndarray
    den: int


def _int_layer(layer) -> _IntLayer:
    """From a network DenseLayer (exact weights and bias)."""
    w, b = layer.exact_weights, layer.exact_bias
    d = lcm(w.den, b.den)
    return _IntLayer(w.num * (d // w.den), b.num * (d // b.den), d)


def backsubstitute(rows_num: np.ndarray, rows_bias: np.ndarray, row_den: int, int_layers: list[_IntLayer],
                   relax: list[Relaxation], x_lo: np.ndarray, x_hi: np.ndarray, lower_rows: list | None = None,
                   used: list | None = None) -> np.ndarray:
    """Exact upper bounds (scaled ints at 2^-P, rounded up) of the rows
    (rows_num @ h_{k} + rows_bias) / row_den over the relaxed network,
    where k = len(int_layers) is the layer the rows read (h_0 = x).

    int_layers[i] / relax[i] describe layers 1..k (0-based position i).
    lower_rows[i] (optional): per row, the lower slopes (at 2^-SLOPE_BITS) of
    layer i replacing relax[i].lo_slope (per-row optimized ReLU slopes).
    used (optional list): receives, per position i, the boolean mask of the
    (row, neuron) pairs where the lower line was taken.
    """
    lam = rows_num  # coefficients on h_k, over den
    den = row_den
    const = rows_bias * (1 << PRECISION)  # over den * 2^P
    for pos in range(len(int_layers) - 1, -1, -1):
        rx = relax[pos]
        il = int_layers[pos]
        pos_mask = lam >= 0
        lower = rx.lo_slope[None, :] if lower_rows is None or lower_rows[pos] is None else lower_rows[pos]
        slope = np.where(pos_mask, rx.up_slope[None, :], lower)
        if used is not None:
            used.insert(0, ~pos_mask)
        icpt = np.where(pos_mask, rx.up_icpt[None, :], rx.lo_icpt[None, :])
        const = (const + (lam * icpt).sum(axis=1)) * SLOPE_ONE
        mu = lam * slope  # over den * 2^32
        den = den * SLOPE_ONE
        # z_k = (num h_{k-1} + bnum) / il.den
        const = const * il.den + mu.dot(il.bnum) * (1 << PRECISION)
        lam = mu.dot(il.num)
        den = den * il.den
        # drop common powers of two to keep the integers small (exact)
        lam, const, den = _reduce_pow2(lam, const, den)
    const = const + np.where(lam >= 0, lam * x_hi[None, :], lam * x_lo[None, :]).sum(axis=1)
    return scaled.div_ceil(const, den)


def _reduce_pow2(lam: np.ndarray, const: np.ndarray, den: int):
    """Divide numerators and denominator by their common power of two (exact)."""
    tz = (den & -den).bit_length() - 1
    if tz <= 0:
        return lam, const, den
    acc = 0
    for v in lam.ravel():
        acc |= int(v)
    for v in const:
        acc |= int(v)
    if acc == 0:
        return lam, const, den >> tz
    t = min(tz, (acc & -acc).bit_length() - 1)
    if t <= 0:
        return lam, const, den
    return lam >> t, const >> t, den >> t


def symbolic_ranges(network, layers: list[ExactLayer], x_lo: np.ndarray, x_hi: np.ndarray,
                    hints: list[LayerRangeHints] | None = None, fixed: list[LayerRanges | None] | None = None,
                    alpha_iters: int = DEFAULT_ALPHA_ITERS) -> RangeResult:
    """DeepPoly back-substitution for every layer, intersected with intervals.

    `network`: the Network (its exact weights and biases are used directly).
    `hints`: lower-slope / smooth-slope choices to reuse (e.g. from a
    certificate); default choices otherwise. `fixed`: per layer, ranges
    already known from elsewhere (e.g. MILP) to intersect with as well.
    `alpha_iters` > 0: optimize the lower ReLU slopes per (target neuron, side)
    with that many projected-gradient steps (alpha.py; recorded as
    `relu_alpha` hints); 0: the per-neuron 0|1 choice alone.
    """
    int_layers = [_int_layer(l) for l in network.layers]
    floats = _FloatNet(int_layers, x_lo, x_hi) if alpha_iters > 0 else None
    unstable: list[np.ndarray] = []
    out: list[LayerRanges] = []
    out_hints: list[LayerRangeHints] = []
    relax: list[Relaxation] = []
    r_lo, r_hi = x_lo, x_hi
    for t, layer in enumerate(layers):
        i_lo, i_hi = affine_bounds(layer, r_lo, r_hi)
        n = len(i_lo)
        lo_m = ["interval"] * n
        hi_m = ["interval"] * n
        pre_lo, pre_hi = i_lo.copy(), i_hi.copy()
        alpha_hint = {}
        if t > 0:
            il = int_layers[t]
            rows = np.concatenate([il.num, -il.num], axis=0)
            rb = np.concatenate([il.bnum, -il.bnum])
            h_t = hints[t] if hints is not None and t < len(hints) else None
            given = h_t.relu_alpha if h_t is not None else None
            lower_rows, alpha_hint, used = None, {}, []
            if given:
                lower_rows = _rows_from_hint(given, relax, unstable, n)
            elif floats is not None and any(u.any() for u in unstable):
                lower_rows = _optimised_rows(floats, t, relax, unstable, alpha_iters)
            ub = backsubstitute(rows, rb, il.den, int_layers[:t], relax, x_lo, x_hi, lower_rows, used)
            if lower_rows is not None:
                alpha_hint = _alpha_hint(lower_rows, used, relax, unstable, n)
            s_hi, s_lo = ub[:n], -ub[n:]
            for j in range(n):
                if s_lo[j] > pre_lo[j]:
                    pre_lo[j], lo_m[j] = s_lo[j], "symbolic"
                if s_hi[j] < pre_hi[j]:
                    pre_hi[j], hi_m[j] = s_hi[j], "symbolic"
        if fixed is not None and fixed[t] is not None:
            f = fixed[t]
            for j in range(n):
                if f.pre_lo[j] > pre_lo[j]:
                    pre_lo[j], lo_m[j] = f.pre_lo[j], "milp"
                if f.pre_hi[j] < pre_hi[j]:
                    pre_hi[j], hi_m[j] = f.pre_hi[j], "milp"
        # guard: never report an empty range (cannot happen when everything is sound)
        if any(pre_lo[j] > pre_hi[j] for j in range(n)):
            raise AssertionError("empty symbolic range: unsound relaxation")
        post_lo, post_hi = activation_bounds(layer.activation, pre_lo, pre_hi)
        out.append(LayerRanges(pre_lo, pre_hi, post_lo, post_hi))
        h = hints[t] if hints is not None and t < len(hints) else None
        rx, used_lower, used_smooth = relaxation(
            layer.activation, pre_lo, pre_hi,
            h.relu_lower_slope if h is not None else None, h.smooth_slope if h is not None else None,
        )
        relax.append(rx)
        unstable.append(np.array([layer.activation is Activation.RELU and int(pre_lo[i]) < 0 < int(pre_hi[i])
                                  for i in range(n)], dtype=bool))
        icpt = {i: (rx.lo_icpt[i], rx.up_icpt[i]) for i in used_smooth}
        out_hints.append(LayerRangeHints(tuple(lo_m), tuple(hi_m), used_lower, used_smooth, icpt, alpha_hint))
        r_lo, r_hi = post_lo, post_hi
    return RangeResult(RangeMethod.SYMBOLIC, tuple(out), tuple(out_hints), tuple(relax))


# ----------------------------------------------------------------------------- optimized lower slopes


class _FloatNet:
    """Float64 copies of the weights and the input box (only to *choose* alphas)."""

    def __init__(self, int_layers: list[_IntLayer], x_lo, x_hi):
        self.W = [np.array(il.num / il.den, dtype=float) for il in int_layers]
        self.b = [np.array(il.bnum / il.den, dtype=float) for il in int_layers]
        self.x_lo = _to_float(x_lo, 1 << PRECISION)
        self.x_hi = _to_float(x_hi, 1 << PRECISION)


def _to_float(a, den: int) -> np.ndarray:
    return np.array([int(v) / den for v in a], dtype=float)


def _optimised_rows(fn: _FloatNet, t: int, relax: list[Relaxation], unstable: list[np.ndarray], iters: int) -> list:
    """Per layer k < t: the (2 n_t, n_k) lower slopes (ints at 2^-SLOPE_BITS) for layer t's rows,
    alphas optimized in floats and rounded to 2^-ALPHA_BITS on unstable ReLUs, relax[k].lo_slope elsewhere."""
    P1, S1 = 1 << PRECISION, SLOPE_ONE
    lines = []
    for rx, u in zip(relax[:t], unstable[:t]):
        lines.append((_to_float(rx.up_slope, S1), _to_float(rx.up_icpt, P1), _to_float(rx.lo_slope, S1),
                      _to_float(rx.lo_icpt, P1), u))
    alphas = optimise_alphas(fn.W[:t + 1], fn.b[:t + 1], lines, fn.x_lo, fn.x_hi, iters)
    out = []
    R = 2 * len(fn.b[t])
    for k in range(t):
        if alphas[k] is None:
            out.append(None)
            continue
        grid = to_grid(alphas[k])
        rows = np.empty((R, len(unstable[k])), dtype=object)
        rows[:, :] = relax[k].lo_slope[None, :]
        cols = np.nonzero(unstable[k])[0]
        for i in cols:
            rows[:, i] = [int(g) << (SLOPE_BITS - ALPHA_BITS) for g in grid[:, i]]
        out.append(rows)
    return out


def _rows_from_hint(given: dict, relax: list[Relaxation], unstable: list[np.ndarray], n: int) -> list:
    """Lower-slope rows from a `relu_alpha` hint (see LayerRangeHints); rejects bad values."""
    t = len(relax)
    out = [None] * t
    for side, rows in given.items():
        if side not in ("hi", "lo"):
            raise ValueError(f"relu_alpha: side must be 'hi' or 'lo', not {side!r}")
        for j, per_k in rows.items():
            r = int(j) + (0 if side == "hi" else n)
            for k, entries in per_k.items():
                k = int(k)
                if not 0 <= k < t:
                    raise ValueError(f"relu_alpha: layer {k} is not below this layer")
                if out[k] is None:
                    out[k] = np.empty((2 * n, len(unstable[k])), dtype=object)
                    out[k][:, :] = relax[k].lo_slope[None, :]
                for i, a in entries.items():
                    i, a = int(i), int(a)
                    if not (0 <= i < len(unstable[k]) and unstable[k][i]) or not 0 <= a <= ALPHA_ONE:
                        raise ValueError(f"relu_alpha: bad entry layer {k} neuron {i} alpha {a}/{ALPHA_ONE}")
                    out[k][r, i] = a << (SLOPE_BITS - ALPHA_BITS)
    return out


def _alpha_hint(lower_rows: list, used: list, relax: list[Relaxation], unstable: list[np.ndarray], n: int) -> dict:
    """The entries of `lower_rows` that the back-substitution used and that differ from the
    per-neuron lower slope (the others do not change the bound), as a `relu_alpha` hint."""
    out: dict = {}
    for k, rows in enumerate(lower_rows):
        if rows is None:
            continue
        differs = (rows != relax[k].lo_slope[None, :]).astype(bool) & used[k] & unstable[k][None, :]
        for r, i in zip(*np.nonzero(differs)):
            side, j = ("hi", int(r)) if r < n else ("lo", int(r) - n)
            out.setdefault(side, {}).setdefault(j, {}).setdefault(k, {})[int(i)] = int(rows[r, i]) >> (SLOPE_BITS - ALPHA_BITS)
    return out


def interval_result(layers: list[ExactLayer], x_lo, x_hi) -> RangeResult:
    rs = interval_ranges(layers, x_lo, x_hi)
    hints = tuple(LayerRangeHints(("interval",) * len(r.pre_lo), ("interval",) * len(r.pre_lo)) for r in rs)
    return RangeResult(RangeMethod.INTERVAL, tuple(rs), hints)


__all__ = [
    "symbolic_ranges", "interval_result", "RangeResult", "LayerRangeHints", "Relaxation", "relaxation",
    "smooth_relaxation", "backsubstitute", "SLOPE_BITS", "SMOOTH_PIECES",
]
