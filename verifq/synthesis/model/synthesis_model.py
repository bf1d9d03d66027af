"""`SynthesisModel`: the one object the synthesis driver talks to.

It plans (`planning.py`), builds the MILP (`encoding.py`), decodes the
solver's answer and evaluates choices in floats for the repairs
(`decoding.py`, `knapsack.py`) for one problem and configuration. Everything
`synthesize.py` needs is a public method or property here; the stages' own
state stays in their records (`ProblemData`, `Plan`, `MilpEncoding`).
"""

from __future__ import annotations

import numpy as np

from ...fixedpoint.design import Design
from ...problem import Problem
from ...solvers import LinearModel
from . import decoding
from .encoding import MilpEncoding, build_milp, calibrate_outputs
from .knapsack import FloatModel
from .planning import make_plan
from .records import Choices, ModelConfig, ProblemData
from .widths import cap_of


class SynthesisModel:
    """Plan, build, decode and evaluate the MILP for one problem and configuration."""

    def __init__(self, problem: Problem, ranges, x_lo, x_hi, config: ModelConfig):
        self.config = config
        self._data = ProblemData.create(problem, ranges, x_lo, x_hi, config.tables)
        self._plan = make_plan(self._data, config)
        self._float_model = FloatModel(self._data, self._plan, self._plan.tables)
        self._encoding: MilpEncoding | None = None  # set by `build`

    # ------------------------------------------------------------------ what the model is about
    @property
    def problem(self) -> Problem:
        return self._data.problem

    @property
    def eps(self) -> list:
        """Float error bound per network output (None: unconstrained)."""
        return self._data.eps

    @property
    def outputs(self) -> list:
        """The outputs with a bound, in the order of the model's first rows."""
        return self._data.outputs

    @property
    def messages(self) -> list[str]:
        return self._plan.messages

    @property
    def n_variables(self) -> int:
        return len(self._plan.fvars)

    @property
    def has_coupled_terms(self) -> bool:
        """Whether rows couple variables beyond plain sums (exactness binaries, checkpoints):
        then single-variable steps need `step_delta`, not `output_step`."""
        return bool(self._plan.tables.products or self._plan.ck_coef)

    # ------------------------------------------------------------------ groups
    def group_of(self, role: str, layer: int, neuron: int) -> int:
        """The format group of a value: role weight / bias / accum / output of `neuron` in
        `layer` (1-based, as in the analysis's violations); biases share the accumulator's group."""
        pos = layer - 1
        table = {"weight": self._plan.wgroup, "bias": self._plan.agroup, "accum": self._plan.agroup,
                 "output": self._plan.ogroup}[role]
        return int(table[pos][neuron])

    def input_group_of(self, k: int) -> int:
        """The format group of input k (only when inputs are real, i.e. rounded by the design)."""
        return int(self._plan.input_group[k])

    def variable_of(self, group: int) -> int:
        return self._plan.groups[group].fvar

    def cap_of(self, group: int) -> int:
        """The widest format the limits allow for the group."""
        return cap_of(self._data, self._plan.groups[group])

    def fits_caps(self, var: int, f: int, choices: Choices) -> bool:
        """Whether every group of variable `var` (with its repairs' extra bits) fits at f."""
        return decoding.fits_caps(self._data, self._plan, var, f, choices)


    # ------------------------------------------------------------------ the MILP
    def build(self) -> LinearModel:
        self._encoding = build_milp(self._data, self._plan, self._float_model, self.config)
        return self._encoding.m

    def _built(self) -> MilpEncoding:
        if self._encoding is None:
            raise RuntimeError("the MILP is not built yet (call build())")
        return self._encoding

    def calibrate(self, design: Design, analysis) -> dict:
        """Scale every output row's bound by how much the model over-estimates the exact
        analysis on `design` (see `encoding.calibrate_outputs`); returns output -> factor."""
        return calibrate_outputs(self._plan, self._float_model, self._built(), self.choices_from_design(design), analysis)

    # ------------------------------------------------------------------ decoding and warm starts
    def choices_from_solution(self, x: np.ndarray) -> Choices:
        return decoding.choices_from_solution(self._plan, x)

    def choices_from_design(self, design: Design) -> Choices | None:
        """Fractional bits of `design` per variable (None when the design's granularity is finer)."""
        return decoding.choices_from_design(self._data, self._plan, design)

    def least_precise_choices(self) -> Choices:
        """Every variable at its smallest candidate."""
        return Choices([int(fv.cands[0]) for fv in self._plan.fvars])

    def design_from_choices(self, choices: Choices) -> Design:
        return decoding.design_from_choices(self._data, self._plan, choices)

    def point(self, choices: Choices) -> np.ndarray | None:
        """The full MILP point of the choices (a warm start); None when a choice is not a candidate."""
        return decoding.point(self._data, self._plan, self._float_model, self._built(), choices)

    def rounded_point(self, x_relaxed: np.ndarray, max_steps: int = 3000) -> tuple[np.ndarray, Choices] | None:
        """A feasible point near an LP-relaxation point, with its choices (None if none is found)."""
        return decoding.rounded_point(self._data, self._plan, self._float_model, self._built(), self.config.tied,
                                      x_relaxed, max_steps)

    def focus(self, x_relaxed: np.ndarray, choices: Choices | None, margin: int = 1) -> int:
        """Switch off candidates far from the LP relaxation's support; returns how many."""
        return decoding.focus(self._plan, self._built(), x_relaxed, choices, margin)

    # ------------------------------------------------------------------ float evaluation (repairs)
    def evaluate(self, choices: Choices):
        """(model error bound per network output, state) for the choices."""
        return self._float_model.evaluate(choices)

    def output_errors(self, state) -> np.ndarray:
        return self._float_model.output_errors(state)

    def step_delta(self, choices: Choices, var: int, step: int, state) -> tuple | None:
        """The state after F[var] += step (None outside the candidates)."""
        return self._float_model.step_delta(choices, var, step, state)

    def output_step(self, var: int, f: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Change of the output rows' (hi, lo) when variable `var` moves from f to f + 1, for
        models without coupled terms; None when either is not a candidate."""
        return self._float_model.output_step(var, f)

    def step_cost(self, var: int, f_from: int, f_to: int) -> float:
        """Total-bits change of moving variable `var` between two candidates (inf: not allowed)."""
        return decoding.step_cost(self._data, self._plan, var, f_from, f_to)
