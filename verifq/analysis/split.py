"""Input splitting: analyse a design on a partition of the input domain.

The domain box is bisected adaptively into sub-boxes ("leaves") and every
leaf is analysed on its own (its own ranges, ReLU stability decisions and
error bounds). The leaves cover the domain (closed halves [lo, m], [m, hi]),
so for every input some leaf's claims hold: the combined claims are the
hull of the leaves' ranges and the maximum of their error bounds, and the
design is proved iff every leaf is. Smaller boxes make more ReLUs stable and
the symbolic ranges tighter, which tightens every error bound.

Strategy: repeatedly bisect the leaf with the worst score (an overflow
violation first, then the largest output error bound -- relative to the
requirement where there is one) along the input with the largest "smear"
g_in[o, d] * width_d (g_in: the leaf's sensitivity of its worst output o to
input d, from `first_order.output_sensitivities`), until `max_leaves`, or,
with goal "prove", until every leaf is proved.

Checker: a split certificate lists the leaves (exact boxes, in the units of
the domain); the checker verifies they cover the domain (e.g. by replaying
the bisections) and checks every leaf's claims with the single-box rules.
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from fractions import Fraction

import numpy as np

from ..errors import UserError
from . import scaled


def _score(a) -> float:
    if any(v.kind != "error" for v in a.violations):
        return float("inf")
    req = a.problem.max_error
    if any(b is not None for b in req):
        return max(float(e / b) for e, b in zip(a.output_errors, req) if b is not None)
    return max(float(e) for e in a.output_errors)


def _split_dim(a, orig) -> int:
    widths = [float(hi - lo) for lo, hi in a.problem.domain]
    if a.error_result is not None:
        from .first_order import output_sensitivities

        try:
            g = output_sensitivities(a).inputs
            o = int(np.argmax([float(e) for e in a.output_errors]))
            smear = [scaled.to_float(g[o, d]) * w for d, w in enumerate(widths)]
            if max(smear) > 0:
                return int(np.argmax(smear))
        except Exception:  # pragma: no cover - heuristic only
            pass
    rel = [w / float(hi - lo) if hi > lo else 0.0 for w, (lo, hi) in zip(widths, orig)]
    return int(np.argmax(rel))


def analyse_split(problem, design, max_leaves: int = 32, goal: str | None = None, time_budget: float | None = None,
                  **methods):
    """Analysis of `design` on an adaptive partition of the domain into at most
    `max_leaves` boxes; returns the combined `Analysis` (field `leaves`: the
    leaf analyses, whose `problem.domain` is the leaf box).

    goal: "prove" (stop as soon as every leaf is proved; the default when the
    problem has an error requirement) or "tighten" (use the whole budget).
    time_budget: stop splitting after this many seconds (the result stays sound).
    `methods`: range_method / error_method passed to each leaf's `analyse`.
    """
    import time

    from .prove import analyse

    t_end = None if time_budget is None else time.time() + time_budget
    if goal is None:
        goal = "prove" if any(b is not None for b in problem.max_error) else "tighten"
    root = analyse(problem, design, **methods)
    orig = problem.domain
    heap = [(-_score(root), 0, root)]
    count = 1
    while len(heap) < max_leaves:
        if goal == "prove" and all(a.proved for _, _, a in heap):
            break
        if t_end is not None and time.time() > t_end:
            break
        if heap[0][0] == 0:
            break  # every leaf has error bound 0 and no violation: nothing to tighten
        neg, _, leaf = heapq.heappop(heap)
        box = leaf.problem.domain
        d = _split_dim(leaf, orig)
        lo, hi = box[d]
        if hi <= lo:
            heapq.heappush(heap, (neg, count, leaf))  # cannot split further: keep and stop
            break
        mid = (Fraction(lo) + Fraction(hi)) / 2
        for part in ((lo, mid), (mid, hi)):
            sub = replace(problem, domain=box[:d] + (part,) + box[d + 1:])
            try:
                a = analyse(sub, design, **methods)
            except UserError:
                continue  # fixed-point inputs: no representable input in this half
            count += 1
            heapq.heappush(heap, (-_score(a), count, a))
    leaves = [a for _, _, a in sorted(heap, key=lambda e: e[1])]
    if len(leaves) == 1:
        return root
    return combine(root, leaves)


def combine(root, leaves):
    """The combined record: hull of ranges, max of errors, checks redone on them."""
    from .errors import LayerErrors
    from .prove import Analysis, Check, LayerAnalysis, _constant_checks, _range_checks
    from .ranges import LayerRanges

    def hull(arrs, pick):
        out = np.empty(len(arrs[0]), dtype=object)
        out[:] = [pick(vals) for vals in zip(*arrs)]
        return out

    layers = []
    violations: list = []
    violations += _range_checks(0, "input", root.inputs.q_lo, root.inputs.q_hi, root.design.inputs)
    violations += _constant_checks(root.qnet)
    for pos, la in enumerate(root.layers):
        ls = [leaf.layers[pos] for leaf in leaves]
        rg = LayerRanges(
            hull([l.ranges.pre_lo for l in ls], min), hull([l.ranges.pre_hi for l in ls], max),
            hull([l.ranges.post_lo for l in ls], min), hull([l.ranges.post_hi for l in ls], max),
        )
        worst = max(ls, key=lambda l: max(l.errors.err_out))
        er = LayerErrors(
            hull([l.errors.err_acc for l in ls], max), hull([l.errors.err_pre for l in ls], max),
            hull([l.errors.err_out for l in ls], max),
            hull([l.errors.acc_lo for l in ls], min), hull([l.errors.acc_hi for l in ls], max),
            hull([l.errors.out_lo for l in ls], min), hull([l.errors.out_hi for l in ls], max),
            worst.errors.budget,
        )
        ql = root.qnet.layers[pos]
        violations += _range_checks(ql.index, "accum", er.acc_lo, er.acc_hi, ql.formats.accum)
        violations += _range_checks(ql.index, "output", er.out_lo, er.out_hi, ql.formats.output)
        layers.append(LayerAnalysis(la.index, rg, er))
    out_errs = tuple(max(leaf.output_errors[o] for leaf in leaves) for o in range(len(root.output_errors)))
    last = layers[-1]
    for j, (bound, err) in enumerate(zip(root.problem.max_error, out_errs)):
        if bound is not None and err > bound:
            violations.append(Check(last.index, j, "error", "output", -err, err, -bound, bound))
    return Analysis(root.problem, root.design, root.qnet, root.box, root.input_lo, root.input_hi, root.inputs,
                    tuple(layers), tuple(violations), out_errs, root.range_method, root.error_method,
                    None, None, tuple(leaves))


__all__ = ["analyse_split", "combine"]
