"""HLS C++ (Vitis / Vivado HLS) for a quantized network, with `ap_fixed` types.

The arithmetic is the semantics of `verifq/fixedpoint/design.py`, mapped
onto `ap_fixed<W, I, Q, O>` as follows (Q = AP_TRN for truncation, AP_RND for
round-to-nearest with ties up; O = AP_WRAP or AP_SAT):

* weights and biases are constants of their own formats, written as exact
  decimal literals (every value is k * 2^-F with |k| < 2^53, so the double
  literal and its conversion are exact);
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
* the activation works on v: ReLU `v > 0 ? v : 0`, identity, or the ideal
  lookup table for tanh/sigmoid indexed by v's mantissa;
* `out_t o = a;` applies the output's overflow mode (same fractional bits,
  so no rounding); the value is then stored in the layer's array (its
  element type holds every neuron's format exactly).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..fixedpoint.format import FixedFormat, Overflow, Rounding
from ..network.ir import Activation
from .emit import CodePlan, LayerPlan, NeuronGroup, ap_mode_names, dyadic_literal, type_name, wrap_list


@dataclass(frozen=True)
class HlsOptions:
    pipeline_ii: int | None = None  # PIPELINE II=n inside every neuron loop
    pipeline_top: bool = False  # PIPELINE the whole top function (latency style; unrolls every loop)
    unroll: int | None = None  # UNROLL factor of the dot-product loops (0: complete)
    io: str = "memory"  # "memory" (ap_memory arrays) or "parallel" (arrays reshaped into wide ports)


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
            if lp.out_carrier not in {g.output for g in lp.groups}:
                add(lp.out_carrier, f"L{lp.index} output array")
        return roles

    def header(self) -> str:
        plan, top = self.plan, self.top
        guard = f"VERIFQ_{top.upper()}_H"
        lines = [_comment_block(plan.header_lines), f"#ifndef {guard}", f"#define {guard}", "", '#include "ap_fixed.h"', ""]
        lines.append(f"// One typedef per format; every type uses the proven modes {self.q} and {self.o}.")
        for fmt, roles in self._typedef_roles().items():
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
    def _constants(self) -> list[str]:
        out = []
        for lp in self.plan.layers:
            ql = lp.ql
            for g in lp.groups:
                fw = g.weight.frac_bits
                rows = []
                for j in g.neurons:
                    vals = [dyadic_literal(int(m), fw) for m in ql.weight_mant[j]]
                    rows.append("    {" + wrap_list(vals, "", 10**9) + "}")
                out.append(f"// layer {lp.index}, {g.describe()}")
                out.append(f"static const {self.t(g.weight)} w{g.name}[{len(g.neurons)}][{lp.n_in}] = {{")
                out.append(",\n".join(rows))
                out.append("};")
                fb = g.bias.frac_bits
                bias = [dyadic_literal(int(ql.bias_mant[j]), fb) for j in g.neurons]
                out.append(f"static const {self.t(g.bias)} b{g.name}[{len(g.neurons)}] = {{")
                out.append(wrap_list(bias, "    "))
                out.append("};")
                if not g.contiguous:
                    out.append(f"static const int n{g.name}[{len(g.neurons)}] = {{")
                    out.append(wrap_list([str(n) for n in g.neurons], "    "))
                    out.append("};")
                if g.lut is not None:
                    fo = g.output.frac_bits
                    vals = [dyadic_literal(v, fo) for v in g.lut.values]
                    out.append(
                        f"// {lp.activation.value}(v) rounded to nearest at 2^-{fo}, for v = (mantissa {g.lut.lo} + i) * 2^-{fo}"
                    )
                    out.append(f"static const {self.t(g.lut.entry)} t{g.name}[{len(vals)}] = {{")
                    out.append(wrap_list(vals, "    "))
                    out.append("};")
                out.append("")
        return out

    # ------------------------------------------------------------------ body
    def _group_code(self, lp: LayerPlan, g: NeuronGroup, src: str, dst: str, dst_is_output: bool) -> list[str]:
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
        L.append(f"        {acc_t} acc = b{g.name}[j];  // bias first (cast: {self.q}, {self.o})")
        L.append(f"        {g.name}_dot: for (int k = 0; k < {lp.n_in}; k++) {{")
        if self.opt.unroll is not None and not self.opt.pipeline_top and self.opt.pipeline_ii is None:
            L.append("#pragma HLS UNROLL" if self.opt.unroll == 0 else f"#pragma HLS UNROLL factor={self.opt.unroll}")
        L.append(f"            {acc_t} p = w{g.name}[j][k] * {src}[k];  // exact product, cast to the accumulator")
        L.append("            acc += p;")
        L.append("        }")
        L.append(f"        {pre_t} v = acc;  // rounded to the output's {g.output.frac_bits} fractional bits")
        act = lp.activation
        if act is Activation.RELU:
            L.append(f"        {pre_t} a = v > 0 ? v : {pre_t}(0);")
        elif act is Activation.LINEAR:
            L.append(f"        {pre_t} a = v;")
        else:
            lut = g.lut
            assert lut is not None
            w = g.pre.width
            it = "ap_int" if g.pre.signed else "ap_uint"
            L.append(f"        {it}<{w}> m = v.range({w - 1}, 0);  // mantissa of v")
            L.append(
                f"        int i = m < {lut.lo}LL ? 0 : m > {lut.hi}LL ? {len(lut.values) - 1} : (int)(m - {lut.lo}LL).to_int64();"
            )
            L.append(f"        {self.t(lut.entry)} a = t{g.name}[i];  // ideal {act.value} table")
        L.append(f"        {out_t} o = a;  // output format ({self.o})")
        L.append(f"        {dst}[{idx}] = o;")
        L.append("    }")
        return L

    def source(self) -> str:
        plan, top = self.plan, self.top
        L = [_comment_block(plan.header_lines), f'#include "{top}.h"', ""]
        L += self._constants()
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
                L.append(f"    x0[{k}] = ({self.t(f)}) x[{k}];")
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
                L += self._group_code(lp, g, src, dst, last)
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
        # one reader per distinct input format
        readers = {}
        for f in in_fmts:
            if f in readers:
                continue
            name = f"read_{self.t(f)[:-2]}"
            readers[f] = name
            it = "ap_int" if f.signed else "ap_uint"
            L += [f"static {top}_input_t {name}(const std::string& tok, bool mantissa) {{",
                  f"    {self.t(f)} v;",
                  f"    if (mantissa) {{ {it}<{f.width}> m = (long long)strtoll(tok.c_str(), 0, 10); v.range({f.width - 1}, 0) = m; }}",
                  "    else v = strtod(tok.c_str(), 0);  // rounding and overflow of the input format",
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
              f"        {top}(x, y);",
              f"        long long m[{plan.n_out}];"]
        for j, f in enumerate(out_fmts):
            it = "ap_int" if f.signed else "ap_uint"
            L.append(f"        {{ {self.t(f)} o = y[{j}]; {it}<{f.width}> r = o.range({f.width - 1}, 0); m[{j}] = (long long)r.to_int64(); }}")
        L += [f"        for (int j = 0; j < {plan.n_out}; j++) {{",
              "            if (real_out) printf(\"%s%.17g\", j ? \" \" : \"\", y[j].to_double());",
              "            else printf(\"%s%lld\", j ? \" \" : \"\", m[j]);",
              "            if (check) {",
              "                if (!next_token(exp_in, tok)) { fprintf(stderr, \"%s has fewer samples\\n\", files[1]); return 2; }",
              "                if (strtoll(tok.c_str(), 0, 10) != m[j]) {",
              "                    if (mismatches < 10) fprintf(stderr, \"sample %ld output %d: got %lld, expected %s\\n\", samples, j, m[j], tok.c_str());",
              "                    mismatches++;",
              "                }",
              "            }",
              "        }",
              "        printf(\"\\n\");",
              "        samples++;",
              "    }",
              "done:",
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
