"""How long the independent certificate checker takes on real networks:
AC7 (Aster, 12k parameters; target < 10 s) and the VNN-COMP MNIST 256x2 MLP
(269k parameters; target < 120 s), plus a few others. For each: a wide
uniform design that proves (fixed<32,12> values, fixed<64,24> accumulators,
truncation, wrap), its certificate written with `write_certificate`, then
`checker.check_file` timed end to end (read JSON, parse every rational,
re-hash, re-quantize, re-derive every claim). Writes
benchmarks/results/checker_speed.md.

    python benchmarks/checker_speed.py [--networks DIR] [--mnist PATH]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from verifq.analysis.prove import analyse
from verifq.certificate import checker
from verifq.certificate.writer import write_certificate
from verifq.fixedpoint.design import Design, LayerFormats
from verifq.fixedpoint.format import FixedFormat
from verifq.network.loaders import load_benchmark_json
from verifq.problem import Implementation, Problem

HERE = Path(__file__).resolve().parent
DEFAULT_NETWORKS = HERE.parent / "specs" / "networks"
DEFAULT_MNIST = Path("/work/shared/benchmarks/networks/vnncomp21_mnistfc_256x2.json")
TARGETS = {"aster_AC7": 10.0, "vnncomp21_mnistfc_256x2": 120.0}
NETWORKS = ["aster_AC7.json", "archcomp22_vcas_pra01_relu_5x20.json", "juliareach_acc_tanh_3x20.json", "archcomp22_unicycle_relu_1x500.json",
            "archcomp22_attitude_control_sigmoid_3x64.json"]


def problem_for(path: Path, bound: Fraction, ibits: int = 12) -> Problem:
    net, meta = load_benchmark_json(path)
    box = meta.get("input_domain_raw") if net.normalization is not None else meta.get("input_domain")
    box = tuple((Fraction(lo), Fraction(hi)) for lo, hi in box)
    f, acc = FixedFormat(32, ibits), FixedFormat(64, 2 * ibits)
    design = Design((f,) * net.n_inputs, tuple(LayerFormats.uniform(l.n_out, f, f, acc, f) for l in net.layers))
    return Problem("", net, box, (bound,) * net.n_outputs, True, Implementation(max_word=64), design)


RULES = {"interval/l1_local": {"range_method": "interval", "error_method": "l1_local"},
         "symbolic/first_order": {}}  # {} = the default analysis of `verifq prove`


def measure(path: Path, bound: Fraction, rules: str) -> dict:
    for ibits in (12, 16, 20):  # fixed<32,12>, wider where interval ranges are large (ACAS Xu)
        p = problem_for(path, bound, ibits)
        t0 = time.perf_counter()
        a = analyse(p, p.design, **RULES[rules])
        t_an = time.perf_counter() - t0
        if a.proved:
            break
    if not a.proved:
        return {"name": p.network.name, "params": p.network.parameter_count, "error": a.violations[0].describe()}
    with tempfile.TemporaryDirectory() as tmp:
        cert = Path(tmp) / "c.cert.json"
        t0 = time.perf_counter()
        write_certificate(cert, a)
        t_wr = time.perf_counter() - t0
        size = cert.stat().st_size
        out = io.StringIO()
        t0 = time.perf_counter()
        code = checker.check_file(cert, out=out, err=io.StringIO())
        t_ck = time.perf_counter() - t0
    return {"name": p.network.name, "params": p.network.parameter_count, "arch": p.network.architecture, "fmt": str(p.design.inputs[0]),
            "rules": rules,
            "analyse": t_an, "write": t_wr, "check": t_ck, "size": size, "verdict": out.getvalue().strip(), "code": code}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", type=Path, default=DEFAULT_NETWORKS)
    ap.add_argument("--mnist", type=Path, default=DEFAULT_MNIST)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "checker_speed.md")
    args = ap.parse_args(argv)
    jobs = [(args.networks / n, Fraction(1, 10)) for n in NETWORKS if (args.networks / n).exists()]
    if args.mnist.exists():
        jobs.append((args.mnist, Fraction(1, 2)))
    rows = []
    for path, bound in jobs:
        for rules in RULES:
            r = measure(path, bound, rules)
            rows.append(r)
            print(r, flush=True)
    lines = [
        "# Certificate checker speed", "",
        "`python benchmarks/checker_speed.py` -- uniform design fixed<32,I> (accumulators fixed<64,2I>), truncation, wrap; "
        "claims from the interval/l1_local analysis and from the default symbolic/first_order analysis (the "
        "certificate's rules; the tight rules carry hints and are re-derived by back-substitution); `check` = `checker.check_file` end to end (read the JSON, "
        "parse every exact rational, re-hash, re-quantize every weight, re-derive every claim in exact arithmetic).",
        "", f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.", "",
        "| network | architecture | parameters | format | rules | certificate | analyse (s) | write (s) | check (s) | target (s) | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ok = True
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | | {r['params']} | | | | | | | | not proved: {r['error']} |")
            continue
        target = TARGETS.get(r["name"])
        met = target is None or r["check"] < target
        ok &= met and r["code"] == 0
        lines.append(f"| {r['name']} | {r['arch']} | {r['params']} | {r['fmt']} | {r['rules']} | {r['size'] / 1e6:.2f} MB | {r['analyse']:.2f} | "
                     f"{r['write']:.2f} | {r['check']:.2f} | {target if target else '-'} | {r['verdict']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
