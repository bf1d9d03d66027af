"""hls4ml 1.3.0 built from verifq's configuration, bit for bit: for shared benchmark networks,
synthesize a design (`verifq synth`), write the configuration (`verifq hls4ml`), convert the
model with hls4ml's ONNX frontend, compile it (g++), predict on N inputs of the spec's domain and
compare every output with verifq's simulator of the proved design; also the largest
|hls4ml - real network| against the certified bound. Writes benchmarks/results/hls4ml_roundtrip.md.

The networks of specs/*.nnspec are JSON copies of the benchmarks (specs/networks/, the MNIST ones
in ../shared/benchmarks: skipped with a reason when absent); hls4ml needs a model file, so each
is written as a float32 ONNX model (MatMul + Add + activation) and verifq proves that model
(a copy of the spec loading it).

    python benchmarks/hls4ml_roundtrip.py [--n 2000] [--all | --jobs STEM[:neuron][:keras][:nearest],...] [--work DIR]

(`--all`: the default jobs, then every other spec of specs/ per layer through ONNX, except the
two MNIST networks, whose io_parallel Latency builds are beyond this machine.)

(`neuron`: per-neuron synthesis; `keras`: hls4ml's Keras 3 frontend; `nearest`: the spec with
rounding = nearest and overflow = saturate.)
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import re
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

import hls4ml_harness as H  # noqa: E402
from verifq.cli.main import main  # noqa: E402
from verifq.errors import UserError  # noqa: E402
from verifq.language import load_spec  # noqa: E402

DEFAULT_JOBS = (
    "archcomp22_single_pendulum_relu_2x25",
    "archcomp22_single_pendulum_relu_2x25:neuron",
    "archcomp22_single_pendulum_relu_2x25:keras:nearest",
    "archcomp22_double_pendulum_more_robust_relu_2x25",
    "archcomp19_acc_relu_3x20",
    "aster_ACC3NN",
    "aster_SmallNN",
    "archcomp22_tora_sigmoid_3x20",
    "archcomp22_tora_relu_tanh_3x20",
    "archcomp22_tora_sigmoid_3x20:keras:nearest",
    "archcomp22_double_pendulum_more_robust_relu_2x25:neuron:keras",
    "archcomp19_cartpole_relu_24_48_12",
    "juliareach_acc_tanh_3x20",
    "reachnn_1_sigmoid",
)


def run_job(job: str, n: int, work: Path) -> dict:
    stem, *opts = job.split(":")
    gran = "neuron" if "neuron" in opts else "layer"
    frontend = "keras" if "keras" in opts else "onnx"
    nearest = "nearest" in opts  # rounding = nearest, overflow = saturate
    row = {"network": stem, "granularity": gran, "frontend": frontend,
           "modes": "nearest/saturate" if nearest else None}
    spec0 = REPO / "specs" / f"{stem}.nnspec"
    try:
        problem = load_spec(spec0)
    except UserError as exc:
        return {**row, "skip": f"spec does not load ({str(exc)[:120]}; the shared benchmarks may be absent)"}
    net = problem.network
    row.update(arch=net.architecture, params=net.parameter_count,
               acts="/".join(sorted({l.activation.value for l in net.layers})))
    wd = work / job.replace(":", "_")
    wd.mkdir(parents=True, exist_ok=True)
    model = H.write_float32_onnx(net, wd / f"{stem}.onnx")
    spec = H.spec_loading(spec0, model, wd / f"{stem}.nnspec")
    text = spec.read_text()
    row["modes"] = row["modes"] or "/".join(re.search(rf"(?m)^\s*{k}\s*=\s*(\w+)", text).group(1) for k in ("rounding", "overflow"))
    if nearest:
        text = re.sub(r"(?m)^(\s*)rounding\s*=\s*\w+", r"\1rounding = nearest", text)
        spec.write_text(re.sub(r"(?m)^(\s*)overflow\s*=\s*\w+", r"\1overflow = saturate", text))
    if frontend == "keras":  # the spec still loads the ONNX file: the same float32 weights
        model = H.write_keras_model(net, wd / f"{stem}.keras")
    formats = wd / "formats.json"
    t = time.perf_counter()
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["synth", str(spec), "-o", str(formats), "--granularity", gran, "--quiet"])
    row["synth_s"] = time.perf_counter() - t
    smallest = re.search(r"smallest certifiable bound per output[^:]*: ([0-9.e+-]+(?:, [0-9.e+-]+)*)", out.getvalue())
    if code == 1 and smallest:  # tables cannot reach the spec's bound: twice the smallest certifiable one
        bound = 2 * max(float(v) for v in smallest.group(1).split(", "))
        text, k = re.subn(r"require error <= \S+", f"require error <= {bound:.3g}", spec.read_text())
        if k:
            spec.write_text(text)
            row["relaxed"] = f"{bound:.3g}"
            t = time.perf_counter()
            out = io.StringIO()
            with redirect_stdout(out):
                code = main(["synth", str(spec), "-o", str(formats), "--granularity", gran, "--quiet"])
            row["synth_s"] += time.perf_counter() - t
    if code != 0:
        line = next((l for l in out.getvalue().splitlines() if "INFEASIBLE" in l or "smallest" in l), "")
        return {**row, "skip": f"synth exit {code}: {line[:160]}"}
    try:
        r = H.roundtrip(spec, model, wd / "rt", formats=formats, n=n)
    except Exception as exc:  # noqa: BLE001 - a failed round trip is a result row, not the end of the run
        text = str(exc)
        if "exited 1" in text:  # verifq hls4ml refused: the design hls4ml could build is not proved
            first = text.split("check(s)):")[-1].strip().splitlines()[0] if "check(s)):" in text else text[-200:]
            return {**row, "skip": f"refused by `verifq hls4ml` (exit 1): the per-layer join of the design is not "
                                   f"proved ({first.strip()})"}
        return {**row, "skip": f"round trip failed: {type(exc).__name__}: {text[:300]}"}
    row.update(rows=r.rows, exact=r.bit_exact_rows, ulps=r.max_ulps, err=r.max_err_hls, bound=r.bound,
               reproved=r.reproved, times=r.times, size=r.source_bytes)
    return row


def markdown(rows: list[dict], n: int, wall: float) -> str:
    md = ["# hls4ml 1.3.0 built from verifq's configuration: bit-exact round trips", "",
          f"`python benchmarks/hls4ml_roundtrip.py --n {n}` on {platform.machine()} ({os.cpu_count()} cores, shared; "
          f"wall times; this run {wall / 60:.1f} min, rows of an earlier run reused with --reuse). Each network: its float32 ONNX model, `verifq synth` (bound "
          "of the spec, 1e-3; where no design with tables of up to 65,536 entries reaches it, twice the smallest "
          "certifiable bound), `verifq hls4ml` (configuration; a per-neuron design is joined per layer and proved "
          "again), hls4ml's ONNX frontend, or Keras 3 (torch backend) for a `.keras` copy of the same float32 model (Vivado backend, io_parallel, Latency), `compile()` with g++, "
          f"`predict()` on {n} inputs of the spec's domain (box corners, then uniform), compared with "
          "`verifq.fixedpoint.simulator.simulate` of the proved design. |hls4ml - real| is against the float64 "
          "evaluation of the real network; the certified bound is the largest over the outputs.", "",
          "| network | architecture | activations | frontend | rounding/overflow | design | bit-exact rows | max diff (ulps) | max \\|hls4ml - real\\| "
          "| certified bound | proved again | synth (s) | config (s) | convert (s) | g++ compile (s) | predict (s) | "
          "firmware (kB) |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "skip" in r:
            md.append(f"| {r['network']} | {r.get('arch', '')} | {r.get('acts', '')} | {r['frontend']} | "
                      f"{r.get('modes') or ''} | {r['granularity']} | skipped: {r['skip']} |||||||||||")
            continue
        t = r["times"]
        md.append(f"| {r['network']} | {r['arch']} | {r['acts']} | {r['frontend']} | {r['modes']} | {r['granularity']} | "
                  f"{r['exact']}/{r['rows']} | "
                  f"{r['ulps']} | {r['err']:.3g} | {r['bound']:.3g}{' (spec bound relaxed to ' + r['relaxed'] + ')' if r.get('relaxed') else ''} | "
                  f"{'yes' if r['reproved'] else 'no'} | "
                  f"{r['synth_s']:.1f} | {t['config']:.1f} | {t['convert']:.1f} | {t['compile']:.1f} | "
                  f"{t['predict']:.2f} | {r['size'] / 1000:.0f} |")
    done = [r for r in rows if "skip" not in r]
    if done:
        exact = sum(r["exact"] for r in done)
        total = sum(r["rows"] for r in done)
        md += ["", f"Summary: {exact}/{total} rows bit-exact over {len(done)} round trips; every max |hls4ml - real| "
               + ("within" if all(r["err"] <= r["bound"] for r in done) else "NOT within")
               + " its certified bound."]
    return "\n".join(md) + "\n"


def main_(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="inputs per network (default 2000)")
    ap.add_argument("--jobs", default=",".join(DEFAULT_JOBS), help="STEM[:neuron][:keras][:nearest],... (specs/STEM.nnspec)")
    ap.add_argument("--work", default="/tmp/verifq_hls4ml_roundtrip", help="scratch folder (hls4ml projects)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "hls4ml_roundtrip.md"))
    ap.add_argument("--reuse", action="store_true", help="reuse the completed rows of an earlier run (WORK/rows.json)")
    ap.add_argument("--all", action="store_true", help="the default jobs and every other spec (not MNIST), per layer, ONNX")
    args = ap.parse_args(argv)
    if args.all:
        stems = sorted(p.stem for p in (REPO / "specs").glob("*.nnspec") if "mnist" not in p.stem)
        args.jobs = ",".join(list(DEFAULT_JOBS) + [s for s in stems if s not in DEFAULT_JOBS])
    why = H.missing()
    if why:
        print(f"skipped: {why}", file=sys.stderr)
        return 0
    import json

    cache = Path(args.work) / "rows.json"
    old = json.loads(cache.read_text()) if args.reuse and cache.is_file() else {}
    rows, t0 = [], time.perf_counter()
    for job in args.jobs.split(","):
        job = job.strip()
        row = old[job] if job in old and "skip" not in old[job] and old[job].get("rows") == args.n else \
            run_job(job, args.n, Path(args.work))
        rows.append(row)
        old[job] = row
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(old, indent=1))
        print({k: v for k, v in row.items() if k != "times"}, flush=True)
        Path(args.out).write_text(markdown(rows, args.n, time.perf_counter() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main_())
