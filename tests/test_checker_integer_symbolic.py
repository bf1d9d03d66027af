"""The integer certificates' symbolic rule (checker_integer_symbolic.py): certificates carry the
relaxation lines of the symbolic accumulator bounds and the checker re-derives those bounds exactly;
a line that is invalid for its step, a tampered line, or a claimed bound below what the lines prove
is INVALID. A hand-made golden certificate (two neurons reading the same input, subtracted) and the
test model through the CLI."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from fractions import Fraction

import pytest

from verifq.certificate.checker import check
from verifq.certificate.checker_core import Invalid, Malformed
from verifq.certificate.checker_integer import canonical_sha
from verifq.certificate.checker_integer_rules import MODES, apply, rnd_div

from test_qonnx import _reference_round, load, run
from test_qonnx_orders import BOX, _write


def _golden() -> dict:
    """x in [0, 4] (codes 0..4); layer 1: two neurons c = x, each code a = round_half_even(relu(c) / 2)
    in {0, 0, 1, 2, 2}; layer 2: a_0 - a_1 (always 0). The interval rule gives [-2, 2] for it; the
    lines a <= c/2 + 1/2 and a >= c/2 - 1/2 give [-1, 1]."""
    requant = {"op": "requant", "kind": "Quant", "multiplier": ["1/2", "1/2"], "zero_point": [0, 0], "scale": ["1", "1"],
               "bits": 8, "signed": False, "narrow": False, "rounding": "ROUND"}
    content = {"input_steps": [{"op": "requant", "kind": "Quant", "multiplier": ["1"], "zero_point": [0], "scale": ["1"],
                                "bits": 0, "signed": True, "narrow": False, "rounding": "ROUND"}],
               "layers": [{"weights": [[1], [1]], "bias": [0, 0], "steps": [{"op": "relu"}, requant]},
                          {"weights": [[1, -1]], "bias": [0], "steps": []}]}
    lines = {"upper_slope": ["1/2", "1/2"], "upper_intercept": ["1/2", "1/2"],
             "lower_slope": ["1/2", "1/2"], "lower_intercept": ["-1/2", "-1/2"]}
    return {"format": "verifq-certificate", "schema_version": 1, "kind": "integer-accumulators",
            "network": {"content": content, "sha256": canonical_sha(content)},
            "domain": [["0", "4"]],
            "implementation": {"order": "bias-first-sequential", "accumulator": "wrap", "widths": [4, 3]},
            "claims": {"inputs": {"code_lo": [0], "code_hi": [4]},
                       "layers": [{"prefix_lo": [0, 0], "prefix_hi": [4, 4], "final_lo": [0, 0], "final_hi": [4, 4]},
                                  {"prefix_lo": [-1], "prefix_hi": [2], "final_lo": [-1], "final_hi": [1],
                                   "lines": [lines]}]},
            "verdict": {"overflow_free": True}}


def _verdict(cert) -> str:
    try:
        check(cert)
        return "VALID"
    except Invalid as e:
        return f"INVALID {e}"


def test_golden_symbolic_claims_tighter_than_the_interval_rule_are_valid():
    cert = _golden()
    assert _verdict(cert) == "VALID"
    # the same claims without the lines: the interval rule gives [-2, 2] only
    del cert["claims"]["layers"][1]["lines"]
    assert "layer 2 partial sums" in _verdict(cert)


def test_golden_line_invalid_for_its_step_is_invalid():
    cert = _golden()
    cert["claims"]["layers"][1]["lines"][0]["lower_intercept"][1] = "0"  # a(1) = 0 < 1/2
    v = _verdict(cert)
    assert v.startswith("INVALID") and "lines" in v and "layer 1 neuron 1" in v and "below the lower line" in v
    cert = _golden()
    cert["claims"]["layers"][1]["lines"][0]["upper_slope"][0] = "1/3"  # a(3) = 2 > 3/3 + 1/2
    v = _verdict(cert)
    assert "above the upper line" in v and "final sum 3" in v


def test_golden_claim_below_what_the_lines_prove_is_invalid():
    cert = _golden()
    cert["claims"]["layers"][1]["final_hi"] = [0]  # true (a_0 - a_1 = 0) but not what these lines prove
    v = _verdict(cert)
    assert "layer 2 partial sums" in v and "the final sum reaches 1" in v
    cert = _golden()
    cert["claims"]["layers"][1]["prefix_lo"] = [0]
    assert "partial sum 2 reaches -1" in _verdict(cert)
    cert = _golden()  # valid but looser lines no longer prove the claims
    cert["claims"]["layers"][1]["lines"][0]["upper_intercept"] = ["1", "1"]
    assert "layer 2 partial sums" in _verdict(cert)


def test_golden_malformed_lines_are_refused():
    cert = _golden()
    cert["claims"]["layers"][1]["lines"][0]["upper_slope"] = ["1/2"]  # one per neuron of layer 1
    with pytest.raises(Malformed):
        check(cert)
    cert = _golden()
    cert["claims"]["layers"][1]["lines"][0]["upper_slope"][0] = 0.5  # JSON floats are not exact rationals
    with pytest.raises(Malformed):
        check(cert)
    cert = _golden()
    cert["claims"]["layers"][0]["lines"] = []  # the first layer has no earlier layer
    with pytest.raises(Malformed):
        check(cert)


@pytest.mark.parametrize("mode", MODES)
def test_integer_rounding_equals_the_rational_definition(mode):
    for n in range(-40, 41):
        for d in (1, 2, 3, 4, 7, 8):
            assert rnd_div(n, d, mode) == _reference_round(Fraction(n, d), mode), (n, d, mode)


# -- the test model through the CLI ------------------------------------------------------------------------------

def _symbolic_cert(tmp_path, capsys, text="implementation { max accumulator = 17 }"):
    cert = tmp_path / "c.json"
    code, out, _ = run(capsys, "prove", _write(tmp_path, text), "--ranges", "symbolic", "--cert", cert)
    assert code == 0 and "certificate written" in out
    return json.loads(cert.read_text())


@pytest.mark.parametrize("order", ["sequential", "bias_last", "split_sign"])
def test_symbolic_certificate_claims_the_symbolic_bounds_and_checks(tmp_path, capsys, order):
    from verifq.analysis.accumulators_symbolic import symbolic_bounds

    doc = _symbolic_cert(tmp_path, capsys, f"implementation {{ max accumulator = 17 accumulator order = {order} }}")
    sym = symbolic_bounds(load(), BOX, orders=[order] * 3)
    for c, b in zip(doc["claims"]["layers"], sym):
        assert (c["prefix_lo"], c["prefix_hi"], c["final_lo"], c["final_hi"]) == \
            (list(b.prefix_lo), list(b.prefix_hi), list(b.final_lo), list(b.final_hi))
    assert "lines" in doc["claims"]["layers"][1]
    assert _verdict(doc) == "VALID"


def test_tampered_line_of_the_test_model_is_invalid(tmp_path, capsys):
    doc = _symbolic_cert(tmp_path, capsys)
    claims = doc["claims"]["layers"]
    lines = claims[1]["lines"][0]
    j = 0
    u = claims[0]["final_hi"][j]  # the step's code at the top of the claimed final sums
    code = u
    for s in doc["network"]["content"]["layers"][0]["steps"]:
        code = apply(s, j, code)
    bad = copy.deepcopy(doc)  # the upper line one below the code at u
    bad["claims"]["layers"][1]["lines"][0]["upper_intercept"][j] = str(code - Fraction(lines["upper_slope"][j]) * u - 1)
    assert "lines" in _verdict(bad) and "above the upper line" in _verdict(bad)
    bad = copy.deepcopy(doc)  # valid but looser lines: the claims they proved fail
    bad["claims"]["layers"][1]["lines"][0]["upper_intercept"] = [str(Fraction(v) + 1000) for v in lines["upper_intercept"]]
    bad["claims"]["layers"][1]["lines"][0]["lower_intercept"] = [str(Fraction(v) - 1000) for v in lines["lower_intercept"]]
    assert "layer 2 partial sums" in _verdict(bad)


def test_claim_below_the_symbolic_bound_of_the_test_model_is_invalid(tmp_path, capsys):
    from verifq.analysis.accumulators import analyse_bounds

    doc = _symbolic_cert(tmp_path, capsys)
    interval = analyse_bounds(load(), BOX, None)[1]
    c = doc["claims"]["layers"][1]
    j = next(j for j in range(len(c["final_hi"])) if c["final_hi"][j] < interval.final_hi[j])  # symbolic tightened
    bad = copy.deepcopy(doc)
    bad["claims"]["layers"][1]["final_hi"][j] -= 5  # the claim is the exact bound + at most 2 (outward rounding)
    assert f"neuron {j}: the final sum reaches" in _verdict(bad)


def test_writer_falls_back_to_the_interval_rule_past_the_work_budget():
    from verifq.analysis.quantized_prove import QuantizedAnalysis
    from verifq.analysis.accumulators_symbolic import symbolic_bounds
    from verifq.certificate.accumulators import accumulator_certificate, certified_analysis

    q, lines = load(), []
    sym = symbolic_bounds(q, BOX, lines_out=lines)
    a = QuantizedAnalysis(q, BOX, (None,) * 3, ("wrap",) * 3, tuple(sym), (), (), (None,) * q.n_outputs, lines=tuple(lines))
    same, note = certified_analysis(a)
    assert same is a and not note
    low, note = certified_analysis(a, budget=10)
    assert "interval rule's bounds from layer 2" in note and low.bounds[0] == a.bounds[0]
    assert all(x is None for x in low.lines[1:]) and low.bounds[1] != a.bounds[1]
    doc = accumulator_certificate(replace(low, widths=tuple(max(b.widths()) for b in low.bounds)))
    assert not any("lines" in c for c in doc["claims"]["layers"]) and _verdict(doc) == "VALID"


def test_synth_certifies_the_proven_widths(tmp_path, capsys):
    code, out, _ = run(capsys, "synth", _write(tmp_path, ""), "--json", tmp_path / "s.json", "--cert", tmp_path / "c.json")
    assert code == 0
    m = json.loads((tmp_path / "s.json").read_text())["minimal_widths"]
    assert m["certified_per_layer"] == m["per_layer"]
    assert run(capsys, "check", tmp_path / "c.json")[0] == 0
