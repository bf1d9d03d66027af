"""Exact per-neuron ranges of small ReLU networks by MILP (HiGHS), made sound.

`milp_ranges(network, box)` returns one `LayerRanges` per layer, every
bound rigorous. For each pre-activation z_j of layer t >= 2 (layer 1 is
affine in the box: interval bounds are exact there) and each sense:

1. HiGHS solves the big-M MILP of the prefix network (binaries for the
   ReLUs of layers < t that are unstable under the current bounds; bounds of
   earlier layers already tightened) in float64 and returns its dual bound
   U* -- a *suggestion*: tolerances and float weights make it unreliable in
   the last digits.
2. Verification (rigorous): branch and bound over ReLU phases, every node an
   LP relaxation (the "triangle" relaxation of unstable ReLUs under the
   node's z bounds) solved by HiGHS, whose float row duals y are turned into
   a rigorous bound by weak duality evaluated in exact rationals
   (Neumaier-Shcherbina): for max c^T v subject to L <= A v <= U,
   l <= v <= u (all with exact rational data) and *any* y,
       c^T v <= sum_r (y_r >= 0 ? y_r U_r : y_r L_r) + sum_i max(d_i l_i, d_i u_i),
   d = c - A^T y. Nodes whose bound is <= target = U* + margin are closed;
   infeasible nodes are closed only with a verified Farkas ray (the same
   formula with c = 0 is < 0); others branch on the unstable ReLU with the
   largest relaxation gap at the LP point (z <= 0 / z >= 0). With the node
   budget exhausted the open nodes' rigorous bounds count. The result is
   max(closed targets, open bounds): rigorous whatever the solver did.
3. The bound is intersected with the bound already known (symbolic); the
   tightened bounds are used for the later layers.

Networks with a tanh/sigmoid hidden layer get MILP bounds only up to that
layer. Checker: MILP bounds cannot be re-derived without search; a
certificate should store them with the branch-and-bound tree (phases of the
closed leaves and their dual vectors y, exact), or fall back to the
symbolic rule for those neurons (`LayerRangeHints.lo_method == "milp"`
marks them).
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np

from ..network.ir import Activation
from ..numeric import scaled
from ..progress import say
from ..solvers import INF, LinearModel, SolveOptions, SolveStatus, solve
from .intervals import LayerRanges, activation_bounds, exact_layers, input_box_scaled
from .symbolic import symbolic_ranges

MARGIN_REL = Fraction(1, 10**3)  # of the neuron's current range width: the verification target's slack
MARGIN_ABS = Fraction(1, 10**9)
SUGGESTION_NODES = 50  # branch-and-bound nodes of each suggesting MILP (ACC7NN: output width 3,090 -> 219)
LP_BUDGET = 40_000  # LP solves of one call, in all
# the float models run with HiGHS's own tolerances and no time limit: deterministic (no thread setting:
# HiGHS's scheduler is global to the process and a later, different `threads` makes its runs fail)
_LP_OPTIONS = SolveOptions("highs", time_limit=None, feasibility_tolerance=None, want_duals=True)
_LP_COUNT = [0]  # LP solves so far (the budget counts work, not seconds)


class _Prefix:
    """Exact LP data of the network prefix (layers 0..t-1) under node bounds.

    Rows are stored scaled to integer coefficients: (coef {col: int},
    lo, hi (Fractions or None, bounds of the scaled row), scale s > 0); the
    float model passed to HiGHS is the row divided by s. Variable bounds are
    exact Fractions.
    """

    def __init__(self, network, box, bounds, t: int, phases: dict):
        from math import lcm

        self.lo: list[Fraction] = []
        self.hi: list[Fraction] = []
        self.rows: list[tuple[dict, Fraction | None, Fraction | None, int]] = []
        self.unstable: list[tuple[int, int, int, int]] = []  # (layer, neuron, z index, h index)
        prev = [self._var(Fraction(lo), Fraction(hi)) for lo, hi in box]
        for k in range(t):
            layer = network.layers[k]
            w, bb = layer.exact_weights, layer.exact_bias
            dk = lcm(w.den, bb.den)
            fw, fb = dk // w.den, dk // bb.den
            cur = []
            for j in range(layer.n_out):
                l, u = bounds[k][j]
                ph = phases.get((k, j))
                if ph == 1:
                    l = max(l, Fraction(0))
                elif ph == -1:
                    u = min(u, Fraction(0))
                zi = self._var(l, u)
                row = {zi: dk}
                for i, wn in zip(prev, w.num[j]):
                    if wn:
                        row[i] = row.get(i, 0) - int(wn) * fw
                rhs = Fraction(int(bb.num[j]) * fb)
                self.rows.append((row, rhs, rhs, dk))
                if layer.activation is Activation.LINEAR or (layer.activation is Activation.RELU and l >= 0):
                    cur.append(zi)
                elif layer.activation is Activation.RELU and u <= 0:
                    cur.append(self._var(Fraction(0), Fraction(0)))
                elif layer.activation is Activation.RELU:
                    hv = self._var(Fraction(0), u)
                    self.rows.append(({hv: 1, zi: -1}, Fraction(0), None, 1))  # h >= z
                    # (u - l) h - u z <= -u l, scaled to integers by the common denominator of l and u
                    sc = lcm(l.denominator, u.denominator)
                    self.rows.append(({hv: int((u - l) * sc), zi: int(-u * sc)}, None, -u * l * sc, sc))
                    self.unstable.append((k, j, zi, hv))
                    cur.append(hv)
                else:
                    raise ValueError("MILP ranges need ReLU/linear hidden layers")
            prev = cur
        self.last = prev

    def _var(self, lo, hi) -> int:
        self.lo.append(lo)
        self.hi.append(hi)
        return len(self.lo) - 1


def _linear_model(pre: _Prefix, cost: dict, maximize: bool, integer: bool) -> LinearModel:
    """The float model of the node (a suggestion only: verification is exact). Row r of the
    float model is the exact integer row divided by its scale; variable bounds are rounded
    outward; with `integer`, each unstable ReLU gets its phase binary (big-M rows)."""
    n = len(pre.lo)
    extra = pre.unstable if integer else []
    sign = -1.0 if maximize else 1.0  # LinearModel minimises
    m = LinearModel()
    m.add_cols(n, np.array([np.nextafter(float(v), -np.inf) for v in pre.lo]),
               np.array([np.nextafter(float(v), np.inf) for v in pre.hi]),
               np.array([sign * float(cost.get(i, 0)) for i in range(n)]))
    if extra:
        m.add_binaries(len(extra))
    rows = list(pre.rows)
    for b, (k, j, zi, hv) in enumerate(extra):
        l, u = pre.lo[zi], pre.hi[zi]
        d = n + b
        # h <= z - l (1 - d)  ->  h - z - l d <= -l ;  h <= u d  ->  h - u d <= 0
        rows.append(({hv: 1.0, zi: -1.0, d: -float(l)}, None, -l, 1))
        rows.append(({hv: 1.0, d: -float(u)}, None, Fraction(0), 1))
    for row, lo, hi, sc in rows:
        cols = list(row)
        vals = [row[c] / sc if sc != 1 else float(row[c]) for c in cols]  # int / int: correctly rounded
        m.add_row(cols, vals, INF * -1 if lo is None else float(lo / sc), INF if hi is None else float(hi / sc))
    return m


_YBITS = 64


def _safe_upper(pre: _Prefix, cost: dict, y) -> Fraction:
    """Rigorous upper bound of cost^T v (cost: {col: Fraction}) over the exact LP,
    for the multipliers y of the float rows (row r of the float model is the
    exact integer row divided by its scale s_r).

    Weak duality with multipliers m_r = Y_r / (2^K s_r) on the exact rows
    (Y_r = round(y_r 2^K), any value is valid): all in integers except the
    final division.
    """
    from math import lcm

    K = _YBITS + max((int(sc).bit_length() for _, _, _, sc in pre.rows), default=0)
    cden = 1
    for c in cost.values():
        cden = lcm(cden, Fraction(c).denominator)
    # d_i * 2^K * cden  =  c_i 2^K cden - sum_r M_r a_ri   with M_r = Y_r cden (multiplier numerators)
    d = {i: int(Fraction(c) * cden) << K for i, c in cost.items()}
    bound_terms = []  # (M_r, bound of the scaled row)
    for (row, lo, hi, sc), yr in zip(pre.rows, y):
        if yr == 0 or not np.isfinite(yr):
            continue
        yn, yd = float(yr).as_integer_ratio()
        m = ((yn << K) // (yd * sc)) * cden  # any multiplier is valid: round
        if m == 0:
            continue
        bnd = hi if m > 0 else lo
        if bnd is None:
            continue  # multiplier of the wrong sign for a one-sided row: drop it (still valid)
        bound_terms.append((m, bnd))
        for c, a in row.items():
            d[c] = d.get(c, 0) - m * a
    total = Fraction(0)
    for m, bnd in bound_terms:
        total += m * bnd
    for i, di in d.items():
        if di:
            total += di * (pre.hi[i] if di > 0 else pre.lo[i])
    return total / ((1 << K) * cden)


def _cost(pre: _Prefix, row) -> dict:
    """Objective W_t[j] . h_{t-1} on the node's variables."""
    cost: dict = {}
    for i, w in zip(pre.last, row):
        if w:
            cost[i] = cost.get(i, 0) + w
    return cost


def _lp_bound(pre: _Prefix, row, maximize: bool):
    """(rigorous bound of sign * W h, or None if the node is proved infeasible; LP point or None)."""
    cost = _cost(pre, row)
    _LP_COUNT[0] += 1
    res = solve(_linear_model(pre, cost, maximize, False), _LP_OPTIONS)
    sign = 1 if maximize else -1
    c_max = {i: sign * Fraction(v) for i, v in cost.items()}
    n_rows = len(pre.rows)
    if res.status == SolveStatus.INFEASIBLE:
        if res.dual_ray is not None:
            for s in (1, -1):
                if _safe_upper(pre, {}, s * res.dual_ray[:n_rows]) < 0:
                    return None, None
        return _safe_upper(pre, c_max, np.zeros(n_rows)), None
    y = res.row_duals[:n_rows] if res.row_duals is not None else np.zeros(n_rows)
    best = None
    for s in (1, -1):
        b = _safe_upper(pre, c_max, s * y)
        best = b if best is None or b < best else best
    return best, res.x


def _milp_suggestion(pre: _Prefix, row, maximize: bool, node_limit: int):
    """An upper bound of sign * W h from HiGHS's MILP dual bound (a float: only a target)."""
    res = solve(_linear_model(pre, _cost(pre, row), maximize, True),
                replace(_LP_OPTIONS, mip_gap=1e-4, node_limit=node_limit, want_duals=False))
    if res.bound is None or not np.isfinite(res.bound):
        return None
    return -res.bound  # the model minimised -sign * W h


def _verified_bound(network, box, bounds, t, row, maximize, target, node_limit):
    """Rigorous max of sign*z (sign = +1 max, -1 min) by LP branch and bound; target prunes."""
    sign = 1 if maximize else -1
    open_nodes = [dict()]
    closed_best = None
    nodes = 0
    while open_nodes:
        phases = open_nodes.pop()
        nodes += 1
        pre = _Prefix(network, box, bounds, t, phases)
        bnd, point = _lp_bound(pre, row, maximize)
        if bnd is None:
            continue  # proved infeasible
        if target is not None and bnd <= target:
            closed_best = bnd if closed_best is None or bnd > closed_best else closed_best
            continue
        if nodes >= node_limit or point is None or not pre.unstable:
            closed_best = bnd if closed_best is None or bnd > closed_best else closed_best
            if nodes >= node_limit:
                for ph in open_nodes:  # budget exhausted: bound every open node rigorously
                    p2 = _Prefix(network, box, bounds, t, ph)
                    b2, _ = _lp_bound(p2, row, maximize)
                    if b2 is not None:
                        closed_best = b2 if b2 > closed_best else closed_best
                return closed_best
            continue
        k, j, zi, hi_ = max(pre.unstable, key=lambda e: point[e[3]] - max(point[e[2]], 0.0))
        for ph in (1, -1):
            child = dict(phases)
            child[(k, j)] = ph
            open_nodes.append(child)
    return closed_best


def milp_ranges(network, box, *, base=None, suggestion_nodes: int = SUGGESTION_NODES, node_limit: int = 64,
                max_hidden: int = 200, lp_budget: int | None = LP_BUDGET) -> list[LayerRanges]:
    """Per-neuron ranges by MILP, rigorous (see module docstring). Deterministic: every limit
    counts work (nodes, LP solves), never seconds, so the result does not depend on the machine.

    box: ((lo, hi), ...) in network-input units (Fractions). base: a
    `symbolic.RangeResult` to start from (computed when None). Networks with
    more than `max_hidden` hidden neurons, and layers after a tanh/sigmoid
    hidden layer, keep the base ranges. suggestion_nodes: branch-and-bound
    nodes of each HiGHS MILP (its dual bound is only the target);
    node_limit: nodes of the verifying branch and bound per bound;
    lp_budget: LP solves in all, after which the remaining neurons keep their
    base bounds (None: no limit).
    """
    box = tuple((Fraction(lo), Fraction(hi)) for lo, hi in box)
    lps_before = _LP_COUNT[0]
    if base is None:
        x_lo, x_hi = input_box_scaled(box)
        base = symbolic_ranges(network, exact_layers(network), x_lo, x_hi)
    out = [LayerRanges(r.pre_lo.copy(), r.pre_hi.copy(), r.post_lo, r.post_hi) for r in base.layers]
    hidden = sum(l.n_out for l in network.layers[:-1])
    if hidden > max_hidden:
        return out
    for t in range(1, len(network.layers)):
        if network.layers[t - 1].activation not in (Activation.RELU, Activation.LINEAR):
            break
        say(f"MILP ranges: layer {t + 1} of {len(network.layers)} ({network.layers[t].n_out} neurons, "
            f"{_LP_COUNT[0] - lps_before} LP solves so far)")
        bounds = [[(scaled.to_fraction(lo), scaled.to_fraction(hi)) for lo, hi in zip(r.pre_lo, r.pre_hi)] for r in out[:t]]
        layer = network.layers[t]
        r = out[t]
        for j in range(layer.n_out):
            if lp_budget is not None and _LP_COUNT[0] - lps_before >= lp_budget:
                return out
            pre = _Prefix(network, box, bounds, t, {})
            row = layer.weights[j]
            for maximize in (True, False):
                sugg = _milp_suggestion(pre, row, maximize, suggestion_nodes)
                target = None
                if sugg is not None:
                    # suggestion: an upper bound of sign * (W h) (bias excluded); widen by the margin
                    width = scaled.to_fraction(r.pre_hi[j] - r.pre_lo[j])
                    target = Fraction(sugg) + MARGIN_REL * width + MARGIN_ABS
                b = _verified_bound(network, box, bounds, t, row, maximize, target, node_limit)
                if b is None:
                    continue
                # b bounds sign * (W h); z = W h + bias
                if maximize:
                    v = scaled.up(b + layer.bias[j])
                    if v < r.pre_hi[j]:
                        r.pre_hi[j] = v
                else:
                    v = scaled.down(-b + layer.bias[j])
                    if v > r.pre_lo[j]:
                        r.pre_lo[j] = v
        post_lo, post_hi = activation_bounds(layer.activation, r.pre_lo, r.pre_hi)
        out[t] = LayerRanges(r.pre_lo, r.pre_hi, post_lo, post_hi)
    return out


__all__ = ["milp_ranges"]
