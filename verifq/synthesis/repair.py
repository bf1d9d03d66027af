"""Repair of a solver's answer: re-analyse exactly (with the context's error rule) and add bits
-- integer bits where the analysis finds an overflow, fractional bits where the model says they cut
the violated output errors most per bit -- until the exact analysis proves the design."""

from __future__ import annotations

import math

import numpy as np

from ..analysis.prove import Analysis
from ..fixedpoint.format import integer_bits
from .context import Context
from .model import Choices, SynthesisModel

def _fix_overflows(model: SynthesisModel, choices: Choices, a: Analysis, notes: list[str]) -> bool:
    """One more integer bit (at least as many as the violation needs) where a value overflows."""
    changed = False
    done = set()
    design = a.design
    for v in a.violations:
        if v.kind == "error":
            continue
        if v.role in ("accum", "output"):
            gi = model.group_of(v.role, v.layer, v.neuron)
            if gi in done:
                continue
            done.add(gi)
            fmts = design.layers[v.layer - 1]
            fmt = (fmts.accum if v.role == "accum" else fmts.output)[v.neuron]
            f = fmt.frac_bits
            need = integer_bits(v.value_lo, v.value_hi, f, fmt.signed)
            new_i = max(need, fmt.integer_bits + 1)
            choices.extra_int[gi] = choices.extra_int.get(gi, 0) + new_i - fmt.integer_bits
            cap = model.cap_of(gi)
            if f + new_i > cap:
                choices.frac[model.variable_of(gi)] = cap - new_i
                notes.append(f"layer {v.layer} {v.role}: {new_i} integer bits needed; fractional bits lowered to {cap - new_i}")
            else:
                notes.append(f"layer {v.layer} neuron {v.neuron} {v.role}: integer bits {fmt.integer_bits} -> {new_i}")
            changed = True
        else:
            key = (v.role, v.layer, v.neuron)
            if key in done:
                continue
            done.add(key)
            gi = model.input_group_of(v.neuron) if v.role == "input" else model.group_of(v.role, v.layer, v.neuron)
            xk = (v.role, gi)
            choices.extra_width[xk] = choices.extra_width.get(xk, 0) + 1
            notes.append(f"{v.role} of layer {v.layer} neuron {v.neuron}: one more integer bit")
            changed = True
    return changed


def _fix_errors(model: SynthesisModel, choices: Choices, a: Analysis, notes: list[str], max_steps: int = 2000) -> bool:
    """Greedy: add fractional bits where the model says they cut the violated output errors most per bit.

    The model's bound is scaled to the exact analysis's (ratio per output), so
    the greedy aims at what the exact analysis will certify."""
    eps = np.array([np.inf if e is None else float(e) for e in model.problem.max_error])
    actual = np.array([float(e) for e in a.output_errors])
    err, hl = model.evaluate(choices)
    scale = np.where(err > 0, actual / np.maximum(err, 1e-300), 1.0)
    scale = np.maximum(scale, 1.0)
    target = eps / scale * (1 - 1e-6)
    if not model.has_coupled_terms:
        bumped = _fix_errors_fast(model, choices, target, max_steps)
        if bumped:
            notes.append(f"{bumped} fractional bit{'s' * (bumped != 1)} added where output bounds were missed")
        return bumped > 0
    bumped = 0
    for _ in range(max_steps):
        excess = err - target
        viol = excess > 0
        if not viol.any():
            break
        best, best_score, best_state = None, 0.0, None
        for fi in range(model.n_variables):
            f = choices.frac[fi]
            nh = model.step_delta(choices, fi, +1, hl)
            if nh is None:
                continue
            new = model.output_errors(nh)
            gain = float(np.sum(np.minimum(np.maximum(err[viol] - new[viol], 0.0), excess[viol]) / excess[viol]))
            if gain <= 0:
                continue
            cost = model.step_cost(fi, f, f + 1)
            if not math.isfinite(cost):
                continue
            score = gain / max(cost, 0.5)
            if score > best_score:
                best, best_score, best_state = fi, score, (new, nh)
        if best is None:
            break
        choices.frac[best] += 1
        err, hl = best_state
        bumped += 1
    if bumped:
        notes.append(f"{bumped} fractional bit{'s' * (bumped != 1)} added where output bounds were missed")
    return bumped > 0


def _fix_errors_fast(model: SynthesisModel, choices: Choices, target: np.ndarray, max_steps: int) -> int:
    """`_fix_errors` for models whose rows are plain sums over the variables (vectorised)."""
    F = choices.frac
    nf = model.n_variables
    n_o = len(model.outputs)
    outs = np.array(model.outputs, dtype=np.int64)
    tgt = target[outs]
    _, state = model.evaluate(choices)
    hi, lo = state[0][:n_o].copy(), state[1][:n_o].copy()
    DH = np.zeros((n_o, nf))
    DL = np.zeros((n_o, nf))
    cost = np.full(nf, np.inf)

    def column(fi):
        step = model.output_step(fi, F[fi])
        if step is None:
            DH[:, fi] = 0.0
            DL[:, fi] = 0.0
            cost[fi] = np.inf
            return
        DH[:, fi], DL[:, fi] = step
        cost[fi] = model.step_cost(fi, F[fi], F[fi] + 1)

    for fi in range(nf):
        column(fi)
    bumped = 0
    for _ in range(max_steps):
        err = np.maximum(hi, lo)
        excess = err - tgt
        viol = excess > 0
        if not viol.any():
            break
        new = np.maximum(hi[:, None] + DH, lo[:, None] + DL)  # (n_o, nf)
        dec = np.clip(err[viol][:, None] - new[viol], 0.0, excess[viol][:, None]) / excess[viol][:, None]
        gain = dec.sum(axis=0)
        ok = np.isfinite(cost) & (gain > 1e-12)
        if not ok.any():
            break
        score = np.where(ok, gain / np.maximum(cost, 0.5), -1.0)
        best = int(np.argmax(score))
        hi = hi + DH[:, best]
        lo = lo + DL[:, best]
        F[best] += 1
        column(best)
        bumped += 1
    return bumped


def repair(ctx: Context, model: SynthesisModel, choices: Choices, max_rounds: int = 40):
    """Re-analyse exactly and fix until proved; returns (design, analysis, notes)."""
    notes: list[str] = []
    a = None
    for _ in range(max_rounds):
        design = model.design_from_choices(choices)
        a = ctx.analyse(design)
        if a.proved:
            return design, a, notes
        changed = False
        if any(v.kind != "error" for v in a.violations):
            changed = _fix_overflows(model, choices, a, notes)
        elif any(v.kind == "error" for v in a.violations):
            changed = _fix_errors(model, choices, a, notes)
            if not changed:
                changed = _bump_all(model, choices, notes)
        if not changed:
            break
    return None, a, notes


def _bump_all(model: SynthesisModel, choices: Choices, notes: list[str]) -> bool:
    """Last resort when the model sees nothing left to gain: one more fractional bit for every
    variable whose widths allow it (roughly halves every error term)."""
    bumped = 0
    for fi in range(model.n_variables):
        f = choices.frac[fi] + 1
        if model.fits_caps(fi, f, choices):
            choices.frac[fi] = f
            bumped += 1
    if bumped:
        notes.append(f"one more fractional bit for {bumped} of {model.n_variables} format groups")
    return bumped > 0
