"""The exact worst-case output error of a quantized ReLU/linear network, by Z3.

The certified bounds of `prove` are sound over-approximations; this module
measures how far they are from the truth on small networks. It encodes the
whole computation exactly, for every input of the analysed box:

* the real network: z = W h + b over the rationals, ReLU as an if-then-else;
* the quantized network, in integers, exactly as `fixedpoint/simulator.py`
  computes it: inputs rounded onto their grid (or, for fixed-point inputs,
  grid points only), each product w~ x~ rounded to the accumulator's
  fractional bits (floor division by 2^s; nearest adds half first), the
  bias, the rounding to the output's fractional bits, ReLU on mantissas;

and asks Z3's optimizer for the largest and smallest y~_o - y_o. Overflow is
not modelled, so the design must be one whose analysis shows no overflow
anywhere (then wrap and saturate never act and the encoding is exact).

Z3's optimum is a solver answer: its witness input is re-run through the
bit-exact simulator and the exact real network, and the result must equal
the optimum (else an internal error). The certified bound never depends on
this module; an exact error above a certified bound would be a soundness
bug and is reported as one by the callers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..fixedpoint.format import Rounding, quantize_exact
from ..fixedpoint.simulator import simulate
from ..network.ir import Activation

MAX_NEURONS = 200  # beyond this the if-then-else encoding is rarely solved in useful time


class ExactErrorUnavailable(ValueError):
    """The network or design is outside what the exact encoding covers (message says why)."""


@dataclass(frozen=True)
class Extreme:
    """The maximum of sign * (y~_o - y_o) over the box lies in [lower, upper]; lower is reached at
    `witness` (replayed bit-exactly); lower == upper when Z3 closed the gap."""

    lower: Fraction
    upper: Fraction
    witness: tuple[Fraction, ...]

    @property
    def exact(self) -> bool:
        return self.lower == self.upper


@dataclass(frozen=True)
class ExactOutputError:
    output: int
    above: Extreme  # max of y~ - y
    below: Extreme  # max of y - y~

    @property
    def lower(self) -> Fraction:
        """A demonstrated |y~ - y| (at `witness`)."""
        return max(self.above.lower, self.below.lower, Fraction(0))

    @property
    def upper(self) -> Fraction:
        """No input of the box has a larger |y~ - y| (Z3: unsatisfiable)."""
        return max(self.above.upper, self.below.upper, Fraction(0))

    @property
    def exact(self) -> bool:
        return self.lower == self.upper

    @property
    def witness(self) -> tuple[Fraction, ...]:
        return self.above.witness if self.above.lower >= self.below.lower else self.below.witness


@dataclass(frozen=True)
class ExactErrorResult:
    outputs: tuple[ExactOutputError, ...]
    seconds: float


def check_supported(analysis) -> None:
    net = analysis.problem.network
    bad = [la.activation.value for la in net.layers if la.activation not in (Activation.RELU, Activation.LINEAR)]
    if bad:
        raise ExactErrorUnavailable(f"the exact error needs ReLU/linear layers (this network has {bad[0]})")
    neurons = sum(la.n_out for la in net.layers)
    if neurons > MAX_NEURONS:
        raise ExactErrorUnavailable(f"the exact error is for small networks (<= {MAX_NEURONS} neurons; this one has {neurons})")
    overflow = [v for v in analysis.violations if v.kind != "error"]
    if overflow:
        raise ExactErrorUnavailable(f"the design may overflow ({overflow[0].describe()}); the exact encoding models "
                                    "overflow-free designs only")


def _shift_round(z3, v, shift: int, nearest: bool, name: str, constraints: list):
    """format.shift_round on a Z3 integer term: a fresh integer q with 2^s q <= v (+ 2^(s-1)) < 2^s (q + 1)."""
    if shift <= 0:
        return v * (1 << -shift)
    q = z3.Int(name)
    t = v + (1 << (shift - 1)) if nearest else v
    constraints += [q * (1 << shift) <= t, t < q * (1 << shift) + (1 << shift)]
    return q


def _encode(z3, analysis):
    """(constraints, real inputs x, real outputs y, quantized outputs y~ as reals): every value of the
    quantized network is an integer mantissa tied to the input mantissas by the constraints."""
    qnet, design = analysis.qnet, analysis.design
    nearest = design.rounding is Rounding.NEAREST
    constraints, xs, h_real, mant = [], [], [], []
    for i, ((lo, hi), fmt) in enumerate(zip(analysis.box, design.inputs)):
        m = z3.Int(f"m{i}")
        scale = 1 << fmt.frac_bits if fmt.frac_bits >= 0 else Fraction(1, 1 << -fmt.frac_bits)
        if design.inputs_fixed:
            x = z3.ToReal(m) / z3.RealVal(scale)
        else:
            x = z3.Real(f"x{i}")
            t = x * z3.RealVal(scale) + (z3.RealVal(Fraction(1, 2)) if nearest else 0)
            constraints += [z3.ToReal(m) <= t, t < z3.ToReal(m) + 1]
        constraints += [x >= z3.RealVal(lo), x <= z3.RealVal(hi)]
        xs.append(x)
        h_real.append(x)
        mant.append(m)
    for pos, ql in enumerate(qnet.layers):
        in_frac = [int(v) for v in qnet.frac_bits_into(pos)]
        layer = analysis.problem.network.layers[pos]
        relu = layer.activation is Activation.RELU
        new_real, new_mant = [], []
        for j in range(ql.n_out):
            z = z3.RealVal(layer.bias[j])
            for w, h in zip(layer.weights[j], h_real):
                if w:
                    z = z + z3.RealVal(w) * h
            fw, fa, fo = int(ql.weight_frac[j]), int(ql.accum_frac[j]), int(ql.output_frac[j])
            acc = z3.IntVal(int(ql.bias_acc_mant[j]))
            for k, (wm, m) in enumerate(zip(ql.weight_mant[j], mant)):
                if int(wm):
                    acc = acc + _shift_round(z3, m * int(wm), fw + in_frac[k] - fa, nearest, f"p{pos}_{j}_{k}", constraints)
            a = z3.Int(f"a{pos}_{j}")  # the accumulator, named so the sum is built once
            v = z3.Int(f"v{pos}_{j}")
            constraints += [a == acc, v == _shift_round(z3, a, fa - fo, nearest, f"r{pos}_{j}", constraints)]
            new_real.append(z3.If(z > 0, z, 0) if relu else z)
            new_mant.append(z3.If(v > 0, v, 0) if relu else v)
        h_real, mant = new_real, new_mant
    out_frac = [int(f) for f in qnet.layers[-1].output_frac]
    y_q = [z3.ToReal(m) / z3.RealVal(1 << f if f >= 0 else Fraction(1, 1 << -f)) for m, f in zip(mant, out_frac)]
    return constraints, xs, h_real, y_q


def _value(z3, v) -> Fraction:
    v = v if not z3.is_algebraic_value(v) else v.approx(60)
    return Fraction(v.numerator_as_long(), v.denominator_as_long()) if z3.is_rational_value(v) else Fraction(v.as_long())


def _replay(analysis, witness: tuple[Fraction, ...], output: int) -> Fraction:
    """y~_o - y_o at the witness: the bit-exact simulator against the exact real network."""
    qnet, design = analysis.qnet, analysis.design
    mant = [quantize_exact(x, fmt.frac_bits, design.rounding) for x, fmt in zip(witness, design.inputs)]
    if design.inputs_fixed and any(m * Fraction(2) ** -fmt.frac_bits != x for m, x, fmt in zip(mant, witness, design.inputs)):
        raise AssertionError("Z3 witness is not on the input grid")
    sim = simulate(qnet, np.array([mant], dtype=object))
    if sim.overflow[0]:
        raise AssertionError("the Z3 witness overflows in the simulator (the design was not overflow-free)")
    f = int(sim.output_frac[output])
    y_q = Fraction(int(sim.outputs[0][output])) / Fraction(2) ** f
    y = analysis.problem.network.forward_exact_relu_linear(witness)[output]
    return y_q - y


def _extreme(z3, constraints, xs, e, bound: Fraction, work: int, analysis, output: int, sign: int) -> Extreme | None:
    """Bracket max sign * e by bisection with satisfiability checks (Z3's optimizer is far slower
    here): `sign * e > t` sat raises the lower end to the model's (replayed) value, unsat lowers the
    upper end to t; the gap is closed by a last check at t = lower. Starts from upper = the certified
    bound, which must be unsatisfiable. None when Z3 cannot find any input within `work` (Z3's
    deterministic resource count, so the bracket does not depend on the machine's load)."""
    solver = z3.Solver()
    solver.add(*constraints)
    obj = e if sign > 0 else -e
    probe_work = max(work // 4, 1)  # one hard threshold must not eat the whole budget
    used = [0]

    def probe(threshold):
        remaining = min(work - used[0], probe_work)
        if remaining <= 0:
            return z3.unknown, None
        solver.set("rlimit", int(remaining))
        before = _rlimit_count(solver)
        solver.push()
        if threshold is not None:
            solver.add(obj > z3.RealVal(threshold))
        r = solver.check()
        m = solver.model() if r == z3.sat else None
        solver.pop()
        used[0] += max(_rlimit_count(solver) - before, 1)
        return r, m

    lower, witness, upper = None, None, bound
    threshold = upper
    while True:
        r, model = probe(threshold)
        if r == z3.unknown:
            break
        if r == z3.sat:
            if threshold == bound:
                raise AssertionError(f"SOUNDNESS: an input exceeds the certified bound {bound} of output {output}")
            w = tuple(_value(z3, model.eval(x, model_completion=True)) for x in xs)
            value = sign * _replay(analysis, w, output)
            if value != sign * _value(z3, model.eval(e, model_completion=True)) or (threshold is not None and value <= threshold):
                raise AssertionError(f"Z3's model for output {output} does not replay in the bit-exact simulator")
            lower, witness = value, w
        else:
            upper = threshold
            if threshold == lower:
                break
        if lower is None:
            threshold = None  # any input first
        elif upper - lower <= abs(upper) * Fraction(1, 10**6):
            threshold = lower  # close the gap: is the best input found the best there is?
        else:
            mid = (lower + upper) / 2
            short = Fraction(math.ceil(mid * (1 << 48)), 1 << 48)  # a short number, for readable brackets
            threshold = short if lower < short < upper else mid
    return None if lower is None else Extreme(lower, upper, witness)


def _rlimit_count(solver) -> int:
    stats = solver.statistics()
    return int(stats.get_key_value("rlimit count")) if "rlimit count" in stats.keys() else 0


DEFAULT_WORK = 20_000_000  # Z3 resource units (about 20 s of this machine's time, on small networks)


def exact_output_errors(analysis, work: int = DEFAULT_WORK, outputs=None) -> ExactErrorResult | None:
    """Brackets of max |y~_o - y_o| over the analysed box, per output (Z3, re-verified witnesses),
    within `work` Z3 resource units in all (deterministic). None when Z3 finds no input at all."""
    import z3

    check_supported(analysis)
    t0 = time.perf_counter()
    constraints, xs, y_real, y_q = _encode(z3, analysis)
    results = []
    todo = list(range(len(y_q)) if outputs is None else outputs)
    share = max(work // (2 * max(len(todo), 1)), 1)
    for o in todo:
        bound = analysis.output_errors[o]
        e = y_q[o] - y_real[o]
        ext = [_extreme(z3, constraints, xs, e, bound, share, analysis, o, sign) for sign in (1, -1)]
        if None in ext:
            return None
        results.append(ExactOutputError(o, *ext))
    return ExactErrorResult(tuple(results), time.perf_counter() - t0)


def exact_error_bracket(analysis, work: int = DEFAULT_WORK):
    """(result, None) with Z3's bracket of the true worst-case error, or (None, why not)."""
    try:
        res = exact_output_errors(analysis, work=work)
    except ExactErrorUnavailable as exc:
        return None, str(exc)
    if res is None:
        return None, f"Z3 found no input within {work:,} resource units"
    return res, None
