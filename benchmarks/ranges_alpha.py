"""Output range widths with optimized lower ReLU slopes (issue 12 item 2).

Per network (deep ReLU controllers, both ACAS Xu, ...), the width of the
certified output range (max over outputs of hi - lo) with

  interval   interval propagation
  sym01      symbolic ranges with DeepPoly's 0|1 lower slopes (`alpha_iters=0`, the rule before)
  alpha      symbolic ranges with optimized lower slopes per (target neuron, side), 50 steps (the default)
  alpha200   the same with 200 steps
  aCROWN     alpha-CROWN (auto_LiRPA, float, reference only): the widths recorded in issue 12, see the notes
  sampled    max - min of the float network over 100,000 random inputs + the box corners (a lower bound)

plus the float-only ablation that chose the alpha granularity (one alpha per (target layer,
earlier neuron) vs per (target neuron, side, earlier neuron)), the analysis time, the
certificate size, and the effect on the certified error bounds: the design and observation
conventions of benchmarks/tightness.py / differential.py (uniform fixed<I+16,I>, exact
accumulators, truncation, wrap, real inputs; observed = worst error of >= 10,000 random
inputs + corners + error-maximising search, bit-exact simulator), with first-order (FO) and
differential (DIFF, the default) errors on sym01 and alpha ranges. An observation above a
certified bound is a soundness bug: the script exits 1.

    python benchmarks/ranges_alpha.py [--only NAME ...] [--samples 10000]

Writes benchmarks/results/ranges.md and ranges.csv.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from tightness import design_for, markdown_table, network_parser, record_bounds, write_csv  # noqa: E402
from verifq.analysis import alpha as A  # noqa: E402
from verifq.analysis.box import network_input_box  # noqa: E402
from verifq.analysis.prove import analyse  # noqa: E402
from verifq.analysis.ranges import compute_ranges  # noqa: E402
from verifq.analysis.search import observe  # noqa: E402
from verifq.analysis.wide import without_error_requirement, without_limits  # noqa: E402
from verifq.certificate.writer import build_certificate, dumps  # noqa: E402
from verifq.language.benchmark import problem_from_benchmark  # noqa: E402
from verifq.numeric import scaled  # noqa: E402

NETWORKS = ["aster_ACC3NN", "aster_ACC5NN", "aster_ACC7NN", "archcomp22_acc_relu_5x20", "archcomp19_acc_relu_3x20",
            "acasxu_run2a_1_1", "acasxu_run2a_2_1", "aster_MpcNN", "aster_UnicycleNN", "archcomp22_vcas_pra01_relu_5x20",
            "archcomp19_cartpole_relu_24_48_12", "vnncomp21_mnistfc_256x2"]
# alpha-CROWN (auto_LiRPA, CROWN-Optimized) output widths recorded in issue 12 (auto_LiRPA does not install here)
ACROWN = {"aster_ACC7NN": 979.0, "archcomp22_acc_relu_5x20": 0.2834}
RANGES = {"interval": ("interval", 0), "sym01": ("symbolic", 0), "alpha": ("symbolic", 50), "alpha200": ("symbolic", 200)}


def _width(r) -> float:
    L = r.layers[-1]
    return max(scaled.to_float(h - l) for l, h in zip(L.pre_lo, L.pre_hi))


def sampled_width(net, box, n: int = 100_000, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    lo = np.array([float(a) for a, _ in box])
    hi = np.array([float(b) for _, b in box])
    x = lo + (hi - lo) * rng.random((n, len(lo)))
    if len(lo) <= 12:
        corners = np.array(np.meshgrid(*[[a, b] for a, b in zip(lo, hi)])).reshape(len(lo), -1).T
        x = np.vstack([x, corners])
    y = net.forward_float(x)
    return float((y.max(axis=0) - y.min(axis=0)).max())


def float_granularity(net, box, iters: int = 50) -> dict:
    """Float-only output widths (no interval intersection) with one alpha per (target layer, earlier
    neuron) ("shared") vs per (target neuron, side, earlier neuron) ("per-row"): the ablation behind
    the choice in alpha.py."""
    W = [np.array([[float(w) for w in row] for row in l.weights]) for l in net.layers]
    B = [np.array([float(b) for b in l.bias]) for l in net.layers]
    xl = np.array([float(a) for a, _ in box])
    xh = np.array([float(b) for _, b in box])
    out = {}
    for mode in ("shared", "per-row"):
        lo = [np.clip(W[0], 0, None) @ xl + np.clip(W[0], None, 0) @ xh + B[0]]
        hi = [np.clip(W[0], 0, None) @ xh + np.clip(W[0], None, 0) @ xl + B[0]]
        lines = []
        for t in range(1, len(W)):
            lines.append(A._lines(net.layers[t - 1].activation.value, lo[-1], hi[-1], None))
            al = A.optimise_alphas(W[:t + 1], B[:t + 1], lines, xl, xh, iters, shared=(mode == "shared"))
            bd, _ = A._bound(np.concatenate([W[t], -W[t]]), np.concatenate([B[t], -B[t]]), W[:t], B[:t], lines, al,
                             xl, xh, False)
            n = len(B[t])
            lo.append(-bd[n:])
            hi.append(bd[:n])
        out[mode] = float((hi[-1] - lo[-1]).max())
    return out


def run_one(name: str, networks: Path, samples: int) -> dict:
    problem = without_error_requirement(without_limits(problem_from_benchmark(networks / f"{name}.json")))
    net = problem.network
    box = network_input_box(problem)
    row = {"network": name, "arch": net.architecture, "params": net.parameter_count}
    results = {}
    for k, (method, iters) in RANGES.items():
        t = time.time()
        results[k] = compute_ranges(net, box, method, alpha_iters=iters)
        row[f"time_{k}"] = time.time() - t
        row[f"width_{k}"] = _width(results[k])
    row["width_sampled"] = sampled_width(net, box)
    if name in ACROWN:
        row["width_aCROWN"] = ACROWN[name]
    if all(l.activation.value in ("relu", "linear") for l in net.layers):
        g = float_granularity(net, box)
        row["float_shared"], row["float_per_row"] = g["shared"], g["per-row"]
    row["alphas"] = sum(len(e) for h in results["alpha"].hints for side in h.relu_alpha.values()
                        for per_k in side.values() for e in per_k.values())
    design, _ = design_for(problem)
    row["format"] = str(design.layers[0].weight[0])
    analyses = {}
    for k, rng in (("sym01", "sym01"), ("alpha", "alpha")):
        for em, tag in (("first_order", "FO"), ("differential", "DIFF")):
            t = time.time()
            # the ranges of the design's representable box (analyse computes them with the given alpha_iters)
            a = analyse(problem, design, error_method=em, alpha_iters=RANGES[rng][1])
            row[f"time_{k}+{tag}"] = time.time() - t
            if not a.proved:
                raise RuntimeError(f"{name}: {k}+{tag} does not prove the design: {a.violations[0].describe()}")
            analyses[f"{k}+{tag}"] = a
    for k in ("sym01+DIFF", "alpha+DIFF"):
        row[f"cert_kb_{k}"] = len(dumps(build_certificate(analyses[k]))) / 1000
    best = analyses["alpha+DIFF"]
    obs = observe(best.qnet, net, best.box, n_random=samples, seed=0)
    observed = list(obs.max_error)
    row["observed"] = max(observed)
    record_bounds(row, name, analyses, observed)
    return row


COLUMNS = [
    ("network", "network"), ("arch", "architecture"),
    ("width_interval", "interval"), ("width_sym01", "symbolic 0/1"), ("width_alpha", "symbolic+alpha (50)"),
    ("width_alpha200", "symbolic+alpha (200)"), ("width_aCROWN", "alpha-CROWN (issue)"), ("width_sampled", "sampled"),
    ("float_shared", "float, alpha per layer"), ("float_per_row", "float, alpha per row"),
    ("time_sym01", "t sym01 (s)"), ("time_alpha", "t alpha (s)"), ("time_alpha200", "t alpha200 (s)"),
    ("alphas", "alphas recorded"), ("cert_kb_sym01+DIFF", "cert kB 0/1"), ("cert_kb_alpha+DIFF", "cert kB alpha"),
]
ERR_COLUMNS = [
    ("network", "network"), ("format", "format"), ("observed", "observed"),
    ("bound_sym01+FO", "bound 0/1+FO"), ("bound_alpha+FO", "bound alpha+FO"),
    ("bound_sym01+DIFF", "bound 0/1+DIFF"), ("bound_alpha+DIFF", "bound alpha+DIFF"),
    ("tight_sym01+FO", "tight 0/1+FO"), ("tight_alpha+FO", "tight alpha+FO"),
    ("tight_sym01+DIFF", "tight 0/1+DIFF"), ("tight_alpha+DIFF", "tight alpha+DIFF"),
    ("time_sym01+DIFF", "t 0/1+DIFF (s)"), ("time_alpha+DIFF", "t alpha+DIFF (s)"),
]


def write_results(rows: list[dict], out_dir: Path, notes: list[str]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out_dir / "ranges.csv")
    lines = ["# Output range widths: optimized lower ReLU slopes (symbolic+alpha) vs 0/1, alpha-CROWN, sampled", ""]
    lines += notes + ["", "## Output range widths (max over outputs of hi - lo)", ""] + markdown_table(rows, COLUMNS)
    ratio = [r["width_sym01"] / r["width_alpha"] for r in rows if r["width_alpha"] > 0]
    lines += ["", f"- symbolic 0/1 / symbolic+alpha width: median {statistics.median(ratio):.3g}x, "
                  f"max {max(ratio):.3g}x, min {min(ratio):.3g}x."]
    for r in rows:
        if "width_aCROWN" in r:
            lines.append(f"- {r['network']}: symbolic+alpha {r['width_alpha']:.4g} vs alpha-CROWN {r['width_aCROWN']:.4g} "
                         f"({'at or below' if r['width_alpha'] <= r['width_aCROWN'] else 'ABOVE'}); "
                         f"200 steps {r['width_alpha200']:.4g}; sampled {r['width_sampled']:.4g}.")
    lines += ["", "## Certified error bounds and tightness (certified / observed)", ""] + markdown_table(rows, ERR_COLUMNS)
    for tag in ("FO", "DIFF"):
        imp = [r[f"bound_sym01+{tag}"] / r[f"bound_alpha+{tag}"] for r in rows if r[f"bound_alpha+{tag}"] > 0]
        lines.append(f"- bound 0/1+{tag} / alpha+{tag}: median {statistics.median(imp):.3g}x, max {max(imp):.3g}x, "
                     f"min {min(imp):.3g}x.")
    (out_dir / "ranges.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = network_parser(__doc__)
    ap.add_argument("--samples", type=int, default=10000)
    args = ap.parse_args()
    names = args.only or NETWORKS
    load = os.getloadavg()
    notes = [
        "Widths are of the certified (exact, outward-rounded) output ranges over the network's input domain; "
        "symbolic+alpha is `compute_ranges(..., alpha_iters=N)` (analysis/alpha.py; alphas on the 2^-16 grid, "
        "re-derived exactly, checked by `verifq check`); sampled = max - min of the float network over 100,000 "
        "random inputs + corners (a lower bound of the true width).",
        "alpha-CROWN: auto_LiRPA does not install here (PyPI has only auto_LiRPA 0.2/0.3, which need torch < 1.13 "
        "and numpy < 2; with torch 2.13 it fails to import), so the column holds the widths recorded in issue 12 "
        "(aster_ACC7NN 979, archcomp22_acc_relu_5x20 0.2834); other networks: not measured.",
        "float, alpha per layer / per row: float-only widths (no interval intersection, 50 steps) with one alpha per "
        "(target layer, earlier neuron) vs per (target neuron, side, earlier neuron); per row is what alpha.py uses.",
        f"Machine: 2 cores shared with 3 other jobs (load average at start {load[0]:.1f}, {load[1]:.1f}, "
        f"{load[2]:.1f}); times are wall clock under that load.",
    ]
    rows = []
    for name in names:
        try:
            row = run_one(name, args.networks, args.samples)
        except AssertionError as e:
            print(e, file=sys.stderr)
            return 1
        rows.append(row)
        print(f"{name}: width interval {row['width_interval']:.4g}, 0/1 {row['width_sym01']:.4g}, alpha "
              f"{row['width_alpha']:.4g}, sampled {row['width_sampled']:.4g}; tight DIFF {row['tight_sym01+DIFF']:.3g} -> "
              f"{row['tight_alpha+DIFF']:.3g}", flush=True)
        write_results(rows, args.out, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
