"""Tightness of the analysis (issue: tighter analysis): symbolic ranges with
the differential error rule (the default of `verifq prove`) and with
first-order error propagation (the default before it) side by side with
interval ranges and the l1 error rule, on every benchmark network. Every
analysis names its rules explicitly (a change of the default does not change
what a column means; the notes say which one is the default).

For each network: one uniform design fixed<I+16, I> (16 fractional bits for
inputs, weights, biases and outputs; I from the *interval* analysis, so the
same design has no overflow under both analyses), accumulators twice as
wide (fixed<2W, 2W-32>: exact accumulation), truncation, wrap, real inputs.
Reported: median output-range width (last layer pre-activation) of each
range method, the certified output error bound of each analysis, the worst
error observed by `verifq.analysis.search.observe` (>= 10,000 random inputs,
box corners, error-maximising local search; bit-exact simulator against the
real network), and the tightness = certified / observed. An observed error
above a certified bound is a soundness bug: the script then exits 1.

    python benchmarks/tightness.py [--networks DIR] [--only NAME ...] [--max-params N] [--samples N]

Writes benchmarks/results/tightness.md and tightness.csv.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from verifq.numeric import scaled  # noqa: E402
from verifq.analysis.methods import DEFAULT_ERROR_METHOD, DEFAULT_RANGE_METHOD  # noqa: E402
from verifq.analysis.prove import analyse  # noqa: E402
from verifq.analysis.search import observe  # noqa: E402
from verifq.analysis.wide import uniform_design, without_error_requirement, without_limits  # noqa: E402
from verifq.fixedpoint.format import Overflow, Rounding  # noqa: E402
from verifq.language.benchmark import problem_from_benchmark  # noqa: E402

DEFAULT_NETWORKS = HERE.parent.parent / "shared" / "benchmarks" / "networks"
FRAC = 16


def _int_bits(m: float) -> int:
    return max(1, math.ceil(math.log2(m + 1e-300)) + 1) if m > 0 else 1


def design_for(problem):
    """Uniform fixed<I+16, I>, accumulators fixed<2W, 2W-32>, I from the interval analysis."""
    net = problem.network
    probe = analyse(problem, uniform_design(net, 40, FRAC, 60, Rounding.TRUNCATE, Overflow.WRAP, False),
                    range_method="interval", error_method="l1_local")
    mags = [max(abs(scaled.to_float(v)) for v in (*probe.inputs.q_lo, *probe.inputs.q_hi))]
    for la in probe.layers:
        e = la.errors
        mags.append(max(abs(scaled.to_float(v)) for v in (*e.out_lo, *e.out_hi, *e.acc_lo, *e.acc_hi)))
    for layer in net.layers:
        mags.append(max(abs(float(w)) for row in layer.weights for w in row))
        mags.append(max(abs(float(b)) for b in layer.bias))
    i_bits = _int_bits(max(mags))
    for _ in range(6):
        w = i_bits + FRAC
        d = uniform_design(net, i_bits, FRAC, 2 * w - 2 * FRAC, Rounding.TRUNCATE, Overflow.WRAP, False)
        a = analyse(problem, d, range_method="interval", error_method="l1_local")
        if a.proved:
            return d, a
        i_bits += 1
    raise RuntimeError(f"{net.name}: no overflow-free uniform design found")


KINDS = ["int+l1", "sym+l1", "sym+FO", "sym+DIFF", "milp+DIFF", "split+DIFF"]
DEFAULT_KIND = "sym+DIFF"  # the rules `verifq prove` uses by default (checked in main)
ALWAYS = {"int+l1", "sym+FO", DEFAULT_KIND}


def _analyses(problem, design, split_leaves: int, split_time: float, milp_hidden: int, kinds=KINDS):
    from verifq.analysis.split import analyse_split

    net = problem.network
    hidden = sum(l.n_out for l in net.layers[:-1])
    relu_hidden = all(l.activation.value in ("relu", "linear") for l in net.layers[:-1])
    runs = {
        "int+l1": lambda: analyse(problem, design, range_method="interval", error_method="l1_local"),
        "sym+l1": lambda: analyse(problem, design, range_method="symbolic", error_method="l1_local"),
        "sym+FO": lambda: analyse(problem, design, range_method="symbolic", error_method="first_order"),
        "sym+DIFF": lambda: analyse(problem, design, range_method="symbolic", error_method="differential"),
        "split+DIFF": lambda: analyse_split(problem, design, split_leaves, goal="tighten", time_budget=split_time,
                                            range_method="symbolic", error_method="differential"),
    }
    if relu_hidden and 0 < hidden <= milp_hidden and len(net.layers) > 1:
        runs["milp+DIFF"] = lambda: analyse(problem, design, range_method="milp", error_method="differential")
    out, times = {}, {}
    for k in KINDS:
        if k not in runs or k not in kinds:
            continue
        t = time.time()
        out[k] = runs[k]()
        times[k] = time.time() - t
    return out, times


def record_bounds(row: dict, name: str, analyses: dict, observed: list[float]) -> None:
    """Per analysis: every output's certified bound against the worst observed error (an observation
    above a bound is a soundness failure), then the largest and median bound and the tightness."""
    for k, a in analyses.items():
        bounds = [float(b) for b in a.output_errors]
        for o, (b, e) in enumerate(zip(bounds, observed)):
            if e > b * (1 + 1e-9):
                raise AssertionError(f"SOUNDNESS: {name} output {o}: observed {e} > certified {b} ({k})")
        row[f"bound_{k}"] = max(bounds)
        row[f"median_bound_{k}"] = statistics.median(bounds)
        ratios = [b / e for b, e in zip(bounds, observed) if e > 0]
        if ratios:
            row[f"tight_{k}"] = max(ratios)
        else:  # nothing observed: exact (1) when the certified bound is 0 too
            row[f"tight_{k}"] = 1.0 if all(b == 0 for b in bounds) else float("inf")


def run_one(path: Path, samples: int, split_leaves: int, split_time: float, milp_hidden: int, seed: int = 0,
            kinds=KINDS) -> dict:
    problem = without_error_requirement(without_limits(problem_from_benchmark(path)))
    net = problem.network
    design, _ = design_for(problem)
    row = {"network": path.stem, "arch": net.architecture, "hidden": len(net.layers) - 1,
           "acts": "/".join(sorted({l.activation.value for l in net.layers})), "params": net.parameter_count,
           "format": str(design.layers[0].weight[0]), "accum": str(design.layers[0].accum[0])}
    analyses, times = _analyses(problem, design, split_leaves, split_time, milp_hidden, kinds)
    for k, a in analyses.items():
        row[f"time_{k}"] = times[k]
        if not a.proved:
            raise RuntimeError(f"{path.stem}: {k} does not prove the design: {a.violations[0].describe()}")
    if "split+DIFF" in analyses:
        row["leaves"] = len(analyses["split+DIFF"].leaves) or 1
        row["split_budget"] = f"{split_leaves} / {split_time:.0f} s"
    for k in ("int+l1", "sym+l1", "milp+DIFF"):
        if k not in analyses:
            continue
        last = analyses[k].layers[-1].ranges
        row[f"width_{k}"] = statistics.median(scaled.to_float(h - l) for l, h in zip(last.pre_lo, last.pre_hi))
    best = analyses[DEFAULT_KIND]
    t = time.time()
    obs = observe(best.qnet, net, best.box, n_random=samples, seed=seed)
    row["time_observe"] = time.time() - t
    row["samples"] = obs.n_inputs
    observed = list(obs.max_error)
    row["observed"] = max(observed)
    record_bounds(row, path.stem, analyses, observed)
    base = row["median_bound_int+l1"]
    for k in ("sym+FO", "sym+DIFF", "split+DIFF", "milp+DIFF"):
        if f"median_bound_{k}" in row:
            mb = row[f"median_bound_{k}"]
            row[f"improvement_{k}"] = base / mb if mb > 0 else float("nan")
    return row


COLUMNS = [
    ("network", "network"), ("arch", "architecture"), ("acts", "act"), ("format", "format"),
    ("width_int+l1", "out width int"), ("width_sym+l1", "out width sym"), ("width_milp+DIFF", "out width milp"),
    ("bound_int+l1", "bound int+l1"), ("bound_sym+l1", "bound sym+l1"), ("bound_sym+FO", "bound sym+FO"),
    ("bound_sym+DIFF", "bound sym+DIFF (default)"),
    ("bound_milp+DIFF", "bound milp+DIFF"), ("bound_split+DIFF", "bound split+DIFF"), ("leaves", "leaves"),
    ("split_budget", "split budget (leaves / time)"),
    ("observed", "observed"),
    ("improvement_sym+DIFF", "int+l1 / sym+DIFF"), ("improvement_split+DIFF", "int+l1 / split+DIFF"),
    ("tight_int+l1", "tight int+l1"), ("tight_sym+FO", "tight sym+FO"), ("tight_sym+DIFF", "tight sym+DIFF (default)"),
    ("tight_milp+DIFF", "tight milp+DIFF"), ("tight_split+DIFF", "tight split+DIFF"),
    ("time_sym+FO", "t sym+FO (s)"), ("time_sym+DIFF", "t sym+DIFF (s)"), ("time_milp+DIFF", "t milp (s)"),
    ("time_split+DIFF", "t split (s)"),
]


def fmt_cell(v) -> str:
    """A results-table cell: 3 significant digits, "-" for a missing (NaN) value."""
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    return str(v)


def markdown_table(rows: list[dict], cols) -> list[str]:
    """Lines of a Markdown table; cols: (row key, header) pairs."""
    out = ["| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
    return out + ["| " + " | ".join(fmt_cell(r.get(k, float("nan"))) for k, _ in cols) + " |" for r in rows]


def write_csv(rows: list[dict], path: Path) -> None:
    """Every row, with the union of their keys as columns (sorted)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=sorted({k for r in rows for k in r}))
        w.writeheader()
        for r in rows:
            w.writerow(r)


def write_results(rows: list[dict], out_dir: Path, notes: list[str]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out_dir / "tightness.csv")
    lines = ["# Tightness: symbolic ranges + the differential rule (the default) and first-order errors vs interval + l1", ""]
    lines += notes + [""]
    lines += markdown_table(rows, COLUMNS)
    lines.append("")
    def med(vals):
        vals = [v for v in vals if v == v]
        return statistics.median(vals) if vals else float("nan")

    def has(r, key):
        v = r.get(key)
        return isinstance(v, (int, float)) and v == v

    deep = [r for r in rows if r["hidden"] >= 3]
    if deep:
        for k in ("sym+FO", DEFAULT_KIND, "split+DIFF"):
            vals = [r[f"improvement_{k}"] for r in deep if has(r, f"improvement_{k}")]
            if vals:
                lines.append(f"- Median improvement of the certified error bound, int+l1 / {k}, on the {len(vals)} "
                             f"networks with 3+ hidden layers: **{med(vals):.1f}x** (per network: median over outputs).")
    for k in ("sym+FO", DEFAULT_KIND):
        vals = [r[f"improvement_{k}"] for r in rows if has(r, f"improvement_{k}")]
        if vals:
            lines.append(f"- Median improvement int+l1 / {k} over all {len(vals)} networks: {med(vals):.1f}x.")
    relu = [r for r in rows if r["acts"] in ("linear/relu", "relu")]
    for k in ("sym+FO", DEFAULT_KIND, "split+DIFF"):
        ts = [r[f"tight_{k}"] for r in relu if has(r, f"tight_{k}")]
        if ts:
            lines.append(f"- Tightness (certified / worst observed) of {k} on the {len(ts)} ReLU networks: "
                         f"median {med(ts):.2f}, max {max(ts):.3g}; {sum(t <= 4 for t in ts)} of {len(ts)} are <= 4.")
    smooth = [r for r in rows if r not in relu]
    for k in ("sym+FO", DEFAULT_KIND, "split+DIFF"):
        ts = [r[f"tight_{k}"] for r in smooth if has(r, f"tight_{k}")]
        if ts:
            lines.append(f"- Tightness of {k} on the {len(ts)} networks with tanh/sigmoid: median {med(ts):.2f}, max {max(ts):.3g}.")
    (out_dir / "tightness.md").write_text("\n".join(lines) + "\n")


def read_csv(path: Path, is_int=lambda key: key in ("hidden", "params", "leaves", "samples"), skip=()) -> list[dict]:
    """The rows write_csv wrote (but those of networks in `skip`): empty cells dropped, numbers parsed
    (int where is_int(column)), anything else kept as text."""
    out = []
    with open(path) as f:
        for r in csv.DictReader(f):
            if r["network"] in skip:
                continue
            row = {}
            for k, v in r.items():
                if v == "":
                    continue
                try:
                    row[k] = int(v) if is_int(k) else float(v)
                except ValueError:
                    row[k] = v
            out.append(row)
    return out


def network_parser(doc: str) -> argparse.ArgumentParser:
    """The options every benchmark over the shared networks takes: --networks, --only, --out."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--networks", type=Path, default=DEFAULT_NETWORKS)
    ap.add_argument("--only", nargs="*", help="network names (file stems)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    return ap


def main() -> int:
    ap = network_parser(__doc__)
    ap.add_argument("--max-params", type=int, default=50000)
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--split-leaves", type=int, default=256, help="input-splitting budget per network (leaves)")
    ap.add_argument("--split-time", type=float, default=60.0, help="input-splitting time budget per network (s)")
    ap.add_argument("--milp-hidden", type=int, default=64, help="MILP ranges for ReLU networks with at most this many hidden neurons")
    ap.add_argument("--kinds", nargs="*", default=KINDS, help=f"analyses to run ({', '.join(sorted(ALWAYS))} always): {KINDS}")
    ap.add_argument("--append", action="store_true", help="merge into an existing tightness.csv (same --out) instead of replacing it")
    ap.add_argument("--bits", action="store_true",
                    help="instead: smallest uniform-F designs at 1e-3 / 1e-5 per analysis (Aster networks) -> tightness_bits.md")
    ap.add_argument("--bit-methods", nargs="*", default=list(BIT_METHODS), help="analyses compared by --bits")
    args = ap.parse_args()
    if (str(DEFAULT_RANGE_METHOD), str(DEFAULT_ERROR_METHOD)) != ("symbolic", "differential"):
        print(f"the default analysis is {DEFAULT_RANGE_METHOD} + {DEFAULT_ERROR_METHOD}: update DEFAULT_KIND", file=sys.stderr)
        return 2
    paths = sorted(args.networks.glob("*.json"))
    if args.only:
        paths = [p for p in paths if p.stem in args.only]
    if args.bits:
        args.out.mkdir(parents=True, exist_ok=True)
        bits_table([p for p in paths if p.stem.startswith("aster_") or args.only], args.out, methods=args.bit_methods)
        return 0
    rows, skipped = [], []
    for p in paths:
        problem = without_limits(problem_from_benchmark(p))
        if problem.network.parameter_count > args.max_params:
            skipped.append(f"{p.stem} ({problem.network.parameter_count} parameters > --max-params)")
            continue
        t = time.time()
        try:
            r = run_one(p, args.samples, args.split_leaves, args.split_time, args.milp_hidden,
                        kinds=set(args.kinds) | ALWAYS)
        except AssertionError as exc:
            print(exc, file=sys.stderr)
            return 1
        rows.append(r)
        nan = float("nan")
        print(f"{p.stem:50s} int+l1 {r['bound_int+l1']:.3e}  sym+FO {r['bound_sym+FO']:.3e}  sym+DIFF {r['bound_sym+DIFF']:.3e}  "
              f"split {r.get('bound_split+DIFF', nan):.3e}  milp {r.get('bound_milp+DIFF', nan):.3e}  obs {r['observed']:.3e}  "
              f"tight {r['tight_sym+DIFF']:.2f} / {r.get('tight_split+DIFF', nan):.2f}  ({time.time() - t:.0f}s)", flush=True)
    notes = [
        f"Design per network: uniform fixed<I+{FRAC},I> (inputs real, rounded; weights, biases, outputs), "
        f"accumulators fixed<2W,2W-{2 * FRAC}> (exact accumulation), truncation, wrap; I from the interval analysis.",
        f"Observed: worst |quantized - real| over >= {args.samples} random inputs + corners + error-maximising search.",
        "Bounds are the largest certified output bound; tightness = max over outputs of certified / observed. "
        "0 observations above a certified bound (every output, every analysis; the script stops with exit 1 otherwise).",
        "Methods: int+l1 = interval ranges + l1 error rule (the baseline); sym+l1 = symbolic (DeepPoly) ranges + l1; "
        "sym+FO = symbolic ranges + first-order error propagation (the default of `verifq prove` before the differential "
        "rule); **sym+DIFF = symbolic ranges + the differential rule (symbolic bounds on q(x) - f(x), intersected with "
        "first-order; `verifq/analysis/differential.py`), the default of `verifq prove` and `analyse`**; "
        "milp+DIFF = MILP ranges (verified, small ReLU networks) + the differential rule; split+DIFF = sym+DIFF on an "
        "adaptive partition of the input box (`analyse(..., split=N)`; budget per row in the table, leaves / seconds; "
        "the time budget makes the leaf count depend on the machine's load).",
    ]
    notes.append("Until the differential rule became the default (2026-12-01) this table's default column was sym+FO and "
                 "its MILP and split columns used first-order errors (milp+FO, split+FO): that version is in the git history "
                 "of this file; differential.md compares both rules on the same designs.")
    notes.append("Symbolic ranges use optimized lower ReLU slopes (alpha.py, ranges.md) and the differential rule, on "
                 "whole boxes, its own per-row lower slopes (diff_alpha.py, diff_alpha.md), both the default since "
                 "2026-12-01; split leaves keep the differential rule's 0/1 lines (twice cheaper per leaf, so more leaves "
                 "in a time budget). Float steps slow down when numpy's BLAS threads compete for the 2 cores (ranges_notes.md).")
    if skipped:
        notes.append("Skipped: " + ", ".join(skipped))
    if args.append and (args.out / "tightness.csv").exists():
        rows = read_csv(args.out / "tightness.csv", skip={r["network"] for r in rows}) + rows
        if not skipped:  # the merged table's networks over --max-params (not only this run's)
            import json
            for q in sorted(args.networks.glob("*.json")):
                n = json.loads(q.read_text()).get("parameter_count", 0)
                if n > args.max_params:
                    skipped.append(f"{q.stem} ({n} parameters > --max-params)")
            if skipped:
                notes.append("Skipped: " + ", ".join(skipped))
        rows.sort(key=lambda r: r["network"])
    write_results(rows, args.out, notes)
    return 0



# ----------------------------------------------------------------------------- bits: smallest uniform-F designs


def _signed_i(lo: float, hi: float, frac: int) -> int:
    """Smallest I with -2^(I-1) <= lo and hi <= 2^(I-1) - 2^-frac."""
    i = -frac + 1
    while not (-(2.0 ** (i - 1)) <= lo and hi <= 2.0 ** (i - 1) - 2.0 ** -frac):
        i += 1
    return i


def per_layer_design(problem, frac: int, methods: dict):
    """Uniform F everywhere (accumulators 2F: exact), integer bits per layer and role from the
    ranges the given analysis certifies (widened by its error bounds)."""
    from verifq.fixedpoint.design import Design, LayerFormats
    from verifq.fixedpoint.format import FixedFormat

    net = problem.network
    probe = analyse(problem, uniform_design(net, 40, frac, 80, Rounding.TRUNCATE, Overflow.WRAP, False), **methods)
    f = lambda v: scaled.to_float(v)  # noqa: E731
    in_lo = min(f(v) for v in probe.inputs.q_lo)
    in_hi = max(f(v) for v in probe.inputs.q_hi)
    slack = 1.0 + 1e-9
    inputs = (FixedFormat(_signed_i(in_lo * slack, in_hi * slack, frac) + frac, _signed_i(in_lo * slack, in_hi * slack, frac)),) * net.n_inputs
    layers = []
    for la, layer in zip(probe.layers, net.layers):
        e = la.errors
        wmax = max(abs(float(w)) for row in layer.weights for w in row) * slack + 2.0 ** -frac
        bmax = max(abs(float(b)) for b in layer.bias) * slack + 2.0 ** -frac
        iw, ib = _signed_i(-wmax, wmax, frac), _signed_i(-bmax, bmax, frac)
        io = _signed_i(min(f(v) for v in e.out_lo) * slack, max(f(v) for v in e.out_hi) * slack, frac)
        ia = _signed_i(min(f(v) for v in e.acc_lo) * slack, max(f(v) for v in e.acc_hi) * slack, 2 * frac)
        layers.append(LayerFormats.uniform(layer.n_out, FixedFormat(iw + frac, iw), FixedFormat(ib + frac, ib),
                                           FixedFormat(ia + 2 * frac, ia), FixedFormat(io + frac, io)))
    return Design(inputs, tuple(layers), Rounding.TRUNCATE, Overflow.WRAP, False)


def smallest_design(problem, eps, methods: dict, f_lo: int = 2, f_hi: int = 48):
    """(F, design, analysis) of the smallest F whose per-layer design proves |error| <= eps."""
    from dataclasses import replace
    from fractions import Fraction

    from verifq.synthesis.cost import design_costs

    p = replace(problem, max_error=(Fraction(eps),) * problem.network.n_outputs)
    for frac in range(f_lo, f_hi + 1):
        try:
            d = per_layer_design(p, frac, methods)
        except Exception:  # noqa: BLE001 - a probe that cannot be built at this F
            continue
        a = analyse(p, d, **methods)
        if a.proved:
            return frac, d, design_costs(problem.network, d).total_bits
    return None, None, None


BIT_METHODS = {"int+l1": {"range_method": "interval", "error_method": "l1_local"},
               "sym+FO": {"range_method": "symbolic", "error_method": "first_order"},
               "split+FO": {"split": 32, "error_method": "first_order"}}


def bits_table(paths, out_dir: Path, epsilons=(1e-3, 1e-5), methods=tuple(BIT_METHODS)) -> None:
    rows = []
    for p in paths:
        problem = without_error_requirement(without_limits(problem_from_benchmark(p)))
        row = {"network": p.stem, "arch": problem.network.architecture}
        for eps in epsilons:
            start = 2
            for k, m in BIT_METHODS.items():
                if k not in methods:
                    continue
                t = time.time()
                frac, _, bits = smallest_design(problem, eps, m, f_lo=start)
                if frac is not None:
                    start = max(2, frac - 6)  # tighter methods never need more bits: scan from a little below
                row[f"F_{k}_{eps:g}"] = frac
                row[f"bits_{k}_{eps:g}"] = bits
                row[f"time_{k}_{eps:g}"] = time.time() - t
        rows.append(row)
        print(p.stem, {k: v for k, v in row.items() if k.startswith(("F_", "bits_"))}, flush=True)
    write_csv(rows, out_dir / "tightness_bits.csv")
    lines = ["# Bits: smallest uniform-F design that each analysis proves", "",
             "Per network and bound eps: the smallest F (fractional bits of inputs, weights, biases and outputs; "
             "accumulators 2F, exact) such that the per-layer design (integer bits per layer and role from the "
             "ranges the analysis certifies, widened by its error bounds) is proved; total bits = sum of the "
             "widths of every stored value (Aster's metric, `verifq.synthesis.cost`). Truncation, wrap, real inputs.",
             f"Analyses compared: {', '.join(methods)} (`--bit-methods`; a `-` column was not run).", ""]
    head = ["network", "architecture"]
    for eps in epsilons:
        head += [f"F int+l1 {eps:g}", f"F sym+FO {eps:g}", f"F split+FO {eps:g}", f"bits int+l1 {eps:g}",
                 f"bits sym+FO {eps:g}", f"bits split+FO {eps:g}", f"saved sym / split {eps:g}"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for r in rows:
        cells = [r["network"], r["arch"]]
        for eps in epsilons:
            bi, bs, bp = (r.get(f"bits_{k}_{eps:g}") for k in ("int+l1", "sym+FO", "split+FO"))
            sv = lambda b: f"{100 * (bi - b) / bi:.1f}%" if bi and b else "-"  # noqa: E731
            cells += [str(r.get(f"F_int+l1_{eps:g}", "-")), str(r.get(f"F_sym+FO_{eps:g}", "-")), str(r.get(f"F_split+FO_{eps:g}", "-")),
                      str(bi or "-"), str(bs or "-"), str(bp or "-"), f"{sv(bs)} / {sv(bp)}"]
        lines.append("| " + " | ".join(cells) + " |")
    for eps in epsilons:
        for k in ("sym+FO", "split+FO"):
            pairs = [(r.get(f"bits_int+l1_{eps:g}"), r.get(f"bits_{k}_{eps:g}")) for r in rows]
            pairs = [(a, b) for a, b in pairs if a and b]
            if pairs:
                tot_i, tot_s = sum(a for a, _ in pairs), sum(b for _, b in pairs)
                lines.append(f"\nAt {eps:g}: total bits over {len(pairs)} networks {tot_i} (int+l1) vs {tot_s} ({k}): "
                             f"{100 * (tot_i - tot_s) / tot_i:.1f}% fewer.")
    (out_dir / "tightness_bits.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
