"""Quantized constants: the exact integer mantissas of every weight and bias
of a network under a design, computed once and shared by the simulator, the
analysis and code generation (so all three use the very same constants).

Weights and biases are rounded into their formats by the design's constant rules (verifq's: to
nearest, ties up; hls4ml's: see design.ConstantRule); the
bias is then aligned to the accumulator with the design's rounding mode
(exact when the accumulator has at least the bias's fractional bits).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import numpy as np

from ..network.ir import Activation, Network
from .design import ConstantRule, Design, LayerFormats
from .format import Rounding, quantize_exact, shift_round
from ..numeric.rational import RationalArray, floor_div_pow2


@dataclass(frozen=True, eq=False)
class QuantizedLayer:
    index: int  # 1-based, as in specs and reports
    formats: LayerFormats
    activation: Activation
    weights: RationalArray  # the real weights, exactly
    bias: RationalArray
    weight_mant: np.ndarray  # (n_out, n_in) object ints at weight[j].frac_bits
    bias_mant: np.ndarray  # (n_out,) at bias[j].frac_bits
    bias_acc_mant: np.ndarray  # (n_out,) bias aligned to accum[j].frac_bits

    @property
    def n_out(self) -> int:
        return self.weight_mant.shape[0]

    @property
    def n_in(self) -> int:
        return self.weight_mant.shape[1]

    @cached_property
    def weight_frac(self) -> np.ndarray:
        return np.array([f.frac_bits for f in self.formats.weight], dtype=np.int64)

    @cached_property
    def accum_frac(self) -> np.ndarray:
        return np.array([f.frac_bits for f in self.formats.accum], dtype=np.int64)

    @cached_property
    def output_frac(self) -> np.ndarray:
        return np.array([f.frac_bits for f in self.formats.output], dtype=np.int64)


@dataclass(frozen=True, eq=False)
class QuantizedNetwork:
    network: Network
    design: Design
    layers: tuple[QuantizedLayer, ...]

    @cached_property
    def input_frac(self) -> np.ndarray:
        return np.array([f.frac_bits for f in self.design.inputs], dtype=np.int64)

    def frac_bits_into(self, layer_pos: int) -> np.ndarray:
        """Fractional bits of the values entering layer at position layer_pos (0-based)."""
        return self.input_frac if layer_pos == 0 else self.layers[layer_pos - 1].output_frac


def quantize_network(network: Network, design: Design) -> QuantizedNetwork:
    if len(design.layers) != len(network.layers) or len(design.inputs) != network.n_inputs:
        raise ValueError("design does not match the network's shape")
    layers = []
    for pos, (layer, fmts) in enumerate(zip(network.layers, design.layers)):
        if len(fmts.weight) != layer.n_out:
            raise ValueError(f"design layer {pos + 1} has {len(fmts.weight)} neurons, network {layer.n_out}")
        weights, bias = layer.exact_weights, layer.exact_bias
        wm = np.empty((layer.n_out, layer.n_in), dtype=object)
        bm = np.empty(layer.n_out, dtype=object)
        bam = np.empty(layer.n_out, dtype=object)
        for j in range(layer.n_out):
            fw = fmts.weight[j].frac_bits
            if design.weight_rule is ConstantRule.NEAREST:
                wm[j, :] = floor_div_pow2(weights.num[j, :], weights.den, fw, nearest=True)
            else:
                wm[j, :] = [constant_mantissa(w, fw, design.weight_rule) for w in layer.weights[j]]
            fb = fmts.bias[j].frac_bits
            bm[j] = constant_mantissa(layer.bias[j], fb, design.bias_rule)
            bam[j] = shift_round(int(bm[j]), fb - fmts.accum[j].frac_bits, design.rounding)
        layers.append(QuantizedLayer(pos + 1, fmts, layer.activation, weights, bias, wm, bm, bam))
    return QuantizedNetwork(network, design, tuple(layers))


def constant_mantissa(value: Fraction, frac: int, rule: ConstantRule) -> int:
    """The mantissa (at 2^-frac) of a weight or bias under `rule` (design.ConstantRule)."""
    value = Fraction(value)
    if rule is ConstantRule.NEAREST:
        return floor_div_pow2(value.numerator, value.denominator, frac, nearest=True)
    # hls4ml: '{:.Nf}'.format(v) (exact value, N = max(0, F) decimals, ties to the even digit), parsed
    # as a double (correctly rounded), cast with the type's quantization mode
    digits = max(0, frac)
    t = value * 10**digits
    q, r = divmod(t.numerator, t.denominator)
    if 2 * r > t.denominator or (2 * r == t.denominator and q % 2 == 1):
        q += 1
    parsed = Fraction(float(Fraction(q, 10**digits)))
    mode = Rounding.NEAREST if rule is ConstantRule.HLS4ML_NEAREST else Rounding.TRUNCATE
    return quantize_exact(parsed, frac, mode)


def rounding_is_nearest(rounding: Rounding) -> bool:
    return rounding is Rounding.NEAREST
