"""Gurobi (gurobipy), on request. The pip licence of gurobipy is size-limited
(at most 2,000 variables and 2,000 constraints); a model beyond that, or a
gurobipy that cannot run here, raises `SolverUnavailable` and the front end
falls back to HiGHS with a message saying why."""

from __future__ import annotations

import time

import numpy as np

from .base import Backend, SolveOptions, SolveResult, SolveStatus, SolverUnavailable, relative_gap
from .model import LinearModel

GUROBI_SIZE_LIMIT = 2000  # variables and constraints of the size-limited pip licence
GUROBI_SIZE_LIMIT_ERRNO = 10010


class GurobiBackend(Backend):
    name = "gurobi"
    max_size = GUROBI_SIZE_LIMIT  # without a licence file: the size-limited pip licence

    def is_installed(self) -> tuple[bool, str]:
        return gurobi_available()

    def solve(self, model: LinearModel, opts: SolveOptions) -> SolveResult:
        return solve_gurobi(model, opts)


def gurobi_available() -> tuple[bool, str]:
    """Whether gurobipy can build and solve a model here (and why not)."""
    try:
        import gurobipy as gp
    except Exception as exc:  # noqa: BLE001
        return False, f"gurobipy cannot be imported ({exc})"
    try:
        env = gp.Env(empty=True)
        env.setParam("OutputFlag", 0)
        env.start()
        m = gp.Model(env=env)
        x = m.addVar(vtype="B", obj=1.0)
        m.addConstr(x >= 0)
        m.optimize()
        m.dispose()
        env.dispose()
    except Exception as exc:  # noqa: BLE001
        return False, f"gurobipy cannot run ({exc})"
    return True, "ok"


def solve_gurobi(model: LinearModel, opts: SolveOptions) -> SolveResult:
    try:
        import gurobipy as gp
        from gurobipy import GRB
    except Exception as exc:  # noqa: BLE001
        raise SolverUnavailable(f"gurobipy cannot be imported ({exc})") from None
    n, m = model.num_cols, model.num_rows
    ranged = int(np.sum(np.isfinite(model.arrays()[7]) & np.isfinite(model.arrays()[8]) & (model.arrays()[7] != model.arrays()[8])))
    if n > GUROBI_SIZE_LIMIT or m + ranged > GUROBI_SIZE_LIMIT:
        raise SolverUnavailable(
            f"the model ({n} variables, {m + ranged} constraints) exceeds the size-limited Gurobi licence "
            f"({GUROBI_SIZE_LIMIT} variables and {GUROBI_SIZE_LIMIT} constraints)"
        )
    import scipy.sparse as sp

    t0 = time.perf_counter()
    lb, ub, cost, integ, ri, ci, v, rlo, rhi = model.arrays()
    try:
        env = gp.Env(empty=True)
        env.setParam("OutputFlag", 1 if opts.verbose else 0)
        env.start()
        g = gp.Model(env=env)
        if opts.time_limit is not None:
            g.Params.TimeLimit = float(max(opts.time_limit, 0.1))
        g.Params.MIPGap = float(opts.mip_gap)
        if opts.feasibility_tolerance is not None:
            g.Params.FeasibilityTol = float(opts.feasibility_tolerance)
            g.Params.IntFeasTol = float(opts.feasibility_tolerance)
        if opts.threads:
            g.Params.Threads = int(opts.threads)
        if opts.node_limit is not None:
            g.Params.NodeLimit = float(opts.node_limit)
        if opts.relax:
            integ = np.zeros_like(integ)
        vt = np.where(integ, GRB.INTEGER, GRB.CONTINUOUS)
        x = g.addMVar(n, lb=np.where(np.isinf(lb), -GRB.INFINITY, lb), ub=np.where(np.isinf(ub), GRB.INFINITY, ub),
                      obj=cost, vtype=vt)
        g.ObjCon = float(model.objective_offset)
        A = sp.csr_matrix((v, (ri, ci)), shape=(m, n))
        eq = np.isfinite(rlo) & (rlo == rhi)
        up = np.isfinite(rhi) & ~eq
        lo = np.isfinite(rlo) & ~eq
        if eq.any():
            g.addMConstr(A[eq], x, "=", rlo[eq])
        if up.any():
            g.addMConstr(A[up], x, "<", rhi[up])
        if lo.any():
            g.addMConstr(A[lo], x, ">", rlo[lo])
        if opts.initial is not None:
            x.Start = np.asarray(opts.initial, dtype=float)
        g.optimize()
    except gp.GurobiError as exc:
        if getattr(exc, "errno", None) == GUROBI_SIZE_LIMIT_ERRNO:
            raise SolverUnavailable(f"Gurobi refused the model: size-limited licence ({exc})") from None
        raise SolverUnavailable(f"Gurobi error {getattr(exc, 'errno', '?')}: {exc}") from None
    secs = time.perf_counter() - t0
    st = g.Status
    has = g.SolCount > 0
    xv = np.array(x.X) if has else None
    obj = float(g.ObjVal) if has else None
    try:
        bound = float(g.ObjBound)
    except (gp.GurobiError, AttributeError):
        bound = obj
    if st == GRB.OPTIMAL:
        status = SolveStatus.OPTIMAL
    elif st in (GRB.INFEASIBLE, GRB.INF_OR_UNBD):
        status = SolveStatus.INFEASIBLE
    elif st in (GRB.TIME_LIMIT, GRB.INTERRUPTED, GRB.SOLUTION_LIMIT, GRB.NODE_LIMIT, GRB.ITERATION_LIMIT):
        status = SolveStatus.FEASIBLE if has else SolveStatus.NO_SOLUTION
    else:
        status = SolveStatus.FEASIBLE if has else SolveStatus.ERROR
    res = SolveResult(status, xv, obj, bound, relative_gap(obj, bound) if integ.any() else 0.0, "gurobi", secs,
                      time_limited=st == GRB.TIME_LIMIT, node_limited=st == GRB.NODE_LIMIT)
    g.dispose()
    env.dispose()
    return res
