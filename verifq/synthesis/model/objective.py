"""The MILP's objective: the cost model, linear in the one-hot columns.

Total and weight bits are linear in the candidates' exact widths. Multiplier
area and DSP count are bilinear (weight width x input width), linearised
exactly with y_gb >= S_g - S_max (1 - c_gb) (a binary times a bounded linear
expression; minimisation makes y = c S). A tiny total-bits term breaks ties.
"""

from __future__ import annotations

import math

import numpy as np

from ...problem import CostModel
from ...solvers import INF, LinearModel
from .records import Plan, ProblemData


def add_objective(data: ProblemData, plan: Plan, cost: CostModel, m: LinearModel) -> list:
    """Add the cost model's terms to m; returns the McCormick blocks (for warm-start points)."""
    tc, tv = _total_bits_terms(plan)
    if cost is CostModel.TOTAL_BITS:
        m.add_cost(tc, tv)
        return []
    if cost is CostModel.WEIGHT_BITS:
        c, v = _weight_bits_terms(plan)
        m.add_cost(c, v)
        m.add_cost(tc, tv * 1e-3)
        return []
    bilinear: list = []
    if cost is CostModel.MULTIPLIER_AREA:
        c, v = _bilinear(data, plan, m, "area", bilinear)
        m.add_cost(c, v)
        m.add_cost(tc, tv * 1e-3)
        return bilinear
    c, v = _bilinear(data, plan, m, "dsp", bilinear)
    m.add_cost(c, v)
    tb_max = float(np.abs(tv).sum()) * 64 + 1.0
    m.add_cost(tc, tv * (0.5 / tb_max))
    return bilinear


def _total_bits_terms(plan: Plan):
    cols, vals = [], []
    for g in plan.groups:
        fv = plan.fvars[g.fvar]
        cols.append(fv.cols)
        vals.append(g.width.astype(float) * g.count)
        if g.kind == "accum":
            cols.append(fv.cols)
            vals.append(g.bias_width.astype(float) * len(g.members))
    return np.concatenate(cols), np.concatenate(vals)


def _weight_bits_terms(plan: Plan):
    cols, vals = [], []
    for g in plan.groups:
        fv = plan.fvars[g.fvar]
        if g.kind == "weight":
            cols.append(fv.cols)
            vals.append(g.width.astype(float) * g.count)
        elif g.kind == "accum":
            cols.append(fv.cols)
            vals.append(g.bias_width.astype(float) * len(g.members))
    return np.concatenate(cols), np.concatenate(vals)


def _bilinear(data: ProblemData, plan: Plan, m: LinearModel, kind: str, blocks: list):
    """McCormick terms for multiplier area ('area') or DSP slices ('dsp'); appends each block
    (S, s_cols, s_vals, ys, c_cols) to `blocks`."""
    cols, vals = [], []
    for ld in data.layers:
        xg = None if (ld.pos == 0 and data.inputs_fixed) else (plan.input_group if ld.pos == 0 else plan.ogroup[ld.pos - 1])
        for gi in sorted(set(plan.wgroup[ld.pos].tolist())):
            g = plan.groups[gi]
            fv = plan.fvars[g.fvar]
            counts = ld.nz_mask[g.members].sum(axis=0)
            coef = g.width.astype(float) if kind == "area" else np.ceil(g.width / 27.0)
            if xg is None:
                xw = float(data.impl.input_format.width)
                per = xw if kind == "area" else math.ceil(xw / 18.0)
                cols.append(fv.cols)
                vals.append(coef * float(counts.sum()) * per)
                continue
            s_cols, s_vals, s_max = [], [], 0.0
            for xgi in sorted(set(xg.tolist())):
                cnt = float(counts[xg == xgi].sum())
                if cnt == 0:
                    continue
                xgrp = plan.groups[xgi]
                xv = xgrp.width.astype(float) if kind == "area" else np.ceil(xgrp.width / 18.0)
                s_cols.append(plan.fvars[xgrp.fvar].cols)
                s_vals.append(xv * cnt)
                s_max += float(xv.max()) * cnt
            if not s_cols:
                continue
            S = m.add_col(0.0, INF)
            m.add_row(np.concatenate([[S]] + s_cols), np.concatenate([[1.0]] + [-v for v in s_vals]), 0.0, 0.0)
            ys = m.add_cols(len(fv.cands), 0.0, INF)
            blocks.append((S, s_cols, s_vals, ys, fv.cols))
            for yb, cb in zip(ys, fv.cols):
                m.add_row([yb, S, cb], [1.0, -1.0, -s_max], -s_max, INF)  # y >= S - S_max (1 - c)
            cols.append(ys)
            vals.append(coef)
    if not cols:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(cols), np.concatenate(vals)
