"""Lower ReLU slopes of the differential rule's real relaxation, chosen in floats by its own bound.

The differential rule (differential.py, TIGHT_RULES.md section 6) back-substitutes the rows
+-delta_t through the relaxation of the real network: where the coefficient on h_k,i is < 0,
the lower line alpha z_k,i of an unstable ReLU is used, and any alpha in [0, 1] is sound
(alpha z <= relu(z) for every z). By default alpha is the range rule's per-neuron 0|1 choice
(DeepPoly's), which minimises a range width, not the error bound. This module chooses one
alpha per (row of layer t, earlier layer k, unstable neuron i), alpha-CROWN style: projected
Adam steps on the float64 image of the rule's own bound (the minimum over the levels it
concretizes at), a fixed number of steps with deterministic plateau stops (no wall clock),
starting from the 0|1 choice and keeping the best iterate of each row. The caller rounds
the alphas to the 2^-ALPHA_BITS grid, re-derives the bound exactly (integer arithmetic, as
for the 0|1 lines) and keeps, per row, whichever of the two exact bounds is smaller; the
alphas it keeps are certificate hints (`diff_alpha`). Float64 is used only to choose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..numeric.scaled import PRECISION
from .alpha import ProjectedAdam
from .symbolic import SLOPE_ONE

PLATEAU_STEPS, PLATEAU_GAIN = 10, 1e-4  # stop when 10 steps tighten the summed bounds by <= 0.01% of them
MIN_GAIN = 1 / 4096  # rows re-derived exactly only if the float bound gains this fraction of the row's width


def _f(a, den) -> np.ndarray:
    return np.array([int(v) / den for v in a], dtype=float)


@dataclass(frozen=True, eq=False)
class FloatLayer:
    """Float64 image of one DiffLayer (only to choose slopes)."""

    Wt: np.ndarray  # W~ (quantized weights)
    dW: np.ndarray  # W~ - W
    W: np.ndarray
    b: np.ndarray
    e_lo: np.ndarray
    e_hi: np.ndarray
    up_s: np.ndarray  # difference lines
    lo_s: np.ndarray
    up_c: np.ndarray
    lo_c: np.ndarray
    rup_s: np.ndarray  # real relaxation
    rlo_s: np.ndarray
    rup_c: np.ndarray
    rlo_c: np.ndarray
    d_lo: np.ndarray
    d_hi: np.ndarray
    h_lo: np.ndarray
    h_hi: np.ndarray
    unstable: np.ndarray  # bool: the lower real line is a free alpha


def float_layer(el, unstable: np.ndarray) -> FloatLayer:
    P1, S1 = 1 << PRECISION, SLOPE_ONE
    Wt = np.array([[int(v) / (1 << el.f_max) for v in row] for row in el.w_int], dtype=float)
    W = np.array([[int(v) / el.den for v in row] for row in el.num], dtype=float)
    ln, rx = el.lines, el.real
    return FloatLayer(Wt, Wt - W, W, _f(el.bnum, el.den), _f(el.e_lo, P1), _f(el.e_hi, P1),
                      _f(ln.up_s, S1), _f(ln.lo_s, S1), _f(ln.up_c, P1), _f(ln.lo_c, P1),
                      _f(rx.up_slope, S1), _f(rx.lo_slope, S1), _f(rx.up_icpt, P1), _f(rx.lo_icpt, P1),
                      _f(el.d_lo, P1), _f(el.d_hi, P1), _f(el.h_lo, P1), _f(el.h_hi, P1), np.asarray(unstable, bool))


def _bound(A, C, layers, boxes, stop: int, alphas, want_grad: bool):
    """Float bounds of the rows (min over levels len(layers) .. stop) and d bound / d alpha."""
    R = A.shape[0]
    K = np.zeros(R)
    top = len(layers)
    cands, tape = [], []
    k = top
    while True:
        dl, dh, hl, hh = boxes[k]
        cands.append(K + np.where(A >= 0, A * dh, A * dl).sum(axis=1) + np.where(C >= 0, C * hh, C * hl).sum(axis=1))
        if k <= stop:
            break
        L = layers[k - 1]
        pa, pc = A >= 0, C >= 0
        sA = np.where(pa, L.up_s, L.lo_s)
        alpha = A * sA
        K = K + (A * np.where(pa, L.up_c, L.lo_c)).sum(axis=1)
        lo = alphas[k - 1] if alphas[k - 1] is not None else L.rlo_s[None, :]
        sC = np.where(pc, L.rup_s[None, :], lo)
        gamma = C * sC
        K = K + (C * np.where(pc, L.rup_c, L.rlo_c)).sum(axis=1)
        pe = alpha >= 0
        K = K + (alpha * np.where(pe, L.e_hi, L.e_lo)).sum(axis=1) + gamma @ L.b
        tape.append((k, A, C, pa, pc, pe, sA, sC))
        A, C = alpha @ L.Wt, alpha @ L.dW + gamma @ L.W
        k -= 1
    cands = np.array(cands)  # (levels, R), levels top, top-1, ..., stop
    idx = np.argmin(cands, axis=0)
    bound = cands[idx, np.arange(R)]
    if not want_grad:
        return bound, None
    grads = [None] * len(layers)
    last = len(cands) - 1
    dl, dh, hl, hh = boxes[stop]
    on = (idx == last)[:, None]
    GA = np.where(on, np.where(A >= 0, dh, dl), 0.0)
    GC = np.where(on, np.where(C >= 0, hh, hl), 0.0)
    for k, A, C, pa, pc, pe, sA, sC in reversed(tape):
        L = layers[k - 1]
        pos = top - k  # index of level k in cands
        m = (idx > pos)[:, None]  # rows whose best level lies below k: the constants added here count
        Galpha = GA @ L.Wt.T + GC @ L.dW.T + np.where(m, np.where(pe, L.e_hi, L.e_lo), 0.0)
        Ggamma = GC @ L.W.T + np.where(m, L.b[None, :], 0.0)
        if alphas[k - 1] is not None:
            grads[k - 1] = np.where(~pc & L.unstable[None, :], Ggamma * C, 0.0)
        dl, dh, hl, hh = boxes[k]
        here = (idx == pos)[:, None]
        GA = Galpha * sA + np.where(m, np.where(pa, L.up_c, L.lo_c), 0.0) + np.where(here, np.where(pa, dh, dl), 0.0)
        GC = Ggamma * sC + np.where(m, np.where(pc, L.rup_c, L.rlo_c), 0.0) + np.where(here, np.where(pc, hh, hl), 0.0)
    return bound, grads


def optimise(A: np.ndarray, C: np.ndarray, layers: list, boxes: list, stop: int, iters: int, lr: float = 0.1):
    """Per layer k < t: (R, n_k) float alphas in [0, 1] for the rows (A on d_t, C on h_t) or None (no
    unstable ReLU, or no row gains >= MIN_GAIN); boxes[k] = (d_lo, d_hi, h_lo, h_hi) of level k (0: inputs).
    Returns (alphas, rows that gain)."""
    R = A.shape[0]
    alphas = []
    for k, L in enumerate(layers):
        if k < stop or not L.unstable.any():
            alphas.append(None)
        else:
            alphas.append(np.tile(L.rlo_s, (R, 1)))
    if iters <= 0 or all(a is None for a in alphas):
        return [None] * len(layers), np.zeros(R, bool)
    start = [None if a is None else a.copy() for a in alphas]
    start_b, _ = _bound(A, C, layers, boxes, stop, alphas, False)
    best_b, best = start_b.copy(), [None if a is None else a.copy() for a in alphas]
    adam = ProjectedAdam(alphas)
    n = R // 2
    width = np.abs(np.tile(start_b[:n] + start_b[n:], 2)) if R == 2 * n else np.abs(start_b)
    scale = float(np.abs(start_b).sum()) + 1e-300
    checkpoint = float(best_b.sum())
    for it in range(1, iters + 1):
        bound, grads = _bound(A, C, layers, boxes, stop, alphas, True)
        better = bound < best_b
        if better.any():
            best_b = np.where(better, bound, best_b)
            for k, a in enumerate(alphas):
                if a is not None:
                    best[k][better] = a[better]
        if it % PLATEAU_STEPS == 0:
            if checkpoint - float(best_b.sum()) <= PLATEAU_GAIN * scale:
                break
            checkpoint = float(best_b.sum())
        step = lr * (1.0 - (it - 1) / iters) + 1e-3
        adam.step(alphas, grads, it, step)
    bound, _ = _bound(A, C, layers, boxes, stop, alphas, False)
    better = bound < best_b
    best_b = np.where(better, bound, best_b)
    for k, a in enumerate(alphas):
        if a is not None:
            best[k][better] = a[better]
    gain = start_b - best_b > MIN_GAIN * width
    for k in range(len(layers)):
        if best[k] is not None:
            best[k][~gain] = start[k][~gain]
    return best, gain


__all__ = ["FloatLayer", "float_layer", "optimise", "MIN_GAIN"]
