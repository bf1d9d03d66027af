"""Cost models of a fixed-point design (every result reports all four).

With W(v) the width of the format of value v, n_in(L) the fan-in of layer L
and nz(j) = {k : w_jk != 0} the nonzero *real* weights of neuron j:

* ``total_bits`` (Aster-compatible: the sum of the widths of every stored
  value of the quantized network):
  sum over inputs k of W(input k)
  + sum over neurons j of [ n_in * W(weight_j) + W(bias_j) + W(accum_j) + W(output_j) ]
  + the memory of every tanh/sigmoid lookup table (entries x entry width).
  Every weight counts (also zero weights: they are stored in a dense layer).
* ``weight_bits`` (weight memory): sum over neurons j of n_in * W(weight_j) + W(bias_j).
* ``multiplier_area``: sum over neurons j and k in nz(j) of W(weight_j) * W(x_k),
  x_k being the value entering the product (an input or the previous layer's
  output) -- the classic area proxy of an array multiplier.
* ``dsp``: the number of Xilinx DSP48 slices (27x18 signed multipliers) when
  every product w_jk * x_k (k in nz(j)) is mapped to DSP slices:
  dsp(a, b) = min(ceil(a/27) * ceil(b/18), ceil(a/18) * ceil(b/27)) per product
  (the better of the two port assignments; no LUT multipliers are assumed).
  The synthesis MILP uses the upper bound ceil(W(weight)/27) * ceil(W(x)/18)
  (weights on the 27-bit port); the reported number is always the formula above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..fixedpoint.design import Design
from ..network.ir import Network
from ..problem import CostModel

COST_LABELS = {
    CostModel.TOTAL_BITS: "total bits",
    CostModel.WEIGHT_BITS: "weight bits",
    CostModel.MULTIPLIER_AREA: "multiplier area",
    CostModel.DSP: "DSP48 slices",
}


def dsp_slices(a: int, b: int) -> int:
    """27x18 DSP48 slices for an a-bit by b-bit product (better port assignment)."""
    return min(-(-a // 27) * -(-b // 18), -(-a // 18) * -(-b // 27))


@dataclass(frozen=True)
class Costs:
    total_bits: int
    weight_bits: int
    multiplier_area: int
    dsp: int
    table_bits: int = 0  # tanh/sigmoid lookup-table memory (entries x entry width), part of total_bits

    def get(self, model: CostModel) -> int:
        return {
            CostModel.TOTAL_BITS: self.total_bits,
            CostModel.WEIGHT_BITS: self.weight_bits,
            CostModel.MULTIPLIER_AREA: self.multiplier_area,
            CostModel.DSP: self.dsp,
        }[CostModel(model)]

    def as_dict(self) -> dict[str, int]:
        return {
            "total_bits": self.total_bits,
            "weight_bits": self.weight_bits,
            "multiplier_area": self.multiplier_area,
            "dsp": self.dsp,
            **({"table_bits": self.table_bits} if self.table_bits else {}),
        }


def nonzero_masks(network: Network) -> list[np.ndarray]:
    """Per layer, a boolean (n_out, n_in) mask of the nonzero real weights."""
    return [np.array([[w != 0 for w in row] for row in layer.weights], dtype=bool) for layer in network.layers]


def design_costs(network: Network, design: Design, masks: list[np.ndarray] | None = None) -> Costs:
    """All four costs of `design` (exact integers)."""
    masks = masks if masks is not None else nonzero_masks(network)
    total = sum(f.width for f in design.inputs)
    weight_bits = 0
    area = 0
    dsp = 0
    x_w = np.array([f.width for f in design.inputs], dtype=np.int64)
    for layer, fmts, mask in zip(network.layers, design.layers, masks):
        ww = np.array([f.width for f in fmts.weight], dtype=np.int64)
        wb = np.array([f.width for f in fmts.bias], dtype=np.int64)
        wa = np.array([f.width for f in fmts.accum], dtype=np.int64)
        wo = np.array([f.width for f in fmts.output], dtype=np.int64)
        wbits = int((ww * layer.n_in).sum() + wb.sum())
        weight_bits += wbits
        total += wbits + int(wa.sum() + wo.sum())
        area += int((ww[:, None] * x_w[None, :] * mask).sum())
        # dsp per distinct (weight width, input width) pair
        pairs: dict[tuple[int, int], int] = {}
        for j in range(layer.n_out):
            xs, counts = np.unique(x_w[mask[j]], return_counts=True)
            for xv, c in zip(xs, counts):
                key = (int(ww[j]), int(xv))
                pairs[key] = pairs.get(key, 0) + int(c)
        dsp += sum(dsp_slices(a, b) * c for (a, b), c in pairs.items())
        x_w = wo
    tables = sum(lf.table.memory_bits for lf in design.layers if lf.table is not None)
    return Costs(int(total + tables), int(weight_bits), int(area), int(dsp), int(tables))
