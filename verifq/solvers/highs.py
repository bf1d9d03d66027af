"""HiGHS (highspy): the default solver, always installed."""

from __future__ import annotations

import ctypes
import os
import sys
import time

import numpy as np

from .. import progress
from .base import Backend, SolveOptions, SolveResult, SolveStatus, relative_gap
from .model import LinearModel


class HighsBackend(Backend):
    name = "highs"
    max_size = None

    def is_installed(self) -> tuple[bool, str]:
        try:
            import highspy  # noqa: F401
        except Exception as exc:  # noqa: BLE001
            return False, f"highspy cannot be imported ({exc})"
        return True, "ok"

    def solve(self, model: LinearModel, opts: SolveOptions) -> SolveResult:
        import highspy

        t0 = time.perf_counter()
        h = _new_highs()
        _set_options(h, opts)
        mip = _pass_model(h, model, opts)
        if opts.initial is not None:
            sol = highspy.HighsSolution()
            sol.col_value = list(map(float, opts.initial))
            sol.value_valid = True
            h.setSolution(sol)
        checks = _work_budget(h, opts.work_limit) if mip and opts.work_limit is not None else None
        h.run()
        st = h.getModelStatus()
        info = h.getInfo()
        secs = time.perf_counter() - t0
        has_primal = getattr(info, "primal_solution_status", 0) == 2  # kSolutionStatusFeasible
        solution = h.getSolution()
        x = np.array(solution.col_value) if has_primal else None
        obj = float(info.objective_function_value) if has_primal else None
        bound = float(info.mip_dual_bound) if mip else obj
        status, limited = _status(st, x is not None)
        S = highspy.HighsModelStatus
        work = limited and st == S.kInterrupt and checks is not None and checks[0] > opts.work_limit
        res = SolveResult(status, x, obj, bound, relative_gap(obj, bound) if mip else 0.0, self.name, secs,
                          [] if status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE, SolveStatus.INFEASIBLE)
                          else [f"HiGHS status: {h.modelStatusToString(st)}"],
                          limited and st == S.kTimeLimit, limited and st not in (S.kTimeLimit, S.kInterrupt), work)
        if opts.want_duals and not mip:
            if status == SolveStatus.OPTIMAL:
                res.row_duals = np.asarray(solution.row_dual, dtype=float)
            elif status == SolveStatus.INFEASIBLE:
                _, has_ray, ray = h.getDualRay()
                if has_ray:
                    res.dual_ray = np.asarray(ray, dtype=float)[:model.num_rows]
        return res


_BANNER_DONE = [False]


def _new_highs():
    """A Highs instance. The first one of a process prints HiGHS's banner on the C stdout,
    which must carry only what the user asked for (`--json -`): it goes to stderr."""
    import highspy

    if _BANNER_DONE[0]:
        return highspy.Highs()
    _BANNER_DONE[0] = True
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no usable stdout: nothing to protect
        return highspy.Highs()
    sink = 2 if progress.active() else os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(sink, 1)
        h = highspy.Highs()
        _flush_c_stdout()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        if sink != 2:
            os.close(sink)
    return h


def _flush_c_stdout() -> None:
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # pragma: no cover - no C library to flush
        pass


def _work_budget(h, limit: int) -> list[int]:
    """Interrupt the MIP at its first limit check after `limit` of them: HiGHS calls the MIP interrupt
    callback where it checks its own limits (every root separation round, every node, ...), so the
    count is work done, the same on any machine and load, never a clock. The list holds the count."""
    checks = [0]

    def on_check(event) -> None:
        checks[0] += 1
        if checks[0] > limit:
            event.interrupt()

    h.cbMipInterrupt.subscribe(on_check)
    return checks


def _set_options(h, opts: SolveOptions) -> None:
    h.setOptionValue("output_flag", bool(opts.verbose))
    # No RENS: HiGHS 1.16.0 loops forever in the presolve of a RENS sub-MIP (HPresolve::strengthenInequalities,
    # where neither its time and node limits nor our work limit are checked) on a synthesis MILP of vcas pra04
    # (tests/data/highs/: the model and its MIP start; with RENS off it solves in about a second, same optimum)
    h.setOptionValue("mip_heuristic_run_rens", False)
    if opts.time_limit is not None:
        h.setOptionValue("time_limit", float(max(opts.time_limit, 0.1)))
    h.setOptionValue("mip_rel_gap", float(opts.mip_gap))
    if opts.feasibility_tolerance is not None:
        h.setOptionValue("primal_feasibility_tolerance", float(opts.feasibility_tolerance))
        h.setOptionValue("mip_feasibility_tolerance", float(opts.feasibility_tolerance))
    if opts.threads:
        h.setOptionValue("threads", int(opts.threads))
    if opts.node_limit is not None:
        h.setOptionValue("mip_max_nodes", int(opts.node_limit))


def _pass_model(h, model: LinearModel, opts: SolveOptions) -> bool:
    """Give HiGHS the model (column-wise); True when it is solved as a MIP."""
    import highspy

    lb, ub, cost, integ, ri, ci, v, rlo, rhi = model.arrays()
    n, m = model.num_cols, model.num_rows
    order = np.lexsort((ri, ci))
    ci_s, ri_s, v_s = ci[order], ri[order], v[order]
    start = np.zeros(n + 1, dtype=np.int32)
    np.add.at(start, ci_s + 1, 1)
    start = np.cumsum(start).astype(np.int32)
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
    mip = bool(integ.any()) and not opts.relax
    if mip:
        lp.integrality_ = [highspy.HighsVarType.kInteger if f else highspy.HighsVarType.kContinuous for f in integ]
    h.passModel(lp)
    return mip


def _status(st, has_solution: bool) -> tuple[SolveStatus, bool]:
    """HiGHS's model status as a SolveStatus, and whether a limit stopped it."""
    import highspy

    S = highspy.HighsModelStatus
    if st == S.kOptimal:
        return SolveStatus.OPTIMAL, False
    if st in (S.kInfeasible, S.kUnboundedOrInfeasible):
        return SolveStatus.INFEASIBLE, False
    if st in (S.kTimeLimit, S.kIterationLimit, S.kSolutionLimit, S.kInterrupt, S.kObjectiveBound):
        return (SolveStatus.FEASIBLE if has_solution else SolveStatus.NO_SOLUTION), True
    return (SolveStatus.FEASIBLE if has_solution else SolveStatus.ERROR), False
