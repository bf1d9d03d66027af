"""Tightness of the differential error rule (issue 12 item 1) against first-order.

Same designs and observations as benchmarks/tightness.py (uniform fixed<I+16, I>,
exact accumulators, truncation, wrap, real inputs; observed = worst error of
>= 10,000 random inputs + corners + error-maximising search, bit-exact simulator
against the real network). Per network:

  sym+FO      symbolic ranges + first-order errors (the default of `analyse` before the differential rule)
  sym+DIFF    symbolic ranges + the differential rule (`--errors differential`)
  split+DIFF  sym+DIFF on an adaptive input partition (`--split`), within a time budget
  split+FO    (from tightness.csv, not re-run: its own budget, 64 leaves / 20 s or 1024 / 240 s)

tightness = max over outputs of certified / observed. An observation above any
certified bound is a soundness bug: the script exits 1.

    python benchmarks/differential.py [--only NAME ...] [--split-time 40] [--max-params 50000]

Writes benchmarks/results/differential.md and differential.csv (one row per network,
written as each finishes).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from tightness import DEFAULT_NETWORKS, design_for, markdown_table, read_csv, record_bounds, write_csv  # noqa: E402
from verifq.analysis.prove import analyse  # noqa: E402
from verifq.analysis.search import observe  # noqa: E402
from verifq.analysis.split import analyse_split  # noqa: E402
from verifq.analysis.wide import without_error_requirement, without_limits  # noqa: E402
from verifq.language.benchmark import problem_from_benchmark  # noqa: E402

KINDS = ["sym+FO", "sym+DIFF", "split+DIFF"]


def run_one(path: Path, samples: int, split_leaves: int, split_time: float, old: dict) -> dict:
    problem = without_error_requirement(without_limits(problem_from_benchmark(path)))
    net = problem.network
    design, _ = design_for(problem)
    row = {"network": path.stem, "arch": net.architecture, "hidden": len(net.layers) - 1,
           "acts": "/".join(sorted({l.activation.value for l in net.layers})), "params": net.parameter_count,
           "format": str(design.layers[0].weight[0])}
    runs = {
        "sym+FO": lambda: analyse(problem, design, range_method="symbolic", error_method="first_order"),
        "sym+DIFF": lambda: analyse(problem, design, error_method="differential"),
        "split+DIFF": lambda: analyse_split(problem, design, split_leaves, goal="tighten", time_budget=split_time,
                                            error_method="differential"),
    }
    analyses = {}
    for k in KINDS:
        t = time.time()
        analyses[k] = runs[k]()
        row[f"time_{k}"] = time.time() - t
        if not analyses[k].proved:
            raise RuntimeError(f"{path.stem}: {k} does not prove the design: {analyses[k].violations[0].describe()}")
    row["leaves"] = len(analyses["split+DIFF"].leaves) or 1
    best = analyses["sym+FO"]
    t = time.time()
    obs = observe(best.qnet, net, best.box, n_random=samples, seed=0)
    row["time_observe"] = time.time() - t
    observed = list(obs.max_error)
    row["observed"] = max(observed)
    record_bounds(row, path.stem, analyses, observed)
    o = old.get(path.stem)
    if o is not None and o.get("tight_split+FO"):
        row["tight_split+FO"] = float(o["tight_split+FO"])
        row["bound_split+FO"] = float(o["bound_split+FO"])
        row["time_split+FO"] = float(o["time_split+FO"])
    return row


COLUMNS = [
    ("network", "network"), ("arch", "architecture"), ("acts", "act"), ("format", "format"), ("observed", "observed"),
    ("bound_sym+FO", "bound sym+FO"), ("bound_sym+DIFF", "bound sym+DIFF"), ("bound_split+DIFF", "bound split+DIFF"),
    ("leaves", "leaves"), ("bound_split+FO", "bound split+FO (tightness.md)"),
    ("tight_sym+FO", "tight sym+FO"), ("tight_sym+DIFF", "tight sym+DIFF"), ("tight_split+DIFF", "tight split+DIFF"),
    ("tight_split+FO", "tight split+FO (tightness.md)"),
    ("time_sym+FO", "t sym+FO (s)"), ("time_sym+DIFF", "t sym+DIFF (s)"), ("time_split+DIFF", "t split+DIFF (s)"),
    ("time_split+FO", "t split+FO (s)"),
]


def _summary(rows: list[dict], label: str, pick) -> list[str]:
    sel = [r for r in rows if pick(r)]
    if not sel:
        return []
    out = []
    for k in ("sym+FO", "sym+DIFF", "split+DIFF", "split+FO"):
        vals = [r[f"tight_{k}"] for r in sel if isinstance(r.get(f"tight_{k}"), float)]
        if not vals:
            continue
        out.append(f"- {label}, {k}: tightness median {statistics.median(vals):.3g}, max {max(vals):.3g}; "
                   f"{sum(v <= 4 for v in vals)} of {len(vals)} are <= 4.")
    return out


def write_results(rows: list[dict], out_dir: Path, notes: list[str]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out_dir / "differential.csv")
    lines = ["# Tightness of the differential error rule vs first-order", ""] + notes + [""]
    lines += markdown_table(rows, COLUMNS)
    lines.append("")
    lines += _summary(rows, "all networks", lambda r: True)
    lines += _summary(rows, "ReLU networks", lambda r: "tanh" not in r["acts"] and "sigmoid" not in r["acts"])
    lines += _summary(rows, "tanh/sigmoid networks", lambda r: "tanh" in r["acts"] or "sigmoid" in r["acts"])
    lines += _summary(rows, "networks with 3+ hidden layers", lambda r: r["hidden"] >= 3)
    imp = [r["bound_sym+FO"] / r["bound_sym+DIFF"] for r in rows if r["bound_sym+DIFF"] > 0]
    if imp:
        lines.append(f"- Certified bound sym+FO / sym+DIFF: median {statistics.median(imp):.3g}x, max {max(imp):.3g}x "
                     f"(never below 1: the rule is intersected with first-order).")
    (out_dir / "differential.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--networks", type=Path, default=DEFAULT_NETWORKS)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--max-params", type=int, default=50000)
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--split-leaves", type=int, default=1024)
    ap.add_argument("--split-time", type=float, default=40.0, help="input-splitting time budget per network (s)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--append", action="store_true", help="merge into an existing differential.csv (same --out)")
    args = ap.parse_args()
    old = {}
    old_csv = HERE / "results" / "tightness.csv"
    if old_csv.exists():
        old = {r["network"]: r for r in csv.DictReader(open(old_csv))}
    paths = sorted(args.networks.glob("*.json"))
    if args.only:
        paths = [p for p in paths if p.stem in args.only]
    rows, skipped = [], []
    if args.append and (args.out / "differential.csv").exists():
        rows = read_csv(args.out / "differential.csv")
        rows = [r for r in rows if r["network"] not in {p.stem for p in paths}]
    notes = [
        "Designs and observations as in tightness.md (uniform fixed<I+16,I>, exact accumulators, truncation, wrap, "
        f"real inputs; observed: >= {args.samples} random inputs + corners + error-maximising search).",
        "sym+DIFF = symbolic ranges + the differential rule (analysis/differential.py), intersected with first-order; "
        f"split+DIFF = sym+DIFF on an adaptive input partition, budget {args.split_leaves} leaves / {args.split_time:.0f} s; "
        "split+FO copied from tightness.md (its own budget: 64 leaves / 20 s, or 1024 / 240 s).",
        "The differential rule is sound (tests/test_differential.py: bit-exact simulation, 0 observations above a "
        "bound) and re-derived by the independent checker (rule `differential`, certificate/checker_diff.py; "
        "tests/test_certificate_differential.py).",
    ]
    if args.append:
        notes.append("Rows merged with --append (--max-params / --split-time of their own run): "
                     + ", ".join(p.stem for p in paths) + f" (split budget {args.split_time:.0f} s).")
    for p in paths:
        problem = problem_from_benchmark(p)
        if problem.network.parameter_count > args.max_params:
            skipped.append(f"{p.stem} ({problem.network.parameter_count} parameters > --max-params)")
            continue
        t = time.time()
        try:
            row = run_one(p, args.samples, args.split_leaves, args.split_time, old)
        except AssertionError as e:
            print(e, file=sys.stderr)
            return 1
        rows.append(row)
        rows.sort(key=lambda r: r["network"])
        print(f"{p.stem}: observed {row['observed']:.3g}; tightness FO {row['tight_sym+FO']:.3g}, "
              f"DIFF {row['tight_sym+DIFF']:.3g}, split+DIFF {row['tight_split+DIFF']:.3g} ({time.time() - t:.0f} s)",
              flush=True)
        write_results(rows, args.out, notes + ([f"Skipped: {', '.join(skipped)}."] if skipped else []))
    write_results(rows, args.out, notes + ([f"Skipped: {', '.join(skipped)}."] if skipped else []))
    return 0


if __name__ == "__main__":
    sys.exit(main())
