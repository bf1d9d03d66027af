"""MILP assembly: one-hot columns, the knapsack rows, exactness and checkpoint terms.

Every variable's candidates become binaries with sum 1. Per target two rows
(upper end and lower end's magnitude) sum_i g_i(F_i) <= bound, scaled to 1,
with a relative MARGIN. Exact accumulation is a binary x per accumulator group
(x = 1 only when F_a >= F_w + F_x) and a column P >= u(F_a) - u_max x for the
product rounding. Checkpoint levels certify their neurons' error intervals
[-Q, P] as columns (units of the smallest bound) entering the rows above
exactly (per neuron max(b P, -a Q), an auxiliary column when R straddles 0).
F_a >= F_o is imposed w.l.o.g. The objective is in `objective.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...solvers import INF, LinearModel
from .knapsack import FloatModel
from .objective import add_objective
from .records import CK_EXACT_MAX, MARGIN, Choices, ModelConfig, Plan, ProblemData, ProductTerm, unit


@dataclass
class MilpEncoding:
    """The built MILP and where each part of the model went (columns, rows)."""

    m: LinearModel
    x_cols: dict = field(default_factory=dict)  # layer -> column of its inputs' largest F (exactness)
    exact_flags: dict = field(default_factory=dict)  # accum group -> exactness binary
    p_cols: dict = field(default_factory=dict)  # accum group -> product-rounding magnitude column
    row_ids: dict = field(default_factory=dict)  # (target, side) -> row
    row_info: list = field(default_factory=list)  # per knapsack row (kind, layer, neuron, side, full)
    ck_cols: dict = field(default_factory=dict)  # checkpoint level -> (P columns, Q columns)
    bilinear: list = field(default_factory=list)  # (S, s_cols, s_vals, ys, c_cols) per McCormick block


def build_milp(data: ProblemData, plan: Plan, fm: FloatModel, cfg: ModelConfig) -> MilpEncoding:
    """The whole MILP of the plan (sets every variable's one-hot columns)."""
    m = LinearModel()
    enc = MilpEncoding(m)
    for fv in plan.fvars:
        fv.cols = m.add_binaries(len(fv.cands))
        m.add_row(fv.cols, 1.0, 1.0, 1.0)
    tables = plan.tables
    for ld in data.layers:
        p = ld.pos
        xlo, xhi = plan.input_frac_bounds(p)
        agroup, ogroup = plan.agroup[p], plan.ogroup[p]
        if any(tables.exact_possible.get(int(gi)) for gi in set(agroup.tolist())):
            if p == 0 and data.inputs_fixed:
                x_col = m.add_col(xlo, xlo)
            else:
                x_col = m.add_col(-INF, INF)
                for g2 in sorted(plan.feeding_groups(p)):
                    fv = plan.fvars[plan.groups[g2].fvar]
                    m.add_row(np.concatenate([[x_col], fv.cols]), np.concatenate([[1.0], -fv.cands.astype(float)]), 0.0, INF)
            enc.x_cols[p] = x_col
        if cfg.tied:
            continue
        done = set()
        for j in range(ld.n_out):
            key = (int(agroup[j]), int(ogroup[j]))
            if key in done:
                continue
            done.add(key)
            fa = plan.fvars[plan.groups[key[0]].fvar]
            fo = plan.fvars[plan.groups[key[1]].fvar]
            m.add_row(np.concatenate([fa.cols, fo.cols]), np.concatenate([fa.cands.astype(float), -fo.cands.astype(float)]), 0.0, INF)
    for e in tables.products:
        key = e.group
        g = plan.groups[key]
        fa = plan.fvars[g.fvar]
        fw = plan.fvars[plan.weight_fvar_of(g)]
        x_col = enc.x_cols[g.pos]
        _, xhi = plan.input_frac_bounds(g.pos)
        xf = int(m.add_binaries(1)[0])
        M = float(fw.cands[-1] + xhi - fa.cands[0])
        # x = 1 => F_a >= F_w + X
        m.add_row(np.concatenate([fa.cols, fw.cols, [x_col, xf]]),
                  np.concatenate([fa.cands.astype(float), -fw.cands.astype(float), [-1.0, -M]]), -M, INF)
        pc = m.add_col(0.0, INF)
        u = unit(fa.cands, data.rounding)
        umax = float(u.max())
        m.add_row(np.concatenate([[pc], fa.cols, [xf]]), np.concatenate([[1.0], -u, [umax]]), 0.0, INF)  # P >= u(F_a) - umax x
        enc.exact_flags[key] = xf
        enc.p_cols[key] = pc
    _emit_rows(data, plan, fm, cfg, enc)
    enc.bilinear = add_objective(data, plan, cfg.cost, m)
    return enc


def _product_max(data: ProblemData, plan: Plan, e: ProductTerm) -> float:
    """The largest product-rounding magnitude of a product term (at its accumulator's smallest F)."""
    return float(unit(plan.fvars[plan.groups[e.group].fvar].cands[0], data.rounding))


def _emit_rows(data: ProblemData, plan: Plan, fm: FloatModel, cfg: ModelConfig, enc: MilpEncoding) -> None:
    """Knapsack rows. A stability row (a ReLU kept inactive / active) whose upstream part is
    at most half its bound even at the smallest candidates keeps only the neuron's own
    terms, the upstream part replaced by that worst case (sound, and sparse)."""
    m = enc.m
    tables = plan.tables
    H, Lm = tables.H, tables.L
    products = tables.products
    ck_coef = plan.ck_coef
    extra_cols = np.array([enc.p_cols[e.group] for e in products], dtype=np.int64)
    extra_h, extra_l = [e.ch for e in products], [e.cl for e in products]
    EH = np.array(extra_h).reshape(len(extra_cols), -1) if len(extra_cols) else np.zeros((0, len(plan.targets)))
    EL = np.array(extra_l).reshape(len(extra_cols), -1) if len(extra_cols) else np.zeros((0, len(plan.targets)))
    extra_max = np.array([_product_max(data, plan, e) for e in products]) if products else np.zeros(0)
    extra_own = [plan.groups[e.group].fvar for e in products]  # the accumulator variable of each term
    er = data.eps_ref
    # checkpoint variables: the certified error interval [-Q, P] of each checkpoint neuron (units eps_ref)
    ck_max = {}
    if ck_coef:
        worst = Choices([int(fv.cands[0]) for fv in plan.fvars])
        _, st = fm.evaluate(worst)
        _, _, ck_max = fm.resolve(st, with_ck=True)
        for c, ts in tables.ck_levels.items():
            P = m.add_cols(len(ts), 0.0, INF)
            Q = m.add_cols(len(ts), 0.0, INF)
            enc.ck_cols[c] = (P, Q)
    ck_row = {}
    for c, ts in tables.ck_levels.items():
        if c in enc.ck_cols:
            for k, t in enumerate(ts):
                ck_row[int(t)] = (c, k)

    def coupling(t, side):
        """(cols, coefficients per unit of eps_ref) of target t's checkpoint terms: per neuron
        max(b P, -a Q) (hi) / max(-a P, b Q) (lo). A linear term unless R = [a, b] straddles
        0; then, for output and stability rows, an auxiliary column above both; for the
        (many) rows of checkpoint neurons, the sum of both (at most twice the maximum)."""
        if t not in ck_coef:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        lvl, a, b = ck_coef[t]
        P, Q = enc.ck_cols[lvl]
        cP, cQ = (b, -a) if side == "hi" else (-a, b)  # term = max(cP P, cQ Q)
        cols, vals = [], []
        if plan.targets[t][0] == "ckpt" or not CK_EXACT_MAX:
            mP, mQ = cP > 0, cQ > 0
            return (np.concatenate([P[mP], Q[mQ]]).astype(np.int64),
                    np.concatenate([cP[mP], cQ[mQ]]) * er)
        both = (cP > 0) & (cQ > 0)
        onlyP = (cP > 0) & ~both
        onlyQ = (cQ > 0) & ~both
        cols += [P[onlyP], Q[onlyQ]]
        vals += [cP[onlyP], cQ[onlyQ]]
        k = np.nonzero(both)[0]
        if len(k):
            aux = m.add_cols(len(k), 0.0, INF)
            for ax, kk in zip(aux, k):
                m.add_row([ax, P[kk]], [1.0, -cP[kk]], 0.0, INF)
                m.add_row([ax, Q[kk]], [1.0, -cQ[kk]], 0.0, INF)
            cols.append(aux)
            vals.append(np.ones(len(k)))
        return np.concatenate(cols).astype(np.int64), np.concatenate(vals) * er

    def coupling_max(t, side):
        if t not in ck_coef:
            return 0.0
        lvl, a, b = ck_coef[t]
        P, Q = ck_max[lvl]
        return float(np.maximum(b * P, -a * Q).sum() if side == "hi" else np.maximum(-a * P, b * Q).sum())

    n_f = len(plan.fvars)
    for t, (kind, pos, j, sides, bound) in enumerate(plan.targets):
        for side in (("hi", "lo") if sides == "both" else (sides,)):
            mats, ex = (H, EH) if side == "hi" else (Lm, EL)
            lim = 1.0 - MARGIN
            fis = range(n_f)
            keep_extra = np.arange(len(products))
            if kind == "ckpt":
                ccols, cvals = coupling(t, side)
                # hi (lo) end of the checkpoint neuron's error <= P (Q), all in units of eps_ref
                c, k = ck_row[t]
                own_col = enc.ck_cols[c][0 if side == "hi" else 1][k]
                cols = [plan.fvars[fi].cols for fi in fis] + [extra_cols, ccols, [own_col]]
                vals = [mats[fi][t] / er for fi in fis] + [ex[:, t] / er, cvals / er, [-1.0]]
                enc.row_ids[(t, side)] = m.add_row(np.concatenate(cols), np.concatenate(vals), -INF, 0.0)
                enc.row_info.append((kind, pos, j, side, True))
                continue
            compressed = False
            if kind == "output":
                lim *= (cfg.output_scale or {}).get(j, 1.0)
            else:
                own = plan.own_fvars(pos, j)
                up_max = coupling_max(t, side)
                for fi in range(n_f):
                    if fi not in own:
                        up_max += float(mats[fi][t].max())
                ex_up = [k for k in range(len(products)) if extra_own[k] not in own]
                up_max += float(sum(max(ex[k, t], 0.0) * extra_max[k] for k in ex_up))
                if up_max <= 0.5 * bound:
                    fis = sorted(own)
                    keep_extra = np.array([k for k in range(len(products)) if extra_own[k] in own], dtype=np.int64)
                    lim = (bound - up_max) / bound * (1 - MARGIN)
                    compressed = True
            if compressed:
                ccols, cvals = np.zeros(0, dtype=np.int64), np.zeros(0)
            else:
                ccols, cvals = coupling(t, side)
            cols = [plan.fvars[fi].cols for fi in fis] + [extra_cols[keep_extra], ccols]
            vals = [mats[fi][t] / bound for fi in fis] + [ex[keep_extra, t] / bound, cvals / bound]
            enc.row_ids[(t, side)] = m.add_row(np.concatenate(cols), np.concatenate(vals), -INF, lim)
            enc.row_info.append((kind, pos, j, side, len(fis) == n_f))


def calibrate_outputs(plan: Plan, fm: FloatModel, enc: MilpEncoding, choices: Choices | None, analysis) -> dict:
    """Scale every output row's bound by how much the model over-estimates the exact
    analysis on the choices of a design (model / analysis, at least 1, at most 8): the model
    keeps its relative accuracy between candidates while its absolute level follows the analysis."""
    if choices is None:
        return {}
    model_err, _ = fm.evaluate(choices)
    out = {}
    for t, (kind, pos, j, sides, bound) in enumerate(plan.targets):
        if kind != "output":
            continue
        actual = float(analysis.output_errors[j])
        if actual <= 0 or model_err[j] <= 0:
            continue
        f = float(min(8.0, max(1.0, model_err[j] / actual * 0.98)))
        out[j] = f
        for side in ("hi", "lo"):
            r = enc.row_ids.get((t, side))
            if r is not None:
                enc.m.set_row_upper(r, (1.0 - MARGIN) * f)
    return out
