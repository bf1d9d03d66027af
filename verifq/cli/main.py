"""The `verifq` command: one sub-command module per job. Each module in COMMANDS
exposes `register(subparsers)`, which adds its sub-parser and sets `func=run` (run(args) -> exit
code). User mistakes (UserError) print a located message and exit 2; anything else is an internal
error (exit 3), reported without hiding the traceback's last line."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from .. import __version__, engine, progress
from ..errors import EXIT_BAD_INPUT, EXIT_INTERNAL, UserError

EXIT_BROKEN_PIPE = 141  # as a shell reports a process ended by SIGPIPE

COMMANDS = ("prove", "synth", "check", "report", "codegen", "hls4ml")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verifq",
        description="Sound fixed-point quantization of feed-forward neural networks: "
        "prove roundoff-error and overflow guarantees, synthesize minimal formats, "
        "emit certificates and bit-exact code.",
        epilog="Exit codes: 0 proved/valid, 1 property violated or infeasible, 2 bad input, 3 internal error "
        "(141: the reader of stdout went away).",
    )
    parser.add_argument("--version", action="version", version=f"verifq {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".cmd_{name}", __package__).register(sub)
    for command in sub.choices.values():
        if not any("--quiet" in a.option_strings for a in command._actions):
            command.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    engine.one_blas_thread()  # before the commands import numpy
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_usage(sys.stderr)
        print("error: no command given (prove, synth, check, report, codegen, hls4ml); verifq --help lists them",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    progress.set_sink(None if args.quiet else progress.stderr_sink())
    try:
        return int(args.func(args))
    except UserError as err:
        print(err.render(), file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # the reader went away (`verifq prove ... | head`): stop quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        except (OSError, ValueError, AttributeError):
            pass
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("interrupted; no output file was written", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as exc:  # noqa: BLE001 - last line of defence
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        print(f"internal error: {last}\n(this is a bug in verifq; please report it with the spec file)", file=sys.stderr)
        if "VERIFQ_DEBUG" in os.environ:
            traceback.print_exc()
        return EXIT_INTERNAL
    finally:
        progress.set_sink(None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
