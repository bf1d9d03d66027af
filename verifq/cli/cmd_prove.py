"""`verifq prove SPEC...`: prove the spec's formats (or a formats file) meet its
requirements, or say precisely where and why not, with a concrete input when
one can be found. Exit 0 proved, 1 violated, 2 bad input.

Several specs run as a batch: a verdict per spec (a bad spec is reported
with its location and does not stop the others), `--json` one document with
an entry per spec, the exit code the worst of them (3 internal error > 2 bad
input > 1 violated > 0 proved). `--jobs N` / `--ray ADDRESS` choose where
the work runs (verifq/engine.py): the boxes of `--split`, or, without
splitting, the specs of a batch; the output does not depend on it."""

from __future__ import annotations

import json
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ..analysis.methods import DEFAULT_ERROR_METHOD, DEFAULT_RANGE_METHOD, ErrorMethod, RangeMethod
from ..outputs import write_text_atomic
from ..errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_PROVED, EXIT_VIOLATED, UserError


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
    p.add_argument("spec", nargs="+", help="the .nnspec file; several (e.g. specs/*.nnspec) run as a batch: a verdict "
                   "line per spec, --json one document with an entry per spec, exit code the worst of them")
    p.add_argument("--formats", metavar="FILE", help="formats file written by `verifq synth -o` (overrides the spec's formats)")
    p.add_argument("--uniform", metavar="FORMAT", help="prove one format for every value instead of the spec's, e.g. 'fixed<16,6>' (hls4ml's default)")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON ('-' for stdout)")
    p.add_argument("--cert", metavar="FILE", help="write a certificate when the proof succeeds (one spec only)")
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
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="analyse the boxes of --split (or, without splitting, the specs of a batch) on N local "
                        "processes (default 1: in this process; 0: one per core); the results are identical "
                        "whatever N")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run that work on a Ray cluster instead (needs `pip install 'verifq[ray]'`; verifq must be "
                        "installed on its nodes): 'local' starts a private local instance (--jobs CPUs, or one per "
                        "core), 'auto' or ray://HOST:PORT joins a running cluster; the results are identical")
    p.set_defaults(func=run)



@dataclass
class Outcome:
    """What proving one spec gave: exit code, the report lines, the JSON entry (and, in this process
    only, the analysis, for a certificate)."""

    spec: str
    code: int
    text: list = field(default_factory=list)  # the whole report (one spec)
    verdict: list = field(default_factory=list)  # the batch's lines: verdict, failed checks, counterexample
    doc: dict | None = None
    error: str | None = None  # a bad spec's located message, or an internal error
    analysis: object = None


def _check_options(args) -> None:
    if not 1 <= args.split <= MAX_SPLIT:
        raise UserError(f"--split needs a number of boxes from 1 to {MAX_SPLIT}, not {args.split}", hint="e.g. --split 64")
    if not 1 <= args.samples <= MAX_SAMPLES:
        raise UserError(f"--samples needs a number of inputs from 1 to {MAX_SAMPLES}, not {args.samples}")
    if not 0 <= args.seed < 2**32:
        raise UserError(f"--seed needs a number from 0 to 2^32 - 1, not {args.seed}")
    if args.exact_error is not None and not 0 < args.exact_error < 1e9:
        raise UserError("--exact-error needs a positive amount of work", hint="e.g. --exact-error 20 (million Z3 resource units)")


def prove_one(args, spec: str, engine=None, check_files: bool = True) -> Outcome:
    """Prove one spec with the options in `args` (raises UserError on bad input)."""
    from ..analysis.prove import analyse
    from ..analysis.report import prove_json, prove_text
    from ..analysis.search import find_counterexample
    from ..language import load_problem_and_design
    from ..outputs import check_outputs, input_files
    from ..progress import say

    problem, design = load_problem_and_design(spec, args.formats, args.uniform)
    if check_files:
        check_outputs([(args.json, "--json"), (args.cert, "--cert")], input_files(problem, args.formats))
    _check_options(args)
    say(f"analysing {problem.network.name} ({problem.network.parameter_count} parameters): ranges {args.ranges}, "
        f"errors {args.errors}" + (f", up to {args.split} boxes" if args.split > 1 else ""))
    analysis = analyse(problem, design, range_method=args.ranges, error_method=args.errors, split=args.split,
                       engine=engine)
    cex = None
    if not analysis.proved and not args.no_search:
        say(f"not proved ({len(analysis.violations)} failed checks); searching a counterexample")
        cex = find_counterexample(analysis, samples=args.samples, seed=args.seed)
    exact = None
    if args.exact_error is not None:
        from ..analysis.exact_error import exact_error_bracket

        say("bracketing the true worst-case error with Z3")
        exact = exact_error_bracket(analysis, int(args.exact_error * 1_000_000))
    text = prove_text(analysis, cex, not args.no_search, exact)
    first = next(i for i, line in enumerate(text) if line.startswith(("PROVED", "VIOLATED")))
    verdict = [f"{spec}: {text[first]}"] + text[first + 1:]
    return Outcome(spec, EXIT_PROVED if analysis.proved else EXIT_VIOLATED, text, verdict,
                   prove_json(spec, analysis, cex, exact), analysis=analysis)


def _prove_caught(args, spec: str, engine=None) -> Outcome:
    """`prove_one` for a batch: bad input and internal errors become the spec's outcome."""
    try:
        return prove_one(args, spec, engine, check_files=False)
    except UserError as err:
        return Outcome(spec, EXIT_BAD_INPUT, verdict=[f"{spec}: BAD INPUT: {str(err).splitlines()[0]}"],
                       doc={"spec": spec, "verdict": "BAD INPUT", "message": err.message,
                            "location": None if err.location is None else str(err.location)}, error=err.render())
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except Exception as exc:  # noqa: BLE001 - one spec's bug must not stop the batch
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return Outcome(spec, EXIT_INTERNAL, verdict=[f"{spec}: INTERNAL ERROR: {last}"],
                       doc={"spec": spec, "verdict": "INTERNAL ERROR"},
                       error=f"{spec}: internal error: {last}\n(this is a bug in verifq; please report it with the spec file)")


def _batch_task(args, spec: str) -> Outcome:
    """One spec of a batch on an engine's worker (the analysis stays there)."""
    out = _prove_caught(args, spec)
    out.analysis = None
    return out


def run(args) -> int:
    from ..engine import make_engine
    from ..outputs import check_outputs, write_text_atomic
    from ..progress import say

    _check_options(args)
    human = sys.stderr if args.json == "-" else sys.stdout  # `--json -`: stdout carries the JSON alone
    with make_engine(args.jobs, args.ray) as engine:
        if len(args.spec) == 1:
            out = prove_one(args, args.spec[0], engine)
            print("\n".join(out.text), file=human)
            if out.analysis.proved and args.cert:
                from ..certificate.writer import write_certificate

                doc = write_certificate(Path(args.cert), out.analysis)
                print(f"certificate written to {args.cert}", file=human)
                if doc["analysis"].get("note"):
                    print(f"  note: {doc['analysis']['note']}", file=human)
            document = out.doc
            code = out.code
        else:
            if args.cert:
                raise UserError("--cert writes one certificate: give one spec with it, not a batch of "
                                f"{len(args.spec)}", hint="run `verifq prove SPEC --cert FILE` per spec")
            check_outputs([(args.json, "--json")], [*args.spec, *([args.formats] if args.formats else [])])
            if args.split == 1 and engine.slots > 1:  # whole specs on the engine, reported in the order given
                say(f"proving {len(args.spec)} specs on {engine.slots} {engine.name} slots")
                outcomes = engine.map(_batch_task, engine.share(args), args.spec)
            else:
                outcomes = []
                for i, spec in enumerate(args.spec):
                    say(f"spec {i + 1} of {len(args.spec)}: {spec}")
                    outcomes.append(_prove_caught(args, spec, engine))
            for out in outcomes:
                if out.error:
                    print(out.error, file=sys.stderr)
                print("\n".join(out.verdict), file=human)
            counts = {name: sum(o.code == c for o in outcomes) for name, c in
                      (("proved", EXIT_PROVED), ("violated", EXIT_VIOLATED), ("bad input", EXIT_BAD_INPUT),
                       ("internal error", EXIT_INTERNAL))}
            print(f"{len(outcomes)} specs: " + ", ".join(f"{n} {name}" for name, n in counts.items() if n), file=human)
            code = max(o.code for o in outcomes)
            document = {"specs": [dict(o.doc, exit_code=o.code, **({"error": o.error} if o.error else {}))
                                  for o in outcomes],
                        "summary": {name.replace(" ", "_"): n for name, n in counts.items()}, "exit_code": code}
    if args.json:
        text = json.dumps(document, indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            write_text_atomic(args.json, text)
    return code
