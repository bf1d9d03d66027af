"""Float sensitivities: how much each local error term moves each target.

The first-order rule of the exact analysis, in floats: slope intervals S of
the activations (ReLU 1 / 0 / [0, 1] when provably active / inactive /
unknown; tanh/sigmoid derivative bounds), the targets (every bounded output,
every checkpoint neuron, every ReLU assumed stable), and backward interval
products R of W and S from each target down to every layer's local terms.
The candidate bounds of planning (`necessary_floor`, `negligible_ceiling`)
are read off |R| / bound (`sigma`).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ...fixedpoint.format import Rounding
from ...network.ir import Activation
from ...numeric import scaled
from .records import GAMMA, LayerData, ProblemData, Target, interval_times, magnitude


def set_slopes(data: ProblemData, override: list | None) -> None:
    """Slope intervals per layer: the configuration's (calibration on the exact analysis) or
    the ones the real ranges prove."""
    from ...analysis.smooth import derivative_bounds

    for ld in data.layers:
        if override is not None:
            ld.s_lo, ld.s_hi = (np.asarray(a, dtype=float) for a in override[ld.pos])
            continue
        n = ld.n_out
        if ld.act is Activation.LINEAR:
            ld.s_lo, ld.s_hi = np.ones(n), np.ones(n)
        elif ld.act is Activation.RELU:
            act = ld.pre_lo > 0
            dead = ld.pre_hi < 0
            ld.s_lo = np.where(act, 1.0, 0.0)
            ld.s_hi = np.where(dead, 0.0, 1.0)
        else:
            # derivative bounds over the real range widened a little (errors are small)
            lo_, hi_ = [], []
            for j in range(n):
                wid = 1e-3 * (1 + abs(ld.pre_hi[j] - ld.pre_lo[j]))
                a, b = derivative_bounds(ld.act, scaled.down(Fraction(float(ld.pre_lo[j]) - wid)),
                                         scaled.up(Fraction(float(ld.pre_hi[j]) + wid)))
                lo_.append(scaled.to_float(a))
                hi_.append(scaled.to_float(b))
            ld.s_lo, ld.s_hi = np.array(lo_), np.array(hi_)


def make_targets(data: ProblemData, checkpoints: tuple) -> list[Target]:
    """Rows of the model: every output with a bound (both ends), every checkpoint neuron, and
    every ReLU the slope intervals assume stable -- inactive (S = 0: pre_hi + d_pre_hi <= 0) or
    active (S = 1: pre_lo + d_pre_lo >= 0) -- which the design must keep so."""
    layers = data.layers
    targets = [Target("output", len(layers) - 1, o, "both", data.eps[o]) for o in data.outputs]
    for c in checkpoints:
        for j in range(layers[c - 1].n_out):
            targets.append(Target("ckpt", c - 1, j, "both", None))
    for ld in layers:
        if ld.act is not Activation.RELU:
            continue
        for j in range(ld.n_out):
            if ld.s_hi[j] == 0.0:
                targets.append(Target("inactive", ld.pos, j, "hi", float(-ld.pre_hi[j])))
            elif ld.s_lo[j] == 1.0 and ld.s_hi[j] == 1.0:
                targets.append(Target("active", ld.pos, j, "lo", float(ld.pre_lo[j])))
    return targets


def prescreen_stability(data: ProblemData, scan: np.ndarray) -> None:
    """A ReLU is only assumed stable (S = 0 or 1) when its own weight error can stay well
    inside its margin with a reasonable number of fractional bits; otherwise S = [0, 1]."""
    reach = scan <= data.cap_word + 16
    for ld in data.layers:
        if ld.act is not Activation.RELU:
            continue
        for j in range(ld.n_out):
            if ld.s_hi[j] == 0.0:
                ok = (np.maximum(ld.wtab_hi[j], 0.0)[reach] <= 0.25 * -ld.pre_hi[j]).any()
            elif ld.s_lo[j] == 1.0:
                ok = (np.maximum(-ld.wtab_lo[j], 0.0)[reach] <= 0.25 * ld.pre_lo[j]).any()
            else:
                continue
            if not ok:
                ld.s_lo[j], ld.s_hi[j] = 0.0, 1.0


def stop_level(checkpoints: tuple, pos: int) -> int:
    """The checkpoint level where the backward pass of a target at layer `pos` (0-based) stops."""
    if not checkpoints:
        return 0
    return max([c for c in checkpoints if c <= pos] + [0])


def backward(layers: list[LayerData], targets: list[Target], checkpoints: tuple,
             dw: list[np.ndarray] | None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Interval sensitivities R (rows = targets) of every target to every layer's local terms
    (set on the layers: Rp after the slope, Rq before it). A target's pass stops at its
    checkpoint level c > 0: its coefficients on the certified error interval [-Q, P] of layer
    c's outputs are returned as (level, a, b) per target. Returns (Rin_lo, Rin_hi, ck_coef)."""
    n_t = len(targets)
    r_lo = np.zeros((n_t, layers[-1].n_out))
    start: dict[int, list] = {}
    stop: dict[int, list] = {}
    for t, (kind, pos, j, _, _) in enumerate(targets):
        if kind == "output":
            r_lo[t, j] = 1.0
        elif kind != "ckpt":
            start.setdefault(pos, []).append((t, j))
        c = stop_level(checkpoints, pos)
        if c > 0:
            stop.setdefault(c, []).append(t)
    r_hi = r_lo.copy()
    ck_start: dict[int, list] = {}
    for t, (kind, pos, j, _, _) in enumerate(targets):
        if kind == "ckpt":
            ck_start.setdefault(pos, []).append((t, j))
    ck_coef = {}
    for ld in reversed(layers):
        for t, j in ck_start.get(ld.pos, []):  # a checkpoint target is the layer's stored output error
            r_lo[t, :] = 0.0
            r_hi[t, :] = 0.0
            r_lo[t, j] = r_hi[t, j] = 1.0
        ld.Rq_lo, ld.Rq_hi = r_lo, r_hi  # before the slope: lookup rounding after tanh/sigmoid
        s_lo, s_hi = interval_times(r_lo, r_hi, ld.s_lo[None, :], ld.s_hi[None, :])
        for t, j in start.get(ld.pos, []):
            s_lo[t, j] += 1.0
            s_hi[t, j] += 1.0
        ld.Rp_lo, ld.Rp_hi = s_lo, s_hi
        c = (s_lo + s_hi) / 2
        rad = (s_hi - s_lo) / 2
        wp = ld.w if ld.w_prop is None else ld.w_prop
        cw = c @ wp
        rw = rad @ np.abs(wp)
        if dw is not None:
            rw = rw + (np.abs(c) + rad) @ dw[ld.pos]
        rw = rw * (1 + 1e-9) + np.abs(cw) * 1e-12
        r_lo, r_hi = cw - rw, cw + rw
        # level ld.pos: the outputs of the layer below
        for t in stop.get(ld.pos, []):
            ck_coef[t] = (ld.pos, r_lo[t].copy(), r_hi[t].copy())  # (level, a, b): R = [a, b]
            r_lo[t, :] = 0.0
            r_hi[t, :] = 0.0
    return r_lo, r_hi, ck_coef


def sigma(targets: list[Target], n_outputs: int, R_lo, R_hi, all_rows: bool = False) -> np.ndarray:
    """Per column: max over the rows of |R| / bound (output rows only: necessity;
    all rows: the upper ends of the candidate sets)."""
    n = len(targets) if all_rows else n_outputs
    if n == 0:
        return np.zeros(R_lo.shape[1])
    inv = np.array([0.0 if t[4] is None else 1.0 / max(t[4], 1e-300) for t in targets[:n]])
    return (magnitude(R_lo[:n], R_hi[:n]) * inv[:, None]).max(axis=0)


def necessary_floor(bs, tau, s) -> int:
    """The smallest candidate b whose term s * tau(b) alone fits the bound (s * tau <= 1)."""
    if s <= 0:
        return int(bs[0])
    idx = np.nonzero(s * tau <= 1.0)[0]
    return int(bs[idx[0]]) if len(idx) else int(bs[-1])


def negligible_ceiling(bs, tau, s) -> int:
    """One candidate past the last b whose term s * tau(b) is not negligible (> 2^-GAMMA)."""
    if s <= 0:
        return int(bs[0])
    idx = np.nonzero(s * tau > 2.0**-GAMMA)[0]
    if not len(idx):
        return int(bs[0])
    return int(bs[min(idx[-1] + 1, len(bs) - 1)])


def one_sided(rounding: Rounding, R_lo, R_hi):
    """hi / lo-magnitude coefficients of R (x) [-m, 0] (truncation) or [-m, m] (nearest), per unit m."""
    if rounding is Rounding.TRUNCATE:
        return np.maximum(0.0, -R_lo), np.maximum(0.0, R_hi)
    mag = magnitude(R_lo, R_hi)
    return mag, mag
