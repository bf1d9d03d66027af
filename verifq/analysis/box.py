"""The analysis of a design on one input box: ranges of the real network,
roundoff errors of the design, and every overflow and error check, as exact
scaled integers in one `Analysis` record (results.py)."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np

from ..errors import UserError
from ..fixedpoint.design import Design
from ..fixedpoint.quantize import quantize_network
from ..network.ir import Network
from ..numeric import scaled
from ..problem import Problem
from .first_order import propagate_errors
from .intervals import input_box_scaled
from .methods import DEFAULT_ERROR_METHOD, DEFAULT_RANGE_METHOD, ErrorMethod, RangeMethod
from .ranges import compute_ranges
from .results import Analysis, Check, LayerAnalysis, constant_checks, error_checks, limit_checks, range_checks
from .roundoff import input_errors, layer_errors


def network_input_box(problem: Problem) -> tuple[tuple[Fraction, Fraction], ...]:
    """The domain in the network's layer-input units (after NNet normalization)."""
    norm = problem.network.normalization
    if norm is None:
        return problem.domain
    lo = norm.apply(tuple(lo for lo, _ in problem.domain))
    hi = norm.apply(tuple(hi for _, hi in problem.domain))
    return tuple(zip(lo, hi))  # normalization is monotone increasing (range > 0)


def float_input_box(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """The input box as float64 bounds that lie inside the exact box (an endpoint that is no double
    is moved inward), for sampling inputs of the domain."""
    box = network_input_box(problem)
    lo = np.array([float(a) for a, _ in box])
    hi = np.array([float(b) for _, b in box])
    for i, (a, b) in enumerate(box):
        if Fraction(lo[i]) < a:
            lo[i] = np.nextafter(lo[i], np.inf)
        if Fraction(hi[i]) > b:
            hi[i] = np.nextafter(hi[i], -np.inf)
    return lo, np.maximum(lo, hi)


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


def analyse_box(problem: Problem, design: Design, *, exact_net=None, range_method: RangeMethod | str = DEFAULT_RANGE_METHOD,
                error_method: ErrorMethod | str = DEFAULT_ERROR_METHOD, range_result=None,
                alpha_iters: int | None = None, diff_iters: int | None = None) -> Analysis:
    """Analyse `design` for `problem`; never raises for a failing design (see violations).

    range_method: "symbolic" (default: DeepPoly back-substitution intersected
    with intervals), "interval", or "milp" (small ReLU networks; see
    `ranges.compute_ranges`). error_method: "differential" (default;
    differential.py: symbolic bounds on the difference, intersected with
    first_order; re-derived by the checker with symbolic ranges),
    "first_order" (backward interval sensitivities, intersected with the l1
    rule) or "l1_local" (the simple per-neuron rule alone). range_result: ranges
    already computed for this problem's network and box (skips the range
    analysis; they are cached per network anyway). alpha_iters: steps choosing
    the lower ReLU slopes of the symbolic ranges and (unless diff_iters is
    given) of the differential rule (0: DeepPoly's 0|1 lines).
    """
    error_method = ErrorMethod(error_method)
    network: Network = problem.network
    qnet = quantize_network(network, design)
    box = representable_box(network_input_box(problem), design)
    x_lo, x_hi = input_box_scaled(box)
    if range_result is None:
        range_result = compute_ranges(network, box, range_method, exact_net=exact_net, x_lo=x_lo, x_hi=x_hi,
                                      alpha_iters=alpha_iters)
    ranges = list(range_result.layers)
    inputs = input_errors(qnet, x_lo, x_hi, box)
    error_result = None
    diff_layers = None
    if error_method in (ErrorMethod.FIRST_ORDER, ErrorMethod.DIFFERENTIAL):
        error_result = propagate_errors(qnet, ranges, x_lo, x_hi, inputs)
    if error_method is ErrorMethod.DIFFERENTIAL:
        from .differential import propagate_differential

        dr = propagate_differential(qnet, network, ranges, range_result.relax, x_lo, x_hi, error_result,
                                    error_result.layers, alpha_iters=alpha_iters if diff_iters is None else diff_iters)
        diff_layers = dr.layers
        error_result = replace(error_result, layers=list(diff_layers), hints=dr.hints)
    violations: list[Check] = limit_checks(problem, design)
    violations += range_checks(0, "input", inputs.q_lo, inputs.q_hi, design.inputs)
    violations += constant_checks(qnet)
    e_in, xq_lo, xq_hi = inputs.err, inputs.q_lo, inputs.q_hi
    r_lo, r_hi = x_lo, x_hi
    analysed = []
    for pos, (ql, rng) in enumerate(zip(qnet.layers, ranges)):
        if diff_layers is not None:
            le = diff_layers[pos]
        elif error_result is not None:
            le = error_result.layers[pos]
        else:
            le = layer_errors(
                ql, qnet.frac_bits_into(pos), rng, r_lo, r_hi, e_in, xq_lo, xq_hi, design.rounding, design.overflow
            )
        violations += range_checks(ql.index, "accum", le.acc_lo, le.acc_hi, ql.formats.accum)
        violations += range_checks(ql.index, "output", le.out_lo, le.out_hi, ql.formats.output)
        analysed.append(LayerAnalysis(ql.index, rng, le))
        e_in, xq_lo, xq_hi = le.err_out, le.out_lo, le.out_hi
        r_lo, r_hi = rng.post_lo, rng.post_hi
    last = analysed[-1]
    out_errs = tuple(scaled.to_fraction(e) for e in last.errors.err_out)
    violations += error_checks(last.index, problem.max_error, out_errs)
    return Analysis(problem, design, qnet, box, x_lo, x_hi, inputs, tuple(analysed), tuple(violations), out_errs,
                    range_result.method, error_method, range_result, error_result)
