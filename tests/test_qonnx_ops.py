"""The rarer QONNX quantizers (MultiThreshold as an activation quantizer, Trunc v1 and v2,
BipolarQuant, other rounding modes, zero points) against QONNX's own execution, on small
graphs written here with the onnx helper API (seeded weights, power-of-two scales)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qonnx_graph import QD, QonnxGraph as G
from verifq.analysis.accumulators import analyse_bounds
from verifq.fixedpoint.integer_net import simulate
from verifq.network.loaders.qonnx_format import parse_qonnx



def _multithreshold(path):
    rng = np.random.default_rng(3)
    g = G()
    x = g.quant("x", 2.0**-5, 8, True, rounding="HALF_UP")
    w = g.quant(g.const("w", rng.normal(0, 0.6, (4, 6))), 2.0**-6, 6, True, narrow=True, rounding="FLOOR")
    h = g.node("MatMul", [x, w], "mm")
    t = np.sort(rng.normal(0, 1.0, (6, 7)), axis=1)  # per channel, 3-bit unsigned codes
    h = g.node("MultiThreshold", [h, g.const("t", t)], "mt", domain=QD, out_dtype="UINT3")
    h = g.node("Mul", [h, g.const("m", 0.25)], "mul")
    w2 = g.quant(g.const("w2", rng.normal(0, 0.5, (6, 3))), 2.0**-5, 8, True, narrow=True)
    h = g.node("MatMul", [h, w2], "mm2")
    return g.save(path, g.quant(h, 2.0**-4, 8, True, rounding="HALF_DOWN"), 4, 3)


def _trunc_bipolar(path, v2):
    rng = np.random.default_rng(4)
    g = G()
    x = g.quant("x", 2.0**-5, 8, True, zp=3.0)
    w = g.quant(g.const("w", rng.normal(0, 0.6, (5, 4))), 2.0**-6, 8, True, narrow=True)
    h = g.node("Gemm", [x, w], "gemm", transB=1)
    h = g.quant(g.node("Relu", [h], "relu"), 2.0**-4, 8, False, rounding="UP")
    s, z = g.const("ts", 2.0**-4), g.const("tz", 0.0)
    if v2:
        h = g.node("Trunc", [h, s, z, g.const("ib", 8.0), g.const("os", 2.0**-2), g.const("ob", 5.0)], "trunc",
                   domain=QD, rounding_mode="ROUND", signed=0)
    else:
        h = g.node("Trunc", [h, s, z, g.const("ib", 8.0), g.const("ob", 6.0)], "trunc", domain=QD, rounding_mode="FLOOR")
    w2 = g.quant(g.const("w2", rng.normal(0, 0.5, (5, 3))), 2.0**-5, 8, True, narrow=True)
    h = g.node("MatMul", [h, w2], "mm2")
    b = g.quant(g.const("b", rng.normal(0, 0.1, 3)), 2.0**-4 * 2.0**-5 * (1 if not v2 else 4), 32, True)
    h = g.node("Add", [h, b], "add")
    return g.save(path, g.node("BipolarQuant", [h, g.const("bs", 0.5)], "bq", domain=QD), 4, 3, qd_opset=2 if v2 else 1)


MODELS = {"multithreshold": _multithreshold, "trunc_v1_bipolar": lambda p: _trunc_bipolar(p, False),
          "trunc_v2_bipolar": lambda p: _trunc_bipolar(p, True)}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_rare_quantizers_are_bit_exact_with_qonnx(tmp_path, name):
    pytest.importorskip("onnx")
    pytest.importorskip("qonnx", reason="QONNX execution needs the qonnx extra")
    pytest.importorskip("onnxruntime", reason="QONNX execution needs onnxruntime")
    from verifq.network.loaders.qonnx_exec import execute_qonnx

    path = MODELS[name](tmp_path / f"{name}.onnx")
    q = parse_qonnx(Path(path).read_bytes(), Path(path))
    rng = np.random.default_rng(7)
    x = rng.uniform(-4, 4, (10_000, q.n_inputs)).astype(np.float32)
    x[:2000] = np.round(x[:2000] * 64) / 64  # ties of the input quantizer
    sim = simulate(q, x.astype(np.float64), prefixes=True)
    y = execute_qonnx(path, x).astype(np.float64)
    unit = np.array([float(u) for u in q.layers[-1].out_unit])
    assert np.array_equal(np.asarray(sim.outputs, dtype=np.float64) * unit, y)
    box = tuple((-4, 4) for _ in range(q.n_inputs))
    from fractions import Fraction

    bounds = analyse_bounds(q, tuple((Fraction(a), Fraction(b)) for a, b in box), None)
    for l, b in enumerate(bounds):  # the bounds hold on every simulated input
        assert (np.asarray(sim.prefix_max[l]) <= np.array(b.prefix_hi)).all()
        assert (np.asarray(sim.prefix_min[l]) >= np.array(b.prefix_lo)).all()
