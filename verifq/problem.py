"""The typed record a `.nnspec` file elaborates to: what later stages read.

The spec stage (parser + elaboration) is the only place that knows about
source positions; everything downstream gets a `Problem`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction

from .fixedpoint.design import Design
from .fixedpoint.format import FixedFormat, Overflow, Rounding
from .fixedpoint.tables import DEFAULT_TABLE_FORMAT, DEFAULT_TABLE_SIZE, MAX_TABLE_SIZE, TableSpec
from .network.ir import Activation, Network
from .network.quantized import QuantizedNetwork

SMOOTH = (Activation.TANH, Activation.SIGMOID)  # the activations computed by a lookup table


class Granularity(str, Enum):
    UNIFORM = "uniform"
    LAYER = "layer"
    NEURON = "neuron"


class CostModel(str, Enum):
    TOTAL_BITS = "total_bits"  # Aster-compatible: sum of widths of every stored value
    WEIGHT_BITS = "weight_bits"  # weight + bias memory
    MULTIPLIER_AREA = "multiplier_area"  # sum over products of operand widths
    DSP = "dsp"  # number of 27x18 DSP48 slices


OPERAND_ROLES = ("input", "weight", "output")  # `widths = {...}` restricts multiplier operands


class TableKind(str, Enum):
    """How tanh/sigmoid are computed: a lookup table as hls4ml builds it, or (explicit option) the ideal
    table: the exact value rounded to nearest for every input grid point (no hardware builds it)."""

    HLS4ML = "hls4ml"
    IDEAL = "ideal"


ACCUMULATOR_ORDERS = ("sequential", "bias_last", "split_sign")  # INTEGER_SEMANTICS.md


@dataclass(frozen=True)
class AccumulatorProfile:
    """A named hardware accumulator: width, what an overflow does, and the partial-sum order."""

    width: int
    mode: Overflow
    order: str
    about: str


ACCUMULATOR_PROFILES = {
    "dsp16": AccumulatorProfile(16, Overflow.SATURATE, "sequential",
                                "a 16-bit DSP multiply-accumulate with saturating adds, bias first"),
    "int16": AccumulatorProfile(16, Overflow.WRAP, "sequential", "a 16-bit two's complement accumulator, bias first"),
    "int32": AccumulatorProfile(32, Overflow.WRAP, "sequential", "a 32-bit two's complement accumulator, bias first"),
    "int32_bias_last": AccumulatorProfile(32, Overflow.WRAP, "bias_last",
                                          "a 32-bit accumulator from 0, the bias added after the products "
                                          "(as TFLite's reference integer kernels)"),
}


@dataclass(frozen=True)
class LayerAccumulator:
    """The accumulator of one layer of an integer network: width (None: unlimited), mode, order."""

    width: int | None
    mode: Overflow = Overflow.WRAP
    order: str = "sequential"


@dataclass(frozen=True)
class Implementation:
    rounding: Rounding = Rounding.TRUNCATE
    overflow: Overflow = Overflow.WRAP
    inputs_fixed: bool = False  # True: inputs arrive already in the input format
    max_word: int = 32  # largest W any format may have
    max_accumulator: int | None = None  # hardware accumulator width limit
    allowed_widths: tuple[int, ...] | None = None  # allowed weight/activation widths
    # the format inputs arrive in when inputs_fixed (also needed when synthesizing)
    input_format: FixedFormat | None = None
    tables: TableKind = TableKind.HLS4ML  # tanh/sigmoid lookup tables
    table_size: int = DEFAULT_TABLE_SIZE  # entries of a table (when the design does not say)
    table_rounding: Rounding = Rounding.TRUNCATE  # how table entries are rounded (hls4ml's table_t: AP_TRN)
    max_table_size: int = MAX_TABLE_SIZE  # synthesis: the largest table it may choose
    accumulator: Overflow = Overflow.WRAP  # integer (QONNX) networks: what an accumulator overflow does
    accumulator_order: str = "sequential"  # integer networks: the partial-sum order (ACCUMULATOR_ORDERS)
    accumulator_profile: str | None = None  # integer networks: the named profile the spec gave
    # integer networks: every layer's accumulator (the spec's defaults and `accumulators` block, resolved)
    layer_accumulators: tuple[LayerAccumulator, ...] = ()

    def table(self, entry: FixedFormat | None = None, size: int | None = None) -> TableSpec | None:
        """The lookup table of a tanh/sigmoid layer with these settings (None: the ideal table)."""
        if self.tables is TableKind.IDEAL:
            return None
        return TableSpec(size or self.table_size, entry or DEFAULT_TABLE_FORMAT, self.table_rounding, self.overflow)

    def with_tables(self, network: Network, design: Design, entry: FixedFormat | None = None) -> Design:
        """`design` with this implementation's table on every tanh/sigmoid layer."""
        return design.with_tables([self.table(entry) if l.activation in SMOOTH else None for l in network.layers])

    @property
    def accumulator_cap(self) -> int:
        """The widest accumulator allowed: `max accumulator`, and never more than `max word`."""
        return min(self.max_word, self.max_accumulator or self.max_word)

    def format_limit_violation(self, fmt: FixedFormat, role: str) -> tuple[str, str] | None:
        """(which limit, why) when `fmt` may not store a value of `role` (input|weight|bias|accum|
        output) under these limits, else None: "max word" for every format, "max accumulator" for
        accumulators, "widths" for multiplier operands (inputs, weights, outputs)."""
        if fmt.width > self.max_word:
            return "max word", f"{fmt} is wider than max word = {self.max_word}"
        if role == "accum" and self.max_accumulator is not None and fmt.width > self.max_accumulator:
            return "max accumulator", f"{fmt} is wider than max accumulator = {self.max_accumulator}"
        if role in OPERAND_ROLES and self.allowed_widths is not None and fmt.width not in self.allowed_widths:
            allowed = ", ".join(map(str, self.allowed_widths))
            return "widths", f"{fmt}: width {fmt.width} is not one of the allowed widths {{{allowed}}}"
        return None

    def limit_violations(self, design: Design) -> list[tuple[int, int, str, str]]:
        """Every format of `design` these limits forbid: (layer (0 = inputs), neuron, role, why).
        The one check of a design against the implementation limits (prove, synth, codegen)."""
        out = []
        for k, f in enumerate(design.inputs):
            bad = self.format_limit_violation(f, "input")
            if bad:
                out.append((0, k, "input", bad[1]))
        for i, lf in enumerate(design.layers, start=1):
            for role, fmts in lf.roles():
                for j, f in enumerate(fmts):
                    bad = self.format_limit_violation(f, role)
                    if bad:
                        out.append((i, j, role, bad[1]))
        return out

    def uniform_design(self, network: Network, fmt: FixedFormat, accum: FixedFormat | None = None) -> Design:
        """`fmt` for every stored value (accumulators `accum` if given) with this implementation's
        modes; inputs in the implementation's input format when they arrive in fixed point."""
        return self.with_tables(network, Design.uniform(
            [l.n_out for l in network.layers], network.n_inputs, fmt, self.rounding, self.overflow,
            self.inputs_fixed, self.input_format if self.inputs_fixed else None, accum))

    def fit_width(self, width: int) -> int | None:
        """The smallest usable operand width >= width (an allowed width when the spec restricts
        them; None when none is large enough)."""
        width = max(1, width)
        if self.allowed_widths is None:
            return width
        return next((a for a in sorted(self.allowed_widths) if a >= width), None)


@dataclass(frozen=True)
class SynthesisOptions:
    granularity: Granularity = Granularity.LAYER
    cost: CostModel = CostModel.TOTAL_BITS
    solver: str = "highs"  # or "gurobi"
    time_limit: float | None = None


@dataclass(frozen=True)
class Problem:
    """Network, input domain, requirements, implementation and (optionally) formats.

    `domain` is a box over the network's inputs in the units the network file
    uses (raw units for NNet networks, before their input normalization).
    `max_error[i]` is the required bound on |quantized - real| of output i,
    or None when output i has no error requirement.
    `design` is None when the spec asks for the formats to be synthesized.
    """

    spec_path: str
    network: Network
    domain: tuple[tuple[Fraction, Fraction], ...]
    max_error: tuple[Fraction | None, ...]
    require_no_overflow: bool
    implementation: Implementation
    design: Design | None
    synthesis: SynthesisOptions = field(default_factory=SynthesisOptions)
    sources: tuple[str, ...] = ()  # the files the spec read (network, domain): outputs may not replace them
    quantized: QuantizedNetwork | None = None  # an already-quantized integer network (QONNX); `network` is its float reference
