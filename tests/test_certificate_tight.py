"""Certificates with the tight rules (TIGHT_RULES.md): symbolic ranges and
first-order errors (`--errors first_order`: the default error rule is now
differential, tested in test_certificate_differential.py) re-derived by
verifq/certificate/checker_tight.py, for the analysis (ReLU, linear, tanh and sigmoid layers: the smooth ones with
proved relaxation lines and slope intervals); tampered tight claims and hints
are rejected."""

from __future__ import annotations

import copy
import random
import time
from fractions import Fraction

import pytest

from test_certificate_cases import NETWORKS, analysis_of, load_json_network, problem, uniform
from verifq.analysis.prove import analyse
from verifq.certificate import checker
from verifq.certificate.writer import build_certificate
from verifq.fixedpoint.format import FixedFormat as fx
from verifq.fixedpoint.format import Overflow, Rounding
from verifq.network.ir import Activation, DenseLayer, Network

RELU_CASES = ["acc3_truncate_wrap", "testnn_nearest_saturate_unsigned", "fixed_inputs", "normalized_vcas",
              "mixed_per_neuron", "inline_small_magnitudes"]
SMOOTH_CASES = ["tanh_product_rounding", "sigmoid_saturate"]
TINY = Fraction(1, 1 << 100)


def tight_cert(name):
    return build_certificate(analysis_of(name, True, error_method="first_order"))


def verdict(cert):
    try:
        checker.check(cert)
        return "VALID"
    except checker.Invalid as exc:
        return exc.step
    except checker.Malformed as exc:
        return f"malformed: {exc}"


@pytest.mark.parametrize("name", RELU_CASES)
def test_default_analysis_certificates_carry_tight_claims_and_check(name):
    cert = tight_cert(name)
    assert cert["analysis"]["certified_with"] == {"range_method": "symbolic", "error_method": "first_order"}
    assert cert["analysis"]["note"] is None
    for lc in cert["claims"]["layers"]:
        assert (lc["range_rule"], lc["error_rule"]) == ("symbolic", "first_order")
        assert "errors" in lc["hints"] and "ranges" in lc["hints"]
    ch = checker.check(cert)
    assert any("rule first_order" in d for _, d in ch.log)


def test_tight_claims_are_tighter_than_the_simple_ones():
    tight = tight_cert("acc3_truncate_wrap")
    simple = build_certificate(analysis_of("acc3_truncate_wrap"))
    t = [Fraction(v) for v in tight["verdict"]["output_error_bounds"]]
    s = [Fraction(v) for v in simple["verdict"]["output_error_bounds"]]
    assert all(a <= b for a, b in zip(t, s)) and t != s
    sym = sum(m == "symbolic" for lc in tight["claims"]["layers"] for m in lc["hints"]["ranges"]["lo_method"])
    assert sym > 0


@pytest.mark.parametrize("name", SMOOTH_CASES)
def test_tanh_sigmoid_certificates_carry_tight_claims_and_check(name):
    cert = tight_cert(name)
    assert cert["analysis"]["certified_with"] == {"range_method": "symbolic", "error_method": "first_order"}
    assert cert["analysis"]["note"] is None
    hidden = cert["claims"]["layers"][0]["hints"]
    assert hidden["ranges"]["smooth_slope"] and hidden["ranges"]["smooth_intercepts"]
    assert verdict(cert) == "VALID"


@pytest.mark.parametrize("fname, bound", [("aster_AC7.json", "1/1000"), ("aster_SmallNN.json", "1/100"),
                                          ("reachnn_2_relu.json", "1/100"), ("archcomp22_single_pendulum_relu_2x25.json", "1/100")])
def test_spec_networks(fname, bound):
    net, box = load_json_network(fname)
    if any(l.activation not in (Activation.RELU, Activation.LINEAR) for l in net.layers):
        pytest.skip("not a ReLU/linear network")
    d = uniform(net, fx(32, 12), fx(32, 12), fx(64, 24), fx(32, 12))
    p = problem(net, box, bound, d)
    a = analyse(p, d, error_method="first_order")
    if not a.proved:
        pytest.skip("design does not prove")
    cert = build_certificate(a)
    assert cert["analysis"]["certified_with"]["error_method"] == "first_order"
    t = time.perf_counter()
    assert verdict(cert) == "VALID"
    assert time.perf_counter() - t < 10.0


def _random_problem(seed, hidden=(Activation.RELU,)):
    rng = random.Random(seed)
    sizes = [rng.randint(1, 4)] + [rng.randint(1, 5) for _ in range(rng.randint(1, 4))]
    layers = []
    for i in range(len(sizes) - 1):
        w = tuple(tuple(Fraction(rng.randint(-999, 999), 1000) for _ in range(sizes[i])) for _ in range(sizes[i + 1]))
        b = tuple(Fraction(rng.randint(-99, 99), 100) for _ in range(sizes[i + 1]))
        act = Activation.LINEAR if i == len(sizes) - 2 or rng.random() < 0.2 else rng.choice(hidden)
        layers.append(DenseLayer(w, b, act))
    net = Network(f"rand{seed}", tuple(layers))
    box = tuple((Fraction(rng.randint(-20, 0), 10), Fraction(rng.randint(0, 20), 10)) for _ in range(sizes[0]))
    d = uniform(net, fx(rng.choice([12, 16, 24]), 6), fx(24, 8), fx(rng.choice([24, 48]), 14), fx(rng.choice([16, 24]), 10),
                rounding=rng.choice(list(Rounding)), overflow=rng.choice(list(Overflow)), fixed=rng.random() < 0.3)
    return problem(net, box, "10", d)


@pytest.mark.parametrize("seed, hidden", [(s, (Activation.RELU,)) for s in range(25)]
                         + [(s, (Activation.RELU, Activation.TANH, Activation.SIGMOID)) for s in range(100, 125)])
def test_random_networks(seed, hidden):
    p = _random_problem(seed, hidden)
    try:
        a = analyse(p, p.design, error_method="first_order")
    except Exception as exc:  # e.g. a fixed-input interval without grid points
        pytest.skip(str(exc))
    if not a.proved:
        pytest.skip("random design does not prove")
    cert = build_certificate(a)
    assert cert["analysis"]["certified_with"] == {"range_method": "symbolic", "error_method": "first_order"}
    assert verdict(cert) == "VALID"


# ---------------------------------------------------------------- tampering
def _deep_relu_cert():
    return tight_cert("normalized_vcas")  # 5x20 ReLU: unstable neurons, symbolic ends, deep backward passes


def _symbolic_end(cert):
    for L, lc in enumerate(cert["claims"]["layers"]):
        for j, m in enumerate(lc["hints"]["ranges"]["hi_method"]):
            if m == "symbolic":
                return L, j
    pytest.skip("no symbolic end")


def test_tampered_symbolic_claim_is_rejected():
    cert = _deep_relu_cert()
    L, j = _symbolic_end(cert)
    lc = cert["claims"]["layers"][L]
    lc["pre_hi"][j] = str(Fraction(lc["pre_hi"][j]) - TINY)
    assert verdict(cert) == f"layer {L + 1} ranges"


def test_tampered_range_method_hint_is_rejected():
    cert = _deep_relu_cert()
    best = None
    for L, lc in enumerate(cert["claims"]["layers"]):
        for j, m in enumerate(lc["hints"]["ranges"]["hi_method"]):
            if m == "symbolic":
                c2 = copy.deepcopy(cert)
                c2["claims"]["layers"][L]["hints"]["ranges"]["hi_method"][j] = "interval"
                if verdict(c2) == f"layer {L + 1} ranges":
                    best = (L, j)
                    break
        if best:
            break
    assert best is not None, "no symbolic end whose interval bound is looser"
    cert["claims"]["layers"][best[0]]["hints"]["ranges"]["hi_method"][best[1]] = "milp"
    assert verdict(cert) == f"layer {best[0] + 1} ranges"


def test_missing_relu_lower_slope_hint_is_rejected():
    cert = _deep_relu_cert()
    for L, lc in enumerate(cert["claims"]["layers"][:-1]):
        if lc["hints"]["ranges"]["relu_lower_slope"]:
            k = next(iter(lc["hints"]["ranges"]["relu_lower_slope"]))
            lc["hints"]["ranges"]["relu_lower_slope"][k] = 2
            assert verdict(cert) == f"layer {L + 1} ranges"
            return
    pytest.skip("no unstable ReLU")


@pytest.mark.parametrize("key", ["d_acc_lo", "d_acc_hi", "d_pre_lo", "d_pre_hi", "d_out_hi"])
def test_tampered_error_interval_hint_is_rejected(key):
    cert = _deep_relu_cert()
    L = len(cert["claims"]["layers"]) - 1
    h = cert["claims"]["layers"][L]["hints"]["errors"]
    delta = TINY if key.endswith("_lo") else -TINY
    h[key][0] = str(Fraction(h[key][0]) + delta)
    assert verdict(cert) == f"layer {L + 1} errors"


def test_tampered_hidden_error_interval_is_rejected_at_its_layer():
    cert = _deep_relu_cert()
    h = cert["claims"]["layers"][1]["hints"]["errors"]
    j = max(range(len(h["d_out_hi"])), key=lambda i: Fraction(h["d_out_hi"][i]))
    h["d_out_hi"][j] = str(Fraction(h["d_out_hi"][j]) / 2)
    assert verdict(cert) == "layer 2 errors"


def test_tampered_tight_error_claim_and_depth_are_rejected():
    cert = _deep_relu_cert()
    L = len(cert["claims"]["layers"]) - 1
    lc = cert["claims"]["layers"][L]
    c2 = copy.deepcopy(cert)
    c2["claims"]["layers"][L]["err_out"][0] = str(Fraction(lc["err_out"][0]) - TINY)
    assert verdict(c2) == f"layer {L + 1} errors"
    c3 = copy.deepcopy(cert)
    c3["claims"]["layers"][L]["hints"]["errors"]["depth_lo"][0] = L + 1
    assert verdict(c3) == f"layer {L + 1} errors"
    c4 = copy.deepcopy(cert)
    c4["claims"]["layers"][L]["acc_hi"][0] = str(Fraction(lc["acc_hi"][0]) - TINY)
    assert verdict(c4) in (f"layer {L + 1} accumulator", f"layer {L + 1} errors")


def _smooth_cert():
    return tight_cert("tanh_product_rounding")  # reachnn_1_tanh: three tanh layers


def test_tampered_smooth_relaxation_is_rejected():
    cert = _smooth_cert()
    h = cert["claims"]["layers"][0]["hints"]["ranges"]
    c_lo, c_up = (Fraction(v) for v in h["smooth_intercepts"]["0"])
    for key, value in (("up", c_up - Fraction(1, 1 << 20)), ("lo", c_lo + Fraction(1, 1 << 20))):
        c2 = copy.deepcopy(cert)
        c2["claims"]["layers"][0]["hints"]["ranges"]["smooth_intercepts"]["0"] = [
            str(value if key == "lo" else c_lo), str(value if key == "up" else c_up)]
        assert verdict(c2) == "layer 1 ranges", key
    c3 = copy.deepcopy(cert)
    s = Fraction(h["smooth_slope"]["0"])
    c3["claims"]["layers"][0]["hints"]["ranges"]["smooth_slope"]["0"] = str(s + Fraction(1, 16))
    assert verdict(c3) == "layer 1 ranges"
    c4 = copy.deepcopy(cert)
    del c4["claims"]["layers"][0]["hints"]["ranges"]["smooth_intercepts"]
    assert verdict(c4) == "layer 1 ranges"


@pytest.mark.parametrize("key, delta", [("slope_lo", Fraction(1, 1 << 24)), ("slope_hi", -Fraction(1, 1 << 24))])
def test_tampered_smooth_slope_interval_is_rejected(key, delta):
    cert = _smooth_cert()
    h = cert["claims"]["layers"][1]["hints"]["errors"]
    h[key][0] = str(Fraction(h[key][0]) + delta)
    assert verdict(cert) == "layer 2 errors"


def test_smooth_output_interval_without_the_lookup_rounding_is_rejected():
    """d_out of a tanh layer is S * d_pre plus the lookup's half ulp: dropping the half ulp fails."""
    cert = _smooth_cert()
    L = len(cert["claims"]["layers"]) - 1
    h = cert["claims"]["layers"][L]["hints"]["errors"]
    s_hi, p_hi = Fraction(h["slope_hi"][0]), Fraction(h["d_pre_hi"][0])
    h["d_out_hi"][0] = str(max(s_hi * p_hi, Fraction(0)))
    assert verdict(cert) == f"layer {L + 1} errors"


def test_missing_hints_are_rejected_naming_the_rules_step():
    cert = _deep_relu_cert()
    cert["claims"]["layers"][1]["hints"] = {}
    assert verdict(cert) == "layer 2 rules"


def test_checker_speed_on_ac7_with_tight_rules():
    path = NETWORKS / "aster_AC7.json"
    if not path.exists():
        pytest.skip("AC7 not present")
    test_spec_networks("aster_AC7.json", "1/1000")


def test_weights_with_negative_fractional_bits_are_checked():
    """fixed<8,10> weights (2^2 steps): the backward pass works on integer rows all the same."""
    net = Network("neg", (DenseLayer(((Fraction(4), Fraction(-8)), (Fraction(8), Fraction(4))), (Fraction(0), Fraction(0)),
                                     Activation.TANH),
                          DenseLayer(((Fraction(4), Fraction(4)),), (Fraction(0),), Activation.LINEAR)))
    box = ((Fraction(-1, 2), Fraction(1, 2)),) * 2
    d = uniform(net, fx(8, 10), fx(8, 10), fx(32, 16), fx(16, 6), inp=fx(12, 4))
    a = analyse(problem(net, box, "10", d), d, error_method="first_order")
    assert a.proved
    cert = build_certificate(a)
    assert cert["analysis"]["certified_with"]["error_method"] == "first_order"
    assert verdict(cert) == "VALID"


def test_backward_pass_into_a_layer_without_signed_intervals_is_invalid_not_a_crash():
    cert = _smooth_cert()
    simple = build_certificate(analysis_of("tanh_product_rounding"))
    first = cert["claims"]["layers"][0]
    first["error_rule"] = "l1_local"
    for k in ("err_acc", "err_pre", "err_out", "acc_lo", "acc_hi", "out_lo", "out_hi"):
        first[k] = simple["claims"]["layers"][0][k]
    del first["hints"]["errors"]
    e = cert["claims"]["layers"][1]["hints"]["errors"]
    e["depth_lo"], e["depth_hi"] = [1] * len(e["depth_lo"]), [1] * len(e["depth_hi"])
    assert verdict(cert) == "layer 2 errors"
