"""`verifq hls4ml`: the configuration recipe (types, rounding of constants, layer keys, tables),
names read from the user's model and checked against hls4ml's parser, per-neuron designs joined
and proved again, refusals (ideal tables, other weights, ONNX + saturate, unknown keys when
merging), and `verifq codegen` writing the same file. No hls4ml compile here (see
test_hls4ml_roundtrip.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hls4ml_harness import write_float32_onnx
from verifq.cli.main import main
from verifq.fixedpoint.design_io import save_design
from verifq.fixedpoint.format import FixedFormat
from verifq.language import load_problem_and_design

ROOT = Path(__file__).resolve().parent.parent
PEND_SPEC = ROOT / "examples" / "02_onnx_pendulum" / "pendulum.nnspec"
PEND_ONNX = ROOT / "specs" / "networks" / "originals" / "Single_Pendulum__controller_single_pendulum.onnx"
TORA = ROOT / "tests" / "data" / "hls4ml"


def _spec_for(tmp_path: Path, model: Path, *, implementation: str = "rounding = truncate\n  overflow = wrap",
              formats: str = "default = fixed<18, 2>\n  accum = fixed<32, 2>") -> Path:
    text = PEND_SPEC.read_text()
    text = text.replace('"../../specs/networks/originals/Single_Pendulum__controller_single_pendulum.onnx"', f'"{model}"')
    text = text.replace("rounding = truncate\n  overflow = wrap", implementation)
    text = text.split("formats {")[0] + "formats {\n  " + formats + "\n}\n"
    spec = tmp_path / "pend.nnspec"
    spec.write_text(text)
    return spec


def _run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_pendulum_config_follows_the_recipe(tmp_path, capsys):
    out = tmp_path / "cfg.json"
    code, stdout, err = _run(["hls4ml", str(PEND_ONNX), "--spec", str(PEND_SPEC), "-o", str(out), "--quiet"], capsys)
    assert code == 0, err
    cfg = json.loads(out.read_text())
    layers = cfg["LayerName"]
    assert list(layers) == ["global_in", "MatMul_0", "Add_0", "Relu_0", "MatMul_1", "Add_1", "Relu_1", "MatMul_2", "Add_2"]
    assert layers["global_in"]["Precision"] == {"result": "ap_fixed<18,2,AP_TRN,AP_WRAP>"}
    for k in range(3):
        dense = layers[f"MatMul_{k}"]["Precision"]
        assert dense["weight"] == dense["bias"] == "ap_fixed<18,2,AP_RND,AP_WRAP>"  # constants to nearest
        assert dense["accum"] == dense["result"] == "ap_fixed<32,2,AP_TRN,AP_WRAP>"  # exact: the ApplyAlpha rounds once
        assert layers[f"Add_{k}"]["Precision"]["bias"] == "ap_fixed<18,2,AP_RND,AP_WRAP>"
    assert layers["Add_2"]["Precision"]["result"] == "ap_fixed<18,2,AP_TRN,AP_WRAP>"  # linear output: the output format
    assert layers["Relu_0"]["Precision"] == {"result": "ap_fixed<18,2,AP_TRN,AP_WRAP>"}
    assert cfg["Model"]["Strategy"] == "Latency"
    assert "names checked against hls4ml's parser" in stdout or "hls4ml not installed" in stdout
    assert "proved: |hls4ml output 0 - real output 0| <=" in stdout


def test_codegen_writes_the_same_configuration(tmp_path, capsys):
    assert main(["hls4ml", str(PEND_ONNX), "--spec", str(PEND_SPEC), "-o", str(tmp_path / "cfg.json"), "--quiet"]) == 0
    assert main(["codegen", str(PEND_SPEC), "-o", str(tmp_path / "prj"), "--quiet"]) == 0
    assert (tmp_path / "prj" / "hls4ml_config.json").read_text() == (tmp_path / "cfg.json").read_text()


def test_tables_are_layer_keys(tmp_path, capsys):
    out = tmp_path / "cfg.json"
    argv = ["hls4ml", str(TORA / "tora_sigmoid_3x20.onnx"), "--spec", str(TORA / "tora_sigmoid_3x20.nnspec"),
            "--formats", str(TORA / "tora_sigmoid_3x20.formats.json"), "-o", str(out), "--quiet"]
    code, _, err = _run(argv, capsys)
    assert code == 0, err
    layers = json.loads(out.read_text())["LayerName"]
    formats = json.loads((TORA / "tora_sigmoid_3x20.formats.json").read_text())["layers"]
    for k, lf in enumerate(formats):
        entry = layers[f"Sigmoid_{k}"]
        assert entry["table_size"] == lf["table"]["size"]
        w = FixedFormat(*map(int, lf["table"]["entry"][6:-1].split(",")))
        assert entry["table_t"] == f"ap_fixed<{w.width},{w.integer_bits},AP_TRN,AP_WRAP>"
        assert "table" not in entry["Precision"] and "table_t" not in entry["Precision"]  # hls4ml ignores it there


def test_per_neuron_design_is_joined_and_proved_again(tmp_path, capsys):
    problem, design = load_problem_and_design(PEND_SPEC)
    lf = design.layers[0]
    wider = (FixedFormat(20, 2),) + lf.weight[1:]
    per_neuron = replace(design, layers=(replace(lf, weight=wider),) + design.layers[1:])
    formats = tmp_path / "per_neuron.json"
    save_design(formats, per_neuron, problem.network)
    out = tmp_path / "cfg.json"
    code, stdout, err = _run(["hls4ml", str(PEND_ONNX), "--spec", str(PEND_SPEC), "--formats", str(formats),
                              "-o", str(out), "--quiet"], capsys)
    assert code == 0, err
    assert "per-neuron" in stdout and "proved again" in stdout
    assert json.loads(out.read_text())["LayerName"]["MatMul_0"]["Precision"]["weight"] == "ap_fixed<20,2,AP_RND,AP_WRAP>"


def test_ideal_tables_are_refused_with_a_hint(tmp_path, capsys):
    spec = tmp_path / "ideal.nnspec"
    text = (TORA / "tora_sigmoid_3x20.nnspec").read_text().replace(
        "implementation {", "implementation {\n  tables = ideal").replace(
        'load "tora_sigmoid_3x20.onnx"', f'load "{TORA / "tora_sigmoid_3x20.onnx"}"')
    spec.write_text(text + "\nformats {\n  default = fixed<24, 4>\n}\n")
    out = tmp_path / "cfg.json"
    code, _, err = _run(["hls4ml", str(TORA / "tora_sigmoid_3x20.onnx"), "--spec", str(spec), "-o", str(out)], capsys)
    assert code == 2 and "ideal table" in err and "tables = hls4ml" in err
    assert not out.exists()


def test_a_model_with_other_weights_is_refused(tmp_path, capsys):
    problem, _ = load_problem_and_design(PEND_SPEC)
    net = problem.network
    w = [list(r) for r in net.layers[1].weights]
    w[3][4] = w[3][4] + 2 ** -20
    other = replace(net, layers=tuple(replace(l, weights=tuple(tuple(r) for r in w)) if i == 1 else l
                                      for i, l in enumerate(net.layers)))
    model = write_float32_onnx(other, tmp_path / "other.onnx")
    out = tmp_path / "cfg.json"
    code, _, err = _run(["hls4ml", str(model), "--spec", str(PEND_SPEC), "-o", str(out)], capsys)
    assert code == 2 and "layer 2" in err and "weight [3][4]" in err
    assert not out.exists()


def test_onnx_with_saturation_is_refused(tmp_path, capsys):
    spec = _spec_for(tmp_path, PEND_ONNX, implementation="rounding = nearest\n  overflow = saturate")
    code, _, err = _run(["hls4ml", str(PEND_ONNX), "--spec", str(spec), "-o", str(tmp_path / "c.json")], capsys)
    assert code == 2 and "saturate" in err and ".keras" in err


def test_merge_keeps_other_settings_and_refuses_unknown_keys(tmp_path, capsys):
    existing = tmp_path / "mine.json"
    existing.write_text(json.dumps({"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 4, "Strategy": "Latency"},
                                    "LayerName": {"Relu_0": {"Trace": True, "Precision": {"result": "ap_fixed<8,3>"}}}}))
    out = tmp_path / "cfg.json"
    code, _, err = _run(["hls4ml", str(PEND_ONNX), "--spec", str(PEND_SPEC), "-o", str(out), "--merge", str(existing),
                         "--quiet"], capsys)
    assert code == 0, err
    cfg = json.loads(out.read_text())
    assert cfg["Model"]["ReuseFactor"] == 4
    assert cfg["LayerName"]["Relu_0"] == {"Trace": True, "Precision": {"result": "ap_fixed<18,2,AP_TRN,AP_WRAP>"}}
    existing.write_text(json.dumps({"LayerName": {"dense": {"Precision": "ap_fixed<16,6>"}}}))
    out2 = tmp_path / "cfg2.json"
    code, _, err = _run(["hls4ml", str(PEND_ONNX), "--spec", str(PEND_SPEC), "-o", str(out2), "--merge", str(existing)],
                        capsys)
    assert code == 2 and "'dense'" in err and "matches no layer" in err
    assert not out2.exists()


def test_gemm_export_names_match_hls4ml(tmp_path, capsys):
    """torch.onnx.export writes nn.Linear as Gemm(transB=1); hls4ml needs qonnx's GemmToMatMul, after which
    the layers are MatMul_k + Add_k again."""
    onnx = pytest.importorskip("onnx", reason="needs onnx")
    from onnx import TensorProto, helper, numpy_helper

    problem, _ = load_problem_and_design(PEND_SPEC)
    nodes, inits, cur = [], [], "x"
    for i, layer in enumerate(problem.network.layers):
        w = np.array([[float(v) for v in row] for row in layer.weights], dtype=np.float32)
        b = np.array([float(v) for v in layer.bias], dtype=np.float32)
        inits += [numpy_helper.from_array(w, f"W{i}"), numpy_helper.from_array(b, f"B{i}")]
        nodes.append(helper.make_node("Gemm", [cur, f"W{i}", f"B{i}"], [f"z{i}"], name=f"/fc{i}/Gemm", transB=1))
        cur = f"z{i}"
        if i < len(problem.network.layers) - 1:
            nodes.append(helper.make_node("Relu", [cur], [f"a{i}"], name=f"/act{i}/Relu"))
            cur = f"a{i}"
    nodes[-1].output[0] = "y"
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "gemm.onnx"
    onnx.save(model, str(path))
    out = tmp_path / "cfg.json"
    code, stdout, err = _run(["hls4ml", str(path), "--spec", str(PEND_SPEC), "-o", str(out), "--quiet"], capsys)
    assert code == 0, err
    assert list(json.loads(out.read_text())["LayerName"])[1:4] == ["MatMul_0", "Add_0", "Relu_0"]


def test_ties_use_hls4mls_constants_and_the_built_design_is_certified(tmp_path, capsys):
    """A weight exactly halfway between two grid points of a type with 14 fractional bits: hls4ml prints
    it with 14 decimals first, so its constant may differ from verifq's (ties up); the design with
    hls4ml's constants is proved again, written with --formats-out, and certifiable as it is."""
    problem, _ = load_problem_and_design(PEND_SPEC)
    net = problem.network
    w = [list(r) for r in net.layers[0].weights]
    for j in range(0, 20, 2):
        w[j][0] = (int(np.floor(float(w[j][0]) * 2 ** 14)) + type(w[j][0])(1, 2)) / 2 ** 14
    other = replace(net, layers=(replace(net.layers[0], weights=tuple(tuple(r) for r in w)),) + net.layers[1:])
    model = write_float32_onnx(other, tmp_path / "ties.onnx")
    spec = _spec_for(tmp_path, model, formats="default = fixed<18, 2>\n  weight = fixed<16, 2>\n  accum = fixed<32, 2>")
    out, built = tmp_path / "cfg.json", tmp_path / "built.json"
    code, stdout, err = _run(["hls4ml", str(model), "--spec", str(spec), "-o", str(out), "--formats-out", str(built),
                              "--quiet"], capsys)
    assert code == 0, err
    assert "decimal" in stdout and "proved again" in stdout
    doc = json.loads(built.read_text())
    assert doc["weight_rule"] == doc["bias_rule"] == "hls4ml_nearest"
    cert = tmp_path / "built.cert.json"
    assert main(["prove", str(spec), "--formats", str(built), "--cert", str(cert), "--quiet"]) == 0
    assert main(["check", str(cert), "--quiet"]) == 0


def test_a_joined_design_that_fails_is_refused(tmp_path, capsys, monkeypatch):
    """If the per-layer design hls4ml can build is not proved, nothing is written (exit 1)."""
    import verifq.analysis.prove as prove

    problem, design = load_problem_and_design(PEND_SPEC)
    lf = design.layers[0]
    per_neuron = replace(design, layers=(replace(lf, weight=(FixedFormat(20, 2),) + lf.weight[1:]),) + design.layers[1:])
    formats = tmp_path / "per_neuron.json"
    save_design(formats, per_neuron, problem.network)
    real = prove.analyse
    calls = []

    def analyse(problem, design, **kw):  # the second analysis (of the joined design) "fails"
        a = real(problem, design, **kw)
        calls.append(a)
        if len(calls) == 2:
            from fractions import Fraction

            from verifq.analysis.results import Check

            fake = Check(3, 0, "error", "output", Fraction(0), Fraction(1), Fraction(0), Fraction(1, 1000))
            return replace(a, violations=(fake,))
        return a

    monkeypatch.setattr(prove, "analyse", analyse)
    out = tmp_path / "cfg.json"
    code, _, err = _run(["hls4ml", str(PEND_ONNX), "--spec", str(PEND_SPEC), "--formats", str(formats), "-o", str(out)],
                        capsys)
    assert len(calls) == 2
    assert code == 1 and "NOT proved" in err and "no configuration written" in err
    assert not out.exists()


@pytest.mark.slow
def test_keras_sequential_names_match_hls4ml(tmp_path, capsys):
    """Keras 3 auto names (input_layer, dense, dense_relu, ...), read from the saved model and checked
    against hls4ml's own parser (the command refuses a name hls4ml does not parse)."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="Keras 3 (with KERAS_BACKEND=torch) is not installed")
    pytest.importorskip("hls4ml", reason="hls4ml is not installed")
    problem, _ = load_problem_and_design(PEND_SPEC)
    layers = problem.network.layers
    model = keras.Sequential([keras.Input(shape=(2,))] + [
        keras.layers.Dense(l.n_out, activation="relu" if i < 2 else None) for i, l in enumerate(layers)])
    for d, l in zip(model.layers, layers):
        w = np.array([[float(v) for v in row] for row in l.weights], dtype=np.float32)
        d.set_weights([w.T, np.array([float(v) for v in l.bias], dtype=np.float32)])
    path = tmp_path / "seq.keras"
    model.save(str(path))
    out = tmp_path / "cfg.json"
    code, stdout, err = _run(["hls4ml", str(path), "--spec", str(PEND_SPEC), "-o", str(out), "--quiet"], capsys)
    assert code == 0, err
    assert "names checked against hls4ml's parser" in stdout
    names = list(json.loads(out.read_text())["LayerName"])
    assert names[0].startswith("input_layer") and names[2].endswith("_relu") and len(names) == 6
