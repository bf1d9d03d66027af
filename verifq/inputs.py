"""Every file verifq reads comes through here, so a missing, unreadable or
special file (a folder, a FIFO that would block forever, a device) is a
`UserError` at the place that referenced it, and text is UTF-8 (a byte-order
mark is allowed)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import Location, UserError

MAX_INPUT_BYTES = 1 << 30  # no spec, network, formats file or certificate is this large


def read_bytes(path, location: Location | None = None, kind: str = "file") -> bytes:
    """The file's bytes; a path that is not a readable regular file is the referrer's mistake."""
    text = os.fspath(path) if path is not None else ""
    where = location or Location(text or "<no path>")
    if not text.strip():
        raise UserError(f"the {kind} path is empty", where, hint=f"give the {kind}'s name")
    path = Path(text)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UserError(f"{kind} '{path}' not found", where,
                        hint="check the file name and the directory it is looked up in") from None
    except OSError as exc:
        raise UserError(f"cannot read '{path}': {exc.strerror or exc}", where) from None
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"'{path}' is a directory, not a {kind}", where)
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"'{path}' is not a regular file (a FIFO, socket or device), not a {kind}", where,
                        hint="save it to a file first")
    if st.st_size > MAX_INPUT_BYTES:
        raise UserError(f"'{path}' is too large for a {kind} ({st.st_size} bytes)", where)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read '{path}': {exc.strerror or exc}", where) from None


def read_text(path, location: Location | None = None, kind: str = "file") -> str:
    """The file decoded as UTF-8 (a byte-order mark is dropped)."""
    data = read_bytes(path, location, kind)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(f"'{Path(path).name}' is not a UTF-8 text file (byte {exc.start})",
                        Location(os.fspath(path), line), hint=f"a {kind} must be plain ASCII/UTF-8 text") from None
