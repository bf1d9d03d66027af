"""Input splits for integer certificates (`prove/synth --split N` on a QONNX network): the
certificate lists every box with its own claims (and symbolic lines), the checker re-derives each
box, checks that the boxes cover the domain and that the combined claims contain every box's. A
hand-made golden split certificate and its tamperings, then the real aster_ACC3NN controller
quantized to 8 bits (tests/data/qonnx/aster_ACC3NN_w8a8_po2_pt_mm.onnx) through the CLI: narrower
proven accumulators than the whole box gives, VALID, and no simulated partial sum outside a box's
bounds."""

from __future__ import annotations

import copy
import json
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from verifq.certificate.checker_core import Malformed
from verifq.certificate.checker_integer import check_integer
from verifq.fixedpoint.integer_net import simulate

from test_checker_integer_symbolic import _golden, _verdict
from test_qonnx import load, run

DATA = Path(__file__).parent / "data" / "qonnx"
ACC3 = DATA / "aster_ACC3NN_w8a8_po2_pt_mm.onnx"
ACC3_DOMAIN = [[20, 30], [1.2, 1.8], [0, 30.5], [0, 10], [0, 30.5]]


def _split_golden() -> dict:
    """The symbolic golden network (layer 2 = a_0 - a_1 with a = round(relu(x) / 2)) without lines,
    split at x = 2: on [0, 2] the codes a are 0..1, on [2, 4] 1..2, so the interval rule gives
    [-1, 1] for the final sum on each box, which the whole box's interval rule does not."""
    cert = _golden()
    del cert["claims"]["layers"][1]["lines"]
    one = {"prefix_lo": [0, 0], "prefix_hi": [2, 2], "final_lo": [0, 0], "final_hi": [2, 2]}
    cert["claims"]["leaves"] = [
        {"domain": [["0", "2"]], "inputs": {"code_lo": [0], "code_hi": [2]},
         "layers": [one, {"prefix_lo": [-1], "prefix_hi": [1], "final_lo": [-1], "final_hi": [1]}]},
        {"domain": [["2", "4"]], "inputs": {"code_lo": [2], "code_hi": [4]},
         "layers": [{**one, "prefix_hi": [4, 4], "final_lo": [2, 2], "final_hi": [4, 4]},
                    {"prefix_lo": [-1], "prefix_hi": [2], "final_lo": [-1], "final_hi": [1]}]}]
    return cert


def test_golden_split_certificate_proves_what_the_whole_box_cannot():
    cert = _split_golden()
    assert _verdict(cert) == "VALID"
    log = dict(check_integer(cert))
    assert "2 boxes cover the domain" in log["leaves"]
    del cert["claims"]["leaves"]
    assert _verdict(cert).startswith("INVALID layer 2 partial sums")


def test_combined_claims_may_be_the_leaves_hull_within_the_whole_box_claims():
    """One leaf (the whole domain, interval rule: final sum in [-2, 2]) and the whole box's own
    claims with the symbolic lines ([-1, 1]): the combined [-1, 1] holds by both, and is VALID only
    with `whole_box`, whose claims are re-derived too."""
    cert = _golden()
    whole = copy.deepcopy({"inputs": cert["claims"]["inputs"], "layers": cert["claims"]["layers"]})
    for c in cert["claims"]["layers"]:
        c.pop("lines", None)
    one = {"prefix_lo": [0, 0], "prefix_hi": [4, 4], "final_lo": [0, 0], "final_hi": [4, 4]}
    cert["claims"]["leaves"] = [{"domain": [["0", "4"]], "inputs": {"code_lo": [0], "code_hi": [4]},
                                 "layers": [one, {"prefix_lo": [-2], "prefix_hi": [2], "final_lo": [-2], "final_hi": [2]}]}]
    cert["claims"]["whole_box"] = whole
    assert _verdict(cert) == "VALID"
    tampered = copy.deepcopy(cert)
    tampered["claims"]["whole_box"]["layers"][1]["final_hi"] = [0]
    assert _verdict(tampered).startswith("INVALID whole box layer 2 partial sums")
    del cert["claims"]["whole_box"]
    assert "prefix_lo -1 is tighter than the leaves give (-2)" in _verdict(cert)


@pytest.mark.parametrize("tamper, message", [
    (lambda c: c["claims"]["leaves"].pop(), "no leaf covers the box [2, 4]"),
    (lambda c: c["claims"]["leaves"][1]["domain"].__setitem__(0, ["3", "4"]), "no leaf covers the box [2, 3]"),
    (lambda c: c["claims"]["leaves"][1]["domain"].__setitem__(0, ["2", "5"]), "leaves the domain"),
    (lambda c: c["claims"]["leaves"][0]["domain"].__setitem__(0, ["1", "0"]), "is empty"),
    (lambda c: c["claims"]["layers"][1]["final_hi"].__setitem__(0, 0), "tighter than the leaves give (1)"),
    (lambda c: c["claims"]["leaves"][0]["layers"][1]["final_hi"].__setitem__(0, 0), "leaf 0 layer 2 partial sums"),
    (lambda c: c["claims"]["leaves"][1]["inputs"]["code_lo"].__setitem__(0, 3), "do not contain the quantized box"),
])
def test_tampered_split_certificates_are_invalid(tamper, message):
    cert = _split_golden()
    tamper(cert)
    verdict = _verdict(cert)
    assert verdict.startswith("INVALID") and message in verdict, verdict


@pytest.mark.parametrize("tamper, message", [
    (lambda c: c["claims"]["leaves"].append(copy.deepcopy(c["claims"]["leaves"][0])), "overlaps an earlier leaf"),
    (lambda c: c["claims"]["layers"][1].__setitem__("lines", "garbage"), "carry no lines"),
    (lambda c: c["claims"]["leaves"][0]["layers"][0].__setitem__("final_hi", ["2", 2]), "expected a list of integers"),
    (lambda c: c.__setitem__("domain", [["0"]]), "expected [lo, hi]"),
])
def test_malformed_split_certificates_are_refused_cleanly(tamper, message):
    """Duplicate leaves would multiply the checker's work; top-level lines would go unchecked."""
    cert = _split_golden()
    tamper(cert)
    with pytest.raises(Malformed, match=re.escape(message)):
        check_integer(cert)


def _acc3_spec(tmp_path, width: int | None = None) -> Path:
    p = tmp_path / "acc3.nnspec"
    impl = "" if width is None else f"implementation {{ max accumulator = {width} }}\n"
    p.write_text(f'network acc3 = load "{ACC3}"\ndomain {{ x in {ACC3_DOMAIN} }}\nrequire no overflow\n{impl}')
    return p


EXAMPLE = Path(__file__).parent.parent / "examples" / "04_qonnx_accumulators" / "acc3.nnspec"


def test_split_narrows_the_real_controllers_accumulators_and_the_checker_re_derives_every_box(tmp_path, capsys):
    """The example's commands (examples/04_qonnx_accumulators/README.md)."""
    spec = EXAMPLE
    whole = tmp_path / "whole.json"
    assert run(capsys, "synth", spec, "--json", whole)[0] == 0
    code, out, _ = run(capsys, "synth", spec, "--split", 16, "--json", tmp_path / "split.json",
                       "--cert", tmp_path / "split.cert.json")
    assert code == 0 and "16 boxes" in out
    w1 = json.loads(whole.read_text())["minimal_widths"]
    w16 = json.loads((tmp_path / "split.json").read_text())["minimal_widths"]
    assert all(a <= b for a, b in zip(w16["per_layer"], w1["per_layer"]))
    assert w16["per_layer"][-1] <= w1["per_layer"][-1] - 2  # the output layer: 14 -> 12 bits when measured
    assert w16["certified_per_layer"] == w16["per_layer"]
    cert = json.loads((tmp_path / "split.cert.json").read_text())
    assert len(cert["claims"]["leaves"]) == 16 and cert["implementation"]["widths"] == w16["per_layer"]
    for combined, whole in zip(cert["claims"]["layers"], cert["claims"]["whole_box"]["layers"]):  # never looser
        assert all(a >= b for a, b in zip(combined["prefix_lo"], whole["prefix_lo"]))
        assert all(a <= b for a, b in zip(combined["prefix_hi"], whole["prefix_hi"]))
    code, out, _ = run(capsys, "check", tmp_path / "split.cert.json")
    assert code == 0 and "VALID" in out
    # soundness: each sampled input's partial sums lie within the bounds of a box that holds it
    qnet = load(ACC3)
    rng = np.random.default_rng(3)
    lo, hi = np.array(ACC3_DOMAIN, dtype=float).T
    x = lo + (hi - lo) * rng.random((2000, 5))
    for leaf in cert["claims"]["leaves"]:
        box = [(Fraction(a), Fraction(b)) for a, b in leaf["domain"]]
        inside = np.all([(x[:, i] >= float(a)) & (x[:, i] <= float(b)) for i, (a, b) in enumerate(box)], axis=0)
        if not inside.any():
            continue
        sim = simulate(qnet, x[inside], prefixes=True)
        for l, claim in enumerate(leaf["layers"]):
            assert np.all(np.asarray(sim.prefix_max[l], dtype=object).max(axis=0) <= np.array(claim["prefix_hi"], dtype=object))
            assert np.all(np.asarray(sim.prefix_min[l], dtype=object).min(axis=0) >= np.array(claim["prefix_lo"], dtype=object))


def test_prove_split_certifies_widths_only_the_split_proves(tmp_path, capsys):
    """The 16 boxes' per-layer widths as the spec's accumulators: the whole box's bounds do not
    prove them (exit 1), the split does, and its certificate is VALID."""
    assert run(capsys, "synth", _acc3_spec(tmp_path), "--split", 16, "--json", tmp_path / "w.json")[0] == 0
    widths = json.loads((tmp_path / "w.json").read_text())["minimal_widths"]["per_layer"]
    spec = _acc3_spec(tmp_path)
    spec.write_text(spec.read_text() + "accumulators {" + " ".join(
        f"layer {l} {{ max accumulator = {w} }}" for l, w in enumerate(widths, start=1)) + "}\n")
    assert run(capsys, "prove", spec, "--ranges", "symbolic", "--no-search")[0] == 1
    cert = tmp_path / "c.json"
    code, out, _ = run(capsys, "prove", spec, "--ranges", "symbolic", "--split", 16, "--cert", cert)
    assert code == 0 and "over 16 boxes" in out
    assert run(capsys, "check", cert)[0] == 0


def test_split_boxes_on_two_processes_give_the_same_result_bit_for_bit(tmp_path, capsys):
    spec = EXAMPLE
    for jobs in (1, 2):
        code, _, _ = run(capsys, "prove", spec, "--split", 8, "--jobs", jobs, "--json", tmp_path / f"j{jobs}.json",
                         "--cert", tmp_path / f"c{jobs}.json")
        assert code == 0
    assert (tmp_path / "j1.json").read_text() == (tmp_path / "j2.json").read_text()
    strip = lambda p: {k: v for k, v in json.loads(p.read_text()).items() if k != "created"}  # noqa: E731
    assert strip(tmp_path / "c1.json") == strip(tmp_path / "c2.json")


def test_a_split_past_the_check_budget_falls_back_to_the_whole_box(tmp_path):
    from verifq.analysis.quantized_prove import analyse_quantized
    from verifq.certificate.accumulators import certified_analysis
    from verifq.language import load_spec

    problem = load_spec(_acc3_spec(tmp_path))
    split = analyse_quantized(problem, 4, method="symbolic")
    assert len(split.leaves) == 4 and not split.lines
    certified, note = certified_analysis(split, budget=1, unsplit=lambda: analyse_quantized(problem, 1, method="symbolic"))
    assert not certified.leaves and "not the split's" in note and "work budget" in note


@pytest.mark.parametrize("split", [0, -1, 65537])
def test_a_split_outside_1_to_65536_boxes_is_a_clear_error(split, capsys):
    code, _, err = run(capsys, "synth", EXAMPLE, "--split", split)
    assert code == 2 and "--split needs a number of boxes from 1 to 65536" in err
