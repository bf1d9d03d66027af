"""What every solver backend shares: the options of a solve, its result, one
status vocabulary, and the backend interface (name, whether it is installed,
what it can take)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from .model import LinearModel


class SolveStatus(str, Enum):
    """What a solve ended with, whichever solver ran it."""

    OPTIMAL = "optimal"  # optimal within the gap target
    FEASIBLE = "feasible"  # stopped early (a limit) with an incumbent, or a gap above the target
    INFEASIBLE = "infeasible"
    NO_SOLUTION = "no_solution"  # a limit was reached before any solution was found
    ERROR = "error"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    __hash__ = str.__hash__


@dataclass
class SolveOptions:
    solver: str = "highs"  # a name in verifq.solvers.BACKENDS
    time_limit: float | None = 60.0  # seconds; an outer safety net (results then depend on the machine)
    mip_gap: float = 0.01
    threads: int | None = None
    initial: np.ndarray | None = None  # a feasible point to start from (incumbent)
    verbose: bool = False
    relax: bool = False  # solve the LP relaxation (integrality dropped)
    node_limit: int | None = None  # branch-and-bound nodes: a deterministic limit
    work_limit: int | None = None  # HiGHS: limit checks of the MIP (root separation rounds, nodes, ...), counted: deterministic
    feasibility_tolerance: float | None = 1e-9  # None: the solver's default
    want_duals: bool = False  # LP: row duals, and a dual ray when infeasible


@dataclass
class SolveResult:
    status: SolveStatus
    x: np.ndarray | None
    objective: float | None
    bound: float | None  # best proven lower bound of the objective (minimisation sense of the model)
    gap: float | None  # relative gap (objective - bound) / |objective|
    solver: str  # the solver that produced this answer
    seconds: float
    messages: list[str] = field(default_factory=list)
    time_limited: bool = False  # the wall-clock limit stopped it (the answer depends on the machine)
    node_limited: bool = False  # the node limit stopped it (deterministic)
    work_limited: bool = False  # the work limit stopped it (deterministic)
    row_duals: np.ndarray | None = None  # LP solves with want_duals
    dual_ray: np.ndarray | None = None  # infeasible LPs with want_duals, when the solver has one

    @property
    def has_solution(self) -> bool:
        return self.x is not None

    def describe(self) -> str:
        if self.status == SolveStatus.OPTIMAL:
            g = f", gap {100 * self.gap:.2f}%" if self.gap is not None else ""
            return f"{self.solver}: optimal within the gap target{g}"
        if self.status == SolveStatus.FEASIBLE:
            g = f"{100 * self.gap:.2f}%" if self.gap is not None and math.isfinite(self.gap) else "unknown"
            if self.time_limited:
                return f"{self.solver}: time limit reached, best solution found so far (gap {g})"
            if self.node_limited or self.work_limited:
                return f"{self.solver}: {self._limit()} limit reached, best solution found (gap {g})"
            return f"{self.solver}: feasible solution, gap {g} above the target"
        if self.status == SolveStatus.INFEASIBLE:
            return f"{self.solver}: model infeasible"
        if self.status == SolveStatus.NO_SOLUTION:
            return f"{self.solver}: {self._limit()} limit reached before any solution was found"
        return f"{self.solver}: {self.status}"

    def _limit(self) -> str:
        return "work" if self.work_limited else "node" if self.node_limited else "time"


class SolverUnavailable(Exception):
    """The backend cannot take this model here (not installed, licence too small, ...)."""


class Backend:
    """One solver: `name`, `is_installed()`, `max_size` (variables and constraints it
    accepts, None: any) and `solve(model, options)`, which maps the solver's own
    statuses onto `SolveStatus` and raises `SolverUnavailable` when it cannot run."""

    name: str = ""
    max_size: int | None = None

    def is_installed(self) -> tuple[bool, str]:
        raise NotImplementedError

    def solve(self, model: LinearModel, opts: SolveOptions) -> SolveResult:
        raise NotImplementedError


def relative_gap(obj: float | None, bound: float | None) -> float | None:
    if obj is None or bound is None or not math.isfinite(obj) or not math.isfinite(bound):
        return None
    return max(0.0, (obj - bound) / max(abs(obj), 1e-9))
