"""Sound bound on |integer network - float reference| over the input domain, layer by layer
in exact rationals.

Per value: the quantized value's interval (codes x unit, from the accumulator bounds), the
float reference's interval (interval arithmetic on the reference weights) and an error bound
e >= |quantized - reference|. A dense layer gives
    |Q_j - F_j| <= sum_i |wq_ij| e_i + sum_i |wq_ij - w_ij| max|f_i| + |bq_j - b_j|
(wq, bq the quantized weights and bias as values, w, b the reference's); ReLU is
1-Lipschitz and applied to both; a requantization adds its rounding error (one output unit
for directed modes, half of it for the nearest modes), its multiplier's approximation error
and any clamping excess; a bipolar or threshold step adds the largest distance between its
outputs and its input interval. The bound at an output is also capped by the distance of the
two intervals' extremes.
"""

from __future__ import annotations

from fractions import Fraction

from ..fixedpoint.integer_net import integer_multiplier, requant_one
from ..network.ir import Activation
from ..network.quantized import Bipolar, QuantizedNetwork, Relu, Requant, Thresholds
from .accumulators import LayerBounds

NEAREST = ("ROUND", "HALF_EVEN", "HALF_UP", "HALF_DOWN")


def _requant_error(step: Requant, j: int, unit_in: Fraction, clo, chi, exact: bool = False) -> Fraction:
    """max |value out - value in| of one requantization channel on input codes [clo, chi]."""
    s = step.scale[j]
    if step.bits == 0 and step.op == "Trunc" and step.multiplier[j] != unit_in / s:
        return abs(unit_in) * max(abs(clo), abs(chi))  # v1 Trunc rescales the value itself: crude
    m, n = integer_multiplier(step.multiplier[j])
    approx = Fraction(0) if exact else abs(Fraction(m, 1 << n) - step.multiplier[j]) * max(abs(clo), abs(chi)) * s
    rnd = s / 2 if step.rounding in NEAREST else s
    excess = Fraction(0)
    if step.bits:
        lo, hi = step.bounds
        z = step.zero_point[j]
        vlo, vhi = clo * unit_in, chi * unit_in
        excess = max(Fraction(0), vhi - (hi - z) * s, (lo - z) * s - vlo)
    return rnd + approx + excess


def error_bounds(qnet: QuantizedNetwork, box, bounds: list[LayerBounds]) -> list[Fraction]:
    """A bound on |quantized - reference| of every output over the box."""
    ref = qnet.reference
    # input: reference = x itself; quantized = the input quantizer's value
    f_lo = [lo for lo, _ in box]
    f_hi = [hi for _, hi in box]
    e = []
    for i, (lo, hi) in enumerate(box):
        err = Fraction(0)
        clo, chi = lo, hi
        u = Fraction(1)
        for step in qnet.input_steps:
            if isinstance(step, Requant):
                jj = i if len(step.scale) > 1 else 0
                err += _requant_error(step, jj, u, clo, chi, exact=True)
                u = step.scale[jj]
                clo, chi = bounds[0].code_lo[i], bounds[0].code_hi[i]
            else:  # bipolar input quantizer: crude
                s = step.scale[i if len(step.scale) > 1 else 0]
                err += max(abs(s - lo), abs(s - hi), abs(s + lo), abs(s + hi))
                u = s
        e.append(err)
    for index, (layer, rl, lb) in enumerate(zip(qnet.layers, ref.layers, bounds)):
        in_unit = layer.in_unit
        fmax = [max(abs(a), abs(b)) for a, b in zip(f_lo, f_hi)]
        ne, nf_lo, nf_hi = [], [], []
        for j in range(layer.n_out):
            ws = layer.unit[j] / in_unit
            wq = [c * ws for c in layer.weights[j]]
            w = rl.weights[j]
            err = sum((abs(a) * ei for a, ei in zip(wq, e) if a and ei), Fraction(0))
            err += sum((abs(a - b) * m for a, b, m in zip(wq, w, fmax) if a != b and m), Fraction(0))
            err += abs(layer.bias[j] * layer.unit[j] - rl.bias[j])
            lo = rl.bias[j] + sum((b * (f_lo[i] if b > 0 else f_hi[i]) for i, b in enumerate(w) if b), Fraction(0))
            hi = rl.bias[j] + sum((b * (f_hi[i] if b > 0 else f_lo[i]) for i, b in enumerate(w) if b), Fraction(0))
            if rl.activation is Activation.RELU:
                lo, hi = max(lo, Fraction(0)), max(hi, Fraction(0))
            # the quantized path: accumulator value, then the steps
            clo, chi, u = lb.final_lo[j], lb.final_hi[j], layer.unit[j]
            for step in layer.steps:
                if isinstance(step, Relu):
                    clo, chi = max(clo, 0), max(chi, 0)
                    continue
                if isinstance(step, Requant):
                    err += _requant_error(step, j, u, clo, chi)
                    clo, chi = requant_one(step, j, clo), requant_one(step, j, chi)
                    u = step.scale[j]
                    continue
                # bipolar / thresholds: largest distance between outputs and inputs
                if isinstance(step, Bipolar):
                    outs = (-step.scale[j], step.scale[j])
                    ncl, nch = -1, 1
                else:
                    assert isinstance(step, Thresholds)
                    ncl, nch = step.offset, step.offset + len(step.thresholds[j])
                    outs = (ncl * step.scale[j], nch * step.scale[j])
                vlo, vhi = clo * u, chi * u
                err += max(abs(o - v) for o in outs for v in (vlo, vhi))
                clo, chi, u = ncl, nch, step.scale[j]
            qv_lo, qv_hi = clo * u, chi * u
            err = min(err, max(abs(qv_hi - lo), abs(hi - qv_lo)))
            ne.append(err)
            nf_lo.append(lo)
            nf_hi.append(hi)
        e, f_lo, f_hi = ne, nf_lo, nf_hi
    return e
