"""`verifq prove SPEC...`: prove the spec's formats (or a formats file) meet its
requirements, or say precisely where and why not, with a concrete input when
one can be found. Exit 0 proved, 1 violated, 2 bad input. Several specs run as
a batch (analysis/batch.py: a verdict per spec, the worst exit code); --jobs /
--ray choose where the work runs (verifq/engine.py), never what it gives."""

from __future__ import annotations

import sys
from pathlib import Path

from ..analysis.alpha import DEFAULT_ALPHA_ITERS
from ..analysis.methods import DEFAULT_ERROR_METHOD, DEFAULT_RANGE_METHOD, ErrorMethod, RangeMethod
from ..errors import UserError
from ..outputs import write_json_output


def register(sub) -> None:
    p = sub.add_parser(
        "prove",
        help="prove roundoff-error and overflow guarantees of given fixed-point formats",
        description="Analyse the fixed-point formats given in SPEC (or --formats FILE) soundly: "
        "every value's range, every neuron's roundoff-error bound, every overflow. "
        "On failure, name the layer/neuron/output and search for a concrete counterexample.",
    )
    p.add_argument("spec", nargs="+", help="the .nnspec file; several (e.g. specs/*.nnspec) run as a batch: a verdict "
                   "line per spec, --json one document with an entry per spec, exit code the worst of them")
    p.add_argument("--formats", metavar="FILE", help="formats file written by `verifq synth -o` (overrides the spec's formats)")
    p.add_argument("--uniform", metavar="FORMAT", help="prove one format for every value instead of the spec's, e.g. 'fixed<16,6>' (hls4ml's default)")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON ('-' for stdout)")
    p.add_argument("--cert", metavar="FILE", help="write a certificate when the proof succeeds (one spec only; *.gz: gzip-compressed)")
    p.add_argument("--samples", type=int, default=4000, help="random inputs tried when looking for a counterexample (default 4000)")
    p.add_argument("--no-search", action="store_true", help="do not look for a counterexample when the proof fails")
    p.add_argument("--seed", type=int, default=0, help="seed of the counterexample search (default 0: deterministic)")
    p.add_argument("--ranges", choices=[m.value for m in RangeMethod], default=DEFAULT_RANGE_METHOD.value,
                   help="range analysis: symbolic (default: DeepPoly back-substitution intersected with intervals), "
                        "interval, or milp (exact per-neuron ranges by a verified MILP; small ReLU networks)")
    p.add_argument("--alpha-iters", type=int, default=None, metavar="N",
                   help="optimization steps choosing the lower ReLU slopes of symbolic ranges and of the differential "
                        f"rule per row (alpha-CROWN style, re-derived exactly; default {DEFAULT_ALPHA_ITERS}; 0: DeepPoly's 0|1 slopes)")
    p.add_argument("--errors", choices=[m.value for m in ErrorMethod], default=DEFAULT_ERROR_METHOD.value,
                   help="error analysis: differential (default: symbolic bounds on the difference q(x) - f(x), intersected "
                        "with first_order; tighter on deep networks; the checker re-derives it with symbolic ranges), "
                        "first_order (backward sensitivities) or l1_local (per-neuron l1 rule)")
    p.add_argument("--split", type=int, default=1, metavar="N", help="branch and bound: bisect the box with the worst "
                   "error bound (relative to the requirement) until every box proves or there are N (a count: the same "
                   "result on every machine; about N times slower); the certificate records every box, `check` re-derives them")
    p.add_argument("--branching", choices=["smear", "strong"], default="smear", help="the input --split bisects: smear "
                   "(largest sensitivity x width) or strong (try the 3 largest, keep the best; 3x the work per bisection)")
    p.add_argument("--exact-error", type=float, metavar="WORK", help="also measure the true worst-case error with Z3 "
                   "within WORK million resource units (Z3's deterministic count; small ReLU/linear networks that cannot "
                   "overflow): [reached, impossible above] per output, the reached value replayed by the bit-exact "
                   "simulator; a measurement of tightness, not part of the proof")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="analyse the boxes of --split (without "
                   "--split: the specs of a batch) on N local processes (default 1: this one; 0: one per core)")
    p.add_argument("--ray", metavar="ADDRESS", help="... on a Ray cluster instead (pip install 'verifq[ray]'): "
                   "'local' starts a private instance, 'auto' or ray://HOST:PORT joins one; results are identical")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..analysis.batch import ProveOptions, batch_report, prove_batch, prove_spec
    from ..engine import make_engine
    from ..language import load_problem_and_design as load
    from ..outputs import check_outputs

    options = ProveOptions(args.formats, args.uniform, args.ranges, args.errors, args.split, args.samples,
                           not args.no_search, args.seed, args.exact_error, args.branching, args.alpha_iters)
    options.check()
    human = sys.stderr if args.json == "-" else sys.stdout  # `--json -`: stdout carries the JSON alone
    if len(args.spec) == 1 and (problem := load(args.spec[0], args.formats, args.uniform)[0]).quantized is not None:
        from ..certificate.accumulators import prove_quantized  # an already-quantized (QONNX) network
        return prove_quantized(args, problem)
    with make_engine(args.jobs, args.ray) as engine:
        if len(args.spec) == 1:
            out = prove_spec(options, args.spec[0], load, engine, [(args.json, "--json"), (args.cert, "--cert")])
            lines, document, code = out.text, out.doc, out.code
        else:
            if args.cert:
                raise UserError(f"--cert writes one certificate: give one spec, not {len(args.spec)}",
                                hint="run `verifq prove SPEC --cert FILE` for each spec")
            check_outputs([(args.json, "--json")], [*args.spec, *([args.formats] if args.formats else [])])
            outcomes = prove_batch(options, args.spec, load, engine)
            for out in outcomes:
                if out.error:
                    print(out.error, file=sys.stderr)
            lines, document, code = batch_report(outcomes)
    print("\n".join(lines), file=human)
    if len(args.spec) == 1 and args.cert:
        from ..certificate.writer import no_certificate_line, write_certificate
        doc = write_certificate(Path(args.cert), out.analysis) if out.analysis.proved else None
        note = doc["analysis"].get("note") if doc else None
        print(no_certificate_line(args.cert) if doc is None else f"certificate written to {args.cert}"
              + (f"\n  note: {note}" if note else ""), file=human)
    write_json_output(args.json, document)
    return code
