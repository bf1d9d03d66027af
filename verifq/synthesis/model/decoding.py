"""Between the MILP and designs: solver points <-> `Choices` <-> `Design`.

Decoding reads the chosen candidate of every variable; `design_from_choices`
turns choices (with the repairs' extra bits) into a `Design` the exact
analysis checks. The other direction gives warm starts: `point` is the full
MILP point of some choices, `rounded_point` a feasible point near an LP
relaxation (most precise candidate of the support, then a greedy over the
knapsack rows, then a descent), `focus` switches off candidates far from the
relaxation. `step_cost` and `fits_caps` price and check single-bit moves.
"""

from __future__ import annotations

import math

import numpy as np

from ...fixedpoint.design import Design, LayerFormats
from ...fixedpoint.format import FixedFormat
from .encoding import MilpEncoding
from .knapsack import FloatModel
from .records import Choices, Plan, ProblemData
from .widths import bias_width, cap_of, group_width


def choices_from_solution(plan: Plan, x: np.ndarray) -> Choices:
    return Choices([int(fv.cands[int(np.argmax(x[fv.cols]))]) for fv in plan.fvars])


def choices_from_design(data: ProblemData, plan: Plan, design: Design) -> Choices | None:
    """Fractional bits of `design` per variable (None when the design's granularity is finer)."""
    F = [None] * len(plan.fvars)

    def put(fi, f):
        if F[fi] is None:
            F[fi] = f
        return F[fi] == f

    ok = True
    if not data.inputs_fixed:
        for k in range(data.net.n_inputs):
            ok &= put(plan.groups[plan.input_group[k]].fvar, design.inputs[k].frac_bits)
    for ld, fm in zip(data.layers, design.layers):
        p = ld.pos
        for j in range(ld.n_out):
            ok &= put(plan.groups[plan.wgroup[p][j]].fvar, fm.weight[j].frac_bits)
            ok &= put(plan.groups[plan.agroup[p][j]].fvar, fm.accum[j].frac_bits)
            ok &= put(plan.groups[plan.ogroup[p][j]].fvar, fm.output[j].frac_bits)
    if not ok or any(f is None for f in F):
        return None
    return Choices(F)


def design_from_choices(data: ProblemData, plan: Plan, choices: Choices) -> Design:
    """Design for fractional bits F (per variable), extra integer bits I[group] (repairs of
    accumulators / outputs) and X[(role, group)] (inputs, weights, biases)."""
    F, I, X = choices.frac, choices.extra_int, choices.extra_width
    impl = data.impl
    fmt: dict[int, FixedFormat] = {}
    bias_fmt: dict[int, FixedFormat] = {}
    for gi, g in enumerate(plan.groups):
        fv = plan.fvars[g.fvar]
        f = int(F[g.fvar])
        idx = np.nonzero(fv.cands == f)[0]
        if len(idx):
            w, i = int(g.width[idx[0]]), int(g.ibits[idx[0]])
        else:
            w, i = group_width(data, g, f)
        if g.kind == "accum":
            i += I.get(gi, 0)
            w = max(1, f + i)
            wb = bias_width(data, g, f) + X.get(("bias", gi), 0)
            bias_fmt[gi] = FixedFormat(wb, wb - f, True)
        elif g.kind == "output":
            i += I.get(gi, 0)
            w = max(1, f + i)
        else:
            w += X.get((g.kind, gi), 0)
        if g.kind in ("input", "weight", "output"):
            w = impl.fit_width(w) or w
        fmt[gi] = FixedFormat(w, w - f, g.signed)
    if data.inputs_fixed:
        inputs = (impl.input_format,) * data.net.n_inputs
    else:
        inputs = tuple(fmt[int(plan.input_group[k])] for k in range(data.net.n_inputs))
    layers = []
    for ld in data.layers:
        p = ld.pos
        layers.append(LayerFormats(
            tuple(fmt[int(plan.wgroup[p][j])] for j in range(ld.n_out)),
            tuple(bias_fmt[int(plan.agroup[p][j])] for j in range(ld.n_out)),
            tuple(fmt[int(plan.agroup[p][j])] for j in range(ld.n_out)),
            tuple(fmt[int(plan.ogroup[p][j])] for j in range(ld.n_out)),
            ld.table,
        ))
    return Design(inputs, tuple(layers), impl.rounding, impl.overflow, impl.inputs_fixed)


def step_cost(data: ProblemData, plan: Plan, fi: int, f_from: int, f_to: int) -> float:
    """Total-bits change of moving variable fi between two candidates."""
    t0, t1 = plan.index(fi, f_from), plan.index(fi, f_to)
    if t0 is None or t1 is None:
        return math.inf
    d = 0.0
    for g in plan.groups:
        if g.fvar != fi:
            continue
        if g.width[t1] > cap_of(data, g):
            return math.inf
        d += g.count * float(g.width[t1] - g.width[t0])
        if g.bias_width is not None:
            d += len(g.members) * float(g.bias_width[t1] - g.bias_width[t0])
    return d


def fits_caps(data: ProblemData, plan: Plan, fi: int, f: int, choices: Choices) -> bool:
    """Whether every group of variable fi, with its repairs' extra bits, fits its width limit at f."""
    for gi, g in enumerate(plan.groups):
        if g.fvar != fi:
            continue
        w, i = group_width(data, g, f)
        extra = choices.extra_int.get(gi, 0) if g.kind in ("accum", "output") else choices.extra_width.get((g.kind, gi), 0)
        if w + extra > cap_of(data, g):
            return False
    return True


def point(data: ProblemData, plan: Plan, fm: FloatModel, enc: MilpEncoding, choices: Choices) -> np.ndarray | None:
    """The full MILP point of the choices (a warm start); None when a choice is not a candidate."""
    x = np.zeros(enc.m.num_cols)
    F = choices.frac
    for fv, f in zip(plan.fvars, F):
        idx = np.nonzero(fv.cands == f)[0]
        if not len(idx):
            return None
        x[fv.cols[idx[0]]] = 1.0
    for p, xc in enc.x_cols.items():
        if xc is not None:
            x[xc] = plan.input_frac_chosen(p, F)
    for e in plan.tables.products:
        col = enc.p_cols[e.group]
        x[col] = fm.product_value(e, F)
        x[enc.exact_flags[e.group]] = 1.0 if x[col] == 0.0 else 0.0
    if enc.ck_cols:
        _, st = fm.evaluate(choices)
        _, _, PQ = fm.resolve(st, with_ck=True)
        for c, (Pc, Qc) in enc.ck_cols.items():
            x[Pc] = PQ[c][0] / data.eps_ref * (1 + 1e-9)
            x[Qc] = PQ[c][1] / data.eps_ref * (1 + 1e-9)
    for S, s_cols, s_vals, ys, ccols in enc.bilinear:
        x[S] = float(sum(float(np.dot(v, x[c])) for c, v in zip(s_cols, s_vals)))
        x[ys] = x[S] * x[ccols]
    return x


def focus(plan: Plan, enc: MilpEncoding, x_relaxed: np.ndarray, choices: Choices | None, margin: int = 1) -> int:
    """Restrict every variable to candidates near the LP relaxation's support (and the
    incumbent's choice): the candidates outside get upper bound 0. Returns how many."""
    n = 0
    for fi, fv in enumerate(plan.fvars):
        w = x_relaxed[fv.cols]
        sup = np.nonzero(w > 1e-7)[0]
        if not len(sup):
            continue
        lo, hi = fv.cands[sup[0]] - margin, fv.cands[sup[-1]] + margin
        if choices is not None:
            lo, hi = min(lo, choices.frac[fi]), max(hi, choices.frac[fi])
        for b, c in zip(fv.cands, fv.cols):
            if b < lo or b > hi:
                enc.m.set_bounds(int(c), 0.0, 0.0)
                n += 1
    return n


def _replace_col(D, j: int, col):
    """CSC matrix D with column j replaced by the sparse column `col`."""
    import scipy.sparse as sp

    return sp.hstack([D[:, :j], sp.csc_matrix(col), D[:, j + 1:]], format="csc")


def rounded_point(data: ProblemData, plan: Plan, fm: FloatModel, enc: MilpEncoding, tied: bool,
                  x_relaxed: np.ndarray, max_steps: int = 3000) -> tuple[np.ndarray, Choices] | None:
    """A feasible point near an LP-relaxation point: every variable takes the most precise
    candidate of its support, then a greedy adds fractional bits where the knapsack rows are
    still violated (best violation decrease per bit). None if that fails."""
    import scipy.sparse as sp

    fvars = plan.fvars
    F = []
    for fv in fvars:
        w = x_relaxed[fv.cols]
        sup = np.nonzero(w > 1e-7)[0]
        F.append(int(fv.cands[sup[-1]]) if len(sup) else int(fv.cands[int(np.argmax(w))]))
    pairs = []
    if not tied:
        for ld in data.layers:
            for j in range(ld.n_out):
                pairs.append((plan.groups[plan.agroup[ld.pos][j]].fvar, plan.groups[plan.ogroup[ld.pos][j]].fvar))
        pairs = sorted(set(pairs))
        for fa, fo in pairs:
            if F[fa] < F[fo]:
                ok = fvars[fa].cands[fvars[fa].cands >= F[fo]]
                if not len(ok):
                    return None
                F[fa] = int(ok[0])
    out_of = {fo: [] for _, fo in pairs}
    for fa, fo in pairs:
        out_of[fo].append(fa)
    choices = Choices(F)
    m = enc.m
    lb, ub, cost, integ, ri, ci, v, rlo, rhi = m.arrays()
    A = sp.csc_matrix((v, (ri, ci)), shape=(m.num_rows, m.num_cols))
    krows = np.array(sorted(enc.row_ids.values()), dtype=np.int64)
    Ak = A[krows]
    lim = rhi[krows]
    x = point(data, plan, fm, enc, choices)
    if x is None:
        return None
    act = Ak @ x
    nf = len(fvars)
    if plan.tables.products or plan.ck_coef:
        return None  # exactness binaries / checkpoint variables couple the rows: leave it to the solver
    index = plan.index
    cur = np.array([fv.cols[index(fi, F[fi])] for fi, fv in enumerate(fvars)])

    def next_col(fi):
        t0 = index(fi, F[fi])
        fv = fvars[fi]
        return fv.cols[t0 + 1] if t0 + 1 < len(fv.cands) else None

    def cost_of(fi, a, b):
        return step_cost(data, plan, fi, a, b)

    nxt = np.array([next_col(fi) if next_col(fi) is not None else cur[fi] for fi in range(nf)])
    D = (Ak[:, nxt] - Ak[:, cur]).tocsc()
    costs = np.array([cost_of(fi, F[fi], F[fi] + 1) if next_col(fi) is not None else math.inf for fi in range(nf)])
    for _ in range(max_steps):
        viol = np.maximum(act - lim, 0.0)
        total = float(viol.sum())
        if total <= 0:
            break
        rows = D.indices
        before = viol[rows]
        after = np.maximum(act[rows] + D.data - lim[rows], 0.0)
        change = after - before
        gain = np.zeros(nf)
        nz = np.diff(D.indptr) > 0
        starts = D.indptr[:-1][nz]
        if len(change):
            gain[nz] = -np.add.reduceat(change, starts)
        ok = np.isfinite(costs) & (gain > 1e-12)
        for fo, fas in out_of.items():
            if ok[fo] and any(F[fa] < F[fo] + 1 for fa in fas):
                ok[fo] = False
        if not ok.any():
            return None
        score = np.where(ok, gain / np.maximum(costs, 0.5), -1.0)
        best = int(np.argmax(score))
        col_old, col_new = cur[best], nxt[best]
        act = act + (Ak[:, col_new] - Ak[:, col_old]).toarray().ravel()
        F[best] += 1
        cur[best] = col_new
        nc = next_col(best)
        nxt[best] = nc if nc is not None else col_new
        D = _replace_col(D, best, Ak[:, nxt[best]] - Ak[:, cur[best]])
        costs[best] = cost_of(best, F[best], F[best] + 1) if nc is not None else math.inf
    if float(np.maximum(act - lim, 0.0).sum()) > 0:
        return None

    # descent: remove fractional bits while every row stays satisfied (largest saving first)
    def prev_col(fi):
        t0 = index(fi, F[fi])
        return fvars[fi].cols[t0 - 1] if t0 > 0 else cur[fi]

    prv = np.array([prev_col(fi) for fi in range(nf)])
    save = np.array([-cost_of(fi, F[fi], F[fi] - 1) if prv[fi] != cur[fi] else -math.inf for fi in range(nf)])
    U = (Ak[:, prv] - Ak[:, cur]).tocsc()
    for _ in range(max_steps):
        rows = U.indices
        bad = (act[rows] + U.data > lim[rows] + 1e-12).astype(np.int64)
        nz = np.diff(U.indptr) > 0
        viol_cnt = np.zeros(nf, dtype=np.int64)
        if len(bad):
            viol_cnt[nz] = np.add.reduceat(bad, U.indptr[:-1][nz])
        ok = (viol_cnt == 0) & np.isfinite(save) & (save > 0)
        for fa, fo in pairs:  # F_a >= F_o after lowering F_a
            if ok[fa] and F[fa] - 1 < F[fo]:
                ok[fa] = False
        if not ok.any():
            break
        best = int(np.argmax(np.where(ok, save, -np.inf)))
        act = act + U[:, best].toarray().ravel()
        F[best] -= 1
        cur[best] = prv[best]
        prv[best] = prev_col(best)
        save[best] = -cost_of(best, F[best], F[best] - 1) if prv[best] != cur[best] else -math.inf
        U = _replace_col(U, best, Ak[:, prv[best]] - Ak[:, cur[best]])
    x = point(data, plan, fm, enc, choices)
    if x is None:
        return None
    full = A @ x
    tol = 1e-9 * (1 + np.abs(np.where(np.isfinite(rhi), rhi, 0)))
    if np.any(full > rhi + tol) or np.any(full < rlo - tol):
        return None
    return x, choices
