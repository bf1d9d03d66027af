"""Optimized lower ReLU slopes (analysis/alpha.py, TIGHT_RULES.md section 1):
the ranges still contain the exact network values (samples and corners of real
controllers), are much tighter than DeepPoly's 0|1 slopes on a deep controller,
the error bounds computed with them hold in bit-exact simulation, and a
certificate carrying the alphas checks VALID while tampered alphas / bounds are
rejected."""

from __future__ import annotations

import copy
import itertools
import json
import random
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import pytest

from soundness_harness import check_layerwise, check_outputs_with_search
from test_certificate_tight import verdict
from test_tight_analysis import _uniform
from verifq.analysis.prove import analyse
from verifq.analysis.ranges import compute_ranges
from verifq.analysis.wide import without_error_requirement, without_limits
from verifq.certificate.writer import build_certificate, dumps
from verifq.cli.main import main
from verifq.language.benchmark import problem_from_benchmark
from verifq.network.ir import Activation
from verifq.numeric import scaled

NETWORKS = Path(__file__).resolve().parent.parent / "specs" / "networks"
ITERS = 50


@lru_cache(maxsize=None)
def _problem(name):
    return without_limits(without_error_requirement(problem_from_benchmark(NETWORKS / f"{name}.json")))


def _ranges(name, iters):
    p = _problem(name)
    return compute_ranges(p.network, p.domain, "symbolic", alpha_iters=iters)


def _width(r, layer=-1):
    L = r.layers[layer]
    return [scaled.to_fraction(h) - scaled.to_fraction(l) for l, h in zip(L.pre_lo, L.pre_hi)]


def _pre_values(net, x):
    """Exact pre-activation values of every layer at the rational input x (ReLU/linear networks)."""
    h, out = [Fraction(v) for v in x], []
    for layer in net.layers:
        z = [sum((w * v for w, v in zip(row, h) if w and v), b) for row, b in zip(layer.weights, layer.bias)]
        out.append(z)
        h = [max(v, Fraction(0)) for v in z] if layer.activation is Activation.RELU else z
    return out


@pytest.mark.parametrize("name", ["aster_ACC7NN", "archcomp22_acc_relu_5x20", "aster_ACC5NN"])
def test_optimized_ranges_contain_exact_values_on_samples_and_corners(name):
    p = _problem(name)
    r = _ranges(name, ITERS)
    assert any(h.relu_alpha for h in r.hints), "the optimizer recorded no alphas: the test would not test them"
    rng = random.Random(7)
    box = p.domain
    pts = [tuple(c) for c in itertools.product(*box)][:64]
    pts += [tuple(lo + (hi - lo) * Fraction(rng.randrange(1025), 1024) for lo, hi in box) for _ in range(60)]
    for x in pts:
        for t, z in enumerate(_pre_values(p.network, x)):
            L = r.layers[t]
            for j, v in enumerate(z):
                assert scaled.to_fraction(L.pre_lo[j]) <= v <= scaled.to_fraction(L.pre_hi[j]), (t, j, x)


def test_optimized_slopes_are_strictly_tighter_than_deeppoly_on_deep_controllers():
    old, new = _ranges("aster_ACC7NN", 0), _ranges("aster_ACC7NN", ITERS)
    # measured: 3,089.5 -> 940.9 (alpha-CROWN: 979, sampled: 3.68); benchmarks/results/ranges.md
    assert max(_width(new)) * 3 < max(_width(old))
    assert sum(sum(_width(new, t)) for t in range(len(new.layers))) < sum(sum(_width(old, t)) for t in range(len(old.layers)))
    o5, n5 = _ranges("archcomp22_acc_relu_5x20", 0), _ranges("archcomp22_acc_relu_5x20", ITERS)
    assert max(_width(n5)) < Fraction(3, 4) * max(_width(o5))


def test_zero_iterations_is_the_deeppoly_rule():
    r = _ranges("aster_ACC5NN", 0)
    assert not any(h.relu_alpha for h in r.hints)
    assert all(set(h.to_json()) == {"lo_method", "hi_method", "relu_lower_slope", "smooth_slope", "smooth_intercepts"}
               for h in r.hints)


def test_error_bounds_with_optimized_ranges_hold_in_bit_exact_simulation():
    p = _problem("aster_ACC7NN")
    a = analyse(p, _uniform(p), alpha_iters=ITERS)
    b = analyse(p, _uniform(p), alpha_iters=0)
    assert a.proved and any(lh.get("relu_alpha") for lh in a.hints["ranges"]["layers"])
    assert max(a.output_errors) < max(b.output_errors)  # measured ~0.70x (differential rule, ranges.md)
    check_layerwise(a, n_random=300)
    check_outputs_with_search(a, n_random=3000)  # asserts 0 observations above a certified bound


# ----------------------------------------------------------------------------- certificates


@lru_cache(maxsize=None)
def _cert_text(iters):
    p = _problem("aster_ACC7NN")
    return dumps(build_certificate(analyse(p, _uniform(p), alpha_iters=iters)))


def _cert(iters=ITERS):
    return json.loads(_cert_text(iters))


def _alpha_entry(cert):
    """(layer claim index, side, j, k, i) of a recorded alpha of the output layer."""
    L = len(cert["claims"]["layers"]) - 1
    ra = cert["claims"]["layers"][L]["hints"]["ranges"]["relu_alpha"]
    side = next(iter(ra))
    j = next(iter(ra[side]))
    k = next(iter(ra[side][j]))
    i = next(iter(ra[side][j][k]))
    return L, side, j, k, i


def test_certificate_with_optimized_alphas_is_valid(tmp_path):
    cert = _cert()
    assert cert["analysis"]["certified_with"] == {"range_method": "symbolic", "error_method": "differential"}
    assert sum(bool(lc["hints"]["ranges"].get("relu_alpha")) for lc in cert["claims"]["layers"]) >= 3
    path = tmp_path / "acc7.cert.json"
    path.write_text(dumps(cert))
    assert main(["check", str(path)]) == 0


def test_old_certificates_with_01_slopes_still_check():
    cert = _cert(0)
    assert not any(lc["hints"]["ranges"].get("relu_alpha") for lc in cert["claims"]["layers"])
    assert verdict(cert) == "VALID"


@pytest.mark.parametrize("bad", ["3/2", "-1/10", 2, -1])
def test_alpha_outside_0_1_is_rejected(bad):
    cert = _cert()
    L, side, j, k, i = _alpha_entry(cert)
    cert["claims"]["layers"][L]["hints"]["ranges"]["relu_alpha"][side][j][k][i] = bad
    assert verdict(cert) == f"layer {L + 1} ranges"


def test_alpha_off_the_stated_grid_is_rejected():
    cert = _cert()
    L, side, j, k, i = _alpha_entry(cert)
    cert["claims"]["layers"][L]["hints"]["ranges"]["relu_alpha"][side][j][k][i] = "1/3"
    assert verdict(cert) == f"layer {L + 1} ranges"
    cert["claims"]["layers"][L]["hints"]["ranges"]["relu_alpha"][side][j][k][i] = "1/131072"  # 2^-17
    assert verdict(cert) == f"layer {L + 1} ranges"


@pytest.mark.parametrize("mutate", [
    lambda ra, side, j, k, i: ra[side][j][k].__setitem__(i, 0.5),  # a JSON float
    lambda ra, side, j, k, i: ra[side].__setitem__(j, [1]),
    lambda ra, side, j, k, i: ra[side][j][k].__setitem__("999", "1/2"),  # no such neuron
    lambda ra, side, j, k, i: ra[side][j].__setitem__("99", {}),  # no such earlier layer
    lambda ra, side, j, k, i: ra.__setitem__("middle", {}),
], ids=["float", "list", "neuron", "layer", "side"])
def test_malformed_alpha_hints_are_rejected(mutate):
    cert = _cert()
    L, side, j, k, i = _alpha_entry(cert)
    mutate(cert["claims"]["layers"][L]["hints"]["ranges"]["relu_alpha"], side, j, k, i)
    assert verdict(cert).startswith("malformed")


def test_alpha_on_a_stable_neuron_is_rejected():
    cert = _cert()
    L, side, j, k, i = _alpha_entry(cert)
    lc = cert["claims"]["layers"][int(k)]
    stable = next(n for n in range(len(lc["pre_lo"])) if Fraction(lc["pre_lo"][n]) >= 0 or Fraction(lc["pre_hi"][n]) <= 0)
    cert["claims"]["layers"][L]["hints"]["ranges"]["relu_alpha"][side][j][k][str(stable)] = "1/2"
    assert verdict(cert) == f"layer {L + 1} ranges"


def test_tighter_bound_claim_with_alphas_is_rejected():
    cert = _cert()
    L = len(cert["claims"]["layers"]) - 1
    lc = cert["claims"]["layers"][L]
    j = next(n for n, m in enumerate(lc["hints"]["ranges"]["hi_method"]) if m == "symbolic")
    lc["pre_hi"][j] = str(Fraction(lc["pre_hi"][j]) - Fraction(1, 1 << 20))
    assert verdict(cert) == f"layer {L + 1} ranges"


def test_other_alphas_do_not_justify_the_claimed_bound():
    """Replacing the recorded alphas of the output rows by DeepPoly's (dropping them) gives a looser bound."""
    cert = _cert()
    L = len(cert["claims"]["layers"]) - 1
    del cert["claims"]["layers"][L]["hints"]["ranges"]["relu_alpha"]
    assert verdict(cert) == f"layer {L + 1} ranges"


def test_dyadic_per_neuron_lower_slopes_are_accepted_and_bad_ones_rejected():
    cert = _cert(0)
    L = next(n for n, lc in enumerate(cert["claims"]["layers"]) if lc["hints"]["ranges"]["relu_lower_slope"])
    sl = cert["claims"]["layers"][L]["hints"]["ranges"]["relu_lower_slope"]
    key = next(iter(sl))
    good = copy.deepcopy(cert)
    good["claims"]["layers"][L]["hints"]["ranges"]["relu_lower_slope"][key] = str(sl[key])  # "0"/"1" as text
    assert verdict(good) == "VALID"
    for bad in ("3/2", "-1", "1/3"):
        sl[key] = bad
        assert verdict(cert) == f"layer {L + 1} ranges"


def test_alpha_iters_must_be_a_count(capsys):
    spec = Path(__file__).resolve().parent.parent / "specs" / "aster_ACC3NN.nnspec"
    assert main(["prove", str(spec), "--uniform", "fixed<32,14>", "--alpha-iters", "-3"]) == 2
    assert "--alpha-iters" in capsys.readouterr().err


def test_optimized_slopes_are_deterministic():
    from verifq.analysis.intervals import exact_layers, input_box_scaled
    from verifq.analysis.symbolic import symbolic_ranges

    p = _problem("aster_ACC5NN")
    x_lo, x_hi = input_box_scaled(p.domain)
    runs = [symbolic_ranges(p.network, exact_layers(p.network), x_lo, x_hi, alpha_iters=ITERS).hints_json()
            for _ in range(2)]
    assert runs[0] == runs[1] and any("relu_alpha" in h for h in runs[0]["layers"])


def test_recorded_alphas_reproduce_the_ranges():
    """Re-running the rule with the recorded hints (no optimization) gives exactly the same ranges."""
    from verifq.analysis.intervals import exact_layers, input_box_scaled
    from verifq.analysis.symbolic import symbolic_ranges

    p = _problem("aster_ACC7NN")
    x_lo, x_hi = input_box_scaled(p.domain)
    r = symbolic_ranges(p.network, exact_layers(p.network), x_lo, x_hi, alpha_iters=ITERS)
    again = symbolic_ranges(p.network, exact_layers(p.network), x_lo, x_hi, hints=list(r.hints), alpha_iters=0)
    for a, b in zip(r.layers, again.layers):
        assert list(a.pre_lo) == list(b.pre_lo) and list(a.pre_hi) == list(b.pre_hi)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["acasxu_run2a_1_1", "acasxu_run2a_2_1"])
def test_acasxu_certificate_with_alphas_checks_and_stays_small(name):
    p = _problem(name)
    a = analyse(p, _uniform(p))
    cert = build_certificate(a)
    assert any(lc["hints"]["ranges"].get("relu_alpha") for lc in cert["claims"]["layers"])
    assert len(dumps(cert)) < 2_500_000  # measured 1.6 MB (0/1 slopes: 0.9 MB), benchmarks/results/ranges.md
    assert verdict(cert) == "VALID"
