"""The tight rules of the independent checker (verifq/analysis/TIGHT_RULES.md):
`range_rule = "symbolic"` (back-substitution through ReLU / linear
relaxations) and `error_rule = "first_order"` (backward interval pass over
signed error intervals), re-derived in exact arithmetic (ints over common
denominators, `Fraction`) from the certified claims of earlier layers and the
per-layer hints. Standard library only: it builds on checker_core.py (numbers,
formats, rigorous tanh/sigmoid) and imports nothing from verifq, so it also
works when checker.py runs as a script.

Soundness of each check is *claimed ⊇ derived*; the derivations below are the
exact (unrounded) versions of the engine's, so outward-rounded claims pass.
tanh/sigmoid layers: the certificate's relaxation lines and slope intervals
are checked rigorously (value bounds from checker_core.act_bounds, derivative
bounds from them) and then used as given. Not covered here (the writer falls
back to interval / l1_local): "milp" range ends, split domains.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from math import lcm
from pathlib import Path

try:
    from . import checker_core as C
except ImportError:  # run as a script next to checker_core.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import checker_core as C

RANGE_RULES = ("symbolic",)
ERROR_RULES = ("first_order", "differential")  # differential: checker_diff.py
SUPPORTED_ACTS = ("relu", "linear", "tanh", "sigmoid")  # what the writer may certify with these rules
SMOOTH = ("tanh", "sigmoid")
P = 128  # intercepts live on the 2^-P grid
SB = 32  # relaxation slopes live on the 2^-SB grid
AB = 16  # lower ReLU slopes (relu_lower_slope, relu_alpha) are dyadics in [0, 1] on the 2^-AB grid
K = 16  # pieces of a tanh/sigmoid relaxation check (the engine's, so its intercepts pass)
_E_KEYS = ("d_acc_lo", "d_acc_hi", "d_pre_lo", "d_pre_hi", "d_out_lo", "d_out_hi")


def _hints(ch, L, key):
    h = ch.cert["claims"]["layers"][L].get("hints", {})
    v = h.get(key) if isinstance(h, dict) else None
    if not isinstance(v, dict):
        raise C.Invalid(f"layer {L + 1} rules", f"the tight {key} rule needs hints.{key}, which is missing")
    return v


def _state(ch) -> dict:
    """The tight rules' own data of one checker run (relaxations, integer layers, value bounds)."""
    return ch.tight_state


def _ceil(q: Fraction) -> int:
    return -((-q.numerator) // q.denominator)


# ---------------------------------------------------------------- ranges: "symbolic"
def ranges(ch, L, name, layer, cl, prev):
    st = _state(ch)
    step = f"{name} ranges"
    h = _hints(ch, L, "ranges")
    n = layer.n_out
    lo_m, hi_m = (C.get_list(h, k, f"claims.layers[{L}].hints.ranges", n) for k in ("lo_method", "hi_method"))
    x_lo, x_hi = prev[0], prev[1]
    xs, dx = C.common_denominator(x_lo + x_hi)
    xl, xh = xs[:len(x_lo)], xs[len(x_lo):]
    need = {j for j in range(n) if lo_m[j] == "symbolic" or hi_m[j] == "symbolic"}
    for j, m in enumerate(lo_m + hi_m):
        if m not in ("interval", "symbolic"):
            raise C.Invalid(step, f"neuron {j % n}: range end by {m!r} is not re-derivable by this checker "
                                  "(rules: interval, symbolic)")
    if need and L == 0:
        raise C.Invalid(step, "layer 1 ranges follow from the interval rule only")
    sym = _backsub(ch, L, sorted(need), _alphas(ch, L, h, n, step)) if need else {}
    for j in range(n):
        row = layer.wn[j]
        den = layer.wd * dx
        ilo = Fraction(sum(w * (a if w > 0 else b) for w, a, b in zip(row, xl, xh)), den) + layer.bias[j]
        ihi = Fraction(sum(w * (b if w > 0 else a) for w, a, b in zip(row, xl, xh)), den) + layer.bias[j]
        lo = sym[j][0] if lo_m[j] == "symbolic" else ilo
        hi = sym[j][1] if hi_m[j] == "symbolic" else ihi
        if cl["pre_lo"][j] > lo or cl["pre_hi"][j] < hi:
            raise C.Invalid(step, f"neuron {j}: claimed pre-activation range [{C.show(cl['pre_lo'][j])}, "
                                  f"{C.show(cl['pre_hi'][j])}] does not contain [{C.show(lo)}, {C.show(hi)}] "
                                  f"(rule symbolic: lower end by {lo_m[j]}, upper end by {hi_m[j]})")
        plo, phi = C.act_bounds(layer.act, cl["pre_lo"][j], False), C.act_bounds(layer.act, cl["pre_hi"][j], True)
        if cl["post_lo"][j] > plo or cl["post_hi"][j] < phi:
            raise C.Invalid(step, f"neuron {j}: claimed post-activation range [{C.show(cl['post_lo'][j])}, "
                                  f"{C.show(cl['post_hi'][j])}] does not contain {layer.act}(pre)")
    st.setdefault("relax", {})[L] = _relaxation(ch, L, layer, cl, h, step)
    ch.ok(step, f"{n} neurons: pre ranges contain their interval/symbolic bounds ({len(need)} symbolic), "
                "post ranges follow")


def _relaxation(ch, L, layer, cl, h, step):
    """(lo slope, lo intercept, up slope, up intercept) per neuron: slopes ints at 2^-SB, intercepts at 2^-P."""
    if layer.act in SMOOTH:
        return [_parallelogram(ch, L, layer.act, j, cl["pre_lo"][j], cl["pre_hi"][j], h, step) for j in range(layer.n_out)]
    lower = h.get("relu_lower_slope", {})
    if not isinstance(lower, dict):
        raise C.Malformed(f"claims.layers[{L}].hints.ranges.relu_lower_slope: expected an object")
    one, out = 1 << SB, []
    unstable = _state(ch).setdefault("unstable", {}).setdefault(L, set())
    for j in range(layer.n_out):
        lo, hi = cl["pre_lo"][j], cl["pre_hi"][j]
        if layer.act == "linear" or lo >= 0:
            out.append((one, 0, one, 0))
        elif hi <= 0:
            out.append((0, 0, 0, 0))
        else:
            a = _ceil(hi * one / (hi - lo))  # upper slope at 2^-SB
            c = _ceil(-a * lo * (1 << (P - SB)))  # ceil(-a l) at 2^-P
            if lower.get(str(j)) is None:
                raise C.Invalid(step, f"neuron {j}: unstable ReLU needs a lower-slope hint (a dyadic in [0, 1])")
            k = C.rat(lower[str(j)], f"claims.layers[{L}].hints.ranges.relu_lower_slope.{j}")
            out.append((_alpha(step, f"neuron {j}: lower slope", k), 0, a, c))
            unstable.add(j)
    return out


def _alpha(step, what, q: Fraction) -> int:  # a lower ReLU slope: alpha z <= relu(z) for all z iff 0 <= alpha <= 1
    if not 0 <= q <= 1:
        raise C.Invalid(step, f"{what} {C.show(q)} is outside [0, 1] (alpha z <= relu(z) needs 0 <= alpha <= 1)")
    return _on_grid(C, step, what, q, AB) << (SB - AB)  # on the 2^-AB grid, as an int at 2^-SB


def _alphas(ch, L, h, n, step, key="relu_alpha", sect="ranges") -> dict:
    """Hint relu_alpha (or the differential rule's diff_alpha) as {(sign, j): {k: {i: slope at 2^-SB}}}:
    sign +1 row +W[j] ("hi"), -1 row -W[j] ("lo")."""
    w, out, unst = f"claims.layers[{L}].hints.{sect}.{key}", {}, _state(ch).get("unstable", {})
    for side, rows in C.object_items(h.get(key, {}), ("hi", "lo"), w):
        for j, per_k in C.object_items(rows, range(n), f"{w}.{side}"):
            slot = out.setdefault((1 if side == "hi" else -1, int(j)), {})
            for k, entries in C.object_items(per_k, range(L), f"{w}.{side}.{j}"):
                for i, v in C.object_items(entries, range(ch.layers[int(k)].n_out), f"{w}.{side}.{j}.{k}", leaf=True):
                    what = f"{key} {side} {j}: layer {int(k) + 1} neuron {i}"
                    if int(i) not in unst.get(int(k), ()):
                        raise C.Invalid(step, f"{what} is not an unstable ReLU")
                    slot.setdefault(int(k), {})[int(i)] = _alpha(step, what, C.rat(v, f"{w}.{side}.{j}.{k}.{i}"))
    return out


def _on_grid(C, step, what, q: Fraction, bits: int) -> int:
    v = q * (1 << bits)
    if v.denominator != 1:
        raise C.Invalid(step, f"{what} {C.show(q)} is not on the 2^-{bits} grid")
    return v.numerator


def _parallelogram(ch, L, act, j, lo, hi, h, step):
    """The hinted lines s z + c_lo <= act(z) <= s z + c_up, proved on [lo, hi] piece by piece:
    on [a, b], phi = act - s z lies below min(f(b) - s a, f(a) - s a + max(0, d_hi - s)(b - a))
    and above max(f(a) - s b, f(b) - s b - max(0, d_hi - s)(b - a)) (monotonicity / mean value)."""
    w = f"claims.layers[{L}].hints.ranges"
    sl, ic = h.get("smooth_slope", {}), h.get("smooth_intercepts", {})
    if not isinstance(sl, dict) or not isinstance(ic, dict) or str(j) not in sl or str(j) not in ic:
        raise C.Invalid(step, f"neuron {j}: a {act} neuron needs hints smooth_slope and smooth_intercepts")
    s = C.rat(sl[str(j)], f"{w}.smooth_slope.{j}")
    c = C.get_list(ic, str(j), f"{w}.smooth_intercepts", 2)
    c_lo, c_up = (C.rat(v, f"{w}.smooth_intercepts.{j}") for v in c)
    if s < 0:
        raise C.Invalid(step, f"neuron {j}: relaxation slope {C.show(s)} is negative")
    pts = [lo + Fraction(((hi - lo) * (1 << P) * k) // K, 1 << P) for k in range(K)] + [hi]
    f = [_fb(ch, act, x) for x in pts]
    up, dn = f[0][1] - s * lo, f[0][0] - s * lo
    for k in range(K):
        a, b = pts[k], pts[k + 1]
        if a == b:
            continue
        slack = max(Fraction(0), _dbounds(ch, act, a, b)[1] - s) * (b - a)
        up = max(up, min(f[k + 1][1] - s * a, f[k][1] - s * a + slack))
        dn = min(dn, max(f[k][0] - s * b, f[k + 1][0] - s * b - slack))
    if c_up < up or c_lo > dn:
        raise C.Invalid(step, f"neuron {j}: {act} relaxation intercepts [{C.show(c_lo)}, {C.show(c_up)}] with slope "
                              f"{C.show(s)} are not proved on [{C.show(lo)}, {C.show(hi)}] (need <= {C.show(dn)}, >= {C.show(up)})")
    S = _on_grid(C, step, f"neuron {j}: relaxation slope", s, SB)
    return (S, _on_grid(C, step, f"neuron {j}: intercept", c_lo, P), S, _on_grid(C, step, f"neuron {j}: intercept", c_up, P))


def _fb(ch, act, x):
    """(lower, upper) bound of act(x), cached per checker run."""
    cache = _state(ch).setdefault("f", {})
    if (act, x) not in cache:
        cache[(act, x)] = (C.act_bounds(act, x, False), C.act_bounds(act, x, True))
    return cache[(act, x)]


def _dbounds(ch, act, lo, hi):
    """d_lo <= act'(z) <= d_hi on [lo, hi]: tanh' = 1 - tanh^2, sigmoid' = p (1 - p), both even and
    decreasing in |z| (largest at the point nearest 0, smallest at the end farthest from 0)."""
    near = Fraction(0) if lo <= 0 <= hi else min(abs(lo), abs(hi))
    far = max(abs(lo), abs(hi))
    if act == "tanh":
        t, T = max(_fb(ch, act, near)[0], Fraction(0)), min(_fb(ch, act, far)[1], Fraction(1))
        return max(Fraction(0), 1 - T * T), 1 - t * t
    p, q = max(_fb(ch, act, near)[0], Fraction(1, 2)), min(_fb(ch, act, far)[1], Fraction(1))
    return max(Fraction(0), q * (1 - q)), min(Fraction(1, 4), p * (1 - p))


def _int_layer(layer):
    d = lcm(layer.wd, *(b.denominator for b in layer.bias))
    return [[w * (d // layer.wd) for w in row] for row in layer.wn], [b.numerator * (d // b.denominator) for b in layer.bias], d


def _backsub(ch, t, neurons, alpha):
    """{j: (lower bound, upper bound)} of z_j of layer t (0-based) by exact back-substitution (alpha: `_alphas`)."""
    st = _state(ch)
    relax = st.get("relax", {})
    for k in range(t):
        if relax.get(k) is None:
            raise C.Invalid(f"layer {t + 1} ranges", f"symbolic bounds need the relaxation of layer {k + 1} "
                                                      f"({ch.layers[k].act}), which this checker does not re-derive")
    ints = st.setdefault("ints", {})
    for k in range(t + 1):
        if k not in ints:
            ints[k] = _int_layer(ch.layers[k])
    x_lo, x_hi = ch.in_claims["lo"], ch.in_claims["hi"]
    xs, dx = C.common_denominator(x_lo + x_hi)
    xl, xh = xs[:len(x_lo)], xs[len(x_lo):]
    num_t, b_t, d_t = ints[t]
    out = {}
    for j in neurons:
        ends = []
        for sign in (1, -1):
            lam = [sign * v for v in num_t[j]]
            const, den = sign * b_t[j] << P, d_t
            over = alpha.get((sign, j), {})  # per-row lower slopes replacing the per-neuron ones
            for k in range(t - 1, -1, -1):
                rx = relax[k] if k not in over else [(over[k].get(i, v[0]),) + v[1:] for i, v in enumerate(relax[k])]
                num_k, b_k, d_k = ints[k]
                mu, c = [], const
                for v, (ls, li, us, ui) in zip(lam, rx):
                    if v >= 0:
                        mu.append(v * us)
                        c += v * ui
                    else:
                        mu.append(v * ls)
                        c += v * li
                const = (c << SB) * d_k + (sum(m * b for m, b in zip(mu, b_k)) << P)
                den = den * d_k << SB
                cols = len(num_k[0])
                lam = [0] * cols
                for m, row in zip(mu, num_k):
                    if m:
                        lam = [a + m * w for a, w in zip(lam, row)]
            s = sum(v * (b if v >= 0 else a) for v, a, b in zip(lam, xl, xh))
            ends.append(Fraction(const, den << P) + Fraction(s, den * dx))
        out[j] = (-ends[1], ends[0])
    return out


# ---------------------------------------------------------------- errors: "first_order"
def errors(ch, L, name, layer, fm, cl, prev, mants, beff, e1, dv=None):
    """e1: per neuron the l1_local bounds (E_acc, E_pre, E_out) derived from the claimed inputs;
    dv: the differential rule's derived intervals (checker_diff.derive), intersected with these."""
    st = _state(ch)
    step = f"{name} errors"
    n, w = layer.n_out, f"claims.layers[{L}].hints.errors"
    h = _hints(ch, L, "errors")
    d = {k: C.get_rats(h, k, w, n) for k in _E_KEYS}
    dep = {k: C.get_list(h, k, w, n) for k in ("depth_lo", "depth_hi")}
    for k, v in dep.items():
        for j, x in enumerate(v):
            if type(x) is not int or not 0 <= x <= L:
                raise C.Invalid(step, f"neuron {j}: {k} {x!r} is not a level 0..{L}")
    x_lo, x_hi, _, _, _, in_frac = prev
    loc = _local(ch, layer, fm, mants, beff, x_lo, x_hi, in_frac)
    # the backward pass for rows W~_t
    fmax = max(0, *(f.frac for f in fm["weight"]))  # rows at 2^-fmax, integer shifts even for negative F
    W = [[m << (fmax - f.frac) for m in row] for row, f in zip(mants, fm["weight"])]
    cand = _backward(ch, L, W, fmax, dep, step)
    smooth = layer.act in SMOOTH
    if smooth:
        hs = {k: C.get_rats(h, k, w, n) for k in ("slope_lo", "slope_hi")}
    s_lo, s_hi, post = [], [], []
    for j in range(n):
        e_acc, e_pre, e_out = e1[j]
        lacc_lo, lacc_hi = loc["acc"][j]
        o_lo, o_hi = loc["out"][j]
        dl, dh = max(cand[j][0] + lacc_lo, -e_acc), min(cand[j][1] + lacc_hi, e_acc)
        if dv is not None:
            dl, dh = max(dl, dv["acc"][j][0]), min(dh, dv["acc"][j][1])
        _contains(C, step, j, "accumulator", d["d_acc_lo"][j], d["d_acc_hi"][j], dl, dh, cl["err_acc"][j])
        dl, dh = max(d["d_acc_lo"][j] + o_lo, -e_pre), min(d["d_acc_hi"][j] + o_hi, e_pre)
        if dv is not None:
            dl, dh = max(dl, dv["pre"][j][0]), min(dh, dv["pre"][j][1])
        _contains(C, step, j, "rounded-sum", d["d_pre_lo"][j], d["d_pre_hi"][j], dl, dh, cl["err_pre"][j])
        zl, zh = cl["pre_lo"][j], cl["pre_hi"][j]
        vl, vh = zl + d["d_pre_lo"][j], zh + d["d_pre_hi"][j]
        post_lo = post_hi = 0
        if smooth:  # the lookup's error over the rounded pre-activation's range (a table, or the ideal one)
            post_lo, post_hi, olo, ohi = ch.lookup(L, j, fm["output"][j].frac, vl, vh)
        if smooth:  # the hinted slope interval must contain act' on the hull of z and v~
            s = (hs["slope_lo"][j], hs["slope_hi"][j])
            dlo, dhi = _dbounds(ch, layer.act, min(zl, vl), max(zh, vh))
            if not 0 <= s[0] <= dlo or s[1] < dhi:
                raise C.Invalid(step, f"neuron {j}: slope interval [{C.show(s[0])}, {C.show(s[1])}] does not contain "
                                      f"{layer.act}' on [{C.show(min(zl, vl))}, {C.show(max(zh, vh))}] (bounds "
                                      f"[{C.show(dlo)}, {C.show(dhi)}])")
        elif layer.act == "linear" or (zl >= 0 and vl >= 0):
            s = (1, 1)
        elif zh <= 0 and vh <= 0:
            s = (0, 0)
        else:
            s = (0, 1)
        s_lo.append(Fraction(s[0]))
        s_hi.append(Fraction(s[1]))
        post.append((post_lo, post_hi))
        p_lo, p_hi = d["d_pre_lo"][j], d["d_pre_hi"][j]
        dl = max(min(s[0] * p_lo, s[1] * p_lo) + post_lo, -e_out)
        dh = min(max(s[0] * p_hi, s[1] * p_hi) + post_hi, e_out)
        if dv is not None:
            dl, dh = max(dl, dv["out"][j][0]), min(dh, dv["out"][j][1])
        _contains(C, step, j, "output", d["d_out_lo"][j], d["d_out_hi"][j], dl, dh, cl["err_out"][j])
        if not smooth:
            olo, ohi = C.act_bounds(layer.act, vl, False), C.act_bounds(layer.act, vh, True)
        if cl["out_lo"][j] > olo or cl["out_hi"][j] < ohi:
            raise C.Invalid(step, f"neuron {j}: claimed output range [{C.show(cl['out_lo'][j])}, {C.show(cl['out_hi'][j])}] "
                                  f"does not contain [{C.show(olo)}, {C.show(ohi)}]")
        if ch.overflow == "wrap":
            alo, ahi = zl + d["d_acc_lo"][j], zh + d["d_acc_hi"][j]
            if cl["acc_lo"][j] > alo or cl["acc_hi"][j] < ahi:
                raise C.Invalid(f"{name} accumulator", f"neuron {j}: claimed accumulator range [{C.show(cl['acc_lo'][j])}, "
                                                       f"{C.show(cl['acc_hi'][j])}] does not contain [{C.show(alo)}, {C.show(ahi)}] "
                                                       "(rule wrap_final_sum with the signed error interval)")
    sv, sd = C.common_denominator(s_lo + s_hi)
    st.setdefault("err", {})[L] = {"W": W, "fmax": fmax, "pre": loc["pre"], "s": (sv[:n], sv[n:], sd),
                                   "post": post if smooth else None, "d": (d["d_out_lo"], d["d_out_hi"])}
    depth = min(dep["depth_lo"] + dep["depth_hi"])
    extra = "" if dv is None else f"; intersected with the differential rule (down to level {h['diff_level']})"
    ch.ok(step, f"{n} neurons: signed error intervals follow (rule first_order, backward down to level {depth}{extra})")


def _contains(C, step, j, what, lo, hi, dl, dh, mag):
    if lo > dl or hi < dh or lo > hi:
        raise C.Invalid(step, f"neuron {j}: claimed {what} error interval [{C.show(lo)}, {C.show(hi)}] does not "
                              f"contain the derived [{C.show(dl)}, {C.show(dh)}] (rule first_order)")
    if mag < max(-lo, hi):
        raise C.Invalid(step, f"neuron {j}: claimed {what} error {C.show(mag)} is below the magnitude of its "
                              f"interval [{C.show(lo)}, {C.show(hi)}]")


def _local(ch, layer, fm, mants, beff, x_lo, x_hi, in_frac):
    """Exact local intervals per neuron: acc = weight + bias + products, out rounding, pre = acc + out."""
    xs, dx = C.common_denominator(x_lo + x_hi)
    xl, xh = xs[:len(x_lo)], xs[len(x_lo):]
    acc, out, pre = [], [], []
    for j in range(layer.n_out):
        F, fa, fo = fm["weight"][j].frac, fm["accum"][j].frac, fm["output"][j].frac
        d = layer.wd
        if F >= 0:
            dw, den = [(a * d - (n << F)) for a, n in zip(mants[j], layer.wn[j])], (d << F) * dx
        else:
            dw, den = [((a << -F) * d - n) for a, n in zip(mants[j], layer.wn[j])], d * dx
        wl = Fraction(sum(v * (a if v > 0 else b) for v, a, b in zip(dw, xl, xh)), den)
        wh = Fraction(sum(v * (b if v > 0 else a) for v, a, b in zip(dw, xl, xh)), den)
        bq = beff[j] - layer.bias[j]
        pr = C.product_rounding(mants[j], F, in_frac, fa, ch.nearest)
        ro = C.rounding_bound(fa, fo, ch.nearest)
        a = (wl + bq - pr, wh + bq + (pr if ch.nearest else 0))
        o = (-ro, ro if ch.nearest else Fraction(0))
        acc.append(a)
        out.append(o)
        pre.append((a[0] + o[0], a[1] + o[1]))
    return {"acc": acc, "out": out, "pre": pre}


def _d0(ch):
    if ch.inputs_fixed:
        return [(Fraction(0), Fraction(0))] * len(ch.in_fmt)
    e = [C.rounding_bound(None, f.frac, ch.nearest) for f in ch.in_fmt]
    return [(-v, v if ch.nearest else Fraction(0)) for v in e]


def _idot(C, R, den, D):
    """Row-wise interval dot products of interval rows R (ints over den) with intervals D (rationals)."""
    vals, dd = C.common_denominator([v for iv in D for v in iv])
    Dl, Dh = vals[0::2], vals[1::2]
    out = []
    for rl, rh in R:
        lo = hi = 0
        for a, b, p, q in zip(rl, rh, Dl, Dh):
            if a or b:
                ps = (a * p, a * q, b * p, b * q)
                lo += min(ps)
                hi += max(ps)
        out.append((Fraction(lo, den * dd), Fraction(hi, den * dd)))
    return out


def _backward(ch, L, W, fmax, dep, step):
    """[lo, hi] per row of W~_t D_{t-1}: lower end at level depth_lo, upper at depth_hi (exact)."""
    st = _state(ch)
    rows = len(W)
    R = [(list(r), list(r)) for r in W]
    den = 1 << fmax
    acc = [(Fraction(0), Fraction(0))] * rows
    cand = [[None, None] for _ in range(rows)]
    stop = min(dep["depth_lo"] + dep["depth_hi"])
    for k in range(L, stop - 1, -1):  # level k: D_k is layer k's output error (k = 0: the inputs)
        want = [j for j in range(rows) if dep["depth_lo"][j] == k or dep["depth_hi"][j] == k]
        if want:
            if k == 0:
                D = _d0(ch)
            else:
                el = st.get("err", {}).get(k - 1)
                if el is None:
                    raise C.Invalid(step, f"the backward pass stops at layer {k}, which is not certified with first_order")
                dl, dh = el["d"]
                D = list(zip(dl, dh))
            c = _idot(C, [R[j] for j in want], den, D)
            for j, (lo, hi) in zip(want, c):
                if dep["depth_lo"][j] == k:
                    cand[j][0] = acc[j][0] + lo
                if dep["depth_hi"][j] == k:
                    cand[j][1] = acc[j][1] + hi
        if k == stop:
            break
        el = st.get("err", {}).get(k - 1)
        if el is None:
            raise C.Invalid(step, f"the backward pass reaches layer {k}, which is not certified with first_order")
        if el["post"] is not None:  # the lookup rounding, before the slope
            a = _idot(C, R, den, el["post"])
            acc = [(x[0] + y[0], x[1] + y[1]) for x, y in zip(acc, a)]
        s_lo, s_hi, sd = el["s"]  # ints over sd, s_lo >= 0
        R = [([min(a * sl, a * sh) for a, sl, sh in zip(rl, s_lo, s_hi)],
              [max(b * sl, b * sh) for b, sl, sh in zip(rh, s_lo, s_hi)]) for rl, rh in R]
        den *= sd
        a = _idot(C, R, den, el["pre"])
        acc = [(x[0] + y[0], x[1] + y[1]) for x, y in zip(acc, a)]
        Wk, fk = el["W"], el["fmax"]
        Wabs = [[abs(v) for v in row] for row in Wk]
        n_in = len(Wk[0])
        newR = []
        for rl, rh in R:
            cw, rw = [0] * n_in, [0] * n_in
            for a, b, wrow, arow in zip(rl, rh, Wk, Wabs):
                c, r = a + b, b - a
                if c:
                    cw = [x + c * v for x, v in zip(cw, wrow)]
                if r:
                    rw = [x + r * v for x, v in zip(rw, arow)]
            newR.append(([x - y for x, y in zip(cw, rw)], [x + y for x, y in zip(cw, rw)]))
        R, den = newR, den << (fk + 1)
    return cand


