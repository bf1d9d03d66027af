"""Differential error analysis (ReluDiff / NeuroDiff style): symbolic linear bounds
on the difference d = q(x) - f(x), back-substituted jointly with the DeepPoly
relaxation of the real network, so that errors that cancel across neurons are
not added in absolute value.

Variables, layer k (1-based): h_k the real post-activation (h_0 = x), z_k its
pre-activation, d_k = y~_k - h_k the error of the stored outputs (d_0 the input
quantization error), delta_k = v~_k - z_k the error of the rounded
pre-activation. For every input of the box, exactly (design.py semantics):

  delta_k = W~_k d_{k-1} + (W~_k - W_k) h_{k-1} + E_k,
  E_k     = (b_eff - b) + product rounding + output rounding   (a signed interval per neuron),
  d_k     = g_k(z_k, delta_k) + P_k,     g_k(z, e) = act(z + e) - act(z),
  P_k     = the lookup error of tanh/sigmoid (table or ideal rounding), 0 otherwise,
  z_k     = W_k h_{k-1} + b_k,           h_k = act(z_k).

Relaxations (all valid on the certified boxes z_k in [zl, zu], delta_k in [el, eu]):
  * real network: the lines of `symbolic.relaxation` (those of the range analysis);
  * difference: for fixed e, g(z, e) is monotone in z (ReLU: non-decreasing for
    e >= 0, non-increasing for e < 0; tanh/sigmoid: mean value theorem,
    g = s e with s in the derivative bounds [s_lo, s_hi] over the hull of
    [zl, zu] and [zl + el, zu + eu]), so U(e) = max(g(zl, e), g(zu, e)) and
    L(e) = min(...) for ReLU, U(e) = max(s_lo e, s_hi e), L(e) = min(...) for
    tanh/sigmoid, and L(e) <= g <= U(e). U and L are piecewise linear with
    breakpoints in V = {el, eu, 0, -zl, -zu} (inside [el, eu]); for any slope lam
    (a dyadic at 2^-32, the chord slope), U(e) <= lam e + max_{p in V} (U(p) - lam p)
    and L(e) >= lam e + min_{p in V} (L(p) - lam p): an exact vertex check.

Back-substitution (upper bound of a row a . delta_t; rows +e_j and -e_j): keep
coefficients A on d_k and C on h_k and a constant K. At level k: d_k -> line of
the difference relaxation (upper line where A >= 0, lower where A < 0), h_k ->
line of the real relaxation (by the sign of C), giving alpha on delta_k and
gamma on z_k; then delta_k, z_k are replaced by their affine expressions:
  A' = alpha W~_k,   C' = alpha (W~_k - W_k) + gamma W_k = A' + (gamma - alpha) W_k,
  K += alpha . E_k (by sign) + gamma . b_k.
At the input, and as an early stop at every level, the bound is concretized on
the certified boxes of d_k and h_k; the best level is kept. Every coefficient is
computed exactly and then rounded down to 2^-P; the rounding residual r in
[0, 2^-P) times the variable is bounded by 2^-P max|variable| and added to K
(outward). Constants are rounded up. So every number is exact or outward:
no float is used anywhere.

Lower slopes of the real relaxation: an unstable ReLU's lower line alpha z is sound for any
alpha in [0, 1]. By default the rule chooses its own per row (`diff_alpha.py`: floats choose,
by this rule's bound), re-derives each row exactly with them, and keeps them (hint
`diff_alpha`) only where the exact bound is smaller than with the range rule's per-neuron
0|1 lines; `alpha_iters = 0`: the 0|1 lines alone.

The result per neuron is intersected with the first-order intervals (both sound).
Checker rule "differential" (TIGHT_RULES.md section 6, certificate/checker_diff.py):
the hints are the first-order ones (with the intersected intervals), the
difference-line slopes, the deepest level reached and the per-row lower slopes; the checker re-runs the
same integer back-substitution from the certified claims.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from fractions import Fraction

import numpy as np

from ..fixedpoint.format import Overflow
from ..fixedpoint.quantize import QuantizedNetwork
from ..network.ir import Activation
from ..numeric import scaled
from ..numeric.scaled import PRECISION
from .alpha import ALPHA_BITS, ALPHA_ONE, DEFAULT_ALPHA_ITERS, to_grid
from .first_order import ErrorResult, LayerErrorHints, table_post_terms
from .roundoff import LayerErrors, quantized_output_range
from .smooth import derivative_bounds
from .symbolic import SLOPE_BITS, SLOPE_ONE, _int_layer, relaxation

# multiply-adds of big integers per layer's back-substitution; deeper levels are cut beyond it
DEFAULT_BUDGET = 12_000_000


@dataclass(frozen=True, eq=False)
class DiffLines:
    """Lines of the difference relaxation of one layer (slopes at 2^-32, intercepts at 2^-P),
    lookup error included: lo_s e + lo_c <= d <= up_s e + up_c for e in [el, eu]."""

    lo_s: np.ndarray
    lo_c: np.ndarray
    up_s: np.ndarray
    up_c: np.ndarray
    out_lo: np.ndarray  # enclosure of d itself (min L + P_lo, max U + P_hi)
    out_hi: np.ndarray


@dataclass(frozen=True, eq=False)
class DiffLayer:
    w_int: np.ndarray  # W~ at 2^-f_max
    f_max: int
    num: np.ndarray  # W = num / den, b = bnum / den
    bnum: np.ndarray
    den: int
    e_lo: np.ndarray  # E_k at the pre level (without the weight term)
    e_hi: np.ndarray
    real: object  # symbolic.Relaxation of the real layer
    lines: DiffLines
    d_lo: np.ndarray  # certified enclosure of d_k
    d_hi: np.ndarray
    h_lo: np.ndarray  # certified real post range
    h_hi: np.ndarray


@dataclass(frozen=True, eq=False)
class DiffLayerHints(LayerErrorHints):
    """First-order hints with the intersected intervals, plus the differential rule's own:
    the difference-line slopes (ints at 2^-32) and the deepest back-substitution level."""

    diff_slope_lo: np.ndarray = None
    diff_slope_hi: np.ndarray = None
    diff_level: int = 0
    diff_alpha: dict = None  # {"hi" | "lo": {j: {k: {i: alpha at 2^-ALPHA_BITS}}}} (per-row lower real slopes)

    def to_json(self) -> dict:
        out = super().to_json()
        q = lambda a: [str(Fraction(int(v), SLOPE_ONE)) for v in a]  # noqa: E731
        out.update({"error_rule": "differential", "diff_slope_lo": q(self.diff_slope_lo),
                    "diff_slope_hi": q(self.diff_slope_hi), "diff_level": int(self.diff_level)})
        if self.diff_alpha:
            out["diff_alpha"] = {side: {str(j): {str(k): {str(i): str(Fraction(int(a), ALPHA_ONE)) for i, a in sorted(e.items())}
                                                 for k, e in sorted(per_k.items())}
                                        for j, per_k in sorted(rows.items())}
                                 for side, rows in sorted(self.diff_alpha.items())}
        return out


@dataclass(frozen=True, eq=False)
class DiffResult:
    layers: list  # LayerErrors per layer (intersected with first-order)
    d_pre: tuple  # per layer (lo, hi) of delta_k (differential, before intersection)
    levels: tuple  # per layer: the deepest level reached (0 = inputs)
    hints: tuple = ()  # DiffLayerHints per layer


def _ceil_shift(v, bits):
    return scaled.shift_up(v, bits)


def _g_relu(z: int, e: int) -> int:
    return max(z + e, 0) - max(z, 0)


def diff_lines(act: Activation, zl: int, zu: int, el: int, eu: int, post_lo: int, post_hi: int):
    """(lo_s, lo_c, up_s, up_c, d_lo, d_hi) for one neuron (module docstring)."""
    if act is Activation.LINEAR:
        return SLOPE_ONE, post_lo, SLOPE_ONE, post_hi, el + post_lo, eu + post_hi
    pts = {el, eu}
    if act is Activation.RELU:
        pts |= {p for p in (0, -zl, -zu) if el < p < eu}

        def U(p):
            v = max(_g_relu(zl, p), _g_relu(zu, p))
            return v, v

        def L(p):
            v = min(_g_relu(zl, p), _g_relu(zu, p))
            return v, v
    else:
        s_lo, s_hi = derivative_bounds(act, min(zl, zl + el), max(zu, zu + eu))
        if el < 0 < eu:
            pts.add(0)

        def U(p):  # (rounded down, rounded up) of max(s_lo p, s_hi p)
            v = max(s_lo * p, s_hi * p)
            return scaled.shift_down(v, PRECISION), scaled.shift_up(v, PRECISION)

        def L(p):
            v = min(s_lo * p, s_hi * p)
            return scaled.shift_down(v, PRECISION), scaled.shift_up(v, PRECISION)
    pts = sorted(pts)
    u_vals = {p: U(p) for p in pts}
    l_vals = {p: L(p) for p in pts}
    d_hi = max(v[1] for v in u_vals.values()) + post_hi
    d_lo = min(v[0] for v in l_vals.values()) + post_lo
    if eu <= el:
        return 0, l_vals[el][0] + post_lo, 0, u_vals[eu][1] + post_hi, d_lo, d_hi
    w = eu - el
    lam_u = ((u_vals[eu][0] - u_vals[el][1]) * SLOPE_ONE) // w
    lam_l = ((l_vals[eu][0] - l_vals[el][1]) * SLOPE_ONE) // w
    lam_u = min(max(lam_u, 0), SLOPE_ONE)
    lam_l = min(max(lam_l, 0), SLOPE_ONE)
    up_c = max(u_vals[p][1] - ((lam_u * p) >> SLOPE_BITS) for p in pts) + post_hi  # U(p) - lam p, up
    lo_c = min(l_vals[p][0] + ((-lam_l * p) >> SLOPE_BITS) for p in pts) + post_lo  # L(p) - lam p, down
    return lam_l, lo_c, lam_u, up_c, d_lo, d_hi


def layer_lines(act, z_lo, z_hi, e_lo, e_hi, p_lo, p_hi) -> DiffLines:
    n = len(z_lo)
    cols = [scaled.zeros(n) for _ in range(6)]
    for j in range(n):
        vals = diff_lines(act, int(z_lo[j]), int(z_hi[j]), int(e_lo[j]), int(e_hi[j]), int(p_lo[j]), int(p_hi[j]))
        for c, v in zip(cols, vals):
            c[j] = v
    return DiffLines(*cols)


def _absmax(lo, hi):
    return np.where(-lo > hi, -lo, hi)


def _concretize(A, C, K, d_lo, d_hi, h_lo, h_hi):
    s = np.where(A >= 0, A * d_hi[None, :], A * d_lo[None, :]).sum(axis=1)
    s = s + np.where(C >= 0, C * h_hi[None, :], C * h_lo[None, :]).sum(axis=1)
    return K + _ceil_shift(s, PRECISION)


def backsubstitute(A, C, slack0, below: list[DiffLayer], d_in, x_lo, x_hi, budget: int, lower=None, stop: int = 0,
                   used=None):
    """Upper bounds of the rows A . d_k + C . h_k (+ slack0) with k = len(below) (scaled ints
    at 2^-P, A and C at 2^-P); returns (bounds, deepest level reached). lower: per layer position
    None or a (rows, n_k) array of lower real slopes (at 2^-32) replacing `real.lo_slope` row by
    row; stop: the deepest level to reach; used: a dict filled with {position: C < 0} (the rows'
    entries that took the lower real line)."""
    rows = A.shape[0]
    K = np.array([int(slack0)] * rows, dtype=object)
    best = None
    k = len(below)
    cost = 0
    while True:
        if k == 0:
            dl, dh, hl, hh = d_in[0], d_in[1], x_lo, x_hi
        else:
            el = below[k - 1]
            dl, dh, hl, hh = el.d_lo, el.d_hi, el.h_lo, el.h_hi
        cand = _concretize(A, C, K, dl, dh, hl, hh)
        best = cand if best is None else np.where(cand < best, cand, best)
        if k <= stop:
            break
        el = below[k - 1]
        n_k, n_prev = el.w_int.shape
        cost += 2 * rows * n_k * n_prev
        if cost > budget:
            break
        ln, rx = el.lines, el.real
        pa = A >= 0
        alpha = A * np.where(pa, ln.up_s[None, :], ln.lo_s[None, :])  # at 2^-(P+32)
        K = K + _ceil_shift((A * np.where(pa, ln.up_c[None, :], ln.lo_c[None, :])).sum(axis=1), PRECISION)
        pc = C >= 0
        lo_s = rx.lo_slope[None, :] if lower is None or lower[k - 1] is None else lower[k - 1]
        gamma = C * np.where(pc, rx.up_slope[None, :], lo_s)
        if used is not None:
            used[k - 1] = ~pc
        K = K + _ceil_shift((C * np.where(pc, rx.up_icpt[None, :], rx.lo_icpt[None, :])).sum(axis=1), PRECISION)
        ea = np.where(alpha >= 0, alpha * el.e_hi[None, :], alpha * el.e_lo[None, :]).sum(axis=1)
        K = K + _ceil_shift(ea, PRECISION + SLOPE_BITS)
        K = K + scaled.div_ceil(gamma.dot(el.bnum), el.den << SLOPE_BITS)
        aw = alpha.dot(el.w_int)  # at 2^-(P+32+f_max)
        A = aw >> (SLOPE_BITS + el.f_max)  # floor to 2^-P
        big = aw * el.den + (gamma - alpha).dot(el.num) * (1 << el.f_max)
        C = big // (el.den << (SLOPE_BITS + el.f_max))
        if k - 1 == 0:
            pl, ph, ql, qh = d_in[0], d_in[1], x_lo, x_hi
        else:
            pl, ph, ql, qh = below[k - 2].d_lo, below[k - 2].d_hi, below[k - 2].h_lo, below[k - 2].h_hi
        K = K + int(_ceil_shift(int((_absmax(pl, ph) + _absmax(ql, qh)).sum()), PRECISION)) + 1
        k -= 1
    return best, k


def _optimised_rows(A, C, slack, below, fbelow, d_in, x_lo, x_hi, ub, level: int, iters: int, n: int):
    """Per-row lower real slopes chosen by the rule's own bound (diff_alpha.py), re-derived exactly:
    (bounds, hint) with, per row, the smaller of the 0|1 bound `ub` and the optimized one."""
    from . import diff_alpha

    P1 = float(1 << PRECISION)
    fl = lambda a: np.array([int(v) / P1 for v in a], dtype=float)  # noqa: E731
    Af = np.array([[int(v) / P1 for v in row] for row in A], dtype=float)
    Cf = np.array([[int(v) / P1 for v in row] for row in C], dtype=float)
    boxes = [(fl(d_in[0]), fl(d_in[1]), fl(x_lo), fl(x_hi))] + [(f.d_lo, f.d_hi, f.h_lo, f.h_hi) for f in fbelow]
    alphas, gain = diff_alpha.optimise(Af, Cf, fbelow, boxes, level, iters)
    rows = np.nonzero(gain)[0]
    if not len(rows):
        return ub, {}
    lower = []
    for k, a in enumerate(alphas):
        if a is None:
            lower.append(None)
            continue
        g = to_grid(a[rows]).astype(object) * (1 << (SLOPE_BITS - ALPHA_BITS))  # ints at 2^-32
        base = np.tile(below[k].real.lo_slope, (len(rows), 1))
        lower.append(np.where(fbelow[k].unstable[None, :], g, base))
    used: dict = {}
    ub2, _ = backsubstitute(A[rows], C[rows], slack, below, d_in, x_lo, x_hi, 1 << 62, lower, level, used)
    out, hint = ub.copy(), {}
    for r_i, r in enumerate(rows):
        if not ub2[r_i] < ub[r]:
            continue
        entries = {}
        for k, lw in enumerate(lower):
            if lw is None or k not in used:
                continue
            diff = used[k][r_i].astype(bool) & fbelow[k].unstable & (lw[r_i] != below[k].real.lo_slope).astype(bool)
            if diff.any():
                entries[k] = {int(i): int(lw[r_i][i]) >> (SLOPE_BITS - ALPHA_BITS) for i in np.nonzero(diff)[0]}
        if entries:
            out[r] = ub2[r_i]
            hint.setdefault("hi" if r < n else "lo", {})[int(r % n)] = entries
    return out, hint


def propagate_differential(qnet: QuantizedNetwork, network, ranges: list, relax: tuple, x_lo, x_hi,
                           fo: ErrorResult, fo_layers: list, budget: int = DEFAULT_BUDGET,
                           alpha_iters: int | None = None) -> DiffResult:
    """Per-layer LayerErrors by the differential rule, intersected with the first-order ones
    (`fo`, `fo_layers`: the first-order ErrorResult and its LayerErrors for the same ranges).
    alpha_iters > 0 (default DEFAULT_ALPHA_ITERS): the lower real slopes of unstable ReLUs are
    chosen per row by the rule's own bound with that many projected-gradient steps (`diff_alpha`
    hints); 0: the range rule's per-neuron 0|1 lines alone."""
    from .diff_alpha import float_layer

    iters = DEFAULT_ALPHA_ITERS if alpha_iters is None else int(alpha_iters)
    design = qnet.design
    d_in = fo.d_in
    below: list[DiffLayer] = []
    fbelow: list = []
    out, d_pres, levels, hints = [], [], [], []
    h_lo, h_hi = x_lo, x_hi
    for pos, (ql, rng) in enumerate(zip(qnet.layers, ranges)):
        fel = fo.error_layers[pos]
        hint = fo.hints[pos]
        il = _int_layer(network.layers[pos])
        lt = fel.local
        w_int, f_max = fel.w_int, fel.f_max
        n = ql.n_out
        # rows +-delta_t = +-(W~ d + (W~ - W) h + E)
        A1 = w_int << (PRECISION - f_max) if f_max <= PRECISION else w_int >> (f_max - PRECISION)
        dw = w_int * il.den - il.num * (1 << f_max)  # (W~ - W) den 2^f_max
        C1 = (dw << PRECISION) // (il.den << f_max)
        Cn = ((-dw) << PRECISION) // (il.den << f_max)
        A = np.concatenate([A1, -A1], axis=0)
        if f_max > PRECISION:
            A = np.concatenate([A1, (-w_int) >> (f_max - PRECISION)], axis=0)
        C = np.concatenate([C1, Cn], axis=0)
        hl_in, hh_in = (below[-1].d_lo, below[-1].d_hi) if below else d_in
        slack = int(_ceil_shift(int((_absmax(hl_in, hh_in) + _absmax(h_lo, h_hi)).sum()), PRECISION)) + 1
        ub, level = backsubstitute(A, C, slack, below, d_in, x_lo, x_hi, budget)
        d_alpha = {}
        if iters > 0 and level < pos and any(f.unstable.any() for f in fbelow[level:]):
            ub, d_alpha = _optimised_rows(A, C, slack, below, fbelow, d_in, x_lo, x_hi, ub, level, iters, n)
        rest_hi, rest_lo = ub[:n], -ub[n:]
        e_acc_lo, e_acc_hi = lt.acc_lo - lt.weight_lo, lt.acc_hi - lt.weight_hi  # E without the weight term
        e_lo, e_hi = e_acc_lo + lt.out_lo, e_acc_hi + lt.out_hi
        dacc_lo = np.maximum(rest_lo + e_acc_lo, hint.d_acc_lo)
        dacc_hi = np.minimum(rest_hi + e_acc_hi, hint.d_acc_hi)
        dpre_lo = np.maximum(rest_lo + e_lo, hint.d_pre_lo)
        dpre_hi = np.minimum(rest_hi + e_hi, hint.d_pre_hi)
        d_pres.append((rest_lo + e_lo, rest_hi + e_hi))
        levels.append(level)
        if ql.formats.table is not None:
            p_lo, p_hi = table_post_terms(ql, rng.pre_lo + dpre_lo, rng.pre_hi + dpre_hi, design.rounding)
            p_lo, p_hi = np.maximum(p_lo, lt.post_lo), np.minimum(p_hi, lt.post_hi)
        else:
            p_lo, p_hi = lt.post_lo, lt.post_hi
        lines = layer_lines(ql.activation, rng.pre_lo, rng.pre_hi, dpre_lo, dpre_hi, p_lo, p_hi)
        dout_lo = np.maximum(lines.out_lo, hint.d_out_lo)
        dout_hi = np.minimum(lines.out_hi, hint.d_out_hi)
        if any(int(a) > int(b) for a, b in zip(dout_lo, dout_hi)) or any(
                int(a) > int(b) for a, b in zip(dpre_lo, dpre_hi)):
            raise AssertionError("empty differential error interval: unsound rule")
        fl = fo_layers[pos]
        err_acc = _absmax(dacc_lo, dacc_hi).astype(object)
        err_pre = _absmax(dpre_lo, dpre_hi).astype(object)
        err_out = _absmax(dout_lo, dout_hi).astype(object)
        if design.overflow is Overflow.SATURATE:
            acc_lo, acc_hi = fl.acc_lo, fl.acc_hi
        else:
            acc_lo, acc_hi = rng.pre_lo + dacc_lo, rng.pre_hi + dacc_hi
        o_lo, o_hi = quantized_output_range(ql, rng.pre_lo + dpre_lo, rng.pre_hi + dpre_hi, design.rounding)
        o_lo, o_hi = np.maximum(o_lo, fl.out_lo), np.minimum(o_hi, fl.out_hi)
        budget_parts = dict(fl.budget)
        worst = int(np.argmax([int(v) for v in err_out])) if n else 0
        budget_parts["propagated"] = max(0, int(err_pre[worst]) - max(-int(e_lo[worst]), int(e_hi[worst])))
        out.append(LayerErrors(err_acc, err_pre, err_out, acc_lo.astype(object), acc_hi.astype(object),
                               o_lo.astype(object), o_hi.astype(object), budget_parts))
        rx = relax[pos] if pos < len(relax) and relax[pos] is not None else relaxation(
            ql.activation, rng.pre_lo, rng.pre_hi)[0]
        base = {f.name: getattr(hint, f.name) for f in fields(LayerErrorHints)}
        base.update(d_acc_lo=dacc_lo.astype(object), d_acc_hi=dacc_hi.astype(object), d_pre_lo=dpre_lo.astype(object),
                    d_pre_hi=dpre_hi.astype(object), d_out_lo=dout_lo.astype(object), d_out_hi=dout_hi.astype(object),
                    method=("differential",) * n)
        hints.append(DiffLayerHints(**base, diff_slope_lo=lines.lo_s, diff_slope_hi=lines.up_s, diff_level=level,
                                    diff_alpha=d_alpha))
        below.append(DiffLayer(w_int, f_max, il.num, il.bnum, il.den, e_lo, e_hi, rx, lines,
                               dout_lo.astype(object), dout_hi.astype(object), rng.post_lo, rng.post_hi))
        if iters > 0:
            fbelow.append(float_layer(below[-1], [ql.activation is Activation.RELU and int(a) < 0 < int(b)
                                                  for a, b in zip(rng.pre_lo, rng.pre_hi)]))
        h_lo, h_hi = rng.post_lo, rng.post_hi
    return DiffResult(out, tuple(d_pres), tuple(levels), tuple(hints))


__all__ = ["propagate_differential", "DiffResult", "diff_lines", "DEFAULT_BUDGET"]
