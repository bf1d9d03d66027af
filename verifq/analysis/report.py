"""What `prove` reports: the per-layer summary rows every front end prints
(the text table, --json, the review report), the verdict with its failed
checks, the counterexample and the exact-error bracket, as text lines and as
one JSON document (synth's counterpart: verifq/synthesis/report.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction

from ..numeric import scaled
from ..numeric.rational import show
from .results import Analysis
from .search import describe_overflow_site


@dataclass(frozen=True)
class LayerSummary:
    layer: str  # "in" or 1-based index
    neurons: int
    activation: str
    weight: str
    bias: str
    accum: str
    output: str
    range_lo: float  # real pre-activation range over the layer (inputs: the box)
    range_hi: float
    max_error: float  # worst certified error bound of the layer's outputs
    overflow_margin: float  # smallest distance of a value range to its format limits (<0: overflow)


def _margin(lo, hi, fmts) -> float:
    return min(
        min(scaled.to_float(l) - float(f.min_value), float(f.max_value) - scaled.to_float(h))
        for l, h, f in zip(lo, hi, fmts)
    )


def layer_summaries(a: Analysis) -> list[LayerSummary]:
    d = a.design
    distinct = sorted(set(d.inputs))
    in_fmt = str(distinct[0]) if len(distinct) == 1 else f"mixed ({len(distinct)} formats)"
    rows = [
        LayerSummary(
            "in", len(d.inputs), "-", "-", "-", "-", in_fmt,
            min(scaled.to_float(v) for v in a.input_lo), max(scaled.to_float(v) for v in a.input_hi),
            max(scaled.to_float(v) for v in a.inputs.err),
            _margin(a.inputs.q_lo, a.inputs.q_hi, d.inputs),
        )
    ]
    for la, ql in zip(a.layers, a.qnet.layers):
        desc = d.describe_layer(la.index - 1)
        e = la.errors
        rows.append(
            LayerSummary(
                str(la.index), ql.n_out, ql.activation.value, desc["weight"], desc["bias"], desc["accum"], desc["output"],
                min(scaled.to_float(v) for v in la.ranges.pre_lo), max(scaled.to_float(v) for v in la.ranges.pre_hi),
                max(scaled.to_float(v) for v in e.err_out),
                min(_margin(e.acc_lo, e.acc_hi, ql.formats.accum), _margin(e.out_lo, e.out_hi, ql.formats.output)),
            )
        )
    return rows


def format_table(rows: list[LayerSummary]) -> str:
    head = ["layer", "n", "act", "weight", "bias", "accum", "output", "real range", "error bound", "ovf margin"]
    body = [
        [r.layer, str(r.neurons), r.activation, r.weight, r.bias, r.accum, r.output,
         f"[{r.range_lo:.4g}, {r.range_hi:.4g}]", f"{r.max_error:.3e}", f"{r.overflow_margin:.4g}"]
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(b) for b in body])


def summaries_as_dicts(rows: list[LayerSummary]) -> list[dict]:
    return [asdict(r) for r in rows]


# ----------------------------------------------------------------------------- the whole prove report
def _fmt_bound(b: Fraction | None) -> str:
    return "none" if b is None else show(b)


def describe_problem(problem, design) -> list[str]:
    net = problem.network
    bounds = sorted({b for b in problem.max_error if b is not None})
    req = " / ".join(_fmt_bound(b) for b in bounds)
    inputs = "fixed-point" if design.inputs_fixed else "real, rounded at the input"
    return [
        f"network   {net.name}: {net.architecture}, {net.parameter_count} parameters ({net.source})",
        f"require   |error| <= {req} on {sum(b is not None for b in problem.max_error)} of {net.n_outputs} outputs; no overflow",
        f"arith     rounding {design.rounding.value}, overflow {design.overflow.value}, inputs {inputs}",
    ]


def checker_rederivable(a: Analysis) -> bool:
    """Whether the checker has the rules for a differential analysis: symbolic ranges (a split records
    its bisection tree and is re-derived box by box)."""
    return a.range_method == "symbolic" and (not a.leaves or a.split_info is not None)


def split_text(a: Analysis) -> list[str]:
    """The line describing an input splitting: boxes, budget, work, why it stopped, the worst box."""
    info = a.split_info
    if not a.leaves or info is None:
        return []
    why = {"leaves": "budget reached", "proved": "every box proved", "exact": "every bound is 0",
           "unsplittable": "the worst box cannot be bisected", "time": "wall-clock cap (benchmarks only)"}
    k = max(range(len(a.leaves)), key=lambda i: max(a.leaves[i].output_errors))
    box = ", ".join(f"[{show(lo)}, {show(hi)}]" for lo, hi in a.leaves[k].problem.domain[:6])
    return [f"split     {len(a.leaves)} boxes (budget {info['max_leaves']}), {info['analyses']} box analyses, branching "
            f"{info['branching']}, stopped: {why.get(info['stopped_by'], info['stopped_by'])}",
            f"          worst box {k}: error bound {show(max(a.leaves[k].output_errors))} on "
            f"{box}{', ...' if len(a.leaves[k].problem.domain) > 6 else ''}"]


def failed_check_lines(a, limit: int, bullet: str = "  ", more: str = "") -> list[str]:
    """The first `limit` failed checks of an analysis, one per line, and how many more there are."""
    v = a.violations
    return [f"{bullet}{c.describe()}" for c in v[:limit]] + ([f"  ... and {len(v) - limit} more{more}"] if len(v) > limit else [])


def prove_text(a: Analysis, cex=None, searched: bool = True, exact=None) -> list[str]:
    """The human-readable report of `verifq prove` (cex: a search.Counterexample or None;
    searched: whether a counterexample was looked for; exact: an exact_error result or None)."""
    lines = describe_problem(a.problem, a.design) + ["", format_table(layer_summaries(a)), ""]
    if a.proved:
        margins = [m for m in a.output_margin() if m is not None]
        margin = f" (smallest margin {show(min(margins), 3)})" if margins else ""
        lines.append(f"PROVED: every output's roundoff error <= {show(max(a.output_errors))}{margin}; no value overflows")
    else:
        v = a.violations
        lines.append(f"VIOLATED: {len(v)} check{'s' if len(v) != 1 else ''} fail{'s' if len(v) == 1 else ''}")
        lines += failed_check_lines(a, 10, "  - ", " (see --json)")
        if not errors_hold(a):
            lines.append("  (the error bounds above assume that no value overflows: they are not proved)")
        if cex is not None:
            values = ", ".join(f"{x:.10g}" for x in cex.input_raw[:8])
            if len(cex.input_raw) > 8:
                values += f", ... ({len(cex.input_raw)} values; all in --json)"
            head = f"counterexample (real, confirmed by the bit-exact simulator): input [{values}]"
            if cex.kind == "overflow":
                lines.append(f"{head} overflows at {describe_overflow_site(cex.overflow_site)}")
            else:
                lines.append(f"{head} gives error {show(cex.observed_error)} > {show(cex.bound)} on output {cex.output}")
        elif searched:
            lines.append("no concrete counterexample found: this is a failed proof, not (yet) a demonstrated failure")
    lines += split_text(a)
    if a.error_method == "differential":
        if checker_rederivable(a):
            lines.append("errors    differential rule (symbolic bounds on the difference, intersected with first_order); "
                         "the independent checker re-derives it (rule differential)")
        else:
            lines.append("errors    differential rule (symbolic bounds on the difference, intersected with first_order); "
                         f"NOT re-derivable by the checker with {a.range_method} ranges"
                         + (" and input splitting" if a.leaves else "")
                         + ": a certificate records first_order or interval/l1 claims when they also prove")
    if exact is not None:
        lines += exact_error_text(a, *exact)
    return lines


def exact_error_text(a: Analysis, result, reason: str | None) -> list[str]:
    """Z3's bracket of the true worst-case error per output (result None: `reason` says why)."""
    if result is None:
        return [f"exact     not measured: {reason}"]
    lines = ["exact     true worst-case |error| by Z3 (the reached value replayed by the bit-exact simulator):"]
    for o, cert in zip(result.outputs, a.output_errors):
        where = ", ".join(f"{float(v):.10g}" for v in o.witness[:8]) + (", ..." if len(o.witness) > 8 else "")
        span = f"= {float(o.lower):.6g}" if o.exact else f"in [{float(o.lower):.6g}, {float(o.upper):.6g}]"
        ratio = f"certified / true {'=' if o.exact else '<='} {float(cert / o.lower):.3g}" if o.lower > 0 else ""
        lines.append(f"          out{o.output}  {span}  (reached at [{where}]); certified {float(cert):.6g}; {ratio}")
    return lines


def errors_hold(a: Analysis) -> bool:
    """The error rules model values that fit their formats: with a possible overflow the bounds
    are conditional (a wrapped or saturated value is off by far more)."""
    return not any(c.kind in ("overflow", "constant overflow") for c in a.violations)


def prove_json(spec: str, a: Analysis, cex=None, exact=None) -> dict:
    """The --json document of `verifq prove` (exact values as strings, floats for plotting)."""
    problem = a.problem
    doc = {
        "spec": spec,
        "network": problem.network.name,
        "verdict": "PROVED" if a.proved else "VIOLATED",
        "error_method": str(a.error_method),
        "checker_rederivable_errors": a.error_method != "differential" or checker_rederivable(a),
        "errors_hold": errors_hold(a),  # false: the certified errors assume that no value overflows
        "layers": summaries_as_dicts(layer_summaries(a)),
        "outputs": [
            {"output": j, "certified_error": str(e), "certified_error_float": float(e), "required": None if b is None else str(b)}
            for j, (e, b) in enumerate(zip(a.output_errors, problem.max_error))
        ],
        "violations": [
            {"layer": c.layer, "neuron": c.neuron, "kind": c.kind, "role": c.role, "value": [str(c.value_lo), str(c.value_hi)],
             "limit": [str(c.limit_lo), str(c.limit_hi)], "excess": str(c.excess), "description": c.describe()}
            for c in a.violations
        ],
        "counterexample": None if cex is None else {
            "kind": cex.kind, "input": list(cex.input_raw), "input_network_units": list(cex.input_network_units),
            "output": cex.output, "observed_error": None if cex.observed_error is None else str(cex.observed_error),
            "overflow_site": None if cex.overflow_site is None else list(cex.overflow_site), "confirmed": cex.confirmed,
        },
    }
    if a.leaves and a.split_info is not None:
        info = a.split_info
        k = max(range(len(a.leaves)), key=lambda i: max(a.leaves[i].output_errors))
        doc["split"] = {"boxes": len(a.leaves), "budget": info["max_leaves"], "box_analyses": info["analyses"],
                        "branching": info["branching"], "stopped_by": info["stopped_by"],
                        "worst_box": {"index": k, "domain": [[str(lo), str(hi)] for lo, hi in a.leaves[k].problem.domain],
                                      "output_errors": [str(e) for e in a.leaves[k].output_errors]}}
    if exact is not None:
        result, _ = exact
        doc["exact_error"] = None if result is None else [
            {"output": o.output, "lower": str(o.lower), "upper": str(o.upper), "exact": o.exact,
             "witness_network_units": [str(v) for v in o.witness], "certified": str(cert)}
            for o, cert in zip(result.outputs, a.output_errors)
        ]
    return doc
