"""`verifq prove` on one spec or a batch of specs: what the command runs for
each spec (analysis, counterexample search, the exact-error bracket, the
report) and how a batch is put together: a verdict per spec, one JSON
document, the worst exit code (3 internal error > 2 bad input > 1 violated >
0 proved). A bad spec becomes that spec's outcome (its located message), it
does not stop the others.

The analysis cannot read a spec (it ranks beside the language), so the
caller passes the loader (`language.load_problem_and_design`). The work runs
on an `Engine` (verifq/engine.py): the boxes of a split, or, without
splitting and with several slots, whole specs side by side; outcomes are
always reported in the order the specs were given.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field

from ..engine import Engine, SerialEngine
from ..errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_PROVED, EXIT_VIOLATED, UserError
from ..progress import say
from .methods import DEFAULT_ERROR_METHOD, DEFAULT_RANGE_METHOD

MAX_SPLIT = 1 << 16  # boxes of an input splitting
MAX_SAMPLES = 10**7  # inputs of the counterexample search
MAX_ALPHA_ITERS = 100_000  # optimization steps of the lower ReLU slopes


def check_split(split: int) -> int:
    """`--split N`, a number of boxes from 1 to MAX_SPLIT (float and integer networks alike)."""
    if not 1 <= split <= MAX_SPLIT:
        raise UserError(f"--split needs a number of boxes from 1 to {MAX_SPLIT}, not {split}", hint="e.g. --split 64")
    return split


@dataclass(frozen=True)
class ProveOptions:
    """The options of `verifq prove` that decide what is proved and reported (same for every spec)."""

    formats: str | None = None
    uniform: str | None = None
    range_method: str = DEFAULT_RANGE_METHOD.value
    error_method: str = DEFAULT_ERROR_METHOD.value
    split: int = 1
    samples: int = 4000
    search: bool = True
    seed: int = 0
    exact_error: float | None = None  # million Z3 resource units
    branching: str = "smear"  # which input a split bisects (split.BRANCHINGS)
    alpha_iters: int | None = None  # optimized lower ReLU slopes (None: the default of analysis/alpha.py)

    def check(self) -> None:
        check_split(self.split)
        if not 1 <= self.samples <= MAX_SAMPLES:
            raise UserError(f"--samples needs a number of inputs from 1 to {MAX_SAMPLES}, not {self.samples}")
        if not 0 <= self.seed < 2**32:
            raise UserError(f"--seed needs a number from 0 to 2^32 - 1, not {self.seed}")
        if self.alpha_iters is not None and not 0 <= self.alpha_iters <= MAX_ALPHA_ITERS:
            raise UserError(f"--alpha-iters needs a number of steps from 0 to {MAX_ALPHA_ITERS}, not {self.alpha_iters}",
                            hint="e.g. --alpha-iters 0 (DeepPoly's 0|1 lower slopes) or --alpha-iters 200")
        if self.exact_error is not None and not 0 < self.exact_error < 1e9:
            raise UserError("--exact-error needs a positive amount of work",
                            hint="e.g. --exact-error 20 (million Z3 resource units)")


@dataclass
class Outcome:
    """What proving one spec gave: exit code, the report lines, the JSON entry (and, in the process
    that ran it, the analysis, for a certificate)."""

    spec: str
    code: int
    text: list = field(default_factory=list)  # the whole report
    verdict: list = field(default_factory=list)  # a batch's lines: verdict, failed checks, counterexample
    doc: dict | None = None
    error: str | None = None  # a bad spec's located message, or an internal error
    analysis: object = None


def prove_spec(options: ProveOptions, spec: str, load, engine: Engine | None = None, outputs=()) -> Outcome:
    """Prove one spec (raises UserError on bad input). load(spec, formats, uniform) -> (problem,
    design); outputs: (path, option) pairs checked against the files the spec reads."""
    from ..fixedpoint.design_io import recorded_split
    from ..outputs import check_outputs, input_files
    from .prove import analyse
    from .report import prove_json, prove_text
    from .search import find_counterexample

    problem, design = load(spec, options.formats, options.uniform)
    if problem.quantized is not None:
        raise UserError(f"{spec}: an already-quantized (QONNX) network is proved on its own, not in a batch",
                        hint=f"run `verifq prove {spec}`")
    check_outputs(outputs, input_files(problem, options.formats))
    options.check()
    say(f"analysing {problem.network.name} ({problem.network.parameter_count} parameters): ranges "
        f"{options.range_method}, errors {options.error_method}"
        + (f", up to {options.split} boxes" if options.split > 1 else ""))
    a = analyse(problem, design, range_method=options.range_method, error_method=options.error_method,
                split=options.split, engine=engine, branching=options.branching, alpha_iters=options.alpha_iters)
    cex = exact = None
    if not a.proved and options.search:
        say(f"not proved ({len(a.violations)} failed checks); searching a counterexample")
        cex = find_counterexample(a, samples=options.samples, seed=options.seed)
    if options.exact_error is not None:
        from .exact_error import exact_error_bracket

        say("bracketing the true worst-case error with Z3")
        exact = exact_error_bracket(a, int(options.exact_error * 1_000_000))
    text = prove_text(a, cex, options.search, exact)
    needed = recorded_split(options.formats) if options.formats and not a.proved else 1
    if needed > options.split:
        text.append(f"hint: {options.formats} was proved by `synth --split {needed}`: pass --split {needed} to prove it")
    first = next(i for i, line in enumerate(text) if line.startswith(("PROVED", "VIOLATED")))
    return Outcome(spec, EXIT_PROVED if a.proved else EXIT_VIOLATED, text, [f"{spec}: {text[first]}"] + text[first + 1:],
                   prove_json(spec, a, cex, exact), analysis=a)


def _prove_caught(options: ProveOptions, spec: str, load, engine: Engine | None = None) -> Outcome:
    """`prove_spec` in a batch: bad input and internal errors become the spec's outcome."""
    try:
        return prove_spec(options, spec, load, engine)
    except UserError as err:
        return Outcome(spec, EXIT_BAD_INPUT, verdict=[f"{spec}: BAD INPUT: {err.render().splitlines()[0]}"],
                       doc={"spec": spec, "verdict": "BAD INPUT", "message": err.message,
                            "location": None if err.location is None else str(err.location)}, error=err.render())
    except Exception as exc:  # noqa: BLE001 - one spec's bug must not stop the batch (KeyboardInterrupt does)
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return Outcome(spec, EXIT_INTERNAL, verdict=[f"{spec}: INTERNAL ERROR: {last}"],
                       doc={"spec": spec, "verdict": "INTERNAL ERROR", "message": last},
                       error=f"{spec}: internal error: {last}\n(this is a bug in verifq; please report it with the spec file)")


def _batch_task(shared, spec: str) -> Outcome:
    """One spec of a batch on an engine's worker (its analysis stays there)."""
    options, load = shared
    out = _prove_caught(options, spec, load)
    out.analysis = None
    return out


def prove_batch(options: ProveOptions, specs, load, engine: Engine | None = None) -> list[Outcome]:
    """Every spec's outcome, in the order given."""
    engine = engine or SerialEngine()
    if options.split == 1 and engine.slots > 1 and len(specs) > 1:
        say(f"proving {len(specs)} specs on {engine.slots} {engine.name} slots")
        return engine.map(_batch_task, engine.share((options, load)), list(specs))
    outcomes = []
    for i, spec in enumerate(specs):
        say(f"spec {i + 1} of {len(specs)}: {spec}")
        outcomes.append(_prove_caught(options, spec, load, engine))
    return outcomes


_NAMES = (("proved", EXIT_PROVED), ("violated", EXIT_VIOLATED), ("bad input", EXIT_BAD_INPUT),
          ("internal error", EXIT_INTERNAL))


def batch_report(outcomes: list[Outcome]) -> tuple[list[str], dict, int]:
    """The batch's text lines, its JSON document and its exit code (the worst)."""
    counts = {name: sum(o.code == c for o in outcomes) for name, c in _NAMES}
    lines = [line for o in outcomes for line in o.verdict]
    lines.append(f"{len(outcomes)} specs: " + ", ".join(f"{n} {name}" for name, n in counts.items() if n))
    code = max(o.code for o in outcomes)
    doc = {"specs": [dict(o.doc, exit_code=o.code, **({"error": o.error} if o.error else {})) for o in outcomes],
           "summary": {name.replace(" ", "_"): n for name, n in counts.items()}, "exit_code": code}
    return lines, doc, code


__all__ = ["ProveOptions", "Outcome", "prove_spec", "prove_batch", "batch_report", "MAX_SPLIT", "MAX_SAMPLES"]
