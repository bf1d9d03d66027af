"""Make tests/data/qonnx/tiny_qonnx.onnx: a small QONNX network written with the onnx helper API.

Source and license: the weights are drawn here from numpy's seeded generator (no external
data); the file is part of verifq and under its MIT license. Graph conventions as Brevitas
`export_qonnx` writes them (qonnx 1.0.0 custom ops): an 8-bit signed input Quant; weight
Quants signed narrow, bias Quants 32-bit on the accumulator grid (scale = input scale x weight
scale); an unsigned activation Quant after each ReLU; power-of-two scales throughout (so QONNX's
float32 execution is exact and verifq's integer simulation must match it bit for bit).

    3 inputs -Gemm(8, per-tensor w)-Relu-Quant(u8, ROUND)-
             -MatMul+Add(6, per-channel w)-Relu-Quant(u4, FLOOR)-
             -Gemm(2)-Quant(s8, ROUND)-> 2 outputs

Run: python tests/data/qonnx/make_tiny_qonnx.py   (needs onnx; checks with qonnx if installed)
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))  # tests/: the shared graph builder
from qonnx_graph import QD, QonnxGraph as G  # noqa: E402


def build():
    rng = np.random.default_rng(13)
    w1, b1 = rng.normal(0, 0.8, (8, 3)), rng.normal(0, 0.3, 8)
    w2, b2 = rng.normal(0, 0.5, (6, 8)), rng.normal(0, 0.3, 6)
    w3, b3 = rng.normal(0, 0.5, (2, 6)), rng.normal(0, 0.1, 2)
    g = G()
    s_in, s_w1, s_a1 = 2.0**-6, 2.0**-6, 2.0**-5
    s_w2 = 2.0 ** np.array([-7, -6, -7, -8, -6, -7])
    s_a2, s_w3, s_out = 2.0**-3, 2.0**-6, 2.0**-5
    x = g.quant("global_in", s_in, 8, True, False, base="inq")
    h = g.node("Gemm", [x, g.quant(g.const("W1", w1), s_w1, 8, True, True, base="wq1"),
                        g.quant(g.const("b1", b1), s_in * s_w1, 32, True, False, base="bq1")], "gemm1", transB=1)
    h = g.quant(g.node("Relu", [h], "relu1"), s_a1, 8, False, False, base="aq1")
    h = g.node("MatMul", [h, g.quant(g.const("W2", w2.T), s_w2.reshape(1, 6), 8, True, True, base="wq2")], "mm2")
    h = g.node("Add", [h, g.quant(g.const("b2", b2), s_a1 * s_w2, 32, True, False, base="bq2")], "add2")
    h = g.quant(g.node("Relu", [h], "relu2"), s_a2, 4, False, False, rounding="FLOOR", base="aq2")
    h = g.node("Gemm", [h, g.quant(g.const("W3", w3), s_w3, 8, True, True, base="wq3"),
                        g.quant(g.const("b3", b3), s_a2 * s_w3, 32, True, False, base="bq3")], "gemm3", transB=1)
    h = g.quant(h, s_out, 8, True, False, base="outq")
    g.nodes.append(helper.make_node("Identity", [h], ["global_out"], name="out_identity"))
    graph = helper.make_graph(g.nodes, "tiny_qonnx",
                              [helper.make_tensor_value_info("global_in", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("global_out", TensorProto.FLOAT, [1, 2])],
                              initializer=g.inits)
    model = helper.make_model(graph, producer_name="verifq tests/data/qonnx/make_tiny_qonnx.py",
                              opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QD, 1)])
    model.doc_string = "verifq test network (MIT license): seeded random weights, power-of-two scales"
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    m = build()
    out = os.path.join(HERE, "tiny_qonnx.onnx")
    onnx.save(m, out)
    print("wrote", out)
    sys.exit(0)
