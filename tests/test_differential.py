"""The differential error rule (analysis/differential.py): sound on random designs
and on real networks (bit-exact simulation, coarse formats so that the real and the
quantized network take different ReLU branches, tanh/sigmoid with hls4ml tables),
never looser than first_order, and its ReLU / tanh / sigmoid difference lines hold."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings

from soundness_harness import check_layerwise, check_outputs_with_search
from strategies import quantized_problems
from verifq.analysis.differential import diff_lines
from verifq.analysis.prove import analyse
from verifq.analysis.smooth import smooth_down, smooth_up
from verifq.analysis.wide import wide_uniform_analysis, without_error_requirement
from verifq.errors import UserError
from verifq.fixedpoint.format import FixedFormat, Overflow, Rounding
from verifq.fixedpoint.design import TableSpec
from verifq.language.benchmark import problem_from_benchmark
from verifq.network.ir import Activation
from verifq.numeric.scaled import PRECISION

NETWORKS = Path(__file__).resolve().parent.parent / "specs" / "networks"
ONE = 1 << PRECISION


def _le_first_order(a, b):
    """Every neuron's error bounds of `a` (differential) are <= those of `b` (first_order)."""
    for la, lb in zip(a.layers, b.layers):
        for f in ("err_acc", "err_pre", "err_out"):
            assert all(int(x) <= int(y) for x, y in zip(getattr(la.errors, f), getattr(lb.errors, f))), (la.index, f)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(quantized_problems(max_layers=4))
def test_random_designs_never_exceed_the_differential_bound(case):
    problem, design = case
    try:
        a = analyse(problem, design, error_method="differential")
    except UserError:
        assume(False)
        return
    b = analyse(problem, design)
    _le_first_order(a, b)
    if a.proved:
        check_layerwise(a, n_random=300)


def test_relu_difference_lines_hold():
    rng = random.Random(1)
    for _ in range(400):
        zl = rng.randint(-40, 30)
        zu = zl + rng.randint(0, 40)
        el = rng.randint(-20, 10)
        eu = el + rng.randint(0, 20)
        s = ONE >> 4  # grid of 1/16
        ls, lc, us, uc, dlo, dhi = diff_lines(Activation.RELU, zl * s, zu * s, el * s, eu * s, 0, 0)
        for z in range(zl, zu + 1):
            for e in range(el, eu + 1):
                g = (max(z + e, 0) - max(z, 0)) * s
                assert dlo <= g <= dhi
                assert ls * e * s + (lc << 32) <= g << 32 <= us * e * s + (uc << 32)


@pytest.mark.parametrize("act", [Activation.TANH, Activation.SIGMOID])
def test_smooth_difference_lines_hold(act):
    rng = random.Random(2)
    s = ONE >> 6
    for _ in range(60):
        zl = rng.randint(-300, 300)
        zu = zl + rng.randint(0, 200)
        el = rng.randint(-30, 10)
        eu = el + rng.randint(0, 30)
        ls, lc, us, uc, dlo, dhi = diff_lines(act, zl * s, zu * s, el * s, eu * s, 0, 0)
        for z in range(zl, zu + 1, max(1, (zu - zl) // 12)):
            for e in range(el, eu + 1, max(1, (eu - el) // 8)):
                lo = smooth_down(act, (z + e) * s) - smooth_up(act, z * s)
                hi = smooth_up(act, (z + e) * s) - smooth_down(act, z * s)
                assert dlo <= hi and lo <= dhi
                assert (ls * e * s + (lc << 32)) <= (hi << 32) + (1 << 40)
                assert (lo << 32) - (1 << 40) <= us * e * s + (uc << 32)


def _coarse(name, frac, rounding=Rounding.TRUNCATE, overflow=Overflow.WRAP, fixed=False, table=None):
    problem = without_error_requirement(problem_from_benchmark(NETWORKS / f"{name}.json"))
    a = wide_uniform_analysis(problem, frac, rounding, overflow, fixed, error_method="differential")
    assert a.proved, [v.describe() for v in a.violations[:3]]
    if table is not None:
        from dataclasses import replace

        layers = tuple(replace(lf, table=table) if problem.network.layers[i].activation.value in ("tanh", "sigmoid")
                       else lf for i, lf in enumerate(a.design.layers))
        design = replace(a.design, layers=layers)
        a = analyse(a.problem, design, error_method="differential")
        assert a.proved, [v.describe() for v in a.violations[:3]]
    return a


# coarse formats: the quantized and the real network take different ReLU branches on many inputs
REAL = [
    ("aster_ACC5NN", 6, Rounding.TRUNCATE, Overflow.WRAP, False, None),
    ("aster_ACC7NN", 8, Rounding.NEAREST, Overflow.SATURATE, False, None),
    ("aster_MpcNN", 5, Rounding.TRUNCATE, Overflow.WRAP, True, None),
    ("archcomp22_vcas_pra01_relu_5x20", 6, Rounding.NEAREST, Overflow.WRAP, False, None),
    ("acasxu_run2a_1_1", 8, Rounding.TRUNCATE, Overflow.WRAP, False, None),
    ("reachnn_1_relu_tanh", 6, Rounding.TRUNCATE, Overflow.WRAP, False,
     TableSpec(1024, FixedFormat(18, 8), Rounding.TRUNCATE, Overflow.WRAP)),
    ("reachnn_3_sigmoid", 7, Rounding.NEAREST, Overflow.SATURATE, False,
     TableSpec(256, FixedFormat(12, 2), Rounding.NEAREST, Overflow.WRAP)),
    ("archcomp22_tora_relu_tanh_3x20", 8, Rounding.TRUNCATE, Overflow.WRAP, True, None),
]


@pytest.mark.parametrize("name,frac,rounding,overflow,fixed,table", REAL, ids=[r[0] for r in REAL])
def test_real_networks_never_exceed_the_differential_bound(name, frac, rounding, overflow, fixed, table):
    a = _coarse(name, frac, rounding, overflow, fixed, table)
    b = analyse(a.problem, a.design)
    _le_first_order(a, b)
    check_layerwise(a, n_random=3000)
    obs = check_outputs_with_search(a, n_random=5000)
    assert max(obs.max_error) > 0


ROOT = Path(__file__).resolve().parent.parent
PENDULUM = ROOT / "examples" / "02_onnx_pendulum" / "pendulum.nnspec"


def _run(capsys, *argv):
    from verifq.cli.main import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_prove_errors_differential_certifies_its_own_claims(capsys, tmp_path):
    """--errors differential: a bound <= the default's, labelled as re-derived by the checker (text and
    JSON); the certificate records the differential claims, which the checker accepts."""
    import json

    from verifq.cli.main import main

    code, out, _ = _run(capsys, "prove", PENDULUM, "--json", tmp_path / "fo.json")
    assert code == 0
    cert = tmp_path / "c.json"
    code, out, _ = _run(capsys, "prove", PENDULUM, "--errors", "differential", "--json", tmp_path / "d.json",
                        "--cert", cert)
    assert code == 0, out
    assert "the independent checker re-derives it" in out and "note:" not in out
    fo = json.loads((tmp_path / "fo.json").read_text())
    df = json.loads((tmp_path / "d.json").read_text())
    assert df["error_method"] == "differential" and df["checker_rederivable_errors"] is True
    assert float(df["outputs"][0]["certified_error_float"]) <= float(fo["outputs"][0]["certified_error_float"])
    doc = json.loads(cert.read_text())
    assert doc["analysis"]["certified_with"]["error_method"] == "differential"
    capsys.readouterr()
    assert main(["check", str(cert)]) == 0


def test_split_with_the_differential_rule_is_sound_and_never_looser():
    from verifq.analysis.split import analyse_split

    a = _coarse("aster_ACC5NN", 6)
    s = analyse_split(a.problem, a.design, 16, goal="tighten", error_method="differential")
    assert len(s.leaves) == 16
    assert all(x <= y for x, y in zip(s.output_errors, a.output_errors))
    check_outputs_with_search(s, n_random=3000)


@pytest.mark.parametrize("name,factor", [("aster_ACC5NN", 3), ("archcomp22_acc_relu_5x20", 5)])
def test_differential_rule_is_much_tighter_on_deep_relu_networks(name, factor):
    problem = without_error_requirement(problem_from_benchmark(NETWORKS / f"{name}.json"))
    a = wide_uniform_analysis(problem, 16)
    b = analyse(a.problem, a.design, error_method="differential")
    assert max(b.output_errors) * factor <= max(a.output_errors)


def test_differential_with_interval_ranges_falls_back_to_checkable_claims(capsys, tmp_path):
    from verifq.cli.main import main

    cert = tmp_path / "c.json"
    code, out, _ = _run(capsys, "prove", PENDULUM, "--errors", "differential", "--ranges", "interval", "--cert", cert)
    assert code == 0, out
    assert "NOT re-derivable by the checker with interval ranges" in out and "note:" in out
    capsys.readouterr()
    assert main(["check", str(cert)]) == 0
