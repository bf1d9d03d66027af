"""A small builder of QONNX graphs with the onnx helper API, shared by the test model's script
(tests/data/qonnx/make_tiny_qonnx.py) and the tests that build rarer quantizers on the fly."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

QD = "qonnx.custom_op.general"  # the domain of qonnx's custom ops (Quant, Trunc, BipolarQuant, MultiThreshold)


class QonnxGraph:
    """Nodes and initializers of one graph; every name is unique (a running counter)."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, base: str) -> str:
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, base: str, arr) -> str:
        nm = self.name(base)
        self.inits.append(onnx.numpy_helper.from_array(np.asarray(arr, dtype=np.float32), nm))
        return nm

    def node(self, op: str, inputs, base: str, domain: str = "", **attrs) -> str:
        out = self.name(base)
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=self.name(op), domain=domain, **attrs))
        return out

    def quant(self, x, scale, bits, signed, narrow=False, rounding="ROUND", base="q", zp=0.0) -> str:
        """A Quant node (scale, zero point of the scale's shape, bit width as inputs)."""
        s = self.const(base + "_scale", scale)
        z = self.const(base + "_zeropt", np.zeros_like(np.asarray(scale, dtype=np.float32)) + zp)
        bw = self.const(base + "_bits", float(bits))
        return self.node("Quant", [x, s, z, bw], base, domain=QD, signed=int(signed), narrow=int(narrow),
                         rounding_mode=rounding)

    def save(self, path, out: str, n_in: int, n_out: int, qd_opset: int = 1):
        """The graph x[1, n_in] -> y[1, n_out] (y = Identity(out)) saved at path."""
        self.nodes.append(helper.make_node("Identity", [out], ["y"], name="out"))
        graph = helper.make_graph(self.nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n_out])],
                                  initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QD, qd_opset)])
        onnx.save(model, str(path))
        return path
