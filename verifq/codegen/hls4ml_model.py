"""The layer names hls4ml 1.3.0 will give a user's model, read from that model, and a check that
the model computes the network verifq proved (same layers, same weights, bit for bit).

hls4ml configures precisions by layer name (`LayerName`), and silently ignores a key that
matches no layer, so the names must come from the model the user converts, never guessed:

* ONNX (hls4ml's ONNX frontend needs the model cleaned by qonnx first, which renames every node
  `OpType_k`, k counted per operator type in graph order, and the graph input `global_in`;
  qonnx's GemmToMatMul turns a Gemm -- what torch.onnx.export writes for nn.Linear -- into
  MatMul + Add): a layer is `MatMul_k` (hls4ml's Dense, zero bias) + `Add_k` (hls4ml's
  ApplyAlpha adding the bias) + `Relu_k` / `Tanh_k` / `Sigmoid_k`.
* Keras 3 `.keras` files: the input layer's name, each Dense's name, an activation given inside a
  Dense becomes hls4ml's layer `<dense name>_<activation>`, a separate Activation / ReLU layer
  keeps its name.

A PyTorch model goes through its ONNX export (`torch.onnx.export`). When hls4ml is installed,
`parsed_layer_names` asks hls4ml's own `config_from_*_model` which names it parses, so a name
verifq derives that hls4ml would not parse is caught before anything is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import Location, UserError
from ..network.ir import Activation

FRONTENDS = ("onnx", "keras")
_ONNX_ACT = {"Relu": Activation.RELU, "Tanh": Activation.TANH, "Sigmoid": Activation.SIGMOID}
_KERAS_ACT = {"relu": Activation.RELU, "tanh": Activation.TANH, "sigmoid": Activation.SIGMOID, "linear": Activation.LINEAR}


@dataclass(frozen=True)
class LayerNames:
    """hls4ml's names for one dense layer of verifq's network."""

    dense: str  # Keras Dense name / ONNX MatMul_k
    bias: str | None  # ONNX Add_k (an ApplyAlpha layer in hls4ml); None: the bias is inside the Dense
    act: str | None  # the activation layer; None: linear (no layer)


@dataclass(frozen=True)
class ModelNames:
    """What a config needs of the user's model: frontend, input layer name, per-layer names."""

    frontend: str
    path: str
    input: str
    layers: tuple[LayerNames, ...]

    def keys(self) -> list[str]:
        out = [self.input]
        for ln in self.layers:
            out += [n for n in (ln.dense, ln.bias, ln.act) if n is not None]
        return out


@dataclass(frozen=True)
class _Layer:  # what the model computes per dense layer (float weights as stored)
    names: LayerNames
    weight: np.ndarray  # (n_out, n_in)
    bias: np.ndarray | None
    activation: Activation


def frontend_of(path) -> str:
    ext = Path(path).suffix.lower()
    if ext == ".onnx":
        return "onnx"
    if ext == ".keras":
        return "keras"
    raise UserError(f"'{Path(path).name}': verifq reads hls4ml models as ONNX (.onnx) or Keras 3 (.keras) files",
                    Location(str(path)),
                    hint="export a PyTorch model with torch.onnx.export; save a Keras model with model.save('m.keras')")


def read_model_names(path, network) -> ModelNames:
    """The hls4ml layer names of the model in `path`, after checking it computes `network` exactly."""
    path = Path(path)
    frontend = frontend_of(path)
    if not path.is_file():
        raise UserError(f"model file '{path}' not found", Location(str(path)))
    inp, layers = _read_onnx(path) if frontend == "onnx" else _read_keras(path)
    _check_same_network(path, layers, network)
    return ModelNames(frontend, str(path), inp, tuple(l.names for l in layers))


# ----------------------------------------------------------------------------- ONNX
def _read_onnx(path: Path) -> tuple[str, list[_Layer]]:
    import onnx
    from onnx import numpy_helper

    here = Location(str(path))
    try:
        model = onnx.load(str(path))
        consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    except Exception as exc:  # noqa: BLE001 - protobuf raises several unrelated types
        raise UserError(f"'{path.name}' is not a readable ONNX model ({type(exc).__name__})", here) from None
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output:
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    counts: dict[str, int] = {}
    layers: list[dict] = []

    def name_of(op: str) -> str:  # qonnx's GiveUniqueNodeNames
        k = counts.get(op, 0)
        counts[op] = k + 1
        return f"{op}_{k}"

    def const(node, i) -> np.ndarray:
        for name in node.input:
            if name in consts:
                return np.asarray(consts[name], dtype=np.float64)
        raise UserError(f"ONNX node '{node.name or node.op_type}' ({node.op_type}) has no constant operand", here,
                        hint="hls4ml converts MatMul/Gemm with constant weights and Add with a constant bias")

    for i, node in enumerate(model.graph.node):
        op = node.op_type
        if op == "Constant":
            continue
        what = f"ONNX node {i} '{node.name or op}' ({op})"
        if op in ("MatMul", "Gemm"):
            w = const(node, i)
            if op == "Gemm":
                attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
                if attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0 or attrs.get("transA", 0):
                    raise UserError(f"{what}: a Gemm with alpha/beta != 1 or transA", here,
                                    hint="export nn.Linear layers plainly (alpha = beta = 1)")
                w = np.asarray(consts[node.input[1]], dtype=np.float64)
                w = w if attrs.get("transB", 0) else w.T  # -> (n_out, n_in)
                b = np.asarray(consts[node.input[2]], dtype=np.float64) if len(node.input) > 2 else None
                names = LayerNames(name_of("MatMul"), name_of("Add") if b is not None else None, None)
            else:
                w, b = w.T, None
                names = LayerNames(name_of("MatMul"), None, None)
            layers.append({"names": names, "weight": w, "bias": b, "act": Activation.LINEAR})
        elif op == "Add" and layers and layers[-1]["bias"] is None and layers[-1]["act"] is Activation.LINEAR:
            layers[-1]["bias"] = const(node, i).reshape(-1)
            layers[-1]["names"] = LayerNames(layers[-1]["names"].dense, name_of("Add"), None)
        elif op in _ONNX_ACT and layers and layers[-1]["act"] is Activation.LINEAR:
            layers[-1]["act"] = _ONNX_ACT[op]
            layers[-1]["names"] = LayerNames(layers[-1]["names"].dense, layers[-1]["names"].bias, name_of(op))
        else:
            raise UserError(f"{what} has no counterpart in an hls4ml Dense network", here,
                            hint="verifq configures chains of MatMul/Gemm, Add (bias) and Relu/Tanh/Sigmoid "
                            "nodes; export the network without other operators")
    out = [_Layer(d["names"], d["weight"], d["bias"], d["act"]) for d in layers]
    return "global_in", out


# ----------------------------------------------------------------------------- Keras 3
def _read_keras(path: Path) -> tuple[str, list[_Layer]]:
    os.environ.setdefault("KERAS_BACKEND", "torch")  # hls4ml's Keras 3 frontend needs no TensorFlow
    try:
        import keras
    except Exception as exc:  # noqa: BLE001 - ImportError, or a missing backend
        raise UserError(f"reading '{path.name}' needs Keras 3 ({type(exc).__name__}: {exc})"[:300], Location(str(path)),
                        hint="pip install keras torch (and KERAS_BACKEND=torch), or give the model as ONNX") from None
    try:
        model = keras.saving.load_model(str(path), compile=False)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"Keras cannot load '{path.name}' ({type(exc).__name__}: {exc})"[:300], Location(str(path))) from None
    here = Location(str(path))
    inp = None
    layers: list[dict] = []
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == "InputLayer":
            inp = layer.name
        elif cls == "Dense":
            act = _keras_act(getattr(layer.activation, "__name__", str(layer.activation)), layer.name, here)
            kernel, *rest = [np.asarray(v, dtype=np.float64) for v in layer.get_weights()]
            names = LayerNames(layer.name, None, None if act is Activation.LINEAR else f"{layer.name}_{act.value}")
            layers.append({"names": names, "weight": kernel.T, "bias": rest[0] if rest else None, "act": act})
        elif cls in ("Activation", "ReLU") and layers and layers[-1]["act"] is Activation.LINEAR:
            fn = "relu" if cls == "ReLU" else getattr(layer.activation, "__name__", str(layer.activation))
            act = _keras_act(fn, layer.name, here)
            if cls == "ReLU" and any(getattr(layer, a, None) not in (None, 0, 0.0) for a in ("negative_slope", "threshold")):
                raise UserError(f"Keras layer '{layer.name}': a leaky or thresholded ReLU", here)
            if act is Activation.LINEAR:
                raise UserError(f"Keras layer '{layer.name}': a separate linear Activation layer", here,
                                hint="remove it (it computes nothing)")
            layers[-1]["act"] = act
            layers[-1]["names"] = LayerNames(layers[-1]["names"].dense, None, layer.name)
        else:
            raise UserError(f"Keras layer '{layer.name}' ({cls}) has no counterpart in a dense network", here,
                            hint="verifq configures Input, Dense and Activation/ReLU layers (relu, tanh, sigmoid)")
    if inp is None and getattr(model, "inputs", None):  # a Sequential model lists no InputLayer
        inp = model.inputs[0].name
    if inp is None:
        raise UserError(f"'{path.name}' has no Input layer", here, hint="build the model with keras.Input(...)")
    return inp, [_Layer(d["names"], d["weight"], d["bias"], d["act"]) for d in layers]


def _keras_act(name: str, layer: str, here) -> Activation:
    if name not in _KERAS_ACT:
        raise UserError(f"Keras layer '{layer}': activation '{name}' is not relu, tanh, sigmoid or linear", here)
    return _KERAS_ACT[name]


# ----------------------------------------------------------------------------- same network?
def _check_same_network(path: Path, layers: list[_Layer], network) -> None:
    here = Location(str(path))
    hint = ("the spec must load the very weights the hls4ml model holds (e.g. `network n = load \"model.onnx\"`) "
            "and the formats must be proved for it")
    if network.normalization is not None or network.postprocess is not None:
        raise UserError("the spec's network has an input normalization or output post-processing that the hls4ml "
                        "model would not compute", here, hint=hint)
    if len(layers) != len(network.layers):
        raise UserError(f"the model has {len(layers)} dense layers, the spec's network {len(network.layers)}", here, hint=hint)
    for pos, (mine, theirs) in enumerate(zip(layers, network.layers), start=1):
        if mine.activation is not theirs.activation:
            raise UserError(f"layer {pos} ({mine.names.dense}): activation {mine.activation.value} in the model, "
                            f"{theirs.activation.value} in the spec's network", here, hint=hint)
        if mine.weight.shape != (theirs.n_out, theirs.n_in):
            raise UserError(f"layer {pos} ({mine.names.dense}): weights of shape {mine.weight.shape} in the model, "
                            f"({theirs.n_out}, {theirs.n_in}) in the spec's network", here, hint=hint)
        bias = mine.bias if mine.bias is not None else np.zeros(theirs.n_out)
        for j in range(theirs.n_out):
            if Fraction(float(bias[j])) != Fraction(theirs.bias[j]):
                raise UserError(f"layer {pos} ({mine.names.dense}) neuron {j}: bias {float(bias[j])!r} in the model, "
                                f"{float(theirs.bias[j])!r} in the spec's network", here, hint=hint)
            for k, v in enumerate(theirs.weights[j]):
                if Fraction(float(mine.weight[j, k])) != Fraction(v):
                    raise UserError(f"layer {pos} ({mine.names.dense}) weight [{j}][{k}]: {float(mine.weight[j, k])!r} "
                                    f"in the model, {float(v)!r} in the spec's network", here, hint=hint)


# ----------------------------------------------------------------------------- hls4ml's own view
def parsed_layer_names(names: ModelNames) -> list[str] | None:
    """The layer names hls4ml's own parser gives the model (None when hls4ml, or for ONNX qonnx, is
    not installed: then only verifq's derivation of the names stands)."""
    try:
        import hls4ml  # noqa: F401
    except Exception:  # noqa: BLE001 - not installed, or broken
        return None
    import io
    from contextlib import redirect_stdout

    if names.frontend == "onnx":
        model = cleaned_onnx(names.path)
        if model is None:
            return None
        with redirect_stdout(io.StringIO()):
            cfg = hls4ml.utils.config_from_onnx_model(model, granularity="name", backend="Vivado")
    else:
        import keras

        model = keras.saving.load_model(names.path, compile=False)
        with redirect_stdout(io.StringIO()):
            cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vivado")
    return list(cfg.get("LayerName", {}))


def cleaned_onnx(path):
    """The ONNX model as hls4ml's ONNX frontend needs it (qonnx cleanup; Gemm -> MatMul + Add); None
    without qonnx."""
    try:
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.transformation.gemm_to_matmul import GemmToMatMul
        from qonnx.util.cleanup import cleanup_model
    except Exception:  # noqa: BLE001
        return None
    import warnings

    model = cleanup_model(ModelWrapper(str(path)))
    if any(n.op_type == "Gemm" for n in model.graph.node):
        with warnings.catch_warnings():  # "only offers explicit support for version 9 of the Gemm node"
            warnings.simplefilter("ignore", UserWarning)
            model = cleanup_model(model.transform(GemmToMatMul()))
    return model
