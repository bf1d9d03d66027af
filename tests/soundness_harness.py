"""Shared soundness harness: run the bit-exact simulator against the exact
real network and assert nothing exceeds what the analysis certified.

A measured error above a certified bound is a soundness bug, never noise:
float64 measurements that come within a hair of a bound are re-checked
exactly (rational arithmetic) before a test fails.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from verifq.numeric import scaled
from verifq.analysis.results import Analysis
from verifq.analysis.search import Sampler, observe, real_output_highprec, simulated_error
from verifq.network.ir import apply_activation_float
from verifq.fixedpoint.simulator import mantissas_to_float, quantize_inputs, simulate


def exact_layer_values(network, x):
    """Exact (60-digit) per-layer post-activation values at one input."""
    from verifq.network.ir import Network

    return [
        [Fraction(v) for v in real_output_highprec(Network("prefix", network.layers[:k]), x)]
        for k in range(1, len(network.layers) + 1)
    ]


def check_layerwise(analysis: Analysis, n_random: int = 2000, seed: int = 0) -> float:
    """Every neuron of every layer: quantized value within its claimed range and
    within its certified error of the real value. Returns the worst ratio
    observed/certified over outputs (tightness^-1)."""
    problem, qnet, net = analysis.problem, analysis.qnet, analysis.problem.network
    box = analysis.box
    sampler = Sampler(qnet, box, seed)
    x = np.vstack([sampler.uniform(n_random), sampler.corners(256)])
    mant, over_in = quantize_inputs(qnet, x)
    assert not over_in.any(), "input overflow despite a proof"
    res = simulate(qnet, mant, keep_layers=True)
    assert not res.overflow.any(), f"overflow despite a proof at {res.first_overflow[int(np.argmax(res.overflow))]}"
    h = np.asarray(x, dtype=np.float64)
    worst_ratio = 0.0
    for la, ql, ym in zip(analysis.layers, qnet.layers, res.layer_outputs):
        lay = net.layers[la.index - 1]
        h = apply_activation_float(lay.activation, h @ lay.weight_float.T + lay.bias_float)
        yq = mantissas_to_float(ym, ql.output_frac)
        err = np.abs(yq - h)
        bound = scaled.to_float_array(la.errors.err_out)
        out_lo = scaled.to_float_array(la.errors.out_lo)
        out_hi = scaled.to_float_array(la.errors.out_hi)
        slack = 1e-9 * (1 + np.abs(h))
        suspicious = err > bound + slack
        assert not (yq < out_lo - 1e-12).any() and not (yq > out_hi + 1e-12).any(), f"layer {la.index}: value outside its claimed range"
        for i, j in zip(*np.nonzero(suspicious)):
            exact = exact_layer_values(net, [Fraction(float(v)) for v in x[i]])[la.index - 1][j]
            q = Fraction(int(ym[i, j])) / Fraction(2) ** int(ql.output_frac[j])
            assert abs(q - exact) <= scaled.to_fraction(la.errors.err_out[j]), (
                f"SOUNDNESS BUG layer {la.index} neuron {j}: error {float(abs(q - exact))} > bound {bound[j]}"
            )
        nz = bound > 0
        if la is analysis.layers[-1] and nz.any():
            worst_ratio = max(worst_ratio, float((err[:, nz] / bound[nz]).max()))
    return worst_ratio


def check_outputs_with_search(analysis: Analysis, n_random: int = 10000, seed: int = 0):
    """>= n_random random + corners + error-maximising search; returns the observation."""
    problem = analysis.problem
    obs = observe(analysis.qnet, problem.network, analysis.box, n_random=n_random, seed=seed)
    assert obs.overflow_rows == 0, f"overflow despite a proof at {obs.overflow_site}"
    for j, (e, b) in enumerate(zip(obs.max_error, analysis.output_errors)):
        if e > float(b) * (1 + 1e-9):
            err = simulated_error(analysis.qnet, problem.network, obs.worst_input[j], j)
            assert err <= b, f"SOUNDNESS BUG output {j}: error {float(err)} > certified {float(b)}"
    return obs
