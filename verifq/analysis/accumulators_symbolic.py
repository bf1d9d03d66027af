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
are fixed, as after a ReLU -- cap the prefix bounds. Each layer's input codes (and its interval
bounds) come from the previous layer's tightened final sums.

Slopes: the chord (DeepPoly's choice), or optimized for each layer l (alpha-CROWN style, but one
upper and one lower line per neuron of each earlier layer, shared by all of layer l's rows):
projected Adam in float64 on the slopes, scaled to [0, the step's largest slope], minimizing the
relative ranges of each neuron's widest held sums and of its final sum; the gradient is exact
for the piecewise-linear bound (each row's maximizer pushed forward through the lines it uses).
Floats only choose: the intercepts are derived in Fractions for whatever slope was chosen, so
every line is valid, and the optimized lines are kept only when they give a narrower layer
(widths, then their sum, then the final sums' ranges) than the chord lines.

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

from ..fixedpoint.integer_net import integer_multiplier, requant_one
from ..network.quantized import QuantizedNetwork, Relu, Requant
from .accumulators import Box, LayerBounds, input_code_bounds, interval_layer, layer_bounds

SLACK = 1e-9
NEAREST = ("ROUND", "HALF_EVEN", "HALF_UP", "HALF_DOWN")
ITERATIONS = 30  # slope optimization steps per layer (0: the chord lines)
LEARNING_RATE = 0.05  # Adam's step on the slopes scaled to [0, 1]
FOCUS = 10.0  # weight of the neurons as wide as the layer (they set its width)
TOP_ROWS = 2  # rows per neuron and side the optimization follows (the widest under the chord lines)


def _relaxation(layer, j: int, lo: int, hi: int, slopes: tuple[float, float] | None = None):
    """(upper slope, upper intercept, lower slope, lower intercept) of the steps of `layer`'s
    neuron j over accumulator values [lo, hi], or None when the steps are not [Relu] Requant.
    `slopes` (upper, lower), chosen by any means (floats), replace the chord ones: the
    intercepts are derived exactly for them, so every slope gives valid lines."""
    steps = layer.steps
    relu = len(steps) == 2 and isinstance(steps[0], Relu)
    rq = steps[-1] if steps else None
    if not isinstance(rq, Requant) or rq.bits == 0 or len(steps) != 1 + relu:
        return None
    g, pts, delta = _step_function(rq, j, relu, lo, hi)
    if slopes is None:
        chord = float((g(Fraction(hi)) - g(Fraction(lo))) / (hi - lo)) if hi > lo else 0.0
        slopes = (chord, chord if not relu or hi > -lo else 0.0)
    su, sl = Fraction(slopes[0]), Fraction(slopes[1])
    mu = max(g(b) - su * b for b in pts) + delta
    ml = min(g(b) - sl * b for b in pts) - delta
    # a flat line may use the step's exact value at the interval's end (the step is monotone)
    if sl == 0:
        ml = max(ml, Fraction(requant_one(rq, j, max(lo, 0) if relu else lo)))
    if su == 0:
        mu = min(mu, Fraction(requant_one(rq, j, max(hi, 0) if relu else hi)))
    return float(su), _up(mu), float(sl), _down(ml)


def _step_function(rq: Requant, j: int, relu: bool, lo: int, hi: int):
    """g (the clamped real-valued step, |step - g| <= delta), its breakpoints in [lo, hi] (with
    lo and hi), and delta."""
    m, n = integer_multiplier(rq.multiplier[j])
    mult = Fraction(m, 1 << n)
    z = rq.zero_point[j]
    qlo, qhi = rq.bounds
    delta = Fraction(1, 2) if rq.rounding in NEAREST else Fraction(1)

    def g(c: Fraction) -> Fraction:
        r = max(c, Fraction(0)) if relu else c
        return min(max(mult * r + z, Fraction(qlo)), Fraction(qhi)) - z

    pts = [Fraction(lo), Fraction(hi)]
    for b in ([Fraction(0)] if relu else []) + [(qlo - z) / mult, (qhi - z) / mult]:
        if lo < b < hi and b not in pts:
            pts.append(b)
    return g, pts, delta


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
                    lines_out: list | None = None, iterations: int = ITERATIONS) -> list[LayerBounds]:
    """Interval bounds tightened by back-substitution (layers 2.. ; the first is already exact).
    Each layer's input codes and interval bounds come from the previous layer's tightened final
    sums. With `iterations` > 0 the relaxation slopes are optimized for each layer (the chord
    lines kept when they give narrower widths). `lines_out`, if a list, receives per layer None
    (first layer, or steps not relaxed) or the lines used: one (n_p, 4) array per earlier layer p
    (upper slope, upper intercept, lower slope, lower intercept per neuron)."""
    lo, hi = input_code_bounds(qnet, box)
    first = qnet.layers[0]
    out = [layer_bounds(np.array(first.weights, dtype=object), np.array(first.bias, dtype=object), lo, hi,
                        orders[0] if orders else "sequential")]
    lines = [None]
    chords: dict[int, np.ndarray | None] = {}  # chord lines of layer p over out[p] (fixed once out[p] is)
    tables: dict[int, tuple] = {}
    for l in range(1, len(qnet.layers)):
        order = orders[l] if orders else "sequential"
        p = l - 1
        rows = [_relaxation(qnet.layers[p], j, out[p].final_lo[j], out[p].final_hi[j]) for j in range(qnet.layers[p].n_out)]
        chords[p] = None if any(r is None for r in rows) else np.array(rows, dtype=np.float64)
        if any(chords[p] is None for p in range(l)):
            out.append(interval_layer(qnet, l, out[l - 1], order))
            lines.append(None)
            continue
        relax = [chords[p] for p in range(l)]
        best, p_hi, p_lo, shapes = layer_with_lines(qnet, l, out, relax, order, chunk)
        if iterations > 0:
            for p in range(l):
                if p not in tables:
                    tables[p] = _tables(qnet.layers[p], out[p])
            su, sl = _optimize(qnet, l, shapes, p_hi, p_lo, relax, out, [tables[p] for p in range(l)], iterations)
            tuned = [np.array([_relaxation(qnet.layers[p], j, out[p].final_lo[j], out[p].final_hi[j], (su[p][j], sl[p][j]))
                               for j in range(qnet.layers[p].n_out)], dtype=np.float64) for p in range(l)]
            cand = layer_with_lines(qnet, l, out, tuned, order, chunk)[0]
            if _key(cand) < _key(best):
                best, relax = cand, tuned
        out.append(best)
        lines.append(relax)
    if lines_out is not None:
        lines_out[:] = lines
    return out


def _key(lb: LayerBounds):
    """Which of two bounds of a layer is better: the layer's width, then its neurons', then the
    final sums' ranges (they feed the later layers' relaxations)."""
    w = lb.widths()
    return (max(w), sum(w), sum(h - l for l, h in zip(lb.final_lo, lb.final_hi)))


def layer_with_lines(qnet: QuantizedNetwork, l: int, out: list[LayerBounds], relax: list[np.ndarray], order: str = "sequential",
                     chunk: int = 4096):
    """Layer l's bounds given the bounds `out` of the layers before it and the lines `relax` (one
    (n_p, 4) array per earlier layer, as `lines_out` gives them): (bounds, every row's float
    upper and lower bound, the rows)."""
    lb = interval_layer(qnet, l, out[l - 1], order)
    layer = qnet.layers[l]
    w = np.array(layer.weights, dtype=np.float64)
    b = np.array(layer.bias, dtype=np.float64)
    clo, chi = np.array(lb.code_lo, dtype=np.float64), np.array(lb.code_hi, dtype=np.float64)
    shapes = [_order_rows(order, w[j], b[j], clo, chi) for j in range(layer.n_out)]
    return (*_evaluate(qnet, l, shapes, relax, out, lb, order, chunk), shapes)


def _evaluate(qnet, l, shapes, relax, out, lb: LayerBounds, order: str, chunk: int):
    """Layer l's bounds with the given lines (rounded outward, capped by the interval bounds),
    and every row's float upper / lower bound."""
    n_out, k = len(shapes), qnet.layers[l].n_in
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
    bounds = LayerBounds(lb.code_lo, lb.code_hi, tuple(pl), tuple(ph), tuple(kl), tuple(kh), tuple(fl), tuple(fh))
    return bounds, p_hi, p_lo


def _tables(layer, lb: LayerBounds):
    """Float tables of layer's steps over its final-sum bounds, for the slope optimization:
    breakpoints (n, 5), g there (n, 5), delta (n,), the step at lo and hi (n,), the largest
    useful slope (n,: g's slope where it is not flat; 0 when lo = hi)."""
    relu = isinstance(layer.steps[0], Relu)
    rq = layer.steps[-1]
    n = layer.n_out
    pts, gv = np.zeros((n, 5)), np.zeros((n, 5))
    delta, e_lo, e_hi, smax = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    for j in range(n):
        lo, hi = lb.final_lo[j], lb.final_hi[j]
        g, bp, d = _step_function(rq, j, relu, lo, hi)
        bp = bp + [bp[0]] * (5 - len(bp))
        pts[j], gv[j], delta[j] = [float(x) for x in bp], [float(g(x)) for x in bp], float(d)
        e_lo[j] = requant_one(rq, j, max(lo, 0) if relu else lo)
        e_hi[j] = requant_one(rq, j, max(hi, 0) if relu else hi)
        m, sh = integer_multiplier(rq.multiplier[j])
        smax[j] = m / float(1 << sh) if hi > lo else 0.0
    return pts, gv, delta, e_lo, e_hi, smax


def _intercepts(tab, su: np.ndarray, sl: np.ndarray):
    """Float intercepts of the lines with slopes su, sl and the breakpoints that set them."""
    pts, gv, delta, e_lo, e_hi, _ = tab
    up, down = gv - su[:, None] * pts, gv - sl[:, None] * pts
    iu, il = up.argmax(axis=1), down.argmin(axis=1)
    rows = np.arange(len(su))
    mu, ml = up[rows, iu] + delta, down[rows, il] - delta
    mu = np.where(su == 0, np.minimum(mu, e_hi), mu)
    ml = np.where(sl == 0, np.maximum(ml, e_lo), ml)
    return mu, ml, pts[rows, iu], pts[rows, il]


def _optimize(qnet, l, shapes, p_hi, p_lo, relax, out, tabs, iterations: int, trace: list | None = None):
    """Slopes for the earlier layers' lines, chosen for layer l's bounds (floats only: the
    caller derives the lines exactly). Projected Adam on the slopes scaled to [0, 1] of the
    largest useful slope, minimizing per neuron the relative range of its widest held sums
    (the rows widest under the chord lines) and of its final sum; the best iterate is kept."""
    his, los, fin, cap = shapes[0][2], shapes[0][3], shapes[0][4], shapes[0][5]
    coefs, consts, group, weight = [], [], [], []
    mags = [max(abs(p_hi[j][his].max()), abs(p_lo[j][los].min()), 1.0) for j in range(len(shapes))]
    widest = np.floor(np.log2(max(mags)))
    for j, (coef, const, *_rest) in enumerate(shapes):
        top = sorted(his, key=lambda t: -p_hi[j][t])[:TOP_ROWS]
        bot = sorted(los, key=lambda t: p_lo[j][t])[:TOP_ROWS]
        hi, lo = p_hi[j][top[0]], p_lo[j][bot[0]]
        # the neurons of the layer's width count most
        mag = mags[j] / (FOCUS if np.floor(np.log2(mags[j])) >= widest else 1.0)
        frange = max(p_hi[j][fin] - p_lo[j][fin], 1.0)
        for rows, sign, capped, wgt in ((top, 1, None if cap is None else cap[0], (1.0 if hi >= -lo else 0.1) / mag),
                                        (bot, -1, None if cap is None else cap[1], (1.0 if -lo >= hi else 0.1) / mag),
                                        ([fin], 1, None, 1.0 / frange), ([fin], -1, None, 1.0 / frange)):
            g = len(weight)
            weight.append(wgt)
            for t in rows:  # the group's value: the max over its rows, then the min with its cap
                coefs.append(sign * coef[t])
                consts.append(sign * const[t])
                group.append((g, 0))
            if capped is not None:
                coefs.append(sign * coef[capped])
                consts.append(sign * const[capped])
                group.append((g, 1))
    coef0, const0 = np.array(coefs), np.array(consts)
    gid = np.array([g for g, _ in group])
    is_cap = np.array([c for _, c in group], dtype=bool)
    weight = np.array(weight)
    ws = [np.array(qnet.layers[p].weights, dtype=np.float64) for p in range(l)]
    bs = [np.array(qnet.layers[p].bias, dtype=np.float64) for p in range(l)]
    x_lo = np.array(out[0].code_lo, dtype=np.float64)
    x_hi = np.array(out[0].code_hi, dtype=np.float64)
    smax = [t[5] for t in tabs]
    scale = [np.where(s > 0, s, 1.0) for s in smax]
    tu = [np.clip(relax[p][:, 0] / scale[p], 0, 1) for p in range(l)]
    tl = [np.clip(relax[p][:, 2] / scale[p], 0, 1) for p in range(l)]
    params = tu + tl
    ng = len(weight)

    def objective(params):
        """The objective and its gradient in the scaled slopes."""
        su = [params[p] * smax[p] for p in range(l)]
        sl = [params[l + p] * smax[p] for p in range(l)]
        icpt = [_intercepts(tabs[p], su[p], sl[p]) for p in range(l)]
        coef, const, lams = coef0, const0.copy(), [None] * l
        for p in range(l - 1, -1, -1):
            lams[p] = coef
            pos = coef > 0
            const = const + (coef * np.where(pos, icpt[p][0], icpt[p][1])).sum(axis=1)
            mu = coef * np.where(pos, su[p], sl[p])
            const = const + mu @ bs[p]
            coef = mu @ ws[p]
        xs = np.where(coef > 0, x_hi, x_lo)
        val = (coef * xs).sum(axis=1) + const
        # each group: max over its rows, then min with its cap row
        gmax = np.full(ng, -np.inf)
        np.maximum.at(gmax, gid[~is_cap], val[~is_cap])
        gcap = np.full(ng, np.inf)
        np.minimum.at(gcap, gid[is_cap], val[is_cap])
        gval = np.minimum(gmax, gcap)
        capped = gcap < gmax
        active = np.where(is_cap, capped[gid] & (val == gcap[gid]), ~capped[gid] & (val == gmax[gid]))
        idx = np.nonzero(active)[0]  # one active row per group (equal rows: e.g. after a dead input)
        idx = idx[np.unique(gid[idx], return_index=True)[1]]
        omega = np.zeros(len(val))
        omega[idx] = weight[gid[idx]]
        # d obj / d slope: sum over rows of omega * lambda * (c_hat - b*), c_hat the rows'
        # maximizers pushed forward through the lines they used
        a = xs
        grads = [None] * (2 * l)
        for p in range(l):
            c = a @ ws[p].T + bs[p]
            lam = lams[p] * omega[:, None]
            pos = lams[p] > 0
            grads[p] = (np.where(pos, lam, 0.0) * (c - icpt[p][2])).sum(axis=0) * smax[p]
            grads[l + p] = (np.where(pos, 0.0, lam) * (c - icpt[p][3])).sum(axis=0) * smax[p]
            a = np.where(pos, su[p] * c + icpt[p][0], sl[p] * c + icpt[p][1])
        return float(weight @ gval), grads

    m1 = [np.zeros_like(x) for x in params]
    m2 = [np.zeros_like(x) for x in params]
    best, best_obj = [x.copy() for x in params], np.inf
    for it in range(iterations + 1):
        obj, grads = objective(params)
        if trace is not None:
            trace.append((obj, objective, [x.copy() for x in params]))
        if obj < best_obj:
            best, best_obj = [x.copy() for x in params], obj
        if it == iterations:
            break
        for i, gr in enumerate(grads):  # Adam, projected on [0, 1]
            m1[i] = 0.9 * m1[i] + 0.1 * gr
            m2[i] = 0.999 * m2[i] + 0.001 * gr * gr
            step = LEARNING_RATE * (m1[i] / (1 - 0.9 ** (it + 1))) / (np.sqrt(m2[i] / (1 - 0.999 ** (it + 1))) + 1e-12)
            # a slope at 0 stays there: its flat line takes the step's exact end value, which
            # no small slope keeps (the objective jumps there)
            params[i] = np.where(params[i] == 0, 0.0, np.clip(params[i] - step, 0.0, 1.0))
    return ([best[p] * smax[p] for p in range(l)], [best[l + p] * smax[p] for p in range(l)])


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
