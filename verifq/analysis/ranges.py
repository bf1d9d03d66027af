"""Ranges of the real network over an input box, by the method the caller names:
the one entry point of the range analyses (`interval` in intervals.py,
`symbolic` in symbolic.py, `milp` in milp_ranges.py), with a small cache."""

from __future__ import annotations

from .intervals import exact_layers, input_box_scaled
from .methods import DEFAULT_RANGE_METHOD, RangeMethod
from .alpha import DEFAULT_ALPHA_ITERS
from .milp_ranges import milp_ranges
from .symbolic import RangeResult, interval_result, symbolic_ranges

_CACHE: dict = {}
_CACHE_SIZE = 16


def compute_ranges(network, box, method: RangeMethod | str = DEFAULT_RANGE_METHOD, *, exact_net=None, x_lo=None, x_hi=None,
                   alpha_iters: int | None = None) -> RangeResult:
    """Ranges of the real network over `box` (network-input units) by `method`:

    * "interval": interval propagation;
    * "symbolic" (default of `analyse`): DeepPoly back-substitution intersected
      with intervals (never looser than "interval");
    * "milp": additionally exact per-neuron bounds by MILP for small ReLU
      networks (`milp_ranges.milp_ranges`), verified rigorously, intersected.

    alpha_iters: projected-gradient steps choosing the lower ReLU slopes of
    "symbolic"/"milp" (alpha.py; None: DEFAULT_ALPHA_ITERS; 0: DeepPoly's 0|1).

    Results depend only on (network, box, method, alpha_iters) and are cached (by
    identity of the network object), so repeated `analyse` calls during
    synthesis pay once.
    """
    method = RangeMethod(method)
    alpha_iters = DEFAULT_ALPHA_ITERS if alpha_iters is None else int(alpha_iters)
    key = (id(network), tuple(box), method, alpha_iters)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is network:
        return hit[1]
    if x_lo is None:
        x_lo, x_hi = input_box_scaled(box)
    layers = exact_net if exact_net is not None else exact_layers(network)
    if method is RangeMethod.INTERVAL:
        res = interval_result(layers, x_lo, x_hi)
    elif method is RangeMethod.SYMBOLIC:
        res = symbolic_ranges(network, layers, x_lo, x_hi, alpha_iters=alpha_iters)
    else:
        fixed = milp_ranges(network, box)
        res = symbolic_ranges(network, layers, x_lo, x_hi, fixed=fixed, alpha_iters=alpha_iters)
        res = RangeResult(RangeMethod.MILP, res.layers, res.hints, res.relax)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = (network, res)
    return res
