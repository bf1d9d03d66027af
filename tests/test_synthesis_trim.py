"""The trimming descent after the MILP (synthesis/trim.py): it narrows formats only while the
exact analysis proves the design, so the design it returns is proved, costs no more than the
MILP's, keeps the granularity and the implementation's allowed widths, and holds on bit-exact
simulation; its budget is a count of analyses, never a clock."""

from __future__ import annotations

from dataclasses import replace

from verifq.fixedpoint.design import ROLES
from verifq.fixedpoint.format import FixedFormat
from verifq.synthesis.synthesize import SynthOptions, synthesize
from verifq.synthesis.trim import Move, analyses_budget, narrowed

from test_synthesis_helpers import check_sound, problem


def _synth(p, granularity: str, trim: bool):
    r = synthesize(p, SynthOptions(granularity=granularity, trim=trim))
    assert r.feasible
    return r


def test_trimmed_per_neuron_design_is_proved_cheaper_and_sound():
    p = problem("aster_ACC3NN")
    plain, trimmed = _synth(p, "neuron", False), _synth(p, "neuron", True)
    assert trimmed.analysis.proved and trimmed.max_certified_error <= p.max_error[0]
    assert trimmed.costs.total_bits < plain.costs.total_bits  # 21,485 -> 21,407 bits when measured
    assert any(m.startswith("trimmed: total bits") for m in trimmed.messages)
    assert check_sound(trimmed.analysis) <= 1.0


def test_trimmed_per_layer_design_stays_per_layer():
    p = problem("aster_MountainCarNN")
    r = _synth(p, "layer", True)
    for lf in r.design.layers:
        for role in ROLES:
            assert len(set(getattr(lf, role))) == 1, role
    assert check_sound(r.analysis) <= 1.0


def test_narrowing_keeps_integer_bits_allowed_widths_and_no_negative_fractions():
    p = problem("aster_TestNN")
    d = _synth(p, "neuron", False).design
    lf = d.layers[0]
    one = narrowed(d, Move(0, "weight", 0), None)
    assert one.layers[0].weight[0] == FixedFormat(lf.weight[0].width - 1, lf.weight[0].integer_bits, lf.weight[0].signed)
    assert one.layers[0].weight[1:] == lf.weight[1:] and one.layers[1:] == d.layers[1:]
    assert narrowed(d, Move(0, "weight"), {lf.weight[0].width}) is None  # width - 1 is not an allowed width
    at_zero = replace(d, layers=(replace(lf, bias=tuple(FixedFormat(f.integer_bits, f.integer_bits) for f in lf.bias)),)
                      + d.layers[1:])
    assert narrowed(at_zero, Move(0, "bias"), None) is None  # no fractional bit left to drop


def test_the_budget_counts_analyses_not_seconds():
    assert analyses_budget(1949) == 256 and analyses_budget(13_305) == 37 and analyses_budget(400_906) == 1
    assert analyses_budget(10**9) == 1


def test_the_descent_stops_after_16_failed_steps_in_a_row_and_keeps_the_proved_design():
    from verifq.synthesis.context import Context
    from verifq.synthesis.trim import FAILURES_IN_A_ROW, trim

    p = problem("aster_ACC3NN")
    r = _synth(p, "neuron", False)
    ctx = Context.create(p)

    class NotProved:
        proved = False

    ctx.analyse = lambda design: NotProved()
    design, analysis, used = trim(ctx, r.design, r.analysis, r.cost_model, "neuron")
    assert used == FAILURES_IN_A_ROW == 16 and design is r.design and analysis is r.analysis
