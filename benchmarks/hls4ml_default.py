"""The user question of issue 2: with hls4ml's default `ap_fixed<16,6>` for
every value (inputs, weights, biases, accumulators, outputs; truncation,
wrap), which Aster benchmark networks does `verifq prove` accept at their
1e-3 bound, and which fail -- with a confirmed counterexample where one is
found? Writes benchmarks/results/hls4ml_default.md.

    python benchmarks/hls4ml_default.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from verifq.analysis.prove import analyse
from verifq.analysis.search import describe_overflow_site, find_counterexample
from verifq.fixedpoint.design import Design
from verifq.fixedpoint.format import parse_format
from verifq.language import load_spec

HERE = Path(__file__).resolve().parent
SPECS = HERE.parent / "specs"


def main() -> int:
    fmt = parse_format("fixed<16,6>")
    rows = []
    for spec in sorted(SPECS.glob("aster_*.nnspec")):
        problem = load_spec(spec)
        impl = problem.implementation
        design = Design.uniform([l.n_out for l in problem.network.layers], problem.network.n_inputs, fmt,
                                impl.rounding, impl.overflow, impl.inputs_fixed)
        t0 = time.perf_counter()
        a = analyse(problem, design)
        cex = None if a.proved else find_counterexample(a, samples=4000, seed=0)
        secs = time.perf_counter() - t0
        worst = max(float(e) for e in a.output_errors)
        if a.proved:
            verdict, why, example = "PROVED", f"error <= {worst:.3g}", ""
        else:
            first = a.violations[0]
            kinds = sorted({v.kind for v in a.violations})
            verdict = "VIOLATED"
            why = f"{len(a.violations)} failing checks ({', '.join(kinds)}); first: {first.describe()}"
            if cex is None:
                example = "none found (failed proof only)"
            elif cex.kind == "overflow":
                example = f"confirmed overflow at {describe_overflow_site(cex.overflow_site)}, x = [{', '.join(f'{v:.6g}' for v in cex.input_raw)}]"
            else:
                example = f"confirmed error {float(cex.observed_error):.3g} on output {cex.output}, x = [{', '.join(f'{v:.6g}' for v in cex.input_raw)}]"
        rows.append((problem.network.name, problem.network.parameter_count, verdict, f"{worst:.3g}", why, example, f"{secs:.1f}"))
        print(" | ".join(str(c) for c in rows[-1]), file=sys.stderr, flush=True)
    md = ["# hls4ml's default ap_fixed<16,6> on the Aster benchmarks (bound 1e-3)", "",
          "Every value (inputs rounded at the input, weights, biases, accumulators, outputs) in `fixed<16,6>`, truncation, wrap.",
          "Certified error is the analysis's bound on the outputs (meaningful only where no overflow was found).",
          "Reproduce: `python benchmarks/hls4ml_default.py`, or per network `verifq prove specs/aster_ACC3NN.nnspec --uniform 'fixed<16,6>'`.", "",
          "| network | params | verdict | certified error | why | counterexample | seconds |", "|---|---|---|---|---|---|---|"]
    md += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    proved = sum(r[2] == "PROVED" for r in rows)
    md += ["", f"{proved} of {len(rows)} networks proved; {sum('confirmed' in r[5] for r in rows)} failures have a confirmed counterexample."]
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "hls4ml_default.md").write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
