"""`prove` and `synth` for an already-quantized (QONNX) integer network: accumulator
overflow-freedom for the spec's accumulator width, the narrowest provable widths per
layer and neuron, error bounds against the float reference, and overflow witnesses
confirmed by QONNX's own execution."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from math import ceil, log2

import numpy as np

from ..fixedpoint.integer_net import accumulator_range, simulate
from ..network.quantized import QuantizedNetwork
from ..problem import Problem
from .accumulators_symbolic import symbolic_bounds
from .accumulators import (held_sum, interval_layer, intersect_bounds, split_boxes, LayerBounds, Overflow, analyse_bounds,
                           find_witness, overflow_checks, signed_width, union_bounds)
from .integer_error import error_bounds

ORDER_TEXT = {"sequential": "bias first, then the products in weight order (as hls4ml and FINN accumulate)",
              "bias_last": "the products in weight order from 0, then the bias",
              "split_sign": "positive and negative products in two accumulators (each starting with the bias "
                            "if of its sign), then combined"}
ORDER = ORDER_TEXT["sequential"]


@dataclass(frozen=True)
class Witness:
    overflow: Overflow
    x: tuple[Fraction, ...]  # float32 values inside the domain
    simulated: int  # the partial sum verifq's simulation computes (unbounded accumulators before)
    confirmed: str | None  # what QONNX's execution showed, None when qonnx is not installed


@dataclass(frozen=True)
class Leaf:
    """One box of a split analysis with its own bounds (and symbolic lines), which a
    certificate lists so that the checker re-derives each box's bounds on its own."""

    box: tuple[tuple[Fraction, Fraction], ...]
    bounds: tuple[LayerBounds, ...]
    lines: tuple = ()  # as QuantizedAnalysis.lines, for this box


@dataclass(frozen=True)
class QuantizedAnalysis:
    qnet: QuantizedNetwork
    domain: tuple[tuple[Fraction, Fraction], ...]
    widths: tuple[int | None, ...]  # the accumulator width of each layer (None: unlimited)
    modes: tuple[str, ...]  # per layer: wrap | saturate
    bounds: tuple[LayerBounds, ...]
    overflows: tuple[Overflow, ...]
    errors: tuple[Fraction, ...]  # per output: bound on |quantized - reference| if no accumulator overflows
    max_error: tuple[Fraction | None, ...]
    split: int = 1
    method: str = "interval"
    witnesses: tuple[Witness, ...] = field(default_factory=tuple)
    orders: tuple[str, ...] = ()  # per layer: the partial-sum order (empty: every layer sequential)
    lines: tuple = ()  # symbolic, one box: per layer the relaxation lines its bounds used (symbolic_bounds)
    leaves: tuple[Leaf, ...] = ()  # split, proved: each box's own bounds (`bounds`: their union within `whole`'s)
    whole: Leaf | None = None  # split, proved: the whole domain's own bounds

    def order(self, layer: int) -> str:
        return self.orders[layer] if self.orders else "sequential"

    @property
    def error_violations(self) -> list[int]:
        return [i for i, (e, b) in enumerate(zip(self.errors, self.max_error)) if b is not None and e > b]

    @property
    def errors_hold(self) -> bool:
        """The error bounds model exact sums: they hold only where no accumulator may overflow."""
        return not self.overflows

    @property
    def proved(self) -> bool:
        return not self.overflows and not self.error_violations

    def minimal_widths(self) -> list[tuple[int, ...]]:
        """Per layer, per neuron: the narrowest accumulator this analysis proves overflow-free."""
        return [b.widths() for b in self.bounds]


def layer_settings(problem: Problem) -> tuple[list[int | None], list[str], list[str]]:
    """Per layer: the spec's accumulator width, mode (wrap|saturate) and partial-sum order."""
    n = len(problem.quantized.layers)
    impl = problem.implementation
    accs = impl.layer_accumulators or ()
    if len(accs) != n:
        return [impl.max_accumulator] * n, [impl.accumulator.value] * n, [impl.accumulator_order] * n
    return [a.width for a in accs], [a.mode.value for a in accs], [a.order for a in accs]


def _box_bounds(shared, box) -> tuple:
    """One box's (interval bounds, symbolic bounds and lines or None): a task of `analyse_quantized`
    (module level, so that a process pool or Ray can run it)."""
    qnet, widths, orders, symbolic = shared
    interval = analyse_bounds(qnet, box, widths, orders)
    if not symbolic:
        return interval, None, None
    lines = []
    return interval, symbolic_bounds(qnet, box, orders=orders, lines_out=lines), tuple(lines)


def analyse_quantized(problem: Problem, split: int = 1, widths: list[int | None] | None = None,
                      method: str = "interval", orders: list[str] | None = None, engine=None) -> QuantizedAnalysis:
    """`analyse_integer` on the spec's network and domain; widths and orders default to the
    spec's, per layer."""
    assert problem.quantized is not None
    spec_widths, modes, spec_orders = layer_settings(problem)
    return analyse_integer(problem.quantized, problem.domain, spec_widths if widths is None else widths, modes,
                           spec_orders if orders is None else orders, problem.max_error, split, method, engine)


def analyse_integer(qnet: QuantizedNetwork, domain, widths: list[int | None], modes: list[str], orders: list[str],
                    max_error: tuple, split: int = 1, method: str = "interval", engine=None) -> QuantizedAnalysis:
    """method "interval" or "symbolic" (interval bounds tightened by back-substitution; the
    relaxation lines go into `lines` (one box) or the leaves (a split) for the certificate, whose
    checker re-derives the bounds); per layer the accumulator width (None: unlimited), mode and
    partial-sum order. The boxes of a split run on `engine` (engine.py; default this process),
    their results taken in order."""
    from ..engine import SerialEngine

    # a split: its boxes, then the whole domain (the union of the boxes' bounds is taken within the
    # whole box's, so a split is never looser than the whole box)
    boxes = split_boxes(domain, split) + [tuple(domain)] if split > 1 else [tuple(domain)]
    engine = engine or SerialEngine()
    symbolic = method == "symbolic" and len(qnet.layers) > 1
    results = engine.map(_box_bounds, engine.share((qnet, list(widths), list(orders), symbolic)), boxes)

    def combined(per_box: list) -> list[LayerBounds]:
        return per_box[0] if len(per_box) == 1 else intersect_bounds(union_bounds(per_box[:-1]), per_box[-1])
    per_box = [r[0] for r in results]
    per_lines = [()] * len(boxes)
    bounds = combined(per_box)
    overflows = overflow_checks(bounds, widths)
    if symbolic:
        # (only when no layer may overflow: the relaxations assume exact sums; a layer that may
        # overflow keeps the interval bounds, which pass on its whole accumulator range)
        sym_box = [r[1] for r in results]
        sym = combined(sym_box)
        if not overflow_checks(sym, widths):
            bounds, overflows, per_box, per_lines = sym, [], sym_box, [r[2] for r in results]
    errors = error_bounds(qnet, domain, bounds)
    boxes_of = [Leaf(b, tuple(bb), ln) for b, bb, ln in zip(boxes, per_box, per_lines)]
    split_ok = split > 1 and not overflows
    return QuantizedAnalysis(qnet, tuple(domain), tuple(widths), tuple(modes), tuple(bounds), tuple(overflows),
                             tuple(errors), tuple(max_error), split, method, orders=tuple(orders),
                             lines=per_lines[0] if split == 1 else (), leaves=tuple(boxes_of[:-1]) if split_ok else (),
                             whole=boxes_of[-1] if split_ok else None)


def interval_from(analysis: QuantizedAnalysis, start: int) -> QuantizedAnalysis:
    """The analysis with the bounds of layers start.. re-derived by the interval rule from layer
    start-1's final sums and no symbolic lines from there (what a certificate's checker re-derives
    without the symbolic rule); overflows and error bounds follow."""
    qnet, bounds = analysis.qnet, list(analysis.bounds[:start])
    for l in range(start, len(qnet.layers)):
        bounds.append(interval_layer(qnet, l, bounds[-1], analysis.order(l)))
    lines = tuple(analysis.lines[:start]) + (None,) * (len(bounds) - start) if analysis.lines else ()
    return replace(analysis, bounds=tuple(bounds), overflows=tuple(overflow_checks(bounds, list(analysis.widths))),
                   errors=tuple(error_bounds(qnet, analysis.domain, bounds)), lines=lines)


def _float32_inside(x, box) -> tuple[Fraction, ...]:
    """Each value as a float32 inside its interval (QONNX is fed float32)."""
    out = []
    for v, (lo, hi) in zip(x, box):
        f = np.float32(float(v))
        if Fraction(float(f)) < lo:
            f = np.nextafter(f, np.float32(np.inf))
        if Fraction(float(f)) > hi:
            f = np.nextafter(f, np.float32(-np.inf))
        out.append(Fraction(float(f)))
    return tuple(out)


def prefix_sum(qnet: QuantizedNetwork, x, layer: int, neuron: int, k: int, side: str = "max",
               order: str = "sequential") -> int:
    """The held partial sum (k, side) of (layer, neuron) on input x (unbounded accumulators)."""
    sim = simulate(qnet, np.array([list(x)], dtype=object))
    L = qnet.layers[layer]
    return int(held_sum(sim.inputs[layer].astype(object), L.weights[neuron], L.bias[neuron], k, side, order)[0])


def confirm_with_qonnx(qnet: QuantizedNetwork, x, layer: int, neuron: int, k: int, side: str = "max",
                      order: str = "sequential") -> str | None:
    """Execute the QONNX file on x, read the layer's input and weight tensors from QONNX's own
    execution context, and recompute the partial sum from them in exact integers."""
    from ..network.loaders.qonnx_exec import execute_qonnx, qonnx_available

    if not qonnx_available():
        return None
    import onnx

    ctx = execute_qonnx(qnet.source, np.array([[float(v) for v in x]], dtype=np.float32), full=True)
    linear = [n for n in onnx.load(qnet.source).graph.node if n.op_type in ("MatMul", "Gemm")]
    node = linear[layer]
    L = qnet.layers[layer]
    act = [Fraction(float(v)) / L.in_unit for v in np.asarray(ctx[node.input[0]], dtype=np.float64).ravel()]
    if any(a.denominator != 1 for a in act):
        return f"QONNX's input of {node.name} is not on the grid of unit {L.in_unit}: not confirmed"
    wt = np.asarray(ctx[node.input[1]], dtype=np.float64)
    trans = node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute)
    col = wt[neuron, :] if trans else wt[:, neuron]
    ws = L.unit[neuron] / L.in_unit
    wcodes = [Fraction(float(v)) / ws for v in col]
    if any(c.denominator != 1 for c in wcodes) or [int(c) for c in wcodes] != list(L.weights[neuron]):
        return f"QONNX's weights of {node.name} differ from the loaded codes: not confirmed"
    total = int(held_sum(np.array([[int(a) for a in act]], dtype=object), [int(c) for c in wcodes], L.bias[neuron],
                         k, side, order)[0])
    return (f"QONNX execution ({node.name} input codes and weights read from onnx_exec's context): "
            f"partial sum {held_name(k, side, order, L.n_in)} = {total}")


def held_name(k: int, side: str, order: str, n_in: int) -> str:
    """How a report names the held partial sum (k, side) of an order."""
    if order == "split_sign":
        return "S+" if side == "max" else "S-"
    if order == "bias_last":
        return "P_final (products, then bias)" if k > n_in else f"Q_{k} (first {k} products)"
    return f"P_{k}"


def search_witnesses(analysis: QuantizedAnalysis, samples: int = 2000, seed: int = 0, limit: int = 3) -> QuantizedAnalysis:
    """Concrete inputs for (up to `limit`) overflowing partial sums, each confirmed by QONNX."""
    found = []
    seen_layers = set()
    for ov in analysis.overflows:
        if len(found) >= limit or ov.layer in seen_layers:
            continue
        order = analysis.order(ov.layer)
        x = find_witness(analysis.qnet, analysis.domain, ov, samples, seed, order)
        if x is None:
            continue
        x = _float32_inside(x, analysis.domain)
        p = prefix_sum(analysis.qnet, x, ov.layer, ov.neuron, ov.k, ov.side, order)
        alo, ahi = accumulator_range(ov.width)
        if alo <= p <= ahi:
            continue  # lost by the float32 rounding of the input
        seen_layers.add(ov.layer)
        found.append(Witness(ov, x, p, confirm_with_qonnx(analysis.qnet, x, ov.layer, ov.neuron, ov.k, ov.side, order)))
    return QuantizedAnalysis(**{**analysis.__dict__, "witnesses": tuple(found)})


def reference_bounds(qnet: QuantizedNetwork) -> list[dict]:
    """Per layer: the data-type bound N + M + ceil(log2 K), A2Q's l1-norm bound (per neuron:
    the narrowest P with ||w_j||_1 2^(N - signed) <= 2^(P-1) - 1, bias excluded) and the same
    with the bias included (||w_j||_1 2^(N - signed) + |b_j| <= 2^(P-1) - 1), for comparison
    with the proven widths."""
    out = []
    bits, signed = qnet.input_bits, qnet.input_signed
    for layer in qnet.layers:
        k = layer.n_in
        datatype = bits + layer.weight_bits + ceil(log2(k)) if k > 1 else bits + layer.weight_bits
        a2q, a2q_bias = [], []
        for row, b in zip(layer.weights, layer.bias):
            top = sum(abs(w) for w in row) << (bits - (1 if signed else 0))
            a2q.append(signed_width(-top, top))
            a2q_bias.append(signed_width(-top - abs(b), top + abs(b)))
        out.append({"data_type": datatype, "a2q": tuple(a2q), "a2q_bias": tuple(a2q_bias)})
        last = next((s for s in reversed(layer.steps) if hasattr(s, "bits")), None)
        if last is not None and getattr(last, "bits", 0):
            bits, signed = last.bits, last.signed
    return out


def report_lines(analysis: QuantizedAnalysis) -> list[str]:
    q = analysis.qnet
    widths = analysis.widths
    orders = [analysis.order(l) for l in range(len(q.layers))]
    uniform = len(set(zip(widths, analysis.modes, orders))) == 1
    setting = (f"{_width_text(widths)}, {analysis.modes[0]}; order: {ORDER_TEXT[orders[0]]}" if uniform
               else "per layer (below)")
    lines = [f"network {q.name} (QONNX integer network, {q.reference.architecture}, {len(q.layers)} layers)",
             f"accumulators: {setting}; bounds: {analysis.method}"
             + (f" over {analysis.split} boxes" if analysis.split > 1 else "")]
    refs = reference_bounds(q)
    for l, (layer, lb, ref) in enumerate(zip(q.layers, analysis.bounds, refs), start=1):
        need = max(lb.widths())
        own = "" if uniform else (f" [{'unlimited' if widths[l - 1] is None else f'{widths[l - 1]} bits'}, "
                                  f"{analysis.modes[l - 1]}, {orders[l - 1]}]")
        lines.append(f"layer {l} ({layer.node}, {layer.n_in}->{layer.n_out}){own}: partial sums in "
                     f"[{min(lb.prefix_lo)}, {max(lb.prefix_hi)}] -> {need}-bit accumulator needed "
                     f"(data-type bound {ref['data_type']}, A2Q l1 bound {max(ref['a2q'])})"
                     + ("" if widths[l - 1] is None else f"; {widths[l - 1]} bits: " +
                        ("overflow-free" if need <= widths[l - 1] else "MAY OVERFLOW")))
    for i, (e, b) in enumerate(zip(analysis.errors, analysis.max_error)):
        verdict = "" if b is None else (f" <= {_num(b)}: ok" if e <= b else f" > required {_num(b)}: NOT PROVED")
        if not analysis.errors_hold:
            verdict = " only if no accumulator overflows (not proved)"
        lines.append(f"output {i}: |quantized - float reference| <= {_num(e)}{verdict}")
    for ov in analysis.overflows[:10]:
        lines.append(f"  overflow possible: layer {ov.layer + 1} neuron {ov.neuron}: partial sum "
                     f"{held_name(ov.k, ov.side, orders[ov.layer], q.layers[ov.layer].n_in)} "
                     f"{'reaches' if ov.side == 'max' else 'falls to'} {ov.bound} (a {ov.width}-bit accumulator holds "
                     f"{accumulator_range(ov.width)[0]}..{accumulator_range(ov.width)[1]})")
    if len(analysis.overflows) > 10:
        lines.append(f"  ... and {len(analysis.overflows) - 10} more")
    for w in analysis.witnesses:
        ov = w.overflow
        lines.append(f"WITNESS: x = [{', '.join(repr(float(v)) for v in w.x)}]: layer {ov.layer + 1} neuron {ov.neuron} "
                     f"partial sum {held_name(ov.k, ov.side, orders[ov.layer], q.layers[ov.layer].n_in)} = {w.simulated} "
                     f"overflows the {ov.width}-bit accumulator")
        lines.append("  " + (w.confirmed or "not confirmed by QONNX execution (qonnx is not installed)"))
    if analysis.proved:
        lines.append("PROVED: " + ("every partial sum of every accumulator fits" if any(v is not None for v in widths)
                                   else "bounds computed (no accumulator width given)")
                     + ("" if all(b is None for b in analysis.max_error) else "; every error bound holds"))
    elif analysis.witnesses:
        lines.append(f"VIOLATED: {len(analysis.witnesses)} overflow witness(es)")
    else:
        lines.append("NOT PROVED" + ("" if not analysis.overflows else ": no overflow witness found (the bounds may be loose)"))
    return lines


def _width_text(widths) -> str:
    vals = set(widths)
    if vals == {None}:
        return "unlimited width"
    return ", ".join(f"{w}" if w is not None else "-" for w in widths) + " bits" if len(vals) > 1 else f"{widths[0]} bits"


def _num(v: Fraction) -> str:
    return f"{float(v):.6g}"
