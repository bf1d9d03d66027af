"""Synthesis benchmark: every network of the benchmark suite, bounds 1e-3 and
1e-5, four methods side by side, every result checked on the bit-exact
simulator.

    python benchmarks/synth.py                      # all networks -> benchmarks/results/synth.{csv,md}
    python benchmarks/synth.py --only aster_AC6 aster_ACC3NN
    python benchmarks/synth.py --report-only        # rebuild the Markdown from the CSV
    python benchmarks/synth.py --errors first_order  # the exact (re-)analysis with another error rule

The certified errors are the exact analysis's with `--errors` (default: the default of `verifq synth`,
verifq.analysis.methods.DEFAULT_ERROR_METHOD); each row records its rule (CSV column `errors`; rows
kept by --append from a run before that column existed have none). When results/synth_previous.csv
exists (an earlier full run, kept for comparison), the tables show its per-neuron bits next to the
new ones and the summary compares them.

Methods (same cost model: total bits):
  uniform   the smallest single format fixed<W,I> for every value (exact-analysis search)
  aster     Aster's per-layer scheme made sound (one fractional-bit count per layer for
            weights, bias, accumulator and output; products rounded; |W| propagation)
  layer     MILP, one format per role per layer (seeded with the uniform design)
  neuron    MILP, per-neuron formats (seeded with the per-layer design: its time excludes it)

Domains: the file's `input_domain` in network-input units (normalized for NNet
networks: the network is used without its input normalization); a null domain
is replaced by [-1, 1] per input (noted). tanh/sigmoid lookup tables: the settings of the network's
benchmark spec (specs/<name>.nnspec: hls4ml tables, synthesis may choose up to 65,536 entries), else
the defaults. Word length 32; where the per-neuron
run is infeasible at 32 bits the four methods are also run with 64-bit words.
Soundness: every feasible result is simulated bit-exactly (verifq.analysis.search.observe:
10,000 random inputs + the box corners (2^d, at most 1,024) + error-maximising local search); an observed
error above the certified bound is re-checked exactly and would abort the run.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import platform
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from verifq.analysis.methods import DEFAULT_ERROR_METHOD, ErrorMethod  # noqa: E402
from verifq.analysis.search import observe, simulated_error  # noqa: E402
from verifq.language import load_spec  # noqa: E402
from verifq.network.loaders import load_benchmark_json  # noqa: E402
from verifq.problem import Implementation, Problem  # noqa: E402
from verifq.synthesis import SynthOptions, synthesize  # noqa: E402

NETWORKS = Path("/work/shared/benchmarks/networks")
SPECS = ROOT / "specs"
TABLE_FIELDS = ("tables", "table_size", "table_rounding", "max_table_size")
FIELDS = [
    "network", "architecture", "parameters", "domain", "bound", "max_word", "method", "feasible",
    "total_bits", "weight_bits", "multiplier_area", "dsp", "certified_error", "achievable",
    "solver", "status", "gap", "source", "repairs", "exact_analyses", "wall_s",
    "observed_error", "tightness", "sim_inputs", "sim_overflow", "errors", "activations",
]
METHODS = ("uniform", "aster", "layer", "neuron")
BIG_NETWORK = 100_000  # parameters
BIG_WIDE_SAMPLES = 1000  # random inputs for designs wider than 31 bits on big networks (object-int simulation)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_problem(path: Path, bound: Fraction, max_word: int):
    net, meta = load_benchmark_json(path)
    net = dataclasses.replace(net, normalization=None)  # domains are in network-input units
    dom = meta.get("input_domain")
    note = "file"
    if dom is None:
        dom = [[-1, 1]] * net.n_inputs
        note = "[-1,1] (none given)"
    elif meta.get("input_normalization") is not None:
        note = "file (normalized)"
    box = tuple((Fraction(lo), Fraction(hi)) for lo, hi in dom)
    impl = Implementation(max_word=max_word)
    spec = SPECS / f"{path.stem}.nnspec"
    if spec.exists():  # the benchmark spec's lookup-table settings (relu/linear layers have none)
        spec_impl = load_spec(spec).implementation
        impl = dataclasses.replace(impl, **{k: getattr(spec_impl, k) for k in TABLE_FIELDS})
    p = Problem(str(path), net, box, (bound,) * net.n_outputs, True, impl, None)
    return p, note


def check(result, samples: int, seed: int = 0) -> dict:
    """Simulate the proved design; abort on an observed error above the certified bound."""
    a = result.analysis
    t = time.perf_counter()
    d = a.design
    widest = max([f.width for f in d.inputs] + [f.width for lf in d.layers for _, fs in lf.roles() for f in fs])
    # the error-maximising search re-simulates many batches: only where the simulator runs on int64
    starts = 8 if widest <= 31 else 1
    if widest > 31 and a.problem.network.parameter_count > BIG_NETWORK:
        # Python-int simulation of a wide MNIST design: random + corner inputs only, no local search
        obs = observe(a.qnet, a.problem.network, a.box, n_random=BIG_WIDE_SAMPLES, n_corners=64, search_starts=0,
                      seed=seed)
    else:
        obs = observe(a.qnet, a.problem.network, a.box, n_random=samples, n_corners=1024, search_starts=starts, seed=seed)
    if obs.overflow_rows:
        raise SystemExit(f"SOUNDNESS BUG: overflow in a proved design ({a.problem.network.name}) at {obs.overflow_site}")
    worst = 0.0
    for j, (e, b) in enumerate(zip(obs.max_error, a.output_errors)):
        if e > float(b) * (1 + 1e-9):
            err = simulated_error(a.qnet, a.problem.network, obs.worst_input[j], j)
            if err > b:
                raise SystemExit(f"SOUNDNESS BUG {a.problem.network.name} output {j}: {float(err)} > {float(b)}")
        if b > 0:
            worst = max(worst, e / float(b))
    return {"observed_error": max(obs.max_error) if obs.max_error else 0.0, "tightness": worst,
            "sim_inputs": obs.n_inputs, "sim_overflow": obs.overflow_rows, "sim_s": time.perf_counter() - t}


def run_one(p, method: str, seeds: tuple, time_limit: float, errors: str | None = None) -> tuple:
    if method == "uniform":
        opts = SynthOptions(method="uniform", time_limit=time_limit, error_method=errors)
    elif method == "aster":
        opts = SynthOptions(method="aster", time_limit=time_limit, error_method=errors)
    elif method == "layer":
        opts = SynthOptions(granularity="layer", time_limit=time_limit, seeds=seeds, error_method=errors)
    else:
        opts = SynthOptions(granularity="neuron", time_limit=time_limit, seeds=seeds, seeds_replace_layer=bool(seeds),
                            error_method=errors)
    t = time.perf_counter()
    r = synthesize(p, opts)
    return r, time.perf_counter() - t


def row_of(name, p, note, bound, word, method, r, wall, chk, errors: str | None = None) -> dict:
    net = p.network
    row = {k: "" for k in FIELDS}
    row.update(network=name, architecture=net.architecture, parameters=net.parameter_count, domain=note,
               bound=f"{float(bound):g}", max_word=word, method=method, feasible=int(r.feasible),
               solver=r.solver or "-", status=r.solver_status, gap="" if r.gap is None else f"{r.gap:.4f}",
               source=r.source, repairs=len(r.repairs), exact_analyses=r.analyses, wall_s=f"{wall:.2f}",
               errors=str(ErrorMethod(errors or DEFAULT_ERROR_METHOD)),
               activations="/".join(sorted({l.activation.value for l in net.layers})))
    if r.feasible and str(r.analysis.error_method) != row["errors"]:
        raise SystemExit(f"{name}: the design was certified with {r.analysis.error_method}, not {row['errors']}")
    if r.feasible:
        c = r.costs
        row.update(total_bits=c.total_bits, weight_bits=c.weight_bits, multiplier_area=c.multiplier_area, dsp=c.dsp,
                   certified_error=f"{float(r.max_certified_error):.6g}")
        if chk:
            row.update(observed_error=f"{chk['observed_error']:.6g}", tightness=f"{chk['tightness']:.4f}",
                       sim_inputs=chk["sim_inputs"], sim_overflow=chk["sim_overflow"])
    else:
        row.update(achievable=f"{float(max(r.achievable)):.6g}" if r.achievable else "")
    return row


def bench_network(path: Path, bounds, time_limit: float, samples: int, wide: bool, errors: str | None = None) -> list[dict]:
    name = path.stem
    rows = []
    for bound in bounds:
        words = [32]
        k = 0
        while k < len(words):
            word = words[k]
            k += 1
            p, note = make_problem(path, bound, word)
            results = {}
            for method in METHODS:
                seeds = ()
                if method == "layer" and results.get("uniform") and results["uniform"].feasible:
                    seeds = (results["uniform"].design,)
                if method == "neuron" and results.get("layer") and results["layer"].feasible:
                    seeds = (results["layer"].design,)
                log(f"{name} eps={float(bound):g} W<={word} {method} ...")
                r, wall = run_one(p, method, seeds, time_limit, errors)
                results[method] = r
                chk = check(r, samples) if r.feasible else None
                row = row_of(name, p, note, bound, word, method, r, wall, chk, errors)
                rows.append(row)
                log(f"   -> {'ok' if r.feasible else 'INFEASIBLE'} {row['total_bits']} bits, certified {row['certified_error'] or row['achievable']}, "
                    f"{row['wall_s']} s" + (f", observed/certified {chk['tightness']:.3f} (sim {chk['sim_s']:.1f} s)" if chk else ""))
            if wide and word == 32 and not results["neuron"].feasible:
                words.append(64)
    return rows


# ------------------------------------------------------------------------------------------ report
def _f(x):
    return float(x) if x not in ("", None) else None


def hidden_layers(architecture: str) -> int:
    """'5x[20,20,20]x1' -> 3."""
    inner = architecture[architecture.index("[") + 1:architecture.index("]")] if "[" in architecture else ""
    return len([w for w in inner.split(",") if w.strip()])


def _rule_text(rule: str) -> str:
    return {"differential": "the differential error rule (symbolic bounds on q(x) - f(x), intersected with "
                            "first-order error propagation) over symbolic ranges",
            "first_order": "first-order errors over symbolic ranges",
            "l1_local": "the l1 error rule"}.get(rule, rule)


def markdown(rows: list[dict], meta: dict, previous: list[dict] | None = None) -> str:
    prev = {(r["network"], r["bound"], r["max_word"], r["method"]): r for r in previous or []}
    prev_label = meta.get("previous", {}).get("label", "previous run")
    out = ["# Synthesis benchmark (`benchmarks/synth.py`)", ""]
    out.append(f"Generated {meta.get('date', '')} on {meta.get('machine', '')}; verifq synth, HiGHS "
               f"{meta.get('highs', '')}, time limit {meta.get('time_limit', '')} s per MILP, gap target 1%. "
               "Cost model: total bits (sum of the widths of every stored value: inputs, weights, biases, "
               "accumulators, outputs; see `verifq/synthesis/cost.py`). All four costs are in the CSV.")
    if meta.get("note"):
        out.append("")
        out.append(meta["note"])
    out.append("")
    out.append("Methods: **uniform** = smallest single `fixed<W,I>` for every value; **aster** = Aster's per-layer "
               "scheme made sound (one fractional-bit count per layer for all roles, products rounded, |W| "
               "propagation); **layer** / **neuron** = MILP per layer / per neuron. Per-layer runs are seeded with "
               "the uniform design and per-neuron runs with the per-layer design, so each result costs at most its "
               "seed (the `source` column says when the seed was kept); per-neuron times exclude the per-layer run.")
    rules = sorted({r.get("errors") or "" for r in rows})
    new_rules = [x for x in rules if x]
    kept = sorted({r["network"] for r in rows if not r.get("errors")})
    rule_desc = " / ".join(_rule_text(x) for x in new_rules) or "-"
    out.append(f"Every certified error is the exact analysis's (`verifq.analysis.prove.analyse`, {rule_desc}"
               + (f"; rows marked ‡ are kept from the {prev_label}, not re-run: {_rule_text(meta.get('previous', {}).get('errors', 'first_order'))}"
                  if kept else "")
               + "); every feasible result was simulated bit-exactly on 10,000 random inputs plus the "
               "box corners (all 2^d for d <= 10 inputs, else 1,024) plus an error-maximising local search: **observed/certified** is the "
               "largest ratio seen (<= 1 always; a value above 1 would abort the benchmark).")
    if prev:
        out.append("")
        out.append(f"**neuron prev.** = the per-neuron total bits of the {prev_label} "
                   f"(`results/synth_previous.csv`, {meta.get('previous', {}).get('note', '')}); **vs prev.** = change of "
                   "the per-neuron total bits against it.")
    if kept:
        out.append("")
        out.append(f"Not re-run (‡, {len(kept)} networks; their rows are the {prev_label}'s): {', '.join(kept)}.")
    out.append("")
    for bound in sorted({r["bound"] for r in rows}, key=float, reverse=True):
        for word in sorted({int(r["max_word"]) for r in rows if r["bound"] == bound}):
            sel = [r for r in rows if r["bound"] == bound and int(r["max_word"]) == word]
            if not sel:
                continue
            nets = sorted({r["network"] for r in sel})
            out.append(f"## Bound {bound}, word length <= {word}" + ("" if word == 32 else
                       " (networks infeasible per neuron at 32 bits)"))
            out.append("")
            out.append("| network | params | uniform | aster | layer | neuron | neuron prev. | vs prev. | neuron vs layer | "
                       "neuron vs uniform | certified (neuron) | obs/cert | time u / a / l / n (s) |")
            out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
            for n in nets:
                by = {r["method"]: r for r in sel if r["network"] == n}

                def cell(m):
                    r = by.get(m)
                    if r is None:
                        return "-"
                    if r["feasible"] in ("0", 0):
                        return f"infeasible ({float(r['achievable']):.2g})" if r["achievable"] else "infeasible"
                    return str(r["total_bits"])

                def saving(a, b):
                    ra, rb = by.get(a), by.get(b)
                    if not ra or not rb or not ra["total_bits"] or not rb["total_bits"]:
                        return "-"
                    return f"{100 * (1 - float(ra['total_bits']) / float(rb['total_bits'])):.1f}%"

                nr = by.get("neuron", {})
                times = " / ".join(f"{float(by[m]['wall_s']):.1f}" if m in by else "-" for m in METHODS)
                any_r = next(iter(by.values()))
                dom = "" if any_r["domain"].startswith("file") else " †"
                dom += "" if any_r.get("errors") else " ‡"
                tight = max((_f(r["tightness"]) or 0.0) for r in by.values())
                pr = prev.get((n, bound, str(word), "neuron"))
                p_cell, p_change = "-", "-"
                if pr is not None and any_r.get("errors"):  # re-run rows only (a kept row is the previous run)
                    p_cell = str(pr["total_bits"]) if pr["feasible"] in ("1", 1) else "infeasible"
                    if pr["total_bits"] and nr.get("total_bits"):
                        p_change = f"{100 * (float(nr['total_bits']) / float(pr['total_bits']) - 1):+.1f}%"
                out.append(f"| {n}{dom} | {any_r['parameters']} | {cell('uniform')} | {cell('aster')} | {cell('layer')} | "
                           f"{cell('neuron')} | {p_cell} | {p_change} | {saving('neuron', 'layer')} | {saving('neuron', 'uniform')} | "
                           f"{nr.get('certified_error') or '-'} | {tight:.3f} | {times} |")
            out.append("")
    # summary
    feas = [r for r in rows if r["feasible"] in ("1", 1)]
    out.append("## Summary")
    out.append("")
    groups = {}
    for r in rows:
        groups.setdefault((r["network"], r["bound"], r["max_word"]), {})[r["method"]] = r
    ordered = violated = 0
    sav_layer, sav_uni, sav_aster, sav_neuron_aster = [], [], [], []
    for key, by in groups.items():
        vals = {m: _f(by[m]["total_bits"]) for m in METHODS if m in by and by[m]["total_bits"] not in ("", None)}
        if all(m in vals for m in ("uniform", "layer", "neuron")):
            if vals["neuron"] <= vals["layer"] <= vals["uniform"]:
                ordered += 1
            else:
                violated += 1
        if "neuron" in vals and "layer" in vals:
            sav_layer.append(1 - vals["neuron"] / vals["layer"])
        if "neuron" in vals and "uniform" in vals:
            sav_uni.append(1 - vals["neuron"] / vals["uniform"])
        if "layer" in vals and "aster" in vals:
            sav_aster.append(1 - vals["layer"] / vals["aster"])
        if "neuron" in vals and "aster" in vals:
            sav_neuron_aster.append(1 - vals["neuron"] / vals["aster"])
    def mean(v):
        return f"{100 * sum(v) / len(v):.1f}%" if v else "-"

    def median(v):
        return f"{100 * sorted(v)[len(v) // 2] if len(v) % 2 else 50 * sum(sorted(v)[len(v) // 2 - 1:len(v) // 2 + 1]):.1f}%" if v else "-"
    out.append(f"* {len(rows)} runs, {len(feas)} feasible; every feasible design proved by the exact analysis and "
               f"simulated: max observed/certified = {max((_f(r['tightness']) or 0) for r in feas):.3f}, "
               f"overflows seen: {sum(int(r['sim_overflow'] or 0) for r in feas)}.")
    rerun = [r for r in feas if r.get("errors")]
    if len(rerun) < len(feas):
        out.append(f"* Re-run rows with {' / '.join(sorted({r['errors'] for r in rerun})) or '-'}: "
                   f"{sum(1 for r in rows if r.get('errors'))} runs, {len(rerun)} feasible, max observed/certified = "
                   f"{max([(_f(r['tightness']) or 0) for r in rerun] or [0]):.3f}, overflows seen: "
                   f"{sum(int(r['sim_overflow'] or 0) for r in rerun)}.")
    out.append(f"* Cost order neuron <= layer <= uniform holds in {ordered} of {ordered + violated} cases "
               "where all three are feasible.")
    out.append(f"* Mean total-bit saving: per-neuron vs per-layer {mean(sav_layer)}, per-neuron vs uniform "
               f"{mean(sav_uni)}, per-layer MILP vs sound Aster {mean(sav_aster)}.")
    out.append(f"* Per-neuron MILP vs the sound Aster-style per-layer baseline: mean {mean(sav_neuron_aster)}, median "
               f"{median(sav_neuron_aster)} fewer total bits over {len(sav_neuron_aster)} cases where both are feasible; "
               f"{sum(v >= 0.25 for v in sav_neuron_aster)} of them save at least 25%.")
    sims = [int(r["sim_inputs"]) for r in feas if r["sim_inputs"]]
    if sims and min(sims) < 10000:
        out.append(f"* Simulated inputs per design: {min(sims)} to {max(sims)}; designs wider than 31 bits on networks "
                   f"with more than {BIG_NETWORK} parameters were simulated on {BIG_WIDE_SAMPLES} random + 64 corner "
                   "inputs, without the local search (the simulator falls back to Python integers there: 10,000 "
                   "inputs would take hours per design).")
    out.append("* † = the file gives no input domain: [-1, 1] per input assumed.")
    out.append("* `infeasible (x)`: no design within the word length is proved; x = the smallest bound the analysis "
               "certifies with the most precise formats of that granularity (the CLI exits 1 and prints it).")
    out.append("")
    if prev:
        out += previous_section(rows, prev, prev_label)
    out += speed_section(rows)
    return "\n".join(out) + "\n"


def previous_section(rows: list[dict], prev: dict, label: str) -> list[str]:
    """Per-neuron total bits against the previous run at bound 1e-3 (issue 12: at least 10% fewer on the
    networks with >= 3 hidden layers), over the re-run rows where both are feasible at the same word length."""
    out = [f"## Per-neuron total bits at 1e-3 against the {label}", ""]
    out.append("| network | hidden | word | previous | now | change |")
    out.append("|---|---:|---:|---:|---:|---:|")
    deep, rest, smooth = [], [], []
    for r in sorted(rows, key=lambda r: (r["network"], int(r["max_word"]))):
        if r["method"] != "neuron" or float(r["bound"]) != 1e-3 or not r.get("errors"):
            continue
        pr = prev.get((r["network"], r["bound"], str(r["max_word"]), "neuron"))
        if pr is None or not pr["total_bits"] or not r["total_bits"]:
            continue
        h = hidden_layers(r["architecture"])
        ch = float(r["total_bits"]) / float(pr["total_bits"]) - 1
        tables = any(a in (r.get("activations") or "") for a in ("tanh", "sigmoid"))
        (smooth if tables else deep if h >= 3 else rest).append(ch)
        out.append(f"| {r['network']}{' §' if tables else ''} | {h} | {r['max_word']} | {pr['total_bits']} | "
                   f"{r['total_bits']} | {100 * ch:+.1f}% |")
    out.append("")

    def stats(v):
        if not v:
            return "no cases"
        sv = sorted(v)
        med = sv[len(v) // 2] if len(v) % 2 else (sv[len(v) // 2 - 1] + sv[len(v) // 2]) / 2
        return (f"{len(v)} cases, median {100 * med:+.1f}%, mean {100 * sum(v) / len(v):+.1f}%, "
                f"{sum(c <= -0.10 for c in v)} at least 10% fewer bits, {sum(c > 0 for c in v)} with more bits")
    out.append(f"* Networks with >= 3 hidden layers: {stats(deep)}.")
    out.append(f"* Networks with fewer hidden layers: {stats(rest)}.")
    out.append(f"* § tanh/sigmoid networks, not in the two lines above: {stats(smooth)}. Their totals now include "
               "the hls4ml lookup tables' memory (tables were modelled from 2026-12-01 on; the previous run had none), "
               "so the change is not the error rule's.")
    out.append("* Both runs feasible at the same word length only; the previous run is older than the error-rule "
               "change alone (any other synthesis change since then is in the difference too).")
    out.append("")
    return out


def speed_section(rows: list[dict]) -> list[str]:
    """The speed targets: Aster networks per layer < 5 s and per neuron < 10 s, ACAS Xu per
    neuron < 30 s, MNIST 256x2 per layer < 60 s (wall time of each `synthesize` call)."""
    def worst(pred, method):
        sel = [r for r in rows if pred(r["network"]) and r["method"] == method]
        if not sel:
            return None
        r = max(sel, key=lambda r: float(r["wall_s"]))
        return f"{float(r['wall_s']):.1f} s ({r['network']}, {r['bound']}, W<={r['max_word']}, "\
               f"{'feasible' if r['feasible'] in ('1', 1) else 'infeasible'})"
    out = ["## Speed targets (worst wall time per `synthesize` call)", ""]
    checks = [
        ("Aster networks, per layer", lambda n: n.startswith("aster_"), "layer", 5),
        ("Aster networks, per neuron", lambda n: n.startswith("aster_"), "neuron", 10),
        ("ACAS Xu, per neuron", lambda n: n.startswith("acasxu"), "neuron", 30),
        ("MNIST 256x2, per layer", lambda n: n == "vnncomp21_mnistfc_256x2", "layer", 60),
        ("MNIST 256x2, per neuron", lambda n: n == "vnncomp21_mnistfc_256x2", "neuron", None),
        ("MNIST 256x4, per layer", lambda n: n == "vnncomp21_mnistfc_256x4", "layer", None),
        ("MNIST 256x4, per neuron", lambda n: n == "vnncomp21_mnistfc_256x4", "neuron", None),
    ]
    out.append("| case | target | worst |")
    out.append("|---|---:|---|")
    for label, pred, method, target in checks:
        w = worst(pred, method)
        out.append(f"| {label} | {'< %d s' % target if target else '-'} | {w or 'not run'} |")
    out.append("")
    out.append("Per-neuron times exclude the per-layer run that seeds them (run and timed as the `layer` row). "
               "The machine (2 cores) was shared with other jobs during the run, so times are pessimistic.")
    out.append("")
    return out


def previous_rows(out: Path) -> list[dict] | None:
    path = out / "synth_previous.csv"
    return list(csv.DictReader(path.open())) if path.exists() else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--networks", type=Path, default=NETWORKS)
    ap.add_argument("--only", nargs="*", help="network names (file stems)")
    ap.add_argument("--skip", nargs="*", default=[], help="network names to leave out")
    ap.add_argument("--bounds", default="1e-3,1e-5")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--no-wide", action="store_true", help="no 64-bit rerun of networks infeasible at 32 bits")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--append", action="store_true", help="keep the rows of other networks already in the CSV")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--errors", choices=[m.value for m in ErrorMethod], default=None,
                    help=f"error rule of the exact (re-)analysis (default: synth's, {DEFAULT_ERROR_METHOD})")
    args = ap.parse_args(argv)
    csv_path, md_path, meta_path = args.out / "synth.csv", args.out / "synth.md", args.out / "synth.meta.json"
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        rows = list(csv.DictReader(csv_path.open()))
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        md_path.write_text(markdown(rows, meta, previous_rows(args.out)))
        return 0
    if not args.networks.is_dir():
        log(f"{args.networks} not found")
        return 2
    import highspy

    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
            "highs": highspy.Highs().version(), "time_limit": args.time_limit,
            "errors": str(ErrorMethod(args.errors or DEFAULT_ERROR_METHOD))}
    if meta_path.exists():  # what the previous run was (kept across --append runs)
        old = json.loads(meta_path.read_text())
        if "previous" in old:
            meta["previous"] = old["previous"]
    bounds = [Fraction(b) for b in args.bounds.split(",")]
    paths = sorted(args.networks.glob("*.json"))
    if args.only:
        paths = [p for p in paths if p.stem in args.only]
    paths = [p for p in paths if p.stem not in args.skip]
    rows: list[dict] = []
    if args.append and csv_path.exists():
        names = {p.stem for p in paths}
        rows = [r for r in csv.DictReader(csv_path.open()) if r["network"] not in names]
    t0 = time.perf_counter()
    for path in paths:
        rows += bench_network(path, bounds, args.time_limit, args.samples, not args.no_wide, args.errors)
        with csv_path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=FIELDS)
            w.writeheader()
            w.writerows(rows)
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
        md_path.write_text(markdown(rows, meta, previous_rows(args.out)))
    log(f"done in {time.perf_counter() - t0:.0f} s: {csv_path}, {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
