"""`verifq synth` core: every synthesized design is proved by the exact analysis
and never exceeds its certified bound on >= 10,000 random + corner inputs of
the bit-exact simulator; granularities are ordered in cost; hardware targets,
both rounding and overflow modes, fixed-point inputs, infeasible requests and
the cost models behave as documented."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from test_synthesis_helpers import check_sound, problem
from verifq.fixedpoint.format import FixedFormat, Overflow, Rounding
from verifq.problem import CostModel
from verifq.synthesis import SynthOptions, synthesize
from verifq.synthesis.cost import design_costs, dsp_slices

SMALL = ["aster_SmallNN", "aster_TestNN", "aster_InvPendulumNN", "aster_LyapunovNN", "aster_MountainCarNN"]


def _synth(p, **kw):
    kw.setdefault("time_limit", 30)
    return synthesize(p, SynthOptions(**kw))


# tanh/sigmoid networks with hls4ml's lookup tables: 1e-3 is out of reach (the table's clamp at +-R and its
# bucket width bound the error), so they are asked for what their tables allow
LOOKUP = {"reachnn_1_sigmoid": dict(eps=Fraction(8, 1000), max_table_size=1 << 14),
          "archcomp22_tora_relu_tanh_3x20": dict(eps=Fraction(2, 1000), max_table_size=1 << 13)}


@pytest.mark.parametrize("name", SMALL + ["reachnn_1_sigmoid", "reachnn_2_relu", "archcomp22_tora_relu_tanh_3x20"])
@pytest.mark.parametrize("how", [("milp", "layer"), ("milp", "neuron"), ("uniform", None), ("aster", None)])
def test_synthesized_designs_are_proved_and_sound(name, how):
    method, gran = how
    p = problem(name, **LOOKUP.get(name, {}))
    r = _synth(p, method=method, granularity=gran)
    assert r.feasible, r.reason
    assert r.analysis.proved
    assert max(r.analysis.output_errors) <= p.max_error[0]
    if name in LOOKUP:  # the tables were chosen (and shrunk) with the formats
        assert all(lf.table is not None and lf.table.size <= p.implementation.max_table_size
                   for lf, layer in zip(r.design.layers, p.network.layers) if layer.activation.value != "relu")
    # the result's analysis is a fresh exact analysis of the returned design
    assert r.analysis.design == r.design
    ratio = check_sound(r.analysis)
    assert ratio <= 1.0


@pytest.mark.parametrize("name", ["aster_ACC3NN", "aster_MountainCarNN", "reachnn_2_relu"])
def test_per_neuron_costs_no_more_than_per_layer_no_more_than_uniform(name):
    p = problem(name)
    uni = _synth(p, method="uniform")
    lay = _synth(p, granularity="layer", seeds=(uni.design,))
    neu = _synth(p, granularity="neuron", seeds=(lay.design,))
    assert neu.costs.total_bits <= lay.costs.total_bits <= uni.costs.total_bits


def test_granularities_shape_the_formats():
    p = problem("aster_MountainCarNN")
    uni = _synth(p, method="uniform")
    fmts = set(uni.design.inputs)
    for lf in uni.design.layers:
        for _, f in lf.roles():
            fmts |= set(f)
    assert len(fmts) == 1
    lay = _synth(p, granularity="layer")
    for lf in lay.design.layers:
        for _, f in lf.roles():
            assert len(set(f)) == 1
    ast = _synth(p, method="aster")
    for lf in ast.design.layers:  # Aster: one fractional-bit count per layer for every role
        assert len({f.frac_bits for _, fs in lf.roles() for f in fs}) == 1


def test_nearest_rounding_saturate_and_fixed_inputs():
    p = problem("aster_InvPendulumNN", rounding=Rounding.NEAREST, overflow=Overflow.SATURATE)
    r = _synth(p, granularity="neuron")
    assert r.feasible and r.analysis.proved and r.design.rounding is Rounding.NEAREST
    check_sound(r.analysis)
    fmt = FixedFormat(16, 4)
    p2 = problem("aster_InvPendulumNN", inputs_fixed=True, input_format=fmt)
    r2 = _synth(p2, granularity="layer")
    assert r2.feasible and r2.design.inputs == (fmt,) * 4 and r2.design.inputs_fixed
    check_sound(r2.analysis)


def test_hardware_targets_are_respected():
    p = problem("aster_MountainCarNN", eps=Fraction(1, 100), max_accumulator=24, allowed_widths=(8, 16))
    r = _synth(p, granularity="neuron")
    assert r.feasible, r.reason
    d = r.design
    assert all(f.width in (8, 16) for f in d.inputs)
    for lf in d.layers:
        assert all(f.width <= 24 for f in lf.accum)
        assert all(f.width in (8, 16) for f in (*lf.weight, *lf.output))
    check_sound(r.analysis)


def test_a_target_that_cannot_meet_the_bound_is_reported_with_the_achievable_bound():
    p = problem("aster_MountainCarNN", eps=Fraction(1, 10**7), max_accumulator=12, allowed_widths=(8,))
    r = _synth(p, granularity="neuron")
    assert not r.feasible
    assert r.achievable is not None and max(r.achievable) > Fraction(1, 10**7)
    assert "max accumulator 12" in r.reason


def test_infeasible_bound_gives_the_smallest_certifiable_bound():
    p = problem("aster_SmallNN", eps=Fraction(1, 10**12), max_word=12)
    for gran in ("layer", "neuron", "uniform"):
        r = _synth(p, granularity=gran)
        assert not r.feasible and r.design is None
        assert r.achievable and all(a > Fraction(1, 10**12) for a in r.achievable)
        assert "below what" in r.reason


@pytest.mark.parametrize("cost", [CostModel.WEIGHT_BITS, CostModel.MULTIPLIER_AREA, CostModel.DSP])
def test_cost_models(cost):
    p = problem("aster_InvPendulumNN")
    base = _synth(p, granularity="layer")
    r = _synth(p, granularity="layer", cost=cost)
    assert r.feasible and r.analysis.proved and r.cost_model is cost
    # optimising a cost model never does clearly worse on it than optimising total bits
    assert r.costs.get(cost) <= base.costs.get(cost) * 1.03 + 1


def test_cost_definitions_by_hand():
    from verifq.fixedpoint.design import Design, LayerFormats
    from verifq.network.ir import Activation, DenseLayer, Network

    net = Network("t", (DenseLayer(((Fraction(1), Fraction(0)), (Fraction(2), Fraction(3))), (Fraction(0), Fraction(1)), Activation.RELU),
                        DenseLayer(((Fraction(1), Fraction(1)),), (Fraction(0),), Activation.LINEAR)))
    a, b, c, o = FixedFormat(8, 2), FixedFormat(10, 3), FixedFormat(20, 6), FixedFormat(12, 4, False)
    w2 = FixedFormat(30, 2)
    d = Design((FixedFormat(6, 2),) * 2, (LayerFormats.uniform(2, a, b, c, o), LayerFormats.uniform(1, w2, b, c, FixedFormat(12, 4))))
    cost = design_costs(net, d)
    # inputs 2*6; layer 1: 2*(2*8 + 10 + 20 + 12); layer 2: 2*30 + 10 + 20 + 12
    assert cost.total_bits == 12 + 2 * (16 + 42) + (60 + 42)
    assert cost.weight_bits == 2 * (16 + 10) + (60 + 10)
    # 3 nonzero weights in layer 1 times 6-bit inputs; 2 in layer 2 times 12-bit outputs
    assert cost.multiplier_area == 3 * 8 * 6 + 2 * 30 * 12
    assert cost.dsp == 3 * dsp_slices(8, 6) + 2 * dsp_slices(30, 12) == 3 + 2 * 2
    assert dsp_slices(27, 18) == 1 and dsp_slices(18, 27) == 1 and dsp_slices(27, 27) == 2 and dsp_slices(36, 36) == 4


def test_solver_answer_is_repaired_when_the_model_is_optimistic():
    """A model tolerance that misses the bound is repaired by adding bits, never trusted."""
    from verifq.synthesis.context import Context
    from verifq.synthesis.model import ModelConfig, SynthesisModel
    from verifq.synthesis.synthesize import repair

    p = problem("aster_InvPendulumNN")
    ctx = Context.create(p)
    m = SynthesisModel(p, ctx.ranges, ctx.x_lo, ctx.x_hi, ModelConfig("layer"))
    m.build()
    # a deliberately too coarse choice: every fractional bit count at its lowest candidate
    choices = m.least_precise_choices()
    design, a, notes = repair(ctx, m, choices)
    assert design is not None and a.proved and notes
    check_sound(a, n_random=3000, n_corners=64)


def test_time_limit_keeps_the_best_solution_and_reports_the_gap():
    p = problem("aster_ACC3NN")
    r = _synth(p, granularity="neuron", time_limit=0.2)
    assert r.feasible and r.analysis.proved
    assert r.solver_status in ("optimal", "feasible")
    assert r.gap is not None


SPEC_NETS = Path(__file__).resolve().parent.parent / "specs" / "networks"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["aster_AC6", "aster_VertCasNN", "archcomp22_attitude_control_sigmoid_3x64"])
def test_benchmark_size_networks_per_neuron_are_sound(name):
    src = SPEC_NETS / f"{name}.json"
    if not src.exists():
        pytest.skip(f"{src} not in this checkout")
    p = problem(name, directory=SPEC_NETS)
    lay = _synth(p, granularity="layer")
    neu = _synth(p, granularity="neuron", seeds=(lay.design,), seeds_replace_layer=True)
    assert neu.feasible and neu.analysis.proved
    assert neu.costs.total_bits <= lay.costs.total_bits
    check_sound(neu.analysis)


def test_the_driver_uses_only_the_models_public_interface():
    """synthesize.py (and its repair.py) talk to SynthesisModel through its public methods and
    properties only, and the facade has no public member the driver does not need."""
    import ast
    import importlib

    from verifq.synthesis.model import SynthesisModel

    driver = importlib.import_module("verifq.synthesis.synthesize")  # the package's `synthesize` is the function
    repair = importlib.import_module("verifq.synthesis.repair")

    public = {n for n in dir(SynthesisModel) if not n.startswith("_")}
    used = set()
    trees = [ast.parse(Path(mod.__file__).read_text(encoding="utf-8")) for mod in (driver, repair)]
    for node in (n for tree in trees for n in ast.walk(tree)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("model", "m2"):
            used.add(node.attr)
    assert used, "no model calls found"
    assert used <= public, sorted(used - public)
    assert public <= used, f"public but unused by the driver (keep the facade thin): {sorted(public - used)}"
