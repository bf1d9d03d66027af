"""The differential rule's own lower ReLU slopes (analysis/diff_alpha.py, TIGHT_RULES.md section 6,
hint `diff_alpha`): chosen by its own bound they remove the archcomp22_acc_relu_5x20 regression,
never give a looser bound than the range rule's 0|1 lines, and the checker re-derives the bound
with the recorded slopes (tampered slopes: outside [0, 1] / off the grid / on a stable neuron
INVALID; other slopes inside [0, 1] give a looser re-derived bound, so the claims are INVALID)."""

from __future__ import annotations

import copy
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import pytest

from test_certificate_tight import verdict
from verifq.analysis import differential
from verifq.analysis.prove import analyse
from verifq.analysis.wide import uniform_design, without_error_requirement, without_limits
from verifq.certificate.writer import build_certificate
from verifq.fixedpoint.format import Overflow, Rounding
from verifq.language.benchmark import problem_from_benchmark

NETWORKS = Path(__file__).resolve().parent.parent / "specs" / "networks"
# the uniform designs of benchmarks/results/tightness.md: fixed<I+16, I>, exact accumulators
DESIGN_I = {"archcomp22_acc_relu_5x20": 13, "aster_ACC3NN": 12, "aster_SmallNN": 5, "aster_LyapunovNN": 4,
            "aster_MpcNN": 17, "archcomp19_cartpole_relu_24_48_12": 11}


@lru_cache(maxsize=None)
def _problem(name):
    p = without_limits(without_error_requirement(problem_from_benchmark(NETWORKS / f"{name}.json")))
    i = DESIGN_I[name]
    return p, uniform_design(p.network, i, 16, 2 * i, Rounding.TRUNCATE, Overflow.WRAP, False)


def _bounds(name, own_slopes: bool):
    p, d = _problem(name)
    old = differential.DEFAULT_ALPHA_ITERS
    try:
        if not own_slopes:
            differential.DEFAULT_ALPHA_ITERS = 0  # the range rule's alphas stay; the differential rule's 0|1 lines
        a = analyse(p, d, error_method="differential")
    finally:
        differential.DEFAULT_ALPHA_ITERS = old
    assert a.proved
    return a


def test_acc_5x20_error_bound_is_not_looser_than_before_optimized_ranges():
    """Optimized ranges flipped one neuron's 0|1 lower slope: 2.57e-4 -> 2.93e-4; own slopes: 2.45e-4."""
    a = _bounds("archcomp22_acc_relu_5x20", True)
    b = _bounds("archcomp22_acc_relu_5x20", False)
    assert max(b.output_errors) > Fraction(29, 100_000)  # the regression this guards against is still there without
    assert max(a.output_errors) <= Fraction(257, 1_000_000)
    assert any(lh.get("diff_alpha") for lh in a.hints["errors"])


@pytest.mark.parametrize("name", sorted(DESIGN_I))
def test_own_slopes_never_give_a_looser_bound_than_the_01_lines(name):
    a, b = _bounds(name, True), _bounds(name, False)
    assert all(x <= y for x, y in zip(a.output_errors, b.output_errors))
    if name in ("archcomp22_acc_relu_5x20", "aster_ACC3NN", "aster_LyapunovNN"):
        assert max(a.output_errors) < max(b.output_errors)


def test_no_slopes_without_iterations():
    p, d = _problem("aster_SmallNN")
    a = analyse(p, d, error_method="differential", alpha_iters=0)
    assert not any(lh.get("diff_alpha") for lh in a.hints["errors"])


# ----------------------------------------------------------------------------- certificates


@lru_cache(maxsize=None)
def _cert0():
    return build_certificate(_bounds("archcomp22_acc_relu_5x20", True))


def _cert():
    return copy.deepcopy(_cert0())


def _entry(cert):
    """(claim index, side, j, k, i) of a recorded slope of the layer with the most of them."""
    layers = cert["claims"]["layers"]
    count = lambda lc: sum(len(e) for rows in lc["hints"]["errors"].get("diff_alpha", {}).values()  # noqa: E731
                           for per_k in rows.values() for e in per_k.values())
    L = max(range(len(layers)), key=lambda n: count(layers[n]))
    da = layers[L]["hints"]["errors"]["diff_alpha"]
    side = next(iter(da))
    j = next(iter(da[side]))
    k = next(iter(da[side][j]))
    i = next(iter(da[side][j][k]))
    return L, side, j, k, i


def _slopes(cert, L):
    return cert["claims"]["layers"][L]["hints"]["errors"]["diff_alpha"]


def test_certificate_with_own_slopes_is_valid():
    cert = _cert()
    assert sum(bool(lc["hints"]["errors"].get("diff_alpha")) for lc in cert["claims"]["layers"]) >= 2
    assert verdict(cert) == "VALID"


@pytest.mark.parametrize("bad", ["3/2", "-1/65536", 2, -1])
def test_slope_outside_0_1_is_rejected(bad):
    cert = _cert()
    L, side, j, k, i = _entry(cert)
    _slopes(cert, L)[side][j][k][i] = bad
    assert verdict(cert) == f"layer {L + 1} errors"


def test_slope_off_the_grid_or_on_a_stable_neuron_is_rejected():
    cert = _cert()
    L, side, j, k, i = _entry(cert)
    _slopes(cert, L)[side][j][k][i] = "1/3"
    assert verdict(cert) == f"layer {L + 1} errors"
    cert = _cert()
    lc = cert["claims"]["layers"][int(k)]
    stable = next(n for n in range(len(lc["pre_lo"])) if Fraction(lc["pre_lo"][n]) >= 0 or Fraction(lc["pre_hi"][n]) <= 0)
    _slopes(cert, L)[side][j][k][str(stable)] = "1/2"
    assert verdict(cert) == f"layer {L + 1} errors"
    cert = _cert()
    _slopes(cert, L)[side][j][str(L)] = {"0": "1/2"}  # not a layer below L
    assert verdict(cert).startswith("malformed")


def test_other_slopes_inside_0_1_do_not_justify_the_claims():
    """The checker re-derives with the slopes written: the range rule's 0|1 lines (the recorded ones
    dropped, or each replaced by 0 or 1) give a looser bound than the claimed one."""
    cert = _cert()
    L, *_ = _entry(cert)
    del cert["claims"]["layers"][L]["hints"]["errors"]["diff_alpha"]
    assert verdict(cert) == f"layer {L + 1} errors"
    for v in ("0", "1"):
        cert = _cert()
        for rows in _slopes(cert, L).values():
            for per_k in rows.values():
                for e in per_k.values():
                    for i in e:
                        e[i] = v
        assert verdict(cert) == f"layer {L + 1} errors"


def test_tighter_claim_than_the_rederived_bound_is_rejected():
    cert = _cert()
    last = cert["claims"]["layers"][-1]
    h = last["hints"]["errors"]
    width = Fraction(h["d_pre_hi"][0]) - Fraction(h["d_pre_lo"][0])
    h["d_pre_hi"][0] = str(Fraction(h["d_pre_hi"][0]) - width / 1000)
    assert verdict(cert) == f"layer {len(cert['claims']['layers'])} errors"


def test_split_leaves_keep_the_01_lines_and_the_whole_box_its_own():
    """Own slopes double a box's cost, so a split's leaves use the 0|1 lines; the combined claims are
    still intersected with the whole box's (own-slope) claims, and the certificate checks."""
    p, d = _problem("archcomp22_acc_relu_5x20")
    a = analyse(p, d, error_method="differential", split=4)
    assert len(a.leaves) == 4
    assert not any(lh.get("diff_alpha") for leaf in a.leaves for lh in leaf.hints["errors"])
    assert max(a.output_errors) <= max(_bounds("archcomp22_acc_relu_5x20", True).output_errors)
    assert verdict(build_certificate(a)) == "VALID"
