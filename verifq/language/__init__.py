"""The `.nnspec` language: `load_spec(path)` / `parse_spec_text(text, path)` -> `Problem`.

Parsing (`parser`) builds a located syntax tree; elaboration (`elaborate`)
checks it and builds the `Problem`. Every mistake in the text is a
`UserError` carrying file, line and column.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import Location, UserError
from .elaborate import elaborate
from .parser import parse_ast
from ..problem import CostModel, Granularity, Implementation, Problem, SynthesisOptions

__all__ = [
    "load_spec", "parse_spec_text", "Problem", "Implementation", "SynthesisOptions", "Granularity", "CostModel",
]


def parse_spec_text(text: str, path: str | Path = "<spec>") -> Problem:
    """Elaborate spec `text`; `path` names it in messages and anchors relative file paths."""
    return elaborate(parse_ast(text, str(path)))


def load_spec(path: str | Path) -> Problem:
    """Read and elaborate a `.nnspec` file (paths in messages are shown as given)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"spec file not found: {path}", Location(str(path))) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"spec file is not UTF-8 text (byte {exc.start})", Location(str(path))) from None
    except OSError as exc:
        raise UserError(f"cannot read spec file: {exc.strerror or exc}", Location(str(path))) from None
    return parse_spec_text(text, path)
