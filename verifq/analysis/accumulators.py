"""Accumulator overflow of an already-quantized integer network: sound bounds on
every partial sum over the input domain, the proof for given accumulator widths,
the narrowest provably overflow-free widths, and overflow witnesses.

Summation orders (INTEGER_SEMANTICS.md), per layer: `sequential` (default): the
accumulator starts at the bias code and adds the products in weight order
i = 0..K-1 (hls4ml's and FINN's order); every prefix P_k = b + sum_{i<k} a_i w_i
(k = 0..K) must fit. `bias_last`: the products first (from 0), then the bias: the
prefixes sum_{i<k} a_i w_i (k = 0..K) and the final sum must fit (k = K + 1 names
the final sum). `split_sign`: two accumulators, S+ = max(b, 0) + the positive
products, S- = min(b, 0) + the negative products, then S+ + S-; S+ and S- must fit
(k = K names them; side max is S+, side min is S-).

Bounds: the codes entering a layer lie in per-channel integer intervals
(input box -> input quantizer; then each layer's final-sum interval through its
monotone steps). For a prefix, max P_k = b + sum_{i<k} max(w_i lo_i, w_i hi_i):
exact integers, exact for the first layer (its input codes range independently
over a box), sound for the others. `split` partitions the input box and takes
the union of the per-box bounds (tighter for deeper layers).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from itertools import product as cartesian

import numpy as np

from ..fixedpoint.integer_net import accumulator_range, quantize_input, simulate, step_interval
from ..network.quantized import QuantizedNetwork

Box = tuple[tuple[Fraction, Fraction], ...]


def signed_width(lo: int, hi: int) -> int:
    """Bits of the narrowest two's complement accumulator holding every integer of [lo, hi]."""
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w


@dataclass(frozen=True)
class LayerBounds:
    """Per neuron: the range of every partial sum (bias first) and of the final sum, with the
    prefix lengths k where the extremes are reached (P_k = bias + the first k products)."""

    code_lo: tuple[int, ...]  # the codes entering the layer
    code_hi: tuple[int, ...]
    prefix_lo: tuple[int, ...]
    prefix_hi: tuple[int, ...]
    k_lo: tuple[int, ...]
    k_hi: tuple[int, ...]
    final_lo: tuple[int, ...]
    final_hi: tuple[int, ...]

    def widths(self) -> tuple[int, ...]:
        return tuple(signed_width(a, b) for a, b in zip(self.prefix_lo, self.prefix_hi))


def input_code_bounds(qnet: QuantizedNetwork, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Exact code intervals of the input quantizer over the box (the quantizer is monotone)."""
    codes = quantize_input(qnet, np.array([[lo for lo, _ in box], [hi for _, hi in box]], dtype=object))
    return codes[0].astype(object), codes[1].astype(object)


def layer_bounds(w: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray, order: str = "sequential") -> LayerBounds:
    """Bounds of every held partial sum of one layer in `order` (w: (n_out, K) object ints;
    b: biases; lo, hi: input codes): exact for independent input codes."""
    cmax = np.where(w > 0, w * hi, w * lo)
    cmin = np.where(w > 0, w * lo, w * hi)
    n, k = w.shape
    t = lambda a: tuple(int(v) for v in a)  # noqa: E731
    fmax, fmin = cmax.sum(axis=1) + b, cmin.sum(axis=1) + b
    if order == "split_sign":
        zero = np.zeros_like(cmax)
        up = np.maximum(b, 0) + np.maximum(cmax, zero).sum(axis=1)
        down = np.minimum(b, 0) + np.minimum(cmin, zero).sum(axis=1)
        return LayerBounds(t(lo), t(hi), t(down), t(up), (k,) * n, (k,) * n, t(fmin), t(fmax))
    zero = np.zeros((n, 1), dtype=object)
    first = b[:, None] if order == "sequential" else zero
    pmax = np.concatenate([zero, np.cumsum(cmax, axis=1)], axis=1) + first
    pmin = np.concatenate([zero, np.cumsum(cmin, axis=1)], axis=1) + first
    if order == "bias_last":  # k = K + 1: the final sum, bias added last
        pmax = np.concatenate([pmax, fmax[:, None]], axis=1)
        pmin = np.concatenate([pmin, fmin[:, None]], axis=1)
    k_hi = np.array([max(range(len(r)), key=lambda i: r[i]) for r in pmax])
    k_lo = np.array([min(range(len(r)), key=lambda i: r[i]) for r in pmin])
    return LayerBounds(t(lo), t(hi), t(pmin[np.arange(len(k_lo)), k_lo]), t(pmax[np.arange(len(k_hi)), k_hi]),
                       t(k_lo), t(k_hi), t(fmin), t(fmax))


def interval_layer(qnet: QuantizedNetwork, l: int, prev: LayerBounds, order: str) -> LayerBounds:
    """Layer l's interval bounds from the previous layer's (tightened) final-sum bounds."""
    lo, hi = np.array(prev.final_lo, dtype=object), np.array(prev.final_hi, dtype=object)
    for step in qnet.layers[l - 1].steps:
        lo, hi = step_interval(step, lo, hi)
    layer = qnet.layers[l]
    return layer_bounds(np.array(layer.weights, dtype=object), np.array(layer.bias, dtype=object),
                        np.asarray(lo, dtype=object), np.asarray(hi, dtype=object), order)


def held_sum(a: np.ndarray, w_row, b: int, k: int, side: str, order: str = "sequential") -> np.ndarray:
    """The held partial sum that LayerBounds' k and side name, for each row of input codes `a`."""
    a = np.asarray(a, dtype=object)
    w = np.array(list(w_row), dtype=object)
    if order == "split_sign":
        p = a * w[None, :]
        keep = (lambda v: v > 0) if side == "max" else (lambda v: v < 0)
        total = np.array([sum((v for v in row if keep(v)), 0) for row in p], dtype=object)
        return total + (max(b, 0) if side == "max" else min(b, 0))
    kk = min(k, len(w))
    s = a[:, :kk] @ w[:kk] if kk else np.zeros(len(a), dtype=object)
    return np.asarray(s + (b if order == "sequential" or k > len(w) else 0), dtype=object)


def split_boxes(box: Box, n: int) -> list[Box]:
    """At most n sub-boxes covering `box`: a grid bisecting the widest inputs."""
    parts = [1] * len(box)
    while True:
        best = max(range(len(box)), key=lambda i: (box[i][1] - box[i][0]) / parts[i])
        total = int(np.prod(parts)) // parts[best] * (parts[best] * 2)
        if total > n or box[best][1] == box[best][0]:
            break
        parts[best] *= 2
    cuts = [[lo + (hi - lo) * Fraction(j, p) for j in range(p + 1)] for (lo, hi), p in zip(box, parts)]
    return [tuple((c[j], c[j + 1]) for c, j in zip(cuts, idx)) for idx in cartesian(*[range(p) for p in parts])]


def union_bounds(per_box: list[list[LayerBounds]]) -> list[LayerBounds]:
    """The bounds over a union of boxes (each box's bounds of every layer)."""
    if len(per_box) == 1:
        return per_box[0]
    out = []
    for layers in zip(*per_box):
        n = len(layers[0].prefix_lo)

        def pick(attr, f, count=n):
            return tuple(f(getattr(lb, attr)[j] for lb in layers) for j in range(count))
        lo_idx = [min(range(len(layers)), key=lambda b: layers[b].prefix_lo[j]) for j in range(n)]
        hi_idx = [max(range(len(layers)), key=lambda b: layers[b].prefix_hi[j]) for j in range(n)]
        m = len(layers[0].code_lo)
        out.append(LayerBounds(pick("code_lo", min, m), pick("code_hi", max, m), pick("prefix_lo", min), pick("prefix_hi", max),
                               tuple(layers[b].k_lo[j] for j, b in enumerate(lo_idx)),
                               tuple(layers[b].k_hi[j] for j, b in enumerate(hi_idx)),
                               pick("final_lo", min), pick("final_hi", max)))
    return out


def intersect_bounds(a: list[LayerBounds], b: list[LayerBounds]) -> list[LayerBounds]:
    """Per layer and neuron the tighter end of two sound bounds of the same sums (e.g. a split's
    union and the whole box's); each extreme's prefix length from the bound that gave it."""
    out = []
    for x, y in zip(a, b):
        lo_y = [p <= q for p, q in zip(x.prefix_lo, y.prefix_lo)]  # y's lower end is at least as tight
        hi_y = [p >= q for p, q in zip(x.prefix_hi, y.prefix_hi)]
        out.append(LayerBounds(tuple(map(max, x.code_lo, y.code_lo)), tuple(map(min, x.code_hi, y.code_hi)),
                               tuple(map(max, x.prefix_lo, y.prefix_lo)), tuple(map(min, x.prefix_hi, y.prefix_hi)),
                               tuple(ky if t else kx for t, kx, ky in zip(lo_y, x.k_lo, y.k_lo)),
                               tuple(ky if t else kx for t, kx, ky in zip(hi_y, x.k_hi, y.k_hi)),
                               tuple(map(max, x.final_lo, y.final_lo)), tuple(map(min, x.final_hi, y.final_hi))))
    return out


def analyse_bounds(qnet: QuantizedNetwork, box: Box, widths: list[int | None] | None = None,
                   orders: list[str] | None = None) -> list[LayerBounds]:
    """Sound partial-sum bounds of every layer over the box (the interval rule; a split is
    `analyse_quantized`'s). With `widths`, a layer whose bounds exceed its width passes on the
    whole accumulator range (its sums may wrap or saturate), so later layers stay sound."""
    lo, hi = input_code_bounds(qnet, box)
    out = []
    for index, layer in enumerate(qnet.layers):
        w = np.array(layer.weights, dtype=object)
        b = np.array(layer.bias, dtype=object)
        lb = layer_bounds(w, b, lo, hi, orders[index] if orders else "sequential")
        out.append(lb)
        flo, fhi = np.array(lb.final_lo, dtype=object), np.array(lb.final_hi, dtype=object)
        width = widths[index] if widths else None
        if width is not None and any(signed_width(a, c) > width for a, c in zip(lb.prefix_lo, lb.prefix_hi)):
            alo, ahi = accumulator_range(width)
            bad = [signed_width(a, c) > width for a, c in zip(lb.prefix_lo, lb.prefix_hi)]
            flo = np.array([alo if x else v for x, v in zip(bad, flo)], dtype=object)
            fhi = np.array([ahi if x else v for x, v in zip(bad, fhi)], dtype=object)
        for step in layer.steps:
            flo, fhi = step_interval(step, flo, fhi)
        lo, hi = np.asarray(flo, dtype=object), np.asarray(fhi, dtype=object)
    return out


@dataclass(frozen=True)
class Overflow:
    """A partial sum that may leave its accumulator: layer, neuron, prefix length, bound, width."""

    layer: int
    neuron: int
    k: int
    bound: int
    width: int
    side: str  # "max" or "min"


def overflow_checks(bounds: list[LayerBounds], widths: list[int | None]) -> list[Overflow]:
    out = []
    for l, (lb, width) in enumerate(zip(bounds, widths)):
        if width is None:
            continue
        alo, ahi = accumulator_range(width)
        for j in range(len(lb.prefix_hi)):
            if lb.prefix_hi[j] > ahi:
                out.append(Overflow(l, j, lb.k_hi[j], lb.prefix_hi[j], width, "max"))
            if lb.prefix_lo[j] < alo:
                out.append(Overflow(l, j, lb.k_lo[j], lb.prefix_lo[j], width, "min"))
    return out


def _objective(qnet, x, layer: int, neuron: int, k: int, side: str, order: str = "sequential") -> np.ndarray:
    """The held partial sum (k, side) of (layer, neuron) for each input row (unbounded accumulators
    before), negated for side min."""
    sim = simulate(qnet, x)
    L = qnet.layers[layer]
    p = held_sum(sim.inputs[layer].astype(object), L.weights[neuron], L.bias[neuron], k, side, order)
    return np.asarray(p if side == "max" else -p, dtype=object)


def find_witness(qnet: QuantizedNetwork, box: Box, ov: Overflow, samples: int = 2000, seed: int = 0,
                 order: str = "sequential"):
    """An input (exact Fractions) whose partial sum P_k of (layer, neuron) leaves the accumulator,
    or None: the exact corner for the first layer, a random search plus coordinate ascent otherwise."""
    lo = np.array([a for a, _ in box], dtype=object)
    hi = np.array([b for _, b in box], dtype=object)
    mid = (lo + hi) / 2
    alo, ahi = accumulator_range(ov.width)
    good = (lambda v: v > ahi) if ov.side == "max" else (lambda v: -v < alo)
    if ov.layer == 0:
        w = qnet.layers[0].weights[ov.neuron]
        up = [(wi > 0) == (ov.side == "max") for wi in w]
        x = np.array([hi[i] if i < ov.k and up[i] else lo[i] if i < ov.k else mid[i] for i in range(len(box))], dtype=object)
        if good(_objective(qnet, x[None, :], 0, ov.neuron, ov.k, ov.side, order)[0]):
            return x
    rng = np.random.default_rng(seed)
    cands = [lo + (hi - lo) * np.array([Fraction(float(v)) for v in rng.random(len(box))], dtype=object) for _ in range(samples)]
    if len(box) <= 10:
        cands += [np.array(c, dtype=object) for c in cartesian(*[(a, b) for a, b in box])]
    vals = _objective(qnet, np.array(cands, dtype=object), ov.layer, ov.neuron, ov.k, ov.side, order)
    best = int(max(range(len(vals)), key=lambda i: vals[i]))
    x, v = cands[best].copy(), vals[best]
    for _ in range(4):  # coordinate ascent over each input's ends and midpoint
        improved = False
        for i in range(len(box)):
            trials = []
            for t in (lo[i], hi[i], mid[i], (x[i] + lo[i]) / 2, (x[i] + hi[i]) / 2):
                y = x.copy()
                y[i] = t
                trials.append(y)
            tv = _objective(qnet, np.array(trials, dtype=object), ov.layer, ov.neuron, ov.k, ov.side, order)
            j = int(max(range(len(tv)), key=lambda n: tv[n]))
            if tv[j] > v:
                x, v, improved = trials[j], tv[j], True
        if not improved:
            break
    return x if good(v) else None
