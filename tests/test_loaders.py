"""Loaders: the real benchmark files load to exactly the numbers of their JSON
twins, ONNX forward passes agree with onnx's reference evaluator, and every
bad file becomes a UserError that says what is wrong and where."""

from __future__ import annotations

import json
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from verifq.errors import Location, UserError
from verifq.network.ir import Activation
from verifq.network.loaders import load_benchmark_json, load_network, load_vnnlib_box

ROOT = Path(__file__).resolve().parents[1]
NETWORKS = ROOT / "specs" / "networks"
ORIGINALS = NETWORKS / "originals"
DATA = Path(__file__).resolve().parent / "data"
SHARED = ROOT.parent / "shared" / "benchmarks"

ALL_JSON = sorted(NETWORKS.glob("*.json"))
ONNX_ORIGINALS = sorted(ORIGINALS.glob("*.onnx"))


def twin(name: str):
    return load_benchmark_json(NETWORKS / f"{name}.json")[0]


def params(net):
    """Every weight and bias, in order."""
    return [v for layer in net.layers for row in (*layer.weights, layer.bias) for v in row]


def assert_user_error(excinfo, *fragments: str) -> UserError:
    err = excinfo.value
    text = err.render()
    for frag in fragments:
        assert frag in text, f"{frag!r} not in:\n{text}"
    return err


# -- the originals against their JSON twins -------------------------------------


@pytest.mark.parametrize(
    "original, json_name",
    [
        ("ACASXU_run2a_1_1_batch_2000.nnet", "acasxu_run2a_1_1"),
        ("ACASXU_run2a_2_1_batch_2000.nnet", "acasxu_run2a_2_1"),
        ("Single_Pendulum__controller_single_pendulum.onnx", "archcomp22_single_pendulum_relu_2x25"),
        ("Double_Pendulum__controller_double_pendulum_less_robust.onnx", "archcomp22_double_pendulum_less_robust_relu_2x25"),
        ("Aircraft__Attitude_Control__attitude_control_3_64_torch.onnx", "archcomp22_attitude_control_sigmoid_3x64"),
    ],
)
def test_original_equals_json_twin_exactly(original, json_name):
    net, expected = load_network(ORIGINALS / original), twin(json_name)
    assert net.layers == expected.layers  # weights, biases and activations, as exact Fractions
    assert net.normalization == expected.normalization
    assert net.postprocess == expected.postprocess
    assert net.source == str(ORIGINALS / original)


def test_acasxu_nnet_normalization_and_postprocess():
    net = load_network(ORIGINALS / "ACASXU_run2a_1_1_batch_2000.nnet")
    norm = net.normalization
    assert norm.clip_lo[1] == Fraction("-3.141593") and norm.clip_hi[0] == 60760
    assert norm.mean[0] == Fraction("1.9791091e+04") and norm.range[1] == Fraction("6.28318530718")
    assert net.postprocess.scale == (Fraction("373.94992"),) * 5
    assert net.postprocess.post_offset == (Fraction("7.5188840201005975"),) * 5
    assert set(net.postprocess.pre_offset) == {0}
    assert [l.activation for l in net.layers] == [Activation.RELU] * 6 + [Activation.LINEAR]
    assert "Creative Commons" in net.license_note


def test_acasxu_onnx_is_float32_rounding_of_the_nnet():
    """The VNN-COMP ONNX copy stores float32 roundings of the .nnet decimals
    (the JSON twin holds the decimals) and has no normalization, so it equals
    the twin only after rounding each decimal to float32."""
    net = load_network(ORIGINALS / "ACASXU_run2a_1_1_batch_2000.onnx")
    expected = twin("acasxu_run2a_1_1")
    assert [l.activation for l in net.layers] == [l.activation for l in expected.layers]
    assert params(net) == [Fraction(float(np.float32(float(v)))) for v in params(expected)]
    assert net.normalization is None and net.postprocess is None


@pytest.mark.parametrize(
    "original, json_name",
    [
        ("Single_Pendulum__controller_single_pendulum.nnet", "archcomp22_single_pendulum_relu_2x25"),
        ("Double_Pendulum__controller_double_pendulum_less_robust.nnet", "archcomp22_double_pendulum_less_robust_relu_2x25"),
    ],
)
def test_pendulum_nnet_is_the_twin_rounded_to_5_decimals(original, json_name):
    """The JSON notes say the pendulum .nnet copies are rounded to 5 decimals,
    so each number is within half a unit of the 5th decimal of the twin's
    float32 value -- not equal. Their normalization lines are single `0`
    placeholders, meaning none."""
    net, expected = load_network(ORIGINALS / original), twin(json_name)
    assert [l.activation for l in net.layers] == [l.activation for l in expected.layers]
    got, want = params(net), params(expected)
    assert len(got) == len(want)
    assert max(abs(a - b) for a, b in zip(got, want)) <= Fraction(5, 10**6)
    assert all(a.denominator <= 10**5 for a in got)  # really 5-decimal values
    assert net.normalization is None and net.postprocess is None


def _reference_outputs(path: Path, xs: np.ndarray) -> np.ndarray:
    model = onnx.load(str(path))
    inits = {i.name for i in model.graph.initializer}
    inp = next(i for i in model.graph.input if i.name not in inits)
    shape = [d.dim_value if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim]
    ref = ReferenceEvaluator(model)
    return np.array([np.ravel(ref.run(None, {inp.name: x.reshape(shape).astype(np.float32)})[0]) for x in xs])


@pytest.mark.parametrize("path", ONNX_ORIGINALS, ids=lambda p: p.name)
def test_onnx_forward_pass_matches_reference_evaluator(path):
    net = load_network(path)
    rng = np.random.default_rng(0)
    xs = rng.uniform(-1.0, 1.0, size=(20, net.n_inputs))
    ours = net.evaluate_float(xs)
    theirs = _reference_outputs(path, xs)
    # the reference evaluates in float32, we in float64
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


# -- the JSON networks --------------------------------------------------------------


def test_the_json_networks_are_all_there():
    assert len(ALL_JSON) == 47


@pytest.mark.parametrize("path", ALL_JSON, ids=lambda p: p.stem)
def test_every_json_network_loads(path):
    net, meta = load_benchmark_json(path)
    raw = json.loads(path.read_text())
    assert net.parameter_count == raw["parameter_count"] == meta["parameter_count"]
    assert net.architecture == raw["architecture"]
    assert (net.n_inputs, net.n_outputs) == (raw["inputs"], raw["outputs"])
    assert raw["source"] in net.license_note and net.source == str(path)
    assert (net.normalization is None) == (raw["input_normalization"] is None)
    assert (net.postprocess is None) == (raw["output_postprocess"] is None)
    if meta["input_domain"] is not None:
        assert len(meta["input_domain"]) == net.n_inputs
        assert all(isinstance(v, Fraction) for pair in meta["input_domain"] for v in pair)
    assert "layers" not in meta
    assert load_network(path).layers == net.layers


def test_benchmark_metadata_is_exact():
    _, meta = load_benchmark_json(NETWORKS / "aster_AC6.json")
    assert meta["error_bound"] == Fraction(1, 1000)  # stored as the string "1e-3"
    _, meta = load_benchmark_json(NETWORKS / "acasxu_run2a_1_1.json")
    assert meta["extra_domains"]["property_1"][0] == [Fraction("0.6"), Fraction("0.6798577687")]
    assert meta["input_domain_raw"][0] == [0, 60760]
    _, meta = load_benchmark_json(NETWORKS / "archcomp22_single_pendulum_relu_2x25.json")
    assert meta["input_domain"] == [[1, Fraction(6, 5)], [0, Fraction(1, 5)]]  # decimals, not floats


def _tiny_json(tmp_path, number_type: str, weight: str = "0.1", name="tiny.json") -> Path:
    path = tmp_path / name
    path.write_text(
        "{\n"
        f'  "source_number_type": "{number_type}",\n'
        '  "layers": [\n'
        f'    {{"activation": "relu", "weights": [[{weight}, 2], [3, 4]], "bias": [0, 0.5]}},\n'
        '    {"activation": "linear", "weights": [[1, -1]], "bias": [0]}\n'
        "  ]\n}\n"
    )
    return path


def test_json_number_rule_follows_the_source_type(tmp_path):
    decimal = load_network(_tiny_json(tmp_path, "decimal text (ReachNN txt)", name="a.json"))
    binary = load_network(_tiny_json(tmp_path, "float64 (MAT)", name="b.json"))
    assert decimal.layers[0].weights[0][0] == Fraction(1, 10)
    assert binary.layers[0].weights[0][0] == Fraction(0.1) != Fraction(1, 10)
    assert decimal.name == "a" and decimal.layers[0].bias[1] == Fraction(1, 2)


# -- errors -------------------------------------------------------------------------------


def test_missing_file_points_at_the_referrer(tmp_path):
    spec_loc = Location("model.nnspec", 3, 11)
    with pytest.raises(UserError) as e:
        load_network(tmp_path / "nope.onnx", location=spec_loc)
    err = assert_user_error(e, "not found", "nope.onnx", "model.nnspec:3:11")
    assert err.location == spec_loc


def test_unsupported_extension(tmp_path):
    (tmp_path / "net.h5").write_bytes(b"\x89HDF")
    with pytest.raises(UserError) as e:
        load_network(tmp_path / "net.h5", location=Location("model.nnspec", 2, 5))
    assert_user_error(e, "unsupported network file type '.h5'", "model.nnspec:2:5", ".onnx")


def test_directory_is_not_a_network(tmp_path):
    (tmp_path / "d.json").mkdir()
    with pytest.raises(UserError) as e:
        load_network(tmp_path / "d.json")
    assert_user_error(e, "directory")


def test_corrupt_onnx(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not protobuf \xff\xfe\x00" * 10)
    with pytest.raises(UserError) as e:
        load_network(bad)
    assert_user_error(e, "not a readable ONNX model", "bad.onnx")


def _dense_model(op_nodes, extra_inits=(), n_in=3, n_out=2, input_shape=None):
    """x (shape [1, n_in]) -> Gemm(W, b) -> op_nodes..."""
    rng = np.random.default_rng(1)
    w = numpy_helper.from_array(rng.standard_normal((n_out, n_in)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.standard_normal(n_out).astype(np.float32), "b")
    gemm = helper.make_node("Gemm", ["x", "W", "b"], ["h"], name="dense", transB=1)
    last = op_nodes[-1].output[0] if op_nodes else "h"
    graph = helper.make_graph(
        [gemm, *op_nodes],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape or [1, n_in])],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT, None)],
        [w, b, *extra_inits],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize(
    "node",
    [
        helper.make_node("Softmax", ["h"], ["y"], name="probs"),
        helper.make_node("LeakyRelu", ["h"], ["y"], name="leaky", alpha=0.1),
    ],
    ids=lambda n: n.op_type,
)
def test_onnx_unsupported_operator_is_named(tmp_path, node):
    path = tmp_path / "m.onnx"
    onnx.save(_dense_model([node]), str(path))
    with pytest.raises(UserError) as e:
        load_network(path)
    assert_user_error(e, f"'{node.name}'", f"operator '{node.op_type}' is not supported", "supported operators: Gemm")


def test_onnx_conv_is_named(tmp_path):
    kernel = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "K")
    conv = helper.make_node("Conv", ["x", "K"], ["y"], name="conv1")
    graph = helper.make_graph(
        [conv], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [kernel],
    )
    path = tmp_path / "conv.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(UserError) as e:
        load_network(path)
    assert_user_error(e, "'conv1' (Conv)", "operator 'Conv' is not supported")


def test_onnx_nan_weight_names_layer_row_column(tmp_path):
    model = _dense_model([helper.make_node("Relu", ["h"], ["y"])])
    w = numpy_helper.to_array(model.graph.initializer[0]).copy()
    w[1, 2] = np.nan
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(w, "W"))
    path = tmp_path / "nan.onnx"
    onnx.save(model, str(path))
    with pytest.raises(UserError) as e:
        load_network(path)
    assert_user_error(e, "layer 1, row 2 column 3 is nan", "finite")


def test_onnx_branching_graph_is_rejected(tmp_path):
    add = helper.make_node("Add", ["h", "h"], ["y"], name="residual")
    path = tmp_path / "branch.onnx"
    onnx.save(_dense_model([add]), str(path))
    with pytest.raises(UserError) as e:
        load_network(path)
    assert_user_error(e, "'residual'", "single-path")


def test_onnx_preprocessing_and_postprocessing_fold_exactly(tmp_path):
    """Sub/Div on the input fold into the first layer, an Add after the
    product into its bias, Mul after the last activation into the postprocess
    -- all exactly, and the forward pass still matches the reference."""
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    inits = [
        numpy_helper.from_array(f32([[0.5, -1.0, 2.0]]), "mean"),
        numpy_helper.from_array(f32([3.0]), "three"),
        numpy_helper.from_array(f32([0.25, -0.75]), "b2"),
        numpy_helper.from_array(f32([11.0]), "gain"),
        numpy_helper.from_array(np.array([1, 3], np.int64), "shape"),
        numpy_helper.from_array(f32(np.arange(6).reshape(3, 2) / 8), "W2"),
    ]
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["x2"]),
        helper.make_node("Sub", ["x2", "mean"], ["xc"]),
        helper.make_node("Div", ["xc", "three"], ["xs"]),
        helper.make_node("MatMul", ["xs", "W2"], ["p"]),
        helper.make_node("Add", ["b2", "p"], ["q"]),
        helper.make_node("Tanh", ["q"], ["t"]),
        helper.make_node("Mul", ["t", "gain"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    path = tmp_path / "pre.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    net = load_network(path)
    (layer,) = net.layers
    assert layer.activation is Activation.TANH
    assert layer.weights[0] == (Fraction(0), Fraction(2, 24), Fraction(4, 24))  # W2.T / 3
    # bias = b2 - W2.T @ mean / 3
    assert layer.bias[0] == Fraction(1, 4) - (0 * Fraction(1, 2) + Fraction(2, 8) * -1 + Fraction(4, 8) * 2) / 3
    assert net.postprocess.scale == (11, 11) and set(net.postprocess.post_offset) == {0}
    xs = np.random.default_rng(2).uniform(-2, 2, size=(10, 3))
    ours = net.evaluate_float(xs) * 11
    np.testing.assert_allclose(ours, _reference_outputs(path, xs), rtol=1e-5, atol=1e-5)


def test_json_nan_weight_points_at_the_token(tmp_path):
    path = _tiny_json(tmp_path, "decimal text", weight="NaN")
    with pytest.raises(UserError) as e:
        load_network(path)
    err = assert_user_error(e, "layer 1, row 1, column 1 is NaN", "finite")
    line = path.read_text().splitlines()[3]
    assert (err.location.line, err.location.column) == (4, line.index("NaN") + 1)
    assert "\n       | " + " " * line.index("NaN") + "^^^\n" in err.render()


def test_json_syntax_error_has_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "layers": [\n    {"weights": [[1, 2]],, }\n  ]\n}\n')
    with pytest.raises(UserError) as e:
        load_network(path)
    err = assert_user_error(e, "invalid JSON")
    assert err.location.line == 3


def test_json_shape_mismatch_points_at_the_row(tmp_path):
    path = _tiny_json(tmp_path, "decimal text", weight="0.1, 7")
    with pytest.raises(UserError) as e:
        load_network(path)
    err = assert_user_error(e, "layer 1, row 2: 2 entries, but row 1 has 3")
    assert err.location.line == 4


def test_json_wrong_parameter_count(tmp_path):
    raw = json.loads((NETWORKS / "aster_SmallNN.json").read_text())
    raw["parameter_count"] = 10
    path = tmp_path / "small.json"
    path.write_text(json.dumps(raw, indent=1))
    with pytest.raises(UserError) as e:
        load_network(path)
    assert_user_error(e, "'parameter_count' says 10 but the layers give 9")


def test_json_unknown_activation(tmp_path):
    path = tmp_path / "act.json"
    path.write_text(_tiny_json(tmp_path, "decimal").read_text().replace('"relu"', '"swish"'))
    with pytest.raises(UserError) as e:
        load_network(path)
    assert_user_error(e, "unknown activation 'swish'", "relu, linear, tanh, sigmoid")


PENDULUM_NNET = ORIGINALS / "Single_Pendulum__controller_single_pendulum.nnet"


def test_nnet_nan_weight_names_layer_row_column(tmp_path):
    lines = PENDULUM_NNET.read_text().splitlines(keepends=True)
    assert lines[12].startswith("0.14823, -0.35473")
    lines[12] = "0.14823, nan\n"
    path = tmp_path / "nan.nnet"
    path.write_text("".join(lines))
    with pytest.raises(UserError) as e:
        load_network(path)
    err = assert_user_error(e, "layer 1, row 3, column 2 is nan", "finite")
    assert (err.location.line, err.location.column) == (13, 10)


def test_truncated_nnet(tmp_path):
    text = PENDULUM_NNET.read_text()
    path = tmp_path / "short.nnet"
    path.write_text(text[: len(text) // 2])
    with pytest.raises(UserError) as e:
        load_network(path)
    assert_user_error(e, "the file ends before layer 2", "truncated")


def test_truncated_nnet_header(tmp_path):
    path = tmp_path / "head.nnet"
    path.write_text("// comment\n3, 2, 1, 25\n")
    with pytest.raises(UserError) as e:
        load_network(path)
    assert_user_error(e, "the file ends before the layer-sizes line")


def test_nnet_inconsistent_sizes(tmp_path):
    path = tmp_path / "sizes.nnet"
    path.write_text(PENDULUM_NNET.read_text().replace("3, 2, 1, 25", "3, 3, 1, 25", 1))
    with pytest.raises(UserError) as e:
        load_network(path)
    err = assert_user_error(e, "the counts line says 3 inputs")
    assert err.location.line == 5


# -- VNN-LIB boxes ----------------------------------------------------------------------


def test_vnnlib_acas_property_1_box():
    box = load_vnnlib_box(DATA / "acasxu_prop_1.vnnlib", 5)
    _, meta = load_benchmark_json(NETWORKS / "acasxu_run2a_1_1.json")
    assert [list(b) for b in box] == meta["extra_domains"]["property_1"]


def _vnnlib(tmp_path, body: str, n: int = 2) -> Path:
    path = tmp_path / "p.vnnlib"
    decls = "".join(f"(declare-const X_{i} Real)\n" for i in range(n)) + "(declare-const Y_0 Real)\n"
    path.write_text(decls + body)
    return path


def test_vnnlib_missing_bound(tmp_path):
    path = _vnnlib(tmp_path, "(assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (>= X_1 0))\n")
    with pytest.raises(UserError) as e:
        load_vnnlib_box(path, 2)
    err = assert_user_error(e, "input X_1 has no upper bound", "(assert (<= X_1")
    assert (err.location.line, err.location.column) == (2, 16)


def test_vnnlib_empty_range(tmp_path):
    path = _vnnlib(tmp_path, "(assert (and (<= X_0 1) (>= X_0 0)))\n(assert (<= X_1 -1))\n(assert (>= X_1 1))\n")
    with pytest.raises(UserError) as e:
        load_vnnlib_box(path, 2)
    err = assert_user_error(e, "X_1 has an empty range: lower bound 1 > upper bound -1")
    assert err.location.line == 6


@pytest.mark.parametrize(
    "body, message, line",
    [
        ("(assert (<= X_0 1)\n", "'(' is never closed", 4),
        ("(assert (<= X_0 1)))\n", "unmatched ')'", 4),
        ("(assert (<= X_0 one))\n", "expected a number, not 'one'", 4),
        ("(assert (or (<= X_0 1) (<= X_1 1)))\n", "'or' over inputs is not supported", 4),
        ("(assert (<= X_2 1))\n", "X_2 is used but not declared", 4),
        ("(assert (<= (+ X_0 X_1) 1))\n", "only bounds of single inputs", 4),
        ("(push 1)\n", "unsupported command 'push'", 4),
    ],
)
def test_vnnlib_syntax_errors(tmp_path, body, message, line):
    path = _vnnlib(tmp_path, body)
    with pytest.raises(UserError) as e:
        load_vnnlib_box(path, 2)
    err = assert_user_error(e, message)
    assert err.location.line == line


def test_vnnlib_ignores_outputs_and_takes_tightest_bounds(tmp_path):
    body = (
        "; comment (with parens\n"
        "(assert (<= X_0 1.5)) (assert (< X_0 1))\n"
        "(assert (>= X_0 (- 0.5)))\n"
        "(assert (= X_1 (/ 1 3)))\n"
        "(assert (or (>= Y_0 1) (<= Y_0 -1)))\n"
    )
    box = load_vnnlib_box(_vnnlib(tmp_path, body), 2)
    assert box == ((Fraction(-1, 2), 1), (Fraction(1, 3), Fraction(1, 3)))


def test_vnnlib_declares_too_many_inputs(tmp_path):
    path = _vnnlib(tmp_path, "", n=3)
    with pytest.raises(UserError) as e:
        load_vnnlib_box(path, 2)
    assert_user_error(e, "X_2 is declared but the network has only 2 inputs")


_decimals = st.decimals(min_value=-1000, max_value=1000, places=4, allow_nan=False)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_decimals, _decimals), min_size=1, max_size=6), st.data())
def test_vnnlib_box_round_trips_exactly(tmp_path, pairs, data):
    boxes = [(min(a, b), max(a, b)) for a, b in pairs]
    forms = []
    for i, (lo, hi) in enumerate(boxes):
        style = data.draw(st.sampled_from(["separate", "and", "flipped"]))
        if style == "separate":
            forms.append(f"(assert (>= X_{i} {lo}))\n(assert (<= X_{i} {hi}))")
        elif style == "and":
            forms.append(f"(assert (and (<= X_{i} {hi}) (>= X_{i} {lo})))")
        else:
            forms.append(f"(assert (<= {lo} X_{i}))\n(assert (>= {hi} X_{i}))")
    path = _vnnlib(tmp_path, "\n".join(forms) + "\n", n=len(boxes))
    box = load_vnnlib_box(path, len(boxes))
    assert box == tuple((Fraction(lo), Fraction(hi)) for lo, hi in boxes)


# -- damaged files never escape as anything but UserError ----------------------------


def _damaged(data: st.DataObject, original: bytes) -> bytes:
    cut = data.draw(st.integers(0, len(original)))
    kind = data.draw(st.sampled_from(["truncate", "delete", "insert"]))
    if kind == "truncate":
        return original[:cut]
    if kind == "delete":
        return original[:cut] + original[cut + data.draw(st.integers(1, 40)):]
    return original[:cut] + data.draw(st.binary(min_size=1, max_size=8)) + original[cut:]


@pytest.mark.parametrize(
    "source",
    [PENDULUM_NNET, ORIGINALS / "Single_Pendulum__controller_single_pendulum.onnx", NETWORKS / "aster_SmallNN.json", DATA / "acasxu_prop_1.vnnlib"],
    ids=lambda p: p.suffix,
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_files_raise_only_user_errors(tmp_path, source, data):
    path = tmp_path / f"damaged{source.suffix}"
    path.write_bytes(_damaged(data, source.read_bytes()))
    try:
        if source.suffix == ".vnnlib":
            load_vnnlib_box(path, 5)
        else:
            load_network(path)
    except UserError as err:
        assert err.message and err.render()


# -- the big one ---------------------------------------------------------------------------


@pytest.mark.slow
def test_mnist_256x2_onnx_loads_fast_and_exactly():
    path = SHARED / "originals" / "mnist-net_256x2.onnx"
    if not path.exists():
        pytest.skip(f"{path} not present (MNIST files live only in ../shared)")
    start = time.perf_counter()
    net = load_network(path)
    elapsed = time.perf_counter() - start
    print(f"\nmnist-net_256x2.onnx: {net.parameter_count} parameters loaded in {elapsed:.2f} s")
    assert net.architecture == "784x[256,256]x10" and net.parameter_count == 269322
    assert elapsed < 10
    twin_path = SHARED / "networks" / "vnncomp21_mnistfc_256x2.json"
    if twin_path.exists():
        start = time.perf_counter()
        expected = load_network(twin_path)
        print(f"vnncomp21_mnistfc_256x2.json loaded in {time.perf_counter() - start:.2f} s")
        assert net.layers == expected.layers
    xs = np.random.default_rng(3).uniform(0, 1, size=(5, 784))
    np.testing.assert_allclose(net.evaluate_float(xs), _reference_outputs(path, xs), rtol=1e-4, atol=1e-4)


# -- ONNX operator variants ------------------------------------------------------------------


def _chain_model(nodes, extra=(), shape=(1, 4), opset=13):
    rng = np.random.default_rng(4)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.standard_normal((1, 3)).astype(np.float32), "B"),
        numpy_helper.from_array(rng.standard_normal((3, 2)).astype(np.float32), "W2"),
        *extra,
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


_axes = numpy_helper.from_array(np.array([-1], np.int64), "axes")
ONNX_VARIANTS = {
    "squeeze-attr+gemm-alpha-beta": (
        [helper.make_node("Squeeze", ["x"], ["a"], axes=[2]), helper.make_node("Gemm", ["a", "W", "B"], ["y"], alpha=0.5, beta=2.0)],
        (), (1, 4, 1), 11, 1),
    "gemm-scalar-bias": (
        [helper.make_node("Gemm", ["x", "W", "C"], ["g"], beta=3.0), helper.make_node("Relu", ["g"], ["y"])],
        (numpy_helper.from_array(np.array([0.25], np.float32), "C"),), (1, 4), 13, 1),
    "squeeze-input": (
        [helper.make_node("Squeeze", ["x", "axes"], ["a"]), helper.make_node("Gemm", ["a", "W", "B"], ["y"])],
        (_axes,), (1, 4, 1), 13, 1),
    "unsqueeze+flatten+identity": (
        [helper.make_node("Unsqueeze", ["x"], ["a"], axes=[0]), helper.make_node("Flatten", ["a"], ["b"], axis=-1),
         helper.make_node("Identity", ["b"], ["c"]), helper.make_node("MatMul", ["c", "W"], ["y"])],
        (), (4,), 11, 1),
    "constant-reshape+reversed-sub": (
        [helper.make_node("Constant", [], ["shp"], value=numpy_helper.from_array(np.array([1, -1], np.int64))),
         helper.make_node("Reshape", ["x", "shp"], ["a"]), helper.make_node("MatMul", ["a", "W"], ["m"]),
         helper.make_node("Sub", ["B", "m"], ["y"])],
        (), (2, 2), 13, 1),
    "two-products-make-a-linear-layer": (
        [helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Sigmoid", ["m"], ["s"]),
         helper.make_node("MatMul", ["s", "W2"], ["p"]), helper.make_node("MatMul", ["p", "W3"], ["y"])],
        (numpy_helper.from_array(np.eye(2, dtype=np.float32)[::-1] * 3, "W3"),), (1, 4), 13, 3),
}


@pytest.mark.parametrize("variant", ONNX_VARIANTS, ids=str)
def test_onnx_operator_variants_match_reference(tmp_path, variant):
    nodes, extra, shape, opset, n_layers = ONNX_VARIANTS[variant]
    path = tmp_path / "v.onnx"
    onnx.save(_chain_model(nodes, extra, shape, opset), str(path))
    net = load_network(path)
    assert len(net.layers) == n_layers and net.n_inputs == 4
    xs = np.random.default_rng(5).uniform(-1, 1, size=(8, 4))
    np.testing.assert_allclose(net.evaluate_float(xs), _reference_outputs(path, xs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "nodes, message",
    [
        ([helper.make_node("Gemm", ["x", "W", "B"], ["y"], transA=1)], "transA=1 is not supported"),
        ([helper.make_node("Relu", ["x"], ["y"])], "an activation must follow a MatMul/Gemm layer"),
        ([helper.make_node("MatMul", ["W2", "x"], ["y"])], "the constant is on the left"),
        ([helper.make_node("Div", ["B", "x"], ["y"])], "not affine"),
        ([helper.make_node("Reshape", ["x", "S"], ["y"])], "cannot reshape [1, 4] to [3, -1]"),
        ([helper.make_node("Reshape", ["x", "W"], ["y"])], "the target shape must be integers"),
        ([helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Div", ["m", "Z"], ["y"])], "division by zero"),
        ([helper.make_node("MatMul", ["x", "W"], ["y"]), helper.make_node("Relu", ["x"], ["z"])], "not the running value"),
    ],
    ids=["transA", "activation-first", "constant-left", "reversed-div", "bad-reshape", "float-shape", "div-zero", "branch"],
)
def test_onnx_structural_errors(tmp_path, nodes, message):
    zero = numpy_helper.from_array(np.array([0, 1, 2], np.float32), "Z")
    shape = numpy_helper.from_array(np.array([3, -1], np.int64), "S")
    path = tmp_path / "bad.onnx"
    onnx.save(_chain_model(nodes, (zero, shape)), str(path))
    with pytest.raises(UserError) as e:
        load_network(path)
    assert_user_error(e, message, f"({nodes[-1].op_type})")
