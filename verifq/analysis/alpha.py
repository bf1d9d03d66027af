"""Optimized lower ReLU slopes (alpha-CROWN style), chosen in floats.

The symbolic range rule (symbolic.py, TIGHT_RULES.md section 1) relaxes an
unstable ReLU from below by alpha * z with any alpha in [0, 1]; the bound it
certifies is the exact back-substitution with the chosen alphas, so the
alphas are free hints: this module only *chooses* them. For one target layer
t it minimises, in float64, the back-substituted upper bounds of the rows
+W_t[j] and -W_t[j] (i.e. the range widths of layer t) over alphas with
projected gradient descent (Adam steps, a fixed iteration count, no wall
clock: deterministic; it stops early at a checkpoint every PLATEAU_STEPS
steps when nothing is being gained), starting from DeepPoly's 0|1 choice and
keeping the best iterate of each row; a row keeps its alphas only if they
gain MIN_GAIN of its neuron's DeepPoly width. The alphas are per (target neuron, side, earlier
neuron), as in alpha-CROWN (benchmarks/results/ranges.md measures this
against one alpha per (target layer, earlier neuron)). The caller rounds them
to the 2^-ALPHA_BITS grid and re-derives the bound exactly.

Float64 is used only to choose; nothing computed here is a claim.
"""

from __future__ import annotations

import numpy as np

ALPHA_BITS = 16
ALPHA_ONE = 1 << ALPHA_BITS
MIN_GAIN = 1 / 64  # a row keeps its optimized alphas only if they tighten it by this fraction of the DeepPoly width
PLATEAU_STEPS, PLATEAU_GAIN = 10, 1e-3  # stop when 10 steps tighten the summed bounds by <= 0.1% of the widths
DEFAULT_ALPHA_ITERS = 50  # 0: DeepPoly's 0|1 lower slopes (the symbolic rule as before)


def _lines(kind: str, lo: np.ndarray, hi: np.ndarray, fixed):
    """Float lines of one hidden layer: (up slope, up icpt, lo slope, lo icpt, unstable mask).
    kind: "relu" | "linear" | "fixed" (tanh/sigmoid: the exact lines, converted; `fixed`)."""
    n = len(lo)
    if kind == "linear":
        one = np.ones(n)
        return one, np.zeros(n), one, np.zeros(n), np.zeros(n, bool)
    if kind == "fixed":
        us, ui, ls, li = fixed
        return us, ui, ls, li, np.zeros(n, bool)
    unstable = (lo < 0) & (hi > 0)
    pos = lo >= 0
    width = np.where(unstable, hi - lo, 1.0)
    a = np.where(unstable, hi / width, np.where(pos, 1.0, 0.0))
    c = np.where(unstable, -a * lo, 0.0)
    ls = np.where(pos, 1.0, 0.0)
    return a, c, ls, np.zeros(n), unstable


def _bound(C, c0, W, b, lines, alphas, x_lo, x_hi, want_grad: bool):
    """Upper bounds of the rows (C h_{t-1} + c0) and, optionally, d bound / d alpha per layer."""
    lam, const = C, c0.copy()
    tape = []
    for k in range(len(W) - 1, -1, -1):
        us, ui, ls, li, unst = lines[k]
        lo_s = np.where(unst[None, :], alphas[k], ls[None, :]) if alphas[k] is not None else ls[None, :]
        pos = lam >= 0
        slope = np.where(pos, us[None, :], lo_s)
        icpt = np.where(pos, ui[None, :], li[None, :])
        const = const + (lam * icpt).sum(axis=1)
        mu = lam * slope
        tape.append((k, lam, pos, slope, icpt))
        const = const + mu @ b[k]
        lam = mu @ W[k]
    bound = const + np.where(lam >= 0, lam * x_hi[None, :], lam * x_lo[None, :]).sum(axis=1)
    if not want_grad:
        return bound, None
    G = np.where(lam >= 0, x_hi[None, :], x_lo[None, :])  # d bound / d lam at the input level
    grads = [None] * len(W)
    for k, lam_k, pos, slope, icpt in reversed(tape):
        dmu = G @ W[k].T + b[k][None, :]
        if alphas[k] is not None:
            grads[k] = np.where(~pos & lines[k][4][None, :], lam_k * dmu, 0.0)
        G = slope * dmu + icpt
    return bound, grads


class ProjectedAdam:
    """Adam steps on slopes kept in [0, 1] (floats only choose; every bound is re-derived exactly).
    One moment pair per array; None entries (no unstable ReLU) are skipped."""

    B1, B2, EPS = 0.9, 0.999, 1e-12

    def __init__(self, alphas: list):
        self.m = [None if a is None else np.zeros_like(a) for a in alphas]
        self.v = [None if a is None else np.zeros_like(a) for a in alphas]

    def step(self, alphas: list, grads: list, it: int, step: float) -> None:
        """Step `it` (from 1) of size `step`, in place, on every array with a gradient."""
        b1, b2 = self.B1, self.B2
        for k, a in enumerate(alphas):
            if a is None:
                continue
            g = grads[k]
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            mh, vh = self.m[k] / (1 - b1 ** it), self.v[k] / (1 - b2 ** it)
            alphas[k] = np.clip(a - step * mh / (np.sqrt(vh) + self.EPS), 0.0, 1.0)


def optimise_alphas(W: list, b: list, lines: list, x_lo: np.ndarray, x_hi: np.ndarray, iters: int,
                    lr: float = 0.1, shared: bool = False):
    """Alphas for the back-substitution of the rows [+W_t; -W_t] through layers
    0..t-1 (W, b: float weights of layers 0..t; lines: `_lines` of layers 0..t-1).

    Returns per layer k < t an array (2 n_t, n_k) of alphas in [0, 1] (None for
    layers without unstable ReLUs): the best iterate of each row (the DeepPoly
    start included). shared=True: one alpha per (layer k, neuron) for all rows.
    """
    t = len(W) - 1
    C = np.concatenate([W[t], -W[t]], axis=0)
    c0 = np.concatenate([b[t], -b[t]])
    R = C.shape[0]
    alphas = []
    for k in range(t):
        unst = lines[k][4]
        if not unst.any():
            alphas.append(None)
            continue
        a0 = lines[k][2].copy()  # placeholder for stable neurons (unused)
        # DeepPoly start: 1 iff hi > -lo (stored as ls = 0 for unstable; recompute from the upper line)
        us = lines[k][0]
        a0 = np.where(unst, (us > 0.5).astype(float), a0)
        alphas.append(np.tile(a0, (1, 1) if shared else (R, 1)).astype(float))
    best_b, _ = _bound(C, c0, W[:t], b[:t], lines, alphas, x_lo, x_hi, False)
    best = [None if a is None else np.broadcast_to(a, (R, a.shape[1])).copy() for a in alphas]
    start, start_b = [None if a is None else a.copy() for a in best], best_b.copy()
    if iters <= 0 or all(a is None for a in alphas):
        return best
    adam = ProjectedAdam(alphas)
    row_width = np.tile(start_b[:R // 2] + start_b[R // 2:], 2)
    scale = float(np.abs(start_b[:R // 2] + start_b[R // 2:]).sum())
    checkpoint = float(best_b.sum())
    for it in range(1, iters + 1):
        bound, grads = _bound(C, c0, W[:t], b[:t], lines, alphas, x_lo, x_hi, True)
        better = bound < best_b if not shared else np.full(R, bound.sum() < best_b.sum())
        if it > 1 and better.any():
            best_b = np.where(better, bound, best_b)
            for k, a in enumerate(alphas):
                if a is not None:
                    best[k][better] = np.broadcast_to(a, best[k].shape)[better]
        if it % PLATEAU_STEPS == 0:  # deterministic early stop: the last steps gained (almost) nothing,
            if checkpoint - float(best_b.sum()) <= PLATEAU_GAIN * scale:  # or no row is near MIN_GAIN yet
                break
            if it >= 2 * PLATEAU_STEPS and not (start_b - best_b > 0.5 * MIN_GAIN * np.abs(row_width)).any():
                break
            checkpoint = float(best_b.sum())
        step = lr * (1.0 - (it - 1) / iters) + 1e-3  # linear decay, fixed schedule
        adam.step(alphas, [g.sum(axis=0, keepdims=True) if shared and g is not None else g for g in grads], it, step)
    bound, _ = _bound(C, c0, W[:t], b[:t], lines, alphas, x_lo, x_hi, False)
    better = bound < best_b if not shared else np.full(R, bound.sum() < best_b.sum())
    for k, a in enumerate(alphas):
        if a is not None:
            best[k][better] = np.broadcast_to(a, best[k].shape)[better]
    best_b = np.where(better, bound, best_b)
    # rows that gain less than MIN_GAIN of their neuron's DeepPoly width keep the DeepPoly start
    # (no hints, small exact integers: optimized slopes are worth it only where they tighten)
    n = R // 2
    width = np.tile(start_b[:n] + start_b[n:], 2)
    keep = ~(start_b - best_b > MIN_GAIN * np.abs(width))
    for k in range(t):
        if best[k] is not None:
            best[k][keep] = start[k][keep]
    return best


def to_grid(alpha: np.ndarray) -> np.ndarray:
    """Round float alphas in [0, 1] to integers at 2^-ALPHA_BITS (nearest; any value is sound)."""
    return np.clip(np.rint(alpha * ALPHA_ONE), 0, ALPHA_ONE).astype(np.int64)


__all__ = ["ProjectedAdam", "optimise_alphas", "to_grid", "ALPHA_BITS", "ALPHA_ONE", "DEFAULT_ALPHA_ITERS"]
