"""Tighter partial-sum bounds for the deeper layers of an integer network: DeepPoly-style
back-substitution to the input codes, intersected with the interval bounds.

Each requantization after a layer (`[Relu] Requant` with a clamp) is relaxed per neuron by two
lines valid over the neuron's accumulator interval [l, u] (a flat line uses the step's exact
value at l or u, the step being monotone): with g the real-valued clamp of
M' relu(c) + z (the step without its rounding, |step - g| <= 1/2 for the nearest modes and 1
otherwise) and a slope s, the intercept max (resp. min) of g(b) - s b over the breakpoints
b of g in [l, u] gives a line above (below) g, widened by the rounding. A prefix
P_k = bias + sum_{i<k} w_i a_i is bounded by substituting these lines and the exact layer
sums down to the first layer's input codes, which range independently over their intervals.
Every held sum of any order also lies between split_sign's S- and S+ (the negative, resp.
positive, products and the bias of that sign), whose bounds -- linear when the inputs' signs
are fixed, as after a ReLU -- cap the prefix bounds.

Arithmetic is float64 with a rigorous slack: every step adds 1e-9 times the sum of the
absolute values of the terms it combined (far above float64's error for these lengths) to a
per-row slack, and the final bound is rounded outward to an integer. The certificate carries
the lines (`lines_out`), and checker_integer_symbolic.py re-derives the bounds in exact arithmetic
(the split_sign rows classify the products' signs by the codes that the previous layer's
tightened final sums give through its steps, as the checker does).
"""

from __future__ import annotations

from fractions import Fraction
from math import ceil, floor

import numpy as np

from ..fixedpoint.integer_net import integer_multiplier, requant_one, step_interval
from ..network.quantized import QuantizedNetwork, Relu, Requant
from .accumulators import Box, LayerBounds, analyse_bounds

SLACK = 1e-9
NEAREST = ("ROUND", "HALF_EVEN", "HALF_UP", "HALF_DOWN")


def _relaxation(layer, j: int, lo: int, hi: int):
    """(upper slope, upper intercept, lower slope, lower intercept) of the steps of `layer`'s
    neuron j over accumulator values [lo, hi], or None when the steps are not [Relu] Requant."""
    steps = layer.steps
    relu = len(steps) == 2 and isinstance(steps[0], Relu)
    rq = steps[-1] if steps else None
    if not isinstance(rq, Requant) or rq.bits == 0 or len(steps) != 1 + relu:
        return None
    m, n = integer_multiplier(rq.multiplier[j])
    mult = Fraction(m, 1 << n)
    z = rq.zero_point[j]
    qlo, qhi = rq.bounds
    delta = Fraction(1, 2) if rq.rounding in NEAREST else Fraction(1)

    def g(c: Fraction) -> Fraction:
        r = max(c, Fraction(0)) if relu else c
        return min(max(mult * r + z, Fraction(qlo)), Fraction(qhi)) - z

    pts = {Fraction(lo), Fraction(hi)}
    for b in ([Fraction(0)] if relu else []) + [(qlo - z) / mult, (qhi - z) / mult]:
        if lo < b < hi:
            pts.add(b)
    if hi == lo:
        v = g(Fraction(lo))
        return 0.0, float(v + delta) + 1e-9, 0.0, float(v - delta) - 1e-9
    chord = float((g(Fraction(hi)) - g(Fraction(lo))) / (hi - lo))
    lower = chord if not relu or hi > -lo else 0.0
    su, sl = Fraction(chord), Fraction(lower)
    mu = max(g(b) - su * b for b in pts) + delta
    ml = min(g(b) - sl * b for b in pts) - delta
    # a flat line may use the step's exact value at the interval's end (the step is monotone)
    if sl == 0:
        ml = max(ml, Fraction(requant_one(rq, j, max(lo, 0) if relu else lo)))
    if su == 0:
        mu = min(mu, Fraction(requant_one(rq, j, max(hi, 0) if relu else hi)))
    return chord, _up(mu), lower, _down(ml)


def _up(v: Fraction) -> float:
    f = float(v)
    return f if Fraction(f) >= v else float(np.nextafter(f, np.inf))


def _down(v: Fraction) -> float:
    f = float(v)
    return f if Fraction(f) <= v else float(np.nextafter(f, -np.inf))


def _order_rows(order: str, w: np.ndarray, b: float, lo: np.ndarray, hi: np.ndarray):
    """The held partial sums of one neuron as linear rows over its input codes: (coef (R, K), const
    (R,), rows bounding the maximum, rows bounding the minimum, the final-sum row). split_sign: a
    product whose sign is fixed by its input's interval is linear; the others are bounded by
    their interval ends (max(p, 0) <= max(0, w lo, w hi))."""
    k = len(w)
    if order == "split_sign":
        cmax, cmin = np.maximum(w * hi, w * lo), np.minimum(w * hi, w * lo)
        pos, neg = cmin >= 0, cmax <= 0  # the product's sign is fixed (0 counts for both)
        mixed = ~pos & ~neg
        coef = np.stack([np.where(pos, w, 0.0), np.where(neg & ~pos, w, 0.0), w])
        const = np.array([max(b, 0.0) + np.maximum(cmax, 0)[mixed].sum(), min(b, 0.0) + np.minimum(cmin, 0)[mixed].sum(), b])
        return coef, const, [0], [1], 2, None
    tri = np.tril(np.ones((k + 1, k)), -1) * w  # row t keeps the first t weights
    if order == "sequential":
        coef, const = tri, np.full(k + 1, b)
    else:
        coef = np.concatenate([tri, w[None, :]])  # bias_last: the product prefixes, then all of them plus b
        const = np.concatenate([np.zeros(k + 1), [b]])
    # then split_sign's S+ and S- rows: every held sum of either order lies in [S-, S+] (S+ adds
    # every positive product and the bias if positive), so they cap the prefix bounds
    sc, sk = _order_rows("split_sign", w, b, lo, hi)[:2]
    r = len(const)
    return (np.concatenate([coef, sc[:2]]), np.concatenate([const, sk[:2]]), list(range(r)), list(range(r)),
            r - 1, (r, r + 1))


def symbolic_bounds(qnet: QuantizedNetwork, box: Box, chunk: int = 4096, orders: list[str] | None = None,
                    lines_out: list | None = None) -> list[LayerBounds]:
    """Interval bounds tightened by back-substitution (layers 2.. ; the first is already exact).
    With `lines_out`, appends per layer the relaxation lines its bounds used: None (the first
    layer, or a layer left at the interval bounds), else per earlier layer p an (n_p, 4) array of
    (upper slope, upper intercept, lower slope, lower intercept) per neuron (floats, exact dyadics)."""
    bounds = analyse_bounds(qnet, box, None, orders=orders)
    out = [bounds[0]]
    lines = [None]
    for l in range(1, len(qnet.layers)):
        order = orders[l] if orders else "sequential"
        # relaxations of every earlier layer's steps over its current final-sum bounds
        relax = []
        for p in range(l):
            rows = [_relaxation(qnet.layers[p], j, out[p].final_lo[j], out[p].final_hi[j]) for j in range(qnet.layers[p].n_out)]
            if any(r is None for r in rows):
                relax = None
                break
            relax.append(np.array(rows, dtype=np.float64))
        lb = bounds[l]
        lines.append(relax)
        if relax is None:
            out.append(lb)
            continue
        layer = qnet.layers[l]
        w = np.array(layer.weights, dtype=np.float64)
        b = np.array(layer.bias, dtype=np.float64)
        n_out, k = w.shape
        clo, chi = np.array(out[l - 1].final_lo, dtype=object), np.array(out[l - 1].final_hi, dtype=object)
        for step in qnet.layers[l - 1].steps:  # the codes the tightened final sums give (as the checker)
            clo, chi = step_interval(step, clo, chi)
        clo, chi = clo.astype(np.float64), chi.astype(np.float64)
        shapes = [_order_rows(order, w[j], b[j], clo, chi) for j in range(n_out)]
        r = len(shapes[0][1])
        his, los, fin, cap = shapes[0][2], shapes[0][3], shapes[0][4], shapes[0][5]
        p_hi, p_lo = np.empty((n_out, r)), np.empty((n_out, r))
        per = max(1, chunk // r)
        for j0 in range(0, n_out, per):
            js = range(j0, min(n_out, j0 + per))
            coef = np.concatenate([shapes[j][0] for j in js])
            const = np.concatenate([shapes[j][1] for j in js])
            hi_v = _back(qnet, l, coef, const, relax, out, upper=True)
            lo_v = -_back(qnet, l, -coef, -const, relax, out, upper=True)
            p_hi[list(js)] = hi_v.reshape(len(js), r)
            p_lo[list(js)] = lo_v.reshape(len(js), r)
        ph, pl, kh, kl, fh, fl = [], [], [], [], [], []
        for j in range(n_out):
            hi_j = {t: min(int(ceil(p_hi[j][t])), 1 << 62) for t in his}
            lo_j = {t: max(int(floor(p_lo[j][t])), -(1 << 62)) for t in los}
            if cap is not None:  # no held sum above S+ or below S-
                top, bottom = min(int(ceil(p_hi[j][cap[0]])), 1 << 62), max(int(floor(p_lo[j][cap[1]])), -(1 << 62))
                hi_j = {t: min(v, top) for t, v in hi_j.items()}
                lo_j = {t: max(v, bottom) for t, v in lo_j.items()}
            t_hi = max(his, key=lambda t: hi_j[t])
            t_lo = min(los, key=lambda t: lo_j[t])
            ph.append(min(hi_j[t_hi], lb.prefix_hi[j]))
            pl.append(max(lo_j[t_lo], lb.prefix_lo[j]))
            kname = (lambda t: k) if order == "split_sign" else (lambda t: t)
            kh.append(kname(t_hi) if hi_j[t_hi] < lb.prefix_hi[j] else lb.k_hi[j])
            kl.append(kname(t_lo) if lo_j[t_lo] > lb.prefix_lo[j] else lb.k_lo[j])
            fh.append(min(min(int(ceil(p_hi[j][fin])), 1 << 62), lb.final_hi[j]))
            fl.append(max(max(int(floor(p_lo[j][fin])), -(1 << 62)), lb.final_lo[j]))
        out.append(LayerBounds(lb.code_lo, lb.code_hi, tuple(pl), tuple(ph), tuple(kl), tuple(kh), tuple(fl), tuple(fh)))
    if lines_out is not None:
        lines_out.extend(lines)
    return out


def _back(qnet, l: int, coef: np.ndarray, const: np.ndarray, relax, bounds, upper: bool) -> np.ndarray:
    """Upper bound of coef . a_l + const over the domain (a_l: layer l's input codes)."""
    slack = np.zeros(len(const))
    const = const.copy()
    for p in range(l - 1, -1, -1):
        r = relax[p]  # columns: upper slope, upper intercept, lower slope, lower intercept
        pos = coef > 0
        slope = np.where(pos, r[:, 0], r[:, 2])
        icpt = np.where(pos, r[:, 1], r[:, 3])
        term = coef * icpt
        const = const + term.sum(axis=1)
        slack += SLACK * (np.abs(term).sum(axis=1) + np.abs(const))
        cmax = np.maximum(np.abs(np.array(bounds[p].final_lo, dtype=np.float64)),
                          np.abs(np.array(bounds[p].final_hi, dtype=np.float64)))
        coef = coef * slope  # now over layer p's accumulators c_p = W_p a_p + b_p
        slack += SLACK * (np.abs(coef) @ cmax)
        layer = qnet.layers[p]
        wp = np.array(layer.weights, dtype=np.float64)
        bp = np.array(layer.bias, dtype=np.float64)
        const = const + coef @ bp
        slack += SLACK * (np.abs(coef) @ np.abs(bp) + np.abs(const))
        amax = np.maximum(np.abs(np.array(bounds[p].code_lo, dtype=np.float64)),
                          np.abs(np.array(bounds[p].code_hi, dtype=np.float64)))
        new = coef @ wp
        slack += SLACK * ((np.abs(coef) @ np.abs(wp)) @ amax)
        coef = new
    lo = np.array(bounds[0].code_lo, dtype=np.float64)
    hi = np.array(bounds[0].code_hi, dtype=np.float64)
    val = np.where(coef > 0, coef * hi, coef * lo).sum(axis=1) + const
    slack += SLACK * (np.abs(np.where(coef > 0, coef * hi, coef * lo)).sum(axis=1) + np.abs(const))
    return val + slack + 1.0  # one unit of margin before rounding outward
