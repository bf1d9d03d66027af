"""The knapsack rows in floats: their coefficients per candidate, and their value for a choice.

`knapsack_tables` turns the sensitivities into, per variable, the upper end
(H) and the lower end's magnitude (L) of every target's error for each
candidate: weight quantization (exact per candidate), bias rounding, product
rounding (or a `ProductTerm` when a binary decides exactness), output
rounding, the tanh/sigmoid lookup and the input rounding. `FloatModel`
evaluates those rows for given choices -- the float mirror of the MILP that
planning (screening stability assumptions), encoding (worst cases),
calibration and the repairs use.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cached_property

import numpy as np

from ...fixedpoint.format import Rounding, quantize_exact
from ...network.ir import Activation
from .records import (F_FLOOR, Choices, KnapsackTables, ModelConfig, Plan, ProblemData, ProductTerm, Target,
                      interval_times, magnitude, unit)
from .sensitivities import one_sided


def knapsack_tables(data: ProblemData, plan: Plan, cfg: ModelConfig) -> KnapsackTables:
    """Coefficients of every target row of `plan` (see `KnapsackTables`)."""
    rnd = data.rounding
    n_t = len(plan.targets)
    H = {fi: np.zeros((n_t, len(fv.cands))) for fi, fv in enumerate(plan.fvars)}
    Lm = {fi: np.zeros((n_t, len(fv.cands))) for fi, fv in enumerate(plan.fvars)}
    products: list[ProductTerm] = []
    if not data.inputs_fixed:
        for gi in sorted(set(plan.input_group.tolist())):
            g = plan.groups[gi]
            fv = plan.fvars[g.fvar]
            ch, cl = one_sided(rnd, plan.Rin_lo[:, g.members], plan.Rin_hi[:, g.members])
            u = unit(fv.cands, rnd)
            H[g.fvar] += np.outer(ch.sum(axis=1), u)
            Lm[g.fvar] += np.outer(cl.sum(axis=1), u)
    bs0 = F_FLOOR
    exact_possible = {}
    for ld in data.layers:
        p = ld.pos
        wgroup, agroup, ogroup = plan.wgroup[p], plan.agroup[p], plan.ogroup[p]
        for gi in sorted(set(wgroup.tolist())):
            g = plan.groups[gi]
            fv = plan.fvars[g.fvar]
            idx = fv.cands - bs0
            for j in g.members:
                lo, hi = interval_times(ld.Rp_lo[:, j][:, None], ld.Rp_hi[:, j][:, None],
                                        ld.wtab_lo[j, idx][None, :], ld.wtab_hi[j, idx][None, :])
                H[g.fvar] += hi
                Lm[g.fvar] += -lo
        for gi in sorted(set(agroup.tolist())):
            g = plan.groups[gi]
            fv = plan.fvars[g.fvar]
            for j in g.members:
                v = np.array([float(Fraction(quantize_exact(ld.bias[j], int(b), Rounding.NEAREST)) * Fraction(2) ** (-int(b)) - ld.bias[j])
                              for b in fv.cands])
                v = v + np.sign(v) * 1e-300
                lo, hi = interval_times(ld.Rp_lo[:, j][:, None], ld.Rp_hi[:, j][:, None], v[None, :], v[None, :])
                H[g.fvar] += hi
                Lm[g.fvar] += -lo
        xlo, _ = plan.input_frac_bounds(p)
        for gi in sorted(set(agroup.tolist())):
            g = plan.groups[gi]
            fa = plan.fvars[g.fvar]
            fw = plan.fvars[plan.weight_fvar_of(g)]
            mem = g.members
            ch, cl = one_sided(rnd, ld.Rp_lo[:, mem], ld.Rp_hi[:, mem])
            ch = (ch * ld.nnz[mem][None, :]).sum(axis=1)
            cl = (cl * ld.nnz[mem][None, :]).sum(axis=1)
            possible = cfg.exact_accumulation and not cfg.tied and fa.cands[-1] >= fw.cands[0] + xlo
            exact_possible[gi] = possible
            if not possible:
                u = unit(fa.cands, rnd)
                H[g.fvar] += np.outer(ch, u)
                Lm[g.fvar] += np.outer(cl, u)
            else:
                products.append(ProductTerm(gi, ch, cl))
        pairs = {}
        for j in range(ld.n_out):
            pairs.setdefault((int(agroup[j]), int(ogroup[j])), []).append(j)
        for (ga_i, go_i), js in pairs.items():
            fo = plan.fvars[plan.groups[go_i].fvar]
            js = np.array(js)
            if ld.act in (Activation.TANH, Activation.SIGMOID):
                mags = magnitude(ld.Rq_lo[:, js], ld.Rq_hi[:, js])
                mag = mags.sum(axis=1)
                if ld.table is None:  # the ideal table: half an output ulp
                    h = np.exp2(-fo.cands.astype(float) - 1)
                    add = np.outer(mag, h)
                else:  # a table: its own error (a constant) and the cast of its entries to F_o
                    cast = np.where(fo.cands < ld.table.entry.frac_bits, unit(fo.cands, rnd), 0.0)
                    add = np.outer(mag, cast) + (mags @ ld.table_err[js])[:, None]
                H[plan.groups[go_i].fvar] += add
                Lm[plan.groups[go_i].fvar] += add
            if cfg.tied:
                continue
            # output rounding: at most u(F_o) (2^-F_o - 2^-F_a under truncation, 2^-(F_o+1) under
            # nearest, 0 when F_a = F_o): bounded by u(F_o), which keeps the LP relaxation honest
            ch, cl = one_sided(rnd, ld.Rp_lo[:, js], ld.Rp_hi[:, js])
            ch, cl = ch.sum(axis=1), cl.sum(axis=1)
            u_o = unit(fo.cands, rnd)
            H[plan.groups[go_i].fvar] += np.outer(ch, u_o)
            Lm[plan.groups[go_i].fvar] += np.outer(cl, u_o)
    return KnapsackTables(H, Lm, products, exact_possible, _checkpoint_levels(plan.targets))


def _checkpoint_levels(targets: list[Target]) -> dict:
    levels: dict[int, list] = {}
    for t, (kind, pos, j, _, _) in enumerate(targets):
        if kind == "ckpt":
            levels.setdefault(pos + 1, []).append((j, t))
    return {c: np.array([t for _, t in sorted(v)]) for c, v in levels.items()}


class FloatModel:
    """The knapsack rows evaluated in floats for given choices (absolute units)."""

    def __init__(self, data: ProblemData, plan: Plan, tables: KnapsackTables):
        self.data = data
        self.plan = plan
        self.tables = tables
        fvars = plan.fvars
        # all candidate columns side by side, for vectorised evaluation
        self.offsets = np.cumsum([0] + [len(fv.cands) for fv in fvars])[:-1]
        self.H_all = np.hstack([tables.H[fi] for fi in range(len(fvars))]) if fvars else np.zeros((len(plan.targets), 0))
        self.L_all = np.hstack([tables.L[fi] for fi in range(len(fvars))]) if fvars else np.zeros((len(plan.targets), 0))

    def product_value(self, term: ProductTerm, F: list) -> float:
        """The product-rounding magnitude P of an accumulator group (0 when the accumulation is
        exact: F_a >= F_w + max F_x)."""
        plan = self.plan
        g = plan.groups[term.group]
        fa = F[g.fvar]
        fw = F[plan.weight_fvar_of(g)]
        return 0.0 if fa >= fw + plan.input_frac_chosen(g.pos, F) else float(unit(fa, self.data.rounding))

    def evaluate(self, choices: Choices):
        """(error bound per network output, state) of the model for the choices (absolute units).
        `state` = the targets' (hi, lo) before the checkpoint coupling (see `resolve`).
        Choices outside the candidate sets are clamped to the nearest candidate."""
        F = choices.frac
        idx = np.array([self.offsets[fi] + int(np.clip(np.searchsorted(fv.cands, F[fi]), 0, len(fv.cands) - 1))
                        for fi, fv in enumerate(self.plan.fvars)], dtype=np.int64)
        hi = self.H_all[:, idx].sum(axis=1)
        lo = self.L_all[:, idx].sum(axis=1)
        for e in self.tables.products:
            val = self.product_value(e, F)
            hi = hi + e.ch * val
            lo = lo + e.cl * val
        state = (hi, lo)
        return self.output_errors(state), state

    def resolve(self, state, with_ck: bool = False):
        """Targets' (hi, lo) including the checkpoint terms: each checkpoint level's certified
        error interval [-Q, P] (P = max(0, hi), Q = max(0, lo) of its targets) enters the targets
        that stop there with hi += b+ P + (-a)+ Q and lo += (-a)+ P + b+ Q (R = [a, b])."""
        hi, lo = state
        ck_coef = self.plan.ck_coef
        if not ck_coef:
            return (hi, lo, {}) if with_ck else (hi, lo)
        hi, lo = hi.copy(), lo.copy()
        PQ = {}
        levels = self.tables.ck_levels
        for c in sorted(levels):
            ts = levels[c]
            for t in ts:
                if t in ck_coef:
                    lvl, a, b = ck_coef[t]
                    P, Q = PQ[lvl]
                    hi[t] += np.maximum(b, 0) @ P + np.maximum(-a, 0) @ Q
                    lo[t] += np.maximum(-a, 0) @ P + np.maximum(b, 0) @ Q
            PQ[c] = (np.maximum(hi[ts], 0.0), np.maximum(lo[ts], 0.0))
        for t, (lvl, a, b) in ck_coef.items():
            if self.plan.targets[t][0] == "ckpt":
                continue
            P, Q = PQ[lvl]
            hi[t] += np.maximum(b * P, -a * Q).sum()
            lo[t] += np.maximum(-a * P, b * Q).sum()
        return (hi, lo, PQ) if with_ck else (hi, lo)

    def output_errors(self, state) -> np.ndarray:
        hi, lo = self.resolve(state)
        out = np.zeros(self.data.net.n_outputs)
        for t, o in enumerate(self.data.outputs):
            out[o] = max(hi[t], lo[t])
        return out

    def stability_slack(self, state) -> np.ndarray:
        """Per stability target: bound - model error (negative: the assumption would fail)."""
        hi, lo = self.resolve(state)
        out = []
        for t, (kind, pos, j, side, bound) in enumerate(self.plan.targets):
            if kind in ("inactive", "active"):
                out.append(bound - (hi[t] if side == "hi" else lo[t]))
        return np.array(out)

    @cached_property
    def dependents(self) -> dict[int, list]:
        """fvar -> the product terms whose value depends on it."""
        plan = self.plan
        deps: dict[int, list] = {fi: [] for fi in range(len(plan.fvars))}
        for e in self.tables.products:
            g = plan.groups[e.group]
            fis = {g.fvar, plan.weight_fvar_of(g)}
            if g.pos == 0:
                if not self.data.inputs_fixed:
                    fis |= {plan.groups[x].fvar for x in set(plan.input_group.tolist())}
            else:
                fis |= {plan.groups[x].fvar for x in set(plan.ogroup[g.pos - 1].tolist())}
            for fi in fis:
                deps[fi].append(e)
        return deps

    def step_delta(self, choices: Choices, fi: int, step: int, hl) -> tuple | None:
        """(new hi, new lo) of the model after F[fi] += step, or None outside the candidates."""
        F = choices.frac
        t0 = self.plan.index(fi, F[fi])
        t1 = self.plan.index(fi, F[fi] + step)
        if t0 is None or t1 is None:
            return None
        H, L = self.tables.H, self.tables.L
        hi, lo = hl
        hi = hi + H[fi][:, t1] - H[fi][:, t0]
        lo = lo + L[fi][:, t1] - L[fi][:, t0]
        deps = self.dependents[fi]
        if deps:
            old = [self.product_value(e, F) for e in deps]
            F[fi] += step
            new = [self.product_value(e, F) for e in deps]
            F[fi] -= step
            for e, a, b in zip(deps, old, new):
                if a != b:
                    hi = hi + e.ch * (b - a)
                    lo = lo + e.cl * (b - a)
        return hi, lo

    def output_step(self, fi: int, f: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Change of the output rows' (hi, lo) when variable fi moves from f to f + 1 (product
        terms and checkpoints aside); None when either is not a candidate."""
        t0 = self.plan.index(fi, f)
        t1 = self.plan.index(fi, f + 1)
        if t0 is None or t1 is None:
            return None
        n_o = len(self.data.outputs)
        H, L = self.tables.H, self.tables.L
        return H[fi][:n_o, t1] - H[fi][:n_o, t0], L[fi][:n_o, t1] - L[fi][:n_o, t0]
