"""Per-layer accumulators, hardware profiles and partial-sum orders of already-quantized (QONNX)
networks: the simulator against the orders' definitions, proven bounds against simulation in
every order, the spec syntax, certificates per layer (re-checked, tampering caught), and a
witness under split_sign confirmed by QONNX's execution."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from verifq.analysis.accumulators import analyse_bounds
from verifq.analysis.accumulators_symbolic import symbolic_bounds
from verifq.fixedpoint.integer_net import ORDERS, layer_accumulate, simulate
from verifq.language import parse_spec_text
from verifq.network.quantized import IntLayer

from test_qonnx import TINY, domain_inputs, load, run

BOX = tuple((Fraction(-2), Fraction(2)) for _ in range(3))


def _reference(order, b, products, bits, mode):
    """The order's definition, one addition at a time (Python integers)."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def red(v):
        if mode == "wrap":
            return (v - lo) % (1 << bits) + lo
        return min(max(v, lo), hi)
    if order == "split_sign":
        pos, neg = red(max(b, 0)), red(min(b, 0))
        for p in products:
            pos, neg = red(pos + max(p, 0)), red(neg + min(p, 0))
        return red(pos + neg)
    run = red(b) if order == "sequential" else 0
    for p in products:
        run = red(run + p)
    return red(run + b) if order == "bias_last" else run


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("mode", ["wrap", "saturate"])
def test_each_order_accumulates_as_its_definition(order, mode):
    rng = np.random.default_rng(3)
    w = rng.integers(-127, 128, (4, 9))
    b = rng.integers(-3000, 3000, 4)
    layer = IntLayer("L", tuple(map(tuple, w.tolist())), tuple(b.tolist()), (Fraction(1),) * 4, 8, True, (),
                     (Fraction(1),) * 4)
    a = rng.integers(-128, 128, (50, 9))
    acc, over, _, _ = layer_accumulate(layer, a, 12, mode, False, order)
    for r in range(50):
        for j in range(4):
            want = _reference(order, int(b[j]), [int(a[r, i] * w[j, i]) for i in range(9)], 12, mode)
            assert int(acc[r, j]) == want
    assert over.any()  # 12 bits are too few for some rows: the replay path is exercised


@pytest.mark.parametrize("order", ORDERS)
def test_no_simulated_partial_sum_leaves_its_proven_bounds(order):
    q = load()
    orders = [order] * 3
    sim = simulate(q, domain_inputs().astype(np.float64), prefixes=True, orders=orders)
    for bounds in (analyse_bounds(q, BOX, None, orders=orders), symbolic_bounds(q, BOX, orders=orders)):
        for l, lb in enumerate(bounds):
            assert (np.asarray(sim.prefix_max[l]) <= np.array(lb.prefix_hi)).all()
            assert (np.asarray(sim.prefix_min[l]) >= np.array(lb.prefix_lo)).all()
            assert (np.asarray(sim.accumulators[l]) <= np.array(lb.final_hi)).all()
            assert (np.asarray(sim.accumulators[l]) >= np.array(lb.final_lo)).all()


def test_split_sign_holds_every_sequential_partial_sum():
    """S+ >= every bias-first prefix and S- <= every one: split_sign never needs fewer bits."""
    q = load()
    seq = analyse_bounds(q, BOX, None, orders=["sequential"] * 3)
    split = analyse_bounds(q, BOX, None, orders=["split_sign"] * 3)
    for a, b in zip(seq, split):
        assert all(x <= y for x, y in zip(a.prefix_hi, b.prefix_hi)) and all(x >= y for x, y in zip(a.prefix_lo, b.prefix_lo))
        assert a.final_lo == b.final_lo and a.final_hi == b.final_hi


SPEC = f'network q = load "{TINY}"\ndomain {{ x in [[-2, 2], [-2, 2], [-2, 2]] }}\nrequire no overflow\n'


def test_profiles_and_per_layer_overrides_resolve_in_order():
    p = parse_spec_text(SPEC + 'implementation { accumulator profile = dsp16  accumulator order = bias_last }\n'
                        'accumulators { layer 2 { max accumulator = 20 }  layer "Gemm_63" { accumulator profile = int32 } }')
    got = [(a.width, a.mode.value, a.order) for a in p.implementation.layer_accumulators]
    assert got == [(16, "saturate", "bias_last"), (20, "saturate", "bias_last"), (32, "wrap", "sequential")]


def _write(tmp_path, text):
    path = tmp_path / "q.nnspec"
    path.write_text(SPEC + text)
    return path


def test_per_layer_certificate_is_rechecked_and_its_orders_are_bound(tmp_path, capsys):
    spec = _write(tmp_path, "implementation { max accumulator = 17 accumulator = saturate }\n"
                            "accumulators { layer 2 { accumulator order = split_sign } layer 3 { accumulator order = bias_last } }")
    cert = tmp_path / "c.json"
    code, out, _ = run(capsys, "prove", spec, "--cert", cert)
    assert code == 0 and "PROVED" in out and "split_sign" in out
    assert run(capsys, "check", cert)[0] == 0
    doc = json.loads(cert.read_text())
    assert doc["implementation"]["orders"] == ["sequential", "split_sign", "bias_last"]
    doc["implementation"]["orders"][1] = "sequential"  # a weaker order's bounds do not cover split_sign's S+ / S-
    doc["claims"]["layers"][1]["prefix_hi"] = [1] * 6
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    code, out, _ = run(capsys, "check", bad)
    assert code == 1 and "layer 2 partial sums" in out
    doc = json.loads(cert.read_text())
    doc["implementation"]["widths"][1] = 16  # split_sign's S+ / S- need 17 bits
    bad.write_text(json.dumps(doc))
    code, out, _ = run(capsys, "check", bad)
    assert code == 1 and "layer 2 accumulator" in out


def test_split_sign_witness_is_confirmed_by_qonnx(tmp_path, capsys):
    pytest.importorskip("qonnx", reason="QONNX execution needs the qonnx extra")
    pytest.importorskip("onnxruntime", reason="QONNX execution needs onnxruntime")
    spec = _write(tmp_path, "accumulators { layer 2 { max accumulator = 14  accumulator order = split_sign } }")
    code, out, _ = run(capsys, "prove", spec, "--json", tmp_path / "r.json")
    assert code == 1 and "VIOLATED" in out
    w = json.loads((tmp_path / "r.json").read_text())["witnesses"][0]
    assert w["layer"] == 2 and w["partial_sum"] > 2**13 - 1
    assert f"partial sum S+ = {w['partial_sum']}" in w["qonnx"]  # recomputed from QONNX's own tensors
    x = np.array([[Fraction(v) for v in w["x"]]], dtype=object)
    sim = simulate(load(), x, acc_bits=[None, 14, None], orders=["sequential", "split_sign", "sequential"])
    assert sim.overflowed[1][0, w["neuron"]]


def test_synth_reports_every_order(tmp_path, capsys):
    code, out, _ = run(capsys, "synth", _write(tmp_path, "accumulators { layer 3 { accumulator order = bias_last } }"),
                       "--json", tmp_path / "s.json")
    assert code == 0
    m = json.loads((tmp_path / "s.json").read_text())["minimal_widths"]
    assert m["orders"] == ["sequential", "sequential", "bias_last"]
    assert m["per_layer"][2] == m["per_layer_by_order"]["bias_last"][2]
    assert m["per_neuron"][2] == m["per_neuron_by_order"]["bias_last"][2]
    assert all(s <= t for s, t in zip(m["per_layer_by_order"]["sequential"], m["per_layer_by_order"]["split_sign"]))


# -- error bounds re-derived by the checker ---------------------------------------------------------------------

def _error_spec(tmp_path, bound):
    return _write(tmp_path, f"require error <= {bound}\nimplementation {{ max accumulator = 17 }}")


def test_error_bounds_are_rederived_by_the_checker_and_tampering_is_caught(tmp_path, capsys):
    cert = tmp_path / "c.json"
    code, out, _ = run(capsys, "prove", _error_spec(tmp_path, 20), "--cert", cert)
    assert code == 0 and "error bounds, both re-derived by the checker" in out
    code, out, _ = run(capsys, "check", cert, "--verbose")
    assert code == 0 and "error bounds" in out
    doc = json.loads(cert.read_text())
    claimed = Fraction(doc["claims"]["errors"][1])
    bad = tmp_path / "bad.json"
    doc["claims"]["errors"][1] = str(claimed - Fraction(1, 10**9))  # the rule's exact value: one less fails
    bad.write_text(json.dumps(doc))
    code, out, _ = run(capsys, "check", bad)
    assert code == 1 and "error bounds" in out and "output 1" in out
    doc = json.loads(cert.read_text())
    doc["requirements"]["max_error"][0] = "1"  # a requirement the claimed bound does not meet
    bad.write_text(json.dumps(doc))
    assert run(capsys, "check", bad)[0] == 1
    doc = json.loads(cert.read_text())
    doc["network"]["content"]["reference"]["layers"][0]["bias"][0] = "1000"
    bad.write_text(json.dumps(doc))
    code, out, _ = run(capsys, "check", bad)
    assert code == 1 and "network hash" in out


def test_certified_error_bound_holds_on_simulation(tmp_path, capsys):
    cert = tmp_path / "c.json"
    assert run(capsys, "prove", _error_spec(tmp_path, 20), "--cert", cert)[0] == 0
    bounds = [float(Fraction(e)) for e in json.loads(cert.read_text())["claims"]["errors"]]
    q = load()
    x = domain_inputs()
    err = np.abs(np.asarray(simulate(q, x.astype(np.float64)).outputs, dtype=float) / 32 - q.reference.forward_float(x.astype(float)))
    assert (err.max(axis=0) <= np.array(bounds)).all()


def test_an_error_bound_only_the_symbolic_rule_proves_is_certified_with_its_lines(tmp_path, capsys):
    cert = tmp_path / "c.json"
    code, out, _ = run(capsys, "prove", _error_spec(tmp_path, 11), "--cert", cert)  # symbolic 10.5, interval 12.4
    assert code == 0 and "error bounds, both re-derived by the checker" in out
    doc = json.loads(cert.read_text())
    assert Fraction(doc["claims"]["errors"][0]) <= 11 and "lines" in doc["claims"]["layers"][1]
    assert run(capsys, "check", cert)[0] == 0
