"""The C reference's multi-limb parts (see `c_reference.py`): the static bounds that choose
between int64_t, __int128 and multi-limb words per group of neurons, and the emission of groups,
constants, the input and output stages and the real-input quantization on limbs (`CWideParts`,
mixed into `CEmitter`). The arithmetic is `limbs.WIDE_LIBRARY`."""

from __future__ import annotations

from ..fixedpoint.format import FixedFormat, Overflow
from ..network.ir import Activation
from .emit import LayerPlan, NeuronGroup, c_int_literal, hls4ml_index_lines, shared_table_name, wrap_list
from .limbs import hex_limb, limb_count, limbs_of, signed_bits_of, fits_int64

SAFE64 = 62
SAFE128 = 126


def mag_bits(fmt: FixedFormat) -> int:
    """|mantissa| < 2^bits for every value of fmt."""
    return max(abs(fmt.min_int), abs(fmt.max_int)).bit_length()


def group_int_bits(lp: LayerPlan, g: NeuronGroup) -> int:
    """A static bound: every intermediate of the group fits a signed integer of this many bits."""
    ql = lp.ql
    wbits = max(abs(int(v)) for j in g.neurons for v in ql.weight_mant[j]).bit_length()
    xbits = mag_bits(lp.in_carrier)
    s = g.weight.frac_bits + lp.in_carrier.frac_bits - g.accum.frac_bits
    prod = wbits + xbits + max(0, -s)  # |product after alignment| < 2^prod
    need = max(prod, max(0, s)) + 1  # the rounding offset 2^(s-1) is added to the product
    acc = mag_bits(g.accum)
    need = max(need, acc + 2, prod + 2)  # saturating partial sums: |acc + p| < 2^acc + 2^prod
    up = max(0, g.output.frac_bits - g.accum.frac_bits)
    down = max(0, g.accum.frac_bits - g.output.frac_bits)
    need = max(need, acc + up + 2, down + 2)
    need = max(need, g.accum.width + 1, g.output.width + 1)
    return need


def wide_group_bits(lp: LayerPlan, g: NeuronGroup) -> int:
    """Bits of the multi-limb words of a group: the static bound, and every value the group holds
    (inputs, constants, accumulator, rounded sum, table entries, output, the layer's array)."""
    ql = lp.ql
    need = group_int_bits(lp, g)
    consts = [signed_bits_of(ql.weight_mant[j]) for j in g.neurons]
    consts.append(signed_bits_of(int(ql.bias_acc_mant[j]) for j in g.neurons))
    widths = [lp.in_carrier.width, lp.out_carrier.width, g.accum.width, g.pre.width, g.output.width]
    if g.lut is not None:
        widths.append(g.lut.entry.width)
    if g.lut is not None and g.lut.cast is not None:
        widths.append(g.lut.cast.width + max(0, -g.lut.shift))
    return max(need, max(consts) + 1, max(widths) + 2) + 2


class CWideParts:
    """Methods of `CEmitter` for values that do not fit 64 (or 126) bits."""

    def _limb_array(self, name: str, dims: list[int], rows: list[list[int]], note: str) -> list[str]:
        """A constant array of mantissas as limbs (two's complement, least significant limb first)."""
        n = limb_count(signed_bits_of(v for r in rows for v in r))
        self.const_limbs[name] = n
        shape = "".join(f"[{d}]" for d in dims)

        def item(v: int) -> str:
            return "{" + ", ".join(hex_limb(u) for u in limbs_of(v, n)) + "}"

        L = [f"/* {note}: {n} 32-bit limbs each (two's complement, least significant first) */",
             f"static const vq_limb {name}{shape}[{n}] = {{"]
        if len(dims) == 2:
            L.append(",\n".join("    {" + ", ".join(item(v) for v in r) + "}" for r in rows))
        else:
            L.append(wrap_list([item(v) for v in rows[0]], "    "))
        L.append("};")
        return L

    def _load(self, dst: str, n: int, array: str, index: str) -> str:
        """C statement: the n-limb word dst = the constant or stored value array[index]."""
        if array in self.const_limbs:
            return f"vq_w_load({dst}, {n}, {array}{index}, {self.const_limbs[array]});"
        return f"vq_w_set_i64({dst}, {n}, (int64_t){array}{index});"

    def _group_wide(self, lp: LayerPlan, g: NeuronGroup, src: str, dst: str) -> list[str]:
        """The group on n-limb words: the same steps as `_group`, exact by the size of n."""
        n = self.limbs[(lp.index, g.gid)]
        a_fmt, o_fmt, c_fmt = g.accum, g.output, lp.out_carrier
        s = g.weight.frac_bits + lp.in_carrier.frac_bits - a_fmt.frac_bits
        sat = self.overflow is Overflow.SATURATE
        in_l, out_l = self.store_limbs[lp.index - 1], self.store_limbs[lp.index]
        idx = "j" if g.contiguous and g.neurons[0] == 0 else (f"{g.neurons[0]} + j" if g.contiguous else f"N{g.name}[j]")
        aw = f"{a_fmt.width}, {int(a_fmt.signed)}"
        L = [f"    /* layer {lp.index} ({lp.activation.value}), {g.describe()} */",
             f"    /* on {n}-limb words ({32 * n}-bit two's complement): every value below is exact */",
             f"    for (j = 0; j < {len(g.neurons)}; j++) {{",
             f"        vq_limb acc[{n}], p[{n}], wk[{n}], xk[{n}];",
             "        " + self._load("acc", n, f"B{g.name}", "[j]"),
             f"        for (k = 0; k < {lp.n_in}; k++) {{",
             "            " + self._load("wk", n, f"W{g.name}", "[j][k]"),
             f"            vq_w_load(xk, {n}, {src}[k], {in_l});" if in_l else f"            vq_w_set_i64(xk, {n}, {src}[k]);",
             f"            vq_w_mul(p, wk, xk, {n});  /* the exact product */"]
        if s > 0:
            L.append(f"            vq_w_shr(p, {n}, {s});  /* rounded to the accumulator's 2^-{a_fmt.frac_bits} */")
        elif s < 0:
            L.append(f"            vq_w_shl(p, {n}, {-s});")
        if sat:
            L += [f"            vq_w_sat(p, {n}, {aw});",
                  f"            vq_w_add(acc, p, {n});",
                  f"            vq_w_sat(acc, {n}, {aw});"]
        else:
            L.append(f"            vq_w_add(acc, p, {n});  /* modulo 2^{32 * n} */")
        L.append("        }")
        if not sat:
            L.append(f"        vq_w_wrap(acc, {n}, {aw});  /* accumulator format {a_fmt} */")
        d = a_fmt.frac_bits - o_fmt.frac_bits
        if d > 0:
            L.append(f"        vq_w_shr(acc, {n}, {d});  /* round to 2^-{o_fmt.frac_bits} */")
        elif d < 0:
            L.append(f"        vq_w_shl(acc, {n}, {-d});")
        act = lp.activation
        if act is Activation.RELU:
            L.append(f"        if (vq_w_isneg(acc, {n})) vq_w_zero(acc, {n});")
        elif g.lut is not None and g.lut.index is not None:
            lut, b = g.lut, c_int_literal(g.lut.index.bound)
            L.append(f"        {{ /* hls4ml's {act.value} table {lut.table} */")
            L.append(f"            int64_t m = vq_w_fits(acc, {n}, 62) ? vq_w_to_i64(acc, {n}) : vq_w_isneg(acc, {n}) ? -{b} : {b};")
            L.append(f"            if (m < -{b}) m = -{b};")
            L.append(f"            if (m > {b}) m = {b};")
            L += hls4ml_index_lines(lut, "            ")
            L.append("            " + self._load("acc", n, shared_table_name(lp.index, "T"), "[i]"))
            if lut.shift > 0:
                L.append(f"            vq_w_shr(acc, {n}, {lut.shift});  /* the entry on the output grid */")
            elif lut.shift < 0:
                L.append(f"            vq_w_shl(acc, {n}, {-lut.shift});  /* the entry on the output grid */")
            L.append("        }")
        elif act in (Activation.TANH, Activation.SIGMOID):
            lut = g.lut
            assert lut is not None
            L.append(f"        {{ /* ideal {act.value} table */")
            if fits_int64(lut.lo, lut.lo):
                L.append("            long i;")
                L.append(f"            vq_w_set_i64(p, {n}, {c_int_literal(lut.lo)});")
            else:
                lo_l = limb_count(signed_bits_of([lut.lo]))
                L.append(f"            static const vq_limb lo[{lo_l}] = {{{', '.join(hex_limb(u) for u in limbs_of(lut.lo, lo_l))}}};"
                         f"  /* {lut.lo} */")
                L.append("            long i;")
                L.append(f"            vq_w_load(p, {n}, lo, {lo_l});")
            L.append(f"            vq_w_sub(acc, p, {n});")
            L.append(f"            i = vq_w_index(acc, {n}, {len(lut.values) - 1});")
            if lut.compact:
                L.append("            " + self._load("acc", n, f"TB{g.name}", "[i >> 6]"))
                L.append(f"            vq_w_set_i64(p, {n}, {self._compact_steps(g.name, 'i')});")
                L.append(f"            vq_w_add(acc, p, {n});")
            else:
                L.append("            " + self._load("acc", n, f"T{g.name}", "[i]"))
            L.append("        }")
        ow = f"{o_fmt.width}, {int(o_fmt.signed)}"
        L.append(f"        vq_w_{'sat' if sat else 'wrap'}(acc, {n}, {ow});  /* output format {o_fmt} */")
        up = c_fmt.frac_bits - o_fmt.frac_bits
        if up:
            L.append(f"        vq_w_shl(acc, {n}, {up});")
        if out_l:
            L.append(f"        vq_w_load({dst}[{idx}], {out_l}, acc, {n});")
        else:
            L.append(f"        {dst}[{idx}] = vq_w_to_i64(acc, {n});")
        L.append("    }")
        return L

    def _quantize_input_wide(self) -> list[str]:
        """Real input k rounded into its format on limbs: floor(v 2^(F+1)) is an integer-valued double
        (exact), converted exactly, then rounded by one bit and wrapped/saturated like the narrow path."""
        plan = self.plan
        fmts = plan.design.inputs
        n = self.q_limbs
        sat = self.overflow is Overflow.SATURATE
        L = [self._quantize_signature() + " {",
             f"    static const int F[{plan.n_in}] = {{{', '.join(str(f.frac_bits) for f in fmts)}}};",
             f"    static const int W[{plan.n_in}] = {{{', '.join(str(f.width) for f in fmts)}}};",
             f"    static const int S[{plan.n_in}] = {{{', '.join(str(int(f.signed)) for f in fmts)}}};",
             f"    vq_limb t[{n}];  /* holds floor(v 2^(F+1)) of every finite double v */",
             "    double d;",
             "    if (v != v) v = 0.0;  /* NaN */",
             "    d = floor(ldexp(v, F[k] + 1));  /* exact: v * 2^(F+1) rounded down */"]
        if sat:
            L.append(f"    if (d - d != 0) vq_w_mask(t, {n}, W[k] + 2, d < 0);  /* infinite: beyond the format, saturates */")
        else:
            L.append(f"    if (d - d != 0) vq_w_zero(t, {n});  /* infinite input: not representable, 0 */")
        L += [f"    else vq_w_from_double(t, {n}, d);",
              f"    vq_w_shr(t, {n}, 1);",
              f"    vq_w_{'sat' if sat else 'wrap'}(t, {n}, W[k], S[k]);"]
        L.append(f"    vq_w_load(m, {self.x_limbs}, t, {n});" if self.x_limbs else f"    return vq_w_to_i64(t, {n});")
        L += ["}", ""]
        return L

    def _limb_api_lines(self) -> list[str]:
        if not (self.x_limbs or self.y_limbs):
            return []
        top = self.top.upper()
        L = ["/* Inputs or outputs wider than 64 bits: mantissas are arrays of 32-bit limbs (two's complement,",
             " * least significant limb first). */",
             "#ifndef VQ_LIMB_DEFINED", "#define VQ_LIMB_DEFINED", "typedef uint32_t vq_limb;", "#endif"]
        if self.x_limbs:
            L.append(f"#define {top}_REF_X_LIMBS {self.x_limbs}")
        if self.y_limbs:
            L.append(f"#define {top}_REF_Y_LIMBS {self.y_limbs}")
        return L + [""]

    def _inputs_wide(self) -> list[str]:
        """h0 from x when some input or the input carrier is wider than 64 bits."""
        plan = self.plan
        fmts = plan.design.inputs
        fc = plan.input_carrier.frac_bits
        xl, hl = self.x_limbs, self.store_limbs[0]
        n = max(xl, hl, limb_count(max(f.width for f in fmts) + max(fc - f.frac_bits for f in fmts) + 2))
        L = ["    /* inputs: the low W bits of each mantissa (like the HLS bit copy), at the common scale 2^-%d */" % fc,
             "    {", f"        vq_limb t[{n}];"]

        def one(k: str, f: FixedFormat) -> list[str]:
            d = fc - f.frac_bits
            out = [f"vq_w_load(t, {n}, x[{k}], {xl});" if xl else f"vq_w_set_i64(t, {n}, x[{k}]);",
                   f"vq_w_wrap(t, {n}, {f.width}, {int(f.signed)});"]
            if d:
                out.append(f"vq_w_shl(t, {n}, {d});")
            out.append(f"vq_w_load(h0[{k}], {hl}, t, {n});" if hl else f"h0[{k}] = vq_w_to_i64(t, {n});")
            return out

        if len(set(fmts)) == 1:
            L.append(f"        for (k = 0; k < {plan.n_in}; k++) {{")
            L += ["            " + c for c in one("k", fmts[0])]
            L.append("        }")
        else:
            for k, f in enumerate(fmts):
                L.append("        " + " ".join(one(str(k), f)))
        L.append("    }")
        return L

    def _outputs_wide(self, src: str) -> list[str]:
        plan = self.plan
        fc = plan.result_carrier.frac_bits
        sl, yl = self.store_limbs[len(plan.layers)], self.y_limbs
        n = max(sl, yl, 2)
        L = ["    {", f"        vq_limb t[{n}];"]
        for j, f in enumerate(plan.output_formats):
            d = fc - f.frac_bits
            c = [f"vq_w_load(t, {n}, {src}[{j}], {sl});" if sl else f"vq_w_set_i64(t, {n}, {src}[{j}]);"]
            if d:
                c.append(f"vq_w_sar(t, {n}, {d});  /* exact */")
            c.append(f"vq_w_load(y[{j}], {yl}, t, {n});" if yl else f"y[{j}] = vq_w_to_i64(t, {n});")
            L.append("        " + " ".join(c))
        L.append("    }")
        return L

