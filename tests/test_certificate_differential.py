"""Certificates with the differential error rule (TIGHT_RULES.md section 6): the checker re-derives
its claims (first-order intersected with the differential back-substitution) on every certificate
case, random networks and deep benchmark networks; tampered claims are rejected."""

from __future__ import annotations

import copy
from fractions import Fraction
from pathlib import Path

import pytest

from test_certificate_cases import CASES
from test_certificate_tight import _random_problem, verdict
from verifq.analysis.prove import analyse
from verifq.analysis.wide import wide_uniform_analysis, without_error_requirement
from verifq.certificate.writer import build_certificate
from verifq.language.benchmark import problem_from_benchmark
from verifq.network.ir import Activation

NETWORKS = Path(__file__).resolve().parent.parent / "specs" / "networks"


def diff_cert(a):
    cert = build_certificate(a)
    assert cert["analysis"]["certified_with"] == {"range_method": "symbolic", "error_method": "differential"}
    assert all(lc["error_rule"] == "differential" for lc in cert["claims"]["layers"])
    return cert


def _case(name):
    p = CASES[name]()
    a = analyse(p, p.design, error_method="differential")
    assert a.proved
    return a


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_case_certifies_with_the_differential_rule(name):
    a = _case(name)
    fo = analyse(a.problem, a.design)
    assert all(x <= y for x, y in zip(a.output_errors, fo.output_errors))
    assert verdict(diff_cert(a)) == "VALID"


@pytest.mark.parametrize("seed, hidden", [(s, (Activation.RELU,)) for s in range(10)]
                         + [(s, (Activation.RELU, Activation.TANH, Activation.SIGMOID)) for s in range(100, 110)])
def test_random_networks(seed, hidden):
    p = _random_problem(seed, hidden)
    try:
        a = analyse(p, p.design, error_method="differential")
    except Exception as exc:
        pytest.skip(str(exc))
    if not a.proved:
        pytest.skip("random design does not prove")
    assert verdict(diff_cert(a)) == "VALID"


@pytest.fixture(scope="module")
def deep_cert():
    problem = without_error_requirement(problem_from_benchmark(NETWORKS / "aster_ACC5NN.json"))
    a = wide_uniform_analysis(problem, 16, error_method="differential")
    fo = analyse(a.problem, a.design)
    assert max(a.output_errors) * 3 <= max(fo.output_errors)
    return diff_cert(a)


def test_deep_relu_network_certificate_checks(deep_cert):
    assert verdict(deep_cert) == "VALID"


def _tamper(cert, L, key, j, delta):
    c = copy.deepcopy(cert)
    h = c["claims"]["layers"][L]["hints"]["errors"]
    h[key][j] = str(Fraction(h[key][j]) + delta)
    return c


@pytest.mark.parametrize("key,delta", [("d_out_hi", -1), ("d_out_lo", 1), ("d_pre_hi", -1), ("d_acc_lo", 1)])
def test_tightened_hidden_error_interval_is_rejected(deep_cert, key, delta):
    """An interval tighter than the derived one (by a fraction of its width) fails at its layer."""
    h = deep_cert["claims"]["layers"][2]["hints"]["errors"]
    base = key[:-3]
    width = Fraction(h[base + "_hi"][0]) - Fraction(h[base + "_lo"][0])
    assert verdict(_tamper(deep_cert, 2, key, 0, delta * width / 4)).startswith("layer 3")


def test_tampered_output_error_and_level_are_rejected(deep_cert):
    c = copy.deepcopy(deep_cert)
    last = c["claims"]["layers"][-1]
    last["err_out"][0] = str(Fraction(last["err_out"][0]) / 2)
    assert verdict(c) != "VALID"
    c = copy.deepcopy(deep_cert)
    c["claims"]["layers"][3]["hints"]["errors"]["diff_level"] = 7
    assert verdict(c).startswith("layer 4")


def test_first_order_alone_cannot_justify_differential_claims(deep_cert):
    c = copy.deepcopy(deep_cert)
    c["claims"]["layers"][2]["error_rule"] = "first_order"
    assert verdict(c) == "layer 3 errors"


def test_back_substitution_into_a_layer_without_the_rule_is_invalid_not_a_crash(deep_cert):
    c = copy.deepcopy(deep_cert)
    c["claims"]["layers"][0]["error_rule"] = "first_order"  # layer 1: both rules derive the same intervals
    assert verdict(c) == "layer 2 errors"


def test_standalone_checker_script_with_the_differential_rule(tmp_path):
    """The four checker files, copied on their own, check a differential certificate (standard library only)."""
    import json
    import shutil
    import subprocess
    import sys

    from verifq.certificate import report

    src = Path(report.__file__).resolve().parent
    for f in report.CHECKER_FILES:
        shutil.copy(src / f, tmp_path / f)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(diff_cert(_case("tanh_hls4ml_table"))))
    r = subprocess.run([sys.executable, "-I", str(tmp_path / "checker.py"), str(path), "-v"], capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "differential" in r.stdout and r.stdout.strip().splitlines()[-1] == "VALID"
