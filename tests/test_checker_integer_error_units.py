"""The integer certificates' error rule (checker_integer_rules.check_errors) must not accept a bound
that the integer network's true outputs exceed: hand-made one-neuron networks whose units,
multipliers or activations disagree with the float reference (each accepted before the fix),
evaluated exactly at the domain's ends."""

from __future__ import annotations

import copy
from fractions import Fraction

import pytest

from verifq.certificate.checker import check
from verifq.certificate.checker_core import Invalid
from verifq.certificate.checker_integer import canonical_sha
from verifq.certificate.checker_integer_rules import apply


def _requant(multiplier, scale, kind="Quant"):
    return {"op": "requant", "kind": kind, "multiplier": [multiplier], "zero_point": [0], "scale": [scale],
            "bits": 0, "signed": True, "narrow": False, "rounding": "ROUND"}


def _cert(*, in_scale="1", unit="1", in_unit="1", steps=(), activation="linear", claim="1/2", ref_weight="1"):
    content = {
        "input_steps": [_requant("1", in_scale)],
        "layers": [{"weights": [[1]], "bias": [0], "unit": [unit], "in_unit": in_unit, "steps": list(steps)}],
        "reference": {"layers": [{"weights": [[ref_weight]], "bias": ["0"], "activation": activation}]}}
    return {"format": "verifq-certificate", "schema_version": 1, "kind": "integer-accumulators",
            "network": {"content": content, "sha256": canonical_sha(content)},
            "domain": [["-8", "0"]],
            "implementation": {"order": "bias-first-sequential", "accumulator": "wrap", "widths": [None]},
            "claims": {"inputs": {"code_lo": [-8], "code_hi": [0]},
                       "layers": [{"prefix_lo": [-8], "prefix_hi": [0], "final_lo": [-8], "final_hi": [0]}],
                       "errors": [claim]},
            "requirements": {"max_error": [None]},
            "verdict": {"overflow_free": True}}


XS = (-8, -4, Fraction(-1, 2), 0)  # the domain's ends, its middle, a rounding tie


def _true_error(cert, x) -> Fraction:
    """|integer output value - reference output| at the real input x (exact)."""
    n = cert["network"]["content"]
    c = apply(n["input_steps"][0], 0, Fraction(x), exact=True)
    layer = n["layers"][0]
    a, u = layer["bias"][0] + layer["weights"][0][0] * c, Fraction(layer["unit"][0])
    for s in layer["steps"]:
        a = apply(s, 0, a)
        if s["op"] != "relu":
            u = Fraction(s["scale"][0])
    r = Fraction(n["reference"]["layers"][0]["weights"][0][0]) * x + Fraction(n["reference"]["layers"][0]["bias"][0])
    if n["reference"]["layers"][0]["activation"] == "relu":
        r = max(r, Fraction(0))
    return abs(a * u - r)


def test_consistent_one_neuron_certificate_is_valid_and_true():
    cert = _cert()
    check(cert)
    assert max(_true_error(cert, x) for x in XS) <= Fraction(1, 2)


MISMATCHES = {
    # the reference has a ReLU, the integer network none: outputs down to -8 against 0
    "reference relu, integer linear": dict(activation="relu"),
    # the integer network has a ReLU, the reference none: 0 against -8
    "integer relu, reference linear": dict(steps=[{"op": "relu"}]),
    # the layer says one input code is worth 2, the input quantizer's codes are worth 1
    "in_unit not the input codes' unit": dict(unit="2", in_unit="2"),
    # a requantization whose multiplier is not (incoming unit / new unit): codes worth 1/2 each
    "multiplier not unit over scale": dict(in_scale="1/2", unit="1/2", in_unit="1/2"),
    # labelled a v1 Trunc (no clamp, stays on the unit) but multiplying the code by 4
    "Trunc multiplying the code": dict(steps=[_requant("4", "1", kind="Trunc")], claim="17/2"),
    # negative units (multiplier -1 / -1 = 1): the rounding term and the interval cap turn negative
    "negative units": dict(unit="-1", steps=[_requant("1", "-1")], ref_weight="-1", claim="0"),
    # a thresholds step (always code 0 here) with a negative unit: the interval cap turned to 7
    "negative thresholds scale": dict(steps=[{"op": "thresholds", "thresholds": [[1]], "offset": 0, "scale": ["-1"]}],
                                      claim="7"),
}


@pytest.mark.parametrize("name", sorted(MISMATCHES))
def test_error_rule_rejects_a_bound_the_integer_network_exceeds(name):
    cert = _cert(**MISMATCHES[name])
    worst = max(_true_error(cert, x) for x in XS)
    assert worst > Fraction(cert["claims"]["errors"][0])  # the claim is false
    with pytest.raises(Invalid):
        check(copy.deepcopy(cert))


def test_error_rule_clamps_each_input_with_its_own_zero_point():
    """Input 1's quantizer (per-tensor scale, per-input zero points) clamps x + 100 at 127: the codes
    stop at 27 while x reaches 100, an error of 73 the rule must see (it used input 0's zero point)."""
    cert = _cert()
    n = cert["network"]["content"]
    n["input_steps"] = [dict(_requant("1", "1"), multiplier=["1", "1"], zero_point=[0, 100], bits=8)]
    n["layers"][0]["weights"] = [[0, 1]]
    n["reference"]["layers"][0]["weights"] = [["0", "1"]]
    cert["network"]["sha256"] = canonical_sha(n)
    cert["domain"] = [["0", "0"], ["0", "100"]]
    cert["claims"]["inputs"] = {"code_lo": [0, 0], "code_hi": [0, 27]}
    cert["claims"]["layers"] = [{"prefix_lo": [0], "prefix_hi": [27], "final_lo": [0], "final_hi": [27]}]
    assert apply(n["input_steps"][0], 1, Fraction(100), exact=True) == 27  # output 27 against the reference's 100
    with pytest.raises(Invalid):
        check(cert)
    cert["claims"]["errors"] = ["147/2"]  # 73 + the rounding's 1/2
    check(cert)
