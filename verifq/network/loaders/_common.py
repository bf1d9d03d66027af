"""Pieces every loader needs: reading a file so that a missing or unreadable
file becomes a `UserError` at the place that referenced it, turning a text
offset into a `Location`, and a last structural check on the built network.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

from ...errors import Location, UserError
from ...inputs import read_bytes, read_text  # noqa: F401 (the loaders read through here)
from ..ir import Network, validate_network


def offset_location(path: Path, text: str, offset: int, length: int = 1) -> Location:
    """The 1-based line/column of a character offset in `text`."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Location(str(path), line, column, column + max(length, 1))


_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


MAX_NUMBER_LENGTH = 1000  # characters of one number (as in specs)
MAX_EXPONENT = 1000


def exact_decimal(token: str) -> Fraction | None:
    """The exact value of decimal text (`-1.5e-3`), or None if it is not one.

    Stricter than `Fraction(str)`, which would also take `1/3` or `1_0`.
    """
    if len(token) > MAX_NUMBER_LENGTH or not _DECIMAL.fullmatch(token):
        return None
    mantissa, _, exponent = token.lower().partition("e")
    if exponent and abs(int(exponent)) > MAX_EXPONENT:
        return None
    return Fraction(token)


def finish(net: Network, path: Path) -> Network:
    """Last check that the layers chain up; the format parsers check as they go,
    so a problem here means the file itself is inconsistent."""
    problems = validate_network(net)
    if problems:
        raise UserError(
            f"'{path.name}' does not describe a consistent network: " + "; ".join(problems),
            Location(str(path)),
        )
    return net
