"""`verifq hls4ml MODEL --spec SPEC -o CONFIG`: the hls4ml configuration under which hls4ml 1.3.0
computes, bit for bit, the design verifq proved for the spec.

MODEL is the model the user converts with hls4ml (ONNX, or a Keras 3 `.keras` file; PyTorch
through its ONNX export): the layer names come from it, and its weights must be the spec's
network's. The design (the spec's formats or `--formats`) is proved first; a per-neuron design,
or one whose constants hls4ml would print differently, is turned into the design hls4ml can
build and proved again before anything is written. `--merge` keeps the rest of an existing
hls4ml configuration (Model settings, ReuseFactor, Trace, ...). `--check`: hls4ml_check.py.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import EXIT_PROVED, EXIT_VIOLATED, UserError

EPILOG = """\
use it (ONNX; hls4ml's ONNX frontend needs the qonnx-cleaned model):
  from qonnx.core.modelwrapper import ModelWrapper
  from qonnx.util.cleanup import cleanup_model          # Gemm: also qonnx's GemmToMatMul
  cfg = json.load(open("hls4ml_config.json"))
  m = hls4ml.converters.convert_from_onnx_model(cleanup_model(ModelWrapper("model.onnx")),
                                                 hls_config=cfg, io_type="io_parallel", backend="Vivado")
Keras 3: hls4ml.converters.convert_from_keras_model(keras.saving.load_model("model.keras"), hls_config=cfg, ...)
Every output hls4ml's compiled model computes is then bit-exact with verifq's simulator of the
proved design (tested: io_parallel, Latency strategy, Vivado backend; Vitis shares its kernels).

--check CONFIG proves (exit 0) or refutes (exit 1: failing checks, a counterexample input) YOUR
configuration (JSON/YAML, e.g. config_from_*_model's dict; 'auto' read as hls4ml infers it); arithmetic
verifq does not express exactly (mixed AP_TRN/AP_RND or WRAP/SAT on the datapath, other modes, a Dense
result off its activation's grid, unknown keys) is refused, exit 2, naming the key.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "hls4ml",
        help="write the hls4ml configuration that builds exactly the proved design",
        description="Write the hls4ml 1.3.0 configuration (per-layer precisions, activation tables) under which "
        "hls4ml computes bit for bit the design verifq proves for SPEC, with the layer names of MODEL.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="the model hls4ml converts: .onnx (PyTorch: its torch.onnx.export) or .keras")
    p.add_argument("--spec", required=True, help="the .nnspec whose network is MODEL's (formats unless --formats)")
    p.add_argument("--formats", metavar="FORMATS_JSON", help="design written by `verifq synth` (instead of the spec's formats)")
    p.add_argument("-o", "--config", metavar="OUT_JSON", help="the hls4ml configuration to write (JSON)")
    p.add_argument("--check", metavar="CONFIG", help="prove or refute this existing hls4ml configuration (JSON or "
                   "YAML) instead of writing one: exit 0 proved, 1 refuted, 2 not checkable")
    p.add_argument("--merge", metavar="CONFIG", help="an existing hls4ml configuration (JSON or YAML) whose other "
                   "settings are kept; its precisions are replaced")
    p.add_argument("--formats-out", metavar="FILE", help="also write the design hls4ml builds (per layer, hls4ml's "
                   "constant rule) as a formats file, e.g. for `verifq prove SPEC --formats FILE --cert CERT`")
    p.set_defaults(func=run)


def run(args) -> int:
    if (args.check is None) == (args.config is None):
        raise UserError("give either -o OUT_JSON (write verifq's configuration) or --check CONFIG (check yours)")
    if args.check is not None:
        if args.formats or args.merge:
            raise UserError("--check reads the design from CONFIG: --formats and --merge do not apply")
        return run_check(args)
    from ..analysis.report import failed_check_lines
    from ..codegen.hls4ml_config import NotProved
    from ..codegen.hls4ml_run import configure, read_existing, summary_lines
    from ..language import load_problem_and_design
    from ..outputs import check_output, input_files, write_text_atomic

    problem, design = load_problem_and_design(args.spec, args.formats, purpose="configure hls4ml for")
    inputs = input_files(problem, args.formats, args.model, args.merge)
    out = check_output(args.config, "--config", inputs=inputs)
    formats_out = check_output(args.formats_out, "--formats-out", inputs=inputs) if args.formats_out else None
    existing = read_existing(args.merge) if args.merge else None
    try:
        done = configure(problem, design, args.model, existing, lambda m: print(f"warning: {m}", file=sys.stderr))
    except NotProved as exc:
        print(f"verifq hls4ml: {exc.why} ({len(exc.analysis.violations)} failed check(s)):", file=sys.stderr)
        print("\n".join(failed_check_lines(exc.analysis, 5)), file=sys.stderr)
        print("no configuration written", file=sys.stderr)
        return EXIT_VIOLATED
    write_text_atomic(out, done.text)
    if formats_out is not None:
        from ..fixedpoint.design_io import save_design

        save_design(formats_out, done.hd.design, problem.network)
    print("\n".join(summary_lines(done, args.config)))
    return EXIT_PROVED


def run_check(args) -> int:
    from ..codegen.hls4ml_check import report_lines
    from ..codegen.hls4ml_run import check_files
    from ..outputs import check_output

    verdict, names, inputs = check_files(args.spec, args.model, args.check)
    if args.formats_out:
        from ..fixedpoint.design_io import save_design

        save_design(check_output(args.formats_out, "--formats-out", inputs=inputs), verdict.read.design,
                    verdict.analysis.problem.network)
    print("\n".join(report_lines(verdict, names, args.check)))
    return EXIT_PROVED if verdict.proved else EXIT_VIOLATED
