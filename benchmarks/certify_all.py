"""Issue 4's sweep: synthesize per-layer formats at each spec's bound (1e-3)
for every benchmark network, write the certificate, and re-check it with the
independent checker. Writes benchmarks/results/certificates.md.

    python benchmarks/certify_all.py [--max-params N]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

from verifq.certificate.checker import check_file
from verifq.certificate.writer import write_certificate
from verifq.spec import load_spec
from verifq.synthesis.synthesize import SynthOptions, synthesize

HERE = Path(__file__).resolve().parent


def _layers(doc: dict) -> list[dict]:
    claims = doc.get("claims", {})
    layers = claims.get("layers", []) if isinstance(claims, dict) else claims
    return [la for la in layers if isinstance(la, dict)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-params", type=int, default=50000)
    args = ap.parse_args()
    rows = []
    tmp = Path(tempfile.mkdtemp())
    for spec in sorted((HERE.parent / "specs").glob("*.nnspec")):
        problem = load_spec(spec)
        net = problem.network
        if net.parameter_count > args.max_params:
            continue
        t0 = time.perf_counter()
        opts = SynthOptions.from_spec(problem.synthesis, method="milp", granularity="layer", cost=None, solver=None,
                                      time_limit=30, mip_gap=0.01, exact_ranges=False, progress=lambda m: None)
        result = synthesize(problem, opts)
        t_synth = time.perf_counter() - t0
        if not result.feasible:
            rows.append((net.name, net.parameter_count, "infeasible at max word 32", "-", f"{t_synth:.1f}", "-"))
            continue
        cert = tmp / f"{spec.stem}.cert.json"
        doc = write_certificate(cert, result.analysis)
        t1 = time.perf_counter()
        line = io.StringIO()
        check_file(str(cert), out=line, err=io.StringIO())
        t_check = time.perf_counter() - t1
        rules = sorted({f"{la.get('range_rule')}/{la.get('error_rule')}" for la in _layers(doc)})
        rows.append((net.name, net.parameter_count, line.getvalue().strip(), ", ".join(rules), f"{t_synth:.1f}", f"{t_check:.2f}"))
        print(" | ".join(str(c) for c in rows[-1]), file=sys.stderr, flush=True)
    md = ["# Certificates of synthesized designs (per layer, each spec's bound) re-checked by `verifq check`", "",
          "| network | params | check verdict | rules | synth s | check s |", "|---|---|---|---|---|---|"]
    md += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "certificates.md").write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
