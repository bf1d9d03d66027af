"""MILP and LP solvers behind one small interface.

`LinearModel` (model.py) holds a mixed-integer linear program in plain numpy
arrays; `solve(model, SolveOptions(...))` runs it on a backend:

* HiGHS (highspy, highs.py) -- the default, always installed;
* Gurobi (gurobipy, gurobi.py) on request. Without a licence file gurobipy is
  size-limited; a model it cannot take falls back to HiGHS with a message
  saying why (`SolveResult.messages`).

Every backend maps its statuses onto `SolveStatus`. Limits: `node_limit`
is deterministic (the same answer on an idle or a loaded machine);
`time_limit` is an outer safety net whose expiry is reported
(`SolveResult.time_limited`). Answers are floats and never trusted by the
callers: synthesis re-analyses every answer exactly, the MILP range method
turns LP duals into rigorous bounds in exact arithmetic.

A new solver: a `Backend` subclass in its own module, registered in BACKENDS.
"""

from __future__ import annotations

import time
from dataclasses import replace

from .base import Backend, SolveOptions, SolveResult, SolverUnavailable, SolveStatus, relative_gap
from .gurobi import GUROBI_SIZE_LIMIT, GurobiBackend, gurobi_available
from .highs import HighsBackend
from .model import INF, LinearModel

BACKENDS: dict[str, Backend] = {b.name: b for b in (HighsBackend(), GurobiBackend())}
DEFAULT_SOLVER = "highs"

__all__ = [
    "BACKENDS", "DEFAULT_SOLVER", "GUROBI_SIZE_LIMIT", "INF", "Backend", "LinearModel", "SolveOptions", "SolveResult",
    "SolveStatus", "SolverUnavailable", "gurobi_available", "relative_gap", "solve",
]


def solve(model: LinearModel, opts: SolveOptions) -> SolveResult:
    """Solve with the requested backend; one that cannot take the model falls back to HiGHS
    with a message (within what is left of the time limit)."""
    backend = BACKENDS.get(opts.solver)
    if backend is None:
        raise ValueError(f"unknown solver {opts.solver!r} (known: {', '.join(BACKENDS)})")
    t0 = time.perf_counter()
    try:
        return backend.solve(model, opts)
    except SolverUnavailable as exc:
        if backend.name == DEFAULT_SOLVER:
            raise
        rest = None if opts.time_limit is None else max(0.5, opts.time_limit - (time.perf_counter() - t0))
        res = BACKENDS[DEFAULT_SOLVER].solve(model, replace(opts, solver=DEFAULT_SOLVER, time_limit=rest))
        res.messages.insert(0, f"{backend.name.capitalize()} not used: {exc}; solved with HiGHS instead")
        return res
