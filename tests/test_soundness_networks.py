"""Soundness on real benchmark networks: with a uniform design wide enough to
prove no overflow, the bit-exact simulator (random inputs, box corners and
the error-maximising search) never sees an error or overflow beyond what
the analysis certified. The full sweep over every network is
benchmarks/soundness.py; the slow test below runs it on all of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from soundness_harness import check_layerwise, check_outputs_with_search
from verifq.analysis.wide import wide_uniform_analysis, without_error_requirement
from verifq.fixedpoint.format import Overflow, Rounding
from verifq.language.benchmark import problem_from_benchmark

NETWORKS = Path(__file__).resolve().parent.parent / "specs" / "networks"
SMALL = ["aster_SmallNN", "aster_InvPendulumNN", "aster_MountainCarNN", "reachnn_1_tanh", "reachnn_3_sigmoid",
         "archcomp22_single_pendulum_relu_2x25"]
CONFIGS = [(Rounding.TRUNCATE, Overflow.WRAP, False), (Rounding.NEAREST, Overflow.SATURATE, True)]


def _analysis(name, rounding, overflow, fixed_inputs, frac=14):
    problem = without_error_requirement(problem_from_benchmark(NETWORKS / f"{name}.json"))
    a = wide_uniform_analysis(problem, frac, rounding, overflow, fixed_inputs)
    assert a.proved, [v.describe() for v in a.violations[:3]]
    return a


@pytest.mark.parametrize("rounding,overflow,fixed_inputs", CONFIGS, ids=["trn-wrap-real", "rnd-sat-fixed"])
@pytest.mark.parametrize("name", SMALL)
def test_every_neuron_stays_within_its_certified_bound(name, rounding, overflow, fixed_inputs):
    check_layerwise(_analysis(name, rounding, overflow, fixed_inputs), n_random=1500)


@pytest.mark.parametrize("name", ["aster_SmallNN", "aster_InvPendulumNN", "archcomp22_single_pendulum_relu_2x25"])
def test_ten_thousand_inputs_and_the_error_search_stay_below_the_certified_bound(name):
    a = _analysis(name, Rounding.TRUNCATE, Overflow.WRAP, False)
    obs = check_outputs_with_search(a, n_random=10000)
    assert obs.n_inputs >= 10000
    # the search must find errors of the right order: a bound that is never approached is suspicious
    assert max(obs.max_error) > 0


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(NETWORKS.glob("*.json")), ids=lambda p: p.stem)
def test_all_benchmark_networks_are_sound(path):
    problem = without_error_requirement(problem_from_benchmark(path))
    if problem.network.parameter_count > 50000:
        pytest.skip("over 50k parameters: covered by benchmarks/soundness.py")
    a = wide_uniform_analysis(problem, 16)
    assert a.proved
    check_outputs_with_search(a, n_random=10000)
