"""The hls4ml 1.3.0 configuration under which hls4ml computes exactly the design verifq proved.

What hls4ml computes for io_parallel Dense networks (read from its templates and checked bit for
bit against its compiled models; `verifq/fixedpoint/tables.py` for the tables), and therefore
what this configuration sets, with Q / O the design's rounding / overflow (AP_TRN or AP_RND,
AP_WRAP or AP_SAT):

  input layer      result = <input format, Q, O>       predict()'s double -> input_t rounds with Q
  Dense            weight = <w, RND|TRN, O>, bias = <b, RND|TRN, O>
                   accum  = <a, Q, O>                  products and the bias are cast into it with Q
                   result = <pre, Q, O>                the pre-activation rounded to the output's grid
                            (<o, Q, O> when linear: no activation layer)
  activation       result = <o, Q, O>; tanh/sigmoid also table_size and table_t as LAYER keys
                   (hls4ml silently ignores a table type under Precision)
  ONNX             MatMul_k (a Dense without bias) result = <a, Q, O> (exact), Add_k (ApplyAlpha,
                   adds the bias, one rounding) bias = <b, ...>, result = <pre or o, Q, O>

hls4ml writes every weight as a decimal with F digits and C++ reads it back into the weight type
(`design.ConstantRule.HLS4ML_*`): the configured design uses that constant rule. hls4ml has one
type per layer and role, so a per-neuron design is joined into a per-layer one (the narrowest
format holding every neuron's). Whenever that changes the arithmetic (formats or constants), the
changed design is proved again before any configuration is written; hls4ml's config then builds
exactly the design the returned analysis proves.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, replace

import numpy as np

from ..errors import UserError
from ..fixedpoint.design import ConstantRule, Design, LayerFormats
from ..fixedpoint.format import Overflow, Rounding
from ..fixedpoint.quantize import quantize_network
from ..network.ir import Activation
from .emit import join_formats, pre_activation_format
from .hls4ml_model import ModelNames

SMOOTH = (Activation.TANH, Activation.SIGMOID)
DEFAULT_MODEL_PRECISION = "ap_fixed<16,6>"  # hls4ml's default; every layer's types are set, so it covers nothing


class NotProved(Exception):
    """The design hls4ml can build (joined per layer, hls4ml's constants) fails verifq's analysis."""

    def __init__(self, analysis, why: str):
        super().__init__(why)
        self.analysis = analysis
        self.why = why


@dataclass(frozen=True)
class Hls4mlDesign:
    design: Design  # per layer, hls4ml's constant rules: what hls4ml builds from the config
    analysis: object  # the analysis proving `design`
    reproved: bool  # False: the arithmetic equals the given design's, its proof stands
    notes: tuple[str, ...]


def _constant_rule(rule: ConstantRule) -> ConstantRule:
    return ConstantRule.HLS4ML_TRUNCATE if rule is ConstantRule.HLS4ML_TRUNCATE else ConstantRule.HLS4ML_NEAREST


def _joined(design: Design) -> Design:
    layers = tuple(
        LayerFormats.uniform(len(lf.weight), *(join_formats(fmts) for _, fmts in lf.roles()), table=lf.table)
        for lf in design.layers)
    return replace(design, inputs=(join_formats(design.inputs),) * len(design.inputs), layers=layers,
                   weight_rule=_constant_rule(design.weight_rule), bias_rule=_constant_rule(design.bias_rule))


def _same_constants(a, b) -> bool:
    return all(np.array_equal(x.weight_mant, y.weight_mant) and np.array_equal(x.bias_acc_mant, y.bias_acc_mant)
               and np.array_equal(x.bias_mant, y.bias_mant) for x, y in zip(a.layers, b.layers))


def check_buildable(network, design: Design, frontend: str, strategy: str = "Latency") -> None:
    """UserError when hls4ml cannot build the design's arithmetic at all (whatever the formats)."""
    for pos, (layer, lf) in enumerate(zip(network.layers, design.layers), start=1):
        if layer.activation in SMOOTH and lf.table is None:
            raise UserError(f"layer {pos} ({layer.activation.value}) uses the ideal table, which hls4ml cannot build",
                            hint="prove (or synthesize) the design with hls4ml's tables: `tables = hls4ml` in the "
                            "spec's implementation block (the default)")
    if design.overflow is Overflow.SATURATE and strategy != "Latency":
        raise UserError(f"Strategy {strategy} with overflow = saturate: hls4ml accumulates in another order, so "
                        "partial sums saturate differently from the proved ones",
                        hint="use Strategy Latency, or a design with overflow = wrap")
    if frontend != "onnx":
        return
    if design.overflow is Overflow.SATURATE:
        raise UserError("hls4ml's ONNX frontend adds the bias after the sum (an ApplyAlpha layer), so with "
                        "overflow = saturate its partial sums are not the proved ones",
                        hint="use a design with overflow = wrap, or give the model as Keras 3 (.keras)")
    for pos, lf in enumerate(design.layers, start=1):
        fb = max(f.frac_bits for f in lf.bias)
        fa = max(f.frac_bits for f in lf.accum)
        if design.rounding is Rounding.NEAREST and fb > fa:
            raise UserError(f"layer {pos}: the bias has more fractional bits ({fb}) than the accumulator ({fa}); "
                            "hls4ml's ONNX frontend adds it after the sum and rounds once, the proved design rounds "
                            "it first", hint="give the model as Keras 3 (.keras), or use bias formats with at most "
                            "the accumulator's fractional bits")


def hls4ml_design(problem, design: Design, analysis, frontend: str, strategy: str = "Latency") -> Hls4mlDesign:
    """The design hls4ml builds from verifq's configuration of `design`, and its proof.

    `analysis` proves `design`. UserError when hls4ml cannot build it at all; NotProved when the
    per-layer design hls4ml can build is not proved."""
    net = problem.network
    check_buildable(net, design, frontend, strategy)
    hd = _joined(design)
    notes = []
    if any(len(set(fmts)) > 1 for lf in design.layers for _, fmts in lf.roles()) or len(set(design.inputs)) > 1:
        notes.append("the design has per-neuron formats; hls4ml has one type per layer and role, so each layer "
                     "uses the narrowest format holding every neuron's")
    same_formats = hd.inputs == design.inputs and all(
        a.roles() == b.roles() for a, b in zip(hd.layers, design.layers))
    qnet = quantize_network(net, hd)
    if same_formats and _same_constants(qnet, analysis.qnet):
        return Hls4mlDesign(replace(hd, layers=design.layers), analysis, False, tuple(notes))
    if same_formats:
        notes.append("hls4ml writes each weight as a decimal with F digits and rounds that into its type "
                     "(ties of the exact value go to the even mantissa): some constants differ from the given "
                     "design's, so the design with hls4ml's constants was proved again")
    else:
        notes.append("the per-layer design was proved again (the spec's implementation limits included)")
    from ..analysis.prove import analyse

    new = analyse(problem, hd, range_method=analysis.range_method, error_method=analysis.error_method)
    if not new.proved:
        hint = ("; synthesize a per-layer design (`verifq synth SPEC --granularity layer`) for hls4ml"
                if len(notes) and "per-neuron" in notes[0] else "")
        raise NotProved(new, "the per-layer design hls4ml can build (" + "; ".join(notes) + ") is NOT proved" + hint)
    return Hls4mlDesign(hd, new, True, tuple(notes))


def hls4ml_config(design: Design, network, names: ModelNames, model: dict | None = None) -> dict:
    """The config dict (`Model`, `LayerName`) for hls4ml's convert_from_*_model(hls_config=...).

    `design` must be per layer (as `hls4ml_design` returns it); `model`: the `Model` section to
    keep (a user's), else hls4ml's defaults with the Latency strategy."""
    q, o = design.rounding, design.overflow

    def ap(fmt, rounding=q) -> str:
        return fmt.ap_type(rounding, o)

    const = {ConstantRule.HLS4ML_TRUNCATE: Rounding.TRUNCATE}
    wq = const.get(design.weight_rule, Rounding.NEAREST)
    bq = const.get(design.bias_rule, Rounding.NEAREST)
    layers: dict[str, dict] = {names.input: {"Precision": {"result": ap(design.inputs[0])}}}
    for layer, lf, ln in zip(network.layers, design.layers, names.layers):
        w, b, a, out = lf.weight[0], lf.bias[0], lf.accum[0], lf.output[0]
        linear = layer.activation is Activation.LINEAR
        result = ap(out if linear else pre_activation_format(a, out.frac_bits, q))
        dense = {"weight": ap(w, wq), "bias": ap(b, bq), "accum": ap(a)}
        if ln.bias is not None:  # ONNX: the Dense's sum stays exact, the ApplyAlpha adds the bias and rounds once
            layers[ln.dense] = {"Precision": {**dense, "result": ap(a)}}
            layers[ln.bias] = {"Precision": {"bias": ap(b, bq), "result": result}}
        else:
            layers[ln.dense] = {"Precision": {**dense, "result": result}}
        if ln.act is not None:
            entry: dict = {"Precision": {"result": ap(out)}}
            if layer.activation in SMOOTH:
                t = lf.table
                entry["table_size"] = t.size
                entry["table_t"] = t.entry.ap_type(t.rounding, t.overflow)
            layers[ln.act] = entry
    model = dict(model) if model else {"Precision": DEFAULT_MODEL_PRECISION, "ReuseFactor": 1, "Strategy": "Latency"}
    return {"Model": model, "LayerName": layers}


def merge_config(ours: dict, theirs: dict, known_names: list[str] | None, warn) -> dict:
    """The user's config with every precision (and table key) verifq sets replaced.

    Their `Model` section is kept (its Precision covers nothing: every layer's types are set); a
    LayerName key verifq does not set is an error (it matches no layer, or it would override the
    proved types); `LayerType` entries are kept with a warning."""
    if not isinstance(theirs, dict):
        raise UserError("the configuration to merge is not a dict of hls4ml settings (Model, LayerName, ...)")
    out = copy.deepcopy(theirs)
    model = out.get("Model")
    if model is not None and not isinstance(model, dict):
        raise UserError("the configuration's Model entry is not a dict")
    out["Model"] = model or ours["Model"]
    their_layers = out.get("LayerName") or {}
    if not isinstance(their_layers, dict):
        raise UserError("the configuration's LayerName entry is not a dict")
    extra = [k for k in their_layers if k not in ours["LayerName"]]
    if extra:
        where = "matches no layer of the model (hls4ml would ignore it silently)"
        if known_names is not None and extra[0] in known_names:
            where = "names a layer verifq sets under another name; it would override the proved types"
        raise UserError(f"LayerName key '{extra[0]}' of the configuration to merge {where}",
                        hint=f"the model's layers are: {', '.join(ours['LayerName'])}; remove or rename the key")
    merged = {}
    for name, entry in ours["LayerName"].items():
        mine = dict(their_layers.get(name) or {})
        for key in ("Precision", "table_t", "table_size", "TableSize", "TableT"):
            mine.pop(key, None)
        merged[name] = {**mine, **entry}
    out["LayerName"] = merged
    if out.get("LayerType"):
        warn("the LayerType entries are kept; every precision verifq proves is set by LayerName, which hls4ml "
             "reads first")
    return out


def config_json(config: dict) -> str:
    return json.dumps(config, indent=2) + "\n"
