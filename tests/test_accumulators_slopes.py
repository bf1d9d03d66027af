"""Optimized relaxation slopes of the symbolic accumulator bounds (accumulators_symbolic): every
line, whatever its slope, holds at every integer accumulator value of its interval; no simulated
partial sum leaves the optimized bounds; the chosen lines reproduce the bounds; and the
optimized layer is never wider than the chord one on the same earlier bounds."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from verifq.analysis.accumulators_symbolic import _key, _relaxation, layer_with_lines, symbolic_bounds
from verifq.fixedpoint.integer_net import ORDERS, apply_step, integer_multiplier, simulate
from verifq.network.quantized import IntLayer, Relu, Requant

from test_qonnx import load

BOX = tuple((Fraction(-2), Fraction(2)) for _ in range(3))
ROUNDINGS = ("ROUND", "HALF_UP", "FLOOR", "CEIL", "DOWN")


def random_net(seed: int, depth: int, width: int = 5):
    """A random integer network on the tiny model's 3 inputs (8-bit signed codes): ReLU + unsigned
    requantizations (dyadic and Q31 multipliers, several rounding modes), sometimes a signed
    linear requantization with a zero point, and a signed 8-bit output layer."""
    rng = np.random.default_rng(seed)
    tiny = load()
    layers, n_in = [], 3
    for i in range(depth):
        last = i == depth - 1
        n_out = 2 if last else width
        w = rng.integers(-7, 8, (n_out, n_in)) * rng.choice([1, 1, 4], (n_out, 1))
        b = rng.integers(-400, 401, n_out)
        mult = tuple(Fraction(int(rng.integers(1, 40)), 1 << int(rng.integers(8, 12))) if rng.random() < 0.6
                     else Fraction(int(rng.integers(1, 1000)), 97_003) for _ in range(n_out))
        linear = last or rng.random() < 0.25
        bits = 8 if linear or rng.random() < 0.5 else 4
        zero = tuple(int(rng.integers(-5, 6)) for _ in range(n_out)) if linear and not last else (0,) * n_out
        rq = Requant(f"q{i}", "Quant", mult, zero, (Fraction(1),) * n_out, bits, linear, False,
                     str(rng.choice(ROUNDINGS)))
        steps = (rq,) if linear else (Relu(f"r{i}"), rq)
        layers.append(IntLayer(f"L{i}", tuple(map(tuple, w.tolist())), tuple(int(v) for v in b), (Fraction(1),) * n_out,
                               8, True, steps, (Fraction(1),) * n_out))
        n_in = n_out
    return dataclasses.replace(tiny, layers=tuple(layers))


def _inputs(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    corners = np.array(np.meshgrid([-2, 2], [-2, 2], [-2, 2])).reshape(3, -1).T
    return np.vstack([rng.uniform(-2, 2, (n, 3)), corners]).astype(np.float64)


def _step_values(layer, j: int, c: np.ndarray) -> np.ndarray:
    """The steps of `layer`'s neuron j on the integer accumulator values c."""
    v = np.zeros((len(c), layer.n_out), dtype=object)
    v[:, j] = c
    for step in layer.steps:
        v = apply_step(step, v)
    return np.asarray(v[:, j], dtype=object)


def _line_holds(s: float, m: float, c: np.ndarray, y: np.ndarray, above: bool) -> bool:
    """s c + m >= y (above) or <= y at every c, exactly (floats are dyadic rationals)."""
    sn, sd = Fraction(s).as_integer_ratio()
    mn, md = Fraction(m).as_integer_ratio()
    d = sd * md
    line = np.array([sn * md * int(x) + mn * sd for x in c], dtype=object)
    target = np.array([int(v) * d for v in y], dtype=object)
    return bool((line >= target).all()) if above else bool((line <= target).all())


def _check_lines(layer, j: int, lo: int, hi: int, line) -> None:
    su, mu, sl, ml = line
    c = np.arange(lo, hi + 1, dtype=np.int64) if hi - lo <= 20_000 else \
        np.unique(np.concatenate([np.linspace(lo, hi, 20_000).astype(np.int64), [lo, hi]]))
    y = _step_values(layer, j, c.astype(object))
    assert _line_holds(su, mu, c, y, above=True), (j, lo, hi, line)
    assert _line_holds(sl, ml, c, y, above=False), (j, lo, hi, line)


@pytest.mark.parametrize("seed", range(4))
def test_any_slope_gives_lines_valid_at_every_integer_accumulator(seed):
    """The intercepts are derived exactly for the slope given, so slopes chosen by floats (even
    negative or steeper than the step) give sound lines."""
    net = random_net(seed, 2)
    layer = net.layers[0]
    rng = np.random.default_rng(seed)
    for j in range(layer.n_out):
        m, n = integer_multiplier(layer.steps[-1].multiplier[j])
        smax = m / 2**n
        for _ in range(6):
            lo = int(rng.integers(-6000, 3000))
            hi = lo + int(rng.integers(0, 9000))
            su, sl = (float(smax * rng.choice([0.0, rng.uniform(-0.5, 1.5)])) for _ in range(2))
            _check_lines(layer, j, lo, hi, _relaxation(layer, j, lo, hi, (su, sl)))


@pytest.mark.parametrize("seed", range(3))
def test_every_chosen_line_holds_over_its_accumulator_interval(seed):
    net = random_net(10 + seed, 4)
    lines: list = []
    out = symbolic_bounds(net, BOX, lines_out=lines)
    checked = 0
    for l, relax in enumerate(lines):
        for p, arr in enumerate(relax or []):
            for j, line in enumerate(arr):
                _check_lines(net.layers[p], j, out[p].final_lo[j], out[p].final_hi[j], tuple(line))
                checked += 1
    assert checked > 0


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("seed", range(4))
def test_no_simulated_partial_sum_leaves_the_optimized_bounds(order, seed):
    net = random_net(20 + seed, 4)
    orders = [order] * len(net.layers)
    sim = simulate(net, _inputs(), prefixes=True, orders=orders)
    for l, lb in enumerate(symbolic_bounds(net, BOX, orders=orders)):
        assert (np.asarray(sim.prefix_max[l]).max(axis=0) <= np.array(lb.prefix_hi)).all()
        assert (np.asarray(sim.prefix_min[l]).min(axis=0) >= np.array(lb.prefix_lo)).all()
        assert (np.asarray(sim.accumulators[l]) <= np.array(lb.final_hi)).all()
        assert (np.asarray(sim.accumulators[l]) >= np.array(lb.final_lo)).all()


@pytest.mark.parametrize("seed", range(6))
def test_optimized_layer_is_never_wider_than_the_chord_one(seed):
    """On the same earlier bounds, each layer's optimized bounds are no wider (layer width, then
    the sum of the neurons' widths) than the chord lines' -- and the lines handed out reproduce
    the bounds exactly (what a checker re-deriving them from the lines needs)."""
    net = random_net(30 + seed, 4, width=6)
    lines: list = []
    out = symbolic_bounds(net, BOX, lines_out=lines)
    chord_out = symbolic_bounds(net, BOX, iterations=0)
    assert _key(out[1]) <= _key(chord_out[1])  # same (exact) first layer below it
    for l in range(1, len(net.layers)):
        chord = [np.array([_relaxation(net.layers[p], j, out[p].final_lo[j], out[p].final_hi[j])
                           for j in range(net.layers[p].n_out)]) for p in range(l)]
        assert _key(out[l])[:2] <= _key(layer_with_lines(net, l, out, chord)[0])[:2]
        assert layer_with_lines(net, l, out, lines[l])[0] == out[l]
