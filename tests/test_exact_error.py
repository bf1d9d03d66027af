"""The exact worst-case error by Z3 (verifq/analysis/exact_error.py): its
bracket [reached, impossible above] must contain the truth. With fixed-point
inputs on a small grid the truth is known by simulating every grid point
(Z3 does not always close the gap within the time limit, but the bracket
must always contain the truth);
with real inputs, sampled inputs must never exceed the upper end."""

from __future__ import annotations

import itertools
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from verifq.analysis.exact_error import ExactErrorUnavailable, exact_output_errors
from verifq.analysis.prove import analyse
from verifq.cli.main import main as cli_main
from verifq.fixedpoint.design import Design, LayerFormats
from verifq.fixedpoint.format import FixedFormat as fx
from verifq.fixedpoint.format import Overflow, Rounding
from verifq.fixedpoint.simulator import simulate
from verifq.network.ir import Activation, DenseLayer, Network
from verifq.problem import Implementation, Problem

F = Fraction
NET = Network("tiny", (
    DenseLayer(((F("0.731"), F("-1.25")), (F("-0.4"), F("0.913")), (F("1.1"), F("0.27"))), (F("0.1"), F("-0.05"), F("0.3")),
               Activation.RELU),
    DenseLayer(((F("0.55"), F("-0.81"), F("0.62")),), (F("0.011"),), Activation.LINEAR),
))
BOX = ((F(-1), F(1)), (F(-1, 2), F(1)))


def _analysis(rounding, fixed_inputs, act=Activation.RELU):
    net = NET if act is Activation.RELU else Network("tiny_tanh", (
        DenseLayer(NET.layers[0].weights, NET.layers[0].bias, act), NET.layers[1]))
    # products w~ x~ have 5 + 3 = 8 fractional bits, accumulators 6: every product is rounded
    layers = tuple(LayerFormats.uniform(layer.n_out, fx(8, 3), fx(8, 3), fx(12, 6), fx(8, 3)) for layer in net.layers)
    design = Design((fx(7, 4),) * 2, layers, rounding, Overflow.WRAP, fixed_inputs)
    problem = Problem("tiny.nnspec", net, BOX, (None,), True, Implementation(rounding, Overflow.WRAP, fixed_inputs), design)
    return analyse(problem, design)


def _true_errors(a, points):
    """|y~ - y| at each input point (network units), exactly."""
    fmt = a.design.inputs
    mant = []
    for p in points:
        row = []
        for x, f in zip(p, fmt):
            t = x * (1 << f.frac_bits)
            row.append((t + F(1, 2)).__floor__() if a.design.rounding is Rounding.NEAREST and not a.design.inputs_fixed
                       else t.__floor__())
        mant.append(row)
    sim = simulate(a.qnet, np.array(mant, dtype=object))
    f_out = int(sim.output_frac[0])
    return [abs(F(int(sim.outputs[i][0]), 1 << f_out) - NET.forward_exact_relu_linear(p)[0]) for i, p in enumerate(points)]


@pytest.mark.parametrize("rounding", list(Rounding))
def test_fixed_point_inputs_exact_error_equals_exhaustive_simulation(rounding):
    a = _analysis(rounding, True)
    assert a.proved
    grid = [[F(k, 8) for k in range(int(lo * 8), int(hi * 8) + 1)] for lo, hi in BOX]
    points = list(itertools.product(*grid))
    truth = max(_true_errors(a, points))
    res = exact_output_errors(a, work=20_000_000)
    o = res.outputs[0]
    assert o.lower <= truth <= o.upper <= a.output_errors[0]
    reached = _true_errors(a, [o.witness])[0]
    assert reached >= o.lower and (o.lower == 0 or reached == o.lower)


@pytest.mark.parametrize("rounding", list(Rounding))
def test_real_inputs_no_sampled_input_exceeds_the_upper_end(rounding):
    a = _analysis(rounding, False)
    res = exact_output_errors(a, work=20_000_000)
    o = res.outputs[0]
    # the bracket need not be closed within the budget: its invariants are asserted
    assert 0 <= o.lower <= o.upper <= a.output_errors[0]
    rng = np.random.default_rng(0)
    points = [tuple(lo + (hi - lo) * F(int(rng.integers(0, 4097)), 4096) for lo, hi in BOX) for _ in range(3000)]
    assert max(_true_errors(a, points)) <= o.upper
    reached = _true_errors(a, [o.witness])[0]
    assert reached >= o.lower and (o.lower == 0 or reached == o.lower)


def test_tanh_networks_are_refused_with_a_reason():
    a = _analysis(Rounding.TRUNCATE, False, Activation.TANH)
    with pytest.raises(ExactErrorUnavailable, match="ReLU/linear"):
        exact_output_errors(a, work=1_000_000)


def test_prove_exact_error_option_prints_and_writes_the_bracket(tmp_path, capsys):
    spec = Path(__file__).resolve().parent.parent / "examples" / "01_inline_tiny"
    spec = next(spec.glob("*.nnspec"))
    out = tmp_path / "r.json"
    code = cli_main(["prove", str(spec), "--exact-error", "8", "--json", str(out)])
    text = capsys.readouterr().out
    assert code in (0, 1)
    assert "exact" in text
    doc = json.loads(out.read_text())
    if doc["exact_error"] is not None:
        for e in doc["exact_error"]:
            assert F(e["lower"]) <= F(e["upper"]) <= F(e["certified"])
