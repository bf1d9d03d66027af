"""Values and settings of a spec, shared by the elaboration modules: exact numbers from their
decimal text, whole numbers, `key = value` settings of a block, choice hints."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from enum import Enum
from fractions import Fraction

from ..errors import UserError
from .formats import _line_of
from .parser import Name, Num, Setting

MAX_NUMBER_LENGTH = 1000  # characters of one number literal
MAX_EXPONENT = 1000  # |e| in 1e-3 notation
MAX_WORD_LIMIT = 1024  # largest `max word` / `max accumulator`
MAX_INTEGER_BITS = 1024  # largest |I| of a format
MAX_MAGNITUDE = Fraction(2) ** (MAX_INTEGER_BITS - 1)  # no format holds a number this large


def choice_hint(word: str, choices: Iterable[str], what: str) -> str:
    """'did you mean ...?' when a choice is close, followed by the list of choices."""
    choices = list(choices)
    listing = f"{what}: " + ", ".join(choices)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? ({listing})" if close else listing


def fraction(num: Num) -> Fraction:
    """The exact value of a number literal (decimal text, never through float)."""
    text = num.text
    if len(text) > MAX_NUMBER_LENGTH:
        raise UserError(f"number is too long ({len(text)} characters)", num.loc,
                        f"number literals are limited to {MAX_NUMBER_LENGTH} characters")
    _, _, exponent = text.lower().partition("e")
    if exponent and abs(int(exponent)) > MAX_EXPONENT:
        raise UserError(f"number {text} is out of range", num.loc, f"exponents are limited to ±{MAX_EXPONENT}")
    value = Fraction(text)
    if abs(value) >= MAX_MAGNITUDE:
        raise UserError(f"number {text} is out of range", num.loc,
                        f"numbers in a spec must be below 2^{MAX_INTEGER_BITS - 1} in magnitude "
                        f"(no fixed-point format holds more: at most {MAX_INTEGER_BITS} integer bits)")
    return value


def whole(num: Num, what: str, hint: str) -> int:
    value = fraction(num)
    if value.denominator != 1:
        raise UserError(f"{what} must be a whole number, not {num.text}", num.loc, hint)
    return int(value)


def plural(n: int, word: str) -> str:
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word}es" if word.endswith("s") else f"{n} {word}s"


def _settings(block, keys: Sequence[str], where: str) -> dict[str, Setting]:
    """Settings of an implementation/synthesis block by key; unknown or repeated keys are errors."""
    found: dict[str, Setting] = {}
    for setting in block.settings if block else ():
        if setting.key not in keys:
            raise UserError(f"unknown {where} setting '{setting.key}'", setting.key_loc,
                            choice_hint(setting.key, keys, f"{where} settings"))
        if setting.key in found:
            raise UserError(f"duplicate {where} setting '{setting.key}'", setting.key_loc,
                            f"'{setting.key}' is already set on {_line_of(found[setting.key].loc)}")
        found[setting.key] = setting
    return found


def _enum_setting(setting: Setting | None, enum: type[Enum], default):
    if setting is None:
        return default
    names = [m.value for m in enum]
    value = setting.value
    if not isinstance(value, Name):
        raise UserError(f"'{setting.key}' must be a name", value.loc, f"'{setting.key}' is one of: {', '.join(names)}")
    try:
        return enum(value.text)
    except ValueError:
        raise UserError(f"unknown {setting.key} '{value.text}'", value.loc,
                        choice_hint(value.text, names, f"'{setting.key}' is one of")) from None


def _int_setting(setting: Setting | None, lo: int, hi: int, default):
    if setting is None:
        return default
    hint = f"'{setting.key}' is a number of bits between {lo} and {hi}"
    if not isinstance(setting.value, Num):
        raise UserError(f"'{setting.key}' must be a whole number", setting.value.loc, hint)
    n = whole(setting.value, f"'{setting.key}'", hint)
    if not lo <= n <= hi:
        raise UserError(f"'{setting.key}' must be between {lo} and {hi}, not {n}", setting.value.loc, hint)
    return n
