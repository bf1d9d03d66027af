"""Synthesis with the differential error rule vs first-order: total bits at the spec bound (1e-3),
per layer and per neuron, on the shared networks with 3 or more hidden layers (and MpcNN).

    python benchmarks/synth_differential.py                 # -> benchmarks/results/synth_differential.{csv,md}
    python benchmarks/synth_differential.py --only aster_ACC5NN

before = `synth --errors first_order` (the rule synthesis used until now), after = `synth --errors
differential` (the exact re-analysis and repair use the differential rule; the MILP, still a
first-order model, is re-solved calibrated on the exact analysis while the design leaves slack).
Every after-design is (1) certified: the certificate `synth --cert` writes is re-checked by
`verifq check --spec` in a subprocess, and (2) simulated bit-exactly as in benchmarks/synth.py
(10,000 random inputs + box corners + error-maximising search): an observation above a certified
bound aborts the run.
"""

from __future__ import annotations

import argparse
import csv
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from synth import check  # noqa: E402 - the bit-exact soundness sweep of the synthesis benchmark
from verifq.certificate.writer import write_certificate  # noqa: E402
from verifq.language import load_spec  # noqa: E402
from verifq.synthesis import SynthOptions, synthesize  # noqa: E402

NETWORKS = (
    "archcomp19_acc_relu_3x20", "archcomp22_acc_relu_5x20", "aster_ACC3NN", "aster_ACC5NN", "aster_ACC7NN",
    "aster_MpcNN", "archcomp22_vcas_pra01_relu_5x20", "archcomp22_vcas_pra02_relu_5x20",
    "archcomp22_vcas_pra03_relu_5x20", "archcomp22_vcas_pra04_relu_5x20", "aster_VertCasNN",
    "reachnn_tora_relu", "reachnn_tora_tanh", "archcomp22_tora_relu_tanh_3x20", "archcomp22_tora_sigmoid_3x20",
    "juliareach_acc_tanh_3x20", "aster_AC6", "aster_AC7", "archcomp22_attitude_control_sigmoid_3x64",
)
FIELDS = ["network", "architecture", "hidden", "granularity", "errors", "feasible", "total_bits", "certified_error",
          "wall_s", "analyses", "repairs", "cert_rule", "check", "observed_error", "obs_cert"]
OUT = ROOT / "benchmarks" / "results"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def verify(spec: Path, r, tmp: Path) -> tuple[str, str]:
    cert = tmp / "cert.json"
    doc = write_certificate(cert, r.analysis, synthesized=True)
    rule = doc.get("analysis", {}).get("certified_with", {}).get("error_method", "?") if isinstance(doc, dict) else "?"
    p = subprocess.run([str(Path(sys.executable).with_name("verifq")), "check", str(cert), "--spec", str(spec), "--no-code"],
                       capture_output=True, text=True, cwd=ROOT)
    verdict = (p.stdout.strip().splitlines() or [f"? exit {p.returncode} {p.stderr.strip()[-200:]}"])[-1]
    return rule, verdict


def run(name: str, samples: int) -> list[dict]:
    spec = ROOT / "specs" / f"{name}.nnspec"
    p = load_spec(spec)
    net = p.network
    rows = []
    for gran in ("layer", "neuron"):
        for em in ("first_order", "differential"):
            log(f"{name} {gran} {em} ...")
            t = time.perf_counter()
            r = synthesize(p, SynthOptions.from_spec(p.synthesis, granularity=gran, error_method=em))
            wall = time.perf_counter() - t
            row = dict.fromkeys(FIELDS, "")
            row.update(network=name, architecture=net.architecture, hidden=len(net.layers) - 1, granularity=gran,
                       errors=em, feasible=int(r.feasible), wall_s=f"{wall:.2f}", analyses=r.analyses,
                       repairs=len(r.repairs))
            if r.feasible:
                row.update(total_bits=r.costs.total_bits, certified_error=f"{float(r.max_certified_error):.6g}")
                if em == "differential":
                    with tempfile.TemporaryDirectory() as d:
                        row["cert_rule"], row["check"] = verify(spec, r, Path(d))
                    chk = check(r, samples)
                    row.update(observed_error=f"{chk['observed_error']:.6g}", obs_cert=f"{chk['tightness']:.4f}")
            rows.append(row)
            log(f"   -> {row['total_bits'] or 'INFEASIBLE'} bits, certified {row['certified_error']}, {row['wall_s']} s"
                + (f", {row['check']} ({row['cert_rule']}), obs/cert {row['obs_cert']}" if row["check"] else ""))
    return rows


def markdown(rows: list[dict], meta: dict) -> str:
    out = ["# Synthesis with the differential error rule (`benchmarks/synth_differential.py`)", ""]
    out.append(f"Generated {meta['date']} on {meta['machine']} (2 shared cores: times are wall-clock, indicative). "
               "Spec bound 1e-3 on every output, word length <= 32, cost model total bits, HiGHS, default node limit. "
               "**before** = `synth --errors first_order` (what synthesis re-verified with until now); **after** = "
               "`synth --errors differential` (exact re-analysis and repair with the differential rule; the MILP is "
               "still the first-order model, re-solved calibrated on the exact analysis while the proved design "
               "leaves slack). Per-neuron runs include their per-layer run. Every after-design: certificate "
               "re-checked by `verifq check --spec` (the **check** column; **rule** = the error rule the certificate "
               "records, re-derived by the checker) and simulated bit-exactly (10,000 random inputs + box corners + "
               "error-maximising search; **obs/cert** = largest observed / certified, must be <= 1).")
    out.append("")
    out.append("| network | hidden | granularity | bits before | bits after | change | certified before | certified after "
               "| time before (s) | time after (s) | rule | check | obs/cert |")
    out.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|")
    key = {(r["network"], r["granularity"], r["errors"]): r for r in rows}
    changes = {"layer": [], "neuron": []}
    times = {"layer": [], "neuron": []}
    for name in dict.fromkeys(r["network"] for r in rows):
        for gran in ("layer", "neuron"):
            b, a = key.get((name, gran, "first_order")), key.get((name, gran, "differential"))
            if not b or not a:
                continue
            bb, ab = b["total_bits"], a["total_bits"]
            times[gran].append(float(a["wall_s"]) / max(float(b["wall_s"]), 1e-3))
            if bb != "" and ab != "":
                ch = (int(ab) - int(bb)) / int(bb) * 100
                changes[gran].append((ch, int(a["hidden"]) >= 3))
                chs = f"{ch:+.1f}%"
            else:
                chs = "-"
            out.append(f"| {name} | {a['hidden']} | {gran} | {bb or 'infeasible'} | {ab or 'infeasible'} | {chs} | "
                       f"{b['certified_error'] or '-'} | {a['certified_error'] or '-'} | {b['wall_s']} | {a['wall_s']} | "
                       f"{a['cert_rule'] or '-'} | {a['check'] or '-'} | {a['obs_cert'] or '-'} |")
    out.append("")
    for gran, cs in changes.items():
        deep = sorted(c for c, d in cs if d)
        if deep:
            med = deep[len(deep) // 2] if len(deep) % 2 else (deep[len(deep) // 2 - 1] + deep[len(deep) // 2]) / 2
            out.append(f"- {gran}, networks with >= 3 hidden layers, both feasible: {len(deep)} networks, "
                       f"median change {med:+.1f}%, mean {sum(deep) / len(deep):+.1f}%, "
                       f"{sum(c <= -10 for c in deep)} at least 10% fewer bits.")
    for gran, ts in times.items():
        if ts:
            ts = sorted(ts)
            out.append(f"- {gran}: synthesis time after / before: median {ts[len(ts) // 2]:.1f}x, max {ts[-1]:.1f}x "
                       f"({len(ts)} networks, infeasible ones included).")
    notes = OUT / "synth_differential_notes.md"
    if notes.exists():
        out += ["", notes.read_text().rstrip()]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    csv_path, md_path = OUT / "synth_differential.csv", OUT / "synth_differential.md"
    rows = []
    if not args.report_only:
        if args.only and csv_path.exists():  # re-run some networks: keep the others' rows
            rows = [r for r in csv.DictReader(open(csv_path)) if r["network"] not in args.only]
        for name in args.only or NETWORKS:
            rows += run(name, args.samples)
            with open(csv_path, "w", newline="") as f:
                w = csv.DictWriter(f, FIELDS)
                w.writeheader()
                w.writerows(rows)
    else:
        rows = list(csv.DictReader(open(csv_path)))
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}"}
    md_path.write_text(markdown(rows, meta))
    print(md_path.read_text())


if __name__ == "__main__":
    main()
