"""Pieces every loader needs: reading a file so that a missing or unreadable
file becomes a `UserError` at the place that referenced it, turning a text
offset into a `Location`, and a last structural check on the built network.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

from ...errors import Location, UserError
from ..ir import Network, validate_network


def read_bytes(path: Path, location: Location | None, kind: str = "network file") -> bytes:
    """The file's bytes; a missing or unreadable file is the referrer's mistake."""
    where = location or Location(str(path))
    if not path.exists():
        raise UserError(
            f"{kind} '{path}' not found",
            where,
            hint="check the file name and the directory it is looked up in",
        )
    if path.is_dir():
        raise UserError(f"'{path}' is a directory, not a {kind}", where)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read '{path}': {exc.strerror or exc}", where) from None


def read_text(path: Path, location: Location | None, kind: str = "network file") -> str:
    """The file decoded as UTF-8 (a text format that is not UTF-8 is the file's own mistake)."""
    data = read_bytes(path, location, kind)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(
            f"'{path.name}' is not a UTF-8 text file (byte {exc.start})",
            Location(str(path), line),
            hint=f"a {kind} must be plain ASCII/UTF-8 text",
        ) from None


def offset_location(path: Path, text: str, offset: int, length: int = 1) -> Location:
    """The 1-based line/column of a character offset in `text`."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Location(str(path), line, column, column + max(length, 1))


_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def exact_decimal(token: str) -> Fraction | None:
    """The exact value of decimal text (`-1.5e-3`), or None if it is not one.

    Stricter than `Fraction(str)`, which would also take `1/3` or `1_0`.
    """
    return Fraction(token) if _DECIMAL.fullmatch(token) else None


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
