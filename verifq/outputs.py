"""Every file verifq writes goes through here, so that an output

* is either complete or absent, never half-written (a temporary file in the
  same folder, then a rename);
* never replaces what it must not: an output that is one of the command's
  inputs is refused; a symbolic link is written through (the link stays); a
  character device such as /dev/null is written to as a plain open would; a
  FIFO, socket or block device is refused;
* is checked before the work starts (`check_output`), so a long run does not
  fail at its end on an output path that could never be written.

A path that cannot be written is a `UserError` naming the option (exit 2).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import Location, UserError


def _describe(option: str | None, path) -> str:
    """How a message names the output (its location names the path)."""
    return option if option else "output"


def check_output(path, option: str | None = None, inputs=(), directory: bool = False) -> Path:
    """The path an output will be written to, checked now: not empty, not a directory (or, with
    `directory`, not an existing non-directory), under a folder that is (or can be made) a folder,
    not one of `inputs`, not a FIFO/socket/block device. Returns the path writes should use
    (a symbolic link's target)."""
    text = os.fspath(path) if path is not None else ""
    if not text.strip():
        raise UserError(f"{option or 'output'}: the path is empty", hint="give a file name" if not directory else
                        "give a folder name")
    p = Path(text)
    where = Location(text)
    if directory:
        if p.exists() and not p.is_dir():
            raise UserError(f"{_describe(option, p)}: exists and is not a folder", where,
                            hint="give a new or an existing folder")
        _check_parent(p, option)
        return p
    if p.is_symlink():
        target = Path(os.path.realpath(p))
        return check_output(target, option, inputs) if target != p else p
    if p.exists():
        mode = p.stat().st_mode
        if stat.S_ISDIR(mode):
            raise UserError(f"{_describe(option, p)}: is a folder", where, hint="give a file name inside it")
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISBLK(mode):
            raise UserError(f"{_describe(option, p)}: is not a regular file (a FIFO, socket or block device)", where,
                            hint="write to a regular file, or to - where the option allows stdout")
        for inp in inputs:
            if inp is not None and Path(inp).exists() and os.path.samefile(p, inp):
                raise UserError(f"{_describe(option, p)}: is also an input of this command; it would be overwritten", where, hint="write the output to another file")
    _check_parent(p, option)
    return p


def check_outputs(outputs, inputs=()) -> None:
    """`check_output` for each (path, option) given (None paths and "-" skipped), and no two
    outputs the same file."""
    seen: dict[str, str] = {}
    for path, option in outputs:
        if path is None or os.fspath(path) == "-":
            continue
        real = os.path.realpath(check_output(path, option, inputs))
        if real in seen:
            raise UserError(f"{option} and {seen[real]} name the same file {path}", Location(str(path)),
                            hint="give each output its own file")
        seen[real] = option


def input_files(problem, *paths) -> list[str]:
    """The files a command reads: the spec, the network and domain files it loads, and `paths`."""
    out = [problem.spec_path] if getattr(problem, "spec_path", None) else []
    out += list(getattr(problem, "sources", ()))
    source = getattr(problem.network, "source", None)
    if source and os.path.isfile(source):
        out.append(source)
    return out + [os.fspath(p) for p in paths if p is not None]


def _check_parent(p: Path, option: str | None) -> None:
    parent = p.parent
    probe = parent
    while not probe.exists():  # the first existing ancestor must be a writable folder
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{_describe(option, p)}: {probe} is not a folder", Location(str(p)),
                        hint="put the output under an existing folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{_describe(option, p)}: cannot write in {probe}", Location(str(p)),
                        hint="choose a folder you can write to")


def make_folder(path, option: str | None = None) -> Path:
    """Create the output folder `path` (and its parents); a UserError when that is impossible."""
    p = check_output(path, option, directory=True)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{_describe(option, p)}: cannot create the folder: {exc.strerror or exc}", Location(str(p))) from None
    return p


def write_text_atomic(path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_output(target: str | None, doc) -> None:
    """`--json TARGET`: nothing (None), the document on stdout ('-': stdout then carries it alone),
    or the file, written atomically."""
    if not target:
        return
    import json
    import sys

    text = json.dumps(doc, indent=2) + "\n"
    if target == "-":
        sys.stdout.write(text)
    else:
        write_text_atomic(target, text)


def write_bytes_atomic(path, data: bytes) -> None:
    """Write `data` to `path` completely or not at all (see the module docstring)."""
    path = check_output(path)
    try:
        if path.exists() and stat.S_ISCHR(path.stat().st_mode):  # /dev/null, a terminal: write through
            with open(path, "wb") as fh:
                fh.write(data)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}", Location(str(path))) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise UserError(f"cannot write {path}: {exc.strerror or exc}", Location(str(path))) from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
