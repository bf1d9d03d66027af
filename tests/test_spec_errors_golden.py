"""Golden tests of spec error messages: each `NAME.nnspec` under
tests/golden/spec_errors must fail with exactly the message in `NAME.expected`.

Messages are what users read, so they are pinned verbatim. Specs are loaded by
a path relative to the tests directory, so the goldens are the same on every
machine. Regenerate after a deliberate change with

    VERIFQ_UPDATE_GOLDEN=1 python -m pytest tests/test_spec_errors_golden.py

and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from verifq.errors import UserError
from verifq.language import load_spec

TESTS_DIR = Path(__file__).parent
GOLDEN_DIR = TESTS_DIR / "golden" / "spec_errors"
CASES = sorted(p.stem for p in GOLDEN_DIR.glob("*.nnspec"))
UPDATE = os.environ.get("VERIFQ_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("name", CASES)
def test_error_message_matches_golden(name, monkeypatch):
    monkeypatch.chdir(TESTS_DIR)
    spec = GOLDEN_DIR.relative_to(TESTS_DIR) / f"{name}.nnspec"
    with pytest.raises(UserError) as info:
        load_spec(spec)
    rendered = info.value.render() + "\n"
    expected_file = GOLDEN_DIR / f"{name}.expected"
    if UPDATE:
        expected_file.write_text(rendered, encoding="utf-8")
        return
    assert expected_file.exists(), f"no golden for {name}: run with VERIFQ_UPDATE_GOLDEN=1"
    assert rendered == expected_file.read_text(encoding="utf-8")


def test_every_error_has_a_location_and_a_hint(monkeypatch):
    """The contract of a spec error: file, line, column, caret and hint."""
    monkeypatch.chdir(TESTS_DIR)
    for name in CASES:
        with pytest.raises(UserError) as info:
            load_spec(GOLDEN_DIR.relative_to(TESTS_DIR) / f"{name}.nnspec")
        err = info.value
        assert err.location is not None and err.location.line is not None and err.location.column is not None, name
        assert err.hint, name
        assert "^" in err.render(), name


def test_golden_set_is_complete():
    assert len(CASES) >= 35
    orphans = [p.name for p in GOLDEN_DIR.glob("*.expected") if not (GOLDEN_DIR / f"{p.stem}.nnspec").exists()]
    assert not orphans, f"expected files without a spec: {orphans}"
