"""Baselines and references computed by search over exact analyses.

* `uniform_search`: the smallest single format fixed<W, I> used for every
  stored value (inputs, weights, biases, accumulators, outputs) that the
  exact analysis proves -- the "one precision everywhere" baseline.
* `max_precision`: the most precise design the word-length limits allow at a
  given granularity (every fractional-bit count as large as the widths and
  the widened ranges permit). Its certified error is reported as the smallest
  achievable bound when a request is infeasible, and it is the fallback
  design when the MILP finds nothing.
* `reference`: the per-neuron `max_precision` design and its analysis,
  computed once per `Context` and kept in `ctx.reference`.
(The sound Aster-style per-layer scheme is an MILP configuration: see
`synthesize.py`, method "aster".)
"""

from __future__ import annotations

import math


from ..numeric import scaled
from ..analysis.prove import Analysis
from ..fixedpoint.design import Design, LayerFormats
from ..fixedpoint.format import FixedFormat, Rounding, quantize_exact, signed_bits, unsigned_bits
from ..network.ir import Activation
from .context import Context


def _ibits(mag: float) -> int:
    """Signed integer bits holding [-mag, mag] (strictly below 2^(I-1) on the top)."""
    if mag <= 0:
        return 1
    i = math.ceil(math.log2(mag)) + 1
    while 2.0 ** (i - 1) <= mag:
        i += 1
    return i


def uniform_int_bits(ctx: Context) -> int:
    """Integer bits every value needs on the real ranges (no error widening)."""
    mags = [float(max(abs(scaled.to_float(v)) for v in (*ctx.x_lo, *ctx.x_hi)))]
    for layer, r in zip(ctx.problem.network.layers, ctx.ranges):
        mags.append(max(abs(float(w)) for row in layer.weights for w in row))
        mags.append(max(abs(float(b)) for b in layer.bias))
        for arr in (r.pre_lo, r.pre_hi, r.post_lo, r.post_hi):
            mags.append(max(abs(scaled.to_float(v)) for v in arr))
    return _ibits(max(mags))


def uniform_search(ctx: Context) -> tuple[Design | None, Analysis | None, list[str]]:
    """Smallest W (then I) such that fixed<W, I> everywhere is proved. When none is, the
    analysis of the widest format without overflow is kept in `ctx.uniform_best`
    (its errors are the smallest bound a single format can certify)."""
    impl = ctx.problem.implementation
    cap = impl.accumulator_cap
    i0 = uniform_int_bits(ctx)
    widths = [w for w in range(1, cap + 1) if impl.allowed_widths is None or w in impl.allowed_widths]
    notes = []
    cache: dict[int, Analysis | None] = {}

    def check(w: int) -> Analysis | None:
        if w in cache:
            return cache[w]
        found = None
        for i in range(i0, i0 + 4):
            if i > w + 40:
                break
            a = ctx.analyse(ctx.problem.implementation.uniform_design(ctx.problem.network, FixedFormat(w, i)).with_tables(ctx.tables))
            if not any(v.kind != "error" for v in a.violations):
                best = ctx.uniform_best
                if best is None or max(a.output_errors) < max(best.output_errors):
                    ctx.uniform_best = a
            if a.proved:
                found = a
                break
            if not any(v.kind != "error" for v in a.violations):
                break  # only error violations: more integer bits would only make it worse
        cache[w] = found
        return found

    if not widths:
        return None, None, ["no allowed width fits the word-length limits"]
    # errors scale like 2^-F: one analysis at a moderate width predicts the width needed,
    # then the search steps from there (each step: a few exact analyses)
    eps = [float(b) for b in ctx.problem.max_error if b is not None]
    guess_idx = len(widths) - 1
    probe_w = next((w for w in widths if w >= i0 + 12), widths[-1])
    a0 = ctx.analyse(ctx.problem.implementation.uniform_design(ctx.problem.network, FixedFormat(probe_w, i0 + 1)).with_tables(ctx.tables))
    if eps and not any(v.kind != "error" for v in a0.violations):
        ratio = max(float(e) / b for e, b in zip(a0.output_errors, ctx.problem.max_error) if b is not None)
        if ratio > 0:
            want = probe_w + math.ceil(math.log2(ratio)) if ratio > 0 else probe_w
            guess_idx = min(range(len(widths)), key=lambda k: abs(widths[k] - want))
    k = guess_idx
    if check(widths[k]) is not None:
        while k > 0 and check(widths[k - 1]) is not None:
            k -= 1
    else:
        while k < len(widths) - 1 and check(widths[k]) is None:
            k += 1
        if check(widths[k]) is None:
            return None, None, [f"no single format up to {widths[-1]} bits is proved"]
    # the proof is not strictly monotone in W: look a little below
    best = k
    for j in range(k - 1, max(-1, k - 3), -1):
        if check(widths[j]) is not None:
            best = j
    a = cache[widths[best]]
    return a.design, a, notes


# ------------------------------------------------------------------------------------------------
def reference(ctx: Context, with_design: bool = False):
    """The analysis of the most precise per-neuron design the limits allow (computed once,
    kept in `ctx.reference`): the smallest certifiable bounds, and the analysis's backward-pass
    depths. With `with_design`: (design, analysis)."""
    if ctx.reference is None:
        ctx.reference = max_precision(ctx, "neuron")
    return ctx.reference if with_design else ctx.reference[1]


def max_precision(ctx: Context, granularity: str = "neuron", rounds: int = 16) -> tuple[Design, Analysis]:
    """The most precise design the limits allow (integer bits grown until no overflow)."""
    problem = ctx.problem
    impl = problem.implementation
    net = problem.network
    cap_w = impl.max_word
    cap_a = impl.accumulator_cap
    allowed = tuple(sorted(impl.allowed_widths)) if impl.allowed_widths else None
    top_w = max(allowed) if allowed else cap_w
    rnd = impl.rounding
    per_neuron = granularity == "neuron"

    def best_f(width_of, lo=-8, hi=160):
        """Largest F whose exact width fits (widths grow with F: binary search)."""
        def fits(f):
            w = impl.fit_width(width_of(f))
            return w is not None and w <= cap_w

        if not fits(lo):
            return lo
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(mid):
                lo = mid
            else:
                hi = mid - 1
        return lo

    # inputs
    if impl.inputs_fixed:
        inputs = [impl.input_format] * net.n_inputs
    else:
        lo_q = [scaled.to_fraction(v) for v in ctx.x_lo]
        hi_q = [scaled.to_fraction(v) for v in ctx.x_hi]
        signed_all = not all(v >= 0 for v in lo_q)

        def in_width(ks, f):
            w = 1
            for k in ks:
                a, b = quantize_exact(lo_q[k], f, rnd), quantize_exact(hi_q[k], f, rnd)
                sg = (lo_q[k] < 0) if per_neuron else signed_all
                w = max(w, signed_bits(a), signed_bits(b)) if sg else max(w, unsigned_bits(b))
            return w

        groups = [[k] for k in range(net.n_inputs)] if per_neuron else [list(range(net.n_inputs))]
        inputs = [None] * net.n_inputs
        for ks in groups:
            f = best_f(lambda f: in_width(ks, f))
            w = impl.fit_width(in_width(ks, f))
            sg = (lo_q[ks[0]] < 0) if per_neuron else signed_all
            for k in ks:
                inputs[k] = FixedFormat(w, w - f, sg)
    # integer bits of accumulators and outputs: start from the real ranges
    acc_i, out_i = [], []
    for layer, r in zip(net.layers, ctx.ranges):
        pre = [max(abs(scaled.to_float(a)), abs(scaled.to_float(b))) for a, b in zip(r.pre_lo, r.pre_hi)]
        post_hi = [scaled.to_float(b) for b in r.post_hi]
        post = [max(abs(scaled.to_float(a)), abs(scaled.to_float(b))) for a, b in zip(r.post_lo, r.post_hi)]
        acc_i.append([_ibits(m) for m in pre])
        if layer.activation is Activation.RELU:
            out_i.append([max(_ibits(m) - 1, -30) for m in post_hi])
        else:
            out_i.append([_ibits(m) for m in post])

    row_ext = [[(max(r), min(r)) for r in layer.weights] for layer in net.layers]

    def build() -> Design:
        layers = []
        for pos, layer in enumerate(net.layers):
            n = layer.n_out
            groups = [[j] for j in range(n)] if per_neuron else [list(range(n))]
            wf, bf, af, of = [None] * n, [None] * n, [None] * n, [None] * n
            signed_out = layer.activation is not Activation.RELU
            for js in groups:
                def w_width(f):
                    return max(max(signed_bits(quantize_exact(row_ext[pos][j][0], f, Rounding.NEAREST)),
                                   signed_bits(quantize_exact(row_ext[pos][j][1], f, Rounding.NEAREST))) for j in js)

                def b_width(f):
                    return max(signed_bits(quantize_exact(layer.bias[j], f, Rounding.NEAREST)) for j in js)

                fw = best_f(w_width)
                ww = impl.fit_width(w_width(fw))
                ia = max(acc_i[pos][j] for j in js)
                fa = cap_a - ia
                while fa > -8 and b_width(fa) > cap_w:
                    fa -= 1
                wb = max(1, b_width(fa))
                io = max(out_i[pos][j] for j in js)
                fo = min(fa, top_w - io)
                wo = impl.fit_width(max(1, fo + io)) or max(1, fo + io)
                for j in js:
                    wf[j] = FixedFormat(ww, ww - fw)
                    bf[j] = FixedFormat(wb, wb - fa)
                    af[j] = FixedFormat(max(1, fa + ia), max(1, fa + ia) - fa)
                    of[j] = FixedFormat(wo, wo - fo, signed_out)
            layers.append(LayerFormats(tuple(wf), tuple(bf), tuple(af), tuple(of), ctx.tables[pos] if ctx.tables else None))
        return Design(tuple(inputs), tuple(layers), impl.rounding, impl.overflow, impl.inputs_fixed)

    design = build()
    a = ctx.analyse(design)
    for _ in range(rounds):
        over = [v for v in a.violations if v.kind == "overflow" and v.role in ("accum", "output")]
        if not over:
            break
        bumped = set()
        for v in over:
            pos = v.layer - 1
            key = (pos, v.role, v.neuron if per_neuron else -1)
            if key in bumped:
                continue
            bumped.add(key)
            js = [v.neuron] if per_neuron else range(net.layers[pos].n_out)
            for j in js:
                if v.role == "accum":
                    acc_i[pos][j] += 1
                else:
                    out_i[pos][j] += 1
        design = build()
        a = ctx.analyse(design)
    return design, a
