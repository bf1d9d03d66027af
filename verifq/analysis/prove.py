"""`prove`: decide whether a design meets the spec's requirements.

Runs the range analysis of the real network, the error analysis of the
design, and checks every stored value for overflow (on the real ranges
widened by the error bounds) and every output against its error bound, on
the whole domain (`box.analyse_box`) or on an adaptive partition of it
(`split.analyse_split`). The result is an `Analysis` record (results.py)
with every per-neuron number (exact scaled ints), so the certificate, the
report and the command line all print the same facts.
"""

from __future__ import annotations

from ..fixedpoint.design import Design
from ..problem import Problem
from .box import analyse_box, float_input_box, network_input_box, representable_box
from .methods import DEFAULT_ERROR_METHOD, DEFAULT_RANGE_METHOD, ErrorMethod, RangeMethod
from .results import Analysis, Check
from .split import analyse_split

__all__ = ["analyse", "Analysis", "Check", "float_input_box", "network_input_box", "representable_box"]


def analyse(problem: Problem, design: Design, *, exact_net=None,
            range_method: RangeMethod | str = DEFAULT_RANGE_METHOD,
            error_method: ErrorMethod | str = DEFAULT_ERROR_METHOD, range_result=None, split: int = 1,
            engine=None, branching: str = "smear", alpha_iters: int | None = None) -> Analysis:
    """Analyse `design` for `problem`; never raises for a failing design (see violations).

    range_method / error_method: see methods.py (`box.analyse_box`). split:
    > 1 analyses the design on an adaptive partition of the domain into at
    most that many boxes (`split.analyse_split`; tighter, proportionally slower).
    engine (verifq/engine.py): where the boxes of a split are analysed (default: in
    this process); the result does not depend on it. branching: which input a split
    bisects ("smear" or "strong", split.py). alpha_iters: steps choosing the
    optimized lower ReLU slopes of symbolic ranges (alpha.py; None: the default, 0: DeepPoly 0|1).
    """
    if split > 1:
        return analyse_split(problem, design, split, range_method=range_method, error_method=error_method,
                             engine=engine, branching=branching, alpha_iters=alpha_iters)
    return analyse_box(problem, design, exact_net=exact_net, range_method=range_method, error_method=error_method,
                       range_result=range_result, alpha_iters=alpha_iters)
