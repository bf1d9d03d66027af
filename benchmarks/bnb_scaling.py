"""What tightness <= 4 on aster_ACC7NN and ACAS Xu would take (issue 12): three measurements, and
(--within S) the tightness every network reaches in S seconds.

1. **Leaves against the bound.** The default input-split branch and bound (smear,
   goal tighten) on `--jobs` processes: the combined error bound, the box analyses
   and the wall-clock time at every power of two of leaves, up to `--leaves`.
2. **ReLU splits without constraint optimisation.** A neuron split fixes one
   unstable ReLU of the real network active (its pre-activation lower bound
   becomes 0) or inactive (upper bound 0) and re-analyses the whole box: sound for
   the inputs of that branch, and the two branches cover the box. Best-first, the
   worst leaf's unstable neuron of largest relaxation area -l*u/(u-l) is split.
   Compared with input splits at the same number of leaves. (beta-CROWN also
   optimises the split constraints' multipliers; this probe does not.)
3. **Is the observed error the loose side?** The error-maximising search
   (`search.observe`) run inside the leaves with the largest certified bounds,
   against the worst error observed on the whole domain.

Designs as in tightness.md (uniform fixed<I+16,I>, exact accumulators, truncation,
wrap, real inputs). Writes benchmarks/results/bnb_scaling.md.

    python benchmarks/bnb_scaling.py [--only aster_ACC7NN] [--leaves 4096 ...] [--jobs 2] [--relu-leaves 64]
    python benchmarks/bnb_scaling.py --within 60 --only NAME ...   (measurement 0: bnb_within.md)
"""

from __future__ import annotations

import argparse
import heapq
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from tightness import DEFAULT_NETWORKS, design_for  # noqa: E402
from verifq.analysis.box import analyse_box, network_input_box, representable_box  # noqa: E402
from verifq.analysis.intervals import LayerRanges, exact_layers, input_box_scaled  # noqa: E402
from verifq.analysis.search import observe  # noqa: E402
from verifq.analysis.split import analyse_split  # noqa: E402
from verifq.analysis.symbolic import symbolic_ranges  # noqa: E402
from verifq.analysis.wide import without_error_requirement, without_limits  # noqa: E402
from verifq.engine import make_engine  # noqa: E402
from verifq.language.benchmark import problem_from_benchmark  # noqa: E402
from verifq.network.ir import Activation  # noqa: E402
from verifq.numeric import scaled  # noqa: E402

_FREE = 1 << 600  # a pre-activation bound that constrains nothing (scaled units)


def _bound(a) -> float:
    return max(float(e) for e in a.output_errors)


def leaves_trace(problem, design, leaves: int, jobs: int) -> list[tuple[int, int, float, float]]:
    """[(leaves, box analyses, seconds, combined bound)] at every power of two of leaves."""
    rows, t0 = [], time.time()

    def obs(n, analyses, bounds):
        if n & (n - 1) == 0 and n >= 16:
            rows.append((n, analyses, time.time() - t0, max(float(b) for b in bounds)))
            print(f"  {n} leaves, {analyses} analyses, {rows[-1][2]:.1f} s: bound {rows[-1][3]:.4g}", flush=True)

    with make_engine(jobs=jobs) as engine:
        analyse_split(problem, design, leaves, goal="tighten", engine=engine, observer=obs)
    return rows


def relu_split(problem, design, leaves: int) -> tuple[float, float, int]:
    """Best-first ReLU splitting of the whole box to `leaves` leaves: (bound, seconds, box analyses)."""
    net = problem.network
    layers = exact_layers(net)
    box = representable_box(network_input_box(problem), design)
    x_lo, x_hi = input_box_scaled(box)

    def analyse(fixed_signs: dict):
        fixed = []
        for t, layer in enumerate(net.layers):
            n = len(layer.bias)
            lo = np.array([-_FREE] * n, dtype=object)
            hi = np.array([_FREE] * n, dtype=object)
            for (tt, j), sign in fixed_signs.items():
                if tt == t:
                    (lo if sign > 0 else hi)[j] = 0
            fixed.append(LayerRanges(lo, hi, lo, hi))
        rr = symbolic_ranges(net, layers, x_lo, x_hi, fixed=fixed, alpha_iters=0)
        return analyse_box(problem, design, range_result=rr, diff_iters=0)

    t0 = time.time()
    root = analyse({})
    heap, order, analyses = [(-_bound(root), 0, {}, root)], 1, 1
    while len(heap) < leaves:
        neg, _, signs, a = heapq.heappop(heap)
        best = None
        for t, la in enumerate(a.layers):
            if net.layers[t].activation is not Activation.RELU:
                continue
            for j, (lo, hi) in enumerate(zip(la.ranges.pre_lo, la.ranges.pre_hi)):
                if lo < 0 < hi and (t, j) not in signs:
                    l, u = scaled.to_float(lo), scaled.to_float(hi)
                    area = -l * u / (u - l)
                    if best is None or area > best[0]:
                        best = (area, (t, j))
        if best is None:
            heapq.heappush(heap, (neg, order, signs, a))
            break
        for sign in (1, -1):
            child_signs = {**signs, best[1]: sign}
            analyses += 1
            try:
                child = analyse(child_signs)
            except AssertionError:  # an empty branch: no input of the box takes it
                continue
            order += 1
            heapq.heappush(heap, (-_bound(child), order, child_signs, child))
    return max(-h[0] for h in heap), time.time() - t0, analyses


def worst_leaves_observed(problem, design, leaves: int, k: int) -> tuple[float, float, list[tuple[float, float]]]:
    """(whole-domain observed, combined bound, [(leaf bound, observed in the leaf)] for the k worst leaves)."""
    a = analyse_split(problem, design, leaves, goal="tighten")
    whole = max(observe(a.leaves[0].qnet, problem.network, a.box, n_random=10000, seed=0).max_error)
    worst = sorted(a.leaves, key=lambda leaf: -_bound(leaf))[:k]
    return whole, _bound(a), [(_bound(leaf), max(observe(leaf.qnet, problem.network, leaf.box, n_random=2000,
                                                         seed=0).max_error)) for leaf in worst]


def within(problem, design, seconds: float, jobs: int) -> tuple[int, int, list[float], list[float]]:
    """Input-split branch and bound for `seconds` of wall clock on `jobs` processes: (leaves, box analyses,
    bound per output, worst observed error per output on the whole domain)."""
    with make_engine(jobs=jobs) as engine:
        a = analyse_split(problem, design, 1 << 16, goal="tighten", engine=engine, time_budget=seconds)
    obs = observe(a.leaves[0].qnet, problem.network, a.box, n_random=10000, seed=0)
    return len(a.leaves), a.split_info["analyses"], [float(e) for e in a.output_errors], list(obs.max_error)


def within_table(args) -> int:
    """Measurement 0 (--within S): the tightness each network reaches in S seconds on --jobs processes."""
    lines = [f"# Tightness within {args.within:.0f} s of input-split branch and bound (`--jobs {args.jobs}`)", "",
             f"`python benchmarks/bnb_scaling.py --within {args.within:.0f} --only ...`: smear, goal tighten, "
             "stopped by the wall clock (so the leaf counts depend on the machine). Designs and observations as in "
             "tightness.md; tightness = max over outputs of certified / observed. " + args.note, "",
             "| network | leaves | box analyses | bound (max output) | observed (max output) | tightness | <= 4 |",
             "|---|---|---|---|---|---|---|"]
    for name in args.only:
        problem = without_error_requirement(without_limits(problem_from_benchmark(args.networks / f"{name}.json")))
        design, _ = design_for(problem)
        leaves, analyses, bounds, observed = within(problem, design, args.within, args.jobs)
        tight = max(b / o if o > 0 else (1.0 if b == 0 else float("inf")) for b, o in zip(bounds, observed))
        lines.append(f"| {name} | {leaves} | {analyses} | {max(bounds):.4g} | {max(observed):.4g} | {tight:.3g} | "
                     f"{'yes' if tight <= 4 else 'no'} |")
        print(lines[-1], flush=True)
        (args.out / "bnb_within.md").write_text("\n".join(lines) + "\n")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--networks", type=Path, default=DEFAULT_NETWORKS)
    ap.add_argument("--only", nargs="*", default=["aster_ACC7NN"])
    ap.add_argument("--leaves", type=int, nargs="*", default=[4096], help="input-split budget per network (--only order)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--relu-leaves", type=int, default=64)
    ap.add_argument("--worst", type=int, default=8, help="leaves searched in measurement 3")
    ap.add_argument("--observed", type=float, nargs="*", help="worst observed error per network (tightness.md); "
                    "default: measured here")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--note", default="")
    ap.add_argument("--within", type=float, help="only measurement 0: the tightness reached in this many seconds "
                    "(writes bnb_within.md)")
    args = ap.parse_args()
    if args.within:
        return within_table(args)
    lines = ["# What tightness <= 4 on the deep ReLU controllers would take", "",
             "`python benchmarks/bnb_scaling.py` (module docstring). Designs as in tightness.md. " + args.note, ""]
    for i, name in enumerate(args.only):
        problem = without_error_requirement(without_limits(problem_from_benchmark(args.networks / f"{name}.json")))
        design, _ = design_for(problem)
        print(name, flush=True)
        whole, bound128, worst = worst_leaves_observed(problem, design, 128, args.worst)
        observed = args.observed[i] if args.observed else whole
        lines += [f"## {name}", "", f"Worst observed error on the whole domain: {observed:.4g} (tightness <= 4 needs a "
                  f"bound <= {4 * observed:.4g}).", "",
                  f"1. Input splits, smear, `--jobs {args.jobs}` (tightness here: largest bound / largest observed; "
                  "tightness.md takes the largest ratio per output):", "",
                  "| leaves | box analyses | wall clock (s) | bound | tightness |", "|---|---|---|---|---|"]
        for n, analyses, secs, b in leaves_trace(problem, design, args.leaves[min(i, len(args.leaves) - 1)], args.jobs):
            lines.append(f"| {n} | {analyses} | {secs:.1f} | {b:.4g} | {b / observed:.3g} |")
        rb, rsecs, ran = relu_split(problem, design, args.relu_leaves)
        lines += ["", f"2. ReLU splits (no constraint optimisation), {args.relu_leaves} leaves: bound {rb:.4g} "
                  f"(tightness {rb / observed:.3g}), {ran} box analyses, {rsecs:.1f} s; compare the input-split row "
                  "of the same leaf count above.", "",
                  f"3. Search in the {len(worst)} leaves of largest bound (128 leaves, combined bound {bound128:.4g}): "
                  "leaf bound / worst error observed in the leaf: "
                  + ", ".join(f"{b:.3g} / {o:.3g}" for b, o in worst)
                  + f". Largest: {max(o for _, o in worst):.4g}, against {whole:.4g} on the whole domain.", ""]
        (args.out / "bnb_scaling.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
