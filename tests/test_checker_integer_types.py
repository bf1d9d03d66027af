"""The integer certificate's fields must have their JSON types: a string "false" for `signed`
read as true (and a wider clamp), a bool weight read as 1. Each such certificate is malformed
(exit 2), never checked with a coerced value."""

from __future__ import annotations

import copy

import pytest

from test_checker_integer_error_units import _cert, _requant
from verifq.certificate.checker import check
from verifq.certificate.checker_core import Malformed
from verifq.certificate.checker_integer import canonical_sha


def _with(cert, edit):
    bad = copy.deepcopy(cert)
    edit(bad["network"]["content"])
    bad["network"]["sha256"] = canonical_sha(bad["network"]["content"])  # a consistent hash: only the type is wrong
    return bad


def _set_step(field, value):
    def edit(content):
        content["layers"][0]["steps"][0][field] = value
    return edit


TAMPERED = {
    "signed as a string": _set_step("signed", "false"),
    "narrow as an integer": _set_step("narrow", 0),
    "zero point as a string": _set_step("zero_point", ["0"]),
    "zero point as a float": _set_step("zero_point", [0.0]),
    "weight as a bool": lambda c: c["layers"][0].__setitem__("weights", [[True]]),
    "weight as a string": lambda c: c["layers"][0].__setitem__("weights", [["1"]]),
    "bias as a float": lambda c: c["layers"][0].__setitem__("bias", [0.0]),
    "threshold as a string": lambda c: c["layers"][0].__setitem__(
        "steps", [{"op": "thresholds", "thresholds": [["1"]], "offset": 0, "scale": ["1"]}]),
    "threshold offset as a bool": lambda c: c["layers"][0].__setitem__(
        "steps", [{"op": "thresholds", "thresholds": [[1]], "offset": False, "scale": ["1"]}]),
}


def test_well_typed_certificate_with_a_requantization_is_valid():
    check(_cert(steps=[_requant("1", "1")], claim="1"))


@pytest.mark.parametrize("name", sorted(TAMPERED))
def test_mistyped_integer_field_is_malformed(name):
    cert = _with(_cert(steps=[_requant("1", "1")], claim="1"), TAMPERED[name])
    with pytest.raises(Malformed):
        check(cert)
