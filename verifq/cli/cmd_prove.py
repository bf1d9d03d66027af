"""`verifq prove SPEC`: prove the spec's formats (or a formats file) meet its
requirements, or say precisely where and why not, with a concrete input when
one can be found. Exit 0 proved, 1 violated, 2 bad input."""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

from ..atomic import write_text_atomic
from ..errors import EXIT_PROVED, EXIT_VIOLATED, UserError
from ..fixedpoint.format import parse_format


def register(sub) -> None:
    p = sub.add_parser(
        "prove",
        help="prove roundoff-error and overflow guarantees of given fixed-point formats",
        description="Analyse the fixed-point formats given in SPEC (or --formats FILE) soundly: "
        "every value's range, every neuron's roundoff-error bound, every overflow. "
        "On failure, name the layer/neuron/output and search for a concrete counterexample.",
    )
    p.add_argument("spec", help="the .nnspec file")
    p.add_argument("--formats", metavar="FILE", help="formats file written by `verifq synth -o` (overrides the spec's formats)")
    p.add_argument("--uniform", metavar="FORMAT", help="prove one format for every value instead of the spec's, e.g. 'fixed<16,6>' (hls4ml's default)")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON ('-' for stdout)")
    p.add_argument("--cert", metavar="FILE", help="write a certificate when the proof succeeds")
    p.add_argument("--samples", type=int, default=4000, help="random inputs tried when looking for a counterexample (default 4000)")
    p.add_argument("--no-search", action="store_true", help="do not look for a counterexample when the proof fails")
    p.add_argument("--seed", type=int, default=0, help="seed of the counterexample search (default 0: deterministic)")
    p.add_argument("--ranges", choices=["symbolic", "interval", "milp"], default="symbolic",
                   help="range analysis: symbolic (default: DeepPoly back-substitution intersected with intervals), "
                        "interval, or milp (exact per-neuron ranges by a verified MILP; small ReLU networks)")
    p.add_argument("--errors", choices=["first_order", "l1_local"], default="first_order",
                   help="error analysis: first_order (default: backward sensitivities) or l1_local (per-neuron l1 rule)")
    p.add_argument("--split", type=int, default=1, metavar="N",
                   help="analyse on an adaptive partition of the domain into at most N boxes (tighter, slower; "
                        "the checker re-derives such claims only if the unsplit analysis also proves, see the note)")
    p.add_argument("--exact-error", type=float, metavar="SECONDS",
                   help="also measure the true worst-case error with Z3 within SECONDS (small ReLU/linear networks whose "
                        "design cannot overflow): an interval [reached, impossible above] per output, the reached value "
                        "replayed by the bit-exact simulator; a measurement of tightness, not part of the proof")
    p.set_defaults(func=run)


def load_problem_and_design(spec: str, formats: str | None, uniform: str | None = None):
    from ..language import load_spec

    problem = load_spec(Path(spec))
    design = problem.design
    if uniform:
        design = problem.implementation.uniform_design(problem.network, parse_format(uniform))
    elif formats:
        from ..fixedpoint.design_io import load_design

        design = load_design(Path(formats), problem.network)
    if design is None:
        raise UserError(
            "the spec gives no formats to prove",
            hint="add a `formats { default = fixed<16,6> }` block, pass --formats FILE, or run `verifq synth` to choose them",
        )
    return problem, design


def _fmt_bound(b: Fraction | None) -> str:
    return "none" if b is None else f"{float(b):.6g}"


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


def run(args) -> int:
    from ..analysis.prove import analyse
    from ..analysis.search import describe_overflow_site, find_counterexample
    from ..analysis.summary import format_table, layer_summaries, summaries_as_dicts

    problem, design = load_problem_and_design(args.spec, args.formats, args.uniform)
    if args.split < 1:
        raise UserError("--split needs a number of boxes >= 1", hint="e.g. --split 64")
    analysis = analyse(problem, design, range_method=args.ranges, error_method=args.errors, split=args.split)
    lines = describe_problem(problem, design)
    rows = layer_summaries(analysis)
    print("\n".join(lines))
    print()
    print(format_table(rows))
    print()
    result = {
        "spec": args.spec,
        "network": problem.network.name,
        "verdict": "PROVED" if analysis.proved else "VIOLATED",
        "layers": summaries_as_dicts(rows),
        "outputs": [
            {"output": j, "certified_error": str(e), "certified_error_float": float(e), "required": None if b is None else str(b)}
            for j, (e, b) in enumerate(zip(analysis.output_errors, problem.max_error))
        ],
        "violations": [],
        "counterexample": None,
    }
    if analysis.proved:
        margins = [m for m in analysis.output_margin() if m is not None]
        worst = max(analysis.output_errors)
        print(f"PROVED: every output's roundoff error <= {float(worst):.6g} (smallest margin {float(min(margins)):.3g}); no value overflows")
        code = EXIT_PROVED
        if args.cert:
            from ..certificate.writer import write_certificate

            doc = write_certificate(Path(args.cert), analysis)
            print(f"certificate written to {args.cert}")
            if doc["analysis"].get("note"):
                print(f"  note: {doc['analysis']['note']}")
    else:
        v = analysis.violations
        print(f"VIOLATED: {len(v)} check{'s' if len(v) != 1 else ''} fail{'s' if len(v) == 1 else ''}")
        for c in v[:10]:
            print(f"  - {c.describe()}")
        if len(v) > 10:
            print(f"  ... and {len(v) - 10} more (see --json)")
        result["violations"] = [
            {"layer": c.layer, "neuron": c.neuron, "kind": c.kind, "role": c.role, "value": [str(c.value_lo), str(c.value_hi)],
             "limit": [str(c.limit_lo), str(c.limit_hi)], "excess": str(c.excess), "description": c.describe()}
            for c in v
        ]
        cex = None if args.no_search else find_counterexample(analysis, samples=args.samples, seed=args.seed)
        if cex is not None:
            values = ", ".join(f"{x:.10g}" for x in cex.input_raw[:8])
            if len(cex.input_raw) > 8:
                values += f", ... ({len(cex.input_raw)} values; all in --json)"
            if cex.kind == "overflow":
                print(f"counterexample (real, confirmed by the bit-exact simulator): input [{values}] overflows at {describe_overflow_site(cex.overflow_site)}")
            else:
                print(
                    f"counterexample (real, confirmed by the bit-exact simulator): input [{values}] gives error "
                    f"{float(cex.observed_error):.6g} > {float(cex.bound):.6g} on output {cex.output}"
                )
            result["counterexample"] = {
                "kind": cex.kind, "input": list(cex.input_raw), "input_network_units": list(cex.input_network_units),
                "output": cex.output, "observed_error": None if cex.observed_error is None else str(cex.observed_error),
                "overflow_site": None if cex.overflow_site is None else list(cex.overflow_site), "confirmed": cex.confirmed,
            }
        elif not args.no_search:
            print("no concrete counterexample found: this is a failed proof, not (yet) a demonstrated failure")
        code = EXIT_VIOLATED
    if args.exact_error is not None:
        result["exact_error"] = _exact_error(analysis, args.exact_error)
    if args.json:
        text = json.dumps(result, indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            write_text_atomic(args.json, text)
    return code



def _exact_error(analysis, seconds: float):
    """Print (and return for --json) Z3's bracket of the true worst-case error per output."""
    from ..analysis.exact_error import ExactErrorUnavailable, exact_output_errors

    try:
        res = exact_output_errors(analysis, time_limit=seconds)
    except ExactErrorUnavailable as exc:
        print(f"exact     not measured: {exc}")
        return None
    if res is None:
        print(f"exact     not measured: Z3 found no input within {seconds:g} s")
        return None
    print(f"exact     true worst-case |error| by Z3 ({res.seconds:.1f} s; the reached value replayed by the bit-exact simulator):")
    out = []
    for o, cert in zip(res.outputs, analysis.output_errors):
        where = ", ".join(f"{float(v):.10g}" for v in o.witness[:8]) + (", ..." if len(o.witness) > 8 else "")
        span = f"= {float(o.lower):.6g}" if o.exact else f"in [{float(o.lower):.6g}, {float(o.upper):.6g}]"
        ratio = f"certified / true {'=' if o.exact else '<='} {float(cert / o.lower):.3g}" if o.lower > 0 else ""
        print(f"          out{o.output}  {span}  (reached at [{where}]); certified {float(cert):.6g}; {ratio}")
        out.append({"output": o.output, "lower": str(o.lower), "upper": str(o.upper), "exact": o.exact,
                    "witness_network_units": [str(v) for v in o.witness], "certified": str(cert)})
    return out
