"""The solver interface: HiGHS and Gurobi agree on the optimal cost of small
synthesis MILPs; Gurobi's size-limited licence falls back to HiGHS with a
clear message; time limits return the best solution with its gap."""

from __future__ import annotations

import numpy as np
import pytest

from test_synthesis_helpers import problem
from verifq.synthesis.context import Context
from verifq.synthesis.model import ModelConfig, SynthesisModel
from verifq.solvers import GUROBI_SIZE_LIMIT, LinearModel, SolveOptions, gurobi_available, solve

GUROBI_OK, GUROBI_WHY = gurobi_available()
needs_gurobi = pytest.mark.skipif(not GUROBI_OK, reason=f"gurobipy cannot run here: {GUROBI_WHY}")


def _model(name, gran="layer", tied=False):
    p = problem(name)
    ctx = Context.create(p)
    m = SynthesisModel(p, ctx.ranges, ctx.x_lo, ctx.x_hi, ModelConfig(gran, tied=tied))
    return m, m.build()


@needs_gurobi
@pytest.mark.parametrize("name, gran, tied", [
    ("aster_SmallNN", "neuron", False), ("aster_TestNN", "neuron", False), ("aster_InvPendulumNN", "layer", False),
    ("aster_LyapunovNN", "neuron", False), ("aster_MountainCarNN", "layer", True), ("reachnn_1_sigmoid", "layer", False),
])
def test_gurobi_and_highs_find_the_same_optimal_cost(name, gran, tied):
    m, lm = _model(name, gran, tied)
    assert lm.num_cols <= GUROBI_SIZE_LIMIT and lm.num_rows <= GUROBI_SIZE_LIMIT
    h = solve(lm, SolveOptions("highs", time_limit=60, mip_gap=0.0))
    g = solve(lm, SolveOptions("gurobi", time_limit=60, mip_gap=0.0))
    assert g.solver == "gurobi" and not g.messages
    assert h.status == g.status == "optimal"
    assert abs(h.objective - g.objective) <= 1e-6 * max(1.0, abs(h.objective))


@needs_gurobi
def test_gurobi_size_limit_falls_back_to_highs_with_a_message():
    lm = LinearModel()
    x = lm.add_binaries(GUROBI_SIZE_LIMIT + 10, cost=1.0)
    lm.add_row(x, 1.0, 3.0, np.inf)
    r = solve(lm, SolveOptions("gurobi", time_limit=30))
    assert r.solver == "highs" and r.status == "optimal" and abs(r.objective - 3.0) < 1e-9
    assert any("licence" in msg and "HiGHS" in msg for msg in r.messages)


def test_unavailable_gurobi_falls_back(monkeypatch):
    import verifq.solvers as S

    def broken(model, opts):
        raise S.SolverUnavailable("gurobipy cannot be imported (simulated)")

    monkeypatch.setattr(S.BACKENDS["gurobi"], "solve", broken)
    lm = LinearModel()
    x = lm.add_binaries(3, cost=[3.0, 1.0, 2.0])
    lm.add_row(x, 1.0, 1.0, 1.0)
    r = S.solve(lm, SolveOptions("gurobi"))
    assert r.solver == "highs" and r.objective == 1.0 and "simulated" in r.messages[0]


def test_highs_time_limit_reports_best_solution_and_gap():
    m, lm = _model("aster_ACC3NN", "neuron")
    r = solve(lm, SolveOptions("highs", time_limit=0.1, mip_gap=0.0))
    assert r.status in ("optimal", "feasible", "no_solution")
    if r.status == "feasible":
        assert r.x is not None and r.gap is not None and "best solution found so far" in r.describe()


def test_lp_relaxation_bounds_the_milp():
    m, lm = _model("aster_InvPendulumNN", "neuron")
    lp = solve(lm, SolveOptions(relax=True))
    mip = solve(lm, SolveOptions(mip_gap=0.0))
    assert lp.objective <= mip.objective + 1e-6
