"""Candidate planning: which fractional-bit variables exist and which values each may take.

Each format group (a neuron's or a layer's weights / accumulator+bias /
output, the inputs; for the sound Aster scheme one variable per layer) gets a
variable whose candidates are bounded below by necessity (one term alone must
fit the bound) and above by negligibility (the term is below 2^-GAMMA of the
bound) and by the word-length caps; the seed design's values always stay
candidates. A ReLU is assumed stable only when keeping it so costs at most
STABLE_EXTRA_BITS more weight bits and the most precise candidates can keep
it; otherwise its slope becomes [0, 1]. The result, a `Plan`, also carries the
targets' sensitivities and knapsack tables.
"""

from __future__ import annotations

import math

import numpy as np

from ...fixedpoint.format import integer_bits
from ...network.ir import Activation
from .knapsack import FloatModel, knapsack_tables
from .records import (F_FLOOR, F_SCAN_HI, SCAN, STABLE_EXTRA_BITS, WEIGHT_SIG_BITS, Choices, FVar, Group,
                      ModelConfig, Plan, ProblemData, interval_times, unit)
from .sensitivities import (backward, make_targets, necessary_floor, negligible_ceiling, prescreen_stability,
                            set_slopes, sigma)
from .widths import bias_width, group_width


def make_plan(data: ProblemData, cfg: ModelConfig) -> Plan:
    """Slopes, candidate sets, groups, targets, sensitivities and knapsack tables for one configuration."""
    bs = SCAN
    rnd = data.rounding
    wid = cfg.domain_widen
    layers = data.layers
    plan = Plan(fvars=[], groups=[], input_group=None, wgroup=[], agroup=[], ogroup=[],
                fixed_input_frac=data.fixed_input_frac)
    set_slopes(data, cfg.slopes)
    _weight_tables(data)
    prescreen_stability(data, bs)
    u_all = unit(bs, rnd)
    half = np.exp2(-bs - 1.0)
    n_o = len(data.outputs)
    for _ in range(3):
        plan.targets = make_targets(data, ())
        plan.Rin_lo, plan.Rin_hi, plan.ck_coef = backward(layers, plan.targets, (), None)
        targets = plan.targets
        lo_w, hi_w, lo_o, hi_o, hi_a, lo_stab, lo_unst = [], [], [], [], [], [], []
        for ld in layers:
            sp = sigma(targets, n_o, ld.Rp_lo, ld.Rp_hi)
            su = sigma(targets, n_o, ld.Rp_lo, ld.Rp_hi, True) * 1.25
            sq = sigma(targets, n_o, ld.Rq_lo, ld.Rq_hi)
            squ = sigma(targets, n_o, ld.Rq_lo, ld.Rq_hi, True) * 1.25
            tau_w = np.maximum(np.abs(ld.wtab_lo), np.abs(ld.wtab_hi))
            lo_w.append(np.array([necessary_floor(bs, tau_w[j], sp[j]) for j in range(ld.n_out)]) - wid)
            # a ReLU assumed stable must stay so: its own weight error alone must fit its margin
            ls = np.full(ld.n_out, F_FLOOR)
            # what the weights would need for the outputs if the neuron were unstable (S = [0, 1])
            q_lo, q_hi = interval_times(ld.Rq_lo, ld.Rq_hi, 0.0, 1.0)
            su_ = sigma(targets, n_o, q_lo, q_hi)
            lu = np.array([necessary_floor(bs, tau_w[j], su_[j]) for j in range(ld.n_out)]) - wid
            lo_unst.append(lu)
            for j in range(ld.n_out):
                if ld.act is Activation.RELU and ld.s_hi[j] == 0.0:
                    ls[j] = necessary_floor(bs, np.maximum(ld.wtab_hi[j], 0.0), 1.0 / max(-ld.pre_hi[j], 1e-300))
                elif ld.act is Activation.RELU and ld.s_lo[j] == 1.0:
                    ls[j] = necessary_floor(bs, np.maximum(-ld.wtab_lo[j], 0.0), 1.0 / max(ld.pre_lo[j], 1e-300))
            lo_stab.append(ls - wid)
            hi_w.append(np.array([negligible_ceiling(bs, tau_w[j], su[j]) for j in range(ld.n_out)]) + wid)
            smooth = ld.act in (Activation.TANH, Activation.SIGMOID)
            so = np.maximum(sp, sq) if smooth else sp
            sou = np.maximum(su, squ) if smooth else su
            lo_o.append(np.array([necessary_floor(bs, half, so[j]) for j in range(ld.n_out)]) - 1 - wid)
            hi_o.append(np.array([negligible_ceiling(bs, half, sou[j]) for j in range(ld.n_out)]) + wid)
            pr = u_all * max(1, int(ld.nnz.max()))
            hi_a.append(np.array([negligible_ceiling(bs, pr, su[j]) for j in range(ld.n_out)]) + wid)
        # keeping a neuron stable may not cost more than STABLE_EXTRA_BITS weight bits beyond
        # what the outputs need of its weight group; otherwise its slope becomes [0, 1]
        dropped = 0
        for ld in layers:
            if ld.act is not Activation.RELU:
                continue
            grp = lo_w[ld.pos] if cfg.granularity == "neuron" else np.full(ld.n_out, lo_w[ld.pos].max())
            grp = np.maximum(grp, lo_unst[ld.pos])
            for j in range(ld.n_out):
                stable = ld.s_hi[j] == 0.0 or ld.s_lo[j] == 1.0
                if stable and lo_stab[ld.pos][j] > grp[j] + STABLE_EXTRA_BITS:
                    ld.s_lo[j], ld.s_hi[j] = 0.0, 1.0
                    dropped += 1
        if not dropped:
            break
    for p in range(len(layers)):
        lo_w[p] = np.maximum(lo_w[p], lo_stab[p])
    if not data.inputs_fixed:
        si = sigma(plan.targets, n_o, plan.Rin_lo, plan.Rin_hi)
        siu = sigma(plan.targets, n_o, plan.Rin_lo, plan.Rin_hi, True) * 1.25
        lin = np.array([necessary_floor(bs, u_all, v) for v in si]) - wid
        hin = np.array([negligible_ceiling(bs, u_all, v) for v in siu]) + wid

    gran = cfg.granularity
    n_in = data.net.n_inputs
    seed = cfg.seed

    def seed_fracs(kind, p, mem):
        if seed is None:
            return []
        if kind == "input":
            return [seed.inputs[k].frac_bits for k in mem]
        fm = seed.layers[p]
        out = []
        for role in (("weight", "accum", "output") if kind == "tied" else (kind,)):
            out += [getattr(fm, role)[j].frac_bits for j in mem]
        return out

    def new_fvar(name, lo, hi, include=()):
        lo = int(min(max(F_FLOOR, lo), F_SCAN_HI))
        hi = int(min(F_SCAN_HI, max(hi, lo)))
        if include:
            lo, hi = min(lo, min(include)), max(hi, max(include))
        plan.fvars.append(FVar(name, np.arange(lo, hi + 1)))
        return len(plan.fvars) - 1

    groups = plan.groups
    if not data.inputs_fixed:
        plan.input_group = np.zeros(n_in, dtype=np.int64)
        parts = [np.arange(n_in)] if gran != "neuron" else [np.array([k]) for k in range(n_in)]
        for mem in parts:
            fv = new_fvar("inputs" if len(mem) > 1 else f"input {mem[0]}", lin[mem].max(), hin[mem].max(),
                          seed_fracs("input", -1, mem))
            signed = not all(data.x_lo_q[k] >= 0 for k in mem)
            groups.append(Group("input", -1, mem, fv, signed=signed, count=len(mem)))
            plan.input_group[mem] = len(groups) - 1
    for ld in layers:
        p = ld.pos
        wgroup = np.zeros(ld.n_out, dtype=np.int64)
        agroup = np.zeros(ld.n_out, dtype=np.int64)
        ogroup = np.zeros(ld.n_out, dtype=np.int64)
        plan.wgroup.append(wgroup)
        plan.agroup.append(agroup)
        plan.ogroup.append(ogroup)
        parts = [np.arange(ld.n_out)] if gran != "neuron" else [np.array([j]) for j in range(ld.n_out)]
        for mem in parts:
            tag = f"layer {p + 1}" + ("" if len(mem) > 1 else f" neuron {mem[0]}")
            if cfg.tied:
                lo = max(lo_w[p][mem].max(), lo_o[p][mem].max() + 1)
                hi = max(hi_w[p][mem].max(), hi_o[p][mem].max(), hi_a[p][mem].max())
                fw = fa = fo = new_fvar(tag, lo, hi, seed_fracs("tied", p, mem))
            else:
                alive = [j for j in mem if ld.s_hi[j] > 0]
                wmax = float(np.abs(ld.w[alive]).max()) if alive else 0.0
                sig_floor = (-math.floor(math.log2(wmax)) - 1 + WEIGHT_SIG_BITS) if wmax > 0 else F_FLOOR
                lo_fw = max(lo_w[p][mem].max(), sig_floor)
                if cfg.weight_floor is not None:
                    lo_fw = max(lo_fw, min(cfg.weight_floor.layers[p].weight[j].frac_bits for j in mem) - 1)
                fw = new_fvar(f"{tag} weight", lo_fw, hi_w[p][mem].max(), seed_fracs("weight", p, mem))
                fo = new_fvar(f"{tag} output", lo_o[p][mem].max(), hi_o[p][mem].max(), seed_fracs("output", p, mem))
                fa = new_fvar(f"{tag} accum", lo_o[p][mem].max(), max(hi_a[p][mem].max(), hi_o[p][mem].max()),
                              seed_fracs("accum", p, mem))
            signed_out = ld.act is not Activation.RELU
            for kind, fv, dest in (("weight", fw, wgroup), ("accum", fa, agroup), ("output", fo, ogroup)):
                cnt = len(mem) * (ld.n_in if kind == "weight" else 1)
                groups.append(Group(kind, p, mem, fv, signed=(signed_out if kind == "output" else True), count=cnt))
                dest[mem] = len(groups) - 1
    _extend_accum(data, plan, cfg)
    _widths(data, plan)
    plan.dw = _weight_deviation(data, plan, cfg)
    plan.checkpoints = tuple(sorted(c for c in cfg.checkpoints if 1 <= c < len(layers)))
    plan.targets = make_targets(data, plan.checkpoints)
    plan.Rin_lo, plan.Rin_hi, plan.ck_coef = backward(layers, plan.targets, plan.checkpoints, plan.dw)
    _screen_targets(data, plan, cfg)
    return plan


def _weight_tables(data: ProblemData) -> None:
    """The exact-ish weight quantization error interval of every neuron per scanned F."""
    bs = SCAN
    for ld in data.layers:
        lo = np.empty((ld.n_out, len(bs)))
        hi = np.empty((ld.n_out, len(bs)))
        for t, b in enumerate(bs):
            d = np.floor(ld.w * 2.0 ** float(b) + 0.5) * 2.0 ** -float(b) - ld.w
            d = d + np.sign(d) * np.abs(ld.w) * 2.0**-50
            pos, neg = np.maximum(d, 0), np.minimum(d, 0)
            lo[:, t] = pos @ ld.x_lo + neg @ ld.x_hi
            hi[:, t] = pos @ ld.x_hi + neg @ ld.x_lo
        ld.wtab_lo, ld.wtab_hi = lo, hi


def _extend_accum(data: ProblemData, plan: Plan, cfg: ModelConfig) -> None:
    """Accumulator candidates up to exact accumulation when affordable; F_o <= top of F_a."""
    if cfg.tied:
        return
    done = set()
    for g in plan.groups:
        if g.kind != "accum" or g.fvar in done:
            continue
        done.add(g.fvar)
        ld = data.layers[g.pos]
        fa = plan.fvars[g.fvar]
        fw = plan.fvars[plan.weight_fvar_of(g)]
        fo = plan.fvars[plan.groups[plan.ogroup[g.pos][g.members[0]]].fvar]
        want = max(int(fa.cands[-1]), int(fo.cands[-1]))
        if cfg.exact_accumulation:
            want = max(want, int(fw.cands[-1]) + plan.input_frac_bounds(ld.pos)[1])
        i_lo = min(integer_bits(ld.pre_lo_q[j], ld.pre_hi_q[j], 60) for j in g.members)
        top = data.cap_acc - i_lo
        lo = int(min(fa.cands[0], fo.cands[0]))
        hi = int(max(min(want, top), lo))
        fa.cands = np.arange(lo, min(hi, F_SCAN_HI + 40) + 1)
    for ld in data.layers:
        for j in range(ld.n_out):
            fo = plan.fvars[plan.groups[plan.ogroup[ld.pos][j]].fvar]
            top = plan.fvars[plan.groups[plan.agroup[ld.pos][j]].fvar].cands[-1]
            keep = fo.cands <= top
            fo.cands = fo.cands[keep] if keep.any() else np.array([top])


def _widths(data: ProblemData, plan: Plan) -> None:
    """Exact widths per candidate; drop candidates over the caps (shared variables: all must fit)."""
    keep: dict[int, np.ndarray] = {}
    for g in plan.groups:
        fv = plan.fvars[g.fvar]
        ws, ib = [], []
        for b in fv.cands:
            w, i = group_width(data, g, int(b))
            if g.kind in ("input", "weight", "output"):
                w = data.impl.fit_width(w) or 10**6
            ws.append(w)
            ib.append(i)
        g.width = np.array(ws)
        g.ibits = np.array(ib)
        cap = data.cap_acc if g.kind == "accum" else data.cap_word
        ok = g.width <= cap
        if g.kind == "accum":
            g.bias_width = np.array([bias_width(data, g, int(b)) for b in fv.cands])
            ok &= g.bias_width <= data.cap_word
        keep[g.fvar] = keep.get(g.fvar, np.ones(len(fv.cands), dtype=bool)) & ok
    for fi, fv in enumerate(plan.fvars):
        mask = keep[fi]
        if not mask.any():
            mask = np.zeros(len(fv.cands), dtype=bool)
            mask[0] = True
            plan.messages.append(f"{fv.name}: no fractional-bit count fits the word-length limits")
            plan.infeasible_groups.append(fv.name)
        fv.cands = fv.cands[mask]
        for g in plan.groups:
            if g.fvar == fi:
                g.width, g.ibits = g.width[mask], g.ibits[mask]
                if g.bias_width is not None:
                    g.bias_width = g.bias_width[mask]


def _weight_deviation(data: ProblemData, plan: Plan, cfg: ModelConfig) -> list | None:
    """The sensitivities propagate through the quantized weights W~, not W. Without a reference
    design the model uses W (first order in the weight rounding: the weight candidates keep
    >= WEIGHT_SIG_BITS significant bits, the exact analysis decides and repairs); with one
    (refinement) it uses the reference's W~ (set on the layers) and returns, per layer, the
    largest |W~(F) - W~_ref| over the candidates, which widens the radius."""
    if cfg.weight_floor is None:
        return None
    dw = []
    for ld in data.layers:
        ref_f = np.array([f.frac_bits for f in cfg.weight_floor.layers[ld.pos].weight], dtype=float)
        w_ref = np.floor(ld.w * np.exp2(ref_f)[:, None] + 0.5) * np.exp2(-ref_f)[:, None]
        d = np.zeros_like(ld.w)
        for gi in set(plan.wgroup[ld.pos].tolist()):
            g = plan.groups[gi]
            for b in plan.fvars[g.fvar].cands:
                r = np.abs(np.floor(ld.w[g.members] * 2.0 ** float(b) + 0.5) * 2.0 ** -float(b) - w_ref[g.members])
                d[g.members] = np.maximum(d[g.members], r)
        dw.append(d)
        ld.w_prop = w_ref
    return dw


def _screen_targets(data: ProblemData, plan: Plan, cfg: ModelConfig) -> None:
    """Drop stability assumptions that even the most precise candidates cannot keep
    (their slope becomes [0, 1]); recompute the sensitivities until none is dropped."""
    for _ in range(6):
        plan.tables = knapsack_tables(data, plan, cfg)
        fm = FloatModel(data, plan, plan.tables)
        top = Choices([int(fv.cands[-1]) for fv in plan.fvars])
        _, state = fm.evaluate(top)
        hi, lo = fm.resolve(state)
        drop = []
        for t, (kind, pos, j, side, bound) in enumerate(plan.targets):
            if kind in ("output", "ckpt"):
                continue
            val = hi[t] if side == "hi" else lo[t]
            if not (val <= 0.25 * bound) or bound <= 0:
                drop.append((pos, j))
        if not drop:
            return
        for pos, j in drop:
            ld = data.layers[pos]
            ld.s_lo[j], ld.s_hi[j] = 0.0, 1.0
        plan.dropped_stability += len(drop)
        plan.targets = make_targets(data, plan.checkpoints)
        plan.Rin_lo, plan.Rin_hi, plan.ck_coef = backward(data.layers, plan.targets, plan.checkpoints, plan.dw)
