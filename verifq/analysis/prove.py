"""`prove`: decide whether a design meets the spec's requirements.

Runs the range analysis of the real network, the error analysis of the
design, and checks every stored value for overflow (on the real ranges
widened by the error bounds) and every output against its error bound. The
result is a typed record with every per-neuron number (exact scaled ints)
so the certificate, the report and the CLI all print the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..fixedpoint.design import Design
from ..fixedpoint.format import FixedFormat
from ..fixedpoint.quantize import QuantizedNetwork, quantize_network
from ..errors import UserError
from ..network.ir import Network
from ..problem import Problem
from ..numeric import scaled
from .roundoff import InputErrors, LayerErrors, input_errors, layer_errors
from .ranges import LayerRanges, exact_layers, input_box_scaled, interval_ranges


@dataclass(frozen=True)
class Check:
    """One failed or tight claim: where, what, and by how much (exact)."""

    layer: int  # 0 = inputs, 1.. = dense layers
    neuron: int
    kind: str  # "overflow" | "error" | "constant overflow"
    role: str  # input | weight | bias | accum | output
    value_lo: Fraction
    value_hi: Fraction
    limit_lo: Fraction
    limit_hi: Fraction
    detail: str = ""

    @property
    def excess(self) -> Fraction:
        """How far the value range leaves the allowed range (> 0 means violated)."""
        return max(self.limit_lo - self.value_lo, self.value_hi - self.limit_hi)

    def describe(self) -> str:
        where = "input" if self.layer == 0 else f"layer {self.layer}"
        what = f"{where}, neuron {self.neuron}" if self.layer else f"input {self.neuron}"
        if self.kind == "error":
            return (
                f"{what}: error bound {float(self.value_hi):.6g} exceeds the required "
                f"{float(self.limit_hi):.6g} by {float(self.excess):.3g}"
            )
        return (
            f"{what}: {self.role} range [{float(self.value_lo):.6g}, {float(self.value_hi):.6g}] "
            f"does not fit {self.detail} [{float(self.limit_lo):.6g}, {float(self.limit_hi):.6g}] "
            f"(exceeds by {float(self.excess):.3g})"
        )


@dataclass(frozen=True, eq=False)
class LayerAnalysis:
    index: int
    ranges: LayerRanges
    errors: LayerErrors


@dataclass(frozen=True, eq=False)
class Analysis:
    """Everything `prove` derived for one design, exact (scaled ints, 2^-PRECISION)."""

    problem: Problem
    design: Design
    qnet: QuantizedNetwork
    box: tuple  # the analysed input box (network-input units; grid points only for fixed inputs)
    input_lo: np.ndarray  # real input box (network-input units)
    input_hi: np.ndarray
    inputs: InputErrors
    layers: tuple[LayerAnalysis, ...]
    violations: tuple[Check, ...]
    output_errors: tuple[Fraction, ...]  # certified bound per output
    # how the numbers were derived (defaults: the original interval / l1 rules)
    range_method: str = "interval"  # "interval" | "symbolic" | "milp" (see symbolic.compute_ranges)
    error_method: str = "l1_local"  # "l1_local" | "first_order" (see first_order.py)
    range_result: object = None  # symbolic.RangeResult: ranges + per-neuron range hints
    error_result: object = None  # first_order.ErrorResult (first_order only): signed intervals, S, hints
    # input splitting (split.py): the leaf analyses (each leaf's problem.domain is its box); the
    # claims above are then their hull / maximum, and each leaf carries its own hints
    leaves: tuple = ()

    @property
    def hints(self) -> dict:
        """JSON-able rule names and hints a checker needs to re-derive every claim without search."""
        out = {"range_method": self.range_method, "error_method": self.error_method}
        if self.leaves:
            out["split"] = [
                {"domain": [[str(lo), str(hi)] for lo, hi in leaf.problem.domain], "hints": leaf.hints}
                for leaf in self.leaves
            ]
            return out
        if self.range_result is not None:
            out["ranges"] = self.range_result.hints_json()
        if self.error_result is not None:
            out["errors"] = [h.to_json() for h in self.error_result.hints]
        return out

    @property
    def proved(self) -> bool:
        return not self.violations

    def output_margin(self) -> list[Fraction | None]:
        return [None if b is None else b - e for b, e in zip(self.problem.max_error, self.output_errors)]


def network_input_box(problem: Problem) -> tuple[tuple[Fraction, Fraction], ...]:
    """The domain in the network's layer-input units (after NNet normalization)."""
    norm = problem.network.normalization
    if norm is None:
        return problem.domain
    lo = norm.apply(tuple(lo for lo, _ in problem.domain))
    hi = norm.apply(tuple(hi for _, hi in problem.domain))
    return tuple(zip(lo, hi))  # normalization is monotone increasing (range > 0)


def representable_box(box, design: Design):
    """For fixed-point inputs: the box shrunk to the grid points it contains.

    The inputs can only be representable values, so analysing the shrunk box
    is exact and tighter. An interval with no representable value is a
    user error (the domain cannot occur).
    """
    if not design.inputs_fixed:
        return box
    out = []
    for i, ((lo, hi), fmt) in enumerate(zip(box, design.inputs)):
        k_lo, k_hi = fmt.grid_range(lo, hi)
        if k_lo > k_hi:
            raise UserError(
                f"input {i}: the interval [{lo}, {hi}] contains no value representable in {fmt}",
                hint="widen the interval, give the input format more fractional bits, or use `inputs = real`",
            )
        out.append((k_lo * fmt.ulp, k_hi * fmt.ulp))
    return tuple(out)


def _fmt_limits(fmt: FixedFormat) -> tuple[int, int]:
    return scaled.down(fmt.min_value), scaled.up(fmt.max_value)


def _range_checks(layer: int, role: str, lo, hi, fmts, kind="overflow") -> list[Check]:
    out = []
    for j, (l, h, f) in enumerate(zip(lo, hi, fmts)):
        if l < scaled.up(f.min_value) or h > scaled.down(f.max_value):
            out.append(
                Check(layer, j, kind, role, scaled.to_fraction(l), scaled.to_fraction(h), f.min_value, f.max_value, str(f))
            )
    return out


def _constant_checks(qnet: QuantizedNetwork) -> list[Check]:
    out = []
    for ql in qnet.layers:
        for j in range(ql.n_out):
            wf, bf = ql.formats.weight[j], ql.formats.bias[j]
            row = ql.weight_mant[j]
            lo, hi = int(row.min()), int(row.max())
            if lo < wf.min_int or hi > wf.max_int:
                out.append(Check(ql.index, j, "constant overflow", "weight", lo * wf.ulp, hi * wf.ulp, wf.min_value, wf.max_value, str(wf)))
            b = int(ql.bias_mant[j])
            if not bf.min_int <= b <= bf.max_int:
                out.append(Check(ql.index, j, "constant overflow", "bias", b * bf.ulp, b * bf.ulp, bf.min_value, bf.max_value, str(bf)))
    return out


ERROR_METHODS = ("l1_local", "first_order")


def analyse(problem: Problem, design: Design, *, exact_net=None, range_method: str = "symbolic",
            error_method: str = "first_order", range_result=None, split: int = 1) -> Analysis:
    """Analyse `design` for `problem`; never raises for a failing design (see violations).

    range_method: "symbolic" (default: DeepPoly back-substitution intersected
    with intervals), "interval", or "milp" (small ReLU networks; see
    `symbolic.compute_ranges`). error_method: "first_order" (default:
    backward interval sensitivities, intersected with the l1 rule) or
    "l1_local" (the simple per-neuron rule alone). range_result: ranges
    already computed for this problem's network and box (skips the range
    analysis; they are cached per network anyway). split: > 1 analyses the
    design on an adaptive partition of the domain into at most that many
    boxes (`split.analyse_split`; tighter, proportionally slower).
    """
    from .first_order import propagate_errors
    from .symbolic import compute_ranges

    if split > 1:
        from .split import analyse_split

        return analyse_split(problem, design, split, range_method=range_method, error_method=error_method)
    if error_method not in ERROR_METHODS:
        raise ValueError(f"error method must be one of {ERROR_METHODS}, not {error_method!r}")
    network: Network = problem.network
    qnet = quantize_network(network, design)
    box = representable_box(network_input_box(problem), design)
    x_lo, x_hi = input_box_scaled(box)
    if range_result is None:
        range_result = compute_ranges(network, box, range_method, exact_net=exact_net, x_lo=x_lo, x_hi=x_hi)
    ranges = list(range_result.layers)
    inputs = input_errors(qnet, x_lo, x_hi, box)
    error_result = None
    if error_method == "first_order":
        error_result = propagate_errors(qnet, ranges, x_lo, x_hi, inputs)
    violations: list[Check] = []
    violations += _range_checks(0, "input", inputs.q_lo, inputs.q_hi, design.inputs)
    violations += _constant_checks(qnet)
    e_in, xq_lo, xq_hi = inputs.err, inputs.q_lo, inputs.q_hi
    r_lo, r_hi = x_lo, x_hi
    analysed = []
    for pos, (ql, rng) in enumerate(zip(qnet.layers, ranges)):
        if error_result is not None:
            le = error_result.layers[pos]
        else:
            le = layer_errors(
                ql, qnet.frac_bits_into(pos), rng, r_lo, r_hi, e_in, xq_lo, xq_hi, design.rounding, design.overflow
            )
        violations += _range_checks(ql.index, "accum", le.acc_lo, le.acc_hi, ql.formats.accum)
        violations += _range_checks(ql.index, "output", le.out_lo, le.out_hi, ql.formats.output)
        analysed.append(LayerAnalysis(ql.index, rng, le))
        e_in, xq_lo, xq_hi = le.err_out, le.out_lo, le.out_hi
        r_lo, r_hi = rng.post_lo, rng.post_hi
    last = analysed[-1]
    out_errs = tuple(scaled.to_fraction(e) for e in last.errors.err_out)
    for j, (bound, err) in enumerate(zip(problem.max_error, out_errs)):
        if bound is not None and err > bound:
            violations.append(Check(last.index, j, "error", "output", -err, err, -bound, bound))
    return Analysis(problem, design, qnet, box, x_lo, x_hi, inputs, tuple(analysed), tuple(violations), out_errs,
                    range_result.method, error_method, range_result, error_result)
