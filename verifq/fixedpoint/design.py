"""A fixed-point design: the format of every stored value of a network.

This is the single record that `prove` analyses, `synth` produces, the
simulator runs, the certificate records and code generation emits. Formats
are per neuron (per-layer and uniform designs simply repeat one format).

Semantics of neuron j of a dense layer (DESIGN.md; one written-down meaning
for analysis, simulator, checker and generated code):

* weights w_jk are rounded to nearest (ties up) to `weight[j]` once, offline;
  the bias to `bias[j]` likewise;
* the accumulator (format `accum[j]`, fractional bits F_a) starts at the bias
  (rounded with the design's rounding mode to F_a when it has more fractional
  bits) and adds each product w~_jk * x~_k in input order; a product is exact
  (F_w + F_x bits) and is rounded with the rounding mode to F_a when
  F_w + F_x > F_a;
* overflow of the accumulator: under wrap only the final sum matters
  (two's complement addition is modular); under saturate every partial sum
  and every product cast is clamped;
* the sum is rounded with the rounding mode to the output's F_o, the
  activation is applied to that value, and the result is stored in
  `output[j]` (overflow mode applied there).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from .format import FixedFormat, Overflow, Rounding
from .tables import TableSpec

ROLES = ("weight", "bias", "accum", "output")  # the stored values of a neuron, in this order everywhere


@dataclass(frozen=True)
class LayerFormats:
    """Per-neuron formats of one dense layer (tuples have one entry per neuron)."""

    weight: tuple[FixedFormat, ...]
    bias: tuple[FixedFormat, ...]
    accum: tuple[FixedFormat, ...]
    output: tuple[FixedFormat, ...]
    # tanh/sigmoid layers: the lookup table (tables.py); None: the ideal table (the exact value rounded to
    # nearest on the output grid, an explicit option: no hardware builds it)
    table: TableSpec | None = None

    @staticmethod
    def uniform(n: int, weight: FixedFormat, bias: FixedFormat, accum: FixedFormat, output: FixedFormat,
                table: TableSpec | None = None) -> "LayerFormats":
        return LayerFormats((weight,) * n, (bias,) * n, (accum,) * n, (output,) * n, table)

    def roles(self):
        return tuple((role, getattr(self, role)) for role in ROLES)


class ConstantRule(str, Enum):
    """How a weight or bias becomes its constant.

    NEAREST: round to nearest, ties up, on the exact value (verifq's rule).
    HLS4ML_NEAREST / HLS4ML_TRUNCATE: what hls4ml builds from a float weight v and a type with
    F fractional bits and quantization AP_RND / AP_TRN: v printed with max(0, F) decimals
    (correctly rounded, ties to the even digit), read back as a double, cast with that mode.
    """

    NEAREST = "nearest"
    HLS4ML_NEAREST = "hls4ml_nearest"
    HLS4ML_TRUNCATE = "hls4ml_truncate"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Design:
    """Formats of the inputs and of every neuron, with the arithmetic modes.

    `inputs_fixed`: inputs arrive already in `inputs` formats (no input
    quantization error; the domain is read as the representable points in it).
    Otherwise real inputs are rounded into `inputs` with `rounding`.
    """

    inputs: tuple[FixedFormat, ...]
    layers: tuple[LayerFormats, ...]
    rounding: Rounding = Rounding.TRUNCATE
    overflow: Overflow = Overflow.WRAP
    inputs_fixed: bool = False
    weight_rule: ConstantRule = ConstantRule.NEAREST
    bias_rule: ConstantRule = ConstantRule.NEAREST

    @staticmethod
    def uniform(layer_sizes, n_inputs: int, fmt: FixedFormat, rounding: Rounding, overflow: Overflow,
                inputs_fixed: bool = False, input_fmt: FixedFormat | None = None,
                accum: FixedFormat | None = None) -> "Design":
        """One format for every stored value (hls4ml's default style); inputs and accumulators
        optionally apart. The one builder of uniform designs."""
        layers = tuple(LayerFormats.uniform(n, fmt, fmt, accum or fmt, fmt) for n in layer_sizes)
        return Design((input_fmt or fmt,) * n_inputs, layers, rounding, overflow, inputs_fixed)

    def with_tables(self, tables) -> "Design":
        """The design with tables[i] (a TableSpec or None) as layer i's lookup table."""
        return replace(self, layers=tuple(replace(lf, table=tb) for lf, tb in zip(self.layers, tables)))

    def describe_layer(self, index: int) -> dict[str, str]:
        """Compact summary: the format of each role, or 'mixed (n formats)'."""
        out = {}
        for role, fmts in self.layers[index].roles():
            distinct = sorted(set(fmts))
            out[role] = str(distinct[0]) if len(distinct) == 1 else f"mixed ({len(distinct)} formats)"
        return out
