"""Problems straight from a benchmark network JSON (../shared/benchmarks
format), for scripts and tests that sweep many networks without writing a
spec for each: the file's own input domain (raw units where the network has
an input normalization), and its `error_bound` unless another is given."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from ..fixedpoint.design import Design
from ..network.loaders import load_benchmark_json
from ..problem import Implementation, Problem


def problem_from_benchmark(path: str | Path, *, max_error: Fraction | None | str = "file",
                           design: Design | None = None, implementation: Implementation | None = None) -> Problem:
    """max_error: "file" takes the JSON's error_bound (None if it has none)."""
    network, meta = load_benchmark_json(path)
    box = meta.get("input_domain_raw") if network.normalization is not None else meta.get("input_domain")
    if box is None:
        box = [[Fraction(-1), Fraction(1)]] * network.n_inputs
    if max_error == "file":
        eb = meta.get("error_bound")
        max_error = Fraction(eb) if eb is not None else None
    return Problem(
        spec_path=str(path),
        network=network,
        domain=tuple((Fraction(lo), Fraction(hi)) for lo, hi in box),
        max_error=(max_error,) * network.n_outputs,
        require_no_overflow=True,
        implementation=implementation or Implementation(),
        design=design,
    )


def has_declared_domain(path: str | Path) -> bool:
    _, meta = load_benchmark_json(path)
    return meta.get("input_domain") is not None
