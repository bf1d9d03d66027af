"""Greedy trimming of a proved design: one fractional bit less for a group of formats at a time,
kept only when the exact analysis still proves the design.

The MILP's error model over-estimates what the exact analysis certifies (the differential rule
cancels errors the model adds), so a proved MILP design often leaves slack: on aster_AC6 per
neuron it certified 0.47e-3 against a 1e-3 bound. The calibrated re-solves (synthesize.py) close
part of it; this descent spends the rest on the cheapest bits directly. Every step is one exact
analysis, so whatever it keeps is proved exactly as the MILP's design was (sound by construction).

Moves: a layer's role (weights, biases, accumulators or outputs of every neuron of the layer, one
bit narrower each: per-layer designs stay per layer) and, for per-neuron designs, one neuron's
weights. Each round tries the moves by the cost they save (largest first, then layer, role,
neuron) and keeps the first that proves; a move that fails is not tried again (narrowing more
formats rarely lowers an error bound). Integer bits are kept (so are the ranges), widths stay
among the implementation's allowed widths, and a format with fractional bits keeps at least
none. The budget is a count of box analyses, never a clock: the same design on every machine. It
is at most 300, fewer on large networks (box analyses x parameters), and sqrt(N) times that with
`synth --split N`, whose analyses count every box they analysed. The descent also stops after 16
failed steps in a row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..fixedpoint.design import ROLES, Design
from ..fixedpoint.format import FixedFormat
from ..problem import CostModel

TRIM_ANALYSES = 300  # at most this many exact analyses ...
TRIM_WORK = 500_000  # ... and analyses x network parameters (ACAS Xu, 13,305 parameters: 37; MNIST 256x4: 1)
FAILURES_IN_A_ROW = 16  # stop after this many failed steps in a row (a design without slack left)


@dataclass(frozen=True, order=True)
class Move:
    layer: int
    role: str
    neuron: int = -1  # -1: every neuron of the layer


def analyses_budget(parameters: int) -> int:
    return max(1, min(TRIM_ANALYSES, TRIM_WORK // max(parameters, 1)))


def narrowed(design: Design, move: Move, allowed) -> Design | None:
    """The design with the move's formats one fractional bit narrower, or None if one cannot be."""
    lf = design.layers[move.layer]
    fmts = list(getattr(lf, move.role))
    for j in range(len(fmts)) if move.neuron < 0 else (move.neuron,):
        f = fmts[j]
        new = FixedFormat(f.width - 1, f.integer_bits, f.signed)
        if new.width < 1 or new.frac_bits < 0 <= f.frac_bits or (allowed and new.width not in allowed):
            return None
        fmts[j] = new
    layers = list(design.layers)
    layers[move.layer] = replace(lf, **{move.role: tuple(fmts)})
    return replace(design, layers=tuple(layers))


def moves_of(design: Design, granularity: str) -> list[Move]:
    moves = [Move(l, role) for l in range(len(design.layers)) for role in ROLES]
    if granularity == "neuron":
        moves += [Move(l, "weight", j) for l, lf in enumerate(design.layers) for j in range(len(lf.weight))]
    return moves


def trim(ctx, design: Design, analysis, cost_model: CostModel, granularity: str):
    """(design, analysis, analyses used): the cheapest design the descent reaches from a proved one."""
    allowed = ctx.problem.implementation.allowed_widths
    # box analyses (a split analysis counts each box; with --split N, sqrt(N) times a whole-box run's budget)
    budget = analyses_budget(ctx.problem.network.parameter_count) * math.isqrt(ctx.split)
    cost = ctx.costs(design).get(cost_model)
    failed: set[Move] = set()
    saving: dict[Move, int] = {}  # cached: a move's saving changes only with its own or a neighbour layer's formats
    used = work = fails = 0  # analyses run; box analyses they took
    while work < budget and fails < FAILURES_IN_A_ROW:
        candidates = []
        for move in moves_of(design, granularity):
            if move in failed:
                continue
            if move not in saving:
                new = narrowed(design, move, allowed)
                saving[move] = 0 if new is None else cost - ctx.costs(new).get(cost_model)
            if saving[move] <= 0:
                failed.add(move)
                continue
            candidates.append((-saving[move], move))
        candidates.sort()
        for _, move in candidates:
            if work >= budget or fails >= FAILURES_IN_A_ROW:
                break
            used += 1
            new = narrowed(design, move, allowed)
            boxes = ctx.boxes
            a = ctx.analyse(new)
            work += max(1, ctx.boxes - boxes)
            if a.proved:
                design, analysis, cost, fails = new, a, cost - saving[move], 0
                saving = {m: v for m, v in saving.items() if abs(m.layer - move.layer) > 1}
                break
            failed.add(move)
            fails += 1
        else:
            break
    return design, analysis, used
