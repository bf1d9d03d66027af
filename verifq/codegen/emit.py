"""Shared pieces of code generation: the code plan, type naming, exact constants.

Both generators (HLS C++ in `hls.py`, the integer C reference in
`c_reference.py`) emit the same computation, laid out by one `CodePlan`:

* neurons of a layer are grouped by their formats (weight, bias, accum,
  output); a per-layer design has one group per layer, a per-neuron design
  one group per distinct combination. Each group is one loop.
* a layer's outputs (and the network inputs) are kept in one array whose
  element type is the *carrier*: the smallest format that holds every value
  of every neuron's own format exactly (for a per-layer design it is the
  output format itself). Each value is first cast into its neuron's own
  format, so the values -- and therefore every later product and rounding,
  which depend only on values -- are exactly those of the semantics in
  `verifq/fixedpoint/design.py`.
* the rounded pre-activation of a group is held in `pre`: the accumulator's
  range at the output's fractional bits (one integer bit more when rounding
  to nearest can carry), so that rounding never overflows.
* tanh/sigmoid groups get the design's lookup table. hls4ml's table (the
  default, `fixedpoint/tables.py`): its N entries, each cast into the
  output's grid with the design's rounding, indexed as hls4ml indexes them
  (`HlsIndex`). The ideal table (`tables = ideal`): one entry per grid point
  of the proven range of the rounded pre-activation, with entries
  `exact_activation_rounded`. An ideal table of more than COMPACT_TABLE_ABOVE entries
  is stored compactly and exactly: tanh and sigmoid have slopes of at most 1
  and the input and output grids are the same, so consecutive entries differ
  by 0 or 1 ulp; the table keeps every 64th entry and one bit per entry
  (entry i = base[i / 64] + the number of set bits 1..i%64 of word[i / 64]).
  The one limit left is MAX_TABLE_ENTRIES per table.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import UserError
from ..fixedpoint.activation import _float_fn, exact_activation_rounded
from ..fixedpoint.design import Design
from ..fixedpoint.format import FixedFormat, Rounding, narrowest_format, shift_round
from ..fixedpoint.quantize import QuantizedLayer, QuantizedNetwork
from ..fixedpoint.tables import HALF_RANGE, TableSpec, output_mantissa, table_entries
from ..network.ir import Activation
from ..numeric.rational import ceil_scaled, floor_scaled

DEFAULT_LUT_LIMIT = 65536  # entries of a full lookup table (one table per neuron format group); beyond: compact
COMPACT_TABLE_ABOVE = DEFAULT_LUT_LIMIT
MAX_TABLE_ENTRIES = 1 << 24  # the largest table code generation emits (compact: 1 bit per entry, ~2 MiB of ROM)
TABLE_BLOCK = 64  # entries per base value of a compact table (one 64-bit word of increments)
AP_INT_DEFAULT_MAX_W = 1024  # ap_types' default AP_INT_MAX_W


# --------------------------------------------------------------------------- formats


def mantissa_range_at(fmt: FixedFormat, frac: int) -> tuple[int, int]:
    """fmt's min and max value as mantissas at `frac` (frac >= fmt.frac_bits: exact)."""
    s = frac - fmt.frac_bits
    if s < 0:
        raise ValueError("mantissa_range_at needs at least the format's fractional bits")
    return fmt.min_int << s, fmt.max_int << s


def join_formats(fmts) -> FixedFormat:
    """The carrier: the narrowest format holding every value of every format in fmts."""
    fmts = list(fmts)
    if len(set(fmts)) == 1:
        return fmts[0]
    frac = max(f.frac_bits for f in fmts)
    lo = min(mantissa_range_at(f, frac)[0] for f in fmts)
    hi = max(mantissa_range_at(f, frac)[1] for f in fmts)
    return narrowest_format(lo, hi, frac)


def _int_token(i: int) -> str:
    return str(i) if i >= 0 else f"m{-i}"


def type_name(fmt: FixedFormat) -> str:
    """C identifier of a format's typedef: fx16_6_t, ufx8_m2_t (m = minus)."""
    return f"{'fx' if fmt.signed else 'ufx'}{fmt.width}_{_int_token(fmt.integer_bits)}_t"


# --------------------------------------------------------------------------- constants


def dyadic_literal(mant: int, frac: int) -> str:
    """The exact decimal text of mant * 2^-frac (a C/C++ double literal, exact when `double_exact`)."""
    mant = int(mant)
    if mant == 0:
        return "0.0"
    if frac <= 0:
        return f"{mant << -frac}.0"
    neg = mant < 0
    m = -mant if neg else mant
    # m / 2^frac = m * 5^frac / 10^frac
    digits = str(m * 5**frac).rjust(frac + 1, "0")
    ipart, fpart = digits[:-frac], digits[-frac:].rstrip("0")
    text = f"{ipart}.{fpart or '0'}"
    return f"-{text}" if neg else text


def c_int_type(lo: int, hi: int) -> str:
    """The smallest C99 exact-width integer type holding lo..hi."""
    for bits in (8, 16, 32, 64):
        if -(1 << (bits - 1)) <= lo and hi < (1 << (bits - 1)):
            return f"int{bits}_t"
    raise ValueError("constant does not fit 64 bits")


def c_int_literal(v: int) -> str:
    """A C99 integer literal of type int64_t (INT64_MIN written as an expression)."""
    v = int(v)
    if v == -(1 << 63):
        return "(-INT64_C(9223372036854775807) - 1)"
    if -(1 << 31) < v < (1 << 31):
        return str(v)
    return f"INT64_C({v})"


def compare_expected_lines(next_token: str, token: str, value: str, *, decimal: bool = False) -> list[str]:
    """The testbenches' comparison of output j with the expected mantissa (C and C++ alike:
    `next_token` reads the next expected token into `token`; `value` is the computed mantissa, a
    long long, or with `decimal` its canonical decimal text (outputs wider than 64 bits))."""
    differs = f"!vq_dec_same({value}, {token})" if decimal else f"strtoll({token}, 0, 10) != {value}"
    return [
        f"                if (!{next_token}) {{ fprintf(stderr, \"%s has fewer samples\\n\", files[1]); return 2; }}",
        f"                if ({differs}) {{",
        f"                    if (mismatches < 10) fprintf(stderr, \"sample %ld output %d: got {'%s' if decimal else '%lld'}, expected %s\\n\", "
        f"samples, j, {value}, {token});",
        "                    mismatches++;",
        "                }",
        "            }",
        "        }",
        "        printf(\"\\n\");",
        "        samples++;",
        "    }",
        "done:",
    ]


def sanitize_identifier(name: str) -> str:
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "network"
    if ident[0].isdigit() or ident in C_RESERVED:
        ident = "nn_" + ident
    return ident


# C/C++ keywords and names the generated code or its libraries use: a top function may not be one
C_RESERVED = frozenset("""alignas alignof and and_eq asm auto bitand bitor bool break case catch char char16_t char32_t
char8_t class compl concept const consteval constexpr constinit const_cast continue co_await co_return co_yield
decltype default delete do double dynamic_cast else enum explicit export extern false float for friend goto if inline
int long main mutable namespace new noexcept not not_eq nullptr operator or or_eq private protected public register
reinterpret_cast requires restrict return short signed sizeof static static_assert static_cast struct switch template
this thread_local throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t while xor
xor_eq abs exit free malloc printf""".split())


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def wrap_list(items: list[str], indent: str, width: int = 100) -> str:
    """Comma-separated items on lines of at most ~width characters."""
    lines, cur, cur_len = [], [], len(indent)
    for it in items:
        if cur and cur_len + len(it) + 2 > width:
            lines.append(indent + ", ".join(cur) + ",")
            cur, cur_len = [], len(indent)
        cur.append(it)
        cur_len += len(it) + 2
    if cur:
        lines.append(indent + ", ".join(cur))
    return "\n".join(lines)


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class HlsIndex:
    """hls4ml's table index of a pre-activation x = m 2^-F (fixedpoint/tables.table_index):
    i = trunc0(x N / D) + offset clamped to [0, N-1], computed on integers as
    q = trunc0(m * scale / 2^shift) with scale = N 2^max(0, -F) and shift = log2(D) + max(0, F).
    m may first be clamped to [-bound, bound] (|x| >= D: the index is 0 or N-1 either way), so
    the product has at most `product_bits` bits."""

    size: int
    up: int  # max(0, -F)
    shift: int
    offset: int
    bound: int

    @staticmethod
    def of(act: Activation, size: int, frac: int) -> "HlsIndex":
        d = 2 * HALF_RANGE[act]
        assert d & (d - 1) == 0
        bound = d << frac if frac >= 0 else max(1, -(-d // (1 << -frac)))
        return HlsIndex(size, max(0, -frac), d.bit_length() - 1 + max(0, frac), (HALF_RANGE[act] * size) // d, bound)

    @property
    def scale(self) -> int:
        return self.size << self.up

    @property
    def product_bits(self) -> int:
        """Signed bits of m * scale for |m| <= bound."""
        return (self.bound * self.scale).bit_length() + 1

    def index(self, m: int) -> int:
        """The index, as the generated code computes it (tested against tables.table_index)."""
        m = max(-self.bound, min(self.bound, m))
        num = m * self.scale
        q = num >> self.shift if num >= 0 else -((-num) >> self.shift)
        return max(0, min(self.size - 1, q + self.offset))


@dataclass(frozen=True, eq=False)
class Lut:
    """Lookup table of a tanh/sigmoid group. Ideal (`index` None): value i is f at mantissa lo + i
    on the output's grid 2^-F_o, in `entry` (F_o fractional bits). hls4ml's (`index` set): value i
    is entry i of the design's table in its table format `entry` (one array per layer, shared by
    its groups), cast to 2^-F_o with the design's rounding into `cast` when it is looked up."""

    lo: int
    values: tuple[int, ...] | np.ndarray
    entry: FixedFormat  # holds every stored value exactly
    compact: bool = False  # stored as `blocks()` (large ideal tables)
    index: HlsIndex | None = None
    table: TableSpec | None = None  # hls4ml's: the design's table (size, entry format, modes)
    cast: FixedFormat | None = None  # hls4ml's: holds every entry cast to 2^-F_o

    @property
    def shift(self) -> int:
        """hls4ml's: fractional bits an entry loses when cast to the output grid (< 0: gains)."""
        return self.entry.frac_bits - self.cast.frac_bits

    @property
    def hi(self) -> int:
        return self.lo + len(self.values) - 1

    def blocks(self) -> tuple[list[int], list[int]]:
        """The compact form: the entry at every TABLE_BLOCK-th index, and per block a 64-bit word whose
        bit r (1..63) is entry (64 b + r) - entry (64 b + r - 1), which is 0 or 1."""
        v = np.asarray(self.values)
        n = len(v)
        nb = -(-n // TABLE_BLOCK)
        d = np.zeros(nb * TABLE_BLOCK, dtype=np.uint64)
        d[1:n] = np.diff(v).astype(np.uint64)
        d = d.reshape(nb, TABLE_BLOCK)
        d[:, 0] = 0
        words = np.bitwise_or.reduce(d << np.arange(TABLE_BLOCK, dtype=np.uint64)[None, :], axis=1)
        return [int(b) for b in v[::TABLE_BLOCK]], [int(w) for w in words]


@dataclass(frozen=True)
class NeuronGroup:
    layer: int  # 1-based
    gid: int
    neurons: tuple[int, ...]
    weight: FixedFormat
    bias: FixedFormat
    accum: FixedFormat
    output: FixedFormat
    pre: FixedFormat  # the rounded pre-activation (accumulator range at F_o)
    lut: Lut | None

    @property
    def contiguous(self) -> bool:
        return self.neurons == tuple(range(self.neurons[0], self.neurons[0] + len(self.neurons)))

    @property
    def name(self) -> str:
        return f"L{self.layer}_G{self.gid}"

    def describe(self) -> str:
        if self.contiguous:
            who = f"neuron {self.neurons[0]}" if len(self.neurons) == 1 else f"neurons {self.neurons[0]}..{self.neurons[-1]}"
        else:
            who = f"{len(self.neurons)} neurons"
        return f"{who}: weight {self.weight}, bias {self.bias}, accum {self.accum}, output {self.output}"


@dataclass(frozen=True)
class LayerPlan:
    index: int  # 1-based
    activation: Activation
    n_in: int
    n_out: int
    in_carrier: FixedFormat
    out_carrier: FixedFormat
    groups: tuple[NeuronGroup, ...]
    ql: QuantizedLayer


@dataclass(frozen=True)
class CodePlan:
    top: str
    qnet: QuantizedNetwork
    design: Design
    layers: tuple[LayerPlan, ...]
    input_carrier: FixedFormat
    proved: bool
    header_lines: tuple[str, ...]  # provenance and guarantee, shared by every generated file

    @property
    def n_in(self) -> int:
        return self.qnet.network.n_inputs

    @property
    def n_out(self) -> int:
        return self.qnet.network.n_outputs

    @property
    def output_formats(self) -> tuple[FixedFormat, ...]:
        return self.design.layers[-1].output

    @property
    def result_carrier(self) -> FixedFormat:
        return self.layers[-1].out_carrier

    def all_formats(self) -> list[FixedFormat]:
        """Every format that gets a typedef, in a stable order."""
        seen: dict[FixedFormat, None] = {}
        for f in self.design.inputs:
            seen.setdefault(f)
        seen.setdefault(self.input_carrier)
        for lp in self.layers:
            for g in lp.groups:
                for f in (g.weight, g.bias, g.accum, g.pre, g.output):
                    seen.setdefault(f)
                if g.lut is not None:
                    seen.setdefault(g.lut.entry)
                    if g.lut.cast is not None:
                        seen.setdefault(g.lut.cast)
            seen.setdefault(lp.out_carrier)
        return list(seen)


def pre_activation_format(accum: FixedFormat, out_frac: int, rounding: Rounding) -> FixedFormat:
    """Holds round(acc) at out_frac for every acc of the accumulator format, and 0."""
    s = accum.frac_bits - out_frac
    lo = shift_round(accum.min_int, s, rounding)
    hi = shift_round(accum.max_int, s, rounding)
    return narrowest_format(min(lo, 0), max(hi, 0), out_frac)


_TABLE_CHUNK = 1 << 20


def activation_table(act: Activation, lo: int, hi: int, frac: int) -> np.ndarray:
    """[exact_activation_rounded(act, m, frac) for m in lo..hi], the same values, computed fast: f in
    float64 over whole chunks, and the scalar exact decision only for entries whose float value lies
    near a rounding boundary. Far from a boundary (more than 2^(frac-40) ulps, against float errors
    of a few 2^(frac-52)) the vectorized and the scalar float values round alike, which is what
    `exact_activation_rounded` returns there."""
    n = hi - lo + 1
    if frac > 60 or max(abs(lo), abs(hi)) >= 1 << 53:
        out = np.empty(n, dtype=object)
        for i in range(n):
            out[i] = exact_activation_rounded(act, lo + i, frac)
        return out
    out = np.empty(n, dtype=np.int64)
    margin = 2.0 ** (frac - 40) + 1e-6
    for start in range(0, n, _TABLE_CHUNK):
        m = np.arange(lo + start, lo + min(n, start + _TABLE_CHUNK), dtype=np.int64)
        with np.errstate(over="ignore"):
            t = _float_fn(act, np.ldexp(m.astype(np.float64), -frac)) * 2.0**frac + 0.5
        low = np.floor(t)
        decided = np.minimum(t - low, low + 1.0 - t) > margin
        chunk = low.astype(np.int64)
        for i in np.nonzero(~decided)[0]:
            chunk[i] = exact_activation_rounded(act, int(m[i]), frac)
        out[start:start + len(m)] = chunk
    return out


def _lut(act: Activation, layer_index: int, neurons, frac: int, pre: FixedFormat, analysis, lut_limit: int | None) -> Lut:
    lo_m, hi_m = None, None
    for j in neurons:
        lo_v, hi_v = analysis.rounded_preactivation_range(layer_index, j)
        lo, hi = ceil_scaled(lo_v, frac), floor_scaled(hi_v, frac)
        lo_m = lo if lo_m is None else min(lo_m, lo)
        hi_m = hi if hi_m is None else max(hi_m, hi)
    lo_m = max(lo_m, pre.min_int)
    hi_m = min(hi_m, pre.max_int)
    if hi_m < lo_m:  # empty range (cannot happen for a sound analysis): one entry
        hi_m = lo_m
    size = hi_m - lo_m + 1
    limit = MAX_TABLE_ENTRIES if lut_limit is None else min(lut_limit, MAX_TABLE_ENTRIES)
    if size > limit:
        rng = f"[{float(Fraction(lo_m) * Fraction(2) ** -frac):.6g}, {float(Fraction(hi_m) * Fraction(2) ** -frac):.6g}]"
        bits_fewer = 0
        while (size >> bits_fewer) > limit:
            bits_fewer += 1
        which = (f"more than the limit of {limit}" if lut_limit is not None and lut_limit <= MAX_TABLE_ENTRIES else
                 f"more than the {MAX_TABLE_ENTRIES} entries (2^24) of the largest table code generation emits")
        raise UserError(
            f"layer {layer_index}: the {act.value} lookup table over the proven pre-activation range {rng} "
            f"at {frac} fractional bits needs {size} entries, {which}",
            hint=f"give layer {layer_index}'s output format fewer fractional bits (each bit fewer halves the table; "
            f"about {bits_fewer} fewer needed)" + (", or raise the limit with --lut-limit" if lut_limit is not None else ""),
        )
    values = activation_table(act, lo_m, hi_m, frac)
    lo_v, hi_v = int(values.min()), int(values.max())
    entry = narrowest_format(min(lo_v, hi_v), max(lo_v, hi_v), frac)
    compact = size > COMPACT_TABLE_ABOVE and bool(np.isin(np.diff(values), (0, 1)).all())
    if not compact:
        values = tuple(int(v) for v in values)
    return Lut(lo_m, values, entry, compact)


MAX_INDEX_PRODUCT_BITS = 126  # hls4ml table index products are computed in int64_t or __int128


def _hls4ml_lut(act: Activation, layer_index: int, table: TableSpec, frac: int, rounding: Rounding) -> Lut:
    index = HlsIndex.of(act, table.size, frac)
    if index.product_bits > MAX_INDEX_PRODUCT_BITS or index.bound >= 1 << 62:
        raise UserError(
            f"layer {layer_index}: the {act.value} table's index of a pre-activation with {frac} fractional bits "
            f"needs {index.product_bits}-bit products, more than the {MAX_INDEX_PRODUCT_BITS} the generated code computes with",
            hint=f"give layer {layer_index}'s output format fewer fractional bits (a table of {table.size} entries "
            f"cannot tell apart inputs closer than {2 * HALF_RANGE[act]}/{table.size})",
        )
    entries = table_entries(act, table)
    cast = tuple(output_mantissa(e, table, frac, rounding) for e in entries)
    return Lut(0, entries, table.entry, False, index, table, narrowest_format(min(cast + (0,)), max(cast + (0,)), frac))


def table_note(act: Activation, g: "NeuronGroup", rounding: Rounding) -> str:
    """The comment above a group's table in the generated code."""
    lut, fo = g.lut, g.output.frac_bits
    if lut.index is None:
        return f"{act.value}(v) rounded to nearest at 2^-{fo}, for v = (mantissa {lut.lo} + i) * 2^-{fo}"
    return (f"hls4ml's {act.value} table {lut.table}: entry i is the {act.value} of {2 * HALF_RANGE[act]} (i - N/2) / N, "
            f"N = {lut.table.size}, in {lut.entry}; index trunc0(x N / {2 * HALF_RANGE[act]}) + {lut.index.offset}, "
            f"clamped; the entry is cast to each neuron's output grid ({rounding.value})")


def shared_table_name(layer: int, prefix: str) -> str:
    """The one array of layer's hls4ml table (its groups share it)."""
    return f"{prefix}L{layer}"


def hls4ml_index_lines(lut: Lut, indent: str) -> list[str]:
    """C lines computing `long i`, the hls4ml table index of the int64_t mantissa `m` (|m| <= bound)."""
    ix = lut.index
    it = "int64_t" if ix.product_bits <= 63 else "vq_i128"
    up = f" * (({it})1 << {ix.up})" if ix.up else ""
    lines = [f"{indent}{it} num = ({it})m * {ix.size}{up};"]
    if ix.shift:
        lines.append(f"{indent}{it} q = num >= 0 ? num >> {ix.shift} : -((-num) >> {ix.shift});  /* toward zero */")
    else:
        lines.append(f"{indent}{it} q = num;")
    last = ix.size - 1
    lines.append(f"{indent}long i = q < -{ix.offset} ? 0 : q > {last - ix.offset} ? {last} : (long)(q + {ix.offset});")
    return lines


def build_plan(qnet: QuantizedNetwork, analysis, *, top: str, proved: bool, header_lines=(),
               lut_limit: int | None = None) -> CodePlan:
    """Lay out the generated computation for a quantized network (see the module docstring).
    `lut_limit`: the user's largest table (entries), refused beyond; None: up to MAX_TABLE_ENTRIES."""
    design = qnet.design
    rounding = design.rounding
    in_carrier = join_formats(design.inputs)
    carrier = in_carrier
    layers = []
    for ql in qnet.layers:
        f = ql.formats
        _check_constants(ql)
        keys: dict[tuple, list[int]] = {}
        for j in range(ql.n_out):
            keys.setdefault((f.weight[j], f.bias[j], f.accum[j], f.output[j]), []).append(j)
        groups = []
        for gid, (key, neurons) in enumerate(sorted(keys.items(), key=lambda kv: kv[1][0])):
            w, b, a, o = key
            pre = pre_activation_format(a, o.frac_bits, rounding)
            lut = None
            if ql.activation in (Activation.TANH, Activation.SIGMOID) and f.table is not None:
                lut = _hls4ml_lut(ql.activation, ql.index, f.table, o.frac_bits, rounding)
            elif ql.activation in (Activation.TANH, Activation.SIGMOID):
                lut = _lut(ql.activation, ql.index, neurons, o.frac_bits, pre, analysis, lut_limit)
            groups.append(NeuronGroup(ql.index, gid, tuple(neurons), w, b, a, o, pre, lut))
        out_carrier = join_formats(f.output)
        layers.append(LayerPlan(ql.index, ql.activation, ql.n_in, ql.n_out, carrier, out_carrier, tuple(groups), ql))
        carrier = out_carrier
    return CodePlan(top, qnet, design, tuple(layers), in_carrier, proved, tuple(header_lines))


def _check_constants(ql: QuantizedLayer) -> None:
    f = ql.formats
    for j in range(ql.n_out):
        wf, bf = f.weight[j], f.bias[j]
        row = ql.weight_mant[j]
        lo, hi = int(row.min()), int(row.max())
        if lo < wf.min_int or hi > wf.max_int:
            raise UserError(
                f"layer {ql.index} neuron {j}: a weight does not fit its format {wf}; such a design cannot be "
                "emitted as code (even with --unverified)",
                hint="give that layer's weights more integer bits",
            )
        b = int(ql.bias_mant[j])
        if not bf.min_int <= b <= bf.max_int:
            raise UserError(
                f"layer {ql.index} neuron {j}: the bias does not fit its format {bf}; such a design cannot be "
                "emitted as code (even with --unverified)",
                hint="give that layer's biases more integer bits",
            )
