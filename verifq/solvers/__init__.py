"""MILP solvers behind one small interface.

`LinearModel` holds a mixed-integer linear program in plain numpy arrays
(columns with bounds, costs and integrality; ranged rows as COO triplets);
`solve(model, SolveOptions(...))` runs it on

* HiGHS (highspy) -- the default, always installed;
* Gurobi (gurobipy) on request. The pip licence of gurobipy is size-limited
  (at most 2,000 variables and 2,000 constraints); a model beyond that, or a
  gurobipy that cannot run at all, falls back to HiGHS with a message saying
  why (`SolveResult.messages`).

A time limit returns the best solution found so far, reported as such
(`status == "feasible"`) with the optimality gap. Solver answers are floats
and are never trusted by the caller: synthesis re-analyses every answer
exactly (`verifq.analysis.prove.analyse`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

GUROBI_SIZE_LIMIT = 2000  # variables and constraints of the size-limited pip licence
GUROBI_SIZE_LIMIT_ERRNO = 10010

INF = math.inf


class LinearModel:
    """min c.x  s.t.  row_lo <= A x <= row_hi,  lb <= x <= ub,  x_i integer where flagged."""

    def __init__(self) -> None:
        self._lb: list[np.ndarray] = []
        self._ub: list[np.ndarray] = []
        self._cost: list[np.ndarray] = []
        self._int: list[np.ndarray] = []
        self.num_cols = 0
        self._ri: list[np.ndarray] = []
        self._ci: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self._rlo: list[float] = []
        self._rhi: list[float] = []
        self.objective_offset = 0.0
        self._cost_updates: list = []
        self._bound_updates: list = []
        self._frozen = None

    # -- columns --------------------------------------------------------------
    def add_cols(self, n: int, lb=0.0, ub=INF, cost=0.0, integer: bool = False) -> np.ndarray:
        """Add n columns; returns their indices."""
        idx = np.arange(self.num_cols, self.num_cols + n)
        self._lb.append(np.broadcast_to(np.asarray(lb, dtype=float), (n,)).copy())
        self._ub.append(np.broadcast_to(np.asarray(ub, dtype=float), (n,)).copy())
        self._cost.append(np.broadcast_to(np.asarray(cost, dtype=float), (n,)).copy())
        self._int.append(np.full(n, bool(integer)))
        self.num_cols += n
        self._frozen = None
        return idx

    def add_binaries(self, n: int, cost=0.0) -> np.ndarray:
        return self.add_cols(n, 0.0, 1.0, cost, integer=True)

    def add_col(self, lb=0.0, ub=INF, cost=0.0, integer: bool = False) -> int:
        return int(self.add_cols(1, lb, ub, cost, integer)[0])

    def add_cost(self, cols, values) -> None:
        """Add values to the objective coefficients of cols (applied when frozen)."""
        self._cost_updates.append((np.asarray(cols, dtype=np.int64).ravel(), np.asarray(values, dtype=float).ravel()))
        self._frozen = None

    def set_bounds(self, col: int, lb: float, ub: float) -> None:
        self._bound_updates.append((col, lb, ub))
        self._frozen = None

    def clear_bound_updates(self, keep: int = 0) -> None:
        """Forget bound changes after the first `keep` (e.g. a focus that is undone)."""
        del self._bound_updates[keep:]
        self._frozen = None

    # -- rows -----------------------------------------------------------------
    def add_row(self, cols, vals, lo=-INF, hi=INF) -> int:
        cols = np.asarray(cols, dtype=np.int64).ravel()
        vals = np.broadcast_to(np.asarray(vals, dtype=float), cols.shape).ravel()
        r = len(self._rlo)
        keep = vals != 0.0
        self._ri.append(np.full(int(keep.sum()), r, dtype=np.int64))
        self._ci.append(cols[keep])
        self._v.append(vals[keep])
        self._rlo.append(float(lo))
        self._rhi.append(float(hi))
        self._frozen = None
        return r

    def set_row_upper(self, row: int, hi: float) -> None:
        self._rhi[row] = float(hi)
        self._frozen = None

    @property
    def num_rows(self) -> int:
        return len(self._rlo)

    # -- assembled arrays -----------------------------------------------------
    def arrays(self):
        if self._frozen is None:
            lb = np.concatenate(self._lb) if self._lb else np.zeros(0)
            ub = np.concatenate(self._ub) if self._ub else np.zeros(0)
            cost = np.concatenate(self._cost) if self._cost else np.zeros(0)
            integ = np.concatenate(self._int) if self._int else np.zeros(0, dtype=bool)
            for cols, vals in self._cost_updates:
                np.add.at(cost, cols, vals)
            for col, l, u in self._bound_updates:
                lb[col], ub[col] = l, u
            ri = np.concatenate(self._ri) if self._ri else np.zeros(0, dtype=np.int64)
            ci = np.concatenate(self._ci) if self._ci else np.zeros(0, dtype=np.int64)
            v = np.concatenate(self._v) if self._v else np.zeros(0)
            self._frozen = (lb, ub, cost, integ, ri, ci, v, np.array(self._rlo), np.array(self._rhi))
        return self._frozen

    @property
    def num_nonzeros(self) -> int:
        return int(sum(len(v) for v in self._v))

    def size_text(self) -> str:
        integ = self.arrays()[3]
        return f"{self.num_cols} columns ({int(integ.sum())} integer), {self.num_rows} rows, {self.num_nonzeros} nonzeros"


@dataclass
class SolveOptions:
    solver: str = "highs"  # "highs" | "gurobi"
    time_limit: float | None = 60.0
    mip_gap: float = 0.01
    threads: int | None = None
    initial: np.ndarray | None = None  # a feasible point to start from (incumbent)
    verbose: bool = False
    relax: bool = False  # solve the LP relaxation (integrality dropped)


@dataclass
class SolveResult:
    status: str  # optimal | feasible (stopped early, incumbent kept) | infeasible | no_solution | error
    x: np.ndarray | None
    objective: float | None
    bound: float | None  # best proven lower bound of the objective
    gap: float | None  # relative gap (objective - bound) / |objective|
    solver: str  # the solver that produced this answer
    seconds: float
    messages: list[str] = field(default_factory=list)
    time_limited: bool = False

    @property
    def has_solution(self) -> bool:
        return self.x is not None

    def describe(self) -> str:
        if self.status == "optimal":
            g = f", gap {100 * self.gap:.2f}%" if self.gap is not None else ""
            return f"{self.solver}: optimal within the gap target{g}"
        if self.status == "feasible":
            g = f"{100 * self.gap:.2f}%" if self.gap is not None and math.isfinite(self.gap) else "unknown"
            if self.seconds is not None and self.time_limited:
                return f"{self.solver}: time limit reached, best solution found so far (gap {g})"
            return f"{self.solver}: feasible solution, gap {g} above the target"
        if self.status == "infeasible":
            return f"{self.solver}: model infeasible"
        if self.status == "no_solution":
            return f"{self.solver}: time limit reached before any solution was found"
        return f"{self.solver}: {self.status}"


def _gap(obj: float | None, bound: float | None) -> float | None:
    if obj is None or bound is None or not math.isfinite(obj) or not math.isfinite(bound):
        return None
    return max(0.0, (obj - bound) / max(abs(obj), 1e-9))


# ---------------------------------------------------------------------------------------- HiGHS
def solve_highs(model: LinearModel, opts: SolveOptions) -> SolveResult:
    import highspy

    t0 = time.perf_counter()
    lb, ub, cost, integ, ri, ci, v, rlo, rhi = model.arrays()
    n, m = model.num_cols, model.num_rows
    order = np.lexsort((ri, ci))
    ci_s, ri_s, v_s = ci[order], ri[order], v[order]
    start = np.zeros(n + 1, dtype=np.int32)
    np.add.at(start, ci_s + 1, 1)
    start = np.cumsum(start).astype(np.int32)

    h = highspy.Highs()
    h.setOptionValue("output_flag", bool(opts.verbose))
    if opts.time_limit is not None:
        h.setOptionValue("time_limit", float(max(opts.time_limit, 0.1)))
    h.setOptionValue("mip_rel_gap", float(opts.mip_gap))
    h.setOptionValue("primal_feasibility_tolerance", 1e-9)
    h.setOptionValue("mip_feasibility_tolerance", 1e-9)
    if opts.threads:
        h.setOptionValue("threads", int(opts.threads))
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = m
    big = h.getInfinity()
    lp.col_cost_ = cost
    lp.col_lower_ = np.where(np.isinf(lb), -big, lb)
    lp.col_upper_ = np.where(np.isinf(ub), big, ub)
    lp.row_lower_ = np.where(np.isinf(rlo), -big, rlo)
    lp.row_upper_ = np.where(np.isinf(rhi), big, rhi)
    lp.offset_ = float(model.objective_offset)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = m
    lp.a_matrix_.start_ = start
    lp.a_matrix_.index_ = ri_s.astype(np.int32)
    lp.a_matrix_.value_ = v_s
    if integ.any() and not opts.relax:
        lp.integrality_ = [highspy.HighsVarType.kInteger if f else highspy.HighsVarType.kContinuous for f in integ]
    h.passModel(lp)
    if opts.initial is not None:
        sol = highspy.HighsSolution()
        sol.col_value = list(map(float, opts.initial))
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    st = h.getModelStatus()
    info = h.getInfo()
    limited = False
    secs = time.perf_counter() - t0
    S = highspy.HighsModelStatus
    has_primal = getattr(info, "primal_solution_status", 0) == 2  # kSolutionStatusFeasible
    x = np.array(h.getSolution().col_value) if has_primal else None
    obj = float(info.objective_function_value) if has_primal else None
    mip = integ.any() and not opts.relax
    bound = float(info.mip_dual_bound) if mip else obj
    if st == S.kOptimal:
        status = "optimal"
    elif st == S.kInfeasible:
        status = "infeasible"
    elif st in (S.kTimeLimit, S.kIterationLimit, S.kSolutionLimit, S.kInterrupt, S.kObjectiveBound):
        status = "feasible" if x is not None else "no_solution"
        limited = True
    elif st == S.kUnboundedOrInfeasible:
        status = "infeasible"
    else:
        status = "feasible" if x is not None else "error"
    gap = _gap(obj, bound) if mip else 0.0
    return SolveResult(status, x, obj, bound, gap, "highs", secs,
                       [] if status in ("optimal", "feasible", "infeasible") else [f"HiGHS status: {h.modelStatusToString(st)}"],
                       limited)


# ---------------------------------------------------------------------------------------- Gurobi
class SolverUnavailable(Exception):
    pass


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
        g.Params.FeasibilityTol = 1e-9
        g.Params.IntFeasTol = 1e-9
        if opts.threads:
            g.Params.Threads = int(opts.threads)
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
        status = "optimal"
    elif st in (GRB.INFEASIBLE, GRB.INF_OR_UNBD):
        status = "infeasible"
    elif st in (GRB.TIME_LIMIT, GRB.INTERRUPTED, GRB.SOLUTION_LIMIT, GRB.NODE_LIMIT, GRB.ITERATION_LIMIT):
        status = "feasible" if has else "no_solution"
    else:
        status = "feasible" if has else "error"
    res = SolveResult(status, xv, obj, bound, _gap(obj, bound) if integ.any() else 0.0, "gurobi", secs,
                      time_limited=st == GRB.TIME_LIMIT)
    g.dispose()
    env.dispose()
    return res


# ---------------------------------------------------------------------------------------- front
SOLVERS = ("highs", "gurobi")


def solve(model: LinearModel, opts: SolveOptions) -> SolveResult:
    """Solve with the requested solver; Gurobi falls back to HiGHS with a message."""
    if opts.solver not in SOLVERS:
        raise ValueError(f"unknown solver {opts.solver!r}")
    if opts.solver == "gurobi":
        t0 = time.perf_counter()
        try:
            return solve_gurobi(model, opts)
        except SolverUnavailable as exc:
            rest = None if opts.time_limit is None else max(0.5, opts.time_limit - (time.perf_counter() - t0))
            res = solve_highs(model, SolveOptions("highs", rest, opts.mip_gap, opts.threads, opts.initial, opts.verbose))
            res.messages.insert(0, f"Gurobi not used: {exc}; solved with HiGHS instead")
            return res
    return solve_highs(model, opts)
