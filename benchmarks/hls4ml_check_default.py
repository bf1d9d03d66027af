"""hls4ml's default configuration checked through `verifq hls4ml MODEL --spec SPEC --check CONFIG`
(issue 9, item 3/5): for every Aster benchmark, the network written as a float32 ONNX model (what a
user converts), the spec loading it, and the config `hls4ml.utils.config_from_onnx_model(model,
granularity='model')` returns -- ap_fixed<16,6> (AP_TRN, AP_WRAP) for every type, weights and biases
included (so hls4ml's truncating constant rule) -- proved or refuted; the verdict is compared with
benchmarks/results/hls4ml_default.md (verifq's uniform fixed<16,6> design with nearest constants on
the original weights). Writes benchmarks/results/hls4ml_check_default.md.

    python benchmarks/hls4ml_check_default.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from hls4ml_harness import spec_loading, write_float32_onnx  # noqa: E402

from verifq.codegen.hls4ml_check import check_config  # noqa: E402
from verifq.codegen.hls4ml_model import read_model_names  # noqa: E402
from verifq.errors import UserError  # noqa: E402
from verifq.language import load_spec  # noqa: E402

SPECS = HERE.parent / "specs"
DEFAULT = {"Model": {"Precision": {"default": "fixed<16,6>"}, "ReuseFactor": 1, "Strategy": "Latency",
                     "BramFactor": 1000000000, "TraceOutput": False}}


def previous() -> dict[str, str]:
    out = {}
    for line in (HERE / "results" / "hls4ml_default.md").read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 4 and cells[1].startswith("aster_"):
            out[cells[1]] = cells[3]
    return out


def main() -> int:
    before = previous()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in sorted(SPECS.glob("aster_*.nnspec")):
            name = spec.stem
            t0 = time.perf_counter()
            try:
                net = load_spec(spec).network
                model = write_float32_onnx(net, Path(tmp) / f"{name}.onnx")
                problem = load_spec(spec_loading(spec, model, Path(tmp) / f"{name}.nnspec"))
                v = check_config(problem, read_model_names(model, problem.network), DEFAULT)
            except UserError as exc:
                rows.append((name, "refused (exit 2)", str(exc).splitlines()[0][:160], "", before.get(name, "?"), "-",
                             f"{time.perf_counter() - t0:.1f}"))
                continue
            verdict = "PROVED" if v.proved else "NOT PROVED"
            worst = max(float(e) for e in v.analysis.output_errors)
            first = v.violations[0].describe() if v.violations else ""
            cex = v.counterexample
            if cex is None:
                example = "" if v.proved else "none found"
            elif cex.kind == "overflow":
                example = "overflow, x = [" + ", ".join(f"{t:.6g}" for t in cex.input_raw) + "]"
            else:
                example = (f"error {float(cex.observed_error):.3g} on output {cex.output}, x = ["
                           + ", ".join(f"{t:.6g}" for t in cex.input_raw) + "]")
            agree = "yes" if (v.proved == (before.get(name) == "PROVED")) else "NO"
            rows.append((name, verdict, f"{len(v.violations)} failing; first: {first}" if first else f"error <= {worst:.3g}",
                         example, before.get(name, "?"), agree, f"{time.perf_counter() - t0:.1f}"))
            print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    md = ["# hls4ml's default configuration through `verifq hls4ml --check` (Aster benchmarks, bound 1e-3)", "",
          "Config: `config_from_onnx_model(model, granularity='model')` = `Model.Precision.default = fixed<16,6>` "
          "(AP_TRN, AP_WRAP for every type; weights and biases truncated as hls4ml prints and casts them). Model: the "
          "network's float32 ONNX (`tests/hls4ml_harness.write_float32_onnx`), spec loading it. Compared with "
          "`hls4ml_default.md` (uniform fixed<16,6>, verifq's nearest constants, original weights).",
          "Reproduce: `python benchmarks/hls4ml_check_default.py`.", "",
          "| network | --check verdict | why | counterexample | hls4ml_default.md | agrees | seconds |",
          "|---|---|---|---|---|---|---|"]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    n_agree = sum(r[5] == "yes" for r in rows)
    md += ["", f"{n_agree} of {len(rows)} verdicts agree with hls4ml_default.md; "
           f"{sum(r[1] == 'NOT PROVED' for r in rows)} refuted, "
           f"{sum(r[3].startswith(('error', 'overflow')) for r in rows)} with a counterexample input."]
    (HERE / "results" / "hls4ml_check_default.md").write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
