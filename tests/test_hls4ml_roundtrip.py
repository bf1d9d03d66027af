"""hls4ml 1.3.0 for real: `verifq hls4ml` writes the configuration, hls4ml converts the model with
it, compiles it with g++ and predicts on inputs of the spec's domain; every output must equal,
bit for bit, verifq's simulator of the proved design (and so stay within the certified bound).

Default run: the ARCH-COMP single pendulum (ReLU, ONNX frontend) and the TORA sigmoid controller
(hls4ml sigmoid tables, ONNX frontend), 1,000 inputs each (~20 s of g++ each). `-m slow`: the
same through Keras 3, a nearest/saturate design through Keras 3, a per-neuron design (joined and
proved again), and exact weight ties (hls4ml's constant rule).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hls4ml_harness import missing, roundtrip

pytestmark = pytest.mark.skipif(missing() is not None, reason=f"hls4ml round trips: {missing()}")

ROOT = Path(__file__).resolve().parent.parent
PEND_SPEC = ROOT / "examples" / "02_onnx_pendulum" / "pendulum.nnspec"
PEND_ONNX = ROOT / "specs" / "networks" / "originals" / "Single_Pendulum__controller_single_pendulum.onnx"
TORA = ROOT / "tests" / "data" / "hls4ml"


def _check(r, n):
    assert r.rows == n
    assert r.bit_exact_rows == n, f"{r.bit_exact_rows}/{n} rows bit-exact, max {r.max_ulps} ulps"
    assert r.max_err_hls <= r.bound * (1 + 1e-9) + 1e-12, (r.max_err_hls, r.bound)


def test_relu_pendulum_onnx_is_bit_exact(tmp_path):
    _check(roundtrip(PEND_SPEC, PEND_ONNX, tmp_path, n=1000), 1000)


def test_sigmoid_tables_onnx_are_bit_exact(tmp_path):
    r = roundtrip(TORA / "tora_sigmoid_3x20.nnspec", TORA / "tora_sigmoid_3x20.onnx", tmp_path,
                  formats=TORA / "tora_sigmoid_3x20.formats.json", n=1000)
    _check(r, 1000)


# ----------------------------------------------------------------------------- slow: Keras 3, other designs
def _keras_model(network, path: Path) -> Path:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("keras", reason="Keras 3 (with KERAS_BACKEND=torch) is not installed")
    from hls4ml_harness import write_keras_model

    return write_keras_model(network, path)


@pytest.mark.slow
def test_relu_pendulum_keras_is_bit_exact(tmp_path):
    from verifq.language import load_problem_and_design

    problem, _ = load_problem_and_design(PEND_SPEC)
    model = _keras_model(problem.network, tmp_path / "pendulum.keras")
    _check(roundtrip(PEND_SPEC, model, tmp_path / "rt", n=2000), 2000)


@pytest.mark.slow
def test_sigmoid_keras_is_bit_exact(tmp_path):
    from verifq.language import load_problem_and_design

    spec, formats = TORA / "tora_sigmoid_3x20.nnspec", TORA / "tora_sigmoid_3x20.formats.json"
    problem, _ = load_problem_and_design(spec, formats)
    model = _keras_model(problem.network, tmp_path / "tora.keras")
    _check(roundtrip(spec, model, tmp_path / "rt", formats=formats, n=2000), 2000)


@pytest.mark.slow
def test_nearest_saturate_keras_is_bit_exact(tmp_path):
    from verifq.language import load_problem_and_design

    text = PEND_SPEC.read_text().replace("rounding = truncate\n  overflow = wrap", "rounding = nearest\n  overflow = saturate")
    spec = tmp_path / "pend_ns.nnspec"
    spec.write_text(text.replace('"../../specs/', f'"{ROOT}/specs/'))
    problem, _ = load_problem_and_design(spec)
    model = _keras_model(problem.network, tmp_path / "pendulum.keras")
    _check(roundtrip(spec, model, tmp_path / "rt", n=2000), 2000)


@pytest.mark.slow
def test_per_neuron_design_is_joined_proved_and_bit_exact(tmp_path):
    from verifq.fixedpoint.design_io import save_design
    from verifq.fixedpoint.format import FixedFormat
    from verifq.language import load_problem_and_design

    problem, design = load_problem_and_design(PEND_SPEC)
    lf = design.layers[1]
    per_neuron = replace(design, layers=(design.layers[0], replace(lf, weight=(FixedFormat(20, 2),) + lf.weight[1:]),
                                         design.layers[2]))
    formats = tmp_path / "per_neuron.json"
    save_design(formats, per_neuron, problem.network)
    r = roundtrip(PEND_SPEC, PEND_ONNX, tmp_path / "rt", formats=formats, n=2000)
    assert r.reproved and any("per-neuron" in n for n in r.notes)
    _check(r, 2000)


@pytest.mark.slow
def test_exact_weight_ties_follow_hls4mls_constant_rule(tmp_path):
    """Weights exactly halfway between two grid points of a weight type with few fractional bits: hls4ml
    prints them with F decimals first, so they go to the even mantissa, not up; verifq proves the design with
    hls4ml's constants and the build is bit-exact."""
    from hls4ml_harness import write_float32_onnx
    from verifq.language import load_problem_and_design

    problem, _ = load_problem_and_design(PEND_SPEC)
    net = problem.network
    rng = np.random.default_rng(7)
    layers = []
    for layer in net.layers:
        w = [list(r) for r in layer.weights]
        for _ in range(5):
            j, k = int(rng.integers(layer.n_out)), int(rng.integers(layer.n_in))
            w[j][k] = (int(np.floor(float(w[j][k]) * 2 ** 14)) + type(w[j][k])(1, 2)) / 2 ** 14
        layers.append(replace(layer, weights=tuple(tuple(r) for r in w)))
    model = write_float32_onnx(replace(net, layers=tuple(layers)), tmp_path / "ties.onnx")
    spec = tmp_path / "ties.nnspec"
    text = PEND_SPEC.read_text().replace('"../../specs/networks/originals/Single_Pendulum__controller_single_pendulum.onnx"',
                                         f'"{model}"')
    spec.write_text(text.replace("default = fixed<18, 2>", "default = fixed<18, 2>\n  weight = fixed<16, 2>"))
    r = roundtrip(spec, model, tmp_path / "rt", n=2000)
    assert r.reproved and any("decimal" in n for n in r.notes), r.notes
    _check(r, 2000)
    assert json.loads((tmp_path / "rt" / "hls4ml_config.json").read_text())["LayerName"]["MatMul_0"]["Precision"][
        "weight"] == "ap_fixed<16,2,AP_RND,AP_WRAP>"
