"""Already-quantized QONNX networks: the loader, the integer semantics bit for bit against
QONNX's own execution (qonnx 1.0.0 + onnxruntime), accumulator proofs, witnesses confirmed
by execution, the narrowest accumulators, and bad QONNX files (exit 2).

The model is tests/data/qonnx/tiny_qonnx.onnx, made by tests/data/qonnx/make_tiny_qonnx.py
(seeded random weights, MIT like the rest of verifq)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from verifq.cli.main import main
from verifq.fixedpoint.integer_net import integer_multiplier, round_div, simulate
from verifq.network.loaders.qonnx_format import parse_qonnx

DATA = Path(__file__).resolve().parent / "data" / "qonnx"
TINY = DATA / "tiny_qonnx.onnx"
DOMAIN = "domain { x in [[-2, 2], [-2, 2], [-2, 2]] }"
ROOT_TINY = Path(__file__).resolve().parent.parent / "examples" / "01_inline_tiny" / "tiny.nnspec"


def load(path=TINY):
    return parse_qonnx(Path(path).read_bytes(), Path(path))


def spec(tmp_path, width=None, extra="", model=TINY, require="require no overflow"):
    impl = "" if width is None else f"implementation {{ max accumulator = {width} {extra} }}"
    p = tmp_path / "q.nnspec"
    p.write_text(f'network q = load "{model}"\n{DOMAIN}\n{require}\n{impl}\n')
    return p


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def domain_inputs(n=10_000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (n, 3)).astype(np.float32)
    x[: n // 10] = np.round(x[: n // 10] * 128) / 128  # on and between the input grid: ties
    x[n // 10: n // 10 + 8] = np.array(np.meshgrid([-2, 2], [-2, 2], [-2, 2])).reshape(3, -1).T  # the corners
    return x


# -- semantics without qonnx ---------------------------------------------------------------------------------

def _reference_round(v: Fraction, mode: str) -> int:
    import math

    f = math.floor(v)
    frac = v - f
    if mode == "FLOOR":
        return f
    if mode == "CEIL":
        return math.ceil(v)
    if mode == "DOWN":
        return math.trunc(v)
    if mode == "UP":
        return -math.floor(-v) if v > 0 else math.floor(v)
    if frac != Fraction(1, 2):
        return f + (frac > Fraction(1, 2))
    return {"ROUND": f + (f % 2), "HALF_EVEN": f + (f % 2), "HALF_UP": f + (v > 0), "HALF_DOWN": f + (v < 0)}[mode]


@pytest.mark.parametrize("mode", ["ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN"])
def test_round_div_matches_exact_rounding(mode):
    rng = np.random.default_rng(1)
    p = rng.integers(-400, 400, 3000)
    for q in (1, 2, 4, 8, 3, 7):
        got = round_div(p, q, mode)
        want = [_reference_round(Fraction(int(a), q), mode) for a in p]
        assert list(map(int, got)) == want


def test_integer_multiplier_is_exact_for_powers_of_two_and_q31_otherwise():
    assert integer_multiplier(Fraction(1, 128)) == (1, 7)
    assert integer_multiplier(Fraction(4)) == (4, 0)
    m, n = integer_multiplier(Fraction(1, 3))
    assert 2**30 <= m < 2**31 and abs(Fraction(m, 2**n) - Fraction(1, 3)) <= Fraction(1, 2 ** (n + 1))


@pytest.mark.parametrize("mode", ["ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN"])
def test_the_float64_input_path_equals_the_rational_one(mode):
    import dataclasses

    from verifq.fixedpoint.integer_net import quantize_input

    q = load()
    x = domain_inputs(3000, seed=5).astype(np.float64) * 1.6  # also beyond the clamp
    s = np.float32(0.0173)  # an arbitrary scale: grid points and midpoints are near-ties in float
    k = np.random.default_rng(2).integers(-200, 200, (1000, 3))
    x[:1000], x[1000:2000] = (k * s).astype(np.float32), ((k + 0.5) * s).astype(np.float32)
    for mult, zp in ((Fraction(64), 0), (1 / Fraction(float(s)), 0), (1 / Fraction(float(s)), 3)):
        step = dataclasses.replace(q.input_steps[0], rounding=mode, multiplier=(mult,) * 3, zero_point=(zp,) * 3)
        qq = dataclasses.replace(q, input_steps=(step,))
        assert np.array_equal(quantize_input(qq, x), quantize_input(qq, x.astype(object)).astype(np.int64))


def test_loader_reads_codes_units_and_the_float_reference():
    q = load()
    assert [l.n_out for l in q.layers] == [8, 6, 2] and q.input_bits == 8 and q.input_signed
    assert q.layers[0].unit[0] == Fraction(1, 4096) and q.layers[1].unit[1] == Fraction(1, 2048)  # per channel
    assert all(abs(w) <= 127 for l in q.layers for row in l.weights for w in row)  # 8-bit narrow
    assert q.reference.architecture == "3x[8,6]x2"
    assert [l.activation.value for l in q.reference.layers] == ["relu", "relu", "linear"]
    w = q.reference.layers[0].weights[0][0]
    assert abs(w - q.layers[0].weights[0][0] * Fraction(1, 64)) <= Fraction(1, 128)


def test_wrap_and_saturate_accumulators():
    q = load()
    x = np.array([[2, -2, 2]], dtype=object)
    wide = simulate(q, x)
    wrap = simulate(q, x, acc_bits=[16, None, None], mode="wrap")
    sat = simulate(q, x, acc_bits=[16, None, None], mode="saturate")
    assert wrap.overflowed[0][0, 0] and sat.overflowed[0][0, 0] and not wide.overflowed[0].any()
    true = int(wide.accumulators[0][0, 0])
    assert int(wrap.accumulators[0][0, 0]) == (true + 2**15) % 2**16 - 2**15
    assert int(sat.accumulators[0][0, 0]) == 2**15 - 1


# -- against QONNX's execution ------------------------------------------------------------------------------

def test_simulation_is_bit_exact_with_qonnx_execution_on_10000_inputs():
    pytest.importorskip("qonnx", reason="QONNX execution needs the qonnx extra")
    pytest.importorskip("onnxruntime", reason="QONNX execution needs onnxruntime")
    import onnx

    from verifq.network.loaders.qonnx_exec import execute_qonnx

    q = load()
    x = domain_inputs()
    sim = simulate(q, x.astype(np.float64))
    ctx = execute_qonnx(TINY, x, full=True)
    out = ctx[onnx.load(str(TINY)).graph.output[0].name].astype(np.float64)
    unit = float(q.layers[-1].out_unit[0])
    assert np.array_equal(np.asarray(sim.outputs, dtype=np.float64) * unit, out)
    linear = [n for n in onnx.load(str(TINY)).graph.node if n.op_type in ("MatMul", "Gemm")]
    for layer, node, codes in zip(q.layers, linear, sim.inputs):  # every layer's input codes too
        assert np.array_equal(ctx[node.input[0]].astype(np.float64), np.asarray(codes, dtype=np.float64) * float(layer.in_unit))


def test_overflow_witness_is_confirmed_by_qonnx_execution(tmp_path, capsys):
    pytest.importorskip("qonnx", reason="QONNX execution needs the qonnx extra")
    pytest.importorskip("onnxruntime", reason="QONNX execution needs onnxruntime")
    out_json = tmp_path / "r.json"
    code, out, _ = run(capsys, "prove", spec(tmp_path, 16), "--json", out_json)
    assert code == 1 and "VIOLATED" in out
    doc = json.loads(out_json.read_text())
    w = doc["witnesses"][0]
    assert w["layer"] == 1 and w["partial_sum"] > 2**15 - 1
    assert f"partial sum P_{w['k']} = {w['partial_sum']}" in w["qonnx"]  # recomputed from QONNX's own tensors
    x = np.array([[Fraction(v) for v in w["x"]]], dtype=object)
    assert simulate(load(), x, acc_bits=[16, None, None]).overflowed[0][0, w["neuron"]]



def test_error_bounds_are_qualified_when_an_accumulator_may_overflow(tmp_path, capsys):
    """The error rule models exact sums: with accumulators that may overflow (saturation or a wrapped
    final sum changes the value) the printed bound is conditional, never a plain claim."""
    out_json = tmp_path / "r.json"
    code, out, _ = run(capsys, "prove", spec(tmp_path, 16, "accumulator = saturate"), "--json", out_json)
    assert code == 1 and "MAY OVERFLOW" in out
    doc = json.loads(out_json.read_text())
    assert doc["errors_hold"] is False
    assert all("only if no accumulator overflows (not proved)" in line for line in out.splitlines()
               if line.startswith("output "))
    code, out, _ = run(capsys, "prove", spec(tmp_path, 24), "--json", out_json)
    assert code == 0 and json.loads(out_json.read_text())["errors_hold"] is True
    assert "not proved" not in out

# -- proofs, narrowest accumulators, soundness ------------------------------------------------------------------

def test_prove_and_synth_agree_and_are_sound(tmp_path, capsys):
    code, out, _ = run(capsys, "synth", spec(tmp_path), "--json", tmp_path / "s.json")
    assert code == 0
    doc = json.loads((tmp_path / "s.json").read_text())
    widths = doc["minimal_widths"]["per_layer"]
    assert widths[0] == 17  # exact for the first layer: a corner of the box needs 17 bits
    code, out, _ = run(capsys, "prove", spec(tmp_path, max(widths)))
    assert code == 0 and "PROVED" in out
    code, out, _ = run(capsys, "prove", spec(tmp_path, max(widths) - 1), "--no-search")
    assert code == 1
    q = load()
    sim = simulate(q, domain_inputs(), prefixes=True)
    for l, layer in enumerate(doc["layers"]):  # no simulated partial sum leaves its proven bounds
        lo = np.array([int(v) for v in layer["prefix_lo"]])
        hi = np.array([int(v) for v in layer["prefix_hi"]])
        assert (sim.prefix_max[l] <= hi).all() and (sim.prefix_min[l] >= lo).all()
        assert max(layer["minimal_width"]) <= layer["data_type_bound"]
    err = np.abs(np.asarray(sim.outputs, dtype=float) / 32 - q.reference.forward_float(domain_inputs().astype(float)))
    assert (err.max(axis=0) <= np.array([float(Fraction(e)) for e in doc["errors"]])).all()


def test_error_requirement(tmp_path, capsys):
    code, out, _ = run(capsys, "prove", spec(tmp_path, 24, require="require error <= 20"))
    assert code == 0 and "every error bound holds" in out
    code, out, _ = run(capsys, "prove", spec(tmp_path, 24, require="require error <= 0.01"))
    assert code == 1 and "NOT PROVED" in out


# -- bad QONNX files -----------------------------------------------------------------------------------------------

def _mutate(tmp_path, change):
    import onnx

    m = onnx.load(str(TINY))
    change(m)
    p = tmp_path / "bad.onnx"
    onnx.save(m, str(p))
    return p


def _set_attr(node, name, value):
    from onnx import helper

    for a in list(node.attribute):
        if a.name == name:
            node.attribute.remove(a)
    if value is not None:
        node.attribute.append(helper.make_attribute(name, value))


def _first(m, op):
    return next(n for n in m.graph.node if n.op_type == op)


def _half_zero_point(m):
    from onnx import numpy_helper

    m.graph.initializer.append(numpy_helper.from_array(np.array(0.5, dtype=np.float32), "half"))
    _first(m, "Quant").input[2] = "half"


def _unquantized_input(m):
    q = _first(m, "Quant")
    _first(m, "Gemm").input[0] = q.input[0]
    m.graph.node.remove(q)


BAD = {
    "unsupported": (lambda m: setattr(_first(m, "Relu"), "op_type", "Softsign"), "unsupported operator Softsign"),
    "zero point": (_half_zero_point, "zero point is not an integer"),
    "signed": (lambda m: _set_attr(_first(m, "Quant"), "signed", None), "has no 'signed' attribute"),
    "rounding": (lambda m: _set_attr(_first(m, "Quant"), "rounding_mode", "STOCHASTIC"), "unknown rounding mode"),
    "unquantized input": (_unquantized_input, "its input is not quantized"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_qonnx_files_exit_2_naming_the_node(tmp_path, capsys, case):
    change, message = BAD[case]
    bad = _mutate(tmp_path, change)
    code, _, err = run(capsys, "prove", spec(tmp_path, 16, model=bad))
    assert code == 2 and message in err and "error" in err
    assert "node '" in err


# -- certificates ------------------------------------------------------------------------------------------------

def test_accumulator_certificate_is_rechecked_and_tampering_is_caught(tmp_path, capsys):
    cert = tmp_path / "q.cert.json"
    code, out, _ = run(capsys, "prove", spec(tmp_path, 17), "--cert", cert)
    assert code == 0 and cert.exists()
    code, out, _ = run(capsys, "check", cert)
    assert code == 0 and "VALID" in out
    doc = json.loads(cert.read_text())
    doc["claims"]["layers"][0]["prefix_hi"][0] -= 1  # one less than the corner reaches
    bad = tmp_path / "bad.cert.json"
    bad.write_text(json.dumps(doc))
    code, out, _ = run(capsys, "check", bad)
    assert code == 1 and "layer 1 partial sums" in out
    doc = json.loads(cert.read_text())
    doc["network"]["content"]["layers"][1]["weights"][0][0] += 1
    bad.write_text(json.dumps(doc))
    code, out, _ = run(capsys, "check", bad)
    assert code == 1 and "network hash" in out
    doc = json.loads(cert.read_text())
    doc["implementation"]["widths"] = [16, 17, 17]
    bad.write_text(json.dumps(doc))
    code, out, _ = run(capsys, "check", bad)
    assert code == 1 and "layer 1 accumulator" in out


def test_the_integer_checker_runs_standalone(tmp_path, capsys):
    import shutil
    import subprocess
    import sys

    cert = tmp_path / "q.cert.json"
    assert run(capsys, "prove", spec(tmp_path, 17), "--cert", cert)[0] == 0
    here = Path(__file__).resolve().parent.parent / "verifq" / "certificate"
    from verifq.certificate.report import CHECKER_FILES  # the files a report bundles: the checker, whole

    for f in CHECKER_FILES:
        shutil.copy(here / f, tmp_path / f)
    r = subprocess.run([sys.executable, str(tmp_path / "checker.py"), str(cert)], capture_output=True, text=True)
    assert r.returncode == 0 and "VALID" in r.stdout


def test_check_with_spec_binds_an_integer_certificate_to_the_spec(tmp_path, capsys):
    """`check --spec` must refuse an integer certificate whose network, domain, accumulators or error
    requirements are not the spec's (it used to say VALID with a note)."""
    cert = tmp_path / "q.cert.json"
    assert run(capsys, "prove", spec(tmp_path, 17), "--cert", cert)[0] == 0
    (tmp_path / "x").mkdir()
    same = spec(tmp_path / "x", 17)
    code, out, _ = run(capsys, "check", cert, "--spec", same)
    assert code == 0 and out.strip().endswith("VALID")
    (tmp_path / "y").mkdir()
    others = {"implementation": spec(tmp_path / "y", 18), "domain": None, "error bounds": None}
    narrow = tmp_path / "d.nnspec"
    narrow.write_text(same.read_text().replace(DOMAIN, "domain { x in [[-2, 2], [-2, 2], [-1, 2]] }"))
    others["domain"] = narrow
    needs_error = tmp_path / "e.nnspec"
    needs_error.write_text(same.read_text().replace("require no overflow", "require no overflow\nrequire error <= 100"))
    others["error bounds"] = needs_error
    for what, other in others.items():
        code, out, _ = run(capsys, "check", cert, "--spec", other)
        assert code == 1 and "INVALID: spec:" in out and what in out, (what, out)
    code, out, _ = run(capsys, "check", cert, "--spec", ROOT_TINY)
    assert code == 1 and "float network" in out
