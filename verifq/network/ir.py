"""The network intermediate representation: an immutable feed-forward network
of dense layers with exact rational weights.

Every number is a `fractions.Fraction` holding the exact value of the source:
decimal text is taken as the decimal it spells, float32/float64 values from
binary files as the exact binary value. Analyses convert to scaled integers
themselves; the IR never holds a rounded float.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction
from functools import cached_property

import numpy as np

from ..numeric.rational import RationalArray


class Activation(str, Enum):
    RELU = "relu"
    LINEAR = "linear"
    TANH = "tanh"
    SIGMOID = "sigmoid"

    @property
    def lipschitz(self) -> Fraction:
        """A Lipschitz constant, used to carry an input error through the activation."""
        return Fraction(1, 4) if self is Activation.SIGMOID else Fraction(1)


@dataclass(frozen=True)
class DenseLayer:
    """y = activation(weights @ x + bias); weights has one row per output neuron."""

    weights: tuple[tuple[Fraction, ...], ...]
    bias: tuple[Fraction, ...]
    activation: Activation

    @property
    def n_in(self) -> int:
        return len(self.weights[0]) if self.weights else 0

    @property
    def n_out(self) -> int:
        return len(self.weights)

    @cached_property
    def weight_array(self) -> np.ndarray:
        """Weights as a read-only numpy object array of Fractions (rows = neurons)."""
        arr = np.empty((self.n_out, self.n_in), dtype=object)
        for j, row in enumerate(self.weights):
            arr[j, :] = row
        arr.setflags(write=False)
        return arr

    @cached_property
    def exact_weights(self) -> RationalArray:
        """Weights as integer numerators over one denominator (exact, fast to compute with)."""
        return RationalArray.from_fractions(self.weight_array)

    @cached_property
    def exact_bias(self) -> RationalArray:
        return RationalArray.from_fractions(list(self.bias))

    @cached_property
    def weight_float(self) -> np.ndarray:
        """Nearest float64 of each weight: for fast *unverified* evaluation only."""
        return np.array([[float(w) for w in row] for row in self.weights], dtype=np.float64)

    @cached_property
    def bias_float(self) -> np.ndarray:
        return np.array([float(b) for b in self.bias], dtype=np.float64)


@dataclass(frozen=True)
class InputNormalization:
    """NNet-style input normalization: x' = (clip(x, clip_lo, clip_hi) - mean) / range."""

    clip_lo: tuple[Fraction, ...]
    clip_hi: tuple[Fraction, ...]
    mean: tuple[Fraction, ...]
    range: tuple[Fraction, ...]

    def apply(self, x: tuple[Fraction, ...]) -> tuple[Fraction, ...]:
        return tuple(
            (min(max(v, lo), hi) - m) / r
            for v, lo, hi, m, r in zip(x, self.clip_lo, self.clip_hi, self.mean, self.range)
        )


@dataclass(frozen=True)
class OutputPostprocess:
    """y = scale * (out - pre_offset) + post_offset, applied after the network.

    Kept as metadata: verifq's error requirements are on the network's own
    outputs, before this affine map (the error then scales by |scale|).
    """

    scale: tuple[Fraction, ...]
    pre_offset: tuple[Fraction, ...]
    post_offset: tuple[Fraction, ...]


@dataclass(frozen=True)
class Network:
    """A feed-forward network of dense layers, plus where it came from."""

    name: str
    layers: tuple[DenseLayer, ...]
    source: str = "inline"
    license_note: str | None = None
    normalization: InputNormalization | None = None
    postprocess: OutputPostprocess | None = None
    input_names: tuple[str, ...] | None = None
    output_names: tuple[str, ...] | None = None
    metadata: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    @property
    def parameter_count(self) -> int:
        return sum(l.n_in * l.n_out + l.n_out for l in self.layers)

    @property
    def architecture(self) -> str:
        hidden = ",".join(str(l.n_out) for l in self.layers[:-1])
        return f"{self.n_inputs}x[{hidden}]x{self.n_outputs}"

    def evaluate_float(self, x: np.ndarray) -> np.ndarray:
        """Float64 forward pass on a batch (rows = inputs), normalization included.

        Approximate (float) -- used to rank candidate inputs, never to prove.
        """
        h = np.asarray(x, dtype=np.float64)
        if self.normalization is not None:
            n = self.normalization
            lo = np.array([float(v) for v in n.clip_lo])
            hi = np.array([float(v) for v in n.clip_hi])
            mean = np.array([float(v) for v in n.mean])
            rng = np.array([float(v) for v in n.range])
            h = (np.clip(h, lo, hi) - mean) / rng
        return self.forward_float(h)

    def forward_float(self, h: np.ndarray) -> np.ndarray:
        """Float64 forward pass of the layers alone (inputs in network-input units)."""
        h = np.asarray(h, dtype=np.float64)
        for layer in self.layers:
            h = h @ layer.weight_float.T + layer.bias_float
            h = apply_activation_float(layer.activation, h)
        return h

    def forward_exact_relu_linear(self, x) -> list[Fraction]:
        """Exact forward pass of the layers on rational inputs (ReLU/linear only)."""
        h = [Fraction(v) for v in x]
        for layer in self.layers:
            if layer.activation not in (Activation.RELU, Activation.LINEAR):
                raise ValueError("exact evaluation needs ReLU/linear activations")
            z = [sum((w * v for w, v in zip(row, h) if w and v), b) for row, b in zip(layer.weights, layer.bias)]
            h = [max(v, Fraction(0)) for v in z] if layer.activation is Activation.RELU else z
        return h


def apply_activation_float(act: Activation, v: np.ndarray) -> np.ndarray:
    if act is Activation.RELU:
        return np.maximum(v, 0.0)
    if act is Activation.TANH:
        return np.tanh(v)
    if act is Activation.SIGMOID:
        return 1.0 / (1.0 + np.exp(-v))
    return v


MAX_MAGNITUDE = Fraction(2) ** 1023  # no fixed-point format (|I| <= 1024) holds a value this large


def validate_network(net: Network) -> list[str]:
    """Structural problems of a network, as messages (empty when it is well formed)."""
    problems: list[str] = []
    if not net.layers:
        return ["the network has no layers"]
    prev = net.layers[0].n_in
    for i, layer in enumerate(net.layers, start=1):
        if layer.n_out == 0 or layer.n_in == 0:
            problems.append(f"layer {i} is empty")
            continue
        if any(len(row) != layer.n_in for row in layer.weights):
            problems.append(f"layer {i}: weight rows have different lengths")
        if len(layer.bias) != layer.n_out:
            problems.append(f"layer {i}: {layer.n_out} weight rows but {len(layer.bias)} biases")
        if layer.n_in != prev:
            problems.append(f"layer {i} takes {layer.n_in} inputs but the previous layer gives {prev}")
        big = [v for row in layer.weights for v in row if abs(v) >= MAX_MAGNITUDE] + \
            [v for v in layer.bias if abs(v) >= MAX_MAGNITUDE]
        if big:
            problems.append(f"layer {i} has a weight or bias too large for any fixed-point format "
                            f"({len(big)} value{'s' if len(big) > 1 else ''} of magnitude >= 2^1023)")
        prev = layer.n_out
    return problems
