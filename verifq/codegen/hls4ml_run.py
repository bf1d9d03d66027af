"""`verifq hls4ml` as a library call: read the user's model (and an existing hls4ml configuration to
merge into), prove the design, derive the design hls4ml builds (proved again when it differs),
check the layer keys against hls4ml's own parser, read the configuration back as hls4ml reads it
(`hls4ml_check.py`: it must build the proved design, with no overflow of hls4ml's own), and render
the configuration and a summary; `check_files` is `verifq hls4ml --check`."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import Location, UserError
from ..fixedpoint.design import Design
from ..progress import say
from .hls4ml_check import readback_violations
from .hls4ml_config import (Hls4mlDesign, NotProved, check_buildable, config_json, hls4ml_config, hls4ml_design,
                            merge_config)
from .hls4ml_model import ModelNames, parsed_layer_names, read_model_names


@dataclass(frozen=True)
class Configured:
    problem: object
    names: ModelNames
    hd: Hls4mlDesign
    text: str  # the configuration (JSON)
    checked: bool  # layer keys checked against hls4ml's parser


def read_existing(path: str, project: dict | None = None) -> dict:
    """An hls4ml configuration (JSON or YAML; a whole project config's HLSConfig is taken, its other
    settings -- IOType, Backend, ... -- copied into `project` when given)."""
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
    if isinstance(doc, dict) and "HLSConfig" in doc:
        if project is not None:
            project.update({k: v for k, v in doc.items() if k != "HLSConfig"})
        doc = doc["HLSConfig"]
    if not isinstance(doc, dict):
        raise UserError("the configuration is not a mapping of hls4ml settings (Model, LayerName, ...)", Location(path))
    return doc


def configure(problem, design, model: str, existing: dict | None, warn) -> Configured:
    """The configuration for `model`; NotProved when the design (or the one hls4ml builds) fails."""
    from ..analysis.prove import analyse

    section = existing.get("Model") if existing else None
    strategy = str(section.get("Strategy", "Latency")).capitalize() if isinstance(section, dict) else "Latency"
    say(f"reading {Path(model).name}")
    names = read_model_names(model, problem.network)
    check_buildable(problem.network, design, names.frontend, strategy)
    say("proving the design")
    analysis = analyse(problem, design)
    if not analysis.proved:
        raise NotProved(analysis, "the design is NOT proved")
    hd = hls4ml_design(problem, design, analysis, names.frontend, strategy)
    config = hls4ml_config(hd.design, problem.network, names)
    bad = readback_violations(config, names, problem, hd.design, hd.analysis)
    if bad:  # e.g. ONNX: hls4ml's Dense sums without the bias, and that sum overflows (hls4ml_check.py)
        raise NotProved(replace(hd.analysis, violations=tuple(bad)), "the configuration read back as hls4ml reads "
                        "it (verifq hls4ml --check) is NOT proved")
    say("asking hls4ml which layer names it parses")
    parsed = parsed_layer_names(names)
    if parsed is not None:
        missing = [k for k in config["LayerName"] if k not in parsed]
        if missing:
            raise UserError(f"hls4ml parses no layer named '{missing[0]}' in {Path(model).name} (it would ignore "
                            "the key silently)", Location(model), hint=f"hls4ml's layers: {', '.join(parsed)}")
    if existing is not None:
        config = merge_config(config, existing, parsed, warn)
    return Configured(problem, names, hd, config_json(config), parsed is not None)


def summary_lines(c: Configured, path: str) -> list[str]:
    design, names = c.hd.design, c.names
    lines = [f"verifq hls4ml: {path}: {len(names.keys())} layers of {Path(names.path).name} ({names.frontend} frontend"
             + (", names checked against hls4ml's parser" if c.checked else ", hls4ml not installed: names not "
                "cross-checked") + ")", f"  input {names.input}: {design.inputs[0]}"]
    for pos, (ln, lf) in enumerate(zip(names.layers, design.layers), start=1):
        table = f", table {lf.table.size} x {lf.table.entry}" if lf.table is not None else ""
        lines.append(f"  layer {pos} {ln.dense}{' + ' + ln.bias if ln.bias else ''}{' -> ' + ln.act if ln.act else ''}: "
                     f"weight {lf.weight[0]}, bias {lf.bias[0]}, accum {lf.accum[0]}, output {lf.output[0]}{table}")
    lines += [f"  note: {note}" for note in c.hd.notes]
    for j, e in enumerate(c.hd.analysis.output_errors):
        req = c.problem.max_error[j] if j < len(c.problem.max_error) else None
        tail = f" (required <= {float(req):.6g})" if req is not None else ""
        lines.append(f"  proved: |hls4ml output {j} - real output {j}| <= {float(e):.6g}{tail}, no overflow")
    return lines


def check_files(spec, model, config_path: str):
    """`verifq hls4ml MODEL --spec SPEC --check CONFIG` as a call: (Verdict, ModelNames, the files read)."""
    from ..language import load_spec
    from ..outputs import input_files
    from .hls4ml_check import check_config, check_project

    problem = load_spec(spec)
    project: dict = {}
    config = read_existing(config_path, project)
    names = read_model_names(model, problem.network)
    try:
        check_project(project)
        verdict = check_config(problem, names, config)
    except UserError as exc:  # name the configuration file with the key
        if exc.location is None:
            exc.location = Location(str(config_path))
        raise
    return verdict, names, input_files(problem, model, config_path)


def config_for_spec_network(problem, design: Design, analysis) -> tuple[str | None, str]:
    """`verifq codegen`'s hls4ml_config.json: what `verifq hls4ml` writes when the spec loads its network
    from an ONNX or .keras file (the model hls4ml converts); else (None, why not)."""
    from pathlib import Path

    from .hls4ml_model import read_model_names

    source = Path(getattr(problem.network, "source", "") or "")
    if source.suffix.lower() not in (".onnx", ".keras") or not source.is_file():
        return None, "the spec's network is not loaded from an ONNX or .keras model file"
    if not analysis.proved:
        return None, "the design is not proved"
    try:
        names = read_model_names(source, problem.network)
        hd = hls4ml_design(problem, design, analysis, names.frontend)
    except UserError as exc:
        return None, str(exc)
    except NotProved as exc:
        return None, exc.why
    config = hls4ml_config(hd.design, problem.network, names)
    try:
        bad = readback_violations(config, names, problem, hd.design, hd.analysis)
    except UserError as exc:
        return None, str(exc)
    if bad:
        return None, f"the configuration read back as hls4ml reads it is NOT proved: {bad[0].describe()}"
    return config_json(config), "written"
