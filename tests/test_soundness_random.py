"""Property-based soundness: on random small networks with random per-neuron
formats, both rounding modes and both overflow modes, real or fixed-point
inputs, whatever the analysis proves the bit-exact simulator confirms --
every stored value inside its claimed range, every neuron within its
certified error of the exact real network."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from soundness_harness import check_layerwise
from verifq.analysis.prove import analyse
from verifq.errors import UserError
from verifq.fixedpoint.design import Design, LayerFormats
from verifq.fixedpoint.format import FixedFormat, Overflow, Rounding
from verifq.network.ir import Activation, DenseLayer, Network
from verifq.spec.problem import Implementation, Problem

decimals = st.integers(-2000, 2000).map(lambda k: Fraction(k, 1000))


@st.composite
def quantized_problems(draw):
    n_in = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    acts = st.sampled_from([Activation.RELU, Activation.LINEAR, Activation.TANH, Activation.SIGMOID])
    layers, prev = [], n_in
    for n in sizes:
        w = tuple(tuple(draw(decimals) for _ in range(prev)) for _ in range(n))
        b = tuple(draw(decimals) for _ in range(n))
        layers.append(DenseLayer(w, b, draw(acts)))
        prev = n
    net = Network("random", tuple(layers))
    box = []
    for _ in range(n_in):
        lo = draw(decimals)
        box.append((lo, lo + Fraction(draw(st.integers(0, 3000)), 1000)))
    rounding = draw(st.sampled_from(list(Rounding)))
    overflow = draw(st.sampled_from(list(Overflow)))
    fixed_inputs = draw(st.booleans())

    def fmt(min_i=3):
        f = draw(st.integers(2, 14))
        i = draw(st.integers(min_i, 9))
        return FixedFormat(f + i, i, True)

    inputs = tuple(fmt() for _ in range(n_in))
    lf = []
    for layer in layers:
        n = layer.n_out
        lf.append(LayerFormats(
            tuple(fmt(2) for _ in range(n)), tuple(fmt() for _ in range(n)),
            tuple(fmt(6) for _ in range(n)), tuple(fmt() for _ in range(n)),
        ))
    design = Design(inputs, tuple(lf), rounding, overflow, fixed_inputs)
    problem = Problem("random.nnspec", net, tuple(box), (None,) * net.n_outputs, True,
                      Implementation(rounding, overflow, fixed_inputs), design)
    return problem, design


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(quantized_problems())
def test_simulator_never_exceeds_what_the_analysis_proves(case):
    problem, design = case
    try:
        analysis = analyse(problem, design)
    except UserError:
        assume(False)  # a fixed-point input interval with no representable value
        return
    if analysis.proved:
        check_layerwise(analysis, n_random=300)


def test_random_problems_do_prove_often_enough():
    """Guard against a vacuous property test: many random designs must prove."""
    from hypothesis import find

    def proves(case):
        try:
            return analyse(*case).proved
        except UserError:
            return False

    find(quantized_problems(), proves, settings=settings(max_examples=200, deadline=None))
