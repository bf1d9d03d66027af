"""`verifq hls4ml MODEL --spec SPEC -o CONFIG`: the hls4ml configuration under which hls4ml 1.3.0
computes, bit for bit, the design verifq proved for the spec.

MODEL is the model the user converts with hls4ml (ONNX, or a Keras 3 `.keras` file; PyTorch
through its ONNX export): the layer names come from it, and its weights must be the spec's
network's. The design (the spec's formats or `--formats`) is proved first; a per-neuron design,
or one whose constants hls4ml would print differently, is turned into the design hls4ml can
build and proved again before anything is written. `--merge` keeps the rest of an existing
hls4ml configuration (Model settings, ReuseFactor, Trace, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import EXIT_PROVED, EXIT_VIOLATED, Location, UserError

EPILOG = """\
use it (ONNX; hls4ml's ONNX frontend needs the qonnx-cleaned model):
  from qonnx.core.modelwrapper import ModelWrapper
  from qonnx.util.cleanup import cleanup_model          # Gemm: also qonnx's GemmToMatMul
  cfg = json.load(open("hls4ml_config.json"))
  m = hls4ml.converters.convert_from_onnx_model(cleanup_model(ModelWrapper("model.onnx")),
                                                 hls_config=cfg, io_type="io_parallel", backend="Vitis")
Keras 3: hls4ml.converters.convert_from_keras_model(keras.saving.load_model("model.keras"), hls_config=cfg, ...)
Every output hls4ml's compiled model computes is then bit-exact with verifq's simulator of the
proved design (io_parallel; Latency strategy, or Resource under overflow = wrap).
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
    p.add_argument("-o", "--config", required=True, metavar="OUT_JSON", help="the hls4ml configuration to write (JSON)")
    p.add_argument("--merge", metavar="CONFIG", help="an existing hls4ml configuration (JSON or YAML) whose other "
                   "settings are kept; its precisions are replaced")
    p.set_defaults(func=run)


def _read_existing(path: str) -> dict:
    from ..inputs import read_text

    text = read_text(path)
    if path.lower().endswith((".yml", ".yaml")):
        try:
            import yaml
        except ImportError:
            raise UserError("reading a YAML configuration needs PyYAML", Location(path), hint="pip install pyyaml, or give JSON") from None
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UserError(f"not valid YAML: {exc}"[:300], Location(path)) from None
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"not valid JSON: {exc.msg}", Location(path, exc.lineno, exc.colno)) from None
    if isinstance(doc, dict) and "HLSConfig" in doc:  # a whole hls4ml project config
        doc = doc["HLSConfig"]
    if not isinstance(doc, dict):
        raise UserError("the configuration is not a mapping of hls4ml settings (Model, LayerName, ...)", Location(path))
    return doc


def run(args) -> int:
    from ..analysis.prove import analyse
    from ..codegen.hls4ml_config import NotProved, check_buildable, config_json, hls4ml_config, hls4ml_design, merge_config
    from ..codegen.hls4ml_model import parsed_layer_names, read_model_names
    from ..language import load_problem_and_design
    from ..outputs import check_output, input_files, write_text_atomic
    from ..progress import say

    problem, design = load_problem_and_design(args.spec, args.formats, purpose="configure hls4ml for")
    out = check_output(args.config, "--config", inputs=input_files(problem, args.formats, args.model, args.merge))
    existing = _read_existing(args.merge) if args.merge else None
    model_section = (existing or {}).get("Model") if existing else None
    strategy = str((model_section or {}).get("Strategy", "Latency")) if isinstance(model_section, dict) else "Latency"
    say(f"reading {Path(args.model).name}")
    names = read_model_names(args.model, problem.network)
    check_buildable(problem.network, design, names.frontend, strategy.capitalize())
    say("proving the design")
    analysis = analyse(problem, design)
    if not analysis.proved:
        _not_proved("the design is NOT proved", analysis)
        return EXIT_VIOLATED
    try:
        hd = hls4ml_design(problem, design, analysis, names.frontend, strategy.capitalize())
    except NotProved as exc:
        _not_proved(exc.why, exc.analysis)
        return EXIT_VIOLATED
    config = hls4ml_config(hd.design, problem.network, names)
    say("asking hls4ml which layer names it parses")
    parsed = parsed_layer_names(names)
    if parsed is not None:
        missing = [k for k in config["LayerName"] if k not in parsed]
        if missing:
            raise UserError(f"hls4ml parses no layer named '{missing[0]}' in {Path(args.model).name} (it would ignore "
                            "the key silently)", Location(args.model),
                            hint=f"hls4ml's layers: {', '.join(parsed)}")
    if existing is not None:
        config = merge_config(config, existing, parsed, lambda m: print(f"warning: {m}", file=sys.stderr))
    write_text_atomic(out, config_json(config))
    _summary(problem, hd, names, parsed is not None, args.config)
    return EXIT_PROVED


def _not_proved(why: str, analysis) -> None:
    print(f"verifq hls4ml: {why} ({len(analysis.violations)} failed check(s)):", file=sys.stderr)
    for c in analysis.violations[:5]:
        print(f"  {c.describe()}", file=sys.stderr)
    print("no configuration written", file=sys.stderr)


def _summary(problem, hd, names, checked: bool, path: str) -> None:
    layers = hd.design.layers
    print(f"verifq hls4ml: {path}: {len(names.keys())} layers of {Path(names.path).name} ({names.frontend} frontend"
          + (", names checked against hls4ml's parser" if checked else ", hls4ml not installed: names not cross-checked")
          + ")")
    print(f"  input {names.input}: {hd.design.inputs[0]}")
    for pos, (ln, lf) in enumerate(zip(names.layers, layers), start=1):
        table = f", table {lf.table.size} x {lf.table.entry}" if lf.table is not None else ""
        print(f"  layer {pos} {ln.dense}{' + ' + ln.bias if ln.bias else ''}{' -> ' + ln.act if ln.act else ''}: "
              f"weight {lf.weight[0]}, bias {lf.bias[0]}, accum {lf.accum[0]}, output {lf.output[0]}{table}")
    for note in hd.notes:
        print(f"  note: {note}")
    for j, e in enumerate(hd.analysis.output_errors):
        req = problem.max_error[j] if j < len(problem.max_error) else None
        tail = f" (required <= {float(req):.6g})" if req is not None else ""
        print(f"  proved: |hls4ml output {j} - real output {j}| <= {float(e):.6g}{tail}, no overflow")
