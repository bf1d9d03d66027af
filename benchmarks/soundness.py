"""Soundness sweep over the benchmark networks (issue 2): for every network up
to 50k parameters, a uniform design wide enough to have no overflow
(16 fractional bits), >= 10,000 inputs (uniform random, box corners, and the
error-maximising local search) through the bit-exact simulator. Any
observed error above the certified bound is a soundness bug (the script
exits 1). Writes benchmarks/results/soundness.md and .csv with the
tightness (certified bound / worst observed error) per network.

    python benchmarks/soundness.py [--networks DIR] [--max-params 50000] [--analysis default|interval]

--analysis interval certifies with interval ranges + the l1 error rule and
writes soundness_interval.md/.csv; the default (the range and error rules
`verifq prove` uses by default, verifq.analysis.methods: symbolic ranges +
the differential error rule) writes soundness.md/.csv.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

from verifq.analysis.methods import DEFAULT_ERROR_METHOD, DEFAULT_RANGE_METHOD
from verifq.analysis.search import observe
from verifq.analysis.wide import wide_uniform_analysis, without_error_requirement, without_limits
from verifq.fixedpoint.format import Overflow, Rounding
from verifq.language.benchmark import problem_from_benchmark

HERE = Path(__file__).resolve().parent
DEFAULT_NETWORKS = HERE.parent.parent / "shared" / "benchmarks" / "networks"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--networks", type=Path, default=DEFAULT_NETWORKS)
    ap.add_argument("--max-params", type=int, default=50000)
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--analysis", choices=["default", "interval"], default="default")
    args = ap.parse_args()
    methods = {} if args.analysis == "default" else {"range_method": "interval", "error_method": "l1_local"}
    stem = "soundness" if args.analysis == "default" else "soundness_interval"
    described = "interval ranges + the l1 error rule"
    if not methods:
        described = (f"`{DEFAULT_RANGE_METHOD}` ranges + the `{DEFAULT_ERROR_METHOD}` error rule, the default of "
                     "`verifq prove` (`--ranges`/`--errors` not given; verifq/analysis/methods.py)")
    rows, bugs, rules, worst_ratio = [], 0, set(), 0.0
    load0, t_start = os.getloadavg(), time.perf_counter()
    configs = [(Rounding.TRUNCATE, Overflow.WRAP), (Rounding.NEAREST, Overflow.SATURATE)]
    for path in sorted(args.networks.glob("*.json")):
        problem = without_error_requirement(without_limits(problem_from_benchmark(path)))
        net = problem.network
        if net.parameter_count > args.max_params:
            continue
        for rounding, overflow in configs:
            t0 = time.perf_counter()
            a = wide_uniform_analysis(problem, 16, rounding, overflow, **methods)
            t_an = time.perf_counter() - t0
            if not a.proved:
                rows.append([net.name, net.parameter_count, rounding.value, overflow.value, "-", "", "", "", "", f"{t_an:.2f}", "no design proved"])
                continue
            t1 = time.perf_counter()
            obs = observe(a.qnet, net, a.box, n_random=args.samples, seed=1)
            t_sim = time.perf_counter() - t1
            cert = max(float(e) for e in a.output_errors)
            seen = max(obs.max_error)
            rules.add(f"{a.range_method} + {a.error_method}")
            worst_ratio = max([worst_ratio] + [e / float(b) for e, b in zip(obs.max_error, a.output_errors) if b > 0])
            status = "ok"
            if obs.overflow_rows or any(e > float(b) * (1 + 1e-9) for e, b in zip(obs.max_error, a.output_errors)):
                status, bugs = "SOUNDNESS BUG", bugs + 1
            fmt = a.design.inputs[0]
            rows.append([net.name, net.parameter_count, rounding.value, overflow.value, str(fmt), f"{cert:.4e}", f"{seen:.4e}",
                         f"{cert / seen:.2f}" if seen else "inf", obs.n_inputs, f"{t_an:.2f}", status])
            print(" | ".join(str(c) for c in rows[-1]), f"(sim {t_sim:.1f}s)", file=sys.stderr, flush=True)
    head = ["network", "params", "rounding", "overflow", "format", "certified error", "worst observed", "tightness", "inputs", "analysis s", "status"]
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / f"{stem}.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([head] + rows)
    md = ["# Soundness sweep (bit-exact simulator vs certified bounds)", "",
          "Uniform design with 16 fractional bits and the fewest integer bits that prove no overflow; accumulators with 32 fractional bits.",
          f"Analysis: {described}.",
          "Inputs per run: uniform random + box corners + error-maximising local search. tightness = certified / worst observed.", "",
          "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    ok = [r for r in rows if r[-1] == "ok"]
    load1 = os.getloadavg()
    md += ["", f"Soundness bugs: {bugs}",
           "", f"{len(rows)} runs ({len(ok)} proved and simulated, {sum(r[8] for r in ok)} inputs in all); rules recorded by "
           f"the analyses: {', '.join(sorted(rules)) or '-'}; largest observed / certified over all outputs of all runs: "
           f"{worst_ratio:.4f}. Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} in "
           f"{time.perf_counter() - t_start:.0f} s wall (2 shared cores, run under nice; load average "
           f"{load0[0]:.1f} at the start, {load1[0]:.1f} at the end)."]
    (args.out / f"{stem}.md").write_text("\n".join(md) + "\n")
    return 1 if bugs else 0


if __name__ == "__main__":
    sys.exit(main())
