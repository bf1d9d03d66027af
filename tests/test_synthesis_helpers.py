"""Shared helpers of the synthesis tests: small benchmark networks as Problems,
and the soundness check of a synthesized design against the real network."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import numpy as np

from verifq.analysis.search import Sampler, real_output_highprec
from verifq.fixedpoint.simulator import quantize_inputs, simulate
from verifq.network.loaders import load_benchmark_json
from verifq.problem import Implementation, Problem

DATA = Path(__file__).resolve().parent / "data" / "synth"


def problem(name: str, eps=Fraction(1, 1000), directory: Path | None = None, **impl) -> Problem:
    """The benchmark network `name` (tests/data/synth, or `directory`) on its own input domain
    (network-input units; [-1, 1] per input where the file gives none), every output bounded by eps."""
    net, meta = load_benchmark_json((directory or DATA) / f"{name}.json")
    net = dataclasses.replace(net, normalization=None)
    dom = meta.get("input_domain") or [[-1, 1]] * net.n_inputs
    dom = tuple((Fraction(a), Fraction(b)) for a, b in dom)
    return Problem(f"{name}.nnspec", net, dom, (Fraction(eps),) * net.n_outputs, True, Implementation(**impl), None)


def check_sound(analysis, n_random: int = 10000, n_corners: int = 1024, seed: int = 0) -> float:
    """Simulate the proved design bit-exactly on random + corner inputs; no overflow, and no
    output error above its certified bound (float measurements within 1e-9 of a bound are
    re-checked exactly). Returns the worst observed / certified ratio (the tightness)."""
    qnet, net = analysis.qnet, analysis.problem.network
    sampler = Sampler(qnet, analysis.box, seed)
    x = np.vstack([sampler.uniform(n_random), sampler.corners(n_corners)])
    mant, over_in = quantize_inputs(qnet, x)
    assert not over_in.any(), "input overflow in a proved design"
    res = simulate(qnet, mant)
    assert not res.overflow.any(), f"overflow in a proved design at {res.first_overflow[int(np.argmax(res.overflow))]}"
    y_q = res.outputs_float()
    y_r = net.forward_float(x)
    err = np.abs(y_q - y_r)
    bound = np.array([float(b) for b in analysis.output_errors])
    worst = 0.0
    for j in range(err.shape[1]):
        suspicious = np.nonzero(err[:, j] > bound[j] - 1e-9 * (1 + np.abs(y_r[:, j])))[0]
        for i in suspicious[:20]:
            q = Fraction(int(res.outputs[i, j])) / Fraction(2) ** int(res.output_frac[j])
            real = Fraction(real_output_highprec(net, [Fraction(float(v)) for v in x[i]])[j])
            assert abs(q - real) <= analysis.output_errors[j], (
                f"SOUNDNESS BUG output {j}: error {float(abs(q - real))} > certified {bound[j]}"
            )
        if bound[j] > 0:
            worst = max(worst, float(err[:, j].max() / bound[j]))
        else:
            assert err[:, j].max() <= 1e-12
    return worst
