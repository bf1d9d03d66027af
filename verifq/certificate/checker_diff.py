"""The differential error rule of the independent checker (verifq/analysis/TIGHT_RULES.md
section 6): first-order's derived intervals (checker_tight.py) intersected with the
differential back-substitution, re-run from the certified claims and the hints
(difference-line slopes, deepest level, per-row lower ReLU slopes `diff_alpha`: dyadics in [0, 1]
on the 2^-16 grid, checked as the range rule's `relu_alpha`) with the engine's integer arithmetic:
coefficients on the 2^-P grid (floored; the residual times max|variable| is added),
constants rounded up. The coefficients depend only on hinted slopes and exact weights,
so they match the engine's bit for bit; every constant the checker adds is <= the
engine's (its local and lookup terms are exact), so outward claims pass.
Standard library only (with checker_core.py and checker_tight.py)."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

try:
    from . import checker_core as C
    from . import checker_tight as T
except ImportError:  # run as a script next to checker_core.py and checker_tight.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import checker_core as C
    import checker_tight as T

P, SB = T.P, T.SB
def _dn(q):
    return (q.numerator << P) // q.denominator


def _upi(q):
    return -((-q.numerator << P) // q.denominator)


def _cdiv(a, b):
    return -((-a) // b)


def _g(z, e):
    return max(z + e, 0) - max(z, 0)


def _diff_lines(ch, act, zl, zu, el, eu, pl, ph, lam_l, lam_u):
    """(lo_c, up_c, d_lo, d_hi) at 2^-P for the hinted slopes (ints at 2^-SB): exact vertex checks of the
    difference envelopes U, L of act(z + e) - act(z) over z in [zl, zu], e in [el, eu] (scaled ints)."""
    if act == "linear":
        U = L = lambda p: (p, p)  # noqa: E731
        pts = {el, eu}
    elif act == "relu":
        U = lambda p: (max(_g(zl, p), _g(zu, p)),) * 2  # noqa: E731
        L = lambda p: (min(_g(zl, p), _g(zu, p)),) * 2  # noqa: E731
        pts = {el, eu} | {p for p in (0, -zl, -zu) if el < p < eu}
    else:
        lo, hi = min(zl, zl + el), max(zu, zu + eu)
        d = T._dbounds(ch, act, Fraction(lo, 1 << P), Fraction(hi, 1 << P))
        s_lo, s_hi = _dn(d[0]), _upi(d[1])
        U = lambda p: ((max(s_lo * p, s_hi * p)) >> P, _cdiv(max(s_lo * p, s_hi * p), 1 << P))  # noqa: E731
        L = lambda p: ((min(s_lo * p, s_hi * p)) >> P, _cdiv(min(s_lo * p, s_hi * p), 1 << P))  # noqa: E731
        pts = {el, eu} | ({0} if el < 0 < eu else set())
    up_c = max(U(p)[1] - ((lam_u * p) >> SB) for p in pts) + ph
    lo_c = min(L(p)[0] + ((-lam_l * p) >> SB) for p in pts) + pl
    return lo_c, up_c, min(L(p)[0] for p in pts) + pl, max(U(p)[1] for p in pts) + ph


def _diff_rows(ch, L, W, fmax, level, step, over):
    """Upper bounds of +(delta_L - E_L) and -(delta_L - E_L) per neuron (ints at 2^-P), best over the
    levels L .. level (TIGHT_RULES section 6); over: per row (sign, j), {k: {i: lower real slope}}
    replacing the range rule's per-neuron lower slopes (hint diff_alpha, checked by T._alphas)."""
    st = T._state(ch)
    dst = st.get("diff", {})
    ints = st.setdefault("ints", {})
    for k in range(L + 1):
        if k not in ints:
            ints[k] = T._int_layer(ch.layers[k])
    for k in range(max(level, 1) - 1, L):  # the boxes of levels L .. level and the layers stepped through
        if k not in dst:
            raise C.Invalid(step, f"the back-substitution reaches layer {k + 1}, which is not certified with differential")
    num, _, den = ints[L]
    d0 = [(_dn(a), _upi(b)) for a, b in T._d0(ch)]
    box = ([_dn(v) for v in ch.in_claims["lo"]], [_upi(v) for v in ch.in_claims["hi"]])

    def bounds(k):  # (d_k, h_k) boxes of level k (k = 0: the inputs)
        if k == 0:
            return ([a for a, _ in d0], [b for _, b in d0]), box
        e = dst[k - 1]
        return e["d"], e["h"]

    def amax(lo, hi):
        return sum(max(-a, b) for a, b in zip(lo, hi))

    rows = []
    for j in range(len(W)):
        a = [v << (P - fmax) if fmax <= P else v >> (fmax - P) for v in W[j]]
        c = [((w * den - n * (1 << fmax)) << P) // (den << fmax) for w, n in zip(W[j], num[j])]
        rows.append((a, c))
        a = [-v << (P - fmax) if fmax <= P else (-v) >> (fmax - P) for v in W[j]]
        c = [((-(w * den - n * (1 << fmax))) << P) // (den << fmax) for w, n in zip(W[j], num[j])]
        rows.append((a, c))
    (dl, dh), (hl, hh) = bounds(L)
    slack0 = _cdiv(amax(dl, dh) + amax(hl, hh), 1 << P) + 1
    out = []
    for r, (A, Cc) in enumerate(rows):
        ov = over.get((1 - 2 * (r % 2), r // 2), {})
        K, best, k = slack0, None, L
        while True:
            (dl, dh), (hl, hh) = bounds(k)
            cand = K + _cdiv(sum(a * (h if a >= 0 else l) for a, l, h in zip(A, dl, dh))
                             + sum(c * (h if c >= 0 else l) for c, l, h in zip(Cc, hl, hh)), 1 << P)
            best = cand if best is None else min(best, cand)
            if k <= level:
                break
            e, rx = dst[k - 1], st["relax"][k - 1]
            if k - 1 in ov:
                rx = [(ov[k - 1].get(i, v[0]),) + v[1:] for i, v in enumerate(rx)]
            lo_s, lo_c, up_s, up_c = e["lines"]
            alpha = [a * (us if a >= 0 else ls) for a, ls, us in zip(A, lo_s, up_s)]
            K += _cdiv(sum(a * (uc if a >= 0 else lc) for a, lc, uc in zip(A, lo_c, up_c)), 1 << P)
            gamma = [c * (r[2] if c >= 0 else r[0]) for c, r in zip(Cc, rx)]
            K += _cdiv(sum(c * (r[3] if c >= 0 else r[1]) for c, r in zip(Cc, rx)), 1 << P)
            K += _cdiv(sum(a * (eh if a >= 0 else el) for a, el, eh in zip(alpha, *e["E"])), 1 << (P + SB))
            kn, kb, kd = ints[k - 1]
            K += _cdiv(sum(g * b for g, b in zip(gamma, kb)), kd << SB)
            Wk, fk = e["W"], e["fmax"]
            cols = len(Wk[0])
            aw, gw = [0] * cols, [0] * cols
            for al, ga, wrow, nrow in zip(alpha, gamma, Wk, kn):
                if al:
                    aw = [x + al * v for x, v in zip(aw, wrow)]
                if ga - al:
                    gw = [x + (ga - al) * v for x, v in zip(gw, nrow)]
            A = [x >> (SB + fk) for x in aw]  # fk >= 0 (W at 2^-fmax, fmax >= 0)
            D = kd << (SB + fk)
            Cc = [(x * kd + y * (1 << fk)) // D for x, y in zip(aw, gw)]
            (pl, ph), (ql, qh) = bounds(k - 1)
            K += _cdiv(amax(pl, ph) + amax(ql, qh), 1 << P) + 1
            k -= 1
        out.append(best)
    return out


def derive(ch, L, name, layer, fm, cl, prev, mants, beff):
    """The differential rule's derived intervals of layer L: {"acc", "pre", "out"}: per neuron (lo, hi)
    Fractions (the claimed rounded-sum intervals d_pre are those the difference lines are built on);
    records the layer's lines for the layers above. checker_tight.errors intersects them with first_order's."""
    n, w = layer.n_out, f"claims.layers[{L}].hints.errors"
    step = f"{name} errors"
    h = T._hints(ch, L, "errors")
    d = {k: C.get_rats(h, k, w, n) for k in T._E_KEYS}
    fmax = max(0, *(f.frac for f in fm["weight"]))
    W = [[m << (fmax - f.frac) for m in row] for row, f in zip(mants, fm["weight"])]
    st = T._state(ch)
    if st.get("relax") is None or L not in st["relax"]:
        raise C.Invalid(step, "the differential rule needs the symbolic range rule's relaxations")
    smooth = layer.act in T.SMOOTH
    post = [ch.lookup(L, j, fm["output"][j].frac, cl["pre_lo"][j] + d["d_pre_lo"][j],
                      cl["pre_hi"][j] + d["d_pre_hi"][j])[:2] if smooth else (Fraction(0), Fraction(0))
            for j in range(n)]
    level = h.get("diff_level")
    if type(level) is not int or not 0 <= level <= L:
        raise C.Invalid(step, f"diff_level {level!r} is not a level 0..{L}")
    lam = [[T._on_grid(C, step, f"neuron {j}: difference slope", v, SB) for j, v in enumerate(C.get_rats(h, k, w, n))]
           for k in ("diff_slope_lo", "diff_slope_hi")]
    rest = _diff_rows(ch, L, W, fmax, level, step, T._alphas(ch, L, h, n, step, "diff_alpha", "errors"))
    xs = []
    for j in range(n):
        F, fa, fo = fm["weight"][j].frac, fm["accum"][j].frac, fm["output"][j].frac
        bq = beff[j] - layer.bias[j]
        pr = C.product_rounding(mants[j], F, prev[5], fa, ch.nearest)
        ro = C.rounding_bound(fa, fo, ch.nearest)
        xs.append(((bq - pr, bq + (pr if ch.nearest else 0)), (-ro, ro if ch.nearest else Fraction(0))))
    out = {"acc": [], "pre": [], "out": []}
    lines = ([], [], [], [])
    E = ([], [])
    for j in range(n):
        (al, ah), (ol, oh) = xs[j]
        hi, lo = Fraction(rest[2 * j], 1 << P), -Fraction(rest[2 * j + 1], 1 << P)
        out["acc"].append((lo + al, hi + ah))
        out["pre"].append((lo + al + ol, hi + ah + oh))
        E[0].append(_dn(al + ol))
        E[1].append(_upi(ah + oh))
        zl, zu = _dn(cl["pre_lo"][j]), _upi(cl["pre_hi"][j])
        el, eu = _dn(d["d_pre_lo"][j]), _upi(d["d_pre_hi"][j])
        pl, ph = _dn(post[j][0]), _upi(post[j][1])
        lo_c, up_c, olo, ohi = _diff_lines(ch, layer.act, zl, zu, el, eu, pl, ph, lam[0][j], lam[1][j])
        for lst, v in zip(lines, (lam[0][j], lo_c, lam[1][j], up_c)):
            lst.append(v)
        out["out"].append((Fraction(olo, 1 << P), Fraction(ohi, 1 << P)))
    T._state(ch).setdefault("diff", {})[L] = {
        "lines": lines, "E": E, "W": W, "fmax": fmax,
        "d": ([_dn(v) for v in d["d_out_lo"]], [_upi(v) for v in d["d_out_hi"]]),
        "h": ([_dn(v) for v in cl["post_lo"]], [_upi(v) for v in cl["post_hi"]])}
    return out
