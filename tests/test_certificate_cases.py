"""Certificate test cases: small real networks (specs/networks/*.json) plus an
inline one, each with a design that proves, covering both rounding modes,
both overflow modes, real and fixed-point inputs, input normalization,
tanh/sigmoid/ReLU/linear layers, product rounding (accumulators narrower than
the products), unsigned and negative-integer-bit formats and per-neuron mixed
formats. Shared by the other test_certificate*.py modules.
"""

from __future__ import annotations

import random
from dataclasses import replace
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import pytest

from verifq.analysis.prove import analyse
from verifq.certificate.writer import build_certificate
from verifq.fixedpoint.design import ConstantRule, Design, LayerFormats
from verifq.fixedpoint.format import FixedFormat, Overflow, Rounding
from verifq.network.ir import Activation, DenseLayer, Network
from verifq.fixedpoint.tables import TableSpec
from verifq.problem import SMOOTH, Implementation, Problem

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = ROOT / "specs" / "networks"
SHARED = Path("/work/shared/benchmarks/networks")

fx = FixedFormat


def load_json_network(name: str):
    """(Network, box in file units) of specs/networks/NAME; skips when absent."""
    path = NETWORKS / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    from verifq.network.loaders import load_benchmark_json

    net, meta = load_benchmark_json(path)
    box = meta.get("input_domain_raw") if net.normalization is not None else meta.get("input_domain")
    if box is None:
        box = [(Fraction(-1), Fraction(1))] * net.n_inputs
    return net, tuple((Fraction(lo), Fraction(hi)) for lo, hi in box)


def uniform(net, w, b, acc, out, inp=None, rounding=Rounding.TRUNCATE, overflow=Overflow.WRAP, fixed=False, out_last=None):
    layers = []
    for i, l in enumerate(net.layers):
        o = out_last if (out_last is not None and i == len(net.layers) - 1) else out
        layers.append(LayerFormats.uniform(l.n_out, w, b, acc, o))
    return Design((inp or w,) * net.n_inputs, tuple(layers), rounding, overflow, fixed)


def problem(net, box, bound, design, **impl) -> Problem:
    impl.setdefault("max_word", 64)
    return Problem("", net, box, (Fraction(bound),) * net.n_outputs, True,
                   Implementation(rounding=design.rounding, overflow=design.overflow,
                                  inputs_fixed=design.inputs_fixed, **impl), design)


def _acc3():
    net, box = load_json_network("aster_ACC3NN.json")
    d = uniform(net, fx(32, 12), fx(32, 12), fx(64, 24), fx(32, 12))
    return problem(net, box, "1/10", d)


def _testnn_saturate_unsigned():
    net, box = load_json_network("aster_TestNN.json")  # ReLU everywhere: unsigned outputs
    d = uniform(net, fx(24, 8), fx(24, 8), fx(48, 20), fx(24, 10, False), inp=fx(24, 8),
                rounding=Rounding.NEAREST, overflow=Overflow.SATURATE)
    return problem(net, box, "1/100", d)


def _tanh_product_rounding():
    net, box = load_json_network("reachnn_1_tanh.json")
    # F_w + F_x = 16 + 14 = 30 > F_acc = 24: every product is rounded
    d = uniform(net, fx(20, 4), fx(20, 4), fx(32, 8), fx(20, 6), inp=fx(20, 6), rounding=Rounding.NEAREST)
    return problem(net, box, "1/20", d)


def _sigmoid_saturate():
    net, box = load_json_network("reachnn_1_sigmoid.json")
    d = uniform(net, fx(28, 8), fx(28, 8), fx(56, 16), fx(28, 8), overflow=Overflow.SATURATE)
    return problem(net, box, "1/100", d)


def _fixed_inputs():
    net, box = load_json_network("aster_AcrobotNN.json")
    d = uniform(net, fx(32, 10), fx(32, 10), fx(64, 24), fx(32, 10), inp=fx(18, 6), fixed=True)
    return problem(net, box, "1/100", d)


def _normalized():
    net, box = load_json_network("archcomp22_vcas_pra01_relu_5x20.json")  # NNet normalization, raw domain
    d = uniform(net, fx(32, 12), fx(32, 12), fx(64, 24), fx(32, 12))
    return problem(net, box, "1/100", d)


def _mixed_per_neuron():
    net, box = load_json_network("aster_MountainCarNN.json")
    rng = random.Random(7)
    layers = []
    for l in net.layers:
        pick = lambda opts: tuple(rng.choice(opts) for _ in range(l.n_out))  # noqa: E731
        layers.append(LayerFormats(pick([fx(24, 6), fx(26, 7), fx(30, 8)]), pick([fx(24, 6), fx(28, 8)]),
                                   pick([fx(52, 16), fx(60, 20)]), pick([fx(28, 10), fx(32, 12)])))
    d = Design((fx(30, 10),) * net.n_inputs, tuple(layers), Rounding.TRUNCATE, Overflow.WRAP)
    return problem(net, box, "1/100", d)


def _inline_small_magnitudes():
    """Tiny weights in formats with negative integer bits; NEAREST rounding, saturate."""
    q = Fraction
    net = Network("inline_small", (
        DenseLayer(((q("0.013"), q("-0.021"), q("0.007")), (q("-0.0305"), q("0.011"), q("0.02"))),
                   (q("0.004"), q("-0.006")), Activation.RELU),
        DenseLayer(((q("0.5"), q("-0.25")),), (q("0.001"),), Activation.LINEAR),
    ))
    box = ((q(-1), q(1)), (q("-0.5"), q("0.75")), (q(0), q(2)))
    l1 = LayerFormats.uniform(2, fx(16, -4), fx(16, -6), fx(40, 4), fx(20, 0))
    l2 = LayerFormats.uniform(1, fx(12, 1), fx(16, -8), fx(40, 4), fx(20, 0))
    d = Design((fx(16, 3),) * 3, (l1, l2), Rounding.NEAREST, Overflow.SATURATE)
    return problem(net, box, "1/1000", d)


def _with_tables(design: Design, net: Network, table: TableSpec) -> Design:
    return design.with_tables([table if l.activation in SMOOTH else None for l in net.layers])


def _tanh_hls4ml_table():
    """hls4ml's tanh table (1,024 entries in its default table_t, AP_TRN) and its constant rule."""
    net, box = load_json_network("reachnn_1_tanh.json")
    d = uniform(net, fx(20, 4), fx(20, 4), fx(40, 12), fx(20, 6), inp=fx(20, 6))
    d = _with_tables(d, net, TableSpec(1024, fx(18, 8), Rounding.TRUNCATE, Overflow.WRAP))
    d = replace(d, weight_rule=ConstantRule.HLS4ML_NEAREST, bias_rule=ConstantRule.HLS4ML_NEAREST)
    return problem(net, box, "3/10", d)


def _sigmoid_rounded_table():
    """A large sigmoid table with entries rounded to nearest, saturating arithmetic."""
    net, box = load_json_network("reachnn_1_sigmoid.json")
    d = uniform(net, fx(28, 8), fx(28, 8), fx(56, 16), fx(28, 8), rounding=Rounding.NEAREST, overflow=Overflow.SATURATE)
    d = _with_tables(d, net, TableSpec(16384, fx(20, 2), Rounding.NEAREST, Overflow.SATURATE))
    return problem(net, box, "1/20", d)


CASES = {
    "acc3_truncate_wrap": _acc3,
    "testnn_nearest_saturate_unsigned": _testnn_saturate_unsigned,
    "tanh_product_rounding": _tanh_product_rounding,
    "sigmoid_saturate": _sigmoid_saturate,
    "fixed_inputs": _fixed_inputs,
    "normalized_vcas": _normalized,
    "mixed_per_neuron": _mixed_per_neuron,
    "inline_small_magnitudes": _inline_small_magnitudes,
    "tanh_hls4ml_table": _tanh_hls4ml_table,
    "sigmoid_rounded_table": _sigmoid_rounded_table,
}


@lru_cache(maxsize=None)
def analysis_of(name: str, default_methods: bool = False, error_method: str | None = None):
    """The analysis of case `name` with the rules the checker re-derives (interval
    ranges, l1_local errors), or with the analysis's default (tighter) methods
    (error_method: another error rule with the default ranges)."""
    p = CASES[name]()
    if default_methods:
        return analyse(p, p.design, **({} if error_method is None else {"error_method": error_method}))
    return analyse(p, p.design, range_method="interval", error_method="l1_local")


def certificate_of(name: str) -> dict:
    """A fresh (mutable) certificate document of case `name`."""
    return build_certificate(analysis_of(name))


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_case_proves(name):
    for default in (False, True):
        a = analysis_of(name, default)
        assert a.proved, [v.describe() for v in a.violations[:3]]
