"""The synthesis MILP: fractional bits as one-hot decisions, a knapsack per output.

Decisions. Every format group (the values sharing one format: per neuron or
per layer; for the sound Aster scheme one fractional-bit count per layer
shared by weights, bias, accumulator and output) has a fractional-bit
variable F with candidates {b}: binaries c_b, sum_b c_b = 1, so F = sum b c_b
and 2^-F = sum 2^-b c_b are linear -- and so is *any* function of F: the
exact weight-quantization error interval of each neuron, the exact width of
the rounded weights and biases, the integer bits a value needs, are
precomputed per candidate.

Error model: the first-order rule of `verifq.analysis.first_order`. The
error of output o is a sum over local error terms L_i (signed intervals)
weighted by interval sensitivities R_oi (backward products of the weight
matrices W and the slope intervals S of the activations: ReLU 1 when
provably active, 0 when provably inactive, [0, 1] otherwise; tanh/sigmoid
derivative bounds), so with one-hot F the upper and lower ends of
sum_i R_oi (x) L_i are linear:

  sum_i hi(R_oi (x) L_i(F_i)) <= eps_o   and   -sum_i lo(R_oi (x) L_i(F_i)) <= eps_o

-- two knapsack rows per output (g_i 2^-F_i-shaped: the sensitivities are
computed once). Local terms per neuron j: weight quantization
sum_k (w~_jk - w_jk) [x_lo, x_hi]_k (exact per candidate F_w), the bias
(stored at the accumulator's fractional bits: exact per candidate F_a),
product rounding [-nnz_j P, 0] (truncation; nearest: symmetric) with
P = 2^-F_a (nearest 2^-(F_a+1)); with the accumulator-free cost models,
where exact accumulation is worth having, P >= u(F_a) - u_max x with a binary
x that may only be 1 when F_a >= F_w + F_x for every input. Output rounding
[-u(F_o), 0] (F_a >= F_o is imposed w.l.o.g.; the exact 2^-F_o - 2^-F_a is
not used because its one-hot difference makes the LP relaxation useless),
the tanh/sigmoid lookup [-2^-(F_o+1), 2^-(F_o+1)], and the input rounding.

The sensitivities use the real weights W (first order in the weight
rounding; every weight candidate keeps >= WEIGHT_SIG_BITS significant bits of
its row's largest weight) and the slopes the real ranges prove. A ReLU the
slopes assume inactive / active becomes a target of its own ("stay
inactive": pre_hi + d_pre_hi <= 0; "stay active": pre_lo + d_pre_lo >= 0),
kept only when it costs at most STABLE_EXTRA_BITS more weight bits and
compressed to the neuron's own terms when its upstream part is small. For
deep networks the exact analysis stops its backward passes at intermediate
layers; the per-layer model can do the same ("checkpoints": each such layer's
certified error interval [-Q, P] becomes variables, R (x) [-Q, P] entering
the rows above exactly -- per neuron max(b P, -a Q) with an auxiliary column
-- or, for the checkpoint rows themselves, as the sum of both terms). The
model is an approximation of the exact analysis in both directions; the
caller decides with the exact analysis and repairs.

Integer bits come from the real ranges (design-independent) per candidate
F (the top of a format is 2^(I-1) - 2^-F); the widening by the errors is
checked by the exact analysis and repaired (one more integer bit where a
value overflows). Widths W = max(1, F + I) <= max word (accumulators:
max accumulator), operand widths in the allowed set -- candidates that do not
fit are removed.

Costs are linear in the one-hots (total bits, weight bits); multiplier area
and DSP count are bilinear (weight width x input width), linearised exactly
with y_gb >= S_g - S_max (1 - c_gb) (a binary times a bounded linear
expression; minimisation makes y = c S). A tiny total-bits term breaks ties.

Candidate sets: F is bounded below by necessity (a single term alone must fit
the bound) and above by negligibility (the term is below 2^-GAMMA of the
bound) and by the word-length caps. The model is a suggestion: the caller
re-analyses its answer exactly and repairs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..numeric import scaled
from ..fixedpoint.design import Design, LayerFormats
from ..fixedpoint.format import FixedFormat, Rounding, integer_bits, quantize_exact, signed_bits, unsigned_bits
from ..network.ir import Activation, Network
from ..problem import CostModel, Problem
from ..solvers import INF, LinearModel

F_FLOOR = -8
F_SCAN_HI = 80
GAMMA = 10  # a term below 2^-GAMMA of the bound is negligible
MARGIN = 1e-6  # relative safety margin on every bound in the model
STABLE_EXTRA_BITS = 2  # a stable ReLU may need at most this many more weight bits than the outputs do
WEIGHT_SIG_BITS = 4
CK_EXACT_MAX = True  # exact per-neuron max in the checkpoint terms of output / stability rows  # weight candidates keep at least this many significant bits of each row's largest weight


# ------------------------------------------------------------------------------------ helpers
def unit(b, rounding: Rounding):
    """Largest error of rounding a finer value to 2^-b, float (b may be an array)."""
    b = np.asarray(b, dtype=float)
    return np.exp2(-b - (1.0 if rounding is Rounding.NEAREST else 0.0))


def _replace_col(D, j: int, col):
    """CSC matrix D with column j replaced by the sparse column `col`."""
    import scipy.sparse as sp

    return sp.hstack([D[:, :j], sp.csc_matrix(col), D[:, j + 1:]], format="csc")


def interval_times(r_lo, r_hi, l_lo, l_hi):
    """Elementwise interval products [r] x [l] (broadcast); returns (lo, hi)."""
    p = np.stack(np.broadcast_arrays(r_lo * l_lo, r_lo * l_hi, r_hi * l_lo, r_hi * l_hi))
    return p.min(axis=0), p.max(axis=0)


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


@dataclass
class FVar:
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


@dataclass
class LayerData:
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
    s_lo: np.ndarray = None
    s_hi: np.ndarray = None
    wgroup: np.ndarray = None
    agroup: np.ndarray = None
    ogroup: np.ndarray = None
    # sensitivities (n_outputs, n_out): after the slope (for Lpre terms) and before (Lpost)
    Rp_lo: np.ndarray = None
    Rp_hi: np.ndarray = None
    Rq_lo: np.ndarray = None
    Rq_hi: np.ndarray = None
    wtab_lo: np.ndarray = None  # (n_out, scan) weight error interval per scan candidate
    wtab_hi: np.ndarray = None


def _fl(a) -> np.ndarray:
    return scaled.to_float_array(np.asarray(a, dtype=object))


class SynthesisModel:
    """Plan, build, decode and evaluate the MILP for one problem and configuration."""

    def __init__(self, problem: Problem, ranges, x_lo, x_hi, config: ModelConfig):
        self.problem = problem
        self.net: Network = problem.network
        self.cfg = config
        impl = problem.implementation
        self.impl = impl
        self.rounding = impl.rounding
        self.saturate = impl.overflow.value == "saturate"
        self.cap_word = impl.max_word
        self.cap_acc = impl.accumulator_cap
        self.allowed = tuple(sorted(impl.allowed_widths)) if impl.allowed_widths else None
        self.cap_operand = min(self.cap_word, max(self.allowed)) if self.allowed else self.cap_word
        self.inputs_fixed = impl.inputs_fixed
        if self.inputs_fixed and impl.input_format is None:
            raise ValueError("inputs arrive in a fixed format but the implementation gives none")
        self.eps = [None if e is None else float(e) for e in problem.max_error]
        req = [e for e in self.eps if e is not None]
        self.eps_ref = min(req) if req else 1.0
        self.outputs = [o for o, e in enumerate(self.eps) if e is not None]
        self.x_lo_q = [scaled.to_fraction(v) for v in x_lo]
        self.x_hi_q = [scaled.to_fraction(v) for v in x_hi]
        xl, xh = _fl(x_lo), _fl(x_hi)
        self.in_lo, self.in_hi = xl, xh
        self.layers: list[LayerData] = []
        for pos, (layer, rng) in enumerate(zip(self.net.layers, ranges)):
            rows = layer.weights
            w = layer.weight_float
            ld = LayerData(
                pos=pos, act=layer.activation, n_in=layer.n_in, n_out=layer.n_out, w=w, w_abs=np.abs(w),
                nnz=np.array([sum(1 for v in r if v != 0) for r in rows]),
                nz_mask=np.array([[v != 0 for v in r] for r in rows], dtype=bool),
                row_max=[max(r) for r in rows], row_min=[min(r) for r in rows],
                bias=list(layer.bias), bias_f=layer.bias_float.copy(), x_lo=xl, x_hi=xh,
                pre_lo=_fl(rng.pre_lo), pre_hi=_fl(rng.pre_hi), post_lo=_fl(rng.post_lo), post_hi=_fl(rng.post_hi),
                pre_lo_q=[scaled.to_fraction(v) for v in rng.pre_lo], pre_hi_q=[scaled.to_fraction(v) for v in rng.pre_hi],
                post_lo_q=[scaled.to_fraction(v) for v in rng.post_lo], post_hi_q=[scaled.to_fraction(v) for v in rng.post_hi],
            )
            self.layers.append(ld)
            xl, xh = ld.post_lo, ld.post_hi
        self.fvars: list[FVar] = []
        self.groups: list[Group] = []
        self.input_group: np.ndarray | None = None
        self.messages: list[str] = []
        self._bs = np.arange(F_FLOOR, F_SCAN_HI + 1)
        self._plan()

    # ================================================================== sensitivities
    def _slopes(self) -> None:
        from ..analysis.smooth import derivative_bounds

        for ld in self.layers:
            if self.cfg.slopes is not None:
                ld.s_lo, ld.s_hi = (np.asarray(a, dtype=float) for a in self.cfg.slopes[ld.pos])
                continue
            n = ld.n_out
            if ld.act is Activation.LINEAR:
                ld.s_lo, ld.s_hi = np.ones(n), np.ones(n)
            elif ld.act is Activation.RELU:
                act = ld.pre_lo > 0
                dead = ld.pre_hi < 0
                ld.s_lo = np.where(act, 1.0, 0.0)
                ld.s_hi = np.where(dead, 0.0, 1.0)
            else:
                # derivative bounds over the real range widened a little (errors are small)
                lo_, hi_ = [], []
                for j in range(n):
                    wid = 1e-3 * (1 + abs(ld.pre_hi[j] - ld.pre_lo[j]))
                    a, b = derivative_bounds(ld.act, scaled.down(Fraction(float(ld.pre_lo[j]) - wid)),
                                             scaled.up(Fraction(float(ld.pre_hi[j]) + wid)))
                    lo_.append(scaled.to_float(a))
                    hi_.append(scaled.to_float(b))
                ld.s_lo, ld.s_hi = np.array(lo_), np.array(hi_)

    def _targets(self) -> None:
        """Rows of the model: every output with a bound (both ends), and every ReLU the slope
        intervals assume stable -- inactive (S = 0: pre_hi + d_pre_hi <= 0) or active
        (S = 1: pre_lo + d_pre_lo >= 0) -- which the design must keep so."""
        self.targets = [("output", len(self.layers) - 1, o, "both", self.eps[o]) for o in self.outputs]
        if getattr(self, "_use_ckpt", False):
            for c in self.checkpoints:
                for j in range(self.layers[c - 1].n_out):
                    self.targets.append(("ckpt", c - 1, j, "both", None))
        for ld in self.layers:
            if ld.act is not Activation.RELU:
                continue
            for j in range(ld.n_out):
                if ld.s_hi[j] == 0.0:
                    self.targets.append(("inactive", ld.pos, j, "hi", float(-ld.pre_hi[j])))
                elif ld.s_lo[j] == 1.0 and ld.s_hi[j] == 1.0:
                    self.targets.append(("active", ld.pos, j, "lo", float(ld.pre_lo[j])))

    def _prescreen(self) -> None:
        """A ReLU is only assumed stable (S = 0 or 1) when its own weight error can stay well
        inside its margin with a reasonable number of fractional bits; otherwise S = [0, 1]."""
        bs = self._bs
        reach = bs <= self.cap_word + 16
        for ld in self.layers:
            if ld.act is not Activation.RELU:
                continue
            for j in range(ld.n_out):
                if ld.s_hi[j] == 0.0:
                    ok = (np.maximum(ld.wtab_hi[j], 0.0)[reach] <= 0.25 * -ld.pre_hi[j]).any()
                elif ld.s_lo[j] == 1.0:
                    ok = (np.maximum(-ld.wtab_lo[j], 0.0)[reach] <= 0.25 * ld.pre_lo[j]).any()
                else:
                    continue
                if not ok:
                    ld.s_lo[j], ld.s_hi[j] = 0.0, 1.0

    def _stop_level(self, pos: int) -> int:
        """The checkpoint level where the backward pass of a target at layer `pos` (0-based) stops."""
        if not getattr(self, "_use_ckpt", False):
            return 0
        return max([c for c in self.checkpoints if c <= pos] + [0])

    def _backward(self, dw: list[np.ndarray] | None) -> None:
        """Interval sensitivities R (rows = targets) of every target to every layer's local terms.
        A target's pass stops at its checkpoint level c > 0: the coefficients on the certified
        error interval [-Q, P] of layer c's outputs are kept in `self.ck_coef`."""
        n_t = len(self.targets)
        r_lo = np.zeros((n_t, self.layers[-1].n_out))
        start: dict[int, list] = {}
        stop: dict[int, list] = {}
        for t, (kind, pos, j, _, _) in enumerate(self.targets):
            if kind == "output":
                r_lo[t, j] = 1.0
            elif kind != "ckpt":
                start.setdefault(pos, []).append((t, j))
            c = self._stop_level(pos)
            if c > 0:
                stop.setdefault(c, []).append(t)
        r_hi = r_lo.copy()
        ck_start: dict[int, list] = {}
        for t, (kind, pos, j, _, _) in enumerate(self.targets):
            if kind == "ckpt":
                ck_start.setdefault(pos, []).append((t, j))
        self.ck_coef = {}
        for ld in reversed(self.layers):
            for t, j in ck_start.get(ld.pos, []):  # a checkpoint target is the layer's stored output error
                r_lo[t, :] = 0.0
                r_hi[t, :] = 0.0
                r_lo[t, j] = r_hi[t, j] = 1.0
            ld.Rq_lo, ld.Rq_hi = r_lo, r_hi  # before the slope: lookup rounding after tanh/sigmoid
            s_lo, s_hi = interval_times(r_lo, r_hi, ld.s_lo[None, :], ld.s_hi[None, :])
            for t, j in start.get(ld.pos, []):
                s_lo[t, j] += 1.0
                s_hi[t, j] += 1.0
            ld.Rp_lo, ld.Rp_hi = s_lo, s_hi
            c = (s_lo + s_hi) / 2
            rad = (s_hi - s_lo) / 2
            wp = getattr(ld, "w_prop", None)
            wp = ld.w if wp is None else wp
            cw = c @ wp
            rw = rad @ np.abs(wp)
            if dw is not None:
                rw = rw + (np.abs(c) + rad) @ dw[ld.pos]
            rw = rw * (1 + 1e-9) + np.abs(cw) * 1e-12
            r_lo, r_hi = cw - rw, cw + rw
            # level ld.pos: the outputs of the layer below
            for t in stop.get(ld.pos, []):
                self.ck_coef[t] = (ld.pos, r_lo[t].copy(), r_hi[t].copy())  # (level, a, b): R = [a, b]
                r_lo[t, :] = 0.0
                r_hi[t, :] = 0.0
        self.Rin_lo, self.Rin_hi = r_lo, r_hi

    @staticmethod
    def _mag(r_lo, r_hi):
        return np.maximum(np.abs(r_lo), np.abs(r_hi))

    def _sigma(self, R_lo, R_hi, all_rows: bool = False) -> np.ndarray:
        """Per column: max over the rows of |R| / bound (output rows only: necessity;
        all rows: the upper ends of the candidate sets)."""
        n = len(self.targets) if all_rows else len(self.outputs)
        if n == 0:
            return np.zeros(R_lo.shape[1])
        inv = np.array([0.0 if t[4] is None else 1.0 / max(t[4], 1e-300) for t in self.targets[:n]])
        return (self._mag(R_lo[:n], R_hi[:n]) * inv[:, None]).max(axis=0)

    @staticmethod
    def _lo_nec(bs, tau, sigma) -> int:
        if sigma <= 0:
            return int(bs[0])
        idx = np.nonzero(sigma * tau <= 1.0)[0]
        return int(bs[idx[0]]) if len(idx) else int(bs[-1])

    @staticmethod
    def _hi_up(bs, tau, sigma) -> int:
        if sigma <= 0:
            return int(bs[0])
        idx = np.nonzero(sigma * tau > 2.0**-GAMMA)[0]
        if not len(idx):
            return int(bs[0])
        return int(bs[min(idx[-1] + 1, len(bs) - 1)])

    # ================================================================== planning
    def _weight_tables(self) -> None:
        bs = self._bs
        for ld in self.layers:
            lo = np.empty((ld.n_out, len(bs)))
            hi = np.empty((ld.n_out, len(bs)))
            for t, b in enumerate(bs):
                d = np.floor(ld.w * 2.0 ** float(b) + 0.5) * 2.0 ** -float(b) - ld.w
                d = d + np.sign(d) * np.abs(ld.w) * 2.0**-50
                pos, neg = np.maximum(d, 0), np.minimum(d, 0)
                lo[:, t] = pos @ ld.x_lo + neg @ ld.x_hi
                hi[:, t] = pos @ ld.x_hi + neg @ ld.x_lo
            ld.wtab_lo, ld.wtab_hi = lo, hi

    def _plan(self) -> None:
        cfg = self.cfg
        rnd = self.rounding
        bs = self._bs
        wid = cfg.domain_widen
        self._slopes()
        self._weight_tables()
        self._prescreen()
        u_all = unit(bs, rnd)
        half = np.exp2(-bs - 1.0)
        for _ in range(3):
            self._targets()
            self._backward(None)
            lo_w, hi_w, lo_o, hi_o, hi_a, lo_stab, lo_unst = [], [], [], [], [], [], []
            for ld in self.layers:
                sp = self._sigma(ld.Rp_lo, ld.Rp_hi)
                su = self._sigma(ld.Rp_lo, ld.Rp_hi, True) * 1.25
                sq = self._sigma(ld.Rq_lo, ld.Rq_hi)
                squ = self._sigma(ld.Rq_lo, ld.Rq_hi, True) * 1.25
                tau_w = np.maximum(np.abs(ld.wtab_lo), np.abs(ld.wtab_hi))
                lo_w.append(np.array([self._lo_nec(bs, tau_w[j], sp[j]) for j in range(ld.n_out)]) - wid)
                # a ReLU assumed stable must stay so: its own weight error alone must fit its margin
                ls = np.full(ld.n_out, F_FLOOR)
                # what the weights would need for the outputs if the neuron were unstable (S = [0, 1])
                q_lo, q_hi = interval_times(ld.Rq_lo, ld.Rq_hi, 0.0, 1.0)
                su_ = self._sigma(q_lo, q_hi)
                lu = np.array([self._lo_nec(bs, tau_w[j], su_[j]) for j in range(ld.n_out)]) - wid
                lo_unst.append(lu)
                for j in range(ld.n_out):
                    if ld.act is Activation.RELU and ld.s_hi[j] == 0.0:
                        ls[j] = self._lo_nec(bs, np.maximum(ld.wtab_hi[j], 0.0), 1.0 / max(-ld.pre_hi[j], 1e-300))
                    elif ld.act is Activation.RELU and ld.s_lo[j] == 1.0:
                        ls[j] = self._lo_nec(bs, np.maximum(-ld.wtab_lo[j], 0.0), 1.0 / max(ld.pre_lo[j], 1e-300))
                lo_stab.append(ls - wid)
                hi_w.append(np.array([self._hi_up(bs, tau_w[j], su[j]) for j in range(ld.n_out)]) + wid)
                smooth = ld.act in (Activation.TANH, Activation.SIGMOID)
                so = np.maximum(sp, sq) if smooth else sp
                sou = np.maximum(su, squ) if smooth else su
                lo_o.append(np.array([self._lo_nec(bs, half, so[j]) for j in range(ld.n_out)]) - 1 - wid)
                hi_o.append(np.array([self._hi_up(bs, half, sou[j]) for j in range(ld.n_out)]) + wid)
                pr = u_all * max(1, int(ld.nnz.max()))
                hi_a.append(np.array([self._hi_up(bs, pr, su[j]) for j in range(ld.n_out)]) + wid)
            # keeping a neuron stable may not cost more than STABLE_EXTRA_BITS weight bits beyond
            # what the outputs need of its weight group; otherwise its slope becomes [0, 1]
            dropped = 0
            for ld in self.layers:
                if ld.act is not Activation.RELU:
                    continue
                grp = lo_w[ld.pos] if cfg.granularity == "neuron" else np.full(ld.n_out, lo_w[ld.pos].max())
                grp = np.maximum(grp, lo_unst[ld.pos])
                for j in range(ld.n_out):
                    stable = ld.s_hi[j] == 0.0 or ld.s_lo[j] == 1.0
                    if stable and lo_stab[ld.pos][j] > grp[j] + STABLE_EXTRA_BITS:
                        ld.s_lo[j], ld.s_hi[j] = 0.0, 1.0
                        dropped += 1
            if not dropped:
                break
        for p in range(len(self.layers)):
            lo_w[p] = np.maximum(lo_w[p], lo_stab[p])
        if not self.inputs_fixed:
            si = self._sigma(self.Rin_lo, self.Rin_hi)
            siu = self._sigma(self.Rin_lo, self.Rin_hi, True) * 1.25
            lin = np.array([self._lo_nec(bs, u_all, v) for v in si]) - wid
            hin = np.array([self._hi_up(bs, u_all, v) for v in siu]) + wid

        gran = cfg.granularity
        n_in = self.net.n_inputs

        seed = cfg.seed

        def seed_fracs(kind, p, mem):
            if seed is None:
                return []
            if kind == "input":
                return [seed.inputs[k].frac_bits for k in mem]
            fm = seed.layers[p]
            out = []
            for role in (("weight", "accum", "output") if kind == "tied" else (kind,)):
                out += [getattr(fm, role)[j].frac_bits for j in mem]
            return out

        def new_fvar(name, lo, hi, include=()):
            lo = int(min(max(F_FLOOR, lo), F_SCAN_HI))
            hi = int(min(F_SCAN_HI, max(hi, lo)))
            if include:
                lo, hi = min(lo, min(include)), max(hi, max(include))
            self.fvars.append(FVar(name, np.arange(lo, hi + 1)))
            return len(self.fvars) - 1

        if not self.inputs_fixed:
            self.input_group = np.zeros(n_in, dtype=np.int64)
            parts = [np.arange(n_in)] if gran != "neuron" else [np.array([k]) for k in range(n_in)]
            for mem in parts:
                fv = new_fvar("inputs" if len(mem) > 1 else f"input {mem[0]}", lin[mem].max(), hin[mem].max(),
                              seed_fracs("input", -1, mem))
                signed = not all(self.x_lo_q[k] >= 0 for k in mem)
                self.groups.append(Group("input", -1, mem, fv, signed=signed, count=len(mem)))
                self.input_group[mem] = len(self.groups) - 1
        for ld in self.layers:
            p = ld.pos
            ld.wgroup = np.zeros(ld.n_out, dtype=np.int64)
            ld.agroup = np.zeros(ld.n_out, dtype=np.int64)
            ld.ogroup = np.zeros(ld.n_out, dtype=np.int64)
            parts = [np.arange(ld.n_out)] if gran != "neuron" else [np.array([j]) for j in range(ld.n_out)]
            for mem in parts:
                tag = f"layer {p + 1}" + ("" if len(mem) > 1 else f" neuron {mem[0]}")
                if cfg.tied:
                    lo = max(lo_w[p][mem].max(), lo_o[p][mem].max() + 1)
                    hi = max(hi_w[p][mem].max(), hi_o[p][mem].max(), hi_a[p][mem].max())
                    fw = fa = fo = new_fvar(tag, lo, hi, seed_fracs("tied", p, mem))
                else:
                    alive = [j for j in mem if ld.s_hi[j] > 0]
                    wmax = float(np.abs(ld.w[alive]).max()) if alive else 0.0
                    sig_floor = (-math.floor(math.log2(wmax)) - 1 + WEIGHT_SIG_BITS) if wmax > 0 else F_FLOOR
                    lo_fw = max(lo_w[p][mem].max(), sig_floor)
                    if cfg.weight_floor is not None:
                        lo_fw = max(lo_fw, min(cfg.weight_floor.layers[p].weight[j].frac_bits for j in mem) - 1)
                    fw = new_fvar(f"{tag} weight", lo_fw, hi_w[p][mem].max(), seed_fracs("weight", p, mem))
                    fo = new_fvar(f"{tag} output", lo_o[p][mem].max(), hi_o[p][mem].max(), seed_fracs("output", p, mem))
                    fa = new_fvar(f"{tag} accum", lo_o[p][mem].max(), max(hi_a[p][mem].max(), hi_o[p][mem].max()),
                                  seed_fracs("accum", p, mem))
                signed_out = ld.act is not Activation.RELU
                for kind, fv, dest in (("weight", fw, ld.wgroup), ("accum", fa, ld.agroup), ("output", fo, ld.ogroup)):
                    cnt = len(mem) * (ld.n_in if kind == "weight" else 1)
                    self.groups.append(Group(kind, p, mem, fv, signed=(signed_out if kind == "output" else True), count=cnt))
                    dest[mem] = len(self.groups) - 1
        self._extend_accum()
        self._widths()
        # The sensitivities propagate through the quantized weights W~, not W. Without a reference
        # design the model uses W (first order in the weight rounding: the weight candidates keep
        # >= WEIGHT_SIG_BITS significant bits, the exact analysis decides and repairs); with one
        # (refinement) it uses the reference's W~ and widens the radius by the largest
        # |W~(F) - W~_ref| over the candidates.
        dw = None
        if cfg.weight_floor is not None:
            dw = []
            for ld in self.layers:
                ref_f = np.array([f.frac_bits for f in cfg.weight_floor.layers[ld.pos].weight], dtype=float)
                w_ref = np.floor(ld.w * np.exp2(ref_f)[:, None] + 0.5) * np.exp2(-ref_f)[:, None]
                d = np.zeros_like(ld.w)
                for gi in set(ld.wgroup.tolist()):
                    g = self.groups[gi]
                    for b in self.fvars[g.fvar].cands:
                        r = np.abs(np.floor(ld.w[g.members] * 2.0 ** float(b) + 0.5) * 2.0 ** -float(b) - w_ref[g.members])
                        d[g.members] = np.maximum(d[g.members], r)
                dw.append(d)
                ld.w_prop = w_ref
        self._dw = dw
        self.checkpoints = tuple(sorted(c for c in cfg.checkpoints if 1 <= c < len(self.layers)))
        self._use_ckpt = bool(self.checkpoints)
        self._targets()
        self._backward(dw)
        self._screen_targets()

    def _extend_accum(self) -> None:
        """Accumulator candidates up to exact accumulation when affordable; F_o <= top of F_a."""
        if self.cfg.tied:
            return
        done = set()
        for g in self.groups:
            if g.kind != "accum" or g.fvar in done:
                continue
            done.add(g.fvar)
            ld = self.layers[g.pos]
            fa = self.fvars[g.fvar]
            fw = self.fvars[self.groups[ld.wgroup[g.members[0]]].fvar]
            fo = self.fvars[self.groups[ld.ogroup[g.members[0]]].fvar]
            want = max(int(fa.cands[-1]), int(fo.cands[-1]))
            if self.cfg.exact_accumulation:
                want = max(want, int(fw.cands[-1]) + self._input_f_max(ld.pos))
            i_lo = min(integer_bits(ld.pre_lo_q[j], ld.pre_hi_q[j], 60) for j in g.members)
            top = self.cap_acc - i_lo
            lo = int(min(fa.cands[0], fo.cands[0]))
            hi = int(max(min(want, top), lo))
            fa.cands = np.arange(lo, min(hi, F_SCAN_HI + 40) + 1)
        for ld in self.layers:
            for j in range(ld.n_out):
                fo = self.fvars[self.groups[ld.ogroup[j]].fvar]
                top = self.fvars[self.groups[ld.agroup[j]].fvar].cands[-1]
                keep = fo.cands <= top
                fo.cands = fo.cands[keep] if keep.any() else np.array([top])

    def _input_frac_bounds(self, pos: int) -> tuple[int, int]:
        if pos == 0:
            if self.inputs_fixed:
                f = self.impl.input_format.frac_bits
                return f, f
            gs = set(self.input_group.tolist())
        else:
            gs = set(self.layers[pos - 1].ogroup.tolist())
        c = [self.fvars[self.groups[g].fvar].cands for g in gs]
        return min(int(x[0]) for x in c), max(int(x[-1]) for x in c)

    def _input_f_max(self, pos: int) -> int:
        return self._input_frac_bounds(pos)[1]

    # -------------------------------------------------------- exact widths per candidate
    def group_width(self, g: Group, f: int) -> tuple[int, int | None]:
        """(width, integer bits) of group g at fractional bits f (before allowed-width padding);
        for accum groups also sets nothing else (bias widths: `bias_width_at`)."""
        if g.kind == "input":
            w = 1
            for k in g.members:
                a = quantize_exact(self.x_lo_q[k], f, self.rounding)
                b = quantize_exact(self.x_hi_q[k], f, self.rounding)
                w = max(w, signed_bits(a), signed_bits(b)) if g.signed else max(w, unsigned_bits(b))
            return w, w - f
        if g.kind == "weight":
            ld = self.layers[g.pos]
            w = 1
            for j in g.members:
                w = max(w, signed_bits(quantize_exact(ld.row_max[j], f, Rounding.NEAREST)), signed_bits(quantize_exact(ld.row_min[j], f, Rounding.NEAREST)))
            return w, w - f
        ld = self.layers[g.pos]
        i = -10**9
        for j in g.members:
            i = max(i, self._value_int_bits(ld, j, g.kind, f))
        return max(1, f + i), i

    def _value_int_bits(self, ld: LayerData, j: int, kind: str, f: int) -> int:
        """Integer bits of a neuron's accumulator / output on its real range (zero error).
        A linear output layer is widened by its own error bound."""
        if kind == "accum":
            if self.saturate:
                s0 = abs(ld.bias[j]) + Fraction(float(ld.w_abs[j] @ np.maximum(np.abs(ld.x_lo), np.abs(ld.x_hi))))
                return integer_bits(-s0, s0, f)
            return integer_bits(ld.pre_lo_q[j], ld.pre_hi_q[j], f)
        widen = Fraction(0)
        if ld.pos == len(self.layers) - 1 and self.eps[j] is not None and ld.act is Activation.LINEAR:
            widen = Fraction(self.eps[j])
        if ld.act is Activation.RELU:
            return integer_bits(0, max(ld.pre_hi_q[j] + widen, Fraction(0)), f, signed=False)
        if ld.act is Activation.LINEAR:
            return integer_bits(ld.pre_lo_q[j] - widen, ld.pre_hi_q[j] + widen, f)
        h = Fraction(1, 2) * Fraction(2) ** (-f)
        return integer_bits(ld.post_lo_q[j] - h, ld.post_hi_q[j] + h, f)

    def bias_width_at(self, g: Group, f: int) -> int:
        ld = self.layers[g.pos]
        return max([1] + [signed_bits(quantize_exact(ld.bias[j], f, Rounding.NEAREST)) for j in g.members])

    def _widths(self) -> None:
        """Exact widths per candidate; drop candidates over the caps (shared variables: all must fit)."""
        keep: dict[int, np.ndarray] = {}
        for g in self.groups:
            fv = self.fvars[g.fvar]
            ws, ib = [], []
            for b in fv.cands:
                w, i = self.group_width(g, int(b))
                if g.kind in ("input", "weight", "output"):
                    w = self.impl.fit_width(w) or 10**6
                ws.append(w)
                ib.append(i)
            g.width = np.array(ws)
            g.ibits = np.array(ib)
            cap = self.cap_acc if g.kind == "accum" else self.cap_word
            ok = g.width <= cap
            if g.kind == "accum":
                g.bias_width = np.array([self.bias_width_at(g, int(b)) for b in fv.cands])
                ok &= g.bias_width <= self.cap_word
            keep[g.fvar] = keep.get(g.fvar, np.ones(len(fv.cands), dtype=bool)) & ok
        for fi, fv in enumerate(self.fvars):
            mask = keep[fi]
            if not mask.any():
                mask = np.zeros(len(fv.cands), dtype=bool)
                mask[0] = True
                self.messages.append(f"{fv.name}: no fractional-bit count fits the word-length limits")
                self.infeasible_groups = getattr(self, "infeasible_groups", []) + [fv.name]
            fv.cands = fv.cands[mask]
            for g in self.groups:
                if g.fvar == fi:
                    g.width, g.ibits = g.width[mask], g.ibits[mask]
                    if g.bias_width is not None:
                        g.bias_width = g.bias_width[mask]

    # ================================================================== building
    def _one_sided(self, R_lo, R_hi):
        """hi / lo-magnitude coefficients of R (x) [-m, 0] (truncation) or [-m, m] (nearest), per unit m."""
        if self.rounding is Rounding.TRUNCATE:
            return np.maximum(0.0, -R_lo), np.maximum(0.0, R_hi)
        mag = self._mag(R_lo, R_hi)
        return mag, mag

    def _knapsack_tables(self) -> None:
        """Coefficients of every target row: per variable a (targets, candidates) matrix for the
        upper end (H) and the lower end's magnitude (L), and the extra terms (product rounding
        when exactness is decided by a binary; output rounding under round-to-nearest)."""
        cfg = self.cfg
        rnd = self.rounding
        n_t = len(self.targets)
        H = {fi: np.zeros((n_t, len(fv.cands))) for fi, fv in enumerate(self.fvars)}
        Lm = {fi: np.zeros((n_t, len(fv.cands))) for fi, fv in enumerate(self.fvars)}
        extra = []  # [col (set by build), kind, key, ch, cl]
        self._H, self._L, self._extra = H, Lm, extra
        one_sided = self._one_sided
        if not self.inputs_fixed:
            for gi in sorted(set(self.input_group.tolist())):
                g = self.groups[gi]
                fv = self.fvars[g.fvar]
                ch, cl = one_sided(self.Rin_lo[:, g.members], self.Rin_hi[:, g.members])
                u = unit(fv.cands, rnd)
                H[g.fvar] += np.outer(ch.sum(axis=1), u)
                Lm[g.fvar] += np.outer(cl.sum(axis=1), u)
        bs0 = self._bs[0]
        self.exact_possible = {}
        for ld in self.layers:
            p = ld.pos
            for gi in sorted(set(ld.wgroup.tolist())):
                g = self.groups[gi]
                fv = self.fvars[g.fvar]
                idx = fv.cands - bs0
                for j in g.members:
                    lo, hi = interval_times(ld.Rp_lo[:, j][:, None], ld.Rp_hi[:, j][:, None],
                                            ld.wtab_lo[j, idx][None, :], ld.wtab_hi[j, idx][None, :])
                    H[g.fvar] += hi
                    Lm[g.fvar] += -lo
            for gi in sorted(set(ld.agroup.tolist())):
                g = self.groups[gi]
                fv = self.fvars[g.fvar]
                for j in g.members:
                    v = np.array([float(Fraction(quantize_exact(ld.bias[j], int(b), Rounding.NEAREST)) * Fraction(2) ** (-int(b)) - ld.bias[j])
                                  for b in fv.cands])
                    v = v + np.sign(v) * 1e-300
                    lo, hi = interval_times(ld.Rp_lo[:, j][:, None], ld.Rp_hi[:, j][:, None], v[None, :], v[None, :])
                    H[g.fvar] += hi
                    Lm[g.fvar] += -lo
            xlo, _ = self._input_frac_bounds(p)
            for gi in sorted(set(ld.agroup.tolist())):
                g = self.groups[gi]
                fa = self.fvars[g.fvar]
                fw = self.fvars[self.groups[ld.wgroup[g.members[0]]].fvar]
                mem = g.members
                ch, cl = one_sided(ld.Rp_lo[:, mem], ld.Rp_hi[:, mem])
                ch = (ch * ld.nnz[mem][None, :]).sum(axis=1)
                cl = (cl * ld.nnz[mem][None, :]).sum(axis=1)
                possible = cfg.exact_accumulation and not cfg.tied and fa.cands[-1] >= fw.cands[0] + xlo
                self.exact_possible[gi] = possible
                if not possible:
                    u = unit(fa.cands, rnd)
                    H[g.fvar] += np.outer(ch, u)
                    Lm[g.fvar] += np.outer(cl, u)
                else:
                    extra.append([None, "prod", gi, ch, cl])
            pairs = {}
            for j in range(ld.n_out):
                pairs.setdefault((int(ld.agroup[j]), int(ld.ogroup[j])), []).append(j)
            for (ga_i, go_i), js in pairs.items():
                fa = self.fvars[self.groups[ga_i].fvar]
                fo = self.fvars[self.groups[go_i].fvar]
                js = np.array(js)
                if ld.act in (Activation.TANH, Activation.SIGMOID):
                    mag = self._mag(ld.Rq_lo[:, js], ld.Rq_hi[:, js]).sum(axis=1)
                    h = np.exp2(-fo.cands.astype(float) - 1)
                    H[self.groups[go_i].fvar] += np.outer(mag, h)
                    Lm[self.groups[go_i].fvar] += np.outer(mag, h)
                if cfg.tied:
                    continue
                # output rounding: at most u(F_o) (2^-F_o - 2^-F_a under truncation, 2^-(F_o+1) under
                # nearest, 0 when F_a = F_o): bounded by u(F_o), which keeps the LP relaxation honest
                ch, cl = one_sided(ld.Rp_lo[:, js], ld.Rp_hi[:, js])
                ch, cl = ch.sum(axis=1), cl.sum(axis=1)
                u_o = unit(fo.cands, rnd)
                H[self.groups[go_i].fvar] += np.outer(ch, u_o)
                Lm[self.groups[go_i].fvar] += np.outer(cl, u_o)

    def _screen_targets(self) -> None:
        """Drop stability assumptions that even the most precise candidates cannot keep
        (their slope becomes [0, 1]); recompute the sensitivities until none is dropped."""
        for _ in range(6):
            self._knapsack_tables()
            top = {"F": [int(fv.cands[-1]) for fv in self.fvars], "I": {}, "X": {}}
            _, state = self.evaluate(top)
            hi, lo = self.resolve(state)
            drop = []
            for t, (kind, pos, j, side, bound) in enumerate(self.targets):
                if kind in ("output", "ckpt"):
                    continue
                val = hi[t] if side == "hi" else lo[t]
                if not (val <= 0.25 * bound) or bound <= 0:
                    drop.append((pos, j))
            if not drop:
                return
            for pos, j in drop:
                ld = self.layers[pos]
                ld.s_lo[j], ld.s_hi[j] = 0.0, 1.0
            self.dropped_stability = getattr(self, "dropped_stability", 0) + len(drop)
            self._targets()
            self._backward(self._dw)

    def build(self) -> LinearModel:
        m = LinearModel()
        self.m = m
        cfg = self.cfg
        rnd = self.rounding
        for fv in self.fvars:
            fv.cols = m.add_binaries(len(fv.cands))
            m.add_row(fv.cols, 1.0, 1.0, 1.0)
        self.x_cols = {}
        self.exact_flags = {}
        self.p_cols = {}
        for ld in self.layers:
            p = ld.pos
            xlo, xhi = self._input_frac_bounds(p)
            if any(self.exact_possible.get(int(gi)) for gi in set(ld.agroup.tolist())):
                if p == 0 and self.inputs_fixed:
                    x_col = m.add_col(xlo, xlo)
                else:
                    x_col = m.add_col(-INF, INF)
                    gs = set(self.input_group.tolist()) if p == 0 else set(self.layers[p - 1].ogroup.tolist())
                    for g2 in sorted(gs):
                        fv = self.fvars[self.groups[g2].fvar]
                        m.add_row(np.concatenate([[x_col], fv.cols]), np.concatenate([[1.0], -fv.cands.astype(float)]), 0.0, INF)
                self.x_cols[p] = x_col
            if cfg.tied:
                continue
            done = set()
            for j in range(ld.n_out):
                key = (int(ld.agroup[j]), int(ld.ogroup[j]))
                if key in done:
                    continue
                done.add(key)
                fa = self.fvars[self.groups[key[0]].fvar]
                fo = self.fvars[self.groups[key[1]].fvar]
                m.add_row(np.concatenate([fa.cols, fo.cols]), np.concatenate([fa.cands.astype(float), -fo.cands.astype(float)]), 0.0, INF)
        for e in self._extra:
            kind, key = e[1], e[2]
            if kind == "prod":
                g = self.groups[key]
                ld = self.layers[g.pos]
                fa = self.fvars[g.fvar]
                fw = self.fvars[self.groups[ld.wgroup[g.members[0]]].fvar]
                x_col = self.x_cols[g.pos]
                _, xhi = self._input_frac_bounds(g.pos)
                xf = int(m.add_binaries(1)[0])
                M = float(fw.cands[-1] + xhi - fa.cands[0])
                # x = 1 => F_a >= F_w + X
                m.add_row(np.concatenate([fa.cols, fw.cols, [x_col, xf]]),
                          np.concatenate([fa.cands.astype(float), -fw.cands.astype(float), [-1.0, -M]]), -M, INF)
                pc = m.add_col(0.0, INF)
                u = unit(fa.cands, rnd)
                umax = float(u.max())
                m.add_row(np.concatenate([[pc], fa.cols, [xf]]), np.concatenate([[1.0], -u, [umax]]), 0.0, INF)  # P >= u(F_a) - umax x
                self.exact_flags[key] = xf
                self.p_cols[key] = pc
                e[0] = pc
        self._emit_rows([e[0] for e in self._extra], [e[3] for e in self._extra], [e[4] for e in self._extra])
        self._objective()
        return m

    def _own_fvars(self, pos: int, j: int) -> set[int]:
        ld = self.layers[pos]
        return {self.groups[ld.wgroup[j]].fvar, self.groups[ld.agroup[j]].fvar, self.groups[ld.ogroup[j]].fvar}

    def _emit_rows(self, extra_cols, extra_h, extra_l) -> None:
        """Knapsack rows. A stability row (a ReLU kept inactive / active) whose upstream part is
        at most half its bound even at the smallest candidates keeps only the neuron's own
        terms, the upstream part replaced by that worst case (sound, and sparse)."""
        m = self.m
        H, Lm = self._H, self._L
        extra_cols = np.array(extra_cols, dtype=np.int64)
        EH = np.array(extra_h).reshape(len(extra_cols), -1) if len(extra_cols) else np.zeros((0, len(self.targets)))
        EL = np.array(extra_l).reshape(len(extra_cols), -1) if len(extra_cols) else np.zeros((0, len(self.targets)))
        extra_max = np.array([self._extra_max(e) for e in self._extra]) if self._extra else np.zeros(0)
        extra_own = [None] * len(self._extra)
        for k, e in enumerate(self._extra):
            extra_own[k] = self._extra_fvar(e)
        self.row_ids = {}
        self.row_info = []
        er = self.eps_ref
        # checkpoint variables: the certified error interval [-Q, P] of each checkpoint neuron (units eps_ref)
        self.ck_cols = {}
        ck_max = {}
        if self.ck_coef:
            self._flat_tables()
            worst = {"F": [int(fv.cands[0]) for fv in self.fvars], "I": {}, "X": {}}
            _, st = self.evaluate(worst)
            _, _, ck_max = self.resolve(st, with_ck=True)
            for c, ts in self._ck_levels.items():
                P = m.add_cols(len(ts), 0.0, INF)
                Q = m.add_cols(len(ts), 0.0, INF)
                self.ck_cols[c] = (P, Q)
        ck_row = {}
        for c, ts in getattr(self, "_ck_levels", {}).items():
            if c in self.ck_cols:
                for k, t in enumerate(ts):
                    ck_row[int(t)] = (c, k)

        def coupling(t, side):
            """(cols, coefficients per unit of eps_ref) of target t's checkpoint terms: per neuron
            max(b P, -a Q) (hi) / max(-a P, b Q) (lo). A linear term unless R = [a, b] straddles
            0; then, for output and stability rows, an auxiliary column above both; for the
            (many) rows of checkpoint neurons, the sum of both (at most twice the maximum)."""
            if t not in self.ck_coef:
                return np.zeros(0, dtype=np.int64), np.zeros(0)
            lvl, a, b = self.ck_coef[t]
            P, Q = self.ck_cols[lvl]
            cP, cQ = (b, -a) if side == "hi" else (-a, b)  # term = max(cP P, cQ Q)
            cols, vals = [], []
            if self.targets[t][0] == "ckpt" or not CK_EXACT_MAX:
                mP, mQ = cP > 0, cQ > 0
                return (np.concatenate([P[mP], Q[mQ]]).astype(np.int64),
                        np.concatenate([cP[mP], cQ[mQ]]) * er)
            both = (cP > 0) & (cQ > 0)
            onlyP = (cP > 0) & ~both
            onlyQ = (cQ > 0) & ~both
            cols += [P[onlyP], Q[onlyQ]]
            vals += [cP[onlyP], cQ[onlyQ]]
            k = np.nonzero(both)[0]
            if len(k):
                aux = m.add_cols(len(k), 0.0, INF)
                for ax, kk in zip(aux, k):
                    m.add_row([ax, P[kk]], [1.0, -cP[kk]], 0.0, INF)
                    m.add_row([ax, Q[kk]], [1.0, -cQ[kk]], 0.0, INF)
                cols.append(aux)
                vals.append(np.ones(len(k)))
            return np.concatenate(cols).astype(np.int64), np.concatenate(vals) * er

        def coupling_max(t, side):
            if t not in self.ck_coef:
                return 0.0
            lvl, a, b = self.ck_coef[t]
            P, Q = ck_max[lvl]
            return float(np.maximum(b * P, -a * Q).sum() if side == "hi" else np.maximum(-a * P, b * Q).sum())

        for t, (kind, pos, j, sides, bound) in enumerate(self.targets):
            for side in (("hi", "lo") if sides == "both" else (sides,)):
                mats, ex = (H, EH) if side == "hi" else (Lm, EL)
                lim = 1.0 - MARGIN
                fis = range(len(self.fvars))
                keep_extra = np.arange(len(self._extra))
                if kind == "ckpt":
                    ccols, cvals = coupling(t, side)
                    # hi (lo) end of the checkpoint neuron's error <= P (Q), all in units of eps_ref
                    c, k = ck_row[t]
                    own_col = self.ck_cols[c][0 if side == "hi" else 1][k]
                    cols = [self.fvars[fi].cols for fi in fis] + [extra_cols, ccols, [own_col]]
                    vals = [mats[fi][t] / er for fi in fis] + [ex[:, t] / er, cvals / er, [-1.0]]
                    self.row_ids[(t, side)] = m.add_row(np.concatenate(cols), np.concatenate(vals), -INF, 0.0)
                    self.row_info.append((kind, pos, j, side, True))
                    continue
                compressed = False
                if kind == "output":
                    lim *= (self.cfg.output_scale or {}).get(j, 1.0)
                else:
                    own = self._own_fvars(pos, j)
                    up_max = coupling_max(t, side)
                    for fi in range(len(self.fvars)):
                        if fi not in own:
                            up_max += float(mats[fi][t].max())
                    ex_up = [k for k in range(len(self._extra)) if extra_own[k] not in own]
                    up_max += float(sum(max(ex[k, t], 0.0) * extra_max[k] for k in ex_up))
                    if up_max <= 0.5 * bound:
                        fis = sorted(own)
                        keep_extra = np.array([k for k in range(len(self._extra)) if extra_own[k] in own], dtype=np.int64)
                        lim = (bound - up_max) / bound * (1 - MARGIN)
                        compressed = True
                if compressed:
                    ccols, cvals = np.zeros(0, dtype=np.int64), np.zeros(0)
                else:
                    ccols, cvals = coupling(t, side)
                cols = [self.fvars[fi].cols for fi in fis] + [extra_cols[keep_extra], ccols]
                vals = [mats[fi][t] / bound for fi in fis] + [ex[keep_extra, t] / bound, cvals / bound]
                self.row_ids[(t, side)] = m.add_row(np.concatenate(cols), np.concatenate(vals), -INF, lim)
                self.row_info.append((kind, pos, j, side, len(fis) == len(self.fvars)))

    def calibrate(self, design: Design, analysis) -> dict:
        """Scale every output row's bound by how much the model over-estimates the exact
        analysis on `design` (model / analysis, at least 1, at most 8): the model keeps its
        relative accuracy between candidates while its absolute level follows the analysis."""
        ch = self.choices_from_design(design)
        if ch is None:
            return {}
        model_err, _ = self.evaluate(ch)
        out = {}
        for t, (kind, pos, j, sides, bound) in enumerate(self.targets):
            if kind != "output":
                continue
            actual = float(analysis.output_errors[j])
            if actual <= 0 or model_err[j] <= 0:
                continue
            f = float(min(8.0, max(1.0, model_err[j] / actual * 0.98)))
            out[j] = f
            for side in ("hi", "lo"):
                r = self.row_ids.get((t, side))
                if r is not None:
                    self.m.set_row_upper(r, (1.0 - MARGIN) * f)
        return out

    def _extra_fvar(self, e) -> int:
        """The accumulator variable an extra term belongs to (for own/upstream splits)."""
        kind, key = e[1], e[2]
        return self.groups[key].fvar

    def _extra_max(self, e) -> float:
        kind, key = e[1], e[2]
        return float(unit(self.fvars[self.groups[key].fvar].cands[0], self.rounding))

    # -------------------------------------------------------- objective
    def _total_bits_terms(self):
        cols, vals = [], []
        for g in self.groups:
            fv = self.fvars[g.fvar]
            cols.append(fv.cols)
            vals.append(g.width.astype(float) * g.count)
            if g.kind == "accum":
                cols.append(fv.cols)
                vals.append(g.bias_width.astype(float) * len(g.members))
        return np.concatenate(cols), np.concatenate(vals)

    def _weight_bits_terms(self):
        cols, vals = [], []
        for g in self.groups:
            fv = self.fvars[g.fvar]
            if g.kind == "weight":
                cols.append(fv.cols)
                vals.append(g.width.astype(float) * g.count)
            elif g.kind == "accum":
                cols.append(fv.cols)
                vals.append(g.bias_width.astype(float) * len(g.members))
        return np.concatenate(cols), np.concatenate(vals)

    def _bilinear(self, kind: str):
        """McCormick terms for multiplier area ('area') or DSP slices ('dsp')."""
        m = self.m
        cols, vals = [], []
        self._bilin = []
        for ld in self.layers:
            xg = None if (ld.pos == 0 and self.inputs_fixed) else (self.input_group if ld.pos == 0 else self.layers[ld.pos - 1].ogroup)
            for gi in sorted(set(ld.wgroup.tolist())):
                g = self.groups[gi]
                fv = self.fvars[g.fvar]
                counts = ld.nz_mask[g.members].sum(axis=0)
                coef = g.width.astype(float) if kind == "area" else np.ceil(g.width / 27.0)
                if xg is None:
                    xw = float(self.impl.input_format.width)
                    per = xw if kind == "area" else math.ceil(xw / 18.0)
                    cols.append(fv.cols)
                    vals.append(coef * float(counts.sum()) * per)
                    continue
                s_cols, s_vals, s_max = [], [], 0.0
                for xgi in sorted(set(xg.tolist())):
                    cnt = float(counts[xg == xgi].sum())
                    if cnt == 0:
                        continue
                    xgrp = self.groups[xgi]
                    xv = xgrp.width.astype(float) if kind == "area" else np.ceil(xgrp.width / 18.0)
                    s_cols.append(self.fvars[xgrp.fvar].cols)
                    s_vals.append(xv * cnt)
                    s_max += float(xv.max()) * cnt
                if not s_cols:
                    continue
                S = m.add_col(0.0, INF)
                m.add_row(np.concatenate([[S]] + s_cols), np.concatenate([[1.0]] + [-v for v in s_vals]), 0.0, 0.0)
                ys = m.add_cols(len(fv.cands), 0.0, INF)
                self._bilin.append((S, s_cols, s_vals, ys, fv.cols))
                for yb, cb in zip(ys, fv.cols):
                    m.add_row([yb, S, cb], [1.0, -1.0, -s_max], -s_max, INF)  # y >= S - S_max (1 - c)
                cols.append(ys)
                vals.append(coef)
        if not cols:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(cols), np.concatenate(vals)

    def _objective(self) -> None:
        m = self.m
        cm = self.cfg.cost
        tc, tv = self._total_bits_terms()
        if cm is CostModel.TOTAL_BITS:
            m.add_cost(tc, tv)
            return
        if cm is CostModel.WEIGHT_BITS:
            c, v = self._weight_bits_terms()
            m.add_cost(c, v)
            m.add_cost(tc, tv * 1e-3)
            return
        if cm is CostModel.MULTIPLIER_AREA:
            c, v = self._bilinear("area")
            m.add_cost(c, v)
            m.add_cost(tc, tv * 1e-3)
            return
        c, v = self._bilinear("dsp")
        m.add_cost(c, v)
        tb_max = float(np.abs(tv).sum()) * 64 + 1.0
        m.add_cost(tc, tv * (0.5 / tb_max))

    # ================================================================== decoding / evaluation
    def choices_from_solution(self, x: np.ndarray) -> dict:
        return {"F": [int(fv.cands[int(np.argmax(x[fv.cols]))]) for fv in self.fvars], "I": {}, "X": {}}

    def choices_from_design(self, design: Design) -> dict | None:
        """Fractional bits of `design` per variable (None when the design's granularity is finer)."""
        F = [None] * len(self.fvars)

        def put(fi, f):
            if F[fi] is None:
                F[fi] = f
            return F[fi] == f

        ok = True
        if not self.inputs_fixed:
            for k in range(self.net.n_inputs):
                ok &= put(self.groups[self.input_group[k]].fvar, design.inputs[k].frac_bits)
        for ld, fm in zip(self.layers, design.layers):
            for j in range(ld.n_out):
                ok &= put(self.groups[ld.wgroup[j]].fvar, fm.weight[j].frac_bits)
                ok &= put(self.groups[ld.agroup[j]].fvar, fm.accum[j].frac_bits)
                ok &= put(self.groups[ld.ogroup[j]].fvar, fm.output[j].frac_bits)
        if not ok or any(f is None for f in F):
            return None
        return {"F": F, "I": {}, "X": {}}

    def point(self, choices: dict) -> np.ndarray | None:
        """The full MILP point of the choices (a warm start); None when a choice is not a candidate."""
        x = np.zeros(self.m.num_cols)
        F = choices["F"]
        for fv, f in zip(self.fvars, F):
            idx = np.nonzero(fv.cands == f)[0]
            if not len(idx):
                return None
            x[fv.cols[idx[0]]] = 1.0
        for p, xc in self.x_cols.items():
            if xc is not None:
                x[xc] = self._input_frac_bounds_choice(p, F)
        for e in self._extra:
            col, kind, key = e[0], e[1], e[2]
            x[col] = self._extra_value(e, F)
            x[self.exact_flags[key]] = 1.0 if x[col] == 0.0 else 0.0
        if getattr(self, "ck_cols", None):
            _, st = self.evaluate(choices)
            _, _, PQ = self.resolve(st, with_ck=True)
            for c, (Pc, Qc) in self.ck_cols.items():
                x[Pc] = PQ[c][0] / self.eps_ref * (1 + 1e-9)
                x[Qc] = PQ[c][1] / self.eps_ref * (1 + 1e-9)
        for S, s_cols, s_vals, ys, ccols in getattr(self, "_bilin", []):
            x[S] = float(sum(float(np.dot(v, x[c])) for c, v in zip(s_cols, s_vals)))
            x[ys] = x[S] * x[ccols]
        return x

    def rounded_point(self, x_relaxed: np.ndarray, max_steps: int = 3000) -> tuple[np.ndarray, dict] | None:
        """A feasible point near an LP-relaxation point: every variable takes the most precise
        candidate of its support, then a greedy adds fractional bits where the knapsack rows are
        still violated (best violation decrease per bit). None if that fails."""
        import scipy.sparse as sp

        F = []
        for fv in self.fvars:
            w = x_relaxed[fv.cols]
            sup = np.nonzero(w > 1e-7)[0]
            F.append(int(fv.cands[sup[-1]]) if len(sup) else int(fv.cands[int(np.argmax(w))]))
        pairs = []
        if not self.cfg.tied:
            for ld in self.layers:
                for j in range(ld.n_out):
                    pairs.append((self.groups[ld.agroup[j]].fvar, self.groups[ld.ogroup[j]].fvar))
            pairs = sorted(set(pairs))
            for fa, fo in pairs:
                if F[fa] < F[fo]:
                    ok = self.fvars[fa].cands[self.fvars[fa].cands >= F[fo]]
                    if not len(ok):
                        return None
                    F[fa] = int(ok[0])
        out_of = {fo: [] for _, fo in pairs}
        for fa, fo in pairs:
            out_of[fo].append(fa)
        choices = {"F": F, "I": {}, "X": {}}
        lb, ub, cost, integ, ri, ci, v, rlo, rhi = self.m.arrays()
        A = sp.csc_matrix((v, (ri, ci)), shape=(self.m.num_rows, self.m.num_cols))
        krows = np.array(sorted(self.row_ids.values()), dtype=np.int64)
        Ak = A[krows]
        lim = rhi[krows]
        x = self.point(choices)
        if x is None:
            return None
        act = Ak @ x
        nf = len(self.fvars)
        if self._extra or self.ck_coef:
            return None  # exactness binaries / checkpoint variables couple the rows: leave it to the solver
        cur = np.array([fv.cols[self._index(fi, F[fi])] for fi, fv in enumerate(self.fvars)])

        def next_col(fi):
            t0 = self._index(fi, F[fi])
            fv = self.fvars[fi]
            return fv.cols[t0 + 1] if t0 + 1 < len(fv.cands) else None

        nxt = np.array([next_col(fi) if next_col(fi) is not None else cur[fi] for fi in range(nf)])
        D = (Ak[:, nxt] - Ak[:, cur]).tocsc()
        costs = np.array([self.step_cost(fi, F[fi], F[fi] + 1) if next_col(fi) is not None else math.inf for fi in range(nf)])
        for _ in range(max_steps):
            viol = np.maximum(act - lim, 0.0)
            total = float(viol.sum())
            if total <= 0:
                break
            rows = D.indices
            before = viol[rows]
            after = np.maximum(act[rows] + D.data - lim[rows], 0.0)
            change = after - before
            gain = np.zeros(nf)
            nz = np.diff(D.indptr) > 0
            starts = D.indptr[:-1][nz]
            if len(change):
                gain[nz] = -np.add.reduceat(change, starts)
            ok = np.isfinite(costs) & (gain > 1e-12)
            for fo, fas in out_of.items():
                if ok[fo] and any(F[fa] < F[fo] + 1 for fa in fas):
                    ok[fo] = False
            if not ok.any():
                return None
            score = np.where(ok, gain / np.maximum(costs, 0.5), -1.0)
            best = int(np.argmax(score))
            col_old, col_new = cur[best], nxt[best]
            act = act + (Ak[:, col_new] - Ak[:, col_old]).toarray().ravel()
            F[best] += 1
            cur[best] = col_new
            nc = next_col(best)
            nxt[best] = nc if nc is not None else col_new
            D = _replace_col(D, best, Ak[:, nxt[best]] - Ak[:, cur[best]])
            costs[best] = self.step_cost(best, F[best], F[best] + 1) if nc is not None else math.inf
        if float(np.maximum(act - lim, 0.0).sum()) > 0:
            return None
        # descent: remove fractional bits while every row stays satisfied (largest saving first)
        def prev_col(fi):
            t0 = self._index(fi, F[fi])
            return self.fvars[fi].cols[t0 - 1] if t0 > 0 else cur[fi]

        prv = np.array([prev_col(fi) for fi in range(nf)])
        save = np.array([-self.step_cost(fi, F[fi], F[fi] - 1) if prv[fi] != cur[fi] else -math.inf for fi in range(nf)])
        U = (Ak[:, prv] - Ak[:, cur]).tocsc()
        for _ in range(max_steps):
            rows = U.indices
            bad = (act[rows] + U.data > lim[rows] + 1e-12).astype(np.int64)
            nz = np.diff(U.indptr) > 0
            viol_cnt = np.zeros(nf, dtype=np.int64)
            if len(bad):
                viol_cnt[nz] = np.add.reduceat(bad, U.indptr[:-1][nz])
            ok = (viol_cnt == 0) & np.isfinite(save) & (save > 0)
            for fa, fo in pairs:  # F_a >= F_o after lowering F_a
                if ok[fa] and F[fa] - 1 < F[fo]:
                    ok[fa] = False
            if not ok.any():
                break
            best = int(np.argmax(np.where(ok, save, -np.inf)))
            act = act + U[:, best].toarray().ravel()
            F[best] -= 1
            cur[best] = prv[best]
            prv[best] = prev_col(best)
            save[best] = -self.step_cost(best, F[best], F[best] - 1) if prv[best] != cur[best] else -math.inf
            U = _replace_col(U, best, Ak[:, prv[best]] - Ak[:, cur[best]])
        x = self.point(choices)
        if x is None:
            return None
        full = A @ x
        tol = 1e-9 * (1 + np.abs(np.where(np.isfinite(rhi), rhi, 0)))
        if np.any(full > rhi + tol) or np.any(full < rlo - tol):
            return None
        return x, choices

    def focus(self, x_relaxed: np.ndarray, choices: dict | None, margin: int = 1) -> int:
        """Restrict every variable to candidates near the LP relaxation's support (and the
        incumbent's choice): the candidates outside get upper bound 0. Returns how many."""
        n = 0
        for fi, fv in enumerate(self.fvars):
            w = x_relaxed[fv.cols]
            sup = np.nonzero(w > 1e-7)[0]
            if not len(sup):
                continue
            lo, hi = fv.cands[sup[0]] - margin, fv.cands[sup[-1]] + margin
            if choices is not None:
                lo, hi = min(lo, choices["F"][fi]), max(hi, choices["F"][fi])
            for b, c in zip(fv.cands, fv.cols):
                if b < lo or b > hi:
                    self.m.set_bounds(int(c), 0.0, 0.0)
                    n += 1
        return n

    def _input_frac_bounds_choice(self, p: int, F: list) -> float:
        if p == 0:
            if self.inputs_fixed:
                return float(self.impl.input_format.frac_bits)
            gs = set(self.input_group.tolist())
        else:
            gs = set(self.layers[p - 1].ogroup.tolist())
        return float(max(F[self.groups[g].fvar] for g in gs))

    def _extra_value(self, e, F) -> float:
        """Value of an extra term: the product-rounding magnitude P of an accumulator group
        (0 when the accumulation is exact: F_a >= F_w + max F_x)."""
        g = self.groups[e[2]]
        ld = self.layers[g.pos]
        fa = F[g.fvar]
        fw = F[self.groups[ld.wgroup[g.members[0]]].fvar]
        return 0.0 if fa >= fw + self._input_frac_bounds_choice(g.pos, F) else float(unit(fa, self.rounding))

    def _index(self, fi: int, f: int) -> int | None:
        idx = np.nonzero(self.fvars[fi].cands == f)[0]
        return int(idx[0]) if len(idx) else None

    def _flat_tables(self) -> None:
        """All candidate columns side by side, for vectorised evaluation."""
        if getattr(self, "_flat_key", None) is self._H:
            return
        self._off = np.cumsum([0] + [len(fv.cands) for fv in self.fvars])[:-1]
        self._Hall = np.hstack([self._H[fi] for fi in range(len(self.fvars))]) if self.fvars else np.zeros((len(self.targets), 0))
        self._Lall = np.hstack([self._L[fi] for fi in range(len(self.fvars))]) if self.fvars else np.zeros((len(self.targets), 0))
        levels: dict[int, list] = {}
        for t, (kind, pos, j, _, _) in enumerate(self.targets):
            if kind == "ckpt":
                levels.setdefault(pos + 1, []).append((j, t))
        self._ck_levels = {c: np.array([t for _, t in sorted(v)]) for c, v in levels.items()}
        self._flat_key = self._H

    def evaluate(self, choices: dict):
        """(error bound per network output, state) of the model for the choices (absolute units).
        `state` = the targets' (hi, lo) before the checkpoint coupling (see `resolve`).
        Choices outside the candidate sets are clamped to the nearest candidate."""
        self._flat_tables()
        F = choices["F"]
        idx = np.array([self._off[fi] + int(np.clip(np.searchsorted(fv.cands, F[fi]), 0, len(fv.cands) - 1))
                        for fi, fv in enumerate(self.fvars)], dtype=np.int64)
        hi = self._Hall[:, idx].sum(axis=1)
        lo = self._Lall[:, idx].sum(axis=1)
        for e in self._extra:
            val = self._extra_value(e, F)
            hi = hi + e[3] * val
            lo = lo + e[4] * val
        state = (hi, lo)
        return self.output_errors(state), state

    def resolve(self, state, with_ck: bool = False):
        """Targets' (hi, lo) including the checkpoint terms: each checkpoint level's certified
        error interval [-Q, P] (P = max(0, hi), Q = max(0, lo) of its targets) enters the targets
        that stop there with hi += b+ P + (-a)+ Q and lo += (-a)+ P + b+ Q (R = [a, b])."""
        hi, lo = state
        if not self.ck_coef:
            return (hi, lo, {}) if with_ck else (hi, lo)
        self._flat_tables()
        hi, lo = hi.copy(), lo.copy()
        PQ = {}
        for c in sorted(self._ck_levels):
            ts = self._ck_levels[c]
            for t in ts:
                if t in self.ck_coef:
                    lvl, a, b = self.ck_coef[t]
                    P, Q = PQ[lvl]
                    hi[t] += np.maximum(b, 0) @ P + np.maximum(-a, 0) @ Q
                    lo[t] += np.maximum(-a, 0) @ P + np.maximum(b, 0) @ Q
            PQ[c] = (np.maximum(hi[ts], 0.0), np.maximum(lo[ts], 0.0))
        for t, (lvl, a, b) in self.ck_coef.items():
            if self.targets[t][0] == "ckpt":
                continue
            P, Q = PQ[lvl]
            hi[t] += np.maximum(b * P, -a * Q).sum()
            lo[t] += np.maximum(-a * P, b * Q).sum()
        return (hi, lo, PQ) if with_ck else (hi, lo)

    def output_errors(self, state) -> np.ndarray:
        hi, lo = self.resolve(state)
        out = np.zeros(self.net.n_outputs)
        for t, o in enumerate(self.outputs):
            out[o] = max(hi[t], lo[t])
        return out

    def stability_slack(self, state) -> np.ndarray:
        """Per stability target: bound - model error (negative: the assumption would fail)."""
        hi, lo = self.resolve(state)
        out = []
        for t, (kind, pos, j, side, bound) in enumerate(self.targets):
            if kind in ("inactive", "active"):
                out.append(bound - (hi[t] if side == "hi" else lo[t]))
        return np.array(out)

    def dependents(self) -> dict[int, list]:
        """fvar -> the extra terms (product / output rounding) whose value depends on it."""
        if hasattr(self, "_deps"):
            return self._deps
        deps: dict[int, list] = {fi: [] for fi in range(len(self.fvars))}
        for e in self._extra:
            g = self.groups[e[2]]
            ld = self.layers[g.pos]
            fis = {g.fvar, self.groups[ld.wgroup[g.members[0]]].fvar}
            if g.pos == 0:
                if not self.inputs_fixed:
                    fis |= {self.groups[x].fvar for x in set(self.input_group.tolist())}
            else:
                fis |= {self.groups[x].fvar for x in set(self.layers[g.pos - 1].ogroup.tolist())}
            for fi in fis:
                deps[fi].append(e)
        self._deps = deps
        return deps

    def step_delta(self, choices: dict, fi: int, step: int, hl) -> tuple | None:
        """(new hi, new lo) of the model after F[fi] += step, or None outside the candidates."""
        F = choices["F"]
        t0 = self._index(fi, F[fi])
        t1 = self._index(fi, F[fi] + step)
        if t0 is None or t1 is None:
            return None
        hi, lo = hl
        hi = hi + self._H[fi][:, t1] - self._H[fi][:, t0]
        lo = lo + self._L[fi][:, t1] - self._L[fi][:, t0]
        deps = self.dependents()[fi]
        if deps:
            old = [self._extra_value(e, F) for e in deps]
            F[fi] += step
            new = [self._extra_value(e, F) for e in deps]
            F[fi] -= step
            for e, a, b in zip(deps, old, new):
                if a != b:
                    hi = hi + e[3] * (b - a)
                    lo = lo + e[4] * (b - a)
        return hi, lo

    def step_cost(self, fi: int, f_from: int, f_to: int) -> float:
        """Total-bits change of moving variable fi between two candidates."""
        t0, t1 = self._index(fi, f_from), self._index(fi, f_to)
        if t0 is None or t1 is None:
            return math.inf
        d = 0.0
        for g in self.groups:
            if g.fvar != fi:
                continue
            if g.width[t1] > self.cap_of(g):
                return math.inf
            d += g.count * float(g.width[t1] - g.width[t0])
            if g.bias_width is not None:
                d += len(g.members) * float(g.bias_width[t1] - g.bias_width[t0])
        return d

    def design_from_choices(self, choices: dict) -> Design:
        """Design for fractional bits F (per variable), extra integer bits I[group] (repairs of
        accumulators / outputs) and X[(role, group)] (inputs, weights, biases)."""
        F, I = choices["F"], choices.get("I", {})
        X = choices.get("X", {})
        impl = self.impl
        fmt: dict[int, FixedFormat] = {}
        bias_fmt: dict[int, FixedFormat] = {}
        for gi, g in enumerate(self.groups):
            fv = self.fvars[g.fvar]
            f = int(F[g.fvar])
            idx = np.nonzero(fv.cands == f)[0]
            if len(idx):
                w, i = int(g.width[idx[0]]), int(g.ibits[idx[0]])
            else:
                w, i = self.group_width(g, f)
            if g.kind == "accum":
                i += I.get(gi, 0)
                w = max(1, f + i)
                wb = self.bias_width_at(g, f) + X.get(("bias", gi), 0)
                bias_fmt[gi] = FixedFormat(wb, wb - f, True)
            elif g.kind == "output":
                i += I.get(gi, 0)
                w = max(1, f + i)
            else:
                w += X.get((g.kind, gi), 0)
            if g.kind in ("input", "weight", "output"):
                w = self.impl.fit_width(w) or w
            fmt[gi] = FixedFormat(w, w - f, g.signed)
        if self.inputs_fixed:
            inputs = (impl.input_format,) * self.net.n_inputs
        else:
            inputs = tuple(fmt[int(self.input_group[k])] for k in range(self.net.n_inputs))
        layers = []
        for ld in self.layers:
            layers.append(LayerFormats(
                tuple(fmt[int(ld.wgroup[j])] for j in range(ld.n_out)),
                tuple(bias_fmt[int(ld.agroup[j])] for j in range(ld.n_out)),
                tuple(fmt[int(ld.agroup[j])] for j in range(ld.n_out)),
                tuple(fmt[int(ld.ogroup[j])] for j in range(ld.n_out)),
            ))
        return Design(inputs, tuple(layers), impl.rounding, impl.overflow, impl.inputs_fixed)

    def cap_of(self, g: Group) -> int:
        if g.kind == "accum":
            return self.cap_acc
        return self.cap_operand if g.kind in ("input", "weight", "output") else self.cap_word
