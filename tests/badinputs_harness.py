"""Shared code of the bad-input corpus (tests/badinputs/): load the cases,
build each case's files in a fresh folder, run the `verifq` command line on
them as a subprocess, and classify what happened.

Used by `benchmarks/badinputs.py` (runs everything, writes
`benchmarks/results/badinputs.md`) and, later, by a pytest file.

A case (one entry of a `tests/badinputs/cases/*.json` list) is data::

    {
      "id": "spec-syntax/unclosed-domain",         # unique; the family is the part before '/'
      "description": "the domain block never closes",
      "files": {"spec.nnspec": {"fixture": "tiny.nnspec", "replace": [["x[1] in [-5, 5]\\n}", "x[1] in [-5, 5]"]]}},
      "argv": ["prove", "spec.nnspec"],             # after `verifq`; run in the case's folder
      "expect": {"exit": 2, "names": ["spec.nnspec"], "caret": true},
      "fast": true                                   # part of the --fast subset
    }

File sources (`files` maps a path relative to the case folder to one of
these; they are built in the order given):

* a string: that text (UTF-8);
* {"text": T} with optional "encoding" (utf-8, utf-16, latin-1, ...), "bom": true
  (a UTF-8 byte order mark), "newline": "crlf" | "cr";
* {"fixture": NAME} a file of tests/badinputs/fixtures/, with optional
  "replace": [[old, new], ...] (each `old` must occur), "prepend", "append",
  "newline", "bom", "truncate": N (keep the first N bytes; negative: drop the
  last -N bytes);
* {"json_fixture": NAME, "patch": [...]} a JSON fixture edited by operations
  {"set": PATH, "value": V}, {"del": PATH}, {"append": PATH, "value": V}
  (PATH is a list of keys and indices), then serialized (indent 1, or
  "compact": true) and optionally edited as text with "raw": [[old, new], ...]
  and "truncate";
* {"build": [PART, ...]}: the concatenation of strings and
  {"repeat": S, "times": N} (large generated inputs: long lines, deep nesting);
* {"onnx": MODEL} an ONNX model built with onnx.helper from a description
  (see `build_onnx`), or {"onnx_fixture": NAME, "patch": [...]} a description
  of tests/badinputs/fixtures/ edited like a JSON fixture; optional "truncate";
* {"repo_file": PATH} a file of the repository (e.g. a real ONNX network), optional "truncate";
* {"hex": "..."} raw bytes;
* {"generated": RECIPE, "file": PATH} a file the tool itself writes from the
  fixtures (RECIPES: e.g. a valid certificate, made once per run so that it
  always matches the checker under test), JSON-patchable like a JSON fixture
  when "patch" or "raw" is given; {"generated": RECIPE, "tree": DIR} copies a
  whole folder it wrote (generated code);
* {"special": "dir" | "fifo" | "chardev" | "symlink" | "hardlink", "target": T}: a folder, a FIFO,
  a private character device equal to /dev/null (major 1, minor 3; the real
  /dev/null is never handed to the tool, since a tool that replaces its output
  file would destroy it when run as root), a symbolic link to T, or a second
  name (hard link) of the case's file T; {"special": "delete"} removes what an
  earlier entry made (one file of a generated tree).

Expectations (`expect`):

* "exit": the exit code or a list of acceptable ones (default 2);
* "names": strings of which at least one must appear in the message (the file
  or option at fault); "names_in": "stderr" (default) or "any" (stdout too:
  `verifq check` prints its verdict line on stdout);
* "caret": the message has `FILE:LINE:COL: error:` and a caret line;
  "loc": an exact `FILE:LINE:COL` the message must start with;
* "stdout_json": stdout is empty or exactly one JSON document;
* "absent": paths that must not exist afterwards (after a successful run too:
  reported as a partial output); "forbidden": paths whose existence shows
  that a bad input was accepted (e.g. code whose top function is called
  `int`), reported as silently accepted; "kinds": {path: kind} the
  file type each path must have afterwards (file, dir, symlink, fifo, chardev);
* "may_change": paths a successful run may rewrite (an output that existed);
* "writes_on": non-zero exit codes after which new files are legitimate
  (`verifq report` of an INVALID certificate writes the report and exits 1).

Whatever the case says, every run is also checked for: exit 3 and
"internal error", a Python traceback, partial outputs (any new file or
folder in the case folder after a failing run), replaced inputs (any file
that existed before and differs afterwards in type, inode or content, unless
a successful run may change it; special files must keep their type even
then), a missing message, and for stdout modes "closed" / "head1" (a closed
pipe) any noise such as BrokenPipeError on stderr.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "badinputs"
CASES_DIR = CORPUS / "cases"
FIXTURES = CORPUS / "fixtures"

DEFAULT_TIMEOUT = 180.0  # a hang detector only: far above any case on a loaded machine

# problem categories, in the order they are reported
CATEGORIES = {
    "exit3": "exit 3 (internal error)",
    "internal_error": "'internal error' printed",
    "traceback": "Python traceback printed",
    "timeout": "hang (killed at the time limit)",
    "silently_accepted": "silently accepted (exit 0 where an error was expected)",
    "wrong_exit": "other wrong exit code",
    "partial_output": "partial output (a failing run left files behind)",
    "replaced_file": "input or special file replaced/modified",
    "unnamed_message": "message does not name the file/option (or no message)",
    "no_caret": "no file:line:col + caret for spec text",
    "wrong_location": "wrong file:line:col",
    "stdout_not_json": "stdout is not only JSON",
    "noisy_pipe": "noise on a closed pipe",
    "skipped": "skipped (cannot be set up here)",
}


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    id: str
    description: str
    files: dict[str, Any]
    argv: list[str]
    expect: dict[str, Any]
    fast: bool = False
    stdout: str = "pipe"  # pipe | closed (read end closed before start) | head1 (closed after the first line)
    timeout: float = DEFAULT_TIMEOUT
    note: str | None = None
    source: str = ""

    @property
    def family(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def exits(self) -> list[int]:
        e = self.expect.get("exit", 2)
        return list(e) if isinstance(e, list) else [e]

    def command(self) -> str:
        """The command line as a user would type it in the case folder."""
        import shlex

        text = "verifq " + " ".join(shlex.quote(a) for a in self.argv)
        if self.stdout == "head1":
            text += " | head -1"
        elif self.stdout == "closed":
            text += " | head -c 0  (stdout closed before verifq writes)"
        return text


def load_cases(fast: bool = False, pattern: str | None = None, families: list[str] | None = None) -> list[Case]:
    """Every case of tests/badinputs/cases/*.json (sorted by file, then in file order)."""
    cases: list[Case] = []
    seen: set[str] = set()
    for path in sorted(CASES_DIR.glob("*.json")):
        for raw in json.loads(path.read_text(encoding="utf-8")):
            unknown = set(raw) - {"id", "description", "files", "argv", "expect", "fast", "stdout", "timeout", "note"}
            if unknown:
                raise ValueError(f"{path.name}: case {raw.get('id')}: unknown keys {sorted(unknown)}")
            case = Case(
                id=raw["id"], description=raw["description"], files=raw.get("files", {}), argv=list(raw["argv"]),
                expect=raw.get("expect", {}), fast=bool(raw.get("fast", False)), stdout=raw.get("stdout", "pipe"),
                timeout=float(raw.get("timeout", DEFAULT_TIMEOUT)), note=raw.get("note"), source=path.name,
            )
            if case.id in seen:
                raise ValueError(f"{path.name}: duplicate case id {case.id}")
            seen.add(case.id)
            cases.append(case)
    if fast:
        cases = [c for c in cases if c.fast]
    if families:
        cases = [c for c in cases if c.family in families]
    if pattern:
        rx = re.compile(pattern)
        cases = [c for c in cases if rx.search(c.id)]
    return cases


# --------------------------------------------------------------------------- building files

# Files the tool writes from the fixtures, made once per run (a certificate
# must match the checker of the verifq under test). RECIPE: (fixtures to copy,
# commands to run in that folder).
RECIPES: dict[str, tuple[list[str], list[list[str]]]] = {
    "cert": (["tiny.nnspec"], [["prove", "tiny.nnspec", "--cert", "tiny.cert.json"]]),
    "synth": (["synth.nnspec"], [["synth", "synth.nnspec", "-o", "synth.formats.json", "--cert", "synth.cert.json",
                                  "--quiet"]]),
    "codegen": (["tiny.nnspec"], [["prove", "tiny.nnspec", "--cert", "tiny.cert.json"],
                                  ["codegen", "tiny.nnspec", "-o", "code", "--cert", "tiny.cert.json"]]),
}
_generated: dict[str, Path | SetupError] = {}
_generated_lock = __import__("threading").Lock()
_generated_root: Path | None = None
PYTHON: str | None = None  # interpreter for recipes (set by run_case)


def generated(recipe: str) -> Path:
    """The folder where RECIPE's files were written (made on first use)."""
    global _generated_root
    with _generated_lock:
        if recipe not in _generated:
            if _generated_root is None:
                _generated_root = Path(tempfile.mkdtemp(prefix="verifq-badinputs-gen-"))
                import atexit

                atexit.register(shutil.rmtree, _generated_root, True)
            folder = _generated_root / recipe
            folder.mkdir()
            fixtures, commands = RECIPES[recipe]
            for f in fixtures:
                shutil.copy(FIXTURES / f, folder / f)
            result: Path | SetupError = folder
            for argv in commands:
                proc = subprocess.run([PYTHON or default_python(), "-m", "verifq.cli.main", *argv], cwd=folder,
                                      env=_env(folder), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                      timeout=300)
                if proc.returncode != 0:
                    result = SetupError(f"recipe {recipe}: `verifq {' '.join(argv)}` exited {proc.returncode}: "
                                        f"{proc.stderr.strip()[-300:]}")
                    break
            _generated[recipe] = result
        got = _generated[recipe]
    if isinstance(got, SetupError):
        raise got
    return got


class SetupError(Exception):
    """The case cannot be set up on this machine (e.g. no mknod); reported as skipped."""


def _patch(doc: Any, ops: list[dict]) -> Any:
    for op in ops:
        if "set" in op or "del" in op or "append" in op:
            path = op.get("set", op.get("del", op.get("append")))
            parent = doc
            for key in path[:-1]:
                parent = parent[key]
            last = path[-1] if path else None
            if "set" in op:
                if not path:
                    doc = op["value"]
                else:
                    parent[last] = op["value"]
            elif "del" in op:
                del parent[last]
            else:
                (parent[last] if path else parent).append(op["value"])
        else:
            raise ValueError(f"unknown patch operation {op}")
    return doc


def _text_edits(text: str, spec: dict) -> str:
    for old, new in spec.get("replace", []) + spec.get("raw", []):
        if old not in text:
            raise ValueError(f"replace: {old!r} does not occur")
        text = text.replace(old, new, 1)
    text = spec.get("prepend", "") + text + spec.get("append", "")
    return text


def _encode(text: str, spec: dict) -> bytes:
    nl = spec.get("newline")
    if nl == "crlf":
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    elif nl == "cr":
        text = text.replace("\r\n", "\n").replace("\n", "\r")
    data = text.encode(spec.get("encoding", "utf-8"))
    if spec.get("bom"):
        data = b"\xef\xbb\xbf" + data
    return data


def _truncate(data: bytes, spec: dict) -> bytes:
    n = spec.get("truncate")
    if n is None:
        return data
    return data[:n]


def _build_parts(parts: list) -> str:
    out = []
    for p in parts:
        if isinstance(p, str):
            out.append(p)
        else:
            out.append(p["repeat"] * int(p["times"]))
    return "".join(out)


_ONNX_DTYPES = {"float": "FLOAT", "double": "DOUBLE", "int64": "INT64", "int32": "INT32", "string": "STRING",
                "float16": "FLOAT16", "bool": "BOOL"}


def _value(v):
    if isinstance(v, str) and v in ("NaN", "nan"):
        return float("nan")
    if isinstance(v, str) and v in ("Infinity", "inf"):
        return float("inf")
    if isinstance(v, str) and v in ("-Infinity", "-inf"):
        return float("-inf")
    return v


def build_onnx(desc: dict, folder: Path) -> bytes:
    """An ONNX model from a description:

    {"inputs": [{"name": "x", "shape": [1, 2], "dtype": "float"}],   # a dim may be a string (symbolic)
     "outputs": [{"name": "y", "shape": [1, 1]}],
     "initializers": [{"name": "W1", "dims": [2, 2], "values": [...], "dtype": "float",
                       "external": "w.bin"}],   # "external": stored as external data (file written unless "missing",
                                                # cut to "external_bytes"); "declared_dims": dims that disagree with the data
     "nodes": [{"op": "MatMul", "inputs": ["x", "W1"], "outputs": ["h"], "attrs": {...}, "domain": ""}],
     "opset": 13, "ir_version": 8, "check": false}
    Values may be "NaN", "Infinity", "-Infinity".
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def vi(d):
        dtype = getattr(TensorProto, _ONNX_DTYPES[d.get("dtype", "float")])
        shape = d.get("shape")
        return helper.make_tensor_value_info(d["name"], dtype, shape)

    inits = []
    for t in desc.get("initializers", []):
        dtype = t.get("dtype", "float")
        values = [_value(v) for v in t["values"]]
        if dtype == "string":
            tensor = helper.make_tensor(t["name"], TensorProto.STRING, t["dims"], [str(v).encode() for v in values])
        else:
            np_type = {"float": np.float32, "double": np.float64, "int64": np.int64, "int32": np.int32,
                       "float16": np.float16, "bool": np.bool_}[dtype]
            with np.errstate(over="ignore"):
                arr = np.array(values, dtype=np_type).reshape(t["dims"])
            tensor = numpy_helper.from_array(arr, t["name"])
        if "declared_dims" in t:  # dims that disagree with the data held
            del tensor.dims[:]
            tensor.dims.extend(t["declared_dims"])
        if t.get("external"):
            raw = tensor.raw_data or numpy_helper.to_array(tensor).tobytes()
            tensor.ClearField("float_data")
            tensor.raw_data = b""
            tensor.data_location = TensorProto.EXTERNAL
            entry = tensor.external_data.add()
            entry.key, entry.value = "location", t["external"]
            if not t.get("missing"):
                (folder / t["external"]).write_bytes(raw[: t.get("external_bytes", len(raw))])
        inits.append(tensor)
    nodes = []
    for n in desc.get("nodes", []):
        nodes.append(helper.make_node(n["op"], n.get("inputs", []), n.get("outputs", []), name=n.get("name", ""),
                                      domain=n.get("domain", ""), **n.get("attrs", {})))
    graph = helper.make_graph(nodes, desc.get("graph_name", "g"), [vi(d) for d in desc.get("inputs", [])],
                              [vi(d) for d in desc.get("outputs", [])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", desc.get("opset", 13))],
                              producer_name="verifq-badinputs")
    model.ir_version = desc.get("ir_version", 8)
    if desc.get("check"):
        onnx.checker.check_model(model)
    return model.SerializeToString()


def build_file(rel: str, spec: Any, folder: Path) -> None:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(spec, str):
        path.write_bytes(spec.encode("utf-8"))
        return
    if "special" in spec:
        kind = spec["special"]
        if kind == "dir":
            path.mkdir(exist_ok=True)
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "symlink":
            os.symlink(spec["target"], path)
        elif kind == "delete":  # remove what an earlier entry made (e.g. one file of a generated tree)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        elif kind == "hardlink":
            os.link(folder / spec["target"], path)
        elif kind == "chardev":
            try:
                os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            except (PermissionError, OSError) as exc:
                raise SetupError(f"cannot create a character device here ({exc})") from None
        else:
            raise ValueError(f"unknown special file {kind}")
        return
    if "text" in spec:
        data = _encode(_text_edits(spec["text"], spec), spec)
    elif "fixture" in spec:
        text = (FIXTURES / spec["fixture"]).read_text(encoding="utf-8")
        data = _encode(_text_edits(text, spec), spec)
    elif "json_fixture" in spec:
        doc = json.loads((FIXTURES / spec["json_fixture"]).read_text(encoding="utf-8"))
        doc = _patch(doc, spec.get("patch", []))
        text = json.dumps(doc, separators=(",", ":")) if spec.get("compact") else json.dumps(doc, indent=1)
        data = _encode(_text_edits(text + "\n", spec), spec)
    elif "build" in spec:
        data = _encode(_build_parts(spec["build"]), spec)
    elif "onnx" in spec or "onnx_fixture" in spec:
        desc = spec.get("onnx")
        if desc is None:
            desc = json.loads((FIXTURES / spec["onnx_fixture"]).read_text(encoding="utf-8"))
        desc = _patch(desc, spec.get("patch", []))
        data = build_onnx(desc, path.parent)
    elif "repo_file" in spec:
        data = (REPO / spec["repo_file"]).read_bytes()
    elif "hex" in spec:
        data = bytes.fromhex(spec["hex"])
    elif "generated" in spec:
        folder_gen = generated(spec["generated"])
        if "tree" in spec:
            shutil.copytree(folder_gen / spec["tree"], path, dirs_exist_ok=True)
            return
        raw = (folder_gen / spec["file"]).read_bytes()
        if "patch" in spec or "raw" in spec or "compact" in spec:
            doc = _patch(json.loads(raw), spec.get("patch", []))
            text = json.dumps(doc, separators=(",", ":")) if spec.get("compact") else json.dumps(doc, indent=1)
            data = _encode(_text_edits(text + "\n", spec), spec)
        else:
            data = _encode(_text_edits(raw.decode("utf-8"), spec), spec) if any(
                k in spec for k in ("replace", "prepend", "append", "newline", "bom", "encoding")) else raw
    else:
        raise ValueError(f"{rel}: unknown file source {sorted(spec)}")
    path.write_bytes(_truncate(data, spec))
    if "mode" in spec:
        os.chmod(path, int(spec["mode"], 8))


def materialize(case: Case, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for rel, spec in case.files.items():
        build_file(rel, spec, folder)


# --------------------------------------------------------------------------- snapshots


@dataclass(frozen=True)
class Entry:
    kind: str
    ino: int
    sha: str | None  # content of regular files, target of symlinks
    rdev: int = 0


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISCHR(mode):
        return "chardev"
    return "other"


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def snapshot(root: Path) -> dict[str, Entry]:
    """Every entry under root (not following links): type, inode, content hash."""
    out: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            kind = _kind(st.st_mode)
            sha = None
            if kind == "file":
                try:
                    sha = _sha(p)
                except OSError:
                    sha = "unreadable"
            elif kind == "symlink":
                sha = os.readlink(p)
            out[str(p.relative_to(root))] = Entry(kind, st.st_ino, sha, st.st_rdev if kind == "chardev" else 0)
    return out


# --------------------------------------------------------------------------- running


@dataclass
class Outcome:
    case: Case
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    problems: list[tuple[str, str]] = field(default_factory=list)
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.skipped is None

    @property
    def categories(self) -> list[str]:
        return sorted({c for c, _ in self.problems}, key=list(CATEGORIES).index)

    def exception_type(self) -> str | None:
        m = re.search(r"internal error: ([A-Za-z_][\w.]*)", self.stderr)
        if m:
            return m.group(1)
        lines = [l for l in self.stderr.strip().splitlines() if l and not l.startswith(" ")]
        if "Traceback (most recent call last)" in self.stderr and lines:
            return lines[-1].split(":")[0]
        return None


def default_python() -> str:
    """The interpreter that runs verifq: $VERIFQ_PYTHON, else this one."""
    return os.environ.get("VERIFQ_PYTHON") or sys.executable


def _env(scratch: Path, mpl: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VERIFQ_DEBUG", None)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["MPLCONFIGDIR"] = str(mpl or scratch / "mplconfig")  # shared within a run: the font cache is built once
    env["PYTHONIOENCODING"] = "utf-8"
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the group of the process this harness started
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run_case(case: Case, python: str | None = None, workroot: Path | None = None, keep: bool = False) -> Outcome:
    """Build the case in a fresh folder, run it, classify the result."""
    global PYTHON
    PYTHON = python or PYTHON
    root = Path(tempfile.mkdtemp(prefix="verifq-bad-", dir=workroot))
    folder = root / "case"
    scratch = root / "scratch"
    scratch.mkdir()
    env = _env(scratch, (workroot / "mplconfig") if workroot is not None else None)
    try:
        try:
            materialize(case, folder)
        except SetupError as exc:
            return Outcome(case, None, "", "", 0.0, skipped=str(exc))
        before = snapshot(folder)
        cmd = [python or default_python(), "-m", "verifq.cli.main", *case.argv]
        out_path, err_path = scratch / "stdout", scratch / "stderr"
        t0 = time.perf_counter()
        timed_out = False
        with open(err_path, "wb") as err:
            if case.stdout == "closed":
                r, w = os.pipe()
                os.close(r)  # a reader that went away before verifq wrote anything
                proc = subprocess.Popen(cmd, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=w,
                                        stderr=err, start_new_session=True)
                os.close(w)
                stdout_text = ""
            elif case.stdout == "head1":
                proc = subprocess.Popen(cmd, cwd=folder, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=err, start_new_session=True)
                first = proc.stdout.readline()  # `head -1`: one line, then the reader goes away
                proc.stdout.close()
                stdout_text = first.decode("utf-8", "replace")
            else:
                with open(out_path, "wb") as out:
                    proc = subprocess.Popen(cmd, cwd=folder, env=env, stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=err, start_new_session=True)
                    try:
                        proc.wait(timeout=case.timeout)
                    except subprocess.TimeoutExpired:
                        timed_out = True
                        _kill(proc)
                stdout_text = out_path.read_text(encoding="utf-8", errors="replace")
            if case.stdout in ("closed", "head1"):
                try:
                    proc.wait(timeout=case.timeout)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    _kill(proc)
        seconds = time.perf_counter() - t0
        stderr_text = err_path.read_text(encoding="utf-8", errors="replace")
        after = snapshot(folder)
        outcome = Outcome(case, None if timed_out else proc.returncode, stdout_text, stderr_text, seconds)
        outcome.problems = classify(case, outcome, before, after, folder, timed_out)
        return outcome
    finally:
        if not keep:
            _rmtree(root)


def _rmtree(root: Path) -> None:
    # FIFOs and devices are removed like files; make read-only folders writable first
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            p = Path(dirpath) / d
            if not p.is_symlink():
                try:
                    os.chmod(p, 0o755)
                except OSError:
                    pass
    shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------- classification

_LOC = re.compile(r"^(\S.*?):(\d+):(\d+): error", re.M)
_CARET = re.compile(r"^\s+\|\s*\^+\s*$", re.M)


def _short(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def classify(case: Case, o: Outcome, before: dict[str, Entry], after: dict[str, Entry], folder: Path,
             timed_out: bool) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    exp = case.expect
    rc = o.returncode
    err, out = o.stderr, o.stdout
    both = err + "\n" + out
    failed = rc != 0  # a run that did not succeed must not leave anything behind

    if timed_out:
        problems.append(("timeout", f"no exit within {case.timeout:g} s"))
    if rc == 3:
        problems.append(("exit3", o.exception_type() or _short(err)))
    if "Traceback (most recent call last)" in both:
        last = [l for l in err.strip().splitlines() if l.strip()]
        problems.append(("traceback", _short(last[-1] if last else "")))
    if "internal error" in err.lower():
        problems.append(("internal_error", _short(next((l for l in err.splitlines() if "internal error" in l), ""))))
    if rc is not None and rc != 3 and rc not in case.exits:
        if rc == 0 and 0 not in case.exits:
            problems.append(("silently_accepted", f"exit 0, expected {case.exits}"))
        else:
            problems.append(("wrong_exit", f"exit {rc}, expected {case.exits}"))

    # nothing written by a failing run; no input or special file replaced
    may_change = set(exp.get("may_change", []))
    new = sorted(p for p in after if p not in before)
    if failed and new and rc not in exp.get("writes_on", []):
        shown = ", ".join(new[:6]) + (f", ... ({len(new)} in all)" if len(new) > 6 else "")
        problems.append(("partial_output", f"left behind: {shown}"))
    for p in exp.get("absent", []):
        if p in after and p not in before and not failed:
            problems.append(("partial_output", f"{p} exists"))
    for p, b in before.items():
        a = after.get(p)
        if a is None:
            problems.append(("replaced_file", f"{p} ({b.kind}) was removed"))
        elif a.kind != b.kind:
            problems.append(("replaced_file", f"{p}: was a {b.kind}, now a {a.kind}"))
        elif b.kind == "dir":
            continue
        elif (a.ino != b.ino or a.sha != b.sha or a.rdev != b.rdev) and (failed or p not in may_change):
            what = "rewritten" if a.sha != b.sha else "replaced by a copy (new inode)"
            problems.append(("replaced_file", f"{p} {what}"))
    for p in exp.get("forbidden", []):
        if p in after and p not in before:
            problems.append(("silently_accepted", f"{p} was written"))
    for p, kind in exp.get("kinds", {}).items():
        a = after.get(p)
        if a is None or a.kind != kind:
            problems.append(("replaced_file", f"{p} should be a {kind}, is {a.kind if a else 'missing'}"))

    # the message
    if rc == 2 and 2 in case.exits:
        stream = both if exp.get("names_in") == "any" else err
        if not stream.strip():
            problems.append(("unnamed_message", "no message on stderr"))
        else:
            names = exp.get("names", [])
            if names and not any(n in stream for n in names):
                problems.append(("unnamed_message", f"none of {names} in: {_short(stream, 200)}"))
        if exp.get("caret") and not (_LOC.search(err) and _CARET.search(err)):
            problems.append(("no_caret", _short(err.splitlines()[0] if err.strip() else "(empty)")))
        if exp.get("loc"):
            m = _LOC.search(err)
            got = f"{m.group(1)}:{m.group(2)}:{m.group(3)}" if m else None
            if got != exp["loc"]:
                problems.append(("wrong_location", f"expected {exp['loc']}, got {got}"))
    if exp.get("stdout_json") and out.strip():
        try:
            json.loads(out)
        except ValueError:
            problems.append(("stdout_not_json", _short(out.splitlines()[0], 100)))
    if case.stdout in ("closed", "head1"):
        noise = [l for l in err.splitlines() if re.search(r"BrokenPipe|Exception ignored|Errno 32|EPIPE", l)]
        if noise:
            problems.append(("noisy_pipe", _short(noise[0])))
    return problems


# --------------------------------------------------------------------------- running many, summary


def run_all(cases: list[Case], jobs: int | None = None, python: str | None = None, progress=None) -> list[Outcome]:
    from concurrent.futures import ThreadPoolExecutor

    jobs = jobs or max(1, os.cpu_count() or 1)
    workroot = Path(tempfile.mkdtemp(prefix="verifq-badinputs-"))
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run_case, c, python, workroot) for c in cases]
            outcomes = []
            for i, f in enumerate(futures):
                outcomes.append(f.result())
                if progress:
                    progress(i + 1, len(cases), outcomes[-1])
        return outcomes
    finally:
        _rmtree(workroot)


def counts(outcomes: list[Outcome]) -> dict[str, int]:
    c = {
        "total": len(outcomes),
        "passed": sum(o.ok for o in outcomes),
        "failed": sum(bool(o.problems) for o in outcomes),
        "skipped": sum(o.skipped is not None for o in outcomes),
        "expect_2": sum(2 in o.case.exits and o.skipped is None for o in outcomes),
        "clean_exit_2": sum(o.returncode == 2 and o.ok for o in outcomes),
        "exit_0": sum(o.returncode == 0 for o in outcomes),
        "exit_1": sum(o.returncode == 1 for o in outcomes),
        "exit_2": sum(o.returncode == 2 for o in outcomes),
        "exit_3": sum(o.returncode == 3 for o in outcomes),
    }
    for cat in CATEGORIES:
        if cat != "skipped":
            c[cat] = sum(cat in o.categories for o in outcomes)
    return c
