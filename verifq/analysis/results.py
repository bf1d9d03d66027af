"""The records `prove` produces: one `Check` per failed claim, the per-layer
numbers, the whole `Analysis`; and the checks that turn ranges into `Check`s
(shared by the single-box analysis and input splitting)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..fixedpoint.design import Design
from ..fixedpoint.quantize import QuantizedNetwork
from ..numeric import scaled
from ..numeric.rational import show
from ..problem import Problem
from .intervals import LayerRanges
from .methods import DEFAULT_ERROR_METHOD, DEFAULT_RANGE_METHOD, ErrorMethod, RangeMethod
from .roundoff import InputErrors, LayerErrors


@dataclass(frozen=True)
class Check:
    """One failed or tight claim: where, what, and by how much (exact)."""

    layer: int  # 0 = inputs, 1.. = dense layers
    neuron: int
    kind: str  # "overflow" | "error" | "constant overflow" | "limit" (a format the implementation forbids)
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
        if self.kind == "limit":
            return f"{what}: {self.role} format {self.detail}"
        if self.kind == "error":
            return (
                f"{what}: error bound {show(self.value_hi)} exceeds the required "
                f"{show(self.limit_hi)} by {show(self.excess, 3)}"
            )
        return (
            f"{what}: {self.role} range [{show(self.value_lo)}, {show(self.value_hi)}] "
            f"does not fit {self.detail} [{show(self.limit_lo)}, {show(self.limit_hi)}] "
            f"(exceeds by {show(self.excess, 3)})"
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
    # how the numbers were derived (methods.py)
    range_method: RangeMethod = DEFAULT_RANGE_METHOD
    error_method: ErrorMethod = DEFAULT_ERROR_METHOD
    range_result: object = None  # symbolic.RangeResult: ranges + per-neuron range hints
    error_result: object = None  # first_order.ErrorResult (first_order only): signed intervals, S, hints
    # input splitting (split.py): the leaf analyses (each leaf's problem.domain is its box); the
    # claims above are then their hull / maximum, and each leaf carries its own hints
    leaves: tuple = ()
    # input splitting: {"branching", "max_leaves", "analyses" (box analyses run), "stopped_by" (leaves | proved |
    # exact | unsplittable | time), "tree" (split._tree_nodes), "root" (the whole box's own analysis)}
    split_info: dict | None = None

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

    def rounded_preactivation_range(self, layer: int, neuron: int) -> tuple[Fraction, Fraction]:
        """Every value the rounded pre-activation of a neuron (layer 1-based) can take, exactly:
        the real range widened by its certified error."""
        la = self.layers[layer - 1]
        e = la.errors.err_pre[neuron]
        return scaled.to_fraction(la.ranges.pre_lo[neuron] - e), scaled.to_fraction(la.ranges.pre_hi[neuron] + e)


def range_checks(layer: int, role: str, lo, hi, fmts, kind="overflow") -> list[Check]:
    out = []
    for j, (l, h, f) in enumerate(zip(lo, hi, fmts)):
        if l < scaled.up(f.min_value) or h > scaled.down(f.max_value):
            out.append(
                Check(layer, j, kind, role, scaled.to_fraction(l), scaled.to_fraction(h), f.min_value, f.max_value, str(f))
            )
    return out


def constant_checks(qnet: QuantizedNetwork) -> list[Check]:
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


def limit_checks(problem: Problem, design: Design) -> list[Check]:
    """Formats the spec's implementation limits forbid (max word, max accumulator, widths)."""
    out = []
    for layer, neuron, role, why in problem.implementation.limit_violations(design):
        f = design.inputs[neuron] if layer == 0 else getattr(design.layers[layer - 1], role)[neuron]
        out.append(Check(layer, neuron, "limit", role, Fraction(f.width), Fraction(f.width), Fraction(0), Fraction(0), why))
    return out


def error_checks(layer: int, max_error, output_errors) -> list[Check]:
    """The outputs whose certified error exceeds its required bound."""
    return [Check(layer, j, "error", "output", -err, err, -bound, bound)
            for j, (bound, err) in enumerate(zip(max_error, output_errors)) if bound is not None and err > bound]
