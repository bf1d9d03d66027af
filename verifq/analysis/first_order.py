"""Error analysis by backward propagation of interval sensitivities
("first-order" form, exact for ReLU networks: no higher-order term exists).

Semantics (design.py). For layer l (real pre-activation z_l = W_l x_{l-1} + b_l,
quantized v~_l = round_out(acc~_l)), with D_l = y~_l - y_l the error of the
layer's stored outputs and D_0 the input quantization error:

  v~_l - z_l = W~_l D_{l-1} + Lpre_l,
  Lpre_l     = (W~_l - W_l) x_{l-1} + (b_eff_l - b_l) + product rounding + output rounding,
  D_l        = S_l (v~_l - z_l) + Lpost_l,

where W~ are the quantized weights (exact dyadics: no second-order term),
x_{l-1} the *real* inputs of the layer, and S_l a diagonal matrix whose entry
s_j is, for every input, some number in a known interval:
  * linear: 1;
  * ReLU: relu(a) - relu(b) = s (a - b) with s in [0, 1]; s = 1 when both
    z and v~ are provably >= 0 (pre_lo >= 0 and pre_lo + dpre_lo >= 0), s = 0
    when both are provably <= 0 (pre_hi <= 0 and pre_hi + dpre_hi <= 0);
  * tanh/sigmoid: mean value theorem, s = f'(xi), xi between z and v~, so s
    lies in the derivative bounds of f over the hull of the real range and the
    widened range (`symbolic.derivative_bounds`); Lpost_l is the lookup
    rounding (half an output ulp, round to nearest); 0 otherwise.
Each local term is bounded by a *signed* interval that does not depend on
any error: the weight term by the exact interval product of (W~ - W) with the
real input range, the bias term is an exact rational, truncation roundings
lie in [-r, 0] (nearest: [-r, r]).

Unrolling, for a row vector c (an output neuron, or a pre-activation of a
hidden layer):  c D_L = sum_l (c G^(l)) Lpre_l + ...  with interval matrices
G^(l) = S_L W~_L ... W~_{l+1} S_l. They are computed backwards as interval row
vectors R (exact interval arithmetic: R W~ as centre/radius c W~ +- r |W~|;
R S elementwise interval products), with outward rounding to 2^-P only:
  at layer l (going down):  acc += R (x) Lpost_l;  R := R (x) S_l;
                            acc += R (x) Lpre_l;   R := R W~_l
and at the input acc += R (x) D_0. Every value is an enclosure of the exact
set of possible coefficients, and sum_j [G_oj] [L_j] encloses c D for every
input because, input by input, the s_j and local terms are numbers inside
their intervals (interval arithmetic is inclusion-isotone).

Stopping early is also sound: at any level l, acc + R (x) D_l with D_l the
already certified (signed) error interval of layer l. The bound of each row
end is the best over all stopping levels ("depth"); the depth chosen per row
end is recorded in the hints. Depth 1 reproduces (and beats: signed
intervals, exact weight term) the simple l1 rule, so the result is never
looser than `errors.layer_errors` (checked neuron by neuron in the tests).

Checker rule ("first_order"): per layer, given the certified real ranges,
the certified signed error intervals of the previous layers (hints
`d_out_lo/hi`), the S intervals (re-derived from the certified pre range and
`d_pre_lo/hi` by the rules above) and the local intervals (re-derived from
the design), recompute the row bound at the recorded depth in exact
arithmetic and check that the claimed interval contains it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from ..fixedpoint.format import Overflow, Rounding, rounding_error_bound
from ..fixedpoint.quantize import QuantizedLayer, QuantizedNetwork
from ..network.ir import Activation
from ..numeric import scaled
from .intervals import LayerRanges
from ..numeric.scaled import PRECISION
from .roundoff import LayerErrors, quantized_output_range
from .smooth import derivative_bounds
from .table_error import table_bound

ONE = 1 << PRECISION
# backward passes for hidden layers cost about rows * n_l * n_{l-1} big-int
# multiply-adds per level; beyond this budget hidden layers use a shorter depth
DEFAULT_BUDGET = 4_000_000


# ----------------------------------------------------------------------------- interval helpers (scaled ints)


def _omin(a, b):
    return np.where(a < b, a, b)


def _omax(a, b):
    return np.where(a > b, a, b)


def imul_dot(r_lo, r_hi, d_lo, d_hi):
    """Row-wise sum_j [r_lo, r_hi]_ij * [d_lo, d_hi]_j, outward to 2^-P. (rows,)"""
    p1, p2 = r_lo * d_lo[None, :], r_lo * d_hi[None, :]
    p3, p4 = r_hi * d_lo[None, :], r_hi * d_hi[None, :]
    lo = _omin(_omin(p1, p2), _omin(p3, p4)).sum(axis=1)
    hi = _omax(_omax(p1, p2), _omax(p3, p4)).sum(axis=1)
    return scaled.shift_down(lo, PRECISION), scaled.shift_up(hi, PRECISION)


def imul_diag(r_lo, r_hi, s_lo, s_hi):
    """Elementwise [r] * [s] with s >= 0 (per column), outward to 2^-P."""
    a, b = r_lo * s_lo[None, :], r_lo * s_hi[None, :]
    c, d = r_hi * s_lo[None, :], r_hi * s_hi[None, :]
    lo = _omin(a, b)
    hi = _omax(c, d)
    return scaled.shift_down(lo, PRECISION), scaled.shift_up(hi, PRECISION)


# ----------------------------------------------------------------------------- per-layer data


@dataclass(frozen=True, eq=False)
class LocalTerms:
    """Signed local error intervals of one layer (scaled ints at 2^-P, per neuron)."""

    weight_lo: np.ndarray
    weight_hi: np.ndarray
    bias_lo: np.ndarray
    bias_hi: np.ndarray
    prod_lo: np.ndarray
    prod_hi: np.ndarray
    out_lo: np.ndarray  # rounding to the output grid
    out_hi: np.ndarray
    post_lo: np.ndarray  # lookup rounding after tanh/sigmoid
    post_hi: np.ndarray

    @property
    def acc_lo(self):
        return self.weight_lo + self.bias_lo + self.prod_lo

    @property
    def acc_hi(self):
        return self.weight_hi + self.bias_hi + self.prod_hi

    @property
    def pre_lo(self):
        return self.acc_lo + self.out_lo

    @property
    def pre_hi(self):
        return self.acc_hi + self.out_hi


def _round_interval(bound: Fraction, rounding: Rounding) -> tuple[int, int]:
    u = scaled.up(bound)
    return (-u, 0) if rounding is Rounding.TRUNCATE else (-u, u)


@dataclass(frozen=True, eq=False)
class _DesignTerms:
    """The parts of a layer's local errors that depend on the design only (cached)."""

    dw: np.ndarray  # (w~ - w) * den_j, object (n, n_in)
    den: np.ndarray  # per-row denominators (object)
    bias_lo: np.ndarray
    bias_hi: np.ndarray
    prod_lo: np.ndarray
    prod_hi: np.ndarray
    out_lo: np.ndarray
    out_hi: np.ndarray
    post_lo: np.ndarray
    post_hi: np.ndarray
    b_eff_abs: np.ndarray  # |b_eff| rounded up (saturation bound)
    w_int: np.ndarray  # W~ aligned to 2^-f_max
    w_abs: np.ndarray
    f_max: int
    weights_ref: object  # keeps the cache key's object alive


_TERMS_CACHE: dict = {}
_TERMS_CACHE_SIZE = 256


def _design_terms(ql: QuantizedLayer, in_frac: np.ndarray, rounding: Rounding) -> _DesignTerms:
    key = (id(ql.weights), id(ql.bias), ql.formats, rounding, tuple(int(v) for v in in_frac))
    hit = _TERMS_CACHE.get(key)
    if hit is not None and hit.weights_ref is ql.weights:
        return hit
    n = ql.n_out
    w = ql.weights
    fw = [int(v) for v in ql.weight_frac]
    fac_b = np.array([(1 << max(-f, 0)) * w.den for f in fw], dtype=object)[:, None]
    fac_a = np.array([1 << max(f, 0) for f in fw], dtype=object)[:, None]
    dw = ql.weight_mant * fac_b - w.num * fac_a  # (w~ - w) * D 2^a
    den = (w.den * fac_a[:, 0]).astype(object)
    bl, bh, pl, ph, ol, oh, sl, sh, babs = (scaled.zeros(n) for _ in range(9))
    smooth = ql.activation in (Activation.TANH, Activation.SIGMOID)
    fracs = sorted(set(int(v) for v in in_frac))
    nonzero = ql.weight_mant != 0
    counts = {fx: np.count_nonzero(nonzero & (in_frac == fx)[None, :], axis=1) for fx in fracs}
    for j in range(n):
        fa, fo = int(ql.accum_frac[j]), int(ql.output_frac[j])
        b_eff = Fraction(int(ql.bias_acc_mant[j])) * Fraction(2) ** (-fa)
        b_real = Fraction(int(ql.bias.num[j]), ql.bias.den)
        bl[j], bh[j] = scaled.down(b_eff - b_real), scaled.up(b_eff - b_real)
        babs[j] = scaled.up(abs(b_eff))
        prod = Fraction(0)
        for fx in fracs:
            cnt = int(counts[fx][j])
            if cnt:
                prod += cnt * rounding_error_bound(fw[j] + fx, fa, rounding)
        pl[j], ph[j] = _round_interval(prod, rounding)
        ol[j], oh[j] = _round_interval(rounding_error_bound(fa, fo, rounding), rounding)
        if smooth and ql.formats.table is None:  # the ideal table (a real table: `table_post_terms`)
            h = scaled.up(rounding_error_bound(None, fo, Rounding.NEAREST))
            sl[j], sh[j] = -h, h
    w_int, w_abs, f_max = aligned_weights(ql)
    terms = _DesignTerms(dw, den, bl, bh, pl, ph, ol, oh, sl, sh, babs, w_int, w_abs, f_max, ql.weights)
    if len(_TERMS_CACHE) >= _TERMS_CACHE_SIZE:
        _TERMS_CACHE.pop(next(iter(_TERMS_CACHE)))
    _TERMS_CACHE[key] = terms
    return terms


def local_terms(ql: QuantizedLayer, in_frac: np.ndarray, x_lo: np.ndarray, x_hi: np.ndarray, rounding: Rounding) -> LocalTerms:
    """Local error intervals of every neuron of `ql` (real layer input in [x_lo, x_hi])."""
    t = _design_terms(ql, in_frac, rounding)
    pos = np.where(t.dw > 0, t.dw, 0)
    neg = np.where(t.dw < 0, t.dw, 0)
    wl = (pos.dot(x_lo) + neg.dot(x_hi)) // t.den
    wh = -((-(pos.dot(x_hi) + neg.dot(x_lo))) // t.den)
    return LocalTerms(wl.astype(object), wh.astype(object), t.bias_lo, t.bias_hi, t.prod_lo, t.prod_hi,
                      t.out_lo, t.out_hi, t.post_lo, t.post_hi)


def saturation_bounds(ql: QuantizedLayer, in_frac: np.ndarray, xq_lo: np.ndarray, xq_hi: np.ndarray,
                      rounding: Rounding) -> np.ndarray:
    """S_j = |b_eff| + sum_k |w~_jk| max|x~_k| + product rounding: bounds every partial sum
    and rounded product (the `saturate_partial_sums` rule, as in errors.layer_errors)."""
    t = _design_terms(ql, in_frac, rounding)
    xq_abs = np.where(-xq_lo > xq_hi, -xq_lo, xq_hi)
    s = scaled.shift_up(t.w_abs.dot(xq_abs), t.f_max)
    return (t.b_eff_abs + s + (-t.prod_lo)).astype(object)


def table_post_terms(ql: QuantizedLayer, v_lo: np.ndarray, v_hi: np.ndarray, rounding: Rounding):
    """The signed table errors (output - f(v)) of a tanh/sigmoid layer for v in [v_lo, v_hi] (per neuron)."""
    bounds = [table_bound(ql.activation, ql.formats.table, int(f), rounding, int(a), int(b))
              for f, a, b in zip(ql.output_frac, v_lo, v_hi)]
    return scaled.obj([b.err_lo for b in bounds]), scaled.obj([b.err_hi for b in bounds])


def input_error_interval(qnet: QuantizedNetwork, err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed enclosure of x~ - x at the inputs."""
    if qnet.design.inputs_fixed:
        return scaled.zeros(len(err)), scaled.zeros(len(err))
    if qnet.design.rounding is Rounding.TRUNCATE:
        return -err, scaled.zeros(len(err))
    return -err, err.copy()


def slope_interval(act: Activation, pre_lo, pre_hi, d_lo, d_hi) -> tuple[np.ndarray, np.ndarray]:
    """[s_lo, s_hi] per neuron (scaled ints), from the real pre range and the
    signed error interval of the rounded pre-activation."""
    n = len(pre_lo)
    s_lo, s_hi = scaled.zeros(n), scaled.zeros(n)
    for j in range(n):
        z_lo, z_hi = int(pre_lo[j]), int(pre_hi[j])
        v_lo, v_hi = z_lo + int(d_lo[j]), z_hi + int(d_hi[j])
        if act is Activation.LINEAR:
            s_lo[j] = s_hi[j] = ONE
        elif act is Activation.RELU:
            if z_lo >= 0 and v_lo >= 0:
                s_lo[j] = s_hi[j] = ONE
            elif z_hi <= 0 and v_hi <= 0:
                pass
            else:
                s_hi[j] = ONE
        else:
            s_lo[j], s_hi[j] = derivative_bounds(act, min(z_lo, v_lo), max(z_hi, v_hi))
    return s_lo, s_hi


@dataclass(frozen=True, eq=False)
class ErrorLayer:
    """What the backward passes need of one analysed layer."""

    w_int: np.ndarray  # W~ aligned to 2^-f_max: (n, n_in) object ints
    w_abs: np.ndarray
    f_max: int
    local: LocalTerms
    s_lo: np.ndarray
    s_hi: np.ndarray
    d_out_lo: np.ndarray  # certified signed error interval of the stored outputs
    d_out_hi: np.ndarray


def aligned_weights(ql: QuantizedLayer) -> tuple[np.ndarray, np.ndarray, int]:
    f_max = int(ql.weight_frac.max())
    shifts = [f_max - int(f) for f in ql.weight_frac]
    w = np.empty(ql.weight_mant.shape, dtype=object)
    for j, s in enumerate(shifts):
        w[j, :] = [int(v) << s for v in ql.weight_mant[j]]
    return w, np.abs(w), f_max


def _times_w(r_lo, r_hi, el_w, el_abs, f_max):
    """[R] W~ by centre/radius, outward to 2^-P."""
    c2 = r_lo + r_hi
    r2 = r_hi - r_lo
    cw = c2.dot(el_w)
    rw = r2.dot(el_abs)
    return scaled.shift_down(cw - rw, f_max + 1), scaled.shift_up(cw + rw, f_max + 1)


# ----------------------------------------------------------------------------- backward pass


@dataclass(frozen=True, eq=False)
class RowBounds:
    lo: np.ndarray
    hi: np.ndarray
    depth_lo: np.ndarray  # level at which the best lower end stopped (0 = inputs)
    depth_hi: np.ndarray


def backward(r_lo: np.ndarray, r_hi: np.ndarray, below: list[ErrorLayer], d_in: tuple[np.ndarray, np.ndarray],
             max_depth: int | None = None, collect: list | None = None) -> RowBounds:
    """Bound rows [R] D_k where `below` are layers 1..k (D_k = the last one's
    output error) and d_in the input error interval.

    `collect`, when a list, receives per level (layer position, R before S,
    R after S) for the sensitivities.
    """
    rows = r_lo.shape[0]
    acc_lo, acc_hi = scaled.zeros(rows), scaled.zeros(rows)
    best_lo = np.array([None] * rows, dtype=object)
    best_hi = np.array([None] * rows, dtype=object)
    dep_lo = np.zeros(rows, dtype=np.int64)
    dep_hi = np.zeros(rows, dtype=np.int64)
    k = len(below)
    depth = 0
    while True:
        if k == 0:
            d_lo, d_hi = d_in
        else:
            d_lo, d_hi = below[k - 1].d_out_lo, below[k - 1].d_out_hi
        c_lo, c_hi = imul_dot(r_lo, r_hi, d_lo, d_hi)
        c_lo, c_hi = acc_lo + c_lo, acc_hi + c_hi
        for i in range(rows):
            if best_lo[i] is None or c_lo[i] > best_lo[i]:
                best_lo[i], dep_lo[i] = c_lo[i], k
            if best_hi[i] is None or c_hi[i] < best_hi[i]:
                best_hi[i], dep_hi[i] = c_hi[i], k
        depth += 1
        if k == 0 or (max_depth is not None and depth >= max_depth and collect is None):
            break
        el = below[k - 1]
        lt = el.local
        a_lo, a_hi = imul_dot(r_lo, r_hi, lt.post_lo, lt.post_hi)
        acc_lo, acc_hi = acc_lo + a_lo, acc_hi + a_hi
        rs_lo, rs_hi = imul_diag(r_lo, r_hi, el.s_lo, el.s_hi)
        if collect is not None:
            collect.append((k - 1, (r_lo, r_hi), (rs_lo, rs_hi)))
        a_lo, a_hi = imul_dot(rs_lo, rs_hi, lt.pre_lo, lt.pre_hi)
        acc_lo, acc_hi = acc_lo + a_lo, acc_hi + a_hi
        r_lo, r_hi = _times_w(rs_lo, rs_hi, el.w_int, el.w_abs, el.f_max)
        k -= 1
    if collect is not None:
        collect.append((-1, (r_lo, r_hi), None))
    return RowBounds(best_lo.astype(object), best_hi.astype(object), dep_lo, dep_hi)


def layer_rows(el_w: np.ndarray, f_max: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows W~_t of a layer as point intervals at 2^-P (exact when f_max <= P)."""
    return scaled.shift_down(el_w, f_max - PRECISION), scaled.shift_up(el_w, f_max - PRECISION)


def depth_for_budget(rows: int, below_sizes: list[tuple[int, int]], budget: int) -> int | None:
    """Largest backward depth whose multiply-add count fits the budget (None = full)."""
    cost = 0
    for d, (n_out, n_in) in enumerate(reversed(below_sizes), start=1):
        cost += 2 * rows * n_out * n_in
        if cost > budget:
            return max(1, d)
    return None


# ----------------------------------------------------------------------------- the whole network


@dataclass(frozen=True, eq=False)
class LayerErrorHints:
    """Signed error intervals and rule choices of one layer (scaled ints at 2^-P).

    d_acc / d_pre / d_out: certified enclosures of acc~ - z, round(acc~) - z
    and y~ - y (the LayerErrors err_* fields are their max magnitudes);
    s_lo / s_hi: the slope interval S of the layer; depth_lo / depth_hi: per
    neuron, the level where the backward pass for d_acc stopped (0 = inputs,
    k = layer k's certified d_out); method: per neuron the rule ("first_order").
    """

    d_acc_lo: np.ndarray
    d_acc_hi: np.ndarray
    d_pre_lo: np.ndarray
    d_pre_hi: np.ndarray
    d_out_lo: np.ndarray
    d_out_hi: np.ndarray
    s_lo: np.ndarray
    s_hi: np.ndarray
    depth_lo: np.ndarray
    depth_hi: np.ndarray
    method: tuple[str, ...]

    def to_json(self) -> dict:
        q = lambda a: [str(scaled.to_fraction(v)) for v in a]  # noqa: E731
        return {
            "error_rule": "first_order",
            "d_acc_lo": q(self.d_acc_lo), "d_acc_hi": q(self.d_acc_hi),
            "d_pre_lo": q(self.d_pre_lo), "d_pre_hi": q(self.d_pre_hi),
            "d_out_lo": q(self.d_out_lo), "d_out_hi": q(self.d_out_hi),
            "slope_lo": q(self.s_lo), "slope_hi": q(self.s_hi),
            "depth_lo": [int(v) for v in self.depth_lo], "depth_hi": [int(v) for v in self.depth_hi],
            "method": list(self.method),
        }


@dataclass(frozen=True, eq=False)
class ErrorResult:
    layers: list  # LayerErrors per layer
    hints: tuple[LayerErrorHints, ...]
    error_layers: tuple[ErrorLayer, ...]
    d_in: tuple[np.ndarray, np.ndarray]


def _mag(lo, hi):
    return _omax(-lo, hi)


def propagate_errors(qnet: QuantizedNetwork, ranges: list[LayerRanges], x_lo: np.ndarray, x_hi: np.ndarray,
                     inputs, budget: int = DEFAULT_BUDGET) -> ErrorResult:
    """Per-layer LayerErrors by the first-order rule (module docstring).

    (Never looser than the l1 rule of `errors.layer_errors`: the depth-1
    candidate already encloses it, with signed intervals and the exact
    weight term; the property tests check this neuron by neuron.)
    """
    design = qnet.design
    d_in = input_error_interval(qnet, inputs.err)
    xq_lo, xq_hi = inputs.q_lo, inputs.q_hi
    r_lo, r_hi = x_lo, x_hi
    below: list[ErrorLayer] = []
    out_layers, hints = [], []
    n_layers = len(qnet.layers)
    for pos, (ql, rng) in enumerate(zip(qnet.layers, ranges)):
        in_frac = qnet.frac_bits_into(pos)
        lt = local_terms(ql, in_frac, r_lo, r_hi, design.rounding)
        dt = _design_terms(ql, in_frac, design.rounding)
        w_int, w_abs, f_max = dt.w_int, dt.w_abs, dt.f_max
        R_lo, R_hi = layer_rows(w_int, f_max)
        sizes = [(el.w_int.shape[0], el.w_int.shape[1]) for el in below]
        max_depth = None if pos == n_layers - 1 else depth_for_budget(ql.n_out, sizes, budget)
        rb = backward(R_lo, R_hi, below, d_in, max_depth=max_depth)
        dacc_lo, dacc_hi = rb.lo + lt.acc_lo, rb.hi + lt.acc_hi
        dpre_lo, dpre_hi = dacc_lo + lt.out_lo, dacc_hi + lt.out_hi
        if ql.formats.table is not None:  # the table's own error over the rounded pre-activation's range
            lt = replace(lt, **dict(zip(("post_lo", "post_hi"), table_post_terms(
                ql, rng.pre_lo + dpre_lo, rng.pre_hi + dpre_hi, design.rounding))))
        s_lo, s_hi = slope_interval(ql.activation, rng.pre_lo, rng.pre_hi, dpre_lo, dpre_hi)
        o_lo, o_hi = imul_diag(dpre_lo[None, :], dpre_hi[None, :], s_lo, s_hi)
        dout_lo, dout_hi = o_lo[0] + lt.post_lo, o_hi[0] + lt.post_hi
        err_acc, err_pre, err_out = _mag(dacc_lo, dacc_hi), _mag(dpre_lo, dpre_hi), _mag(dout_lo, dout_hi)
        if design.overflow is Overflow.SATURATE:
            sat = saturation_bounds(ql, in_frac, xq_lo, xq_hi, design.rounding)
            acc_lo, acc_hi = -sat, sat.copy()
        else:
            acc_lo, acc_hi = rng.pre_lo + dacc_lo, rng.pre_hi + dacc_hi
        out_lo, out_hi = quantized_output_range(ql, rng.pre_lo + dpre_lo, rng.pre_hi + dpre_hi, design.rounding)
        worst = int(np.argmax([int(v) for v in err_out])) if ql.n_out else 0
        parts = {
            "propagated": max(-int(rb.lo[worst]), int(rb.hi[worst])),
            "weight quantization": max(-int(lt.weight_lo[worst]), int(lt.weight_hi[worst])),
            "bias quantization": max(-int(lt.bias_lo[worst]), int(lt.bias_hi[worst])),
            "product rounding": max(-int(lt.prod_lo[worst]), int(lt.prod_hi[worst])),
            "output rounding": max(-int(lt.out_lo[worst]), int(lt.out_hi[worst])),
            "activation": max(-int(lt.post_lo[worst]), int(lt.post_hi[worst])),
        }
        le = LayerErrors(err_acc.astype(object), err_pre.astype(object), err_out.astype(object),
                         acc_lo, acc_hi, out_lo, out_hi, parts)
        out_layers.append(le)
        hints.append(LayerErrorHints(dacc_lo, dacc_hi, dpre_lo, dpre_hi, dout_lo, dout_hi, s_lo, s_hi,
                                     rb.depth_lo, rb.depth_hi, ("first_order",) * ql.n_out))
        below.append(ErrorLayer(w_int, w_abs, f_max, lt, s_lo, s_hi, dout_lo, dout_hi))
        xq_lo, xq_hi = le.out_lo, le.out_hi
        r_lo, r_hi = rng.post_lo, rng.post_hi
    return ErrorResult(out_layers, tuple(hints), tuple(below), d_in)


# ----------------------------------------------------------------------------- sensitivities for synthesis


@dataclass(frozen=True, eq=False)
class Sensitivities:
    """Per-output sensitivities g of every local error source (scaled ints at 2^-P, upper bounds).

    For output o of the analysed network and every input of the domain,

      |y~_o - y_o| <= sum_pos sum_j pre[pos][o, j] * |Lpre_j|  +  post[pos][o, j] * |Lpost_j|
                      + sum_k inputs[o, k] * |x~_k - x_k|

    where Lpre_j is the local error of neuron j of layer pos+1 entering before its
    activation (weight quantization (w~ - w) x, bias error b_eff - b, product
    rounding, rounding to the output grid) and Lpost_j the lookup rounding after
    tanh/sigmoid. pre/post[pos] has shape (n_outputs, n_pos); inputs (n_outputs, n_in).
    g = max |G| over the interval matrices G = S_L W~_L ... S_l of the analysed
    design (S from its stability decisions, W~ its quantized weights).

    Validity for *other* designs (synthesis): exact for designs with the same
    weights W~ whose signed pre-activation error intervals lie inside the analysed
    design's (then every S interval is inside the analysed one and G encloses the
    new G). Analyse a design at least as coarse as the candidates (or re-analyse
    the answer, as the synthesis does) -- the MILP answer is re-verified exactly.
    """

    pre: tuple
    post: tuple
    inputs: np.ndarray

    def as_float(self) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """The same, as float64 rounded up (safe to use as MILP coefficients)."""
        f = lambda a: np.nextafter(scaled.to_float_array(a), np.inf)  # noqa: E731
        return [f(a) for a in self.pre], [f(a) for a in self.post], f(self.inputs)


def _mag_matrix(lo, hi):
    return _omax(-lo, hi)


def output_sensitivities(a) -> Sensitivities:
    """Sensitivities of every output to every local error source, from a finished
    `Analysis` (any methods; the first-order data is computed if the analysis did
    not keep it). See `Sensitivities` for the meaning and validity and
    `knapsack_terms` for the form sum_i g_i 2^-F_i <= eps.
    """
    er = a.error_result
    if er is None:
        er = propagate_errors(a.qnet, [la.ranges for la in a.layers], a.input_lo, a.input_hi, a.inputs)
    layers = list(er.error_layers)
    last = layers[-1]
    n_out = last.w_int.shape[0]
    r_lo, r_hi = layer_rows(last.w_int, last.f_max)
    s_lo, s_hi = last.s_lo[:, None], last.s_hi[:, None]
    r_lo, r_hi = (scaled.shift_down(_omin(r_lo * s_lo, r_lo * s_hi), PRECISION),
                  scaled.shift_up(_omax(r_hi * s_lo, r_hi * s_hi), PRECISION))
    pre = [None] * len(layers)
    post = [None] * len(layers)
    diag_s = np.zeros((n_out, n_out), dtype=object)
    eye = np.zeros((n_out, n_out), dtype=object)
    for o in range(n_out):
        diag_s[o, o] = max(-int(last.s_lo[o]), int(last.s_hi[o]))
        eye[o, o] = ONE
    pre[-1], post[-1] = diag_s, eye
    col: list = []
    backward(r_lo, r_hi, layers[:-1], er.d_in, collect=col)
    inputs = None
    for pos, (R_lo, R_hi), rs in col:
        if pos < 0:
            inputs = _mag_matrix(R_lo, R_hi)
        else:
            post[pos] = _mag_matrix(R_lo, R_hi)
            pre[pos] = _mag_matrix(*rs)
    if inputs is None:  # single-layer network: the rows themselves multiply the inputs
        inputs = _mag_matrix(r_lo, r_hi)
    return Sensitivities(tuple(pre), tuple(post), inputs)


def _lookup_units(analysis, la, ql) -> np.ndarray:
    """Per neuron, the lookup error in units of 2^-F_o: 1/2 for the ideal table; a table's own error
    (over the analysed rounded pre-activation range) otherwise."""
    if ql.formats.table is None:
        return np.full(ql.n_out, 0.5)
    lo, hi = la.ranges.pre_lo - la.errors.err_pre, la.ranges.pre_hi + la.errors.err_pre
    lo_e, hi_e = table_post_terms(ql, lo, hi, analysis.design.rounding)
    mag = [max(-int(a), int(b)) for a, b in zip(lo_e, hi_e)]
    return np.array([np.nextafter(scaled.to_float(m) * 2.0 ** int(f), np.inf) for m, f in zip(mag, ql.output_frac)])


def knapsack_terms(analysis, sens: Sensitivities | None = None) -> list[dict]:
    """Per output o: {role: coefficient array} with, for every design of the
    validity class of `Sensitivities`,

        |y~_o - y_o| <= sum over (role, position) of coef * 2^-F(role, position)

    roles and the F they multiply (float64 coefficients, rounded up):
      ("weight", pos)      -> F_w of neuron j of layer pos+1:  g_pre * sum_k max|x_k| / 2
      ("bias", pos)        -> F_b:  g_pre / 2
      ("bias_align", pos)  -> F_a:  g_pre * u   (only when F_b > F_a)
      ("product", pos)     -> F_a:  g_pre * nnz_j * u   (only when some F_w + F_x > F_a)
      ("output", pos)      -> F_o:  g_pre * u   (rounding acc -> output: <= u 2^-F_o)
      ("lookup", pos)      -> F_o:  g_post / 2 (ideal table), g_post * (table error) 2^F_o (a table)
      ("input", None)      -> F_in of input k:  g_in * u   (real inputs only)
    with u = 1 for truncation and 1/2 for round-to-nearest. Weights are always
    rounded to nearest (|w~ - w| <= 2^-(F_w+1)); max|x_k| is the real range of
    the layer's input k.
    """
    if sens is None:
        sens = output_sensitivities(analysis)
    pre, post, g_in = sens.as_float()
    u = 1.0 if analysis.design.rounding is Rounding.TRUNCATE else 0.5
    out = []
    x_abs_sums = []
    lo, hi = analysis.input_lo, analysis.input_hi
    for la in analysis.layers:
        x_abs = [max(abs(scaled.to_float(a)), abs(scaled.to_float(b))) for a, b in zip(lo, hi)]
        x_abs_sums.append(np.nextafter(float(np.sum(x_abs)) * (1 + 1e-12), np.inf))
        lo, hi = la.ranges.post_lo, la.ranges.post_hi
    up = lambda v: np.nextafter(v * (1 + 4e-16), np.inf)  # noqa: E731  (each product: one rounding)
    lookup_units = [_lookup_units(analysis, la, ql) for la, ql in zip(analysis.layers, analysis.qnet.layers)]
    for o in range(sens.inputs.shape[0]):
        terms: dict = {}
        for pos, (ql, g, gp) in enumerate(zip(analysis.qnet.layers, pre, post)):
            nnz = np.array([int(np.count_nonzero(ql.weight_mant[j])) for j in range(ql.n_out)], dtype=float)
            terms[("weight", pos)] = up(g[o] * x_abs_sums[pos] / 2)
            terms[("bias", pos)] = up(g[o] / 2)
            terms[("bias_align", pos)] = up(g[o] * u)
            terms[("product", pos)] = up(g[o] * nnz * u)
            terms[("output", pos)] = up(g[o] * u)
            if ql.activation in (Activation.TANH, Activation.SIGMOID):
                terms[("lookup", pos)] = up(gp[o] * lookup_units[pos])
        if not analysis.design.inputs_fixed:
            terms[("input", None)] = up(g_in[o] * u)
        out.append(terms)
    return out


__all__ = [
    "LocalTerms", "local_terms", "input_error_interval", "slope_interval", "ErrorLayer", "aligned_weights",
    "backward", "layer_rows", "Sensitivities", "output_sensitivities", "knapsack_terms", "propagate_errors", "ErrorResult", "LayerErrorHints", "RowBounds", "depth_for_budget", "imul_dot", "imul_diag",
]
