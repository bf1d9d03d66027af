"""Branch and bound on the error bound (issue 12 items 3 and 5): tightness at
equal leaf budgets for the two branchings of `--split` (smear, strong), and
the size and checking time of split certificates.

Designs and observations are those of benchmarks/tightness.py and
benchmarks/differential.py (uniform fixed<I+16, I>, exact accumulators,
truncation, wrap, real inputs; observed = the worst error of >= 10,000 random
inputs + corners + error-maximising search, bit-exact simulator against the
real network). Default analysis per box (symbolic ranges + differential
errors), goal "tighten". One run per branching up to its largest budget
(the partition is decided in a fixed order, so the state at 64 leaves of a
1024-leaf run is the 64-leaf result); the combined bound is recorded after
every bisection with its time, so the table gives the bound at 64 / 256 /
1024 leaves and the best bound within 60 s. A run also stops at --cap
seconds (reported). Then a 64-leaf split (smear) is written as a
certificate and checked by `verifq check`'s checker (size, write and check
times). An observation above a certified bound is a soundness bug: exit 1.

    python benchmarks/bnb.py [--only NAME ...] [--budgets 64 256 1024] [--cap 600] [--strong-max 256]

Writes benchmarks/results/bnb.md and bnb.csv (rows written as each network finishes).
"""

from __future__ import annotations

import argparse
import gzip
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
from verifq.certificate import checker  # noqa: E402
from verifq.certificate.writer import build_certificate, dumps  # noqa: E402
from verifq.language.benchmark import problem_from_benchmark  # noqa: E402

NETWORKS = ["aster_ACC7NN", "aster_ACC5NN", "aster_MpcNN", "aster_UnicycleNN", "archcomp22_acc_relu_5x20",
            "acasxu_run2a_1_1", "acasxu_run2a_2_1"]
TARGET_S = 60.0


class _Bound:
    """A stand-in Analysis for record_bounds: just the output error bounds."""

    def __init__(self, bounds):
        self.output_errors = bounds


def _trace(problem, design, budget: int, branching: str, cap: float):
    """[(leaves, box analyses, seconds, bounds)] after every bisection, and the final analysis."""
    trace, t0 = [], time.time()
    root_t = [None]

    def obs(leaves, analyses, bounds):
        trace.append((leaves, analyses, time.time() - t0, bounds))

    a = analyse_split(problem, design, budget, goal="tighten", branching=branching, time_budget=cap, observer=obs)
    root_t[0] = time.time() - t0
    return trace, a, root_t[0]


def run_one(path: Path, samples: int, budgets: list[int], strong_max: int, cap: float, cert_leaves: int) -> dict:
    problem = without_error_requirement(without_limits(problem_from_benchmark(path)))
    net = problem.network
    design, _ = design_for(problem)
    row = {"network": path.stem, "arch": net.architecture, "params": net.parameter_count,
           "format": str(design.layers[0].weight[0])}
    t = time.time()
    box = analyse(problem, design)
    row["time_box"] = time.time() - t
    analyses = {"box": box}
    for branching in ("smear", "strong"):
        top = max(b for b in budgets if branching == "smear" or b <= strong_max)
        trace, final, total = _trace(problem, design, top, branching, cap)
        row[f"time_total_{branching}"] = total
        row[f"stopped_{branching}"] = final.split_info["stopped_by"] if final.split_info else "no split"
        for b in budgets:
            hit = [e for e in trace if e[0] >= b]
            if b <= top and hit:
                leaves, n_an, secs, bounds = hit[0]
                analyses[f"{branching}@{b}"] = _Bound(bounds)
                row[f"time_{branching}@{b}"] = secs
                row[f"analyses_{branching}@{b}"] = n_an
        within = [e for e in trace if e[2] <= TARGET_S]
        if within:
            analyses[f"{branching}@60s"] = _Bound(within[-1][3])
            row[f"leaves_{branching}@60s"] = within[-1][0]
    t = time.time()
    obs = observe(box.qnet, net, box.box, n_random=samples, seed=0)
    row["time_observe"] = time.time() - t
    observed = list(obs.max_error)
    row["observed"] = max(observed)
    record_bounds(row, path.stem, analyses, observed)
    # a split certificate: size, write time, check time
    t = time.time()
    a = analyse_split(problem, design, cert_leaves, goal="tighten")
    row["cert_analyse"] = time.time() - t
    t = time.time()
    text = dumps(build_certificate(a))
    row["cert_write"] = time.time() - t
    out = Path("/tmp") / f"bnb_cert_{path.stem}.json"
    out.write_text(text)
    row["cert_leaves"] = len(a.leaves)
    row["cert_mb"] = len(text) / 1e6
    row["cert_gz_mb"] = len(gzip.compress(text.encode(), 6)) / 1e6
    t = time.time()
    code = checker.check_file(out, out=open("/dev/null", "w"), err=open("/dev/null", "w"))
    row["cert_check"] = time.time() - t
    row["cert_verdict"] = "VALID" if code == 0 else f"exit {code}"
    out.unlink()
    return row


def probe(path: Path, rels=(16, 256, 4096), samples: int = 3000) -> list[str]:
    """How tight one box is when it is small: the default analysis of a box of 1/r of the domain's width per
    input, centred, against the worst error observed in that box (where splitting could get, at best)."""
    from dataclasses import replace
    from fractions import Fraction

    from verifq.analysis.box import analyse_box

    problem = without_error_requirement(without_limits(problem_from_benchmark(path)))
    design, _ = design_for(problem)
    whole = analyse_box(problem, design)
    obs = observe(whole.qnet, problem.network, whole.box, n_random=samples, seed=0)
    out = [f"{path.stem}: whole domain: bound {float(max(whole.output_errors)):.3g}, observed {max(obs.max_error):.3g}"]
    for r in rels:
        dom = tuple(((lo + hi) / 2 - (hi - lo) / (2 * r), (lo + hi) / 2 + (hi - lo) / (2 * r)) for lo, hi in problem.domain)
        a = analyse_box(replace(problem, domain=tuple((Fraction(lo), Fraction(hi)) for lo, hi in dom)), design)
        o = max(observe(a.qnet, problem.network, a.box, n_random=samples // 3, seed=0).max_error)
        out.append(f"{path.stem}: centred box of 1/{r} width per input: bound {float(max(a.output_errors)):.3g}, observed "
                   f"there {o:.3g}, ratio {float(max(a.output_errors)) / o:.3g}")
    return out


def write_results(rows: list[dict], out_dir: Path, notes: list[str], budgets: list[int]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out_dir / "bnb.csv")
    lines = ["# Branch and bound on the error bound: smear vs strong branching; split certificates", ""] + notes + [""]
    cols = [("network", "network"), ("arch", "architecture"), ("observed", "observed"), ("tight_box", "tight 1 box")]
    for b in budgets:
        for br in ("smear", "strong"):
            cols.append((f"tight_{br}@{b}", f"tight {br} @{b}"))
    for br in ("smear", "strong"):
        cols += [(f"tight_{br}@60s", f"tight {br} @60 s"), (f"leaves_{br}@60s", f"leaves {br} @60 s")]
    lines.append("Tightness = certified / observed (max over outputs), at equal leaf budgets and within 60 s:")
    lines.append("")
    lines += markdown_table(rows, cols)
    lines += ["", "Times (s, wall clock) to reach each budget, box analyses run, and why the run stopped:", ""]
    tcols = [("network", "network"), ("time_box", "1 box")]
    for b in budgets:
        for br in ("smear", "strong"):
            tcols += [(f"time_{br}@{b}", f"t {br} @{b}"), (f"analyses_{br}@{b}", f"analyses {br} @{b}")]
    tcols += [("stopped_smear", "smear stopped by"), ("stopped_strong", "strong stopped by")]
    lines += markdown_table(rows, tcols)
    lines += ["", "Split certificates (smear, goal tighten): size, gzip size, write and check times (`checker.check_file`, "
              "end to end):", ""]
    ccols = [("network", "network"), ("cert_leaves", "leaves"), ("cert_mb", "MB"), ("cert_gz_mb", "MB gzip"),
             ("cert_analyse", "analyse (s)"), ("cert_write", "write (s)"), ("cert_check", "check (s)"),
             ("cert_verdict", "verdict")]
    lines += markdown_table(rows, ccols)
    lines += ["", "Summary:", ""] + _summary(rows, budgets)
    (out_dir / "bnb.md").write_text("\n".join(lines) + "\n")


def _summary(rows: list[dict], budgets: list[int]) -> list[str]:
    out = []
    for b in budgets:
        pairs = [(r[f"tight_smear@{b}"], r[f"tight_strong@{b}"], r["network"]) for r in rows
                 if isinstance(r.get(f"tight_smear@{b}"), float) and isinstance(r.get(f"tight_strong@{b}"), float)]
        if pairs:
            better = [n for a, c, n in pairs if c < a * (1 - 1e-9)]
            worse = [n for a, c, n in pairs if c > a * (1 + 1e-9)]
            ratios = sorted(c / a for a, c, _ in pairs if a > 0)
            out.append(f"- {b} leaves: strong tighter than smear on {len(better)} of {len(pairs)} networks "
                       f"({', '.join(better) or '-'}), looser on {len(worse)} ({', '.join(worse) or '-'}); bound strong / smear "
                       f"{ratios[0]:.3g} .. {ratios[-1]:.3g}; strong ran "
                       + ", ".join(f"{r[f'analyses_strong@{b}'] / r[f'analyses_smear@{b}']:.2g}x" for r in rows
                                   if f"analyses_strong@{b}" in r and f"analyses_smear@{b}" in r)
                       + " the box analyses of smear.")
    for br in ("smear", "strong"):
        vals = [(r[f"tight_{br}@60s"], r["network"]) for r in rows if isinstance(r.get(f"tight_{br}@60s"), float)]
        if vals:
            ok = [n for v, n in vals if v <= 4]
            out.append(f"- within 60 s, {br}: tightness <= 4 on {len(ok)} of {len(vals)} networks ({', '.join(ok) or '-'}).")
    best = []
    for r in rows:
        ts = [(v, k[6:]) for k, v in r.items() if k.startswith("tight_") and k != "tight_box" and isinstance(v, float)]
        if ts:
            v, k = min(ts)
            best.append(f"{r['network']} {v:.3g} ({k}; 1 box {r['tight_box']:.3g})")
    if best:
        out.append("- best tightness reached (any budget measured): " + "; ".join(best) + ".")
    return out


def _is_int(key: str) -> bool:
    return key in ("params", "cert_leaves") or key.startswith(("analyses_", "leaves_"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--networks", type=Path, default=DEFAULT_NETWORKS)
    ap.add_argument("--only", nargs="*", default=NETWORKS)
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--budgets", type=int, nargs="*", default=[64, 256, 1024])
    ap.add_argument("--strong-max", type=int, default=256, help="largest budget run with strong branching")
    ap.add_argument("--cap", type=float, default=600.0, help="wall-clock cap per run (s; reported when hit)")
    ap.add_argument("--cert-leaves", type=int, default=64)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--note", default="", help="a line about the machine's load")
    ap.add_argument("--merge", type=Path, nargs="*", help="only merge the bnb.csv of these folders (runs made side by "
                    "side) into --out, in the order of --only")
    ap.add_argument("--probe", action="store_true", help="only print how tight small centred boxes are (--only)")
    args = ap.parse_args()
    if args.probe:
        for name in args.only:
            print("\n".join(probe(args.networks / f"{name}.json")), flush=True)
        return 0
    notes = [
        "`python benchmarks/bnb.py` -- designs and observations as in tightness.md / differential.md (uniform "
        f"fixed<I+16,I>, exact accumulators, truncation, wrap, real inputs; observed: >= {args.samples} random inputs "
        "+ corners + error-maximising search). Every box: symbolic ranges + differential errors (the default). "
        "Goal tighten (use the whole budget).",
        "smear: bisect the worst box along the input of largest sensitivity x width; strong: try the 3 inputs of "
        "largest smear (6 box analyses per bisection), keep the one whose worse half is smallest. Budgets are leaf "
        f"counts; strong is run up to {args.strong_max} leaves; each run also stops at a {args.cap:.0f} s wall-clock "
        "cap (then the larger budgets are missing, '-').",
        "@60 s: the best (anytime) bound reached within 60 s of wall time, the issue's time target.",
    ] + ([args.note] if args.note else [])
    if args.merge:
        rows = [r for d in args.merge for r in read_csv(d / "bnb.csv", _is_int)]
        rows.sort(key=lambda r: args.only.index(r["network"]) if r["network"] in args.only else len(args.only))
        write_results(rows, args.out, notes, args.budgets)
        return 0
    rows = []
    for name in args.only:
        p = args.networks / f"{name}.json"
        t = time.time()
        try:
            row = run_one(p, args.samples, args.budgets, args.strong_max, args.cap, args.cert_leaves)
        except AssertionError as e:
            print(e, file=sys.stderr)
            return 1
        rows.append(row)
        print(f"{name}: observed {row['observed']:.3g}; " + ", ".join(
            f"{k[6:]} {v:.3g}" for k, v in row.items() if k.startswith("tight_")) + f" ({time.time() - t:.0f} s)", flush=True)
        write_results(rows, args.out, notes, args.budgets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
