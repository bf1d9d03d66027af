"""`LinearModel`: a mixed-integer linear program in plain numpy arrays, the one
form every solver backend reads."""

from __future__ import annotations

import math

import numpy as np

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
