"""The names of the analysis rules, declared once.

The command line, the `Analysis` record, the certificate writer and the
checker hints all use these names (the independent checker declares the
rules it re-derives on its own, in the certificate schema's words; a test
keeps the two in step).
"""

from __future__ import annotations

from enum import Enum


class _Name(str, Enum):
    """A rule name that prints as itself (in messages, JSON and certificates)."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    __hash__ = str.__hash__  # equal to its text, so it must hash like it (sets and dict keys of names)


class RangeMethod(_Name):
    INTERVAL = "interval"  # interval propagation
    SYMBOLIC = "symbolic"  # DeepPoly back-substitution intersected with intervals
    MILP = "milp"  # rigorous per-neuron bounds by a verified MILP (small ReLU networks)


class ErrorMethod(_Name):
    L1_LOCAL = "l1_local"  # the per-neuron l1 rule (roundoff.py)
    FIRST_ORDER = "first_order"  # backward interval sensitivities (first_order.py)
    DIFFERENTIAL = "differential"  # symbolic bounds on q(x) - f(x), intersected with first_order (differential.py)


DEFAULT_RANGE_METHOD = RangeMethod.SYMBOLIC
DEFAULT_ERROR_METHOD = ErrorMethod.FIRST_ORDER
