"""User-facing errors: every mistake in a spec or a network file becomes a
`UserError` carrying a location, so the CLI can print file:line:column, the
offending line with a caret under the spot, and a hint -- never a traceback.

Exit codes (shared by every command): 0 proved / valid, 1 property violated or
infeasible, 2 bad input, 3 internal error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXIT_PROVED = 0
EXIT_VIOLATED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3


@dataclass(frozen=True)
class Location:
    """A 1-based position in a text file (column counts characters)."""

    file: str
    line: int | None = None
    column: int | None = None
    end_column: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


class UserError(Exception):
    """A mistake in the user's input. Rendered with a caret, exit code 2."""

    def __init__(self, message: str, location: Location | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def render(self, source_text: str | None = None) -> str:
        """Format as `file:line:col: error: message`, the source line, a caret, a hint.

        `source_text` is the file's text; when omitted it is read from disk if
        the location names a readable file.
        """
        loc = self.location
        head = f"{loc}: error: {self.message}" if loc else f"error: {self.message}"
        lines = [head]
        if loc and loc.line is not None:
            text = source_text
            if text is None:
                try:
                    text = Path(loc.file).read_text(encoding="utf-8", errors="replace")
                except OSError:
                    text = None
            if text is not None:
                src_lines = text.splitlines()
                if 1 <= loc.line <= len(src_lines):
                    src = src_lines[loc.line - 1].rstrip("\n").replace("\t", " ")
                    lines.append(f"  {loc.line:>4} | {src}")
                    if loc.column is not None:
                        width = 1
                        if loc.end_column is not None and loc.end_column > loc.column:
                            width = loc.end_column - loc.column
                        lines.append("       | " + " " * (loc.column - 1) + "^" * width)
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.render()
