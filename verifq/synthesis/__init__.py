"""Synthesis of sound fixed-point formats (`verifq synth`).

Public API:

* `synthesize(problem, options) -> SynthesisResult` (`synthesize.py`): minimal
  formats meeting every requirement, re-analysed exactly;
* `SynthOptions`: method (milp | uniform | aster), granularity, cost model,
  solver, time limit, gap, exact ranges;
* `design_costs(network, design) -> Costs` (`cost.py`): the four cost models;
* `solvers.solve(LinearModel, SolveOptions)`: HiGHS / Gurobi behind one interface.

See `verifq/synthesis/README.md`.
"""

from .cost import Costs, design_costs
from .synthesize import SynthesisResult, SynthOptions, synthesize

__all__ = ["synthesize", "SynthOptions", "SynthesisResult", "Costs", "design_costs"]
