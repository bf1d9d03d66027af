"""The solver interface: HiGHS and Gurobi agree on the optimal cost of small
synthesis MILPs; Gurobi's size-limited licence falls back to HiGHS with a
clear message; time limits return the best solution with its gap; the counted
work limit stops HiGHS deterministically; the HiGHS options avoid a HiGHS
1.16 presolve loop; synthesis analyses with the optimized ReLU slopes of
`prove`."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from test_synthesis_helpers import problem
from verifq.analysis.alpha import DEFAULT_ALPHA_ITERS
from verifq.analysis.ranges import compute_ranges
from verifq.synthesis.context import Context, probe_design
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


def test_work_limit_stops_highs_deterministically_with_the_best_solution():
    m, lm = _model("aster_InvPendulumNN", "neuron")
    start = solve(lm, SolveOptions("highs", time_limit=None, mip_gap=0.5)).x  # a feasible point
    full = solve(lm, SolveOptions("highs", time_limit=None, mip_gap=0.0, initial=start))
    assert full.status == "optimal" and not full.work_limited
    runs = [solve(lm, SolveOptions("highs", time_limit=None, mip_gap=0.0, initial=start, work_limit=2)) for _ in range(2)]
    for r in runs:  # limit-reached, like a node limit: the best solution so far (here: at least the start)
        assert r.status == "feasible" and r.work_limited and not r.time_limited and not r.node_limited
        assert "work limit reached" in r.describe()
        assert full.objective - 1e-6 <= r.objective <= float(lm.arrays()[2] @ start) + lm.objective_offset + 1e-6
    assert runs[0].objective == runs[1].objective and np.array_equal(runs[0].x, runs[1].x)
    none = solve(lm, SolveOptions("highs", time_limit=None, mip_gap=0.0, work_limit=0))
    assert none.work_limited and none.status in ("no_solution", "feasible")


def _layer_ranges(layers):
    return [(tuple(r.pre_lo), tuple(r.pre_hi)) for r in layers]


@pytest.mark.parametrize("name", ["aster_ACC3NN", "reachnn_2_relu"])
def test_synthesis_analyses_with_the_optimized_relu_slopes_of_prove(name):
    p = problem(name)
    ctx = Context.create(p)
    optimized = _layer_ranges(compute_ranges(p.network, ctx.box, "symbolic", alpha_iters=DEFAULT_ALPHA_ITERS).layers)
    deeppoly = _layer_ranges(compute_ranges(p.network, ctx.box, "symbolic", alpha_iters=0).layers)
    assert DEFAULT_ALPHA_ITERS > 0 and optimized != deeppoly  # the network tells the two apart
    assert _layer_ranges(ctx.ranges) == optimized
    a = ctx.analyse(probe_design(p))  # the exact (re-)analyses that prove and repair every design
    assert _layer_ranges([la.ranges for la in a.layers]) == optimized


HIGHS_DATA = Path(__file__).resolve().parent / "data" / "highs"


def load_model(path):
    """A LinearModel and its MIP start from an .npz of arrays (tests/data/highs)."""
    d = np.load(path)
    lm = LinearModel()
    for lb, ub, c, integer in zip(d["lb"], d["ub"], d["cost"], d["integer"]):
        lm.add_col(float(lb), float(ub), float(c), bool(integer))
    order = np.argsort(d["row"], kind="stable")
    rows, cols, vals = d["row"][order], d["col"][order], d["value"][order]
    cuts = np.searchsorted(rows, np.arange(len(d["row_lo"]) + 1))
    for r, (lo, hi) in enumerate(zip(d["row_lo"], d["row_hi"])):
        lm.add_row(cols[cuts[r]:cuts[r + 1]], vals[cuts[r]:cuts[r + 1]], float(lo), float(hi))
    return lm, d["start"]


def test_highs_options_avoid_the_presolve_loop_of_highs_1_16_on_a_synthesis_milp():
    # vcas pra04's 4th calibrated per-layer re-solve (with optimized slopes, as built where OpenBLAS picks its
    # own kernels): HiGHS 1.16.0 with RENS never returned (> 10 min; inside the presolve of a RENS sub-MIP of a
    # RENS sub-MIP, where no limit is checked). Run in a child so that a regression fails instead of hanging.
    code = textwrap.dedent(f"""
        import sys
        sys.path[:0] = {[str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]!r}
        from test_synthesis_solvers import load_model
        from verifq.solvers import SolveOptions, solve
        lm, start = load_model({str(HIGHS_DATA / "vcas_pra04_calibrated_resolve.npz")!r})
        r = solve(lm, SolveOptions("highs", time_limit=None, mip_gap=0.01, initial=start, node_limit=5000,
                                   work_limit=20000))
        print(r.status, round(r.objective))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    status, objective = out.stdout.split()[-2:]
    assert status == "optimal" and int(objective) == 25018  # the optimum of the run that did not loop
