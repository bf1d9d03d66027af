"""The NNet text format (Julian et al., Stanford; used by ACAS Xu, VerticalCAS
and ARCH-COMP): `//` header comments, then one record per line --

    numLayers, inputSize, outputSize, maxLayerSize
    layer sizes (input first)
    obsolete "symmetric" flag
    input minimums / maximums / means / ranges (means and ranges carry one
    extra entry for the outputs)

-- then, layer by layer, the weight rows (one per output neuron) and the
biases. Every number is decimal text, so it is taken as the exact decimal it
spells. Hidden layers are ReLU, the output layer is linear.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from pathlib import Path

from ...errors import Location, UserError
from ..ir import Activation, DenseLayer, InputNormalization, Network, OutputPostprocess
from ._common import exact_decimal, finish, offset_location

_TOKEN = re.compile(r"[^,\s]+")
_HINT = "see the NNet format description: https://github.com/sisl/NNet"


class _Token:
    """One comma/space separated field with its offset in the file."""

    __slots__ = ("text", "offset")

    def __init__(self, text: str, offset: int):
        self.text = text
        self.offset = offset


def parse_nnet(text: str, path: Path) -> Network:
    """Build the network; every inconsistency is a `UserError` at its line and column."""
    lines = _Lines(text, path)
    comments = lines.skip_comments()

    counts = lines.record("the counts line (numLayers, inputSize, outputSize, maxLayerSize)")
    n_layers, n_in, n_out = (_int(t, lines, "count") for t in _need(counts, 3, lines, "the counts line"))
    if n_layers < 1:
        raise UserError(f"the network must have at least one layer, not {n_layers}", lines.at(counts[0]), hint=_HINT)
    sizes_line = lines.record("the layer-sizes line")
    # ARCH-COMP's converter writes the output size twice; readers ignore extras.
    sizes = [_int(t, lines, "layer size") for t in _need(sizes_line, n_layers + 1, lines, "the layer-sizes line")]
    if sizes[0] != n_in or sizes[-1] != n_out:
        raise UserError(
            f"layer sizes start with {sizes[0]} and end with {sizes[-1]}, "
            f"but the counts line says {n_in} inputs and {n_out} outputs",
            lines.at(sizes_line[0]),
            hint=_HINT,
        )
    for tok, size in zip(sizes_line, sizes):
        if size <= 0:
            raise UserError(f"layer size {size} must be positive", lines.at(tok), hint=_HINT)
    lines.record("the obsolete 'symmetric' flag line")
    norm_lines = [lines.record(f"the input {what} line") for what in ("minimums", "maximums", "means", "ranges")]
    normalization, postprocess = _normalization(norm_lines, n_in, n_out, lines)

    body = lines.rest_tokens()
    layers = []
    for k in range(n_layers):
        rows_in, rows_out = sizes[k], sizes[k + 1]
        weights = tuple(
            tuple(body.number(f"layer {k + 1}, row {r + 1}, column {c + 1}") for c in range(rows_in))
            for r in range(rows_out)
        )
        bias = tuple(body.number(f"layer {k + 1}, bias {r + 1}") for r in range(rows_out))
        act = Activation.LINEAR if k == n_layers - 1 else Activation.RELU
        layers.append(DenseLayer(weights, bias, act))
    body.expect_end()

    net = Network(
        name=path.stem,
        layers=tuple(layers),
        source=str(path),
        license_note=" ".join(comments) or None,
        normalization=normalization,
        postprocess=postprocess,
        metadata=(("source_format", "nnet"),),
    )
    return finish(net, path)


def _normalization(norm_lines, n_in: int, n_out: int, lines: "_Lines"):
    """Input normalization and output postprocess from the min/max/mean/range lines.

    Some converters (the ARCH-COMP pendulum files) write a single `0` on each
    of the four lines to mean "no normalization".
    """
    if all(len(ln) == 1 and exact_decimal(ln[0].text) == 0 for ln in norm_lines):
        return None, None  # (a real one-input normalization cannot have range 0)
    mins, maxs, means, ranges = (
        [lines.number(t, what) for t in _need(ln, n_in, lines, f"the input {what} line")]
        for ln, what in zip(norm_lines, ("minimums", "maximums", "means", "ranges"))
    )
    for i, (lo, hi) in enumerate(zip(mins, maxs)):
        if lo > hi:
            raise UserError(
                f"input {i + 1}: minimum {float(lo):g} is above maximum {float(hi):g}",
                lines.at(norm_lines[0][i]),
                hint=_HINT,
            )
    for tok, r in zip(norm_lines[3], ranges):
        if r == 0:
            raise UserError("an input range of 0 would divide by zero", lines.at(tok), hint=_HINT)
    normalization = InputNormalization(tuple(mins), tuple(maxs), tuple(means[:n_in]), tuple(ranges[:n_in]))
    postprocess = None
    if len(norm_lines[2]) > n_in and len(norm_lines[3]) > n_in:
        out_mean = lines.number(norm_lines[2][n_in], "output mean")
        out_range = lines.number(norm_lines[3][n_in], "output range")
        postprocess = OutputPostprocess(
            scale=(out_range,) * n_out,
            pre_offset=(Fraction(0),) * n_out,
            post_offset=(out_mean,) * n_out,
        )
    return normalization, postprocess


def _need(tokens: list[_Token], n: int, lines: "_Lines", what: str) -> list[_Token]:
    """The first n fields of a header record (extra trailing fields are ignored, as NNet readers do)."""
    if len(tokens) < n:
        where = lines.at(tokens[-1]) if tokens else lines.file_location()
        raise UserError(f"{what} has {len(tokens)} value(s), expected {n}", where, hint=_HINT)
    return tokens[:n]


def _int(tok: _Token, lines: "_Lines", what: str) -> int:
    value = exact_decimal(tok.text)
    if value is None or value.denominator != 1:
        raise UserError(f"{what} '{tok.text}' is not a whole number", lines.at(tok), hint=_HINT)
    return int(value)


class _Lines:
    """Reads the header record by record, then the body as one stream of fields."""

    def __init__(self, text: str, path: Path):
        self.text = text
        self.path = path
        self.pos = 0

    def file_location(self) -> Location:
        return offset_location(self.path, self.text, len(self.text.rstrip()), 1)

    def at(self, tok: _Token) -> Location:
        return offset_location(self.path, self.text, tok.offset, len(tok.text))

    def _next_line(self) -> tuple[str, int] | None:
        while self.pos < len(self.text):
            start = self.pos
            end = self.text.find("\n", start)
            end = len(self.text) if end < 0 else end
            self.pos = end + 1
            line = self.text[start:end]
            if line.strip():
                return line, start
        return None

    def skip_comments(self) -> list[str]:
        """Consume the leading `//` lines and return their text (the license header)."""
        comments = []
        while True:
            save = self.pos
            got = self._next_line()
            if got is None or not got[0].lstrip().startswith("//"):
                self.pos = save
                return comments
            comments.append(got[0].lstrip()[2:].strip())

    def record(self, what: str) -> list[_Token]:
        got = self._next_line()
        if got is None:
            raise UserError(
                f"the file ends before {what}", self.file_location(), hint="the file looks truncated"
            )
        line, start = got
        return [_Token(m.group(), start + m.start()) for m in _TOKEN.finditer(line)]

    def number(self, tok: _Token, what: str) -> Fraction:
        value = exact_decimal(tok.text)
        if value is None:
            raise UserError(_bad_number(tok.text, what), self.at(tok), hint=_HINT)
        return value

    def rest_tokens(self) -> "_Body":
        return _Body(self, [_Token(m.group(), m.start()) for m in _TOKEN.finditer(self.text, self.pos)])


class _Body:
    """The weights-and-biases stream after the header."""

    def __init__(self, lines: _Lines, tokens: list[_Token]):
        self.lines = lines
        self.tokens = tokens
        self.i = 0

    def number(self, what: str) -> Fraction:
        if self.i >= len(self.tokens):
            raise UserError(
                f"the file ends before {what} ({len(self.tokens)} weight/bias values read)",
                self.lines.file_location(),
                hint="the file looks truncated: each layer needs out x in weights, then out biases",
            )
        tok = self.tokens[self.i]
        self.i += 1
        return self.lines.number(tok, what)

    def expect_end(self) -> None:
        if self.i < len(self.tokens):
            extra = len(self.tokens) - self.i
            raise UserError(
                f"{extra} value(s) after the last layer's biases",
                self.lines.at(self.tokens[self.i]),
                hint="the layer sizes in the header do not match the weights in the file",
            )


def _bad_number(token: str, what: str) -> str:
    try:
        value = float(token)
    except ValueError:
        return f"{what}: '{token}' is not a number"
    if not math.isfinite(value):
        return f"{what} is {token}: weights and normalization values must be finite"
    return f"{what}: '{token}' is not a decimal number"
