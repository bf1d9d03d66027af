"""The synthesis MILP: fractional bits as one-hot decisions, a knapsack per output.

Decisions. Every format group (the values sharing one format: per neuron or
per layer; for the sound Aster scheme one fractional-bit count per layer
shared by weights, bias, accumulator and output) has a fractional-bit
variable F with candidates {b}: binaries c_b, sum_b c_b = 1, so F = sum b c_b
and 2^-F = sum 2^-b c_b are linear -- and so is *any* function of F: the
exact weight-quantization error interval of each neuron, the exact width of
the rounded weights and biases, the integer bits a value needs, are
precomputed per candidate.

Error model: the first-order rule of `verifq.analysis.first_order`. The
error of output o is a sum over local error terms L_i (signed intervals)
weighted by interval sensitivities R_oi (backward products of the weight
matrices W and the slope intervals S of the activations), so with one-hot F
the upper and lower ends of sum_i R_oi (x) L_i are linear:

  sum_i hi(R_oi (x) L_i(F_i)) <= eps_o   and   -sum_i lo(R_oi (x) L_i(F_i)) <= eps_o

-- two knapsack rows per output. Local terms per neuron j: weight
quantization (exact per candidate F_w), the bias (stored at the
accumulator's fractional bits), product rounding [-nnz_j P, 0] (truncation;
nearest: symmetric) with P = 2^-F_a (nearest 2^-(F_a+1)) or, where exact
accumulation is worth having, P >= u(F_a) - u_max x with a binary x that may
only be 1 when F_a >= F_w + F_x; output rounding [-u(F_o), 0] (F_a >= F_o
imposed w.l.o.g.), the tanh/sigmoid lookup [-2^-(F_o+1), 2^-(F_o+1)], and the
input rounding. A ReLU assumed stable is a target of its own; deep networks
can certify intermediate layers' errors as variables ("checkpoints"). The
model is an approximation of the exact analysis in both directions: the
caller re-analyses its answer exactly and repairs it.

The stages, one module each:

* `records.py`: the records passed between stages (`ProblemData`, `FVar`,
  `Group`, `Target`, `Plan`, `KnapsackTables`, `Choices`, `ModelConfig`);
* `sensitivities.py`: slopes, targets, backward interval sensitivities;
* `planning.py`: candidate sets and format groups (`make_plan`);
* `widths.py`: exact widths and integer bits per fractional-bit count;
* `knapsack.py`: the rows' coefficients per candidate, and `FloatModel`,
  their float evaluation;
* `encoding.py` and `objective.py`: the MILP (`LinearModel`) itself;
* `decoding.py`: solver points <-> choices <-> designs, warm starts;
* `synthesis_model.py`: `SynthesisModel`, the interface the driver uses.
"""

from .records import Choices, ModelConfig
from .synthesis_model import SynthesisModel

__all__ = ["SynthesisModel", "ModelConfig", "Choices"]
