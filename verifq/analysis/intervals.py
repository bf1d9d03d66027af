"""Ranges of the real-valued network over the input box (interval propagation).

Sound: weights are exact rationals (integer numerators over a common
denominator), inputs and results are outward-rounded scaled integers
(`scaled.py`). Every neuron gets its own [lo, hi] for the pre-activation
(the accumulated sum) and the post-activation value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..numeric.rational import RationalArray
from ..network.ir import Activation, Network
from ..numeric import scaled
from .smooth import smooth_down, smooth_up


@dataclass(frozen=True, eq=False)
class LayerRanges:
    """Real ranges of one layer, as scaled ints (object arrays, one entry per neuron)."""

    pre_lo: np.ndarray
    pre_hi: np.ndarray
    post_lo: np.ndarray
    post_hi: np.ndarray


@dataclass(frozen=True, eq=False)
class ExactLayer:
    """A layer's weights and bias in the form the analysis computes with."""

    weights: RationalArray
    bias_lo: np.ndarray  # floor(b * 2^P)
    bias_hi: np.ndarray
    activation: Activation


def exact_layers(network: Network) -> list[ExactLayer]:
    out = []
    for layer in network.layers:
        w = layer.exact_weights
        out.append(
            ExactLayer(
                w,
                scaled.obj([scaled.down(b) for b in layer.bias]),
                scaled.obj([scaled.up(b) for b in layer.bias]),
                layer.activation,
            )
        )
    return out


def affine_bounds(layer: ExactLayer, x_lo: np.ndarray, x_hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sound [lo, hi] of W x + b for x in the box [x_lo, x_hi] (scaled ints)."""
    n = layer.weights.num
    pos = np.where(n > 0, n, 0)
    neg = np.where(n < 0, n, 0)
    lo_num = pos.dot(x_lo) + neg.dot(x_hi)
    hi_num = pos.dot(x_hi) + neg.dot(x_lo)
    d = layer.weights.den
    return scaled.div_floor(lo_num, d) + layer.bias_lo, scaled.div_ceil(hi_num, d) + layer.bias_hi


def activation_bounds(act: Activation, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sound image of [lo, hi] under a monotone activation (scaled ints)."""
    if act is Activation.LINEAR:
        return lo, hi
    if act is Activation.RELU:
        return np.where(lo > 0, lo, 0).astype(object), np.where(hi > 0, hi, 0).astype(object)
    f_lo = scaled.obj([smooth_down(act, v) for v in lo])
    f_hi = scaled.obj([smooth_up(act, v) for v in hi])
    return f_lo, f_hi


def input_box_scaled(box) -> tuple[np.ndarray, np.ndarray]:
    return scaled.obj([scaled.down(lo) for lo, _ in box]), scaled.obj([scaled.up(hi) for _, hi in box])


def interval_ranges(layers: list[ExactLayer], x_lo: np.ndarray, x_hi: np.ndarray) -> list[LayerRanges]:
    """Interval propagation through every layer."""
    out = []
    for layer in layers:
        pre_lo, pre_hi = affine_bounds(layer, x_lo, x_hi)
        post_lo, post_hi = activation_bounds(layer.activation, pre_lo, pre_hi)
        out.append(LayerRanges(pre_lo, pre_hi, post_lo, post_hi))
        x_lo, x_hi = post_lo, post_hi
    return out


