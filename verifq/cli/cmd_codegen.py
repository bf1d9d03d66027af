"""`verifq codegen SPEC -o DIR`: HLS C++, a C reference, an hls4ml
configuration and a testbench for a proven design.

The design comes from the spec's formats block or from `--formats` (the
JSON written by `verifq synth`). It is re-analysed first: code is only
generated for a design `prove` proves, unless `--unverified` is given (then
every file says so in its header). `manifest.json` lists the sha256 of every
file; `--cert CERT` also records them in the certificate
(`"generated_code": {file: sha256}`), which `verifq check` verifies.
"""

from __future__ import annotations

import argparse
import json
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

from .. import __version__
from ..atomic import write_text_atomic
from ..errors import EXIT_PROVED, EXIT_VIOLATED, Location, UserError
from ..fixedpoint.design import Design
from ..fixedpoint.format import Overflow, Rounding
from ..fixedpoint.simulator import quantize_inputs, simulate

CODEGEN_EPILOG = """\
generated files (TOP defaults to the network's name):
  TOP.h, TOP.cpp        HLS C++ (ap_fixed types, top function TOP)
  TOP_tb.cpp            C++ testbench: reads tb_inputs.txt, compares with tb_expected.txt
  TOP_ref.h/.c          portable C99 integer reference, bit-exact with the HLS code
  TOP_ref_tb.c          driver of the C reference (same interface as the testbench)
  tb_inputs.txt         sample inputs from the domain; tb_expected.txt: the bit-exact outputs
  hls4ml_config.json    per-layer hls4ml precisions for the same formats
  run_hls.tcl, Makefile Vitis HLS script; g++/gcc build of the testbenches
  manifest.json         sha256 of every file
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "codegen",
        help="generate HLS C++ and a bit-exact C reference for a proven design",
        description="Generate HLS C++ (ap_fixed), a portable C reference, testbenches and an hls4ml "
        "configuration whose arithmetic is exactly the analysed arithmetic.",
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
    p.add_argument("--lut-limit", type=int, default=None, metavar="N", help="largest tanh/sigmoid table (default 65536 entries)")
    p.add_argument("--tb-samples", type=int, default=64, metavar="N", help="sample inputs in tb_inputs.txt (default 64)")
    p.add_argument("--layer-names", metavar="A,B,...", help="layer names for hls4ml_config.json (default dense, dense_1, ...)")
    p.set_defaults(func=run)


# --------------------------------------------------------------------------- the job


def _design(problem, formats_path: str | None) -> Design:
    if formats_path:
        try:
            from ..fixedpoint.design_io import load_design  # written by `verifq synth`
        except ImportError:
            raise UserError("reading --formats needs verifq.fixedpoint.design_io, which this installation lacks",
                            Location(formats_path), hint="put the formats into the spec's formats block") from None
        return load_design(formats_path, problem.network)
    if problem.design is None:
        raise UserError(
            "the spec gives no formats, so there is no design to generate code for",
            Location(problem.spec_path),
            hint="add a formats block, or run `verifq synth` and pass its formats with --formats",
        )
    return problem.design


def _short(x: Fraction) -> str:
    return f"{float(x):.6g}"


def _source_name(source: str) -> str:
    """The network file's name without its folder (generated files must not depend on where verifq ran)."""
    return Path(source).name if ("/" in source or "\\" in source) else source


def header_lines(problem, design: Design, analysis, unverified: bool, spec_label: str) -> list[str]:
    net = problem.network
    q = "AP_TRN (truncation)" if design.rounding is Rounding.TRUNCATE else "AP_RND (round to nearest, ties up)"
    o = "AP_WRAP (two's complement wrap)" if design.overflow is Overflow.WRAP else "AP_SAT (saturation)"
    lines = [f"Generated by verifq {__version__} from {spec_label} -- do not edit by hand."]
    if not analysis.proved:
        lines += [
            "",
            "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
            "!!! UNVERIFIED: verifq could NOT prove this design (generated with --unverified). !!!",
            "!!! Values may overflow and outputs may exceed the required error bound.          !!!",
            "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
            f"{len(analysis.violations)} failed check(s); first: {analysis.violations[0].describe()}",
            "",
        ]
    lines += [
        f"Network: {net.name} ({net.architecture}, {net.parameter_count} parameters), from {_source_name(net.source)}",
        f"Arithmetic: rounding {q}; overflow {o}; inputs "
        + ("arrive in their fixed-point formats" if design.inputs_fixed else "are real and rounded into their formats"),
    ]
    if net.normalization is not None:
        lines.append("Inputs are the network's layer inputs, after its input normalization (not part of this code).")
    if analysis.proved:
        lines.append("Proved for every input of the spec's domain: no stored value overflows, and")
    else:
        lines.append("Certified bounds that would hold if no value overflowed (not proved):")
    for j, e in enumerate(analysis.output_errors):
        req = problem.max_error[j] if j < len(problem.max_error) else None
        tail = f" (required <= {_short(req)})" if req is not None else ""
        lines.append(f"  |output {j} - real network output {j}| <= {_short(e)}{tail}")
    lines.append("Bit-exact with the Python simulator (verifq.fixedpoint.simulator) and with the C reference.")
    return lines


def generate_project(
    problem,
    design: Design,
    analysis,
    outdir: str | Path,
    *,
    top: str | None = None,
    hls_options=None,
    lut_limit: int | None = None,
    tb_samples: int = 64,
    spec_label: str | None = None,
    layer_names: list[str] | None = None,
) -> dict[str, str]:
    """Write the project into outdir; returns {file name: sha256} of every file but manifest.json."""
    from ..codegen.c_reference import generate_c_reference
    from ..codegen.emit import DEFAULT_LUT_LIMIT, build_plan, dyadic_literal, sanitize_identifier, sha256_text
    from ..codegen.hls import HlsOptions, generate_hls, hls_tcl
    from ..codegen.hls4ml_config import hls4ml_config_json

    qnet = analysis.qnet
    net = problem.network
    top = sanitize_identifier(top or net.name)
    label = spec_label or Path(problem.spec_path).name
    lines = header_lines(problem, design, analysis, not analysis.proved, label)
    plan = build_plan(qnet, analysis, top=top, proved=analysis.proved, header_lines=lines,
                      lut_limit=lut_limit or DEFAULT_LUT_LIMIT)
    files: dict[str, str] = {}
    files.update(generate_hls(plan, hls_options or HlsOptions()))
    files.update(generate_c_reference(plan))
    files["hls4ml_config.json"] = hls4ml_config_json(plan, layer_names)
    # testbench data: deterministic samples of the domain and their bit-exact outputs
    x = _domain_samples(problem, max(1, tb_samples))
    if design.inputs_fixed:
        f = qnet.input_frac
        k_lo, k_hi = _grid_box(problem, design)
        mant = np.array([[min(max(int(m), a), b) for m, a, b in zip(row, k_lo, k_hi)]
                         for row in np.floor(np.ldexp(x, f))], dtype=object)
        text_rows = [" ".join(dyadic_literal(int(m), int(fk)) for m, fk in zip(row, f)) for row in mant]
    else:
        mant, _ = quantize_inputs(qnet, x)
        text_rows = [" ".join(repr(float(v)) for v in row) for row in x]
    sim = simulate(qnet, np.asarray(mant))
    files["tb_inputs.txt"] = (
        f"# {len(text_rows)} sample inputs of {net.name} (layer-input units), one per line; generated by verifq\n"
        + "\n".join(text_rows) + "\n"
    )
    files["tb_expected.txt"] = (
        "# output mantissas (value = mantissa * 2^-F of each output's format), bit-exact from verifq's simulator\n"
        + "\n".join(" ".join(str(int(v)) for v in row) for row in sim.outputs) + "\n"
    )
    files["run_hls.tcl"] = hls_tcl(plan, hls_options, ["tb_inputs.txt", "tb_expected.txt"])
    files["Makefile"] = _makefile(top, plan)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for name in sorted(files):
        write_text_atomic(outdir / name, files[name])
        hashes[name] = sha256_text(files[name])
    manifest = {
        "tool": f"verifq {__version__}",
        "network": net.name,
        "spec": label,
        "top": top,
        "proved": analysis.proved,
        "rounding": design.rounding.value,
        "overflow": design.overflow.value,
        "files": hashes,
    }
    write_text_atomic(outdir / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return hashes


def _grid_box(problem, design: Design) -> tuple[list[int], list[int]]:
    """Mantissa bounds of the grid points of the domain (fixed-point inputs), clipped to the formats."""
    from ..analysis.prove import network_input_box

    k_lo, k_hi = [], []
    for (a, b), fmt in zip(network_input_box(problem), design.inputs):
        lo_k, hi_k = fmt.grid_range(a, b)
        lo_k, hi_k = max(lo_k, fmt.min_int), min(hi_k, fmt.max_int)
        k_lo.append(lo_k)
        k_hi.append(max(lo_k, hi_k))
    return k_lo, k_hi


def _domain_samples(problem, n: int, seed: int = 0) -> np.ndarray:
    """Deterministic samples of the domain (layer-input units): box corners, centre, uniform points."""
    from ..analysis.prove import network_input_box

    box = network_input_box(problem)
    n_in = len(box)
    lo = np.array([float(a) for a, _ in box])
    hi = np.array([float(b) for _, b in box])
    for i, (a, b) in enumerate(box):  # float endpoints inside the exact box
        if Fraction(lo[i]) < a:
            lo[i] = np.nextafter(lo[i], np.inf)
        if Fraction(hi[i]) > b:
            hi[i] = np.nextafter(hi[i], -np.inf)
    hi = np.maximum(lo, hi)
    rng = np.random.default_rng(seed)
    rows = [lo.copy(), hi.copy(), (lo + hi) / 2]
    for _ in range(min(max(0, n - 3) // 2, 1 << min(n_in, 20))):
        rows.append(np.where(rng.random(n_in) < 0.5, lo, hi))
    while len(rows) < n:
        rows.append(lo + (hi - lo) * rng.random(n_in))
    return np.clip(np.array(rows[:n]), lo, hi)


def _makefile(top: str, plan) -> str:
    return "\n".join([
        "# Build and run both testbenches with g++/gcc (C simulation without Vitis).",
        "# AP_TYPES: folder with Xilinx's ap_fixed.h (Vitis include/, or the copy shipped with hls4ml).",
        "AP_TYPES ?= $(shell python3 -c \"import importlib.util as u, os; "
        "print(os.path.join(u.find_spec('hls4ml').submodule_search_locations[0], 'templates', 'vivado', 'ap_types'))\")",
        "CXX ?= g++",
        "CC ?= gcc",
        "",
        "all: csim ref",
        "",
        f"csim: {top}_csim",
        f"\t./{top}_csim",
        "",
        f"ref: {top}_ref_tb",
        f"\t./{top}_ref_tb",
        "",
        f"{top}_csim: {top}.cpp {top}_tb.cpp {top}.h",
        f"\t$(CXX) -O1 -std=c++11 -isystem $(AP_TYPES) -o $@ {top}.cpp {top}_tb.cpp",
        "",
        f"{top}_ref_tb: {top}_ref.c {top}_ref_tb.c {top}_ref.h",
        f"\t$(CC) -O1 -std=c99 -o $@ {top}_ref.c {top}_ref_tb.c -lm",
        "",
        "clean:",
        f"\trm -f {top}_csim {top}_ref_tb",
        "",
        ".PHONY: all csim ref clean",
        "",
    ])


def update_certificate(cert_path: str | Path, hashes: dict[str, str]) -> None:
    """Add or replace the top-level "generated_code" object of a certificate JSON (atomic rewrite)."""
    path = Path(cert_path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"certificate not found: {path}", Location(str(path))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read certificate: {exc}", Location(str(path))) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"certificate is not JSON: {exc.msg}", Location(str(path), exc.lineno, exc.colno)) from None
    if not isinstance(doc, dict):
        raise UserError("certificate JSON is not an object", Location(str(path)))
    doc["generated_code"] = {name: hashes[name] for name in sorted(hashes)}
    write_text_atomic(path, json.dumps(doc, indent=2) + "\n")


def run(args) -> int:
    from ..analysis.prove import analyse
    from ..codegen.hls import HlsOptions
    from ..language import load_spec

    problem = load_spec(args.spec)
    design = _design(problem, args.formats)
    try:
        analysis = analyse(problem, design)
    except ValueError as exc:
        raise UserError(f"the formats do not match the network: {exc}", Location(args.formats or args.spec)) from None
    if not analysis.proved:
        out = sys.stderr
        print(f"verifq codegen: the design is NOT proved ({len(analysis.violations)} failed check(s)):", file=out)
        for c in analysis.violations[:5]:
            print(f"  {c.describe()}", file=out)
        if len(analysis.violations) > 5:
            print(f"  ... and {len(analysis.violations) - 5} more", file=out)
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
    names = [s.strip() for s in args.layer_names.split(",")] if args.layer_names else None
    if names is not None and len(names) != len(problem.network.layers):
        raise UserError(f"--layer-names gives {len(names)} names for {len(problem.network.layers)} layers")
    hashes = generate_project(problem, design, analysis, args.output, top=args.top, hls_options=options,
                              lut_limit=args.lut_limit, tb_samples=args.tb_samples, layer_names=names)
    if args.cert:
        update_certificate(args.cert, hashes)
    verdict = "proved" if analysis.proved else "UNVERIFIED"
    print(f"verifq codegen: {len(hashes) + 1} files in {args.output} ({verdict} design; manifest.json lists their sha256)")
    if args.cert:
        print(f"recorded the generated files' sha256 in {args.cert}")
    return EXIT_PROVED
