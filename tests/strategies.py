"""Hypothesis strategies shared by the property tests: small random networks
with decimal weights, input boxes, and random per-neuron fixed-point designs."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st

from verifq.fixedpoint.design import Design, LayerFormats
from verifq.fixedpoint.tables import TableSpec
from verifq.fixedpoint.format import FixedFormat, Overflow, Rounding
from verifq.network.ir import Activation, DenseLayer, Network
from verifq.problem import Implementation, Problem

ACTIVATIONS = [Activation.RELU, Activation.LINEAR, Activation.TANH, Activation.SIGMOID]
decimals = st.integers(-2000, 2000).map(lambda k: Fraction(k, 1000))


def draw_network(draw, n_in: int, sizes: list[int], act_of) -> Network:
    """Dense layers of the given sizes, weights and biases in [-2, 2] by 1/1000; act_of(k) draws layer k's activation."""
    layers, prev = [], n_in
    for k, n in enumerate(sizes):
        w = tuple(tuple(draw(decimals) for _ in range(prev)) for _ in range(n))
        b = tuple(draw(decimals) for _ in range(n))
        layers.append(DenseLayer(w, b, act_of(k)))
        prev = n
    return Network("random", tuple(layers))


def draw_box(draw, n_in: int, min_width: int = 0) -> tuple:
    """An input box: lower ends in [-2, 2], widths in [min_width, 3000] / 1000."""
    box = []
    for _ in range(n_in):
        lo = draw(decimals)
        box.append((lo, lo + Fraction(draw(st.integers(min_width, 3000)), 1000)))
    return tuple(box)


@st.composite
def tables(draw):
    """A tanh/sigmoid lookup table (hls4ml's kind: sizes, entry formats and modes), or the ideal table (None)."""
    if draw(st.integers(0, 3)) == 0:
        return None
    f = draw(st.integers(3, 16))
    return TableSpec(draw(st.sampled_from([4, 16, 100, 256, 1024])), FixedFormat(f + 2, 2),
                     draw(st.sampled_from(list(Rounding))), draw(st.sampled_from(list(Overflow))))


@st.composite
def quantized_problems(draw, max_layers: int = 3, acts=ACTIVATIONS):
    """(problem, design): a random network, box, rounding and overflow mode, real or fixed inputs,
    and per-neuron formats with 2..14 fractional bits (no error requirement)."""
    n_in = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, 5), min_size=1, max_size=max_layers))
    act = st.sampled_from(acts)
    net = draw_network(draw, n_in, sizes, lambda k: draw(act))
    box = draw_box(draw, n_in)
    rounding = draw(st.sampled_from(list(Rounding)))
    overflow = draw(st.sampled_from(list(Overflow)))
    fixed_inputs = draw(st.booleans())

    def fmt(min_i=3):
        f = draw(st.integers(2, 14))
        i = draw(st.integers(min_i, 9))
        return FixedFormat(f + i, i, True)

    inputs = tuple(fmt() for _ in range(n_in))
    lf = []
    for layer in net.layers:
        n = layer.n_out
        lf.append(LayerFormats(
            tuple(fmt(2) for _ in range(n)), tuple(fmt() for _ in range(n)),
            tuple(fmt(6) for _ in range(n)), tuple(fmt() for _ in range(n)),
            draw(tables()) if layer.activation.value in ("tanh", "sigmoid") else None,
        ))
    design = Design(inputs, tuple(lf), rounding, overflow, fixed_inputs)
    problem = Problem("random.nnspec", net, box, (None,) * net.n_outputs, True,
                      Implementation(rounding, overflow, fixed_inputs), design)
    return problem, design
