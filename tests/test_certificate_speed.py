"""Checker speed on benchmark-size networks (slow; `pytest -m slow`): AC7
(12k parameters) must check in < 10 s, MNIST 256x2 (269k parameters, from
/work/shared) in < 120 s. `benchmarks/checker_speed.py` records the numbers."""

from __future__ import annotations

import sys
from fractions import Fraction

import pytest

from test_certificate_cases import NETWORKS, ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from checker_speed import DEFAULT_MNIST, measure  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("path, bound, target", [
    (NETWORKS / "aster_AC7.json", Fraction(1, 1000), 10.0),
    (DEFAULT_MNIST, Fraction(1, 2), 120.0),
])
def test_checker_speed(path, bound, target):
    if not path.exists():
        pytest.skip(f"{path} not present")
    r = measure(path, bound)
    assert "error" not in r, r
    assert r["verdict"] == "VALID" and r["code"] == 0
    assert r["check"] < target, r
