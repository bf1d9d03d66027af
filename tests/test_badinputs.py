"""The representative part of the bad-input corpus (tests/badinputs/, `--fast`; the whole corpus
runs in benchmarks/badinputs.py): every malformed input is a clean exit 2 naming the file or
option, never exit 3 or a traceback, nothing is written on failure and no input or special file
is replaced."""

from __future__ import annotations

import badinputs_harness as H


def test_the_fast_bad_input_cases_fail_cleanly():
    cases = H.load_cases(fast=True)
    assert len(cases) >= 40
    outcomes = H.run_all(cases)
    bad = [f"{o.case.id}: " + "; ".join(f"{c}: {d}" for c, d in o.problems) for o in outcomes if o.problems]
    assert not bad, "\n".join(bad)
