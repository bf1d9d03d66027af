"""The IR of an already-quantized integer network (read from QONNX): integer
weight and bias codes, the accumulator unit of every neuron, and the chain of
monotone integer steps (requantizations, ReLU, thresholds) between layers.

Every number is exact: codes are Python ints, scales and multipliers
`Fraction`s of the float32 values in the file. The meaning of the steps (the
integer semantics) is written down in `verifq/fixedpoint/INTEGER_SEMANTICS.md`
and executed by `verifq.fixedpoint.integer_net`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from .ir import Network

# QONNX rounding-mode names (qonnx 1.0.0 `resolve_rounding_mode`), upper case
ROUNDING_MODES = ("ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN")


def int_bounds(bits: int, signed: bool, narrow: bool) -> tuple[int, int]:
    """QONNX's integer range of a Quant (narrow also applies to unsigned: max 2^B - 2)."""
    if signed:
        return -(1 << (bits - 1)) + (1 if narrow else 0), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1 - (1 if narrow else 0)


@dataclass(frozen=True)
class Requant:
    """code' = clamp(rnd(code * multiplier + zero_point), lo, hi) - zero_point, per channel.

    `multiplier[j]` is the exact ratio (unit of the incoming code) / (scale of the
    Quant); the implementation replaces a non-dyadic ratio by an integer
    multiplier and a shift (see the semantics). `scale[j]` is the new unit."""

    node: str
    op: str  # "Quant" or "Trunc"
    multiplier: tuple[Fraction, ...]
    zero_point: tuple[int, ...]
    scale: tuple[Fraction, ...]
    bits: int
    signed: bool
    narrow: bool
    rounding: str

    @property
    def bounds(self) -> tuple[int, int]:
        return int_bounds(self.bits, self.signed, self.narrow)


@dataclass(frozen=True)
class Relu:
    node: str


@dataclass(frozen=True)
class Bipolar:
    """code' = +1 if code >= 0 else -1 (BipolarQuant, or Quant with 1 signed bit); new unit `scale`."""

    node: str
    scale: tuple[Fraction, ...]


@dataclass(frozen=True)
class Thresholds:
    """code' = #{t in thresholds[j] : code >= t} + offset (MultiThreshold on the integer
    accumulator: the file's real thresholds divided by the unit, rounded up); new unit `scale`."""

    node: str
    thresholds: tuple[tuple[int, ...], ...]
    offset: int
    scale: tuple[Fraction, ...]


Step = Requant | Relu | Bipolar | Thresholds


@dataclass(frozen=True)
class IntLayer:
    """acc_j = bias_j + sum_i codes_i * weights[j][i] (integers, one unit `unit[j]` per neuron),
    then `steps` map the accumulator to the next layer's codes."""

    node: str  # the MatMul/Gemm node
    weights: tuple[tuple[int, ...], ...]  # rows = output neurons
    bias: tuple[int, ...]  # in accumulator units
    unit: tuple[Fraction, ...]  # value of one accumulator unit, per neuron
    weight_bits: int
    weight_signed: bool
    steps: tuple[Step, ...]
    out_unit: tuple[Fraction, ...]  # value of one output code, per neuron
    in_unit: Fraction = Fraction(1)  # value of one input code (per tensor)

    @property
    def n_in(self) -> int:
        return len(self.weights[0]) if self.weights else 0

    @property
    def n_out(self) -> int:
        return len(self.weights)


@dataclass(frozen=True)
class QuantizedNetwork:
    """An integer network: input quantizer, integer layers, and the float reference (the same
    graph with every quantizer removed)."""

    name: str
    source: str
    input_steps: tuple[Step, ...]  # applied to the real input (unit 1, rational "code")
    input_bits: int
    input_signed: bool
    layers: tuple[IntLayer, ...]
    reference: Network
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out
