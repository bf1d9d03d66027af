"""A portable C99 reference of a quantized network: integer mantissas and
explicit shifts only, bit-exact with the HLS code and the Python simulator.

Every value is its integer mantissa k (value k * 2^-F). Per group of neurons
the generator picks 64-bit arithmetic, or `__int128` (a GCC/Clang extension,
guarded by #error) when a static bound shows a product, a shifted sum or an
accumulator needs more than 62 bits; beyond 126 bits it refuses.

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
"""

from __future__ import annotations

from ..errors import UserError
from ..fixedpoint.format import FixedFormat, Overflow, Rounding, handle_overflow
from ..network.ir import Activation
from .emit import CodePlan, LayerPlan, NeuronGroup, c_int_literal, c_int_type, compare_expected_lines, wrap_list

SAFE64 = 62
SAFE128 = 126


def _mag_bits(fmt: FixedFormat) -> int:
    """|mantissa| < 2^bits for every value of fmt."""
    return max(abs(fmt.min_int), abs(fmt.max_int)).bit_length()


def group_int_bits(lp: LayerPlan, g: NeuronGroup) -> int:
    """A static bound: every intermediate of the group fits a signed integer of this many bits."""
    ql = lp.ql
    wbits = max(abs(int(v)) for j in g.neurons for v in ql.weight_mant[j]).bit_length()
    xbits = _mag_bits(lp.in_carrier)
    s = g.weight.frac_bits + lp.in_carrier.frac_bits - g.accum.frac_bits
    prod = wbits + xbits + max(0, -s)  # |product after alignment| < 2^prod
    need = max(prod, max(0, s)) + 1  # the rounding offset 2^(s-1) is added to the product
    acc = _mag_bits(g.accum)
    need = max(need, acc + 2, prod + 2)  # saturating partial sums: |acc + p| < 2^acc + 2^prod
    up = max(0, g.output.frac_bits - g.accum.frac_bits)
    down = max(0, g.accum.frac_bits - g.output.frac_bits)
    need = max(need, acc + up + 2, down + 2)
    need = max(need, g.accum.width + 1, g.output.width + 1)
    return need


class CEmitter:
    def __init__(self, plan: CodePlan):
        self.plan = plan
        self.rounding = plan.design.rounding
        self.overflow = plan.design.overflow
        self.top = plan.top
        self.kinds: dict[tuple[int, int], str] = {}
        for lp in plan.layers:
            for g in lp.groups:
                need = group_int_bits(lp, g)
                if need <= SAFE64:
                    self.kinds[(lp.index, g.gid)] = "64"
                elif need <= SAFE128:
                    self.kinds[(lp.index, g.gid)] = "128"
                else:
                    raise UserError(
                        f"layer {lp.index} ({g.describe()}): the C reference would need {need}-bit integers; "
                        "it supports up to 126 (64-bit arithmetic, or __int128 beyond 62 bits)",
                        hint="use narrower accumulator or weight formats",
                    )
        self.need128 = "128" in self.kinds.values()

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
        L = []
        for lp in self.plan.layers:
            ql = lp.ql
            for g in lp.groups:
                rows = [[int(v) for v in ql.weight_mant[j]] for j in g.neurons]
                flat = [v for r in rows for v in r]
                wt = c_int_type(min(flat), max(flat))
                L.append(f"/* layer {lp.index}, {g.describe()} */")
                L.append(f"/* weight mantissas at 2^-{g.weight.frac_bits} */")
                L.append(f"static const {wt} W{g.name}[{len(g.neurons)}][{lp.n_in}] = {{")
                L.append(",\n".join("    {" + ", ".join(str(v) for v in r) + "}" for r in rows))
                L.append("};")
                bias = [int(handle_overflow(int(ql.bias_acc_mant[j]), g.accum, self.overflow)) for j in g.neurons]
                suffix = self.kinds[(lp.index, g.gid)]
                btype = "int64_t" if all(-(1 << 63) <= b < (1 << 63) for b in bias) else "vq_i128"
                L.append(f"/* bias mantissas at the accumulator's 2^-{g.accum.frac_bits} ({self.rounding.value}, {self.overflow.value}) */")
                if btype == "int64_t":
                    L.append(f"static const int64_t B{g.name}[{len(g.neurons)}] = {{")
                    L.append(wrap_list([c_int_literal(b) for b in bias], "    "))
                else:
                    L.append(f"static const vq_i128 B{g.name}[{len(g.neurons)}] = {{")
                    L.append(wrap_list([self.lit(b, "128") for b in bias], "    "))
                L.append("};")
                if not g.contiguous:
                    L.append(f"static const int N{g.name}[{len(g.neurons)}] = {{")
                    L.append(wrap_list([str(n) for n in g.neurons], "    "))
                    L.append("};")
                if g.lut is not None:
                    vals = list(g.lut.values)
                    lt = c_int_type(min(vals), max(vals))
                    L.append(f"/* {lp.activation.value}(v) rounded to nearest at 2^-{g.output.frac_bits}, v mantissa {g.lut.lo} + i */")
                    L.append(f"static const {lt} T{g.name}[{len(vals)}] = {{")
                    L.append(wrap_list([str(v) for v in vals], "    "))
                    L.append("};")
                del suffix
                L.append("")
        return L

    # ------------------------------------------------------------------ body
    def _group(self, lp: LayerPlan, g: NeuronGroup, src: str, dst: str) -> list[str]:
        sfx = self.kinds[(lp.index, g.gid)]
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
        if act is Activation.RELU:
            L.append("        if (v < 0) v = 0;")
        elif act in (Activation.TANH, Activation.SIGMOID):
            lut = g.lut
            assert lut is not None
            L.append(f"        {{ /* ideal {act.value} table */")
            L.append(f"            {T} i = v - {self.lit(lut.lo, sfx)};")
            L.append(f"            if (i < 0) i = 0;")
            L.append(f"            if (i > {len(lut.values) - 1}) i = {len(lut.values) - 1};")
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
        for k, f in enumerate(fmts):
            if f.width > 61 and not plan.design.inputs_fixed:
                raise UserError(f"input {k} has a {f.width}-bit format; the C reference quantizes real inputs "
                                "for formats of at most 61 bits", hint="use a narrower input format")
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
            "/* x: input mantissas, each at its input format's scale; y: output mantissas, output i at 2^-F_i",
            f" * with F = {{{fout}}}. Only the low W bits of each input mantissa are used (two's complement,",
            " * like the HLS testbench's bit copy into the input format). */",
            f"void {top}_ref(const int64_t x[{plan.n_in}], int64_t y[{plan.n_out}]);",
            "",
            "/* the mantissa of real input k rounded into its format (rounding and overflow mode of the design),",
            f" * exactly like the HLS cast from double (input scales: {fin}{', ...' if plan.n_in > 8 else ''}) */",
            f"int64_t {top}_ref_quantize_input(int k, double v);",
            "",
            f"#endif /* {guard} */",
            "",
        ])

    def source(self) -> str:
        plan, top = self.plan, self.top
        L = ["/*", *(f" * {l}".rstrip() for l in plan.header_lines), " *",
             " * Portable C99 reference: integer mantissas and explicit shifts only.", " */",
             "#include <math.h>", "#include <stdint.h>", f'#include "{top}_ref.h"', "",
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
        L += self._constants()
        L += self._quantize_input()
        L.append(f"void {top}_ref(const int64_t x[{plan.n_in}], int64_t y[{plan.n_out}]) {{")
        L.append("    int j, k;")
        L.append(f"    int64_t h0[{plan.n_in}];")
        for lp in plan.layers:
            L.append(f"    int64_t h{lp.index}[{lp.n_out}];")
        fc = plan.input_carrier.frac_bits
        L.append("    /* inputs: the low W bits of each mantissa (like the HLS bit copy), at the common scale 2^-%d */" % fc)
        fmts = plan.design.inputs
        if len(set(fmts)) == 1:
            f = fmts[0]
            L.append(f"    for (k = 0; k < {plan.n_in}; k++) h0[k] = vq_wrap64((uint64_t)x[k], {f.width}, {int(f.signed)});")
        else:
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
        for j, f in enumerate(plan.output_formats):
            d = fc - f.frac_bits
            L.append(f"    y[{j}] = " + (f"vq_exact_shr64({src}[{j}], {d});" if d else f"{src}[{j}];"))
        L.append("}")
        L.append("")
        return "\n".join(L)

    def testbench(self) -> str:
        plan, top = self.plan, self.top
        return "\n".join([
            "/*", *(f" * {l}".rstrip() for l in plan.header_lines), " *",
            " * Driver of the C reference, same interface as the HLS testbench:",
            " * usage: ref_tb [-m] [-r] [INPUTS [EXPECTED]]  (defaults: tb_inputs.txt, tb_expected.txt if present)",
            " */",
            "#include <math.h>", "#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>",
            f'#include "{top}_ref.h"', "",
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
            "    char tok[512];",
            f"    int64_t x[{plan.n_in}], y[{plan.n_out}];",
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
            f"            x[k] = mantissa ? (int64_t)strtoll(tok, 0, 10) : {top}_ref_quantize_input(k, strtod(tok, 0));",
            "        }",
            f"        {top}_ref(x, y);",
            f"        for (j = 0; j < {plan.n_out}; j++) {{",
            "            if (real_out) printf(\"%s%.17g\", j ? \" \" : \"\", ldexp((double)y[j], -OUT_F[j]));",
            "            else printf(\"%s%lld\", j ? \" \" : \"\", (long long)y[j]);",
            "            if (check) {",
            *compare_expected_lines("next_token(ex, tok, sizeof tok)", "tok", "(long long)y[j]"),
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
