"""Issue 4's sweep: synthesize per-layer formats at each spec's bound (1e-3)
for every benchmark network, write the certificate, and re-check it with the
independent checker. A spec that is infeasible within its maximum word length
(32 bits) is synthesized again with 64-bit words, so every network gets a
certificate. Writes benchmarks/results/certificates.md.

    python benchmarks/certify_all.py [--max-params N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
import tempfile
import time
from pathlib import Path

from verifq.certificate.checker import check_file
from verifq.certificate.writer import write_certificate
from verifq.language import load_spec
from verifq.synthesis import SynthOptions, synthesize

HERE = Path(__file__).resolve().parent


def _layers(doc: dict) -> list[dict]:
    claims = doc.get("claims", {})
    layers = claims.get("layers", []) if isinstance(claims, dict) else claims
    return [la for la in layers if isinstance(la, dict)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-params", type=int, default=500000)
    ap.add_argument("--only", nargs="*", help="spec stems to run (default: all)")
    args = ap.parse_args()
    rows = []
    tmp = Path(tempfile.mkdtemp())
    for spec in sorted((HERE.parent / "specs").glob("*.nnspec")):
        if args.only and spec.stem not in args.only:
            continue
        problem = load_spec(spec)
        net = problem.network
        if net.parameter_count > args.max_params:
            continue
        t0 = time.perf_counter()
        opts = SynthOptions.from_spec(problem.synthesis, method="milp", granularity="layer", cost=None, solver=None,
                                      time_limit=30, mip_gap=0.01, exact_ranges=False, progress=lambda m: None)
        result = synthesize(problem, opts)
        word = problem.implementation.max_word
        if not result.feasible:  # the same request with 64-bit words
            wide = dataclasses.replace(problem, implementation=dataclasses.replace(problem.implementation, max_word=64))
            result, word = synthesize(wide, opts), 64
        t_synth = time.perf_counter() - t0
        if not result.feasible:
            rows.append((net.name, net.parameter_count, "-", "infeasible at max word 64", "-", f"{t_synth:.1f}", "-"))
            continue
        cert = tmp / f"{spec.stem}.cert.json"
        doc = write_certificate(cert, result.analysis)
        t1 = time.perf_counter()
        line = io.StringIO()
        check_file(str(cert), out=line, err=io.StringIO())
        t_check = time.perf_counter() - t1
        rules = sorted({f"{la.get('range_rule')}/{la.get('error_rule')}" for la in _layers(doc)})
        rows.append((net.name, net.parameter_count, word, line.getvalue().strip(), ", ".join(rules), f"{t_synth:.1f}",
                     f"{t_check:.2f}"))
        print(" | ".join(str(c) for c in rows[-1]), file=sys.stderr, flush=True)
    out = HERE / "results" / "certificates.md"
    if args.only and out.exists():  # merge: keep the other networks' rows of the last full run
        done = {r[0] for r in rows}
        for line in out.read_text().splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if line.startswith("| ") and len(cells) == 7 and cells[0] not in ("network",) and cells[0] not in done:
                rows.append(tuple(cells))
        rows.sort(key=lambda r: r[0])
    valid = sum(r[3] == "VALID" for r in rows)
    md = ["# Certificates of synthesized designs (per layer, each spec's bound) re-checked by `verifq check`", "",
          f"`python benchmarks/certify_all.py`: {valid} of {len(rows)} certificates VALID. Each spec's bound "
          "(1e-3 for the Aster networks), MILP per layer, HiGHS; `max word` is the spec's 32 bits, or 64 where "
          "no 32-bit design meets the bound. synth s includes both attempts; check s is `verifq check` alone.", "",
          "| network | params | max word | check verdict | rules | synth s | check s |", "|---|---|---|---|---|---|---|"]
    md += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "certificates.md").write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
