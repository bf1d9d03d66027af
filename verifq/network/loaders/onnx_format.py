"""ONNX feed-forward networks: a single chain from the graph input to the graph
output of dense products (MatMul, Gemm), constant elementwise affine steps
(Add, Sub, Mul, Div), activations (Relu, Tanh, Sigmoid) and shape-only steps
(Flatten, Reshape, Squeeze, Unsqueeze, Identity).

Weights are float initializers; each is taken as the exact binary value it
holds. Affine steps are folded exactly (rational arithmetic) into the
neighbouring dense layer: before a product (`x - mean`, as MATLAB exports
write) into that product's weights and bias, after a product into its bias
and rows. An affine step after the last activation becomes the network's
OutputPostprocess. A batch dimension of 1 (or symbolic) is assumed, so every
reshape keeps the row-major order of the feature vector.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from ...errors import Location, UserError
from ..ir import Activation, DenseLayer, Network, OutputPostprocess
from ._common import finish

_ACTIVATIONS = {"Relu": Activation.RELU, "Tanh": Activation.TANH, "Sigmoid": Activation.SIGMOID}
_AFFINE = ("Add", "Sub", "Mul", "Div")
# how many constant inputs (besides the running value) each operator takes
_CONSTANT_INPUTS = {
    "MatMul": (1, 1), "Gemm": (1, 2), **{op: (1, 1) for op in _AFFINE},
    **{op: (0, 0) for op in (*_ACTIVATIONS, "Flatten", "Identity")},
    "Reshape": (0, 1), "Squeeze": (0, 1), "Unsqueeze": (0, 1),
}
_SUPPORTED = "Gemm, MatMul, Add, Sub, Mul, Div, Relu, Tanh, Sigmoid, Flatten, Reshape, Squeeze, Unsqueeze, Identity, Constant"
_HINT = (
    f"verifq reads feed-forward chains of dense layers; supported operators: {_SUPPORTED} "
    "(export the network without other operators, or convert it to verifq's JSON format)"
)
_ONE = np.array([Fraction(1)], dtype=object)
_ZERO = np.array([Fraction(0)], dtype=object)


def parse_onnx(data: bytes, path: Path) -> Network:
    """Build the network from the model's bytes."""
    import onnx  # imported here: it is slow to import and only ONNX files need it
    from onnx import numpy_helper

    here = Location(str(path))
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf raises several unrelated types for corrupt bytes
        raise UserError(
            f"'{path.name}' is not a readable ONNX model ({type(exc).__name__}: {exc})"[:300],
            here,
            hint="the file may be truncated or not ONNX at all; check it loads with onnx.load",
        ) from None
    graph = model.graph
    try:
        onnx.external_data_helper.load_external_data_for_model(model, str(path.parent))
        constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    except Exception as exc:  # missing/short external data files, bad tensor encodings
        raise UserError(
            f"the weights of '{path.name}' cannot be read ({type(exc).__name__}: {exc})"[:300],
            here,
            hint="initializers stored as external data must sit next to the model file",
        ) from None
    inputs = [i for i in graph.input if i.name not in constants]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise UserError(
            f"the ONNX graph has {len(inputs)} inputs and {len(graph.output)} outputs; verifq needs exactly one of each",
            here,
            hint=_HINT,
        )
    chain = _Chain(path, inputs[0].name, _input_shape(inputs[0]), constants)
    try:
        for index, node in enumerate(graph.node):
            chain.step(index, node)
        layers, post = chain.finish(graph.output[0].name)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        # a malformed node the checks above did not foresee: still the file's fault
        raise chain._error(f"malformed node ({type(exc).__name__}: {exc})", hint=None) from None

    doc = (model.doc_string or "").strip()
    props = {p.key: p.value for p in model.metadata_props}
    license_note = props.get("license") or props.get("License") or None
    meta = [("source_format", "onnx"), ("producer", f"{model.producer_name} {model.producer_version}".strip())]
    if doc:
        meta.append(("doc_string", doc))
    net = Network(
        name=path.stem,
        layers=tuple(layers),
        source=str(path),
        license_note=license_note,
        postprocess=post,
        metadata=tuple(meta),
    )
    return finish(net, path)


def _input_shape(value_info) -> tuple[int, ...] | None:
    """The input's shape with a symbolic/unknown leading (batch) dimension as 1; None if unknown."""
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    dims = []
    for i, d in enumerate(tensor.shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(d.dim_value)
        elif i == 0:
            dims.append(1)
        else:
            return None
    return tuple(dims)


def _exact(values: np.ndarray) -> np.ndarray:
    """Object array of the exact Fractions of a (finite) numeric array."""
    flat = values.astype(np.float64).ravel().tolist() if values.dtype.kind == "f" else values.ravel().tolist()
    return np.fromiter(map(Fraction, flat), dtype=object, count=values.size).reshape(values.shape)


class _Chain:
    """Walks the nodes in order, keeping the one running tensor and the
    affine map accumulated since the last activation."""

    def __init__(self, path: Path, input_name: str, shape: tuple[int, ...] | None, constants: dict):
        self.path = path
        self.current = input_name
        self.shape = shape
        self.constants = constants
        self.layers: list[DenseLayer] = []
        # Either a pending product W x + b (no activation yet) ...
        self.weights: np.ndarray | None = None
        self.bias: np.ndarray | None = None
        # ... or an elementwise map scale * x + shift waiting for the next product.
        self.scale: np.ndarray = _ONE
        self.shift: np.ndarray = _ZERO

    node_label = "the graph"

    def _error(self, message: str, hint: str | None = _HINT) -> UserError:
        return UserError(f"{self.node_label}: {message}", Location(str(self.path)), hint=hint)

    def step(self, index: int, node) -> None:
        out = node.output[0] if node.output else "?"
        self.node_label = f"node #{index} '{node.name or out}' ({node.op_type})"
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            raise self._error(f"operator from domain '{node.domain}' is not supported")
        if op == "Constant":
            self.constants[node.output[0]] = self._constant_node(node)
            return
        data = [name for name in node.input if name and name not in self.constants]
        if data != [self.current]:
            raise self._error(
                f"its inputs {list(node.input)} are not the running value '{self.current}' plus constants",
                "only single-path feed-forward chains are supported (no branches, skips or multiple inputs)",
            )
        if op not in _CONSTANT_INPUTS:
            raise self._error(f"operator '{op}' is not supported")
        consts = [self.constants[n] for n in node.input if n and n != self.current]
        low, high = _CONSTANT_INPUTS[op]
        if not low <= len(consts) <= high:
            raise self._error(f"{len(consts)} constant inputs; {op} takes {low}..{high} besides the running value")
        if len([o for o in node.output if o]) != 1:
            raise self._error("only single-output operators are supported")
        attrs = {a.name: _attribute(a) for a in node.attribute}
        if op == "MatMul":
            if node.input[0] != self.current:
                raise self._error("the constant is on the left; expected x @ W")
            self._product(consts[0], None, Fraction(1), Fraction(1), "MatMul weight")
        elif op == "Gemm":
            self._gemm(node, consts, attrs)
        elif op in _AFFINE:
            self._affine(op, node.input[0] == self.current, consts[0])
        elif op in _ACTIVATIONS:
            self._activation(_ACTIVATIONS[op])
        else:
            self._reshape(op, consts, attrs)
        self.current = node.output[0]

    def finish(self, output_name: str) -> tuple[list[DenseLayer], OutputPostprocess | None]:
        self.node_label = f"graph output '{output_name}'"
        if self.current != output_name:
            raise self._error(f"the layer chain ends at '{self.current}', not at the graph output")
        if self.weights is not None:
            self._close(Activation.LINEAR)
        if not self.layers:
            raise self._error("the graph has no MatMul/Gemm layer")
        if self._identity_map():
            return self.layers, None
        # an affine step after the last activation: y = scale * out + shift
        n = self.layers[-1].n_out
        scale, shift = (np.broadcast_to(v, (n,)) for v in (self.scale, self.shift))
        return self.layers, OutputPostprocess(tuple(scale.tolist()), (Fraction(0),) * n, tuple(shift.tolist()))

    def _gemm(self, node, consts, attrs) -> None:
        if node.input[0] != self.current:
            raise self._error("the constant is operand A; expected A = the running value")
        if attrs.get("transA", 0):
            raise self._error("transA=1 is not supported")
        if self.shape is not None and (len(self.shape) != 2 or self.shape[0] != 1):
            raise self._error(f"operand A has shape {list(self.shape)}; expected [batch, features]")
        b = consts[0]
        if b.ndim != 2:
            raise self._error(f"operand B has shape {list(b.shape)}; expected a matrix")
        if attrs.get("transB", 0):
            b = b.T
        c = consts[1] if len(consts) > 1 else None
        alpha, beta = (attrs.get(name, 1.0) for name in ("alpha", "beta"))
        if not (np.isfinite(alpha) and np.isfinite(beta)):
            raise self._error(f"alpha={alpha}, beta={beta}: both must be finite")
        self._product(b, c, Fraction(alpha), Fraction(beta), "Gemm operand B")

    def _product(self, w: np.ndarray, c: np.ndarray | None, alpha: Fraction, beta: Fraction, what: str) -> None:
        """Start a dense layer y = alpha * x @ w + beta * c (w is in x-major order)."""
        if w.ndim != 2 or w.dtype.kind not in "fiu":
            raise self._error(f"{what} must be a numeric matrix, not {w.dtype} of shape {list(w.shape)}")
        n_in, n_out = w.shape
        if self.shape is not None:
            if any(d != 1 for d in self.shape[:-1]) or self.shape[-1] != n_in:
                raise self._error(f"the running value has shape {list(self.shape)}; expected a vector of {n_in} features")
        if self.weights is not None:
            self._close(Activation.LINEAR)  # two products in a row: the first is a linear layer
        layer_no = len(self.layers) + 1
        rows = np.ascontiguousarray(w.T)
        self._check_finite(rows, f"layer {layer_no}", "row {} column {}")
        weights = _exact(rows)
        if alpha != 1:
            weights = weights * alpha
        if c is None:
            bias = np.full(n_out, Fraction(0), dtype=object)
        else:
            c = np.broadcast_to(self._vector(c, (1, n_out), "bias"), (n_out,))
            self._check_finite(c, f"layer {layer_no}", "bias {}")
            bias = _exact(c) * beta if beta != 1 else _exact(c)
        if not self._identity_map():  # fold the pending scale * x + shift into this product
            if len(self.shift) not in (1, n_in) or len(self.scale) not in (1, n_in):
                raise self._error(f"the preceding elementwise constants do not match the {n_in} inputs")
            shift = np.broadcast_to(self.shift, (n_in,))
            weights, bias = weights * self.scale, bias + weights.dot(shift)
        self.weights, self.bias = weights, bias
        self.scale, self.shift = _ONE, _ZERO
        self.shape = (1, n_out)

    def _affine(self, op: str, running_first: bool, c: np.ndarray) -> None:
        """Fold `x op c` (or `c op x`) into the pending layer or the pending map."""
        if op == "Div" and not running_first:
            raise self._error("dividing a constant by the running value is not affine")
        shape = self.shape if self.shape is not None else (1, c.size)
        c = self._vector(c, shape, "constant operand")
        self._check_finite(c, "constant operand", "entry {}")
        c = _exact(c)
        if op == "Add":
            a, t = _ONE, c
        elif op == "Sub":
            a, t = (_ONE, -c) if running_first else (-_ONE, c)
        elif op == "Mul":
            a, t = c, _ZERO
        else:
            if any(v == 0 for v in c):
                raise self._error("division by zero")
            a, t = np.array([1 / v for v in c], dtype=object), _ZERO
        # the step is y = a * x + t, elementwise
        if self.weights is not None:
            self.weights = self.weights * a[:, None]
            self.bias = self.bias * a + t
        else:
            self.scale = self.scale * a
            self.shift = self.shift * a + t

    def _activation(self, act: Activation) -> None:
        if self.weights is None:
            raise self._error("an activation must follow a MatMul/Gemm layer (and its bias)")
        self._close(act)

    def _reshape(self, op: str, consts, attrs) -> None:
        if self.shape is None or op == "Identity":
            return
        shape = self.shape
        if op == "Flatten":
            axis = attrs.get("axis", 1)
            axis = axis + len(shape) if axis < 0 else axis
            self.shape = (int(np.prod(shape[:axis], dtype=int)), int(np.prod(shape[axis:], dtype=int)))
        elif op == "Reshape":
            target = consts[0] if consts else np.array(attrs.get("shape", []), dtype=np.int64)
            if target.dtype.kind not in "iu":
                raise self._error(f"the target shape must be integers, not {target.dtype}")
            self.shape = self._reshaped(shape, [int(v) for v in np.asarray(target).ravel()], attrs.get("allowzero", 0))
        elif op == "Squeeze":
            axes = self._axes(consts, attrs, len(shape))
            if axes is None:
                axes = [i for i, d in enumerate(shape) if d == 1]
            if any(shape[i] != 1 for i in axes):
                raise self._error(f"cannot squeeze axes {axes} of shape {list(shape)}")
            self.shape = tuple(d for i, d in enumerate(shape) if i not in axes)
        else:  # Unsqueeze
            rank = len(shape) + len(self._axes(consts, attrs, 0) or [])
            axes = sorted(self._axes(consts, attrs, rank) or [])
            dims = list(shape)
            for ax in axes:
                dims.insert(ax, 1)
            self.shape = tuple(dims)

    def _close(self, act: Activation) -> None:
        rows = tuple(map(tuple, self.weights.tolist()))
        self.layers.append(DenseLayer(rows, tuple(self.bias.tolist()), act))
        self.weights = self.bias = None

    def _identity_map(self) -> bool:
        return all(v == 1 for v in self.scale) and all(v == 0 for v in self.shift)

    def _vector(self, c: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
        """A constant broadcast over a feature vector of `shape`, flattened (size 1 stays size 1)."""
        if c.dtype.kind not in "fiu":
            raise self._error(f"the {what} must be numeric, not {c.dtype}")
        if c.size == 1:
            return c.reshape(1)  # broadcasts over any feature count
        try:
            fits = np.broadcast_shapes(shape, c.shape) == tuple(shape)
        except ValueError:
            fits = False
        if not fits:
            raise self._error(f"the {what} of shape {list(c.shape)} does not fit the running value's shape {list(shape)}")
        return np.broadcast_to(c, shape).reshape(-1)

    def _check_finite(self, values: np.ndarray, where: str, entry: str) -> None:
        if values.dtype.kind != "f":
            return
        bad = np.argwhere(~np.isfinite(values))
        if bad.size:
            idx = tuple(int(i) + 1 for i in bad[0])
            raise self._error(
                f"{where}, {entry.format(*idx)} is {values[tuple(bad[0])]}: weights must be finite",
                hint="the exported model contains NaN or infinite parameters; re-export it from a trained model",
            )

    def _constant_node(self, node) -> np.ndarray:
        from onnx import numpy_helper

        for a in node.attribute:
            if a.name == "value":
                return numpy_helper.to_array(a.t)
            if a.name in ("value_float", "value_floats"):
                return np.array(_attribute(a), dtype=np.float32)
            if a.name in ("value_int", "value_ints"):
                return np.array(_attribute(a), dtype=np.int64)
        raise self._error("only tensor, float and int Constant nodes are supported")

    def _axes(self, consts, attrs, rank: int) -> list[int] | None:
        axes = [int(v) for v in np.asarray(consts[0]).ravel()] if consts else attrs.get("axes")
        if axes is None:
            return None
        return [a + rank if a < 0 else a for a in axes]

    def _reshaped(self, shape, target: list[int], allowzero: int) -> tuple[int, ...]:
        size = int(np.prod(shape, dtype=int))
        dims = [shape[i] if (d == 0 and not allowzero and i < len(shape)) else d for i, d in enumerate(target)]
        if dims.count(-1) > 1:
            raise self._error(f"reshape target {target} has more than one -1")
        if -1 in dims:
            known = int(np.prod([d for d in dims if d != -1], dtype=int))
            if known == 0 or size % known:
                raise self._error(f"cannot reshape {list(shape)} to {target}")
            dims[dims.index(-1)] = size // known
        if int(np.prod(dims, dtype=int)) != size:
            raise self._error(f"cannot reshape {list(shape)} to {target}")
        return tuple(dims)


def _attribute(attr):
    from onnx import helper

    return helper.get_attribute_value(attr)
