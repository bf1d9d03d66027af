"""Input splitting: analyse a design on a partition of the input domain.

The domain box is bisected adaptively into sub-boxes ("leaves") and every
leaf is analysed on its own (its own ranges, ReLU stability decisions and
error bounds). The leaves cover the domain (closed halves [lo, m], [m, hi];
for fixed-point inputs the grid points of the interval split into two
disjoint non-empty runs, since only those can occur), so for every input
some leaf's claims hold: the combined claims are the
hull of the leaves' ranges and the maximum of their error bounds, and the
design is proved iff every leaf is. Smaller boxes make more ReLUs stable and
the symbolic ranges tighter, which tightens every error bound.

Strategy (branch and bound on the error bound, anytime): repeatedly bisect
the leaf with the worst score (an overflow violation first, then the largest
output error bound -- relative to the requirement where there is one), until
`max_leaves`, or, with goal "prove", until every leaf is proved. The
combined bound after any number of bisections is sound (the best proven
bound so far). Branching (which input to bisect):

* "smear": the input with the largest "smear" g_in[o, d] * width_d (g_in:
  the leaf's sensitivity of its worst output o to input d, from
  `first_order.output_sensitivities`);
* "strong": the STRONG_K inputs of largest smear are each tried (both halves
  analysed) and the one whose worse child has the smallest score is kept
  (2 STRONG_K box analyses per bisection instead of 2).

The budget is a number of leaves (plus, for benchmarks only, an optional
wall-clock cap whose use is reported in `split_info["stopped_by"]`).

Checker: the result records its bisection tree (`split_info["tree"]`: per
node the input and the two halves' inner ends, exact); a split certificate
lists it with every leaf's claims and hints (certificate/writer.py,
checker_split.py): the checker replays the tree to verify the leaves cover
the domain -- every representable point of it for fixed-point inputs -- and
re-derives every leaf's claims with the single-box rules.
"""

from __future__ import annotations

import copyreg
import heapq
import io
import pickle
import time
from dataclasses import replace
from fractions import Fraction

import numpy as np

from ..engine import Engine, SerialEngine
from ..errors import UserError
from ..fixedpoint.quantize import QuantizedLayer, QuantizedNetwork
from ..numeric import scaled
from ..progress import say
from .box import analyse_box
from .first_order import output_sensitivities
from .intervals import LayerRanges
from .results import Analysis, LayerAnalysis, constant_checks, error_checks, limit_checks, range_checks
from .roundoff import LayerErrors


def _score(a) -> float:
    if any(v.kind != "error" for v in a.violations):
        return float("inf")
    req = a.problem.max_error
    if any(b is not None for b in req):
        return max(float(e / b) for e, b in zip(a.output_errors, req) if b is not None)
    return max(float(e) for e in a.output_errors)


BRANCHINGS = ("smear", "strong")
STRONG_K = 3  # inputs tried per bisection by strong branching


def _dim_order(a, orig) -> list[int]:
    """Input dimensions by decreasing smear g_in[o, d] * width_d (worst output o);
    relative width when no sensitivities are available."""
    widths = [float(hi - lo) for lo, hi in a.problem.domain]
    if a.error_result is not None:
        try:
            g = output_sensitivities(a).inputs
            o = int(np.argmax([float(e) for e in a.output_errors]))
            smear = [scaled.to_float(g[o, d]) * w for d, w in enumerate(widths)]
            if max(smear) > 0:
                return sorted(range(len(widths)), key=lambda d: -smear[d])
        except Exception:  # pragma: no cover - heuristic only
            pass
    rel = [w / float(hi - lo) if hi > lo else 0.0 for w, (lo, hi) in zip(widths, orig)]
    return sorted(range(len(widths)), key=lambda d: -rel[d])


def _halves(problem, design, d: int):
    """The two halves of coordinate d of the leaf's domain, or None when it cannot be split.

    Real inputs: the closed halves [lo, m], [m, hi] at the exact midpoint.
    Fixed-point inputs (no normalization): the grid points k ulp in the
    interval, split into two non-empty disjoint runs [k_lo, m], [m+1, k_hi]
    (only those points can occur). With a normalization, the midpoint split;
    a half without representable points is then dropped by the caller.
    """
    lo, hi = (Fraction(v) for v in problem.domain[d])
    if design.inputs_fixed and problem.network.normalization is None:
        ulp = design.inputs[d].ulp
        k_lo, k_hi = design.inputs[d].grid_range(lo, hi)
        if k_hi <= k_lo:
            return None
        m = (k_lo + k_hi) // 2
        return (k_lo * ulp, m * ulp), ((m + 1) * ulp, k_hi * ulp)
    if hi <= lo:
        return None
    mid = (lo + hi) / 2
    return (lo, mid), (mid, hi)


class _Context:
    """What every box task needs (shared once per worker): the problem, the design, the methods."""

    def __init__(self, problem, design, methods: dict, k: int = 1):
        self.problem, self.design, self.methods, self.k = problem, design, methods, k


def _analyse_part(ctx: _Context, domain, pack: bool):
    """The analysis of the sub-box `domain` (None: no representable input in it); when it travels
    back from another process, packed (`_pack`) and with its bisection plan (`_plan`)."""
    sub = replace(ctx.problem, domain=domain)
    try:
        a = analyse_box(sub, ctx.design, **ctx.methods)
    except UserError:
        return None  # fixed-point inputs (normalized): no representable input in this half
    if not pack:
        return a
    return _pack(a, ctx), _plan(a, ctx.design, ctx.problem.domain, ctx.k)  # its bisection candidates, decided here


_LOADING: list = []  # while a leaf is unpacked: {name: this process's shared object}


def _shared_part(name):
    return _LOADING[-1][name]


def _pack(a, ctx: _Context) -> bytes:
    """A leaf analysis pickled without what every leaf shares (the network, the design, the
    quantized network and its layers, equal in every leaf): those travel as names, and `_unpack`
    puts back the receiving process's own. (Reducers per class, not `persistent_id`, which
    would be called for every integer.)"""
    net, design = ctx.problem.network, ctx.design

    def by_name(obj, name):
        return (_shared_part, (name,)) if name else obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)

    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = dict(copyreg.dispatch_table)
    pickler.dispatch_table[type(net)] = lambda o: by_name(o, "network" if o is net else None)
    pickler.dispatch_table[type(design)] = lambda o: by_name(o, "design" if o is design else None)
    pickler.dispatch_table[QuantizedNetwork] = lambda o: by_name(o, "qnet")
    pickler.dispatch_table[QuantizedLayer] = lambda o: by_name(o, f"qlayer{o.index}")
    pickler.dump(a)
    return buf.getvalue()


def _unpack(data: bytes, problem, design, qnet):
    names = {"network": problem.network, "design": design, "qnet": qnet}
    names.update({f"qlayer{ql.index}": ql for ql in qnet.layers})
    _LOADING.append(names)
    try:
        return pickle.loads(data)
    finally:
        _LOADING.pop()


def _plan(leaf, design, orig, k: int = 1):
    """How the leaf may be bisected: up to k candidates (dimension, its two halves), in the order
    of preference, or None when it cannot be."""
    out = []
    for d in _dim_order(leaf, orig):
        parts = _halves(leaf.problem, design, d)
        if parts is not None:
            out.append((d, parts))
            if len(out) == k:
                break
    return out or None


def _pick(candidates, score):
    """The candidate bisection to keep: the smallest worse-child score (ties: the earlier candidate,
    i.e. the larger smear). candidates: [(d, parts, [child analysis or None, ...])]."""
    def worst(c):
        return max((score(a) for a in c[2] if a is not None), default=float("inf"))

    return min(range(len(candidates)), key=lambda i: (worst(candidates[i]), i))


def _top(heap, k: int):
    """The k first entries of the heap in pop order, without popping (best-first over its tree)."""
    out, frontier = [], [(heap[0], 0)] if heap else []
    while frontier and len(out) < k:
        entry, i = heapq.heappop(frontier)
        out.append(entry)
        for c in (2 * i + 1, 2 * i + 2):
            if c < len(heap):
                heapq.heappush(frontier, (heap[c], c))
    return out


def analyse_split(problem, design, max_leaves: int = 32, goal: str | None = None, time_budget: float | None = None,
                  engine: Engine | None = None, branching: str = "smear", observer=None, **methods):
    """Analysis of `design` on an adaptive partition of the domain into at most
    `max_leaves` boxes; returns the combined `Analysis` (field `leaves`: the
    leaf analyses, whose `problem.domain` is the leaf box; field `split_info`:
    the bisection tree, the branching, the number of box analyses, why it stopped).

    goal: "prove" (stop as soon as every leaf is proved; the default when the
    problem has an error requirement) or "tighten" (use the whole budget).
    `max_leaves` is the work limit: the partition, and so the result, is the same
    on every machine. branching: "smear" or "strong" (module docstring).
    time_budget: stop splitting after this many seconds (the result stays
    sound, but depends on the machine's speed; for benchmarks only, the command
    line never sets it; `split_info["stopped_by"]` says "time" when it did).
    engine (verifq/engine.py): where the sub-boxes are analysed. The partition
    is decided in one fixed order (always bisect the worst leaf, as if alone);
    an engine with several slots analyses the halves of the next few worst
    leaves ahead of time, so the result is identical, bit for bit, whatever the
    engine and however many processes it has.
    observer(leaves, box_analyses, bounds): called after every bisection with the
    combined (sound, anytime) output error bounds so far (benchmarks).
    `methods`: range_method / error_method passed to each leaf's `analyse`.
    """
    if branching not in BRANCHINGS:
        raise UserError(f"unknown branching {branching!r}", hint=f"one of {', '.join(BRANCHINGS)}")
    k = STRONG_K if branching == "strong" else 1
    t_end = None if time_budget is None else time.time() + time_budget
    if goal is None:
        goal = "prove" if any(b is not None for b in problem.max_error) else "tighten"
    engine = engine or SerialEngine()
    root = analyse_box(problem, design, **methods)
    orig = problem.domain
    heap = [(-_score(root), 0, root)]
    count = 1
    attempts = 0
    analyses = 1
    stopped_by = "leaves"
    tree: dict = {}  # creation order of a bisected leaf -> (dimension, left half's upper end, right half's lower end, child orders)
    # the leaves keep the differential rule's 0|1 lines: its own slopes double a box's cost and, under a
    # time budget, halve the leaves (ACC7NN in 240 s: 909 leaves 0.0615 vs 496 leaves 0.113; diff_alpha.md)
    ctx = _Context(problem, design, {**methods, "diff_iters": 0}, k)
    pack = not isinstance(engine, SerialEngine)
    shared = engine.share(ctx)
    submitted: dict = {}  # creation order of a leaf -> [(dimension, halves, task handles)], or None: no split

    def submit(entry):
        neg, order, leaf = entry
        if order not in submitted:
            plan = plans.pop(order) if order in plans else _plan(leaf, design, orig, k)
            if plan is None:
                submitted[order] = None
            else:
                box = leaf.problem.domain
                submitted[order] = [(d, parts, [engine.submit(_analyse_part, shared, box[:d] + (part,) + box[d + 1:], pack)
                                                 for part in parts]) for d, parts in plan]
        return submitted[order]

    plans: dict = {}  # creation order of a leaf -> its bisection plan, when a worker made it

    def unpack(r):
        if isinstance(r, tuple):
            a = _unpack(r[0], problem, design, root.qnet)
            return a, r[1]
        return r, None

    try:
        while True:
            if len(heap) >= max_leaves or attempts >= 4 * max_leaves:
                break
            if goal == "prove" and all(a.proved for _, _, a in heap):
                stopped_by = "proved"
                break
            if t_end is not None and time.time() > t_end:
                stopped_by = "time"
                break
            if heap[0][0] == 0:
                stopped_by = "exact"
                break  # every leaf has error bound 0 and no violation: nothing to tighten
            attempts += 1
            # ahead of time: the halves of the next worst leaves (the ones this loop would split next
            # if their children do not overtake them); never more than the splits left
            for entry in _top(heap, min(engine.slots, max_leaves - len(heap))):
                if entry[0] == 0 or (goal == "prove" and entry[2].proved):
                    break
                submit(entry)
            neg, order, leaf = heap[0]
            if submit(heap[0]) is None:
                stopped_by = "unsplittable"
                break  # the worst leaf cannot be split: more leaves elsewhere would not lower the maximum
            heapq.heappop(heap)
            cands = [(d, parts, [unpack(engine.result(h)) for h in handles])
                     for d, parts, handles in submitted.pop(order)]
            analyses += sum(len(c[2]) for c in cands)
            d, parts, children = cands[_pick([(d, p, [a for a, _ in ch]) for d, p, ch in cands], _score)]
            if all(a is None for a, _ in children):  # cannot happen (the leaf has representable inputs); keep the leaf
                heapq.heappush(heap, (neg, order, leaf))
                break
            kids = []
            for a, plan in children:
                if a is None:
                    kids.append(None)  # a half without representable inputs (fixed-point inputs, normalized)
                    continue
                count += 1
                kids.append(count)
                if plan is not None:
                    plans[count] = plan
                heapq.heappush(heap, (-_score(a), count, a))
            tree[order] = (d, parts[0][1], parts[1][0], kids)
            if len(heap) % 8 == 0 or observer is not None:  # anytime: the partition so far is a sound analysis already
                bounds = tuple(min(max(a.output_errors[o] for _, _, a in heap), root.output_errors[o])
                               for o in range(len(root.output_errors)))
                if observer is not None:
                    observer(len(heap), analyses, bounds)
                if len(heap) % 8 == 0:
                    say(f"input splitting: {len(heap)} boxes (at most {max_leaves}), error bound so far "
                        f"{float(max(bounds)):.4g}")
    finally:
        engine.cancel([h for plan in submitted.values() if plan is not None for c in plan for h in c[2]])
    ordered = sorted(heap, key=lambda e: e[1])
    leaves = [a for _, _, a in ordered]
    if len(leaves) == 1 and leaves[0] is root:
        return root
    info = {"branching": branching, "max_leaves": max_leaves, "analyses": analyses, "stopped_by": stopped_by,
            "tree": _tree_nodes(tree, {o: i for i, (_, o, _) in enumerate(ordered)}), "root": root}
    return replace(combine(root, leaves), split_info=info)


def _tree_nodes(tree: dict, leaf_index: dict) -> list[dict]:
    """The bisection tree as a flat list, root first, children after their parent (depth first):
    {"dim", "left_hi", "right_lo", "children": [node index or None (an empty half)]} or {"leaf": k}."""
    nodes: list[dict] = []

    def add(order) -> int:
        i = len(nodes)
        if order in tree:
            d, a, b, kids = tree[order]
            nodes.append({"dim": d, "left_hi": Fraction(a), "right_lo": Fraction(b), "children": []})
            stack.append((i, kids))
        else:
            nodes.append({"leaf": leaf_index[order]})
        return i

    stack: list = []
    add(0)
    while stack:  # iterative: a degenerate tree may be deep
        i, kids = stack.pop()
        nodes[i]["children"] = [None if c is None else add(c) for c in kids]
    return nodes


def combine(root, leaves):
    """The combined record: hull of the leaves' ranges and maximum of their errors, each
    intersected with the whole box's own (both are sound, so is their intersection: the split
    analysis is never looser than the unsplit one), and the checks redone on them."""
    def hull(arrs, pick, own):
        out = np.empty(len(arrs[0]), dtype=object)
        tighter = max if pick is min else min
        out[:] = [tighter(pick(vals), o) for vals, o in zip(zip(*arrs), own)]
        return out

    layers = []
    violations: list = limit_checks(root.problem, root.design)
    violations += range_checks(0, "input", root.inputs.q_lo, root.inputs.q_hi, root.design.inputs)
    violations += constant_checks(root.qnet)
    for pos, la in enumerate(root.layers):
        ls = [leaf.layers[pos] for leaf in leaves]
        r, e = la.ranges, la.errors
        rg = LayerRanges(
            hull([l.ranges.pre_lo for l in ls], min, r.pre_lo), hull([l.ranges.pre_hi for l in ls], max, r.pre_hi),
            hull([l.ranges.post_lo for l in ls], min, r.post_lo), hull([l.ranges.post_hi for l in ls], max, r.post_hi),
        )
        worst = max(ls, key=lambda l: max(l.errors.err_out))
        er = LayerErrors(
            hull([l.errors.err_acc for l in ls], max, e.err_acc), hull([l.errors.err_pre for l in ls], max, e.err_pre),
            hull([l.errors.err_out for l in ls], max, e.err_out),
            hull([l.errors.acc_lo for l in ls], min, e.acc_lo), hull([l.errors.acc_hi for l in ls], max, e.acc_hi),
            hull([l.errors.out_lo for l in ls], min, e.out_lo), hull([l.errors.out_hi for l in ls], max, e.out_hi),
            worst.errors.budget,
        )
        ql = root.qnet.layers[pos]
        violations += range_checks(ql.index, "accum", er.acc_lo, er.acc_hi, ql.formats.accum)
        violations += range_checks(ql.index, "output", er.out_lo, er.out_hi, ql.formats.output)
        layers.append(LayerAnalysis(la.index, rg, er))
    out_errs = tuple(min(max(leaf.output_errors[o] for leaf in leaves), root.output_errors[o])
                     for o in range(len(root.output_errors)))
    violations += error_checks(layers[-1].index, root.problem.max_error, out_errs)
    return Analysis(root.problem, root.design, root.qnet, root.box, root.input_lo, root.input_hi, root.inputs,
                    tuple(layers), tuple(violations), out_errs, root.range_method, root.error_method,
                    None, None, tuple(leaves))


__all__ = ["analyse_split", "combine"]
