"""Property-based soundness: on random small networks with random per-neuron
formats, both rounding modes and both overflow modes, real or fixed-point
inputs, whatever the analysis proves the bit-exact simulator confirms --
every stored value inside its claimed range, every neuron within its
certified error of the exact real network."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings

from soundness_harness import check_layerwise
from strategies import quantized_problems
from verifq.analysis.prove import analyse
from verifq.errors import UserError

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
