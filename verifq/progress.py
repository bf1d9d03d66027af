"""Progress messages of long runs, for a person watching: the command line
installs a sink that prints them on stderr (never stdout, which carries only
what was asked for); library callers get silence unless they install one."""

from __future__ import annotations

import sys
import time
from typing import Callable

_sink: Callable[[str], None] | None = None


def say(message: str) -> None:
    """Report a step of a long run (a no-op without a sink)."""
    if _sink is not None:
        _sink(message)


def active() -> bool:
    """True when someone watches (solver banners go to stderr then, else nowhere)."""
    return _sink is not None


def set_sink(sink: Callable[[str], None] | None) -> None:
    global _sink
    _sink = sink


def stderr_sink() -> Callable[[str], None]:
    """Timestamped lines on stderr, counted from now."""
    t0 = time.perf_counter()

    def sink(message: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {message}", file=sys.stderr, flush=True)

    return sink
