"""`verifq prove SPEC`: prove the spec's formats (or a formats file) meet its
requirements, or say precisely where and why not, with a concrete input when
one can be found. Exit 0 proved, 1 violated, 2 bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..analysis.methods import DEFAULT_ERROR_METHOD, DEFAULT_RANGE_METHOD, ErrorMethod, RangeMethod
from ..outputs import write_text_atomic
from ..errors import EXIT_PROVED, EXIT_VIOLATED, UserError


MAX_SPLIT = 1 << 16  # boxes of an input splitting
MAX_SAMPLES = 10**7  # inputs of the counterexample search


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
    p.add_argument("--ranges", choices=[m.value for m in RangeMethod], default=DEFAULT_RANGE_METHOD.value,
                   help="range analysis: symbolic (default: DeepPoly back-substitution intersected with intervals), "
                        "interval, or milp (exact per-neuron ranges by a verified MILP; small ReLU networks)")
    p.add_argument("--errors", choices=[m.value for m in ErrorMethod], default=DEFAULT_ERROR_METHOD.value,
                   help="error analysis: first_order (default: backward sensitivities) or l1_local (per-neuron l1 rule)")
    p.add_argument("--split", type=int, default=1, metavar="N",
                   help="analyse on an adaptive partition of the domain into at most N boxes (tighter, slower; "
                        "the checker re-derives such claims only if the unsplit analysis also proves, see the note)")
    p.add_argument("--exact-error", type=float, metavar="WORK",
                   help="also measure the true worst-case error with Z3 within WORK million resource units (Z3's own "
                        "deterministic count, a few million per second; small ReLU/linear networks whose design cannot "
                        "overflow): an interval [reached, impossible above] per output, the reached value replayed by the "
                        "bit-exact simulator; a measurement of tightness, not part of the proof")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..analysis.prove import analyse
    from ..analysis.report import prove_json, prove_text
    from ..analysis.search import find_counterexample
    from ..language import load_problem_and_design
    from ..progress import say

    from ..outputs import check_outputs, input_files

    problem, design = load_problem_and_design(args.spec, args.formats, args.uniform)
    check_outputs([(args.json, "--json"), (args.cert, "--cert")], input_files(problem, args.formats))
    if not 1 <= args.split <= MAX_SPLIT:
        raise UserError(f"--split needs a number of boxes from 1 to {MAX_SPLIT}, not {args.split}", hint="e.g. --split 64")
    if not 1 <= args.samples <= MAX_SAMPLES:
        raise UserError(f"--samples needs a number of inputs from 1 to {MAX_SAMPLES}, not {args.samples}")
    if not 0 <= args.seed < 2**32:
        raise UserError(f"--seed needs a number from 0 to 2^32 - 1, not {args.seed}")
    say(f"analysing {problem.network.name} ({problem.network.parameter_count} parameters): ranges {args.ranges}, "
        f"errors {args.errors}" + (f", up to {args.split} boxes" if args.split > 1 else ""))
    analysis = analyse(problem, design, range_method=args.ranges, error_method=args.errors, split=args.split)
    cex = None
    if not analysis.proved and not args.no_search:
        say(f"not proved ({len(analysis.violations)} failed checks); searching a counterexample")
        cex = find_counterexample(analysis, samples=args.samples, seed=args.seed)
    exact = None
    if args.exact_error is not None:
        from ..analysis.exact_error import exact_error_bracket

        if not 0 < args.exact_error < 1e9:
            raise UserError("--exact-error needs a positive amount of work", hint="e.g. --exact-error 20 (million Z3 resource units)")
        say("bracketing the true worst-case error with Z3")
        exact = exact_error_bracket(analysis, int(args.exact_error * 1_000_000))
    text = prove_text(analysis, cex, not args.no_search, exact)
    human = sys.stderr if args.json == "-" else sys.stdout  # `--json -`: stdout carries the JSON alone
    print("\n".join(text), file=human)
    if analysis.proved and args.cert:
        from ..certificate.writer import write_certificate

        doc = write_certificate(Path(args.cert), analysis)
        print(f"certificate written to {args.cert}", file=human)
        if doc["analysis"].get("note"):
            print(f"  note: {doc['analysis']['note']}", file=human)
    if args.json:
        out = json.dumps(prove_json(args.spec, analysis, cex, exact), indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(out)
        else:
            write_text_atomic(args.json, out)
    return EXIT_PROVED if analysis.proved else EXIT_VIOLATED
