"""verifq's JSON network format (the format of the benchmark suite's
`networks/*.json`): `layers` of `weights` (one row per output neuron),
`bias` and `activation`, plus optional `input_normalization`,
`output_postprocess` and descriptive metadata.

Numbers are never read through a float on the way in. Their exact value
depends on where they came from, which the file states in
`source_number_type`: for float32/float64 sources each JSON token is a
round-trip repr, so the value meant is the binary float it reads back to;
for decimal-text sources it is the decimal the token spells. That rule
applies to the layers (the numbers copied from the source); normalization,
postprocess and domains come from decimal text (headers, specifications) in
every benchmark and are always read as decimals.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

from ...errors import Location, UserError
from ..ir import Activation, DenseLayer, InputNormalization, Network, OutputPostprocess
from ._common import exact_decimal, finish, offset_location

_HINT = (
    'a JSON network is {"layers": [{"weights": [[...], ...], "bias": [...], "activation": "relu"}, ...]} '
    "with one weight row per output neuron"
)
_ACTIVATIONS = ", ".join(a.value for a in Activation)
_BOXES = ("input_domain", "input_domain_raw")
_NUMERIC_STRINGS = ("error_bound",)  # numeric fields some files store as strings for exactness


class _Num(str):
    """A JSON number token, kept as text (a plain `str` is a JSON string)."""


def parse_json_network(text: str, path: Path) -> tuple[Network, dict[str, Any]]:
    """The network and the file's other fields (numbers as exact Fractions)."""
    doc = _Doc(text, path)
    root = doc.root
    binary = str(root.get("source_number_type", "")).startswith("float")

    layers_raw = root.get("layers")
    if not isinstance(layers_raw, list) or not layers_raw:
        raise doc.error("'layers' must be a non-empty list of layers", ("layers",) if "layers" in root else ())
    layers = []
    n_prev = None
    for k, layer in enumerate(layers_raw):
        layers.append(_layer(doc, layer, k, n_prev, binary))
        n_prev = layers[-1].n_out
    n_in, n_out = layers[0].n_in, n_prev

    normalization = _normalization(doc, root.get("input_normalization"), n_in)
    postprocess = _postprocess(doc, root.get("output_postprocess"), n_out)
    meta = {k: _metadata_value(doc, (k,), v) for k, v in root.items() if k != "layers"}
    _check_summary(doc, meta, n_in, n_out, sum(l.n_in * l.n_out + l.n_out for l in layers))
    _check_domains(doc, meta, n_in)

    texts = {k: v for k, v in root.items() if type(v) is str}  # not number tokens
    license_note = texts.get("license_note")
    if license_note and "source" in texts:
        license_note = f"{license_note} (original: {texts['source']})"
    net = Network(
        name=texts.get("name") or path.stem,
        layers=tuple(layers),
        source=str(path),
        license_note=license_note,
        normalization=normalization,
        postprocess=postprocess,
        metadata=tuple((k, v) for k, v in texts.items() if k not in ("name", "license_note")),
    )
    return finish(net, path), meta


def _layer(doc: "_Doc", layer: Any, k: int, n_prev: int | None, binary: bool) -> DenseLayer:
    where = ("layers", k)
    name = f"layer {k + 1}"
    if not isinstance(layer, dict):
        raise doc.error(f"{name} must be an object with 'weights', 'bias' and 'activation'", where)
    for key in ("weights", "bias", "activation"):
        if key not in layer:
            raise doc.error(f"{name} has no '{key}'", where)
    act = layer["activation"]
    if type(act) is not str or act not in {a.value for a in Activation}:
        raise doc.error(f"{name}: unknown activation {act!r}", where + ("activation",), f"use one of {_ACTIVATIONS}")
    rows = layer["weights"]
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
        raise doc.error(f"{name}: 'weights' must be a non-empty list of rows", where + ("weights",))
    width = len(rows[0])
    expect = width if n_prev is None else n_prev
    for r, row in enumerate(rows):
        if len(row) != expect:
            got = f"{len(row)} entr{'y' if len(row) == 1 else 'ies'}"
            why = f"the previous layer has {n_prev} outputs" if n_prev is not None else f"row 1 has {width}"
            raise doc.error(f"{name}, row {r + 1}: {got}, but {why}", where + ("weights", r))
    if expect == 0:
        raise doc.error(f"{name}: weight rows are empty", where + ("weights",))
    bias = layer["bias"]
    if not isinstance(bias, list) or len(bias) != len(rows):
        n = len(bias) if isinstance(bias, list) else "no list of"
        raise doc.error(f"{name}: {n} biases for {len(rows)} weight rows", where + ("bias",))
    weights = tuple(
        tuple(doc.number(v, where + ("weights", r, c), f"{name}, row {r + 1}, column {c + 1}", binary) for c, v in enumerate(row))
        for r, row in enumerate(rows)
    )
    biases = tuple(doc.number(v, where + ("bias", r), f"{name}, bias {r + 1}", binary) for r, v in enumerate(bias))
    return DenseLayer(weights, biases, Activation(act))


def _vectors(doc: "_Doc", obj: Any, key: str, fields: tuple[str, ...], n: int) -> list[tuple[Fraction, ...]] | None:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise doc.error(f"'{key}' must be an object with {', '.join(fields)}", (key,))
    out = []
    for f in fields:
        vec = obj.get(f)
        if not isinstance(vec, list) or len(vec) != n:
            raise doc.error(f"'{key}.{f}' must be a list of {n} numbers", (key, f) if f in obj else (key,))
        out.append(tuple(doc.number(v, (key, f, i), f"{key}.{f}[{i}]", False) for i, v in enumerate(vec)))
    return out


def _normalization(doc: "_Doc", obj: Any, n_in: int) -> InputNormalization | None:
    vecs = _vectors(doc, obj, "input_normalization", ("clip_lo", "clip_hi", "mean", "range"), n_in)
    if vecs is None:
        return None
    lo, hi, mean, rng = vecs
    for i in range(n_in):
        if lo[i] > hi[i]:
            raise doc.error(f"input_normalization: clip_lo[{i}] > clip_hi[{i}]", ("input_normalization", "clip_lo", i))
        if rng[i] == 0:
            raise doc.error(f"input_normalization: range[{i}] is 0 (division by zero)", ("input_normalization", "range", i))
    return InputNormalization(lo, hi, mean, rng)


def _postprocess(doc: "_Doc", obj: Any, n_out: int) -> OutputPostprocess | None:
    vecs = _vectors(doc, obj, "output_postprocess", ("scale", "pre_offset", "post_offset"), n_out)
    return None if vecs is None else OutputPostprocess(*vecs)


def _metadata_value(doc: "_Doc", where: tuple, value: Any) -> Any:
    """Numbers become exact decimal Fractions (non-finite ones stay floats); the rest is kept."""
    if isinstance(value, _Num):
        exact = exact_decimal(value)
        return exact if exact is not None else float(value)
    if isinstance(value, str) and where[-1] in _NUMERIC_STRINGS:
        exact = exact_decimal(value.strip())
        if exact is None:
            raise doc.error(f"'{where[-1]}' must be a number, not {value!r}", where)
        return exact
    if isinstance(value, list):
        return [_metadata_value(doc, where + (i,), v) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _metadata_value(doc, where + (k,), v) for k, v in value.items()}
    return value


def _check_summary(doc: "_Doc", meta: dict, n_in: int, n_out: int, params: int) -> None:
    """The descriptive counts, when present, must describe the layers actually in the file."""
    for key, actual in (("inputs", n_in), ("outputs", n_out), ("parameter_count", params)):
        stated = meta.get(key)
        if stated is not None and stated != actual:
            raise doc.error(f"'{key}' says {stated} but the layers give {actual}", (key,), "the file may be truncated or edited")


def _check_domains(doc: "_Doc", meta: dict, n_in: int) -> None:
    """Scripts build specs from these boxes, so a malformed one is reported here."""
    for key in _BOXES:
        if meta.get(key) is not None:
            _check_box(doc, (key,), meta[key], n_in)
    extra = meta.get("extra_domains")
    if isinstance(extra, dict):
        for name, box in extra.items():
            if not name.startswith("_"):  # "_note" and the like
                _check_box(doc, ("extra_domains", name), box, n_in)


def _check_box(doc: "_Doc", where: tuple, box: Any, n_in: int) -> None:
    label = ".".join(str(w) for w in where)
    if not isinstance(box, list) or len(box) != n_in:
        raise doc.error(f"'{label}' must be a list of {n_in} [lo, hi] pairs", where)
    for i, pair in enumerate(box):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, Fraction) for v in pair)):
            raise doc.error(f"'{label}'[{i}] must be a pair of finite numbers [lo, hi]", where + (i,))
        if pair[0] > pair[1]:
            raise doc.error(f"'{label}'[{i}]: lo {float(pair[0]):g} > hi {float(pair[1]):g}", where + (i,))


class _Doc:
    """The parsed file plus the means to point at any value in its text."""

    def __init__(self, text: str, path: Path):
        self.text = text
        self.path = path
        try:
            self.root = json.loads(text, parse_float=_Num, parse_int=_Num, parse_constant=_Num)
        except json.JSONDecodeError as exc:
            raise UserError(
                f"invalid JSON: {exc.msg}", Location(str(path), exc.lineno, exc.colno), hint=_HINT
            ) from None
        except RecursionError:
            raise UserError("JSON nested too deeply", Location(str(path)), hint=_HINT) from None
        if not isinstance(self.root, dict):
            raise UserError("a JSON network file must hold one object", offset_location(path, text, 0), hint=_HINT)

    def error(self, message: str, where: tuple = (), hint: str | None = _HINT) -> UserError:
        return UserError(message, self.location(where), hint=hint)

    def location(self, where: tuple) -> Location:
        offset = _locate(self.text, where)
        if offset is None:
            return Location(str(self.path))
        return offset_location(self.path, self.text, offset, _token_length(self.text, offset))

    def number(self, value: Any, where: tuple, what: str, binary: bool) -> Fraction:
        """Exact value of a JSON number token (see the module docstring for the rule)."""
        if isinstance(value, _Num):
            try:
                f = float(value)
                if math.isfinite(f):
                    return Fraction(f) if binary else Fraction(value)
            except (ValueError, OverflowError):
                pass
            raise self.error(f"{what} is {value}: network numbers must be finite", where)
        raise self.error(f"{what} must be a number, not {json.dumps(value)[:40]}", where)


_WS = " \t\r\n"


def _locate(text: str, where: tuple) -> int | None:
    """Offset of the value at `where` (keys and list indices) in the JSON text.

    Only called to report an error, so it simply re-walks the text, skipping
    unwanted values with the standard decoder.
    """
    dec = json.JSONDecoder()

    def skip_ws(i: int) -> int:
        while i < len(text) and text[i] in _WS:
            i += 1
        return i

    try:
        i = skip_ws(0)
        for key in where:
            if isinstance(key, int):
                if text[i] != "[":
                    return None
                i = skip_ws(i + 1)
                for _ in range(key):
                    i = skip_ws(dec.raw_decode(text, i)[1])
                    if text[i] != ",":
                        return None
                    i = skip_ws(i + 1)
            else:
                if text[i] != "{":
                    return None
                i = skip_ws(i + 1)
                while True:
                    name, i = dec.raw_decode(text, i)
                    i = skip_ws(skip_ws(i) + 1)  # past ':'
                    if name == key:
                        break
                    i = skip_ws(dec.raw_decode(text, i)[1])
                    if text[i] != ",":
                        return None
                    i = skip_ws(i + 1)
        return i
    except (IndexError, ValueError):
        return None


def _token_length(text: str, offset: int) -> int:
    """Length of a scalar token at `offset` (1 for a container), for the caret."""
    if offset >= len(text) or text[offset] in "[{":
        return 1
    end = offset
    while end < len(text) and text[end] not in ",]}\n":
        end += 1
    return max(1, len(text[offset:end].rstrip()))
