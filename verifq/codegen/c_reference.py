"""A portable C99 reference of a quantized network: integer mantissas and
explicit shifts only, bit-exact with the HLS code and the Python simulator.

Every value is its integer mantissa k (value k * 2^-F). Per group of neurons
the generator picks 64-bit arithmetic, or `__int128` (a GCC/Clang extension,
guarded by #error) when a static bound shows a product, a shifted sum or an
accumulator needs more than 62 bits, and plain C99 multi-limb integers
(fixed-size arrays of 32-bit limbs, two's complement; `WIDE_LIBRARY` in
`emit.py`) beyond 126 bits or when a constant, a stored value or an
input/output does not fit 64 bits. Values, constants and the interface
stay int64_t wherever they fit, so any format the spec language allows can
be emitted, and designs that fit 64/128 bits get the fast path unchanged.

* rounding: floor(a / 2^s) for truncation, floor((a + 2^(s-1)) / 2^s) for
  nearest, written without right-shifting negative numbers
  (floor(a / 2^s) = ~(~a >> s) for a < 0);
* wrap: the accumulator is summed in *unsigned* arithmetic (modulo 2^64 or
  2^128, no undefined behaviour), then reduced to W bits and sign-extended
  without implementation-defined conversions;
* saturate: clamp every product cast and every partial sum to the
  accumulator's range, and the output to the output's range;
* the bias constant is already aligned to the accumulator's grid (rounded
  with the design's mode, overflow mode applied), exactly as the simulator
  and the HLS cast do.

The multi-limb path computes the same steps on n-limb words (n sized from
the same static bound, plus the widths of every value it holds): exact
products modulo 2^(32 n), the same roundings (add 2^(s-1), arithmetic shift)
and the same wrap/saturate of each format. Inputs or outputs wider than 64
bits make the interface limb arrays (`x[N_IN][X_LIMBS]`), read and printed
in decimal by the testbench.
"""

from __future__ import annotations

from ..fixedpoint.format import Overflow, Rounding, handle_overflow
from ..network.ir import Activation
from .emit import (CodePlan, LayerPlan, NeuronGroup, c_int_literal, c_int_type, compare_expected_lines, hls4ml_index_lines,
                   shared_table_name, table_note, wrap_list)
from .c_wide import SAFE64, SAFE128, CWideParts, group_int_bits, wide_group_bits
from .limbs import fits_int64, fits_int64_storage, format_limbs, limb_count, wide_library

QUANTIZE_NARROW_BITS = 61  # real inputs of at most this many bits are quantized in int64/double arithmetic
DOUBLE_INT_BITS = 1025  # |floor(v 2^(F+1))| < 2^1025 for every finite double v


class CEmitter(CWideParts):
    def __init__(self, plan: CodePlan):
        self.plan = plan
        self.rounding = plan.design.rounding
        self.overflow = plan.design.overflow
        self.top = plan.top
        design = plan.design
        # the value arrays h0 (inputs at the input carrier) .. hL: int64_t, or limbs when wider
        carriers = [plan.input_carrier] + [lp.out_carrier for lp in plan.layers]
        self.store_limbs = {i: (0 if fits_int64_storage(c) else format_limbs(c)) for i, c in enumerate(carriers)}
        # the interface: int64_t mantissas, or limb arrays when some input/output is wider
        self.x_limbs = 0 if all(fits_int64_storage(f) for f in design.inputs) else max(map(format_limbs, design.inputs))
        self.y_limbs = 0 if all(fits_int64_storage(f) for f in plan.output_formats) else max(
            map(format_limbs, plan.output_formats))
        wide_real = any(f.width > QUANTIZE_NARROW_BITS for f in design.inputs)
        self.q_limbs = limb_count(max([DOUBLE_INT_BITS] + [f.width for f in design.inputs]) + 4) if wide_real else 0
        self.kinds: dict[tuple[int, int], str] = {}
        self.limbs: dict[tuple[int, int], int] = {}
        for lp in plan.layers:
            for g in lp.groups:
                need = group_int_bits(lp, g)
                key = (lp.index, g.gid)
                ql = lp.ql
                consts_fit = all(fits_int64(int(ql.weight_mant[j].min()), int(ql.weight_mant[j].max())) for j in g.neurons)
                if g.lut is not None:
                    consts_fit = consts_fit and fits_int64(int(min(g.lut.values)), int(max(g.lut.values)))
                if g.lut is not None and g.lut.cast is not None:  # hls4ml's: entries, and entries shifted to F_o
                    consts_fit = consts_fit and max(g.lut.entry.width, g.lut.cast.width) <= 62 and abs(g.lut.shift) <= 60
                narrow_io = not self.store_limbs[lp.index - 1] and not self.store_limbs[lp.index]
                if need <= SAFE64 and consts_fit and narrow_io:
                    self.kinds[key] = "64"
                elif need <= SAFE128 and consts_fit and narrow_io:
                    self.kinds[key] = "128"
                else:
                    self.kinds[key] = "w"
                    self.limbs[key] = limb_count(wide_group_bits(lp, g))
        self.need128 = "128" in self.kinds.values() or any(
            g.lut is not None and g.lut.index is not None and g.lut.index.product_bits > 63
            for lp in plan.layers for g in lp.groups)
        self.max_limbs = max([0, self.x_limbs, self.y_limbs, self.q_limbs, *self.store_limbs.values(), *self.limbs.values()])
        self.need_wide = self.max_limbs > 0
        self.compact_tables = any(g.lut is not None and g.lut.compact for lp in plan.layers for g in lp.groups)
        self.const_limbs: dict[str, int] = {}  # constant arrays kept as limbs: name -> limbs per value

    # ------------------------------------------------------------------ helpers
    def _helpers(self, suffix: str) -> list[str]:
        T, U, bits = ("int64_t", "uint64_t", 64) if suffix == "64" else ("vq_i128", "vq_u128", 128)
        near = self.rounding is Rounding.NEAREST
        L = [
            f"/* round a * 2^-s to an integer ({'nearest, ties up' if near else 'floor'}); 1 <= s <= {bits - 2} */",
            f"VQ_HELPER {T} vq_shr{suffix}({T} a, int s) {{",
        ]
        if near:
            L.append(f"    a += ({T})1 << (s - 1);")
        L += [
            "    return a >= 0 ? a >> s : ~((~a) >> s);",
            "}",
            f"/* exact floor(a * 2^-s) (used for values known to be multiples of 2^s) */",
            f"VQ_HELPER {T} vq_exact_shr{suffix}({T} a, int s) {{ return a >= 0 ? a >> s : ~((~a) >> s); }}",
            f"/* a * 2^s (the caller guarantees no overflow) */",
            f"VQ_HELPER {T} vq_shl{suffix}({T} a, int s) {{ return a * (({T})1 << s); }}",
            f"/* two's complement wrap of u into w bits (signed or not), sign-extended without undefined behaviour */",
            f"VQ_HELPER {T} vq_wrap{suffix}({U} u, int w, int is_signed) {{",
            f"    {U} mask = w >= {bits} ? ~({U})0 : ((({U})1 << w) - 1);",
            "    u &= mask;",
            f"    if (is_signed && ((u >> (w - 1)) & 1)) return -({T})(mask - u) - 1;",
            f"    return ({T})u;",
            "}",
            f"VQ_HELPER {T} vq_clamp{suffix}({T} a, {T} lo, {T} hi) {{ return a < lo ? lo : (a > hi ? hi : a); }}",
            "",
        ]
        return L

    def lit(self, v: int, suffix: str) -> str:
        v = int(v)
        if suffix == "64" or -(1 << 63) <= v < (1 << 63):
            return c_int_literal(v) if suffix == "64" else f"(vq_i128){c_int_literal(v)}"
        hi, lo = v >> 64, v & ((1 << 64) - 1)
        return f"((vq_i128){c_int_literal(hi)} * ((vq_i128)1 << 64) + (vq_i128)UINT64_C({lo}))"

    # ------------------------------------------------------------------ constants
    def _constants(self) -> list[str]:
        L, emitted = [], set()
        for lp in self.plan.layers:
            ql = lp.ql
            for g in lp.groups:
                rows = [[int(v) for v in ql.weight_mant[j]] for j in g.neurons]
                flat = [v for r in rows for v in r]
                L.append(f"/* layer {lp.index}, {g.describe()} */")
                if fits_int64(min(flat), max(flat)):
                    wt = c_int_type(min(flat), max(flat))
                    L.append(f"/* weight mantissas at 2^-{g.weight.frac_bits} */")
                    L.append(f"static const {wt} W{g.name}[{len(g.neurons)}][{lp.n_in}] = {{")
                    L.append(",\n".join("    {" + ", ".join(str(v) for v in r) + "}" for r in rows))
                    L.append("};")
                else:
                    L += self._limb_array(f"W{g.name}", [len(g.neurons), lp.n_in], rows,
                                          f"weight mantissas at 2^-{g.weight.frac_bits}")
                bias = [int(handle_overflow(int(ql.bias_acc_mant[j]), g.accum, self.overflow)) for j in g.neurons]
                suffix = self.kinds[(lp.index, g.gid)]
                note = f"bias mantissas at the accumulator's 2^-{g.accum.frac_bits} ({self.rounding.value}, {self.overflow.value})"
                if all(-(1 << 63) <= b < (1 << 63) for b in bias):
                    L.append(f"/* {note} */")
                    L.append(f"static const int64_t B{g.name}[{len(g.neurons)}] = {{")
                    L.append(wrap_list([c_int_literal(b) for b in bias], "    "))
                    L.append("};")
                elif suffix == "128":
                    L.append(f"/* {note} */")
                    L.append(f"static const vq_i128 B{g.name}[{len(g.neurons)}] = {{")
                    L.append(wrap_list([self.lit(b, "128") for b in bias], "    "))
                    L.append("};")
                else:
                    L += self._limb_array(f"B{g.name}", [len(g.neurons)], [bias], note)
                if not g.contiguous:
                    L.append(f"static const int N{g.name}[{len(g.neurons)}] = {{")
                    L.append(wrap_list([str(n) for n in g.neurons], "    "))
                    L.append("};")
                if g.lut is not None and g.lut.compact:
                    L += self._compact_table(lp, g)
                elif g.lut is not None:
                    # hls4ml's table: one array per layer, shared by its groups
                    name = f"T{g.name}" if g.lut.index is None else shared_table_name(lp.index, "T")
                    if name not in emitted:
                        emitted.add(name)
                        L += self._table_array(name, list(g.lut.values), table_note(lp.activation, g, self.rounding))
                L.append("")
        return L

    def _table_array(self, name: str, vals: list[int], note: str) -> list[str]:
        if not fits_int64(min(vals), max(vals)):
            return self._limb_array(name, [len(vals)], [vals], note)
        lt = c_int_type(min(vals), max(vals))
        return [f"/* {note} */", f"static const {lt} {name}[{len(vals)}] = {{", wrap_list([str(v) for v in vals], "    "), "};"]

    def _compact_table(self, lp: LayerPlan, g: NeuronGroup) -> list[str]:
        lut = g.lut
        bases, words = lut.blocks()
        note = (f"{lp.activation.value}(v) rounded to nearest at 2^-{g.output.frac_bits}, v mantissa {lut.lo} + i, "
                f"{len(lut.values)} entries, compact: entry i = TB[i / 64] + the number of bits 1..i % 64 set in TD[i / 64]")
        L = [f"/* {note} */"]
        if fits_int64(min(bases), max(bases)):
            L.append(f"static const {c_int_type(min(bases), max(bases))} TB{g.name}[{len(bases)}] = {{")
            L.append(wrap_list([str(v) for v in bases], "    "))
            L.append("};")
        else:
            L += self._limb_array(f"TB{g.name}", [len(bases)], [bases], "every 64th entry")
        L.append(f"static const uint64_t TD{g.name}[{len(words)}] = {{  /* bit r: entry 64 b + r is one ulp above entry 64 b + r - 1 */")
        L.append(wrap_list([f"UINT64_C(0x{w:016x})" for w in words], "    "))
        L.append("};")
        return L

    @staticmethod
    def _compact_steps(name: str, i: str) -> str:
        """The number of one-ulp steps from entry 64 (i / 64) to entry i of compact table name."""
        return f"vq_popcount64(TD{name}[{i} >> 6] & ((((uint64_t)1 << ({i} & 63)) - 1) << 1))"

    # ------------------------------------------------------------------ body
    def _group(self, lp: LayerPlan, g: NeuronGroup, src: str, dst: str) -> list[str]:
        sfx = self.kinds[(lp.index, g.gid)]
        if sfx == "w":
            return self._group_wide(lp, g, src, dst)
        T, U = ("int64_t", "uint64_t") if sfx == "64" else ("vq_i128", "vq_u128")
        a_fmt, o_fmt, c_fmt = g.accum, g.output, (lp.out_carrier)
        s = g.weight.frac_bits + lp.in_carrier.frac_bits - a_fmt.frac_bits
        if s > 0:
            prod = f"vq_shr{sfx}(p, {s})"
        elif s < 0:
            prod = f"vq_shl{sfx}(p, {-s})"
        else:
            prod = "p"
        sat = self.overflow is Overflow.SATURATE
        n = len(g.neurons)
        idx = "j" if g.contiguous and g.neurons[0] == 0 else (f"{g.neurons[0]} + j" if g.contiguous else f"N{g.name}[j]")
        L = [f"    /* layer {lp.index} ({lp.activation.value}), {g.describe()} */",
             f"    for (j = 0; j < {n}; j++) {{"]
        amin, amax = self.lit(a_fmt.min_int, sfx), self.lit(a_fmt.max_int, sfx)
        if sat:
            L.append(f"        {T} acc = B{g.name}[j];")
            L.append(f"        for (k = 0; k < {lp.n_in}; k++) {{")
            L.append(f"            {T} p = ({T})W{g.name}[j][k] * ({T}){src}[k];")
            L.append(f"            p = vq_clamp{sfx}({prod}, {amin}, {amax});")
            L.append(f"            acc = vq_clamp{sfx}(acc + p, {amin}, {amax});")
            L.append("        }")
        else:
            L.append(f"        {U} sum = ({U})B{g.name}[j];")
            L.append(f"        {T} acc;")
            L.append(f"        for (k = 0; k < {lp.n_in}; k++) {{")
            L.append(f"            {T} p = ({T})W{g.name}[j][k] * ({T}){src}[k];")
            L.append(f"            sum += ({U}){prod};  /* modulo 2^{64 if sfx == '64' else 128} */")
            L.append("        }")
            L.append(f"        acc = vq_wrap{sfx}(sum, {a_fmt.width}, {int(a_fmt.signed)});")
        d = a_fmt.frac_bits - o_fmt.frac_bits
        if d > 0:
            L.append(f"        {T} v = vq_shr{sfx}(acc, {d});  /* round to 2^-{o_fmt.frac_bits} */")
        elif d < 0:
            L.append(f"        {T} v = vq_shl{sfx}(acc, {-d});")
        else:
            L.append(f"        {T} v = acc;")
        act = lp.activation
        lut = g.lut
        if act is Activation.RELU:
            L.append("        if (v < 0) v = 0;")
        elif lut is not None and lut.index is not None:
            b = self.lit(lut.index.bound, sfx)
            L.append(f"        {{ /* hls4ml's {act.value} table {lut.table} */")
            L.append(f"            int64_t m = v < -{b} ? -{c_int_literal(lut.index.bound)} : v > {b} ? "
                     f"{c_int_literal(lut.index.bound)} : (int64_t)v;")
            L += hls4ml_index_lines(lut, "            ")
            v = f"({T}){shared_table_name(lp.index, 'T')}[i]"
            if lut.shift > 0:
                v = f"vq_shr{sfx}({v}, {lut.shift})"
            elif lut.shift < 0:
                v = f"vq_shl{sfx}({v}, {-lut.shift})"
            L.append(f"            v = {v};  /* the entry on the output grid 2^-{o_fmt.frac_bits} */")
            L.append("        }")
        elif lut is not None:
            L.append(f"        {{ /* ideal {act.value} table */")
            L.append(f"            {T} i = v - {self.lit(lut.lo, sfx)};")
            L.append(f"            if (i < 0) i = 0;")
            L.append(f"            if (i > {len(lut.values) - 1}) i = {len(lut.values) - 1};")
            if lut.compact:
                L.append(f"            v = ({T})TB{g.name}[(int)i >> 6] + {self._compact_steps(g.name, '(int)i')};")
            else:
                L.append(f"            v = T{g.name}[(int)i];")
            L.append("        }")
        if sat:
            L.append(f"        v = vq_clamp{sfx}(v, {self.lit(o_fmt.min_int, sfx)}, {self.lit(o_fmt.max_int, sfx)});  /* output format {o_fmt} */")
        else:
            L.append(f"        v = vq_wrap{sfx}(({U})v, {o_fmt.width}, {int(o_fmt.signed)});  /* output format {o_fmt} */")
        up = c_fmt.frac_bits - o_fmt.frac_bits
        val = "(int64_t)v" if up == 0 else f"(int64_t)vq_shl{sfx}(v, {up})"
        L.append(f"        {dst}[{idx}] = {val};")
        L.append("    }")
        return L

    def _quantize_input(self) -> list[str]:
        plan, top = self.plan, self.top
        fmts = plan.design.inputs
        if self.q_limbs:
            return self._quantize_input_wide()
        sat = self.overflow is Overflow.SATURATE
        L = [f"int64_t {top}_ref_quantize_input(int k, double v) {{",
             f"    static const int F[{plan.n_in}] = {{{', '.join(str(f.frac_bits) for f in fmts)}}};",
             f"    static const int W[{plan.n_in}] = {{{', '.join(str(f.width) for f in fmts)}}};",
             f"    static const int S[{plan.n_in}] = {{{', '.join(str(int(f.signed)) for f in fmts)}}};",
             "    double d;",
             "    int64_t m;",
             "    if (v != v) v = 0.0;  /* NaN */",
             "    d = floor(ldexp(v, F[k] + 1));  /* exact: v * 2^(F+1) rounded down */"]
        if sat:
            L += ["    {",
                  "        double lim = ldexp(1.0, W[k] + 1);",
                  "        if (d > lim) d = lim;",
                  "        if (d < -lim) d = -lim;",
                  "    }",
                  "    m = vq_shr64((int64_t)d, 1);",
                  "    {",
                  "        int64_t lo = S[k] ? -vq_shl64(1, W[k] - 1) : 0;",
                  "        int64_t hi = S[k] ? vq_shl64(1, W[k] - 1) - 1 : vq_shl64(1, W[k]) - 1;",
                  "        return vq_clamp64(m, lo, hi);",
                  "    }"]
        else:
            L += ["    if (d != d || d - d != 0) return 0;  /* infinite input: not representable */",
                  "    d = fmod(d, ldexp(1.0, W[k] + 1));  /* exact; keeps the value modulo 2^(W+1) */",
                  "    m = vq_shr64((int64_t)d, 1);",
                  "    return vq_wrap64((uint64_t)m, W[k], S[k]);"]
        L += ["}", ""]
        return L

    def _quantize_signature(self) -> str:
        top, xl = self.top, self.x_limbs
        if xl:
            return f"void {top}_ref_quantize_input(int k, double v, vq_limb m[{xl}])"
        return f"int64_t {top}_ref_quantize_input(int k, double v)"

    def header(self) -> str:
        plan, top = self.plan, self.top
        guard = f"VERIFQ_{top.upper()}_REF_H"
        fin = ", ".join(f"2^-{f.frac_bits}" if f.frac_bits >= 0 else f"2^{-f.frac_bits}" for f in plan.design.inputs[:8])
        fout = ", ".join(str(f.frac_bits) for f in plan.output_formats)
        return "\n".join([
            "/*", *(f" * {l}".rstrip() for l in plan.header_lines), " */",
            f"#ifndef {guard}", f"#define {guard}", "", "#include <stdint.h>", "",
            f"#define {top.upper()}_REF_N_IN {plan.n_in}",
            f"#define {top.upper()}_REF_N_OUT {plan.n_out}",
            "",
            *self._limb_api_lines(),
            "/* x: input mantissas, each at its input format's scale; y: output mantissas, output i at 2^-F_i",
            f" * with F = {{{fout}}}. Only the low W bits of each input mantissa are used (two's complement,",
            " * like the HLS testbench's bit copy into the input format). */",
            self._ref_signature() + ";",
            "",
            "/* the mantissa of real input k rounded into its format (rounding and overflow mode of the design),",
            f" * exactly like the HLS cast from double (input scales: {fin}{', ...' if plan.n_in > 8 else ''}) */",
            self._quantize_signature() + ";",
            "",
            f"#endif /* {guard} */",
            "",
        ])

    def _ref_signature(self) -> str:
        plan, top = self.plan, self.top
        x = f"const vq_limb x[{plan.n_in}][{self.x_limbs}]" if self.x_limbs else f"const int64_t x[{plan.n_in}]"
        y = f"vq_limb y[{plan.n_out}][{self.y_limbs}]" if self.y_limbs else f"int64_t y[{plan.n_out}]"
        return f"void {top}_ref({x}, {y})"

    def source(self) -> str:
        plan, top = self.plan, self.top
        L = ["/*", *(f" * {l}".rstrip() for l in plan.header_lines), " *",
             " * Portable C99 reference: integer mantissas and explicit shifts only.", " */",
             "#include <math.h>", "#include <stdint.h>", *(["#include <string.h>"] if self.need_wide else []),
             f'#include "{top}_ref.h"', "",
             "#if defined(__GNUC__)",
             "#define VQ_HELPER static __attribute__((unused))",
             "#else",
             "#define VQ_HELPER static",
             "#endif", ""]
        if self.need128:
            L += ["#ifndef __SIZEOF_INT128__",
                  "#error \"this network's accumulators need 128-bit integers (__int128, GCC/Clang)\"",
                  "#endif",
                  "__extension__ typedef __int128 vq_i128;",
                  "__extension__ typedef unsigned __int128 vq_u128;", ""]
        L += self._helpers("64")
        if self.need128:
            L += self._helpers("128")
        if self.need_wide:
            L += wide_library(self.rounding, self.max_limbs)
        if self.compact_tables:
            L += ["/* the number of set bits of x (compact lookup tables) */",
                  "VQ_HELPER int vq_popcount64(uint64_t x) {",
                  "    x = x - ((x >> 1) & UINT64_C(0x5555555555555555));",
                  "    x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));",
                  "    x = (x + (x >> 4)) & UINT64_C(0x0f0f0f0f0f0f0f0f);",
                  "    return (int)((x * UINT64_C(0x0101010101010101)) >> 56);",
                  "}", ""]
        L += self._constants()
        L += self._quantize_input()
        L.append(self._ref_signature() + " {")
        L.append("    int j, k;")
        for i, n in enumerate([plan.n_in] + [lp.n_out for lp in plan.layers]):
            hl = self.store_limbs[i]
            L.append(f"    vq_limb h{i}[{n}][{hl}];" if hl else f"    int64_t h{i}[{n}];")
        fc = plan.input_carrier.frac_bits
        fmts = plan.design.inputs
        if self.x_limbs or self.store_limbs[0]:
            L += self._inputs_wide()
        elif len(set(fmts)) == 1:
            L.append("    /* inputs: the low W bits of each mantissa (like the HLS bit copy), at the common scale 2^-%d */" % fc)
            f = fmts[0]
            L.append(f"    for (k = 0; k < {plan.n_in}; k++) h0[k] = vq_wrap64((uint64_t)x[k], {f.width}, {int(f.signed)});")
        else:
            L.append("    /* inputs: the low W bits of each mantissa (like the HLS bit copy), at the common scale 2^-%d */" % fc)
            for k, f in enumerate(fmts):
                d = fc - f.frac_bits
                v = f"vq_wrap64((uint64_t)x[{k}], {f.width}, {int(f.signed)})"
                L.append(f"    h0[{k}] = " + (f"vq_shl64({v}, {d});" if d else f"{v};"))
        src = "h0"
        for lp in plan.layers:
            dst = f"h{lp.index}"
            for g in lp.groups:
                L += self._group(lp, g, src, dst)
            src = dst
        fc = plan.result_carrier.frac_bits
        if self.y_limbs or self.store_limbs[len(plan.layers)]:
            L += self._outputs_wide(src)
        else:
            for j, f in enumerate(plan.output_formats):
                d = fc - f.frac_bits
                L.append(f"    y[{j}] = " + (f"vq_exact_shr64({src}[{j}], {d});" if d else f"{src}[{j}];"))
        L.append("}")
        L.append("")
        return "\n".join(L)

    def testbench(self) -> str:
        plan, top = self.plan, self.top
        xl, yl = self.x_limbs, self.y_limbs
        wide_io = bool(xl or yl)
        tok_size = max(512, 10 * max(xl, yl) + 16)
        if xl:
            read = [f"            if (!mantissa) {top}_ref_quantize_input(k, strtod(tok, 0), x[k]);",
                    f"            else if (!vq_w_from_dec(x[k], {xl}, tok)) {{",
                    "                fprintf(stderr, \"%s: '%s' is not an integer mantissa\\n\", files[0], tok);",
                    "                return 2;",
                    "            }"]
            call = f"        {top}_ref((const vq_limb (*)[{xl}])x, y);"
        else:
            read = [f"            x[k] = mantissa ? (int64_t)strtoll(tok, 0, 10) : {top}_ref_quantize_input(k, strtod(tok, 0));"]
            call = f"        {top}_ref(x, y);"
        if yl:
            show = [f"            vq_w_to_dec(y[j], {yl}, ys);",
                    f"            if (real_out) printf(\"%s%.17g\", j ? \" \" : \"\", ldexp(vq_w_to_double(y[j], {yl}), -OUT_F[j]));",
                    "            else printf(\"%s%s\", j ? \" \" : \"\", ys);",
                    "            if (check) {",
                    *compare_expected_lines("next_token(ex, tok, sizeof tok)", "tok", "ys", decimal=True)]
        else:
            show = ["            if (real_out) printf(\"%s%.17g\", j ? \" \" : \"\", ldexp((double)y[j], -OUT_F[j]));",
                    "            else printf(\"%s%lld\", j ? \" \" : \"\", (long long)y[j]);",
                    "            if (check) {",
                    *compare_expected_lines("next_token(ex, tok, sizeof tok)", "tok", "(long long)y[j]")]
        decls = [f"    {'vq_limb' if xl else 'int64_t'} x[{plan.n_in}]{f'[{xl}]' if xl else ''};",
                 f"    {'vq_limb' if yl else 'int64_t'} y[{plan.n_out}]{f'[{yl}]' if yl else ''};"]
        if not wide_io:
            decls = [f"    int64_t x[{plan.n_in}], y[{plan.n_out}];"]
        if yl:
            decls.append(f"    char ys[{10 * yl + 2}];")
        lib = []
        if wide_io:
            lib = ["#if defined(__GNUC__)", "#define VQ_HELPER static __attribute__((unused))", "#else",
                   "#define VQ_HELPER static", "#endif", "", *wide_library(self.rounding, max(xl, yl))]
        return "\n".join([
            "/*", *(f" * {l}".rstrip() for l in plan.header_lines), " *",
            " * Driver of the C reference, same interface as the HLS testbench:",
            " * usage: ref_tb [-m] [-r] [INPUTS [EXPECTED]]  (defaults: tb_inputs.txt, tb_expected.txt if present)",
            *([" * Mantissas wider than 64 bits are read and printed in decimal, whatever their width."] if wide_io else []),
            " */",
            "#include <math.h>", "#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>",
            f'#include "{top}_ref.h"', "",
            *lib,
            f"static const int OUT_F[{plan.n_out}] = {{{', '.join(str(f.frac_bits) for f in plan.output_formats)}}};",
            "",
            "/* next whitespace/comma separated token; '#' starts a comment; 0 at the end of the file */",
            "static int next_token(FILE* f, char* buf, size_t size) {",
            "    size_t n = 0;",
            "    int c;",
            "    while ((c = fgetc(f)) != EOF) {",
            "        if (c == '#') { while ((c = fgetc(f)) != EOF && c != '\\n') {} continue; }",
            "        if (c == ' ' || c == '\\t' || c == '\\n' || c == '\\r' || c == ',') { if (n) break; continue; }",
            "        if (n + 1 < size) buf[n++] = (char)c;",
            "    }",
            "    buf[n] = 0;",
            "    return n > 0;",
            "}",
            "",
            "int main(int argc, char** argv) {",
            "    int mantissa = 0, real_out = 0, nf = 0, a, k, j, check = 0, default_files;",
            "    const char* files[2] = {0, 0};",
            "    FILE* in;",
            "    FILE* ex = 0;",
            f"    char tok[{tok_size}];",
            *decls,
            "    long samples = 0, mismatches = 0;",
            "    for (a = 1; a < argc; a++) {",
            "        if (!strcmp(argv[a], \"-m\")) mantissa = 1;",
            "        else if (!strcmp(argv[a], \"-r\")) real_out = 1;",
            "        else if (nf < 2) files[nf++] = argv[a];",
            "    }",
            "    default_files = nf == 0;",
            "    if (default_files) { files[0] = \"tb_inputs.txt\"; files[1] = \"tb_expected.txt\"; }",
            "    in = fopen(files[0], \"r\");",
            "    if (!in) { fprintf(stderr, \"cannot open %s\\n\", files[0]); return 2; }",
            "    if (files[1]) {",
            "        ex = fopen(files[1], \"r\");",
            "        if (!ex && !default_files) { fprintf(stderr, \"cannot open %s\\n\", files[1]); return 2; }",
            "        check = ex != 0;",
            "    }",
            "    for (;;) {",
            f"        for (k = 0; k < {plan.n_in}; k++) {{",
            "            if (!next_token(in, tok, sizeof tok)) {",
            "                if (k) { fprintf(stderr, \"incomplete sample at the end of %s\\n\", files[0]); return 2; }",
            "                goto done;",
            "            }",
            *read,
            "        }",
            call,
            f"        for (j = 0; j < {plan.n_out}; j++) {{",
            *show,
            "    fclose(in);",
            "    if (check) {",
            "        fclose(ex);",
            "        fprintf(stderr, \"%ld samples, %ld output mismatches against %s\\n\", samples, mismatches, files[1]);",
            "        return mismatches ? 1 : 0;",
            "    }",
            "    return 0;",
            "}",
            "",
        ])


def generate_c_reference(plan: CodePlan) -> dict[str, str]:
    em = CEmitter(plan)
    top = plan.top
    return {f"{top}_ref.h": em.header(), f"{top}_ref.c": em.source(), f"{top}_ref_tb.c": em.testbench()}
