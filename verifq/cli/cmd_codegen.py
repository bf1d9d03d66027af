"""`verifq codegen SPEC -o DIR`: HLS C++, a C reference, a testbench and (for a network
loaded from ONNX) the hls4ml configuration of `verifq hls4ml` for a proven design.

The design comes from the spec's formats block or from `--formats` (the
JSON written by `verifq synth`). It is re-analysed first: code is only
generated for a design `prove` proves, unless `--unverified` is given (then
every file says so in its header). `manifest.json` lists the sha256 of every
file; `--cert CERT` also records them in the certificate
(`"generated_code": {file: sha256}`), which `verifq check` verifies.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import EXIT_PROVED, EXIT_VIOLATED, UserError

CODEGEN_EPILOG = """\
generated files (TOP defaults to the network's name):
  TOP.h, TOP.cpp        HLS C++ (ap_fixed types, top function TOP)
  TOP_tb.cpp            C++ testbench: reads tb_inputs.txt, compares with tb_expected.txt
  TOP_ref.h/.c          portable C99 integer reference, bit-exact with the HLS code
  TOP_ref_tb.c          driver of the C reference (same interface as the testbench)
  tb_inputs.txt         sample inputs from the domain; tb_expected.txt: the bit-exact outputs
  hls4ml_config.json    only when the spec loads its network from an ONNX or .keras file: the
                        hls4ml 1.3.0 configuration `verifq hls4ml` writes for that model, under
                        which hls4ml computes the proved design bit for bit (see `verifq hls4ml -h`)
  run_hls.tcl, Makefile Vitis HLS script; g++/gcc build of the testbenches
  manifest.json         sha256 of every file
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "codegen",
        help="generate HLS C++ and a bit-exact C reference for a proven design",
        description="Generate HLS C++ (ap_fixed) and a portable C reference whose arithmetic is exactly the "
        "proven arithmetic, testbenches with bit-exact expected outputs, and (for ONNX/.keras networks) the hls4ml configuration of "
        "`verifq hls4ml`.",
        epilog=CODEGEN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", help="the .nnspec file (network, domain, implementation; formats unless --formats)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument("--formats", metavar="FORMATS_JSON", help="design written by `verifq synth` (instead of the spec's formats)")
    p.add_argument("--cert", metavar="CERT", help="certificate JSON to record the generated files' sha256 in")
    p.add_argument("--unverified", action="store_true", help="generate even if the design is not proved (said loudly in every file)")
    p.add_argument("--top", metavar="NAME", help="name of the top function (default: the network's name)")
    p.add_argument("--pipeline-ii", type=int, metavar="N", help="pipeline every neuron loop with II=N (with --pipeline-top: the top function)")
    p.add_argument("--pipeline-top", action="store_true", help="pipeline the whole top function (fully unrolled; small networks)")
    p.add_argument("--unroll", type=int, metavar="F", help="unroll factor of the dot-product loops (0: complete)")
    p.add_argument("--io", choices=("memory", "parallel"), default="memory", help="array interface of the top function")
    p.add_argument("--constants", choices=("auto", "typed", "mantissa"), default="auto",
                   help="weights as ap_fixed constant arrays (typed), or integer mantissa arrays bit-copied into "
                   "ap_fixed where used (mantissa: compiles fast for large networks); auto: typed up to 4096 constants")
    p.add_argument("--lut-limit", type=int, default=None, metavar="N", help="largest ideal tanh/sigmoid table (`tables = ideal`; default: full up to 65536 entries, compact "
                   "beyond); hls4ml tables (the default) are emitted at the design's table size")
    p.add_argument("--tb-samples", type=int, default=64, metavar="N", help="sample inputs in tb_inputs.txt (default 64)")
    p.set_defaults(func=run)


# --------------------------------------------------------------------------- the job


def run(args) -> int:
    from ..analysis.prove import analyse
    from ..analysis.report import failed_check_lines
    from ..certificate.bindings import check_certificate_matches, read_certificate_for_update, update_certificate
    from ..certificate.writer import file_sha256
    from ..codegen.hls import HlsOptions
    from ..codegen.project import generate_project
    from ..language import load_problem_and_design
    from ..outputs import check_output, check_outputs, input_files

    problem, design = load_problem_and_design(args.spec, args.formats, purpose="generate code for")
    check_output(args.output, "-o", directory=True)
    cert_doc = None
    if args.cert is not None:
        check_outputs([(args.cert, "--cert")], input_files(problem, args.formats))
        cert_doc = read_certificate_for_update(args.cert)
        check_certificate_matches(cert_doc, args.cert, problem, design)
    analysis = analyse(problem, design)
    if not analysis.proved:
        out = sys.stderr
        print(f"verifq codegen: the design is NOT proved ({len(analysis.violations)} failed check(s)):", file=out)
        print("\n".join(failed_check_lines(analysis, 5)), file=out)
        if not args.unverified:
            print("no code generated: verifq only emits code for proved designs (--unverified overrides, "
                  "and says so in every file)", file=out)
            return EXIT_VIOLATED
        print("WARNING: generating code for an UNVERIFIED design (--unverified)", file=out)
    for name, v, lo in (("--pipeline-ii", args.pipeline_ii, 1), ("--unroll", args.unroll, 0), ("--lut-limit", args.lut_limit, 1),
                        ("--tb-samples", args.tb_samples, 1)):
        if v is not None and v < lo:
            raise UserError(f"{name} must be at least {lo}, not {v}")
    options = HlsOptions(pipeline_ii=args.pipeline_ii, pipeline_top=args.pipeline_top, unroll=args.unroll, io=args.io,
                         constants=args.constants)
    hls4ml_status: list = []
    hashes = generate_project(problem, design, analysis, args.output, top=args.top, hls_options=options,
                              lut_limit=args.lut_limit, tb_samples=args.tb_samples, hls4ml_status=hls4ml_status)
    if args.cert:  # bind every file, the manifest too (so a binding deleted later is noticed)
        update_certificate(args.cert, {**hashes, "manifest.json": file_sha256(Path(args.output) / "manifest.json")}, cert_doc)
    print(f"verifq codegen: {len(hashes) + 1} files in {args.output} ({'proved' if analysis.proved else 'UNVERIFIED'} "
          "design; manifest.json lists their sha256)")
    if "hls4ml_config.json" not in hashes:
        print(f"no hls4ml_config.json: {hls4ml_status[0] if hls4ml_status else 'not written'} "
              "(`verifq hls4ml MODEL --spec SPEC -o CONFIG` configures hls4ml for the model you convert)")
    if args.cert:
        print(f"recorded the generated files' sha256 in {args.cert}")
    return EXIT_PROVED
