"""The formats file: a `Design` as JSON, readable by `prove`, code generation
and `synth` alike.

Layout (version 1)::

    {
      "format": "verifq-formats",
      "version": 1,
      "network": {"name": "aster_ACC3NN", "inputs": 5, "layers": [20, 20, 20, 1]},
      "rounding": "truncate",            # or "nearest"
      "overflow": "wrap",                # or "saturate"
      "inputs_fixed": false,             # true: inputs arrive already in the input formats
      "inputs": "fixed<16,6>",           # one format for all inputs, or a list (one per input)
      "layers": [
        {"layer": 1,
         "weight": "fixed<12,1>",        # one format for the whole layer ...
         "bias":   "fixed<14,2>",
         "accum":  ["fixed<24,6>", ...], # ... or a list with one format per neuron
         "output": "ufixed<16,5>"},
        ...
      ]
    }

A format is written as in `.nnspec` files: ``fixed<W,I>`` (signed two's
complement, W bits, I integer bits including the sign; I may be negative or
exceed W) or ``ufixed<W,I>`` (unsigned). Layers are listed in order and
numbered from 1; every role (weight, bias, accum, output) is either one
format string or a list with exactly one format per neuron. Other keys are
ignored (synthesis adds a "synthesis" object with costs and the certified
bounds for information; they are never trusted when the file is read).

`design_from_json` validates the document against the network's shape and
raises `UserError` on any mismatch (wrong number of layers, inputs or
neurons, malformed formats, unknown modes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..outputs import write_text_atomic
from ..errors import Location, UserError
from ..inputs import read_text
from ..network.ir import Network
from ..network.ir import Activation
from .design import ROLES, ConstantRule, Design, LayerFormats
from .format import FixedFormat, Overflow, Rounding, parse_format
from .tables import TableSpec

FORMAT_NAME = "verifq-formats"
VERSION = 1


def _compact(fmts: tuple[FixedFormat, ...]):
    return str(fmts[0]) if len(set(fmts)) == 1 else [str(f) for f in fmts]


def design_to_json(design: Design, network: Network | None = None) -> dict:
    """The formats document for `design` (see the module docstring)."""
    doc: dict[str, Any] = {"format": FORMAT_NAME, "version": VERSION}
    if network is not None:
        doc["network"] = {"name": network.name, "inputs": network.n_inputs, "layers": [l.n_out for l in network.layers]}
    doc["rounding"] = design.rounding.value
    doc["overflow"] = design.overflow.value
    doc["inputs_fixed"] = bool(design.inputs_fixed)
    doc["inputs"] = _compact(design.inputs)
    if design.weight_rule is not ConstantRule.NEAREST or design.bias_rule is not ConstantRule.NEAREST:
        doc["weight_rule"], doc["bias_rule"] = design.weight_rule.value, design.bias_rule.value
    doc["layers"] = []
    for i, lf in enumerate(design.layers, start=1):
        entry = {"layer": i, **{role: _compact(fmts) for role, fmts in lf.roles()}}
        if network is None or network.layers[i - 1].activation in (Activation.TANH, Activation.SIGMOID):
            entry["table"] = table_to_json(lf.table)
        doc["layers"].append(entry)
    return doc


def table_to_json(table: TableSpec | None):
    """A lookup table as the formats file writes it ("ideal": the ideal table)."""
    if table is None:
        return "ideal"
    return {"size": table.size, "entry": str(table.entry), "rounding": table.rounding.value,
            "overflow": table.overflow.value}


def table_from_json(value: Any, where: str) -> TableSpec | None:
    if value == "ideal":
        return None
    if not isinstance(value, dict) or set(value) - {"size", "entry", "rounding", "overflow"} or "size" not in value \
            or "entry" not in value:
        raise UserError(f"{where}: a table is \"ideal\" or {{\"size\": N, \"entry\": \"fixed<W,I>\", "
                        f"\"rounding\": ..., \"overflow\": ...}}")
    size = value["size"]
    if type(size) is not int or not 2 <= size <= 1 << 20:
        raise UserError(f"{where}: table size must be a whole number from 2 to {1 << 20}, not {json.dumps(size)[:20]}")
    try:
        rounding = Rounding(value.get("rounding", Rounding.TRUNCATE.value))
        overflow = Overflow(value.get("overflow", Overflow.WRAP.value))
    except ValueError:
        raise UserError(f"{where}: table rounding is truncate or nearest, overflow wrap or saturate") from None
    return TableSpec(size, parse_format(value["entry"], f"{where} entry"), rounding, overflow)


def _expand(value: Any, n: int, where: str) -> tuple[FixedFormat, ...]:
    if isinstance(value, list):
        if len(value) != n:
            raise UserError(f"{where}: {len(value)} formats for {n} {'values' if n != 1 else 'value'}",
                            hint="give one format for all, or exactly one per neuron")
        return tuple(parse_format(v, f"{where}[{k}]") for k, v in enumerate(value))
    return (parse_format(value, where),) * n


def design_from_json(doc: Any, network: Network, source: str = "formats file", implementation=None) -> Design:
    """Read a formats document for `network`; UserError when it does not fit the network. A tanh/sigmoid
    layer without a "table" gets `implementation`'s table (the ideal one without an implementation)."""
    if not isinstance(doc, dict):
        raise UserError(f"{source}: a formats file holds one JSON object")
    kind = doc.get("format", FORMAT_NAME)
    if kind != FORMAT_NAME:
        raise UserError(f"{source}: 'format' is {kind!r}, not {FORMAT_NAME!r}")
    version = doc.get("version", VERSION)
    if version != VERSION:
        raise UserError(f"{source}: version {version!r} is not supported (this verifq reads version {VERSION})")
    try:
        rounding = Rounding(doc.get("rounding", Rounding.TRUNCATE.value))
    except ValueError:
        raise UserError(f"{source}: unknown rounding {doc.get('rounding')!r}", hint="use truncate or nearest") from None
    try:
        overflow = Overflow(doc.get("overflow", Overflow.WRAP.value))
    except ValueError:
        raise UserError(f"{source}: unknown overflow {doc.get('overflow')!r}", hint="use wrap or saturate") from None
    fixed = doc.get("inputs_fixed", False)
    if not isinstance(fixed, bool):
        raise UserError(f"{source}: 'inputs_fixed' must be true or false")
    meta = doc.get("network")
    if isinstance(meta, dict):
        shape = [l.n_out for l in network.layers]
        if meta.get("inputs") not in (None, network.n_inputs) or meta.get("layers") not in (None, shape):
            raise UserError(
                f"{source}: written for a network with {meta.get('inputs')} inputs and layers {meta.get('layers')}, "
                f"but {network.name} has {network.n_inputs} inputs and layers {shape}",
                hint="synthesize formats for this network, or use the network the file was written for",
            )
    if "inputs" not in doc:
        raise UserError(f"{source}: no 'inputs' formats")
    inputs = _expand(doc["inputs"], network.n_inputs, f"{source}: inputs")
    layers_doc = doc.get("layers")
    if not isinstance(layers_doc, list):
        raise UserError(f"{source}: 'layers' must be a list with one entry per layer")
    if len(layers_doc) != len(network.layers):
        raise UserError(f"{source}: {len(layers_doc)} layers, but {network.name} has {len(network.layers)}")
    layers = []
    for i, (entry, layer) in enumerate(zip(layers_doc, network.layers), start=1):
        where = f"{source}: layer {i}"
        if not isinstance(entry, dict):
            raise UserError(f"{where}: expected an object with {', '.join(ROLES)}")
        if entry.get("layer", i) != i:
            raise UserError(f"{where}: entry says layer {entry.get('layer')}; layers must be listed in order from 1")
        missing = [r for r in ROLES if r not in entry]
        if missing:
            raise UserError(f"{where}: no {', '.join(missing)} format")
        table = None
        if layer.activation in (Activation.TANH, Activation.SIGMOID):
            if "table" in entry:
                table = table_from_json(entry["table"], f"{where} table")
            elif implementation is not None:
                table = implementation.table()
        layers.append(LayerFormats(*(_expand(entry[r], layer.n_out, f"{where} {r}") for r in ROLES), table=table))
    rules = []
    for key in ("weight_rule", "bias_rule"):
        try:
            rules.append(ConstantRule(doc.get(key, ConstantRule.NEAREST.value)))
        except ValueError:
            raise UserError(f"{source}: unknown {key} {doc.get(key)!r}",
                            hint=", ".join(r.value for r in ConstantRule)) from None
    return Design(tuple(inputs), tuple(layers), rounding, overflow, fixed, *rules)


def save_design(path: str | Path, design: Design, network: Network | None = None, extra: dict | None = None) -> None:
    """Write the formats file atomically (complete or absent, never half-written)."""
    doc = design_to_json(design, network)
    if extra:
        doc.update(extra)
    write_text_atomic(path, json.dumps(doc, indent=2) + "\n")


def recorded_split(path: str | Path) -> int:
    """The `--split` a formats file written by `synth --split` was proved with (1: none recorded)."""
    try:
        split = json.loads(Path(path).read_text(encoding="utf-8")).get("synthesis", {}).get("split", 1)
    except (OSError, ValueError, AttributeError):
        return 1
    return split if isinstance(split, int) and split > 1 else 1


def load_design(path: str | Path, network: Network, implementation=None) -> Design:
    path = Path(path)
    text = read_text(path, kind="formats file")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"invalid JSON: {exc.msg}", Location(str(path), exc.lineno, exc.colno)) from None
    except (ValueError, RecursionError) as exc:  # a number too long for int(), nesting too deep
        raise UserError(f"not a formats file: {type(exc).__name__}: {str(exc)[:100]}", Location(str(path))) from None
    return design_from_json(doc, network, str(path), implementation)
