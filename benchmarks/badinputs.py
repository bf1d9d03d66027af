"""Run the bad-input corpus (tests/badinputs/cases/*.json) through the `verifq`
command line and write benchmarks/results/badinputs.md.

Every case runs in a fresh temporary folder (`python -m verifq.cli.main`,
with the repository first on PYTHONPATH) and is checked for: the expected
exit code, no exit 3 / "internal error", no traceback, a message naming the
file or option, no partial outputs, no replaced input or special file, JSON-only
stdout where asked, a quiet exit on a closed pipe (see tests/badinputs_harness.py).

    python benchmarks/badinputs.py                 # all cases (a few minutes on 2 cores)
    python benchmarks/badinputs.py --fast          # the representative subset (< 60 s)
    python benchmarks/badinputs.py -k onnx -v      # cases whose id matches a regex, with details

Exit status: 0 when every case passed, 1 otherwise (the results file is
written either way; --no-write leaves it alone).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import badinputs_harness as H  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "badinputs.md"


def _cell(text: str, n: int = 220) -> str:
    text = " ".join(str(text).split())
    if len(text) > n:
        text = text[: n - 3] + "..."
    return text.replace("|", "\\|")


def _first_message(o: H.Outcome) -> str:
    lines = [l for l in o.stderr.splitlines() if l.strip()]
    if not lines:
        lines = [l for l in o.stdout.splitlines() if l.strip()]
    pick = next((l for l in lines if "error" in l.lower() or "INVALID" in l), lines[0] if lines else "")
    return pick


def render(outcomes: list[H.Outcome], python: str, seconds: float, fast: bool) -> str:
    c = H.counts(outcomes)
    fam_total = Counter(o.case.family for o in outcomes)
    fam_fail = Counter(o.case.family for o in outcomes if o.problems)
    out = [
        "# Bad-input corpus",
        "",
        "Every case of `tests/badinputs/cases/*.json` run through the command line "
        "(`benchmarks/badinputs.py" + (" --fast" if fast else "") + "`), each in a fresh temporary folder. "
        "A case passes when the exit code is the expected one (2 for bad input, 1 where the property is "
        "simply false, 0 where the input is valid, e.g. a UTF-8 BOM), nothing printed a traceback or "
        "'internal error', the message names the file or option (spec text: `file:line:col` and a caret), "
        "a failing run left no file behind, no input or special file (character device, FIFO, symbolic link) "
        "was replaced, `--json -` printed only JSON, and a closed pipe ended quietly.",
        "",
        f"Interpreter: `{python}`; {len(outcomes)} cases in {seconds:.0f} s.",
        "",
        "## Counts",
        "",
        "| | cases |",
        "|---|---:|",
        f"| total | {c['total']} |",
        f"| passed | {c['passed']} |",
        f"| failed (any problem) | {c['failed']} |",
        f"| clean exit 2 (exit 2 and no problem) | {c['clean_exit_2']} of {c['expect_2']} expecting exit 2 |",
        f"| exit 3 | {c['exit3']} |",
        f"| 'internal error' printed | {c['internal_error']} |",
        f"| tracebacks | {c['traceback']} |",
        f"| partial outputs | {c['partial_output']} |",
        f"| replaced input/special files | {c['replaced_file']} |",
        f"| silently accepted (exit 0 where an error was expected, or a forbidden output written) | {c['silently_accepted']} |",
        f"| other wrong exit code | {c['wrong_exit']} |",
        f"| hangs (killed at the time limit) | {c['timeout']} |",
        f"| message does not name the file/option | {c['unnamed_message']} |",
        f"| no file:line:col + caret (spec text) | {c['no_caret']} |",
        f"| wrong file:line:col | {c['wrong_location']} |",
        f"| stdout not only JSON (`--json -`) | {c['stdout_not_json']} |",
        f"| noise on a closed pipe | {c['noisy_pipe']} |",
        f"| skipped (cannot be set up here) | {c['skipped']} |",
        "",
        "## By family",
        "",
        "| family | cases | failed |",
        "|---|---:|---:|",
    ]
    for fam in sorted(fam_total):
        out.append(f"| {fam} | {fam_total[fam]} | {fam_fail[fam]} |")
    exc = Counter(o.exception_type() or "?" for o in outcomes if o.returncode == 3)
    if exc:
        out += ["", "## Exit 3 by exception type", "", "| exception | cases |", "|---|---:|"]
        out += [f"| {name} | {n} |" for name, n in exc.most_common()]
    failing = [o for o in outcomes if o.problems]
    out += ["", f"## Failing cases ({len(failing)})", ""]
    if failing:
        out += ["| case | problems | exit (expected) | command | first message line |", "|---|---|---|---|---|"]
        for o in failing:
            probs = "; ".join(f"**{cat}**: {detail}" for cat, detail in o.problems)
            got = "hang" if o.returncode is None else str(o.returncode)
            out.append(f"| `{o.case.id}` | {_cell(probs, 300)} | {got} ({'/'.join(map(str, o.case.exits))}) | "
                       f"`{_cell(o.case.command(), 160)}` | {_cell(_first_message(o), 160)} |")
    else:
        out.append("None.")
    skipped = [o for o in outcomes if o.skipped]
    if skipped:
        out += ["", "## Skipped", ""] + [f"* `{o.case.id}`: {o.skipped}" for o in skipped]
    notes = [o for o in outcomes if o.case.note]
    if notes:
        out += ["", "## Notes on expectations", ""] + [f"* `{o.case.id}`: {o.case.note}" for o in notes]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fast", action="store_true", help="only the representative subset (cases marked fast)")
    ap.add_argument("-k", "--match", metavar="REGEX", help="only cases whose id matches")
    ap.add_argument("--family", action="append", help="only this family (repeatable)")
    ap.add_argument("-j", "--jobs", type=int, default=None, help="parallel runs (default: CPU count)")
    ap.add_argument("--python", help="interpreter that runs verifq (default: $VERIFQ_PYTHON, /work/venv, this one)")
    ap.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS.relative_to(REPO)})")
    ap.add_argument("--no-write", action="store_true", help="do not write the results file")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every failing case's output")
    ap.add_argument("--list", action="store_true", help="list the selected cases and exit")
    ap.add_argument("--messages", type=Path, metavar="FILE",
                    help="also write every case's exit code and first message line (TSV), to review the messages")
    args = ap.parse_args(argv)

    cases = H.load_cases(fast=args.fast, pattern=args.match, families=args.family)
    if args.list:
        for c in cases:
            print(f"{c.id:60s} {c.command()}")
        print(f"{len(cases)} cases")
        return 0
    python = args.python or H.default_python()
    t0 = time.perf_counter()

    def progress(i, n, o):
        mark = "ok  " if o.ok else ("skip" if o.skipped else "FAIL")
        if not o.ok or args.verbose:
            print(f"[{i:3d}/{n}] {mark} {o.case.id}: " + "; ".join(f"{c}: {d}" for c, d in o.problems)[:300],
                  flush=True)

    outcomes = H.run_all(cases, jobs=args.jobs, python=python, progress=progress)
    seconds = time.perf_counter() - t0
    if args.verbose:
        for o in outcomes:
            if o.problems:
                print(f"\n=== {o.case.id}: {o.case.command()}\n--- exit {o.returncode}\n--- stdout\n{o.stdout[-2000:]}"
                      f"\n--- stderr\n{o.stderr[-3000:]}")
    c = H.counts(outcomes)
    by_cat = defaultdict(int)
    for o in outcomes:
        for cat in o.categories:
            by_cat[cat] += 1
    print(f"{c['total']} cases in {seconds:.1f} s: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped; "
          + ", ".join(f"{k} {v}" for k, v in by_cat.items()))
    if args.messages:
        rows = ["id\texit\tstatus\tmessage"]
        for o in outcomes:
            status = "ok" if o.ok else ("skipped" if o.skipped else ",".join(o.categories))
            rows.append(f"{o.case.id}\t{o.returncode}\t{status}\t{_cell(_first_message(o), 300)}")
        args.messages.write_text("\n".join(rows) + "\n", encoding="utf-8")
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(render(outcomes, python, seconds, args.fast), encoding="utf-8")
        print(f"wrote {args.out}")
    return 0 if c["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
