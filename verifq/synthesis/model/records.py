"""The records the synthesis model's stages pass to each other.

`ProblemData` is what the model reads of the problem (limits, bounds and the
real ranges as floats and exact fractions); `FVar` and `Group` are the
decisions (a fractional-bit variable with its candidates, and the values
sharing one format); `Plan` is the planning stage's result (variables,
groups, targets, sensitivities, knapsack tables); `Choices` is one value per
decision plus the repairs' extra bits. Constants and small float helpers
shared by the stages live here too, so no stage imports another for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ...fixedpoint.design import Design
from ...fixedpoint.format import FixedFormat, Rounding
from ...network.ir import Activation, Network
from ...analysis.table_error import table_bound
from ...numeric import scaled
from ...numeric.scaled import PRECISION
from ...problem import CostModel, Implementation, Problem

F_FLOOR = -8
F_SCAN_HI = 80
GAMMA = 10  # a term below 2^-GAMMA of the bound is negligible
MARGIN = 1e-6  # relative safety margin on every bound in the model
STABLE_EXTRA_BITS = 2  # a stable ReLU may need at most this many more weight bits than the outputs do
WEIGHT_SIG_BITS = 4  # weight candidates keep at least this many significant bits of each row's largest weight
CK_EXACT_MAX = True  # exact per-neuron max in the checkpoint terms of output / stability rows
SCAN = np.arange(F_FLOOR, F_SCAN_HI + 1)  # the fractional bits every candidate set is drawn from


# ------------------------------------------------------------------------------------ helpers
def unit(b, rounding: Rounding):
    """Largest error of rounding a finer value to 2^-b, float (b may be an array)."""
    b = np.asarray(b, dtype=float)
    return np.exp2(-b - (1.0 if rounding is Rounding.NEAREST else 0.0))


def interval_times(r_lo, r_hi, l_lo, l_hi):
    """Elementwise interval products [r] x [l] (broadcast); returns (lo, hi)."""
    p = np.stack(np.broadcast_arrays(r_lo * l_lo, r_lo * l_hi, r_hi * l_lo, r_hi * l_hi))
    return p.min(axis=0), p.max(axis=0)


def magnitude(r_lo, r_hi):
    """|R| of interval entries."""
    return np.maximum(np.abs(r_lo), np.abs(r_hi))


def to_floats(a) -> np.ndarray:
    return scaled.to_float_array(np.asarray(a, dtype=object))


# ------------------------------------------------------------------------------------ configuration
@dataclass
class ModelConfig:
    granularity: str = "layer"  # "layer" | "neuron"
    tied: bool = False  # Aster: one F per layer for weight, bias, accumulator and output
    exact_accumulation: bool = True  # allow F_a >= F_w + F_x (no product rounding)
    cost: CostModel = CostModel.TOTAL_BITS
    domain_widen: int = 0  # extra candidates on each side (retry after infeasibility)
    slopes: list | None = None  # per layer (s_lo, s_hi) float arrays overriding the model's slope intervals
    seed: Design | None = None  # a design whose fractional bits must stay candidates (warm start)
    output_scale: dict | None = None  # output -> factor on its bound (calibration: model / exact analysis)
    weight_floor: Design | None = None  # weight candidates at most one bit below this design's (tighter |W~ - W|)
    checkpoints: tuple = ()  # levels k (outputs of layer k, 1-based) whose errors are certified variables
    tables: tuple = ()  # per layer: the lookup table (TableSpec) of a tanh/sigmoid layer, None otherwise


# ------------------------------------------------------------------------------------ the problem, as the model reads it
def table_errors(act, table, rng) -> np.ndarray:
    """Per neuron, the table's error (entries cast exactly) over the real pre-activation range widened by
    a little (the rounded pre-activation lies near it): the model's lookup term; the exact analysis decides."""
    out = []
    for lo, hi in zip(rng.pre_lo, rng.pre_hi):
        pad = (hi - lo) // 1000 + (1 << (PRECISION - 10))
        b = table_bound(act, table, table.entry.frac_bits, Rounding.NEAREST, int(lo - pad), int(hi + pad))
        out.append(np.nextafter(scaled.to_float(max(-b.err_lo, b.err_hi, 0)), np.inf))
    return np.array(out)



@dataclass
class LayerData:
    """One dense layer: weights and real ranges (fixed), then what planning derives
    per configuration (slopes, weight-error tables, sensitivities)."""

    pos: int
    act: Activation
    n_in: int
    n_out: int
    w: np.ndarray  # float weights
    w_abs: np.ndarray
    nnz: np.ndarray
    nz_mask: np.ndarray
    row_max: list  # exact max / min weight per row
    row_min: list
    bias: list  # exact
    bias_f: np.ndarray
    x_lo: np.ndarray  # real layer input range (float)
    x_hi: np.ndarray
    pre_lo: np.ndarray
    pre_hi: np.ndarray
    post_lo: np.ndarray
    post_hi: np.ndarray
    pre_lo_q: list  # exact range ends (Fractions) for integer bits
    pre_hi_q: list
    post_lo_q: list
    post_hi_q: list
    # set by planning
    s_lo: np.ndarray | None = None  # slope interval of the activation per neuron
    s_hi: np.ndarray | None = None
    table: object = None  # the lookup table of a tanh/sigmoid layer (None: the ideal table)
    table_err: np.ndarray | None = None  # per neuron: the table's error over the real range (float, rounded up)
    wtab_lo: np.ndarray | None = None  # (n_out, len(SCAN)) weight error interval per scanned F
    wtab_hi: np.ndarray | None = None
    w_prop: np.ndarray | None = None  # weights the sensitivities propagate through (None: w)
    # sensitivities (n_targets, n_out): after the slope (for pre-activation terms) and before (post)
    Rp_lo: np.ndarray | None = None
    Rp_hi: np.ndarray | None = None
    Rq_lo: np.ndarray | None = None
    Rq_hi: np.ndarray | None = None


@dataclass
class ProblemData:
    """What the model reads of the problem: limits, bounds, the input box and every
    layer's real ranges (which do not depend on the formats)."""

    problem: Problem
    net: Network
    impl: Implementation
    rounding: Rounding
    saturate: bool
    cap_word: int
    cap_acc: int
    allowed: tuple | None
    cap_operand: int
    inputs_fixed: bool
    eps: list  # float bound per output (None: unconstrained)
    eps_ref: float  # the smallest bound: the unit of the checkpoint variables
    outputs: list  # outputs with a bound
    x_lo_q: list  # exact input box
    x_hi_q: list
    in_lo: np.ndarray
    in_hi: np.ndarray
    layers: list[LayerData]

    @staticmethod
    def create(problem: Problem, ranges, x_lo, x_hi, tables=()) -> "ProblemData":
        net = problem.network
        impl = problem.implementation
        allowed = tuple(sorted(impl.allowed_widths)) if impl.allowed_widths else None
        if impl.inputs_fixed and impl.input_format is None:
            raise ValueError("inputs arrive in a fixed format but the implementation gives none")
        eps = [None if e is None else float(e) for e in problem.max_error]
        req = [e for e in eps if e is not None]
        xl, xh = to_floats(x_lo), to_floats(x_hi)
        in_lo, in_hi = xl, xh
        layers: list[LayerData] = []
        for pos, (layer, rng) in enumerate(zip(net.layers, ranges)):
            rows = layer.weights
            w = layer.weight_float
            ld = LayerData(
                pos=pos, act=layer.activation, n_in=layer.n_in, n_out=layer.n_out, w=w, w_abs=np.abs(w),
                nnz=np.array([sum(1 for v in r if v != 0) for r in rows]),
                nz_mask=np.array([[v != 0 for v in r] for r in rows], dtype=bool),
                row_max=[max(r) for r in rows], row_min=[min(r) for r in rows],
                bias=list(layer.bias), bias_f=layer.bias_float.copy(), x_lo=xl, x_hi=xh,
                pre_lo=to_floats(rng.pre_lo), pre_hi=to_floats(rng.pre_hi),
                post_lo=to_floats(rng.post_lo), post_hi=to_floats(rng.post_hi),
                pre_lo_q=[scaled.to_fraction(v) for v in rng.pre_lo], pre_hi_q=[scaled.to_fraction(v) for v in rng.pre_hi],
                post_lo_q=[scaled.to_fraction(v) for v in rng.post_lo], post_hi_q=[scaled.to_fraction(v) for v in rng.post_hi],
            )
            if pos < len(tables) and tables[pos] is not None:
                ld.table, ld.table_err = tables[pos], table_errors(layer.activation, tables[pos], rng)
            layers.append(ld)
            xl, xh = ld.post_lo, ld.post_hi
        return ProblemData(
            problem=problem, net=net, impl=impl, rounding=impl.rounding,
            saturate=impl.overflow.value == "saturate", cap_word=impl.max_word, cap_acc=impl.accumulator_cap,
            allowed=allowed, cap_operand=min(impl.max_word, max(allowed)) if allowed else impl.max_word,
            inputs_fixed=impl.inputs_fixed, eps=eps, eps_ref=min(req) if req else 1.0,
            outputs=[o for o, e in enumerate(eps) if e is not None],
            x_lo_q=[scaled.to_fraction(v) for v in x_lo], x_hi_q=[scaled.to_fraction(v) for v in x_hi],
            in_lo=in_lo, in_hi=in_hi, layers=layers,
        )

    @property
    def fixed_input_frac(self) -> int | None:
        """The fractional bits of inputs that arrive in a fixed format (None: real inputs)."""
        return self.impl.input_format.frac_bits if self.inputs_fixed else None

    @property
    def fixed_input_format(self) -> FixedFormat | None:
        return self.impl.input_format if self.inputs_fixed else None


# ------------------------------------------------------------------------------------ decisions
@dataclass
class FVar:
    """A fractional-bit variable: its candidates and, once the MILP is built, their one-hot columns."""

    name: str
    cands: np.ndarray  # candidate fractional bits, ascending
    cols: np.ndarray | None = None


@dataclass
class Group:
    """Values sharing one format."""

    kind: str  # input | weight | accum | output
    pos: int  # layer position (0-based); -1 for inputs
    members: np.ndarray
    fvar: int
    signed: bool = True
    count: int = 0  # stored values of this group (for total bits)
    width: np.ndarray | None = None  # exact width per candidate of the fvar
    ibits: np.ndarray | None = None  # integer bits per candidate (accum, output)
    bias_width: np.ndarray | None = None  # accum groups: the bias's width per candidate


class Target(NamedTuple):
    """A row pair of the model: an output's error bound, a checkpoint neuron's certified error
    interval, or a ReLU that must stay inactive (side "hi") / active (side "lo")."""

    kind: str  # output | ckpt | inactive | active
    pos: int  # layer position (0-based)
    neuron: int
    side: str  # both | hi | lo
    bound: float | None


@dataclass
class ProductTerm:
    """The product-rounding term of an accumulator group whose exactness a binary decides:
    magnitude P (a column) times the sensitivities ch (upper end) / cl (lower end) per target."""

    group: int
    ch: np.ndarray
    cl: np.ndarray


@dataclass
class KnapsackTables:
    """Coefficients of every target row: per variable a (targets, candidates) matrix for the
    upper end (H) and the lower end's magnitude (L), plus the product terms."""

    H: dict  # fvar -> (n_targets, n_cands)
    L: dict
    products: list[ProductTerm]
    exact_possible: dict  # accum group -> whether exact accumulation is a candidate
    ck_levels: dict  # checkpoint level -> targets of its neurons (in neuron order)


@dataclass
class Choices:
    """A design in the model's terms: fractional bits per variable, and the repairs' extra
    integer bits per accumulator / output group and extra width per (role, group) of
    inputs, weights and biases."""

    frac: list
    extra_int: dict = field(default_factory=dict)  # group -> integer bits added (accum, output)
    extra_width: dict = field(default_factory=dict)  # (role, group) -> bits added (input, weight, bias)


@dataclass
class Plan:
    """The planning stage's result: decisions, targets and the sensitivities of the targets."""

    fvars: list[FVar]
    groups: list[Group]
    input_group: np.ndarray | None  # input k -> group (None: inputs arrive in a fixed format)
    wgroup: list  # per layer: neuron -> weight group
    agroup: list  # per layer: neuron -> accumulator (and bias) group
    ogroup: list  # per layer: neuron -> output group
    fixed_input_frac: int | None
    targets: list[Target] = field(default_factory=list)
    checkpoints: tuple = ()
    ck_coef: dict = field(default_factory=dict)  # target -> (level, a, b): R = [a, b] on that level's error
    Rin_lo: np.ndarray | None = None  # sensitivities to the input rounding
    Rin_hi: np.ndarray | None = None
    dw: list | None = None  # per layer |W~(F) - W~_ref| bound (refinement) or None
    tables: KnapsackTables | None = None
    messages: list[str] = field(default_factory=list)
    infeasible_groups: list[str] = field(default_factory=list)
    dropped_stability: int = 0

    def index(self, fi: int, f: int) -> int | None:
        """Position of f among variable fi's candidates (None: not a candidate)."""
        idx = np.nonzero(self.fvars[fi].cands == f)[0]
        return int(idx[0]) if len(idx) else None

    def feeding_groups(self, pos: int) -> set:
        """The groups of the values layer `pos` reads (inputs or the previous layer's outputs)."""
        return set(self.input_group.tolist()) if pos == 0 else set(self.ogroup[pos - 1].tolist())

    def input_frac_bounds(self, pos: int) -> tuple[int, int]:
        """Smallest and largest candidate fractional bits of layer `pos`'s inputs."""
        if pos == 0 and self.fixed_input_frac is not None:
            f = self.fixed_input_frac
            return f, f
        c = [self.fvars[self.groups[g].fvar].cands for g in self.feeding_groups(pos)]
        return min(int(x[0]) for x in c), max(int(x[-1]) for x in c)

    def input_frac_chosen(self, pos: int, F: list) -> float:
        """The largest fractional bits of layer `pos`'s inputs under the choices F."""
        if pos == 0 and self.fixed_input_frac is not None:
            return float(self.fixed_input_frac)
        return float(max(F[self.groups[g].fvar] for g in self.feeding_groups(pos)))

    def weight_fvar_of(self, g: Group) -> int:
        """The weight variable of an accumulator group's neurons."""
        return self.groups[self.wgroup[g.pos][g.members[0]]].fvar

    def own_fvars(self, pos: int, j: int) -> set[int]:
        """The variables of neuron j of layer pos itself (weights, accumulator, output)."""
        return {self.groups[self.wgroup[pos][j]].fvar, self.groups[self.agroup[pos][j]].fvar,
                self.groups[self.ogroup[pos][j]].fvar}
