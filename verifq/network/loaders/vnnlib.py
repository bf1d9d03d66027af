"""Input boxes from classic VNN-LIB files (VNN-COMP 2021-2024): SMT-LIB
s-expressions with `(declare-const X_i Real)` and assertions bounding each
input, `(assert (<= X_0 0.5))`, also as an `(and ...)` of bounds (strict
`<`/`>` bounds are read as their closure).

Only the input box is read: assertions that mention no input (the output
property on Y_j) are skipped. Numbers are decimal text, read exactly. The
PyPI `vnnlib` package only parses VNN-LIB 2.0, hence this small parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ...errors import Location, UserError
from ...numeric.rational import show
from ..ir import MAX_MAGNITUDE
from ._common import exact_decimal, offset_location

_HINT = "a VNN-LIB input box is (declare-const X_i Real) plus (assert (<= X_i hi)) and (assert (>= X_i lo)) for each input"
_TOKEN = re.compile(r"\s+|;[^\n]*|\(|\)|[^\s();]+")
_INPUT = re.compile(r"X_(\d+)")
_OUTPUT = re.compile(r"Y_(\d+)")
_IGNORED_COMMANDS = {"set-logic", "set-info", "set-option", "check-sat", "get-model", "exit"}
# A strict bound is read as its closure: a proof over the closed box covers the open one.
_COMPARISONS = {"<=": "<=", ">=": ">=", "=": "=", "<": "<=", ">": ">="}

Box = tuple[tuple[Fraction, Fraction], ...]


@dataclass(frozen=True)
class _Atom:
    text: str
    offset: int


@dataclass(frozen=True)
class _List:
    items: tuple
    offset: int


class _Parser:
    """Tokenizer and s-expression reader that keep every node's offset for errors."""

    def __init__(self, text: str, path: Path):
        self.text = text
        self.path = path

    def at(self, node_or_offset, length: int = 1) -> Location:
        if isinstance(node_or_offset, _Atom):
            return offset_location(self.path, self.text, node_or_offset.offset, len(node_or_offset.text))
        offset = node_or_offset.offset if isinstance(node_or_offset, _List) else node_or_offset
        return offset_location(self.path, self.text, offset, length)

    def parse(self) -> list:
        stack: list[tuple[int, list]] = []
        top: list = []
        for m in _TOKEN.finditer(self.text):
            tok = m.group()
            if tok[0].isspace() or tok[0] == ";":
                continue
            if tok == "(":
                stack.append((m.start(), top))
                top = []
            elif tok == ")":
                if not stack:
                    raise UserError("unmatched ')'", self.at(m.start()), hint=_HINT)
                start, parent = stack.pop()
                parent.append(_List(tuple(top), start))
                top = parent
            else:
                top.append(_Atom(tok, m.start()))
        if stack:
            raise UserError("'(' is never closed", self.at(stack[-1][0]), hint="the file may be truncated")
        return top


def parse_vnnlib_box(text: str, path: Path, n_inputs: int) -> Box:
    """The box [lo_i, hi_i] for X_0 .. X_{n_inputs-1}; every input needs both bounds."""
    try:
        return _parse_box(text, path, n_inputs)
    except RecursionError:
        raise UserError("the VNN-LIB file is nested too deeply to be a box", Location(str(path)),
                        hint="write the bounds as a flat (and ...) or as separate asserts") from None


def _parse_box(text: str, path: Path, n_inputs: int) -> Box:
    p = _Parser(text, path)
    declared: dict[int, _Atom] = {}
    lower: dict[int, tuple[Fraction, object]] = {}
    upper: dict[int, tuple[Fraction, object]] = {}
    asserts = []
    for cmd in p.parse():
        if not isinstance(cmd, _List) or not cmd.items or not isinstance(cmd.items[0], _Atom):
            raise UserError("expected a command such as (declare-const ...) or (assert ...)", p.at(cmd), hint=_HINT)
        head = cmd.items[0].text
        if head == "declare-const":
            _declare(p, cmd, declared, n_inputs)
        elif head == "assert":
            if len(cmd.items) != 2:
                raise UserError("assert takes exactly one formula", p.at(cmd), hint=_HINT)
            asserts.append(cmd.items[1])
        elif head not in _IGNORED_COMMANDS:
            raise UserError(f"unsupported command '{head}'", p.at(cmd.items[0]), hint=_HINT)
    reader = _Bounds(p, declared, lower, upper)
    for formula in asserts:
        if reader.mentions_input(formula):
            reader.conjunct(formula)

    box = []
    for i in range(n_inputs):
        if i not in declared:
            raise UserError(
                f"input X_{i} is not declared (the network has {n_inputs} inputs)", Location(str(path)), hint=_HINT
            )
        where = p.at(declared[i])
        for bounds, word, op in ((lower, "lower", ">="), (upper, "upper", "<=")):
            if i not in bounds:
                raise UserError(
                    f"input X_{i} has no {word} bound", where, hint=f"add (assert ({op} X_{i} <number>))"
                )
        lo, hi = lower[i][0], upper[i][0]
        if lo > hi:
            raise UserError(
                f"input X_{i} has an empty range: lower bound {_show(lo)} > upper bound {_show(hi)}",
                p.at(max(lower[i][1], upper[i][1], key=lambda n: n.offset)),
                hint="check the signs and the order of the two bounds",
            )
        for v, (_, node) in ((lo, lower[i]), (hi, upper[i])):
            if abs(v) >= MAX_MAGNITUDE:
                raise UserError(f"input X_{i}: the bound {_show(v)} is too large for any fixed-point format",
                                p.at(node), hint="fixed-point formats hold |x| < 2^1023")
        box.append((lo, hi))
    return tuple(box)


def _declare(p: _Parser, cmd: _List, declared: dict, n_inputs: int) -> None:
    items = cmd.items
    if len(items) != 3 or not all(isinstance(x, _Atom) for x in items[1:]):
        raise UserError("expected (declare-const NAME Real)", p.at(cmd), hint=_HINT)
    name, sort = items[1], items[2]
    if sort.text != "Real":
        raise UserError(f"variable {name.text} has sort {sort.text}; only Real is supported", p.at(sort), hint=_HINT)
    m = _INPUT.fullmatch(name.text)
    if m:
        i = int(m.group(1))
        if i >= n_inputs:
            raise UserError(
                f"{name.text} is declared but the network has only {n_inputs} inputs (X_0 .. X_{n_inputs - 1})",
                p.at(name),
                hint="is this VNN-LIB file meant for another network?",
            )
        if i in declared:
            raise UserError(f"{name.text} is declared twice", p.at(name), hint=_HINT)
        declared[i] = name
    elif not _OUTPUT.fullmatch(name.text):
        raise UserError(f"unexpected variable name '{name.text}'", p.at(name), hint="inputs are X_0, X_1, ...; outputs Y_0, Y_1, ...")


class _Bounds:
    """Collects the bounds an asserted formula puts on the inputs."""

    def __init__(self, p: _Parser, declared: dict, lower: dict, upper: dict):
        self.p = p
        self.declared = declared
        self.lower = lower
        self.upper = upper

    def mentions_input(self, node) -> bool:
        if isinstance(node, _Atom):
            return _INPUT.fullmatch(node.text) is not None
        return any(self.mentions_input(x) for x in node.items)

    def conjunct(self, node) -> None:
        """A bound, or an `and` of formulas; parts without an input are skipped."""
        p = self.p
        if isinstance(node, _Atom) or not node.items or not isinstance(node.items[0], _Atom):
            raise UserError("expected a bound such as (<= X_0 0.5)", p.at(node), hint=_HINT)
        head = node.items[0].text
        args = node.items[1:]
        if head == "and":
            for arg in args:
                if self.mentions_input(arg):
                    self.conjunct(arg)
            return
        if head not in _COMPARISONS:
            hint = _HINT
            if head == "or":
                hint = "a disjunction of input regions is not a box: split it into one file per box"
            raise UserError(f"'{head}' over inputs is not supported", p.at(node.items[0]), hint=hint)
        if len(args) < 2:
            raise UserError(f"'{head}' needs two operands", p.at(node), hint=_HINT)
        for left, right in zip(args, args[1:]):  # chained comparisons are pairwise
            self._compare(head, left, right, node)

    def _compare(self, op: str, left, right, node) -> None:
        var_left, var_right = self._input(left), self._input(right)
        if var_left is not None and var_right is not None:
            raise UserError("a constraint between two inputs does not describe a box", self.p.at(node), hint=_HINT)
        if var_left is None and var_right is None:
            if self.mentions_input(left) or self.mentions_input(right):
                raise UserError("only bounds of single inputs are supported (no sums or products)", self.p.at(node), hint=_HINT)
            return  # a comparison between constants or outputs says nothing about the box
        op = _COMPARISONS[op]
        if var_left is None:  # c <= X  is  X >= c
            op = {"<=": ">=", ">=": "<=", "=": "="}[op]
            var, const = var_right, left
        else:
            var, const = var_left, right
        value = self._number(const)
        if op in (">=", "="):
            self._tighten(self.lower, var, value, node, max)
        if op in ("<=", "="):
            self._tighten(self.upper, var, value, node, min)

    def _tighten(self, bounds: dict, var: int, value: Fraction, node, pick) -> None:
        if var not in bounds or pick(value, bounds[var][0]) != bounds[var][0]:
            bounds[var] = (value, node)

    def _input(self, node) -> int | None:
        if not isinstance(node, _Atom):
            return None
        m = _INPUT.fullmatch(node.text)
        if not m:
            return None
        i = int(m.group(1))
        if i not in self.declared:
            raise UserError(f"{node.text} is used but not declared", self.p.at(node), hint=f"add (declare-const {node.text} Real)")
        return i

    def _number(self, node) -> Fraction:
        """A decimal literal, `(- c)` or `(/ a b)`, exactly."""
        p = self.p
        if isinstance(node, _Atom):
            value = exact_decimal(node.text)
            if value is None:
                raise UserError(
                    f"expected a number, not '{node.text}'", p.at(node), hint="bounds must be decimal numbers such as -0.5 or 1e-3"
                )
            return value
        items = node.items
        if len(items) == 2 and isinstance(items[0], _Atom) and items[0].text == "-":
            return -self._number(items[1])
        if len(items) == 3 and isinstance(items[0], _Atom) and items[0].text == "/":
            den = self._number(items[2])
            if den == 0:
                raise UserError("division by zero", p.at(node))
            return self._number(items[1]) / den
        raise UserError("expected a number", p.at(node), hint="bounds must be constants: a decimal, (- c) or (/ a b)")


def _show(v: Fraction) -> str:
    return str(v) if v.denominator == 1 and abs(v) < 10**15 else show(v, 10)
