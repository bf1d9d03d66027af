"""Round trips through hls4ml 1.3.0: verifq's configuration -> hls4ml convert -> compile() ->
predict() on inputs of the spec's domain -> bit-for-bit comparison with verifq's simulator of
the design the configuration builds. Shared by tests/test_hls4ml_roundtrip.py and
benchmarks/hls4ml_roundtrip.py (which also writes float32 ONNX copies of JSON networks).

Needs hls4ml==1.3.0, onnx, qonnx (ONNX models) and g++; Keras 3 with KERAS_BACKEND=torch for
.keras models. Imports of those are lazy.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

from verifq.analysis.prove import analyse, float_input_box  # noqa: E402
from verifq.cli.main import main  # noqa: E402
from verifq.codegen.hls4ml_config import hls4ml_design  # noqa: E402
from verifq.codegen.hls4ml_model import cleaned_onnx, frontend_of  # noqa: E402
from verifq.fixedpoint.simulator import quantize_inputs, simulate  # noqa: E402
from verifq.language import load_problem_and_design  # noqa: E402
from verifq.network.ir import Activation  # noqa: E402

ONNX_ACT = {Activation.RELU: "Relu", Activation.TANH: "Tanh", Activation.SIGMOID: "Sigmoid"}


def missing() -> str | None:
    """Why a round trip cannot run here (None: it can)."""
    import importlib.util
    import shutil

    for mod in ("hls4ml", "onnx", "qonnx", "onnxruntime"):
        if importlib.util.find_spec(mod) is None:
            return f"{mod} is not installed (pip install '.[test]')"
    if shutil.which("g++") is None:
        return "g++ is not installed (hls4ml's compile() needs it)"
    return None


@dataclass
class RoundTrip:
    rows: int
    bit_exact_rows: int
    max_ulps: int
    max_err_hls: float  # max |hls4ml - real network| over the rows (float64 reference)
    bound: float  # certified bound (max over outputs)
    reproved: bool
    times: dict  # seconds: config, convert, compile, predict
    source_bytes: int
    notes: tuple


def write_float32_onnx(network, path: Path) -> Path:
    """The network with float32 weights as ONNX MatMul + Add (+ activation) nodes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, cur = [], [], "x"
    for i, layer in enumerate(network.layers, start=1):
        w = np.array([[float(v) for v in row] for row in layer.weights], dtype=np.float32)
        b = np.array([float(v) for v in layer.bias], dtype=np.float32)
        inits += [numpy_helper.from_array(np.ascontiguousarray(w.T), f"W{i}"), numpy_helper.from_array(b, f"B{i}")]
        nodes.append(helper.make_node("MatMul", [cur, f"W{i}"], [f"m{i}"], name=f"fc{i}"))
        nodes.append(helper.make_node("Add", [f"m{i}", f"B{i}"], [f"z{i}"], name=f"fc{i}_bias"))
        cur = f"z{i}"
        if layer.activation in ONNX_ACT:
            nodes.append(helper.make_node(ONNX_ACT[layer.activation], [cur], [f"a{i}"], name=f"act{i}"))
            cur = f"a{i}"
    nodes[-1].output[0] = "y"  # no trailing Identity: hls4ml would lose the output
    graph = helper.make_graph(nodes, network.name,
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, network.n_inputs])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, network.n_outputs])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def write_keras_model(network, path: Path) -> Path:
    """The network with float32 weights as a Keras 3 functional model (input "state", Dense "fc1", ...,
    activations inside the Dense layers), saved as .keras."""
    import keras

    acts = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "linear": None}
    inp = keras.Input(shape=(network.n_inputs,), name="state")
    h, dense = inp, []
    for i, layer in enumerate(network.layers, start=1):
        d = keras.layers.Dense(layer.n_out, activation=acts[layer.activation.value], name=f"fc{i}")
        h = d(h)
        dense.append((d, layer))
    model = keras.Model(inp, h)
    for d, layer in dense:
        w = np.array([[float(v) for v in row] for row in layer.weights], dtype=np.float32)
        d.set_weights([w.T, np.array([float(v) for v in layer.bias], dtype=np.float32)])
    model.save(str(path))
    return path


def spec_loading(spec: Path, model: Path, out: Path) -> Path:
    """A copy of `spec` whose network is `model` (same domain, requirements, implementation)."""
    text = spec.read_text()
    text, n = re.subn(r'(network\s+\w+\s*=\s*load\s*)"[^"]*"', lambda m: f'{m.group(1)}"{model.resolve()}"', text)
    assert n == 1, "expected one `network NAME = load \"...\"` line"
    out.write_text(text)
    return out


def domain_samples(problem, n: int, seed: int = 1) -> np.ndarray:
    """The box's corners (up to n), then uniform float64 points of the box (layer-input units)."""
    lo, hi = float_input_box(problem)
    d = len(lo)
    corners = [[hi[k] if (c >> k) & 1 else lo[k] for k in range(d)] for c in range(min(2 ** min(d, 20), n))]
    rng = np.random.default_rng(seed)
    return np.vstack([np.array(corners).reshape(-1, d), rng.uniform(lo, hi, size=(n - len(corners), d))])


def convert(model_path: Path, config: dict, outdir: Path, backend: str = "Vivado"):
    import hls4ml

    kw = dict(output_dir=str(outdir), hls_config=config, backend=backend, io_type="io_parallel")
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        if frontend_of(model_path) == "onnx":
            return hls4ml.converters.convert_from_onnx_model(cleaned_onnx(model_path), **kw)
        import keras

        return hls4ml.converters.convert_from_keras_model(keras.saving.load_model(str(model_path), compile=False), **kw)


def roundtrip(spec: Path, model: Path, workdir: Path, *, formats: Path | None = None, n: int = 1000,
              backend: str = "Vivado") -> RoundTrip:
    """verifq hls4ml (the command) -> hls4ml convert/compile/predict -> compare with the simulator."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg_path = workdir / "hls4ml_config.json"
    argv = ["hls4ml", str(model), "--spec", str(spec), "-o", str(cfg_path), "--quiet"]
    if formats is not None:
        argv += ["--formats", str(formats)]
    t0 = time.perf_counter()
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        code = main(argv)
    assert code == 0, f"verifq hls4ml exited {code}: {err.getvalue().strip()[:400]}"
    times = {"config": time.perf_counter() - t0}
    config = json.loads(cfg_path.read_text())
    problem, design = load_problem_and_design(spec, formats)
    hd = hls4ml_design(problem, design, analyse(problem, design), frontend_of(model))
    qnet = hd.analysis.qnet
    x = domain_samples(problem, n)
    mant, _ = quantize_inputs(qnet, x)
    ref = simulate(qnet, np.asarray(mant))
    assert not ref.overflow.any(), "the simulator overflows on a domain input of a proved design"
    t = time.perf_counter()
    hm = convert(model, config, workdir / "prj", backend)
    times["convert"] = time.perf_counter() - t
    t = time.perf_counter()
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        hm.compile()
    times["compile"] = time.perf_counter() - t
    t = time.perf_counter()
    y = np.asarray(hm.predict(np.ascontiguousarray(x, dtype=np.float64)), dtype=np.float64).reshape(len(x), -1)
    times["predict"] = time.perf_counter() - t
    scaled = np.ldexp(y, ref.output_frac.astype(np.int64))
    assert np.all(scaled == np.rint(scaled)), "an hls4ml output is off the output format's grid"
    got = scaled.astype(np.int64)
    want = np.asarray(ref.outputs).astype(np.int64)
    diff = np.abs(got - want)
    real = problem.network.evaluate_float(x)
    fw = sum(p.stat().st_size for p in (workdir / "prj" / "firmware").rglob("*") if p.is_file())
    return RoundTrip(rows=len(x), bit_exact_rows=int((diff == 0).all(axis=1).sum()), max_ulps=int(diff.max()),
                     max_err_hls=float(np.abs(y - real).max()), bound=float(max(hd.analysis.output_errors)),
                     reproved=hd.reproved, times=times, source_bytes=fw, notes=hd.notes)
