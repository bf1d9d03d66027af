"""`verifq synth SPEC`: synthesize minimal fixed-point formats that provably
meet the spec's error bounds without overflow.

stdout is deterministic (the per-layer table, costs, certified bounds);
progress and timings go to stderr. Exit 0 when formats were found and
proved, 1 when the request is infeasible within the word-length limits
(with the smallest bound that can be certified), 2 bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..analysis.batch import check_split
from ..certificate.accumulators import SYNTH_SPLIT_HELP, synth_quantized
from ..outputs import write_json_output
from ..errors import EXIT_PROVED, EXIT_VIOLATED


def register(sub) -> None:
    from ..analysis.methods import DEFAULT_ERROR_METHOD, ErrorMethod
    from ..problem import CostModel, Granularity
    from ..solvers import BACKENDS
    from ..synthesis.synthesize import METHODS

    p = sub.add_parser(
        "synth",
        help="synthesize minimal fixed-point formats that provably meet the spec",
        description="Choose fixed-point formats (per layer or per neuron) minimising a cost model such that the "
        "exact analysis proves every output error bound of SPEC and the absence of overflow. The solver's answer "
        "is always re-analysed exactly and repaired if needed; the printed guarantee is the exact analysis's.",
    )
    p.add_argument("spec", help="the .nnspec file (its formats block, if any, is ignored)")
    p.add_argument("--method", choices=METHODS, default=METHODS[0],
                   help="milp (default): MILP over fractional bits; uniform: the smallest single format; "
                   "aster: Aster's per-layer scheme made sound (baseline)")
    p.add_argument("--granularity", choices=[g.value for g in Granularity],
                   help="one format everywhere, per layer, or per neuron (default: the spec's synthesis block, else layer)")
    p.add_argument("--cost", choices=[c.value for c in CostModel],
                   help="cost to minimise (default: the spec's, else total_bits); all four are reported")
    p.add_argument("--solver", choices=list(BACKENDS),
                   help="MILP solver (default highs; gurobi falls back to highs when its licence is too small)")
    p.add_argument("--node-limit", type=int, metavar="N",
                   help="branch-and-bound nodes per MILP solve (default 5000): a deterministic limit, the same "
                   "answer on any machine; the best solution found is used")
    p.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="time limit per MILP solve, a safety net (default: the spec's, else 600 s); if it stops a "
                   "solve first, the result depends on the machine and the run says so")
    p.add_argument("--gap", type=float, default=0.01, metavar="REL", help="relative optimality gap target (default 0.01)")
    p.add_argument("--exact", action="store_true",
                   help="tight per-neuron ranges by MILP for small ReLU networks (fewer integer bits); "
                   "reports how far interval ranges are from them")
    p.add_argument("--errors", choices=[m.value for m in ErrorMethod], default=DEFAULT_ERROR_METHOD.value,
                   help="error rule of the exact re-analysis that proves (and repairs) every design: "
                        f"{DEFAULT_ERROR_METHOD.value} (default), as `prove --errors`")
    p.add_argument("-o", "--output", metavar="FILE", help="write the formats file (JSON, readable by `prove --formats`)")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON ('-' for stdout)")
    p.add_argument("--cert", metavar="FILE", help="write a certificate of the synthesized design (re-checkable with `verifq check`)")
    p.add_argument("--split", type=int, default=1, metavar="N", help=SYNTH_SPLIT_HELP)
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="analyse the boxes of --split on N processes")
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..fixedpoint.design_io import save_design
    from ..language import load_spec
    from ..synthesis.report import result_json, text_report
    from ..synthesis.synthesize import SynthOptions, synthesize
    from ..outputs import check_outputs, input_files

    problem = load_spec(Path(args.spec))
    if problem.quantized is not None:  # an already-quantized (QONNX) network
        return synth_quantized(args, problem)
    check_outputs([(args.output, "-o"), (args.json, "--json"), (args.cert, "--cert")], input_files(problem))
    from ..progress import say as progress
    opts = SynthOptions.from_spec(
        problem.synthesis, method=args.method, granularity=args.granularity, cost=args.cost, solver=args.solver,
        time_limit=args.time_limit, node_limit=args.node_limit, mip_gap=args.gap, exact_ranges=args.exact, error_method=args.errors,
        progress=progress, split=check_split(args.split), jobs=args.jobs,
    )
    if problem.design is not None:
        progress("the spec gives formats; synth ignores them and chooses its own")
    result = synthesize(problem, opts)  # its messages went to `progress` as they came
    human = sys.stderr if args.json == "-" else sys.stdout  # `--json -`: stdout carries the JSON alone
    print("\n".join(text_report(result)), file=human)
    progress(f"done in {result.seconds:.2f} s ({result.analyses} exact analyses)")
    split = args.split if result.feasible and result.analysis.split_info else 1  # 1: the whole box proved it
    if result.feasible and args.output:
        extra = {"synthesis": {
            "note": "informative only; `verifq prove --formats` re-derives every bound",
            "method": result.method, "granularity": result.granularity, "costs": result.costs.as_dict(),
            "certified_errors": [str(e) for e in result.analysis.output_errors],
            "range_method": "milp" if args.exact else "default", "error_method": args.errors, "split": split,
        }}
        save_design(args.output, result.design, problem.network, extra)
        print(f"formats written to {args.output}" + (f" (proved with --split {split}: pass it to `verifq prove "
              "--formats` too)" if split > 1 else ""), file=human)
    if args.cert:
        from ..certificate.writer import no_certificate_line, write_certificate
        doc = write_certificate(Path(args.cert), result.analysis, synthesized=True) if result.feasible else None
        note = doc["analysis"].get("note") if doc else None  # e.g. MILP ranges (--exact): not re-derivable
        print(f"certificate written to {args.cert}" + (f"\n  note: {note}" if note else "") if doc else
              no_certificate_line(args.cert, "no design meets the requirements"), file=human)
    write_json_output(args.json, result_json(result))
    return EXIT_PROVED if result.feasible else EXIT_VIOLATED
