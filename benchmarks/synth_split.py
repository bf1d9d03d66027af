"""`synth --split N` vs `synth` (whole box) at the spec bound (1e-3, words <= 32): total bits per
layer and per neuron on the deep ReLU controllers, whose whole-box bounds are far looser than their
split ones (tightness.md, bnb_scaling.md).

    python benchmarks/synth_split.py [--only aster_ACC7NN ...] [--jobs 2]   # -> results/synth_split.{csv,md}
    (--only re-runs those networks and keeps the other rows of synth_split.csv)

Every split design is (1) certified: its split certificate is re-checked by `verifq check --spec`
in a subprocess (every box re-derived), and (2) simulated bit-exactly (10,000 random inputs + box
corners + error-maximising search, benchmarks/synth.py's sweep): an observation above a certified
bound aborts the run.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from synth import check  # noqa: E402 - the bit-exact soundness sweep of the synthesis benchmark
from synth_differential import verify  # noqa: E402 - certificate written and re-checked by `verifq check --spec`
from verifq.language import load_spec  # noqa: E402
from verifq.synthesis import SynthOptions, synthesize  # noqa: E402

SPLITS = {"aster_ACC3NN": 64, "aster_ACC5NN": 64, "aster_ACC7NN": 256, "aster_MpcNN": 64,
          "archcomp22_acc_relu_5x20": 64}
FIELDS = ["network", "architecture", "granularity", "split", "feasible", "total_bits", "certified_error", "achievable",
          "boxes", "wall_s", "analyses", "source", "check", "obs_cert"]
OUT = ROOT / "benchmarks" / "results"


def run(name: str, split: int, jobs: int, samples: int) -> list[dict]:
    spec = ROOT / "specs" / f"{name}.nnspec"
    p = load_spec(spec)
    rows = []
    for gran in ("layer", "neuron"):
        for n in (1, split):
            print(f"{name} {gran} split {n} ...", file=sys.stderr, flush=True)
            t = time.perf_counter()
            r = synthesize(p, SynthOptions.from_spec(p.synthesis, granularity=gran, split=n, jobs=jobs))
            row = dict.fromkeys(FIELDS, "")
            row.update(network=name, architecture=p.network.architecture, granularity=gran, split=n,
                       feasible=int(r.feasible), wall_s=f"{time.perf_counter() - t:.1f}", analyses=r.analyses,
                       source=r.source)
            if r.feasible:
                row.update(total_bits=r.costs.total_bits, certified_error=f"{float(r.max_certified_error):.6g}",
                           boxes=len(r.analysis.leaves) or 1)
                if n > 1:
                    with tempfile.TemporaryDirectory() as d:
                        row["check"] = verify(spec, r, Path(d))[1]
                    row["obs_cert"] = f"{check(r, samples)['tightness']:.4f}"
            elif r.achievable:
                row["achievable"] = f"{float(max(r.achievable)):.4g}"
            rows.append(row)
            print(f"   -> {row['total_bits'] or 'infeasible (' + row['achievable'] + ')'}, {row['wall_s']} s "
                  f"{row['check']} {row['obs_cert']}", file=sys.stderr, flush=True)
    return rows


def markdown(rows: list[dict], jobs: int, note: str) -> str:
    out = ["# `synth --split N` vs the whole box (`benchmarks/synth_split.py`)", "",
           f"The specs in specs/ (bound 1e-3 on every output, words <= 32, truncation, wrap, total bits), per layer and "
           f"per neuron, `--jobs {jobs}`. **whole** = `verifq synth` (one box); **split** = `verifq synth --split N`: every "
           "design tried, repaired and trimmed is proved by `prove --split N`'s branch and bound (goal prove: it stops "
           "bisecting once every box proves), the MILP still models the whole box, and the whole box's design seeds the "
           "run (so split is never costlier; its time includes that run; design from \"seed 1\": that design, "
           "then trimmed under the split). infeasible (x): x is the smallest "
           "bound the most precise formats certify. Every split design: its certificate re-checked by `verifq check "
           "--spec` (**check**) and simulated bit-exactly (**obs/cert** = largest observed / certified, <= 1). " + note,
           "", "| network | granularity | N | bits whole | bits split | change | certified whole | certified split | "
           "boxes | time whole (s) | time split (s) | design from | check | obs/cert |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|"]
    key = {(r["network"], r["granularity"], int(r["split"]) > 1): r for r in rows}
    for name in dict.fromkeys(r["network"] for r in rows):
        for gran in ("layer", "neuron"):
            w, s = key.get((name, gran, False)), key.get((name, gran, True))
            if not w or not s:
                continue

            def bits(r):
                return r["total_bits"] or f"infeasible ({r['achievable'] or '?'})"

            change = (f"{(int(s['total_bits']) - int(w['total_bits'])) / int(w['total_bits']) * 100:+.1f}%"
                      if w["total_bits"] and s["total_bits"] else "-")
            out.append(f"| {name} | {gran} | {s['split']} | {bits(w)} | {bits(s)} | {change} | {w['certified_error'] or '-'} "
                       f"| {s['certified_error'] or '-'} | {s['boxes'] or '-'} | {w['wall_s']} | {s['wall_s']} | "
                       f"{s['source'] or '-'} | {s['check'] or '-'} | {s['obs_cert'] or '-'} |")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", default=list(SPLITS))
    ap.add_argument("--split", type=int, help="boxes for every network (default: per network, SPLITS)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--note", default="")
    ap.add_argument("--report-only", action="store_true", help="only rewrite synth_split.md from synth_split.csv")
    args = ap.parse_args()
    path = OUT / "synth_split.csv"
    if args.report_only:
        (OUT / "synth_split.md").write_text(markdown(list(csv.DictReader(open(path))), args.jobs, args.note))
        return 0
    rows = [r for r in csv.DictReader(open(path)) if r["network"] not in args.only] if path.exists() else []
    for name in args.only:
        rows += run(name, args.split or SPLITS.get(name, 64), args.jobs, args.samples)
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, FIELDS)
            w.writeheader()
            w.writerows(rows)
        (OUT / "synth_split.md").write_text(markdown(rows, args.jobs, args.note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
