"""Text -> syntax tree of a `.nnspec` file.

This module only knows the shape of the text: every node carries the
`Location` of the source it came from, so elaboration (which knows the
meaning) can point at the exact token when something is wrong. Lark's syntax
errors are turned into `UserError`s with the expected tokens spelt in words.
"""

from __future__ import annotations

import re

import difflib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Union

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ..errors import Location, UserError

GRAMMAR_PATH = Path(__file__).with_name("grammar.lark")


# ---------------------------------------------------------------------------
# Syntax tree. Numbers keep their source text: elaboration turns them into
# exact Fractions (never through float).
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    text: str
    loc: Location


@dataclass(frozen=True)
class Name:
    text: str
    loc: Location


@dataclass(frozen=True)
class Str:
    value: str  # without the quotes
    loc: Location


@dataclass(frozen=True)
class ArrayLit:
    """`[...]`: numbers and nested arrays; shapes are checked by elaboration."""

    items: tuple[Union[Num, "ArrayLit"], ...]
    loc: Location


@dataclass(frozen=True)
class FormatLit:
    kind: Name  # fixed, ufixed, ap_fixed, ap_ufixed
    width: Num
    integer_bits: Num
    loc: Location


@dataclass(frozen=True)
class IntSet:
    items: tuple[Num, ...]
    loc: Location


Value = Union[Name, Num, FormatLit, IntSet]


@dataclass(frozen=True)
class VectorRef:
    """`x`, `x[3]` or `x[1..4]` (lo/hi are None when absent)."""

    name: Name
    lo: Num | None
    hi: Num | None
    loc: Location


@dataclass(frozen=True)
class NetworkLoad:
    name: Name
    path: Str
    loc: Location


@dataclass(frozen=True)
class DenseDef:
    activation: Name
    weights: ArrayLit
    bias: ArrayLit
    loc: Location


@dataclass(frozen=True)
class NetworkInline:
    name: Name
    input_size: Num | None
    layers: tuple[DenseDef, ...]
    loc: Location


@dataclass(frozen=True)
class UseNetwork:
    name: Name
    loc: Location


@dataclass(frozen=True)
class VectorDecl:
    kind: str  # "input" or "output"
    name: Name
    size: Num | None
    loc: Location


@dataclass(frozen=True)
class DomainEntry:
    target: VectorRef
    value: ArrayLit
    loc: Location


@dataclass(frozen=True)
class DomainBlock:
    entries: tuple[DomainEntry, ...]
    loc: Location


@dataclass(frozen=True)
class DomainFile:
    path: Str
    loc: Location


@dataclass(frozen=True)
class RequireError:
    bound: Num
    target: VectorRef | None  # None: all outputs
    loc: Location


@dataclass(frozen=True)
class RequireNoOverflow:
    loc: Location


@dataclass(frozen=True)
class Setting:
    """`key words = value` inside an implementation or synthesis block."""

    key: str  # words joined by one space, e.g. "max word"
    key_loc: Location
    value: Value
    loc: Location


@dataclass(frozen=True)
class ImplementationBlock:
    settings: tuple[Setting, ...]
    loc: Location


@dataclass(frozen=True)
class SynthesisBlock:
    settings: tuple[Setting, ...]
    loc: Location


@dataclass(frozen=True)
class AccLayer:
    """`layer N { settings }` or `layer "node" { settings }` inside an accumulators block."""

    ref: Num | Str
    settings: tuple[Setting, ...]
    loc: Location


@dataclass(frozen=True)
class AccumulatorsBlock:
    layers: tuple[AccLayer, ...]
    loc: Location


@dataclass(frozen=True)
class FormatTarget:
    layer: Num | None
    neuron: Num | None
    role: Name
    loc: Location


@dataclass(frozen=True)
class FormatEntry:
    target: FormatTarget
    fmt: FormatLit
    loc: Location


@dataclass(frozen=True)
class FormatsBlock:
    entries: tuple[FormatEntry, ...]
    loc: Location


@dataclass(frozen=True)
class Minimize:
    granularity: tuple[Name, ...] | None  # ("per", "neuron"), ("uniform",) or None
    loc: Location


Statement = Union[
    NetworkLoad, NetworkInline, UseNetwork, VectorDecl, DomainBlock, DomainFile, RequireError,
    RequireNoOverflow, ImplementationBlock, SynthesisBlock, FormatsBlock, Minimize, AccumulatorsBlock,
]


@dataclass(frozen=True)
class SpecAst:
    path: str
    text: str
    statements: tuple[Statement, ...]

    def end_location(self) -> Location:
        """Just after the last non-blank line: where a missing statement would go."""
        return end_of_text(self.path, self.text)


# ---------------------------------------------------------------------------
# Lark tree -> syntax tree
# ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(
        GRAMMAR_PATH.read_text(encoding="utf-8"),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
    )


@v_args(meta=True)
class _ToAst(Transformer):
    """Builds the dataclasses above; block statements are located at their keyword."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    # -- locations -----------------------------------------------------------
    def _meta_loc(self, meta) -> Location:
        end = meta.end_column if getattr(meta, "end_line", None) == meta.line else None
        return Location(self.path, meta.line, meta.column, end)

    def _keyword_loc(self, meta, keyword: str) -> Location:
        return Location(self.path, meta.line, meta.column, meta.column + len(keyword))

    def _tok_loc(self, tok: Token) -> Location:
        end = tok.end_column if tok.end_line == tok.line else None
        return Location(self.path, tok.line, tok.column, end)

    def _num(self, tok: Token | None) -> Num | None:
        return None if tok is None else Num(str(tok), self._tok_loc(tok))

    def _name(self, tok: Token) -> Name:
        return Name(str(tok), self._tok_loc(tok))

    # -- rules -----------------------------------------------------------------
    def start(self, meta, children):
        return tuple(children)

    def network_load(self, meta, c):
        path = Str(str(c[1])[1:-1], self._tok_loc(c[1]))
        return NetworkLoad(self._name(c[0]), path, self._meta_loc(meta))

    def network_inline(self, meta, c):
        return NetworkInline(self._name(c[0]), self._num(c[1]), tuple(c[2:]), self._keyword_loc(meta, "network"))

    def dense_layer(self, meta, c):
        return DenseDef(self._name(c[0]), c[1], c[2], self._keyword_loc(meta, "dense"))

    def use_stmt(self, meta, c):
        return UseNetwork(self._name(c[0]), self._meta_loc(meta))

    def input_decl(self, meta, c):
        return VectorDecl("input", self._name(c[0]), self._num(c[1]), self._meta_loc(meta))

    def output_decl(self, meta, c):
        return VectorDecl("output", self._name(c[0]), self._num(c[1]), self._meta_loc(meta))

    def vector_ref(self, meta, c):
        return VectorRef(self._name(c[0]), self._num(c[1]), self._num(c[2]), self._meta_loc(meta))

    def domain_block(self, meta, c):
        return DomainBlock(tuple(c), self._keyword_loc(meta, "domain"))

    def domain_entry(self, meta, c):
        return DomainEntry(c[0], c[1], self._meta_loc(meta))

    def domain_file(self, meta, c):
        return DomainFile(Str(str(c[0])[1:-1], self._tok_loc(c[0])), self._meta_loc(meta))

    def require_error(self, meta, c):
        target = c[1] if isinstance(c[1], VectorRef) else None
        return RequireError(self._num(c[0]), target, self._meta_loc(meta))

    def all_outputs(self, meta, c):
        return "all"

    def require_no_overflow(self, meta, c):
        return RequireNoOverflow(self._meta_loc(meta))

    def implementation_block(self, meta, c):
        return ImplementationBlock(tuple(c), self._keyword_loc(meta, "implementation"))

    def synthesis_block(self, meta, c):
        return SynthesisBlock(tuple(c), self._keyword_loc(meta, "synthesis"))

    def accumulators_block(self, meta, c):
        return AccumulatorsBlock(tuple(c), self._keyword_loc(meta, "accumulators"))

    def acc_layer(self, meta, c):
        return AccLayer(c[0], tuple(c[1:]), self._keyword_loc(meta, "layer"))

    def acc_index(self, meta, c):
        return self._num(c[0])

    def acc_name(self, meta, c):
        return Str(str(c[0])[1:-1], self._tok_loc(c[0]))

    def setting(self, meta, c):
        key_text, key_loc = c[0]
        return Setting(key_text, key_loc, c[1], self._meta_loc(meta))

    def key(self, meta, c):
        return " ".join(str(t) for t in c), self._meta_loc(meta)

    def name_value(self, meta, c):
        return self._name(c[0])

    def number_value(self, meta, c):
        return self._num(c[0])

    def int_set(self, meta, c):
        return IntSet(tuple(self._num(t) for t in c if t is not None), self._meta_loc(meta))

    def formats_block(self, meta, c):
        return FormatsBlock(tuple(c), self._keyword_loc(meta, "formats"))

    def format_entry(self, meta, c):
        return FormatEntry(c[0], c[1], self._meta_loc(meta))

    def format_target(self, meta, c):
        return FormatTarget(self._num(c[0]), self._num(c[1]), self._name(c[2]), self._meta_loc(meta))

    def format(self, meta, c):
        return FormatLit(self._name(c[0]), self._num(c[1]), self._num(c[2]), self._meta_loc(meta))

    def minimize_stmt(self, meta, c):
        return Minimize(c[0], self._meta_loc(meta))

    def per_granularity(self, meta, c):
        per = Name("per", Location(self.path, meta.line, meta.column, meta.column + 3))
        return (per, self._name(c[0]))

    def granularity(self, meta, c):
        return (self._name(c[0]),)

    def array(self, meta, c):
        return ArrayLit(tuple(x for x in c if x is not None), self._meta_loc(meta))

    def number_element(self, meta, c):
        return self._num(c[0])


# ---------------------------------------------------------------------------
# Syntax errors
# ---------------------------------------------------------------------------

_NAMED_TERMINALS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": 'a quoted path ("...")',
    "$END": "end of file",
}


def _describe_terminal(name: str) -> str:
    if name in _NAMED_TERMINALS:
        return _NAMED_TERMINALS[name]
    for term in _lark().terminals:
        if term.name == name and term.pattern.type == "str":
            return f"'{term.pattern.value}'"
    return name.lower()


def _describe_expected(names) -> str:
    words = sorted({_describe_terminal(n) for n in names}, key=lambda w: (not w[0].isalpha(), w))
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _expected(exc: UnexpectedInput) -> set[str]:
    """Terminals the parser accepts at the error (exact, unlike LALR's merged lookahead sets)."""
    parser = getattr(exc, "interactive_parser", None)
    if parser is not None:
        try:
            return set(parser.accepts())
        except Exception:  # pragma: no cover - fall back to Lark's own (wider) set
            pass
    return set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())


def _keyword_of(name: str) -> str | None:
    for term in _lark().terminals:
        if term.name == name and term.pattern.type == "str" and term.pattern.value.isidentifier():
            return term.pattern.value
    return None


def _hint(expected: set[str], got: str | None = None) -> str:
    hint = f"expected {_describe_expected(expected)}"
    keywords = [k for k in map(_keyword_of, expected) if k]
    close = difflib.get_close_matches(got, keywords, n=1, cutoff=0.7) if got and got.isidentifier() else []
    if close:
        hint = f"did you mean '{close[0]}'? ({hint})"
    if "EQUAL" in expected:
        hint += "; settings and formats are written `name = value`"
    return hint


def _glued_word(text: str, pos: int, path: str):
    """When the error is inside a word (`require errors`: the keyword `error` matched, `s` did
    not), the whole word and its location; else None."""
    word = re.compile(r"[A-Za-z0-9_]")
    if not (0 < pos < len(text)) or not word.match(text[pos]) or not word.match(text[pos - 1]):
        return None
    start, end = pos, pos
    while start > 0 and word.match(text[start - 1]):
        start -= 1
    while end < len(text) and word.match(text[end]):
        end += 1
    line = text.count("\n", 0, start) + 1
    col = start - (text.rfind("\n", 0, start) + 1) + 1
    return text[start:end], Location(path, line, col, col + end - start)


_NUMBER_LIKE = re.compile(r"[0-9](?:[eE][+-]|[0-9A-Za-z_.])*")


def _bad_number(text: str, pos: int, loc: Location) -> UserError:
    """A word that starts like a number but is none (0x10, 1_000, 1e, 1e-): the whole of it."""
    start = pos
    while start > 0 and re.match(r"[A-Za-z0-9_]", text[start - 1]):
        start -= 1
    word = _NUMBER_LIKE.match(text, start).group(0)
    return UserError(f"syntax error: '{word}' is not a number", Location(loc.file, loc.line, loc.column, loc.column + len(word)),
                     "write numbers in decimal, like 10, -0.5, 2.5e-3 (no hexadecimal, no '_' between digits, "
                     "an exponent needs digits)")


def _syntax_error(exc: UnexpectedInput, path: str, text: str) -> UserError:
    expected = _expected(exc)
    pos = exc.token.start_pos if isinstance(exc, UnexpectedToken) else getattr(exc, "pos_in_stream", None)
    glued = _glued_word(text, pos, path) if isinstance(pos, int) else None
    if glued is not None and glued[0][0].isdigit():
        return _bad_number(text, pos, glued[1])
    if glued is not None:
        return UserError(f"syntax error: unexpected '{glued[0]}'", glued[1], _hint(expected))
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        tok = exc.token
        end = tok.end_column if tok.end_line == tok.line else None
        what = str(tok) if tok.type == "STRING" else f"'{tok}'"
        loc = Location(path, tok.line, tok.column, end)
        return UserError(f"syntax error: unexpected {what}", loc, _hint(expected, str(tok)))
    if isinstance(exc, (UnexpectedToken, UnexpectedEOF)):
        return UserError("syntax error: unexpected end of file", end_of_text(path, text), _hint(expected))
    assert isinstance(exc, UnexpectedCharacters)
    char = text[exc.pos_in_stream] if 0 <= exc.pos_in_stream < len(text) else "?"
    loc = Location(path, exc.line, exc.column, exc.column + 1)
    shown = f"'{char}'" if char.isprintable() and char != "'" else repr(char)
    hint = _hint(expected) if expected else "remove it"
    if char == '"':
        hint = 'a quoted path ends with \'"\' on the same line'
    return UserError(f"syntax error: unexpected character {shown}", loc, hint)


def end_of_text(path: str, text: str) -> Location:
    """The column just after the last non-blank line (lines split on '\n' only, as Lark counts them)."""
    lines = text.split("\n")
    for number in range(len(lines), 0, -1):
        if lines[number - 1].strip():
            col = len(lines[number - 1].rstrip()) + 1
            return Location(path, number, col, col + 1)
    return Location(path, 1, 1)


MAX_ARRAY_DEPTH = 8  # the language needs 2 ([[w, ...], ...], [[lo, hi], ...])


def _check_nesting(tree: Tree, path: str) -> None:
    """Reject absurdly nested arrays before the (recursive) transformer sees them."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.data == "array":
            depth += 1
            if depth > MAX_ARRAY_DEPTH:
                meta = node.meta
                raise UserError(f"arrays are nested more than {MAX_ARRAY_DEPTH} levels deep",
                                Location(path, meta.line, meta.column, meta.column + 1),
                                "weights are written [[w, ...], ...] and intervals [lo, hi] or [[lo, hi], ...]")
        stack.extend((child, depth) for child in node.children if isinstance(child, Tree))


def parse_ast(text: str, path: str) -> SpecAst:
    """Parse spec text into a `SpecAst`; syntax errors become `UserError`."""
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, path, text) from None
    _check_nesting(tree, path)
    try:
        statements = _ToAst(path).transform(tree)
    except VisitError as exc:  # only a bug in _ToAst can get here
        raise exc.orig_exc from exc
    return SpecAst(path, text, tuple(statements))
