"""HLS C++ (Vitis / Vivado HLS) for a quantized network, with `ap_fixed` types.

The arithmetic is the semantics of `verifq/fixedpoint/design.py`, mapped
onto `ap_fixed<W, I, Q, O>` as follows (Q = AP_TRN for truncation, AP_RND for
round-to-nearest with ties up; O = AP_WRAP or AP_SAT):

* weights and biases are constants of their own formats: `ap_fixed` arrays
  with exact decimal literals (used only when every value of the array is
  exactly a double, so the literal and its conversion are exact), or, for
  large networks and for any array with a value a double cannot hold,
  integer arrays of the mantissas k whose bits are copied into the
  `ap_fixed` type where used (`HlsOptions.constants`; same values); a
  mantissa wider than 64 bits is stored as 64-bit limbs (two's complement,
  least significant first), each copied into its bit range, so constants of
  any width are exact;
* types wider than ap_types' default limit of 1024 bits raise AP_INT_MAX_W
  in the generated header (before ap_fixed.h is included);
* `acc_t acc = b[j];` casts the bias into the accumulator: rounding with Q
  when the bias has more fractional bits, then O;
* `acc_t p = w[j][k] * x[k]; acc += p;`: the ap_fixed product is exact
  (W_w + W_x bits); the cast to acc_t rounds it with Q only when it has more
  fractional bits than the accumulator, then applies O; `+=` computes the
  exact sum and assigns it back with O, so under AP_SAT every partial sum
  saturates, and under AP_WRAP the result is the exact sum modulo 2^W (the
  semantics' "only the final sum matters");
* `pre_t v = acc;` rounds the sum to the output's fractional bits with Q;
  pre_t has the accumulator's range (plus a carry bit for AP_RND), so this
  cast never overflows;
* the activation works on v: ReLU `v > 0 ? v : 0`, identity, or for
  tanh/sigmoid the design's lookup table: hls4ml's (N entries indexed by
  trunc0(x N / D) + N/2, clamped, computed exactly on v's mantissa), or the
  ideal table indexed by v's mantissa;
* `out_t o = a;` applies the output's overflow mode (same fractional bits,
  so no rounding); the value is then stored in the layer's array (its
  element type holds every neuron's format exactly).

Where a rounding cast would drop more fractional bits than its source has
bits (only with extreme formats), the source is first sign-extended into a
wider type: the value is unchanged, and ap_fixed's C model would otherwise
abort on an assertion.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..fixedpoint.format import FixedFormat, Overflow, Rounding, ap_mode_names
from ..network.ir import Activation
from .emit import (
    AP_INT_DEFAULT_MAX_W,
    CodePlan,
    LayerPlan,
    NeuronGroup,
    c_int_type,
    compare_expected_lines,
    dyadic_literal,
    shared_table_name,
    table_note,
    type_name,
    wrap_list,
)
from .limbs import (
    HLS_LIMB_BITS,
    double_exact,
    fits_int64,
    fits_int64_storage,
    format_limbs,
    hex_limb,
    limb_count,
    limbs_of,
    signed_bits_of,
    wide_library,
)


def index_product_width(g: NeuronGroup) -> int:
    """Bits of the hls4ml table index product m * N * 2^up of a group's pre-activation mantissa m."""
    ix = g.lut.index
    return g.pre.width + 1 + ix.size.bit_length() + ix.up + 1


@dataclass(frozen=True)
class HlsOptions:
    pipeline_ii: int | None = None  # PIPELINE II=n inside every neuron loop
    pipeline_top: bool = False  # PIPELINE the whole top function (latency style; unrolls every loop)
    unroll: int | None = None  # UNROLL factor of the dot-product loops (0: complete)
    io: str = "memory"  # "memory" (ap_memory arrays) or "parallel" (arrays reshaped into wide ports)
    # "typed": ap_fixed constant arrays with exact decimal literals; "mantissa": plain integer arrays of
    # the mantissas, bit-copied into the ap_fixed type where used (g++ compiles large initializer lists of
    # ap_fixed very slowly: 13k weights took 80-460 s, as integers 2 s); "auto": typed up to
    # TYPED_CONSTANTS_LIMIT constants, mantissa beyond.
    constants: str = "auto"


TYPED_CONSTANTS_LIMIT = 4096


def product_format(w: FixedFormat, x: FixedFormat) -> FixedFormat:
    """The type of an ap_fixed product w * x (exact): widths and integer bits add."""
    return FixedFormat(w.width + x.width, w.integer_bits + x.integer_bits, w.signed or x.signed)


def _comment_block(lines, prefix="//") -> str:
    return "\n".join(f"{prefix} {l}".rstrip() for l in lines)


def _array_name(lp_index: int) -> str:
    return f"h{lp_index}"


class HlsEmitter:
    def __init__(self, plan: CodePlan, options: HlsOptions):
        self.plan = plan
        self.opt = options
        self.rounding: Rounding = plan.design.rounding
        self.overflow: Overflow = plan.design.overflow
        self.q, self.o = ap_mode_names(self.rounding, self.overflow)
        self.top = plan.top
        self.mantissa = self._use_mantissa()
        self.kind: dict[str, str] = {}  # constant array -> "typed" | "mantissa" | "limbs"
        self.wide_out = not all(fits_int64_storage(f) for f in plan.output_formats)
        self.y_limbs = max(map(format_limbs, plan.output_formats)) if self.wide_out else 0
        self.widened: dict[tuple[FixedFormat, FixedFormat], FixedFormat] = {}
        for lp in plan.layers:
            for g in lp.groups:
                self._widen(g.bias, g.accum)
                self._widen(product_format(g.weight, lp.in_carrier), g.accum)
                self._widen(g.accum, g.pre)
                if g.lut is not None and g.lut.cast is not None:
                    self._widen(g.lut.entry, g.lut.cast)
        for f in plan.design.inputs:
            self._widen(plan.input_carrier, f)
        for f in plan.output_formats:
            self._widen(plan.result_carrier, f)
        self._constant_lines: list[str] | None = None

    @property
    def constant_lines(self) -> list[str]:
        """The constant arrays (deciding self.kind of each)."""
        if self._constant_lines is None:
            self._constant_lines = self._constants()
        return self._constant_lines

    def max_ap_width(self) -> int:
        """The widest ap type the generated code and testbench use (typedefs, products, bit copies)."""
        plan = self.plan
        widths = [f.width for f in plan.all_formats()] + [f.width for f in self.widened.values()]
        for lp in plan.layers:
            for g in lp.groups:
                widths.append(product_format(g.weight, lp.in_carrier).width)
                widths.append(g.pre.width + 2)
                if g.lut is not None and g.lut.index is not None:
                    widths.append(index_product_width(g) + 2)
                elif g.lut is not None:
                    widths.append(signed_bits_of([g.lut.lo]))
        widths += [32 * format_limbs(f) for f in plan.design.inputs]
        widths.append(32 * self.y_limbs)
        return max(widths) + 1

    def ap_int_max_w(self) -> int | None:
        """AP_INT_MAX_W the design needs (a multiple of 1024), or None when ap_types' default will do."""
        w = self.max_ap_width()
        return None if w <= AP_INT_DEFAULT_MAX_W else -(-w // 1024) * 1024

    # ap_fixed's C model asserts ("Attempting to read bit beyond MSB") when a cast with AP_RND drops
    # more fractional bits than the source has bits; the value is then first sign-extended (exactly)
    # into a type wide enough for the shift.
    def _widen(self, src: FixedFormat, dst: FixedFormat) -> FixedFormat | None:
        shift = src.frac_bits - dst.frac_bits
        if self.rounding is Rounding.TRUNCATE or shift < src.width:
            return None
        extra = shift - src.width + 1
        mid = FixedFormat(src.width + extra, src.integer_bits + extra, src.signed)
        self.widened[(src, dst)] = mid
        return mid

    def cast_src(self, expr: str, src: FixedFormat, dst: FixedFormat) -> str:
        """expr (of format src), made safe to round into dst."""
        mid = self.widened.get((src, dst))
        return expr if mid is None else f"{self.t(mid)}({expr})"

    # ------------------------------------------------------------------ types
    def t(self, fmt: FixedFormat) -> str:
        return type_name(fmt)

    def _typedef_roles(self) -> dict[FixedFormat, list[str]]:
        plan = self.plan
        roles: dict[FixedFormat, list[str]] = {f: [] for f in plan.all_formats()}

        def add(f, what):
            if what not in roles[f]:
                roles[f].append(what)

        for f in set(plan.design.inputs):
            add(f, "inputs")
        if plan.input_carrier not in set(plan.design.inputs):
            add(plan.input_carrier, "input array")
        for lp in plan.layers:
            for g in lp.groups:
                add(g.weight, f"L{lp.index} weight")
                add(g.bias, f"L{lp.index} bias")
                add(g.accum, f"L{lp.index} accum")
                add(g.pre, f"L{lp.index} rounded sum")
                add(g.output, f"L{lp.index} output")
                if g.lut is not None:
                    add(g.lut.entry, f"L{lp.index} {lp.activation.value} table")
                if g.lut is not None and g.lut.cast is not None:
                    add(g.lut.cast, f"L{lp.index} {lp.activation.value} table entry on the output grid")
            if lp.out_carrier not in {g.output for g in lp.groups}:
                add(lp.out_carrier, f"L{lp.index} output array")
        return roles

    def header(self) -> str:
        plan, top = self.plan, self.top
        guard = f"VERIFQ_{top.upper()}_H"
        lines = [_comment_block(plan.header_lines), f"#ifndef {guard}", f"#define {guard}", "", '#include <stdint.h>']
        max_w = self.ap_int_max_w()
        if max_w is not None:
            lines += [f"// Some types of this design are wider than ap_types' default limit of {AP_INT_DEFAULT_MAX_W} bits:",
                      "// AP_INT_MAX_W must be set before the first include of ap_int.h / ap_fixed.h.",
                      "#ifndef AP_INT_MAX_W",
                      f"#define AP_INT_MAX_W {max_w}",
                      f"#elif AP_INT_MAX_W < {max_w}",
                      f"#error \"this design needs AP_INT_MAX_W >= {max_w}: define it before including ap_fixed.h (e.g. -DAP_INT_MAX_W={max_w})\"",
                      "#endif"]
        lines += ['#include "ap_fixed.h"', ""]
        lines.append(f"// One typedef per format; every type uses the proven modes {self.q} and {self.o}.")
        roles_by_fmt = self._typedef_roles()
        for mid in self.widened.values():
            roles_by_fmt.setdefault(mid, []).append("sign-extended before a rounding cast")
        for fmt, roles in roles_by_fmt.items():
            base = "ap_fixed" if fmt.signed else "ap_ufixed"
            decl = f"typedef {base}<{fmt.width}, {fmt.integer_bits}, {self.q}, {self.o}> {self.t(fmt)};"
            lines.append(f"{decl:<60} // {fmt}: {', '.join(roles)}")
        lines += [
            "",
            f"#define {top.upper()}_N_IN {plan.n_in}",
            f"#define {top.upper()}_N_OUT {plan.n_out}",
            f"typedef {self.t(plan.input_carrier)} {top}_input_t;",
            f"typedef {self.t(plan.result_carrier)} {top}_result_t;",
            "",
            f"// x: the network's layer inputs (after any input normalization), each in its input format;",
            f"// y: the outputs, each in its proven output format.",
            f"void {top}(const {top}_input_t x[{plan.n_in}], {top}_result_t y[{plan.n_out}]);",
            "",
            f"#endif  // {guard}",
            "",
        ]
        return "\n".join(lines)

    # ------------------------------------------------------------------ constants
    def _use_mantissa(self) -> bool:
        if self.opt.constants == "mantissa":
            return True
        if self.opt.constants == "typed":
            return False
        count = 0
        for lp in self.plan.layers:
            count += lp.n_out * (lp.n_in + 1)
            count += sum(len(g.lut.values) for g in lp.groups if g.lut is not None and g.lut.index is None)
            count += next((len(g.lut.values) for g in lp.groups if g.lut is not None and g.lut.index is not None), 0)
        return count > TYPED_CONSTANTS_LIMIT

    def _const_array(self, name: str, fmt: FixedFormat, dims: list[int], rows: list[list[int]], note: str,
                     mantissas: bool = False) -> list[str]:
        """A constant array of mantissas at fmt's grid: ap_fixed-typed (exact decimal literals, only when
        every value is a double), plain integers, or 64-bit limbs of mantissas wider than 64 bits."""
        shape = "".join(f"[{d}]" for d in dims)
        flat = [v for r in rows for v in r]
        kind = "mantissa" if self.mantissa or mantissas else "typed"
        if kind == "typed" and not all(double_exact(v, fmt.frac_bits) for v in flat):
            kind = "mantissa"
        if kind == "mantissa" and not fits_int64(min(flat), max(flat)):
            kind = "limbs"
        self.kind[name] = kind
        if kind == "limbs":
            return self._limb_array(name, fmt, dims, rows, note)
        if kind == "mantissa":
            ct = c_int_type(min(flat), max(flat))
            head = f"static const {ct} {name}{shape} = {{  // {note}; mantissas of {fmt}: value = m * 2^{-fmt.frac_bits}"
            fmt_item = str
        else:
            head = f"static const {self.t(fmt)} {name}{shape} = {{  // {note}"
            fmt_item = lambda m: dyadic_literal(int(m), fmt.frac_bits)  # noqa: E731
        out = [head]
        if len(dims) == 2:
            out.append(",\n".join("    {" + ", ".join(fmt_item(v) for v in r) + "}" for r in rows))
        else:
            out.append(wrap_list([fmt_item(v) for v in flat], "    "))
        out.append("};")
        return out

    def _limb_array(self, name: str, fmt: FixedFormat, dims: list[int], rows: list[list[int]], note: str) -> list[str]:
        """Mantissas wider than 64 bits: the W-bit two's complement of each as 64-bit limbs."""
        n = limb_count(fmt.width, HLS_LIMB_BITS)
        shape = "".join(f"[{d}]" for d in dims)

        def item(v: int) -> str:
            return "{" + ", ".join(hex_limb(u, HLS_LIMB_BITS) for u in limbs_of(v % (1 << fmt.width), n, HLS_LIMB_BITS)) + "}"

        out = [f"static const uint64_t {name}{shape}[{n}] = {{  // {note}; mantissas of {fmt} (value = m * 2^{-fmt.frac_bits}): "
               f"the {fmt.width} bits of m as {n} 64-bit limbs, least significant first"]
        if len(dims) == 2:
            out.append(",\n".join("    {" + ", ".join(item(v) for v in r) + "}" for r in rows))
        else:
            out.append(wrap_list([item(v) for v in rows[0]], "    "))
        out.append("};")
        return out

    def _get(self, name: str, index: str, fmt: FixedFormat, var: str, indent: str) -> list[str]:
        """Declare `var` of fmt's type holding the constant name[index]."""
        kind = self.kind[name]
        if kind == "typed":
            return [f"{indent}{self.t(fmt)} {var} = {name}{index};"]
        if kind == "mantissa":
            it = "ap_int" if fmt.signed else "ap_uint"
            return [f"{indent}{self.t(fmt)} {var};",
                    f"{indent}{var}.range({fmt.width - 1}, 0) = {it}<{fmt.width}>({name}{index});  // exact bit copy"]
        out = [f"{indent}{self.t(fmt)} {var};"]
        out += self._bit_copy(var, fmt.width, f"{name}{index}", indent)
        return out

    @staticmethod
    def _bit_copy(var: str, width: int, limbs: str, indent: str) -> list[str]:
        """var's bits width-1..0 from the 64-bit limbs limbs[0], limbs[1], ..."""
        n = limb_count(width, HLS_LIMB_BITS)
        out = [f"{indent}{var}.range({min(64 * i + 63, width - 1)}, {64 * i}) = {limbs}[{i}];" for i in range(n)]
        out[-1] += "  // exact bit copy"
        return out

    def _bits_literal(self, var: str, value: int, indent: str) -> list[str]:
        """Declare ap_int `var` holding a constant wider than 64 bits, set from its bits."""
        w = signed_bits_of([value])
        n = limb_count(w, HLS_LIMB_BITS)
        limbs = limbs_of(value % (1 << w), n, HLS_LIMB_BITS)
        out = [f"{indent}ap_int<{w}> {var};  // {value}"]
        out += [f"{indent}{var}.range({min(64 * i + 63, w - 1)}, {64 * i}) = {hex_limb(u, HLS_LIMB_BITS)};" for i, u in enumerate(limbs)]
        return out

    def _constants(self) -> list[str]:
        out = []
        for lp in self.plan.layers:
            ql = lp.ql
            for g in lp.groups:
                out.append(f"// layer {lp.index}, {g.describe()}")
                rows = [[int(m) for m in ql.weight_mant[j]] for j in g.neurons]
                out += self._const_array(f"w{g.name}", g.weight, [len(g.neurons), lp.n_in], rows, "weights")
                out += self._const_array(f"b{g.name}", g.bias, [len(g.neurons)], [[int(ql.bias_mant[j]) for j in g.neurons]], "biases")
                if not g.contiguous:
                    out.append(f"static const int n{g.name}[{len(g.neurons)}] = {{  // neuron indices")
                    out.append(wrap_list([str(n) for n in g.neurons], "    "))
                    out.append("};")
                if g.lut is not None and g.lut.compact:
                    fo = g.output.frac_bits
                    bases, words = g.lut.blocks()
                    note = (f"{lp.activation.value}(v) rounded to nearest at 2^-{fo}, for v = (mantissa {g.lut.lo} + i) * 2^-{fo}, "
                            f"{len(g.lut.values)} entries, compact: entry i = tb[i / 64] + the number of bits 1..i % 64 set in td[i / 64]")
                    out += self._const_array(f"tb{g.name}", g.lut.entry, [len(bases)], [bases], note, mantissas=True)
                    out.append(f"static const uint64_t td{g.name}[{len(words)}] = {{  // bit r: entry 64 b + r is one ulp above entry 64 b + r - 1")
                    out.append(wrap_list([hex_limb(w, HLS_LIMB_BITS) for w in words], "    "))
                    out.append("};")
                elif g.lut is not None and g.lut.index is not None:
                    name = shared_table_name(lp.index, "t")
                    if name not in self.kind:  # one array per layer
                        note = table_note(lp.activation, g, self.plan.design.rounding)
                        out += self._const_array(name, g.lut.entry, [len(g.lut.values)], [list(g.lut.values)], note)
                elif g.lut is not None:
                    note = table_note(lp.activation, g, self.plan.design.rounding)
                    out += self._const_array(f"t{g.name}", g.lut.entry, [len(g.lut.values)], [list(g.lut.values)], note)
                out.append("")
        return out

    # ------------------------------------------------------------------ body
    def _group_code(self, lp: LayerPlan, g: NeuronGroup, src: str, dst: str) -> list[str]:
        n = len(g.neurons)
        acc_t, pre_t, out_t = self.t(g.accum), self.t(g.pre), self.t(g.output)
        L = []
        L.append(f"    // layer {lp.index} ({lp.activation.value}), {g.describe()}")
        L.append(f"    {g.name}: for (int j = 0; j < {n}; j++) {{")
        if self.opt.pipeline_ii is not None and not self.opt.pipeline_top:
            L.append(f"#pragma HLS PIPELINE II={self.opt.pipeline_ii}")
        idx = f"{g.neurons[0]} + j" if g.contiguous else f"n{g.name}[j]"
        if g.contiguous and g.neurons[0] == 0:
            idx = "j"
        if self.kind[f"b{g.name}"] != "typed":
            L += self._get(f"b{g.name}", "[j]", g.bias, "b", "        ")
            L.append(f"        {acc_t} acc = {self.cast_src('b', g.bias, g.accum)};  // bias first (cast: {self.q}, {self.o})")
        else:
            b = self.cast_src(f"b{g.name}[j]", g.bias, g.accum)
            L.append(f"        {acc_t} acc = {b};  // bias first (cast: {self.q}, {self.o})")
        L.append(f"        {g.name}_dot: for (int k = 0; k < {lp.n_in}; k++) {{")
        if self.opt.unroll is not None and not self.opt.pipeline_top and self.opt.pipeline_ii is None:
            L.append("#pragma HLS UNROLL" if self.opt.unroll == 0 else f"#pragma HLS UNROLL factor={self.opt.unroll}")
        if self.kind[f"w{g.name}"] != "typed":
            L += self._get(f"w{g.name}", "[j][k]", g.weight, "w", "            ")
            prod = self.cast_src(f"w * {src}[k]", product_format(g.weight, lp.in_carrier), g.accum)
        else:
            prod = self.cast_src(f"w{g.name}[j][k] * {src}[k]", product_format(g.weight, lp.in_carrier), g.accum)
        L.append(f"            {acc_t} p = {prod};  // exact product, cast to the accumulator")
        L.append("            acc += p;")
        L.append("        }")
        L.append(f"        {pre_t} v = {self.cast_src('acc', g.accum, g.pre)};  // rounded to the output's {g.output.frac_bits} fractional bits")
        act = lp.activation
        if act is Activation.RELU:
            L.append(f"        {pre_t} a = v > 0 ? v : {pre_t}(0);")
        elif act is Activation.LINEAR:
            L.append(f"        {pre_t} a = v;")
        elif g.lut is not None and g.lut.index is not None:
            lut, ix = g.lut, g.lut.index
            w, wn = g.pre.width, index_product_width(g)
            it = "ap_int" if g.pre.signed else "ap_uint"
            L.append(f"        {it}<{w}> m = v.range({w - 1}, 0);  // mantissa of v")
            L.append(f"        ap_int<{wn}> num = m;")
            L.append(f"        num = num * {ix.size};" + (f"\n        num <<= {ix.up};" if ix.up else ""))
            if ix.shift:
                L.append(f"        ap_int<{wn}> q = num >= 0 ? ap_int<{wn}>(num >> {ix.shift}) : ap_int<{wn}>(-((-num) >> {ix.shift}));"
                         "  // toward zero")
            else:
                L.append(f"        ap_int<{wn}> q = num;")
            last = ix.size - 1
            L.append(f"        int i = q < -{ix.offset} ? 0 : q > {last - ix.offset} ? {last} : (int)(q + {ix.offset}).to_int64();")
            L += self._get(shared_table_name(lp.index, "t"), "[i]", lut.entry, "e", "        ")
            L.append(f"        {self.t(lut.cast)} a = {self.cast_src('e', lut.entry, lut.cast)};  "
                     f"// hls4ml's {act.value} table entry, cast to the output grid ({self.q})")
        else:
            lut = g.lut
            assert lut is not None
            w = g.pre.width
            it = "ap_int" if g.pre.signed else "ap_uint"
            L.append(f"        {it}<{w}> m = v.range({w - 1}, 0);  // mantissa of v")
            if -(1 << 63) < lut.lo and lut.hi < (1 << 63):
                L.append(
                    f"        int i = m < {lut.lo}LL ? 0 : m > {lut.hi}LL ? {len(lut.values) - 1} : (int)(m - {lut.lo}LL).to_int64();"
                )
            else:
                L += self._bits_literal("lo", lut.lo, "        ")
                L.append(f"        ap_int<{w + 2}> d = m - lo;")
                L.append(f"        int i = d < 0 ? 0 : d > {len(lut.values) - 1} ? {len(lut.values) - 1} : (int)d.to_int64();")
            if lut.compact:
                e = lut.entry
                et = "ap_int" if e.signed else "ap_uint"
                L.append(f"        ap_uint<64> dl = td{g.name}[i >> 6];  // one bit per entry")
                L.append("        int c = 0;")
                L.append(f"        {g.name}_steps: for (int r = 1; r < 64; r++) {{")
                L.append("#pragma HLS UNROLL")
                L.append("            if (r <= (i & 63) && dl[r]) c++;")
                L.append("        }")
                if self.kind[f"tb{g.name}"] == "limbs":
                    L.append(f"        {et}<{e.width}> mb;")
                    L += self._bit_copy("mb", e.width, f"tb{g.name}[i >> 6]", "        ")
                else:
                    L.append(f"        {et}<{e.width}> mb = {et}<{e.width}>(tb{g.name}[i >> 6]);")
                L.append("        mb += c;  // the entry's mantissa (no overflow: the entry format holds every entry)")
                L.append(f"        {self.t(e)} a;")
                L.append(f"        a.range({e.width - 1}, 0) = mb;  // ideal {act.value} table")
            else:
                L += self._get(f"t{g.name}", "[i]", lut.entry, "a", "        ")
                L[-1] += f"  // ideal {act.value} table" if self.kind[f"t{g.name}"] == "typed" else ""
        L.append(f"        {out_t} o = a;  // output format ({self.o})")
        L.append(f"        {dst}[{idx}] = o;")
        L.append("    }")
        return L

    def source(self) -> str:
        plan, top = self.plan, self.top
        constants = self.constant_lines
        L = [_comment_block(plan.header_lines), f'#include "{top}.h"', ""]
        L += constants
        L.append(f"void {top}(const {top}_input_t x[{plan.n_in}], {top}_result_t y[{plan.n_out}]) {{")
        if self.opt.io == "parallel":
            L += [
                "#pragma HLS ARRAY_RESHAPE variable=x complete dim=0",
                "#pragma HLS ARRAY_RESHAPE variable=y complete dim=0",
                "#pragma HLS INTERFACE ap_vld port=x",
                "#pragma HLS INTERFACE ap_vld port=y",
            ]
        else:
            L += ["#pragma HLS INTERFACE ap_memory port=x", "#pragma HLS INTERFACE ap_memory port=y"]
        L.append("#pragma HLS INTERFACE ap_ctrl_hs port=return")
        if self.opt.pipeline_top:
            ii = self.opt.pipeline_ii or 1
            L.append(f"#pragma HLS PIPELINE II={ii}")
        partition_all = self.opt.pipeline_top
        partition_rows = self.opt.pipeline_ii is not None and not self.opt.pipeline_top
        for lp in plan.layers:
            for g in lp.groups:
                if partition_all:
                    L.append(f"#pragma HLS ARRAY_PARTITION variable=w{g.name} complete dim=0")
                    L.append(f"#pragma HLS ARRAY_PARTITION variable=b{g.name} complete dim=0")
                elif partition_rows:
                    L.append(f"#pragma HLS ARRAY_PARTITION variable=w{g.name} complete dim=2")
        L.append("")
        src = "x"
        if len(set(plan.design.inputs)) > 1:
            L.append("    // each input in its own format, kept in one array type")
            L.append(f"    {self.t(plan.input_carrier)} x0[{plan.n_in}];")
            for k, f in enumerate(plan.design.inputs):
                L.append(f"    x0[{k}] = ({self.t(f)}) {self.cast_src(f'x[{k}]', plan.input_carrier, f)};")
            src = "x0"
            L.append("")
        for pos, lp in enumerate(plan.layers):
            last = pos == len(plan.layers) - 1
            dst = "y" if last else _array_name(lp.index)
            if not last:
                L.append(f"    {self.t(lp.out_carrier)} {dst}[{lp.n_out}];")
                if partition_all or partition_rows:
                    L.append(f"#pragma HLS ARRAY_PARTITION variable={dst} complete dim=0")
            for g in lp.groups:
                L += self._group_code(lp, g, src, dst)
            L.append("")
            src = dst
        L.append("}")
        L.append("")
        return "\n".join(L)

    # ------------------------------------------------------------------ testbench
    def testbench(self) -> str:
        plan, top = self.plan, self.top
        in_fmts = plan.design.inputs
        out_fmts = plan.output_formats
        L = [_comment_block(plan.header_lines), "//", "// C++ testbench (C simulation in Vitis HLS, or g++ with the ap_types headers).",
             "// usage: tb [-m] [-r] [INPUTS [EXPECTED]]   (defaults: tb_inputs.txt, tb_expected.txt if present)",
             "//   INPUTS: whitespace-separated numbers, one sample of N_IN values after another ('#' starts a comment);",
             "//           reals (rounded into the input formats with the proven mode), or with -m integer mantissas.",
             "//   prints one line per sample: the output mantissas (value = mantissa * 2^-F of each output format),",
             "//           or with -r the real output values.",
             "//   EXPECTED: output mantissas to compare with; any difference makes the exit code 1.",
             "#include <cstdio>", "#include <cstdlib>", "#include <cstring>", "#include <fstream>", "#include <iostream>",
             "#include <string>", f'#include "{top}.h"', "",
             "static bool next_token(std::istream& in, std::string& tok) {",
             "    tok.clear();",
             "    int c;",
             "    while ((c = in.get()) != EOF) {",
             "        if (c == '#') { while ((c = in.get()) != EOF && c != '\\n') {} continue; }",
             "        if (c == ' ' || c == '\\t' || c == '\\n' || c == '\\r' || c == ',') { if (!tok.empty()) return true; continue; }",
             "        tok.push_back((char)c);",
             "    }",
             "    return !tok.empty();",
             "}", ""]
        wide_in = any(f.width > 64 for f in in_fmts)
        if wide_in or self.wide_out:
            L[L.index("#include <cstdio>"):L.index("#include <cstdio>")] = [
                "// Mantissas wider than 64 bits are read and printed in decimal, whatever their width."]
            L += ["#include <math.h>",
                  "#if defined(__GNUC__)", "#define VQ_HELPER static __attribute__((unused))", "#else",
                  "#define VQ_HELPER static", "#endif", "",
                  *wide_library(self.rounding, max([self.y_limbs] + [format_limbs(f) for f in in_fmts])), ""]
        # one reader per distinct input format
        readers = {}
        for f in in_fmts:
            if f in readers:
                continue
            name = f"read_{self.t(f)[:-2]}"
            readers[f] = name
            it = "ap_int" if f.signed else "ap_uint"
            L += [f"static {top}_input_t {name}(const std::string& tok, bool mantissa) {{",
                  f"    {self.t(f)} v;"]
            if f.width > 64:
                nl = format_limbs(f)
                L += ["    if (mantissa) {  // decimal text, any width: the low W bits of its two's complement",
                      f"        vq_limb l[{nl}];",
                      f"        if (!vq_w_from_dec(l, {nl}, tok.c_str())) {{ fprintf(stderr, \"'%s' is not an integer mantissa\\n\", tok.c_str()); exit(2); }}",
                      f"        ap_int<{32 * nl}> t;",
                      f"        for (int i = 0; i < {nl}; i++) t.range(32 * i + 31, 32 * i) = l[i];",
                      f"        {it}<{f.width}> m = t;",
                      f"        v.range({f.width - 1}, 0) = m;",
                      "    }"]
            else:
                L.append(f"    if (mantissa) {{ {it}<{f.width}> m = (long long)strtoll(tok.c_str(), 0, 10); v.range({f.width - 1}, 0) = m; }}")
            L += ["    else v = strtod(tok.c_str(), 0);  // rounding and overflow of the input format",
                  "    return v;", "}", ""]
        L += ["int main(int argc, char** argv) {",
              "    bool mantissa = false, real_out = false;",
              "    const char* files[2] = {0, 0};",
              "    int nf = 0;",
              "    for (int a = 1; a < argc; a++) {",
              "        if (!strcmp(argv[a], \"-m\")) mantissa = true;",
              "        else if (!strcmp(argv[a], \"-r\")) real_out = true;",
              "        else if (nf < 2) files[nf++] = argv[a];",
              "    }",
              "    bool default_files = nf == 0;",
              "    if (default_files) { files[0] = \"tb_inputs.txt\"; files[1] = \"tb_expected.txt\"; }",
              "    std::ifstream in(files[0]);",
              "    if (!in) { fprintf(stderr, \"cannot open %s\\n\", files[0]); return 2; }",
              "    std::ifstream exp_in;",
              "    bool check = false;",
              "    if (files[1]) { exp_in.open(files[1]); check = (bool)exp_in; if (!check && !default_files) { fprintf(stderr, \"cannot open %s\\n\", files[1]); return 2; } }",
              f"    {top}_input_t x[{plan.n_in}];",
              f"    {top}_result_t y[{plan.n_out}];",
              "    std::string tok;",
              "    long samples = 0, mismatches = 0;",
              "    while (true) {",
              f"        for (int k = 0; k < {plan.n_in}; k++) {{",
              "            if (!next_token(in, tok)) {",
              "                if (k) { fprintf(stderr, \"incomplete sample at the end of %s\\n\", files[0]); return 2; }",
              "                goto done;",
              "            }"]
        if len(readers) == 1:
            L.append(f"            x[k] = {readers[in_fmts[0]]}(tok, mantissa);")
        else:
            L.append("            switch (k) {")
            for k, f in enumerate(in_fmts):
                L.append(f"            case {k}: x[k] = {readers[f]}(tok, mantissa); break;")
            L.append("            }")
        L += ["        }",
              f"        {top}(x, y);"]
        yl = self.y_limbs
        if yl:
            L.append(f"        char m[{plan.n_out}][{10 * yl + 2}];  // decimal text of each output mantissa")
        else:
            L.append(f"        long long m[{plan.n_out}];")
        for j, f in enumerate(out_fmts):
            it = "ap_int" if f.signed else "ap_uint"
            yj = self.cast_src(f"y[{j}]", plan.result_carrier, f)
            if yl:
                L.append(f"        {{ {self.t(f)} o = {yj}; {it}<{f.width}> r = o.range({f.width - 1}, 0); ap_int<{32 * yl}> t = r; "
                         f"vq_limb l[{yl}]; for (int i = 0; i < {yl}; i++) l[i] = (vq_limb)t.range(32 * i + 31, 32 * i).to_uint(); "
                         f"vq_w_to_dec(l, {yl}, m[{j}]); }}")
            else:
                L.append(f"        {{ {self.t(f)} o = {yj}; {it}<{f.width}> r = o.range({f.width - 1}, 0); m[{j}] = (long long)r.to_int64(); }}")
        L += [f"        for (int j = 0; j < {plan.n_out}; j++) {{",
              "            if (real_out) printf(\"%s%.17g\", j ? \" \" : \"\", y[j].to_double());",
              f"            else printf(\"%s{'%s' if yl else '%lld'}\", j ? \" \" : \"\", m[j]);",
              "            if (check) {",
              *compare_expected_lines("next_token(exp_in, tok)", "tok.c_str()", "m[j]", decimal=bool(yl)),
              "    if (check) {",
              "        fprintf(stderr, \"%ld samples, %ld output mismatches against %s\\n\", samples, mismatches, files[1]);",
              "        return mismatches ? 1 : 0;",
              "    }",
              "    return 0;",
              "}", ""]
        return "\n".join(L)

    def tcl(self, extra_files: list[str]) -> str:
        top = self.top
        return "\n".join([
            "# Vitis HLS / Vivado HLS project script: vitis_hls -f run_hls.tcl  (or vivado_hls -f run_hls.tcl)",
            f"open_project -reset {top}_prj",
            f"set_top {top}",
            f"add_files {top}.cpp",
            f"add_files -tb {top}_tb.cpp",
            *[f"add_files -tb {f}" for f in extra_files],
            "open_solution -reset solution1",
            "# pick your part and clock",
            "set_part {xcu250-figd2104-2L-e}",
            "create_clock -period 5 -name default",
            "csim_design",
            "csynth_design",
            "# cosim_design",
            "exit",
            "",
        ])


def generate_hls(plan: CodePlan, options: HlsOptions | None = None) -> dict[str, str]:
    """File name -> text of the HLS header, source and testbench."""
    em = HlsEmitter(plan, options or HlsOptions())
    top = plan.top
    return {
        f"{top}.h": em.header(),
        f"{top}.cpp": em.source(),
        f"{top}_tb.cpp": em.testbench(),
    }


def hls_tcl(plan: CodePlan, options: HlsOptions | None, tb_files: list[str]) -> str:
    return HlsEmitter(plan, options or HlsOptions()).tcl(tb_files)
