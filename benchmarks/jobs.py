"""How much faster input splitting runs on 2 processes, and whether every engine
gives the same answer: `verifq prove --split N` on split-heavy cases, run as
the user runs it (a fresh `verifq` process each time) with `--jobs 1`,
`--jobs 2` and, when ray is installed, `--ray local --jobs 2`. Records wall
time, CPU time (the verifq process and the pool processes it waits for; Ray's
worker processes are not its children, so their CPU time is not counted),
speedup over `--jobs 1`, the load average of the machine before each run (it
is shared: a load above its core count means the runs compete with others),
and whether the JSON report (every certified bound, range and verdict) is
identical byte for byte to the `--jobs 1` one. Writes benchmarks/results/jobs.md.

The networks come from ../shared/benchmarks (the shared benchmark set
beside the clone); a case whose network is absent is skipped with a reason.

    python benchmarks/jobs.py [--shared DIR] [--cases acc7,acasxu] [--no-ray] [--repeat N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_SHARED = ROOT.parent / "shared" / "benchmarks"
if not DEFAULT_SHARED.is_dir():
    DEFAULT_SHARED = Path("/work/shared/benchmarks")

# name -> (spec in specs/ whose domain and requirements are used, uniform format, boxes)
CASES = {
    "acc7": ("aster_ACC7NN.nnspec", "fixed<32,14>", 128),
    "acasxu": ("acasxu_run2a_1_1.nnspec", "fixed<32,16>", 32),
}


def spec_on_shared(case: str, shared: Path, folder: Path) -> Path | str:
    """The spec with its network loaded from the shared set (a reason string when it is absent)."""
    spec_name = CASES[case][0]
    text = (ROOT / "specs" / spec_name).read_text(encoding="utf-8")
    m = re.search(r'load "networks/([^"]+)"', text)
    net = shared / "networks" / m.group(1)
    if not net.is_file():
        return f"{net} is absent"
    out = folder / spec_name
    out.write_text(text.replace(m.group(0), f'load "{net}"'), encoding="utf-8")
    return out


class TreeCPU(threading.Thread):
    """Polls /proc (Linux) for the CPU time of a process and all its descendants (pool processes,
    Ray's raylet and workers), the last value seen per process; None elsewhere."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.seen, self.done = pid, {}, threading.Event()
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _stat(self):
        out = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    f = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                out[int(d)] = (int(f[1]), (int(f[11]) + int(f[12])) / self.tick)  # ppid, utime + stime
        return out

    def run(self):
        while not self.done.wait(0.2):
            stat = self._stat()
            tree, grew = {self.pid}, True
            while grew:
                new = {p for p, (pp, _) in stat.items() if pp in tree} - tree
                grew, tree = bool(new), tree | new
            for p in tree:
                if p in stat:
                    self.seen[p] = stat[p][1]

    def result(self):
        self.done.set()
        self.join()
        rest = [v for p, v in self.seen.items() if p != self.pid]
        return sum(self.seen.values()), max(rest, default=0.0)


def run_once(spec: Path, fmt: str, boxes: int, engine: list[str]) -> dict:
    cmd = [sys.executable, "-m", "verifq.cli.main", "prove", str(spec), "--uniform", fmt, "--split", str(boxes),
           "--no-search", "--quiet", "--json", "-", *engine]
    load = os.getloadavg()[0]
    before = os.times()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    poll = TreeCPU(proc.pid) if os.path.isdir("/proc") else None
    if poll:
        poll.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    after = os.times()
    tree_cpu, busiest = poll.result() if poll else (None, None)
    proc = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    doc = json.loads(proc.stdout)
    return {
        "engine": " ".join(engine), "wall": wall, "load": load,
        "cpu": (after.children_user - before.children_user) + (after.children_system - before.children_system),
        "tree_cpu": tree_cpu, "busiest": busiest,
        "digest": hashlib.sha256(proc.stdout.encode()).hexdigest()[:16], "verdict": doc["verdict"],
        "bound": max(o["certified_error_float"] for o in doc["outputs"]),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="runs per engine (the fastest is reported)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "jobs.md")
    args = ap.parse_args()
    try:
        import ray  # noqa: F401

        ray_reason = "--no-ray" if args.no_ray else None
    except ImportError:
        ray_reason = "ray is not installed (pip install 'verifq[ray]')"
    engines = [["--jobs", "1"], ["--jobs", "2"]] + ([] if ray_reason else [["--ray", "local", "--jobs", "2"]])
    rows, skipped = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases.split(","):
            spec = spec_on_shared(case, args.shared, Path(tmp))
            if isinstance(spec, str):
                skipped.append((case, spec))
                print(f"{case}: skipped, {spec}", file=sys.stderr)
                continue
            _, fmt, boxes = CASES[case]
            runs = []
            for engine in engines:
                best = min((run_once(spec, fmt, boxes, engine) for _ in range(args.repeat)), key=lambda r: r["wall"])
                print(f"{case} {best['engine']}: {best['wall']:.1f} s wall, {best['cpu']:.1f} s CPU (waited), "
                      f"{best['tree_cpu']} s CPU (tree), busiest helper {best['busiest']} s, "
                      f"load {best['load']:.2f}, {best['digest']}", file=sys.stderr)
                runs.append(best)
            rows.append((case, fmt, boxes, runs))
    lines = [
        "# `--jobs` and `--ray`: speed of input splitting, identical results",
        "",
        f"`python benchmarks/jobs.py` on {platform.node() or 'this machine'} ({os.cpu_count()} cores, "
        f"Python {platform.python_version()}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "Each run is a fresh `verifq prove SPEC --uniform FORMAT --split N --no-search --json -` process "
        "(start-up and, for Ray, starting a local Ray instance included).",
        "",
        "* wall: elapsed time; speedup: `--jobs 1` wall / this wall.",
        "* CPU: user + system time of the verifq process and all its descendants (pool processes; Ray's "
        "GCS, raylet and workers), polled from /proc every 0.2 s; busiest: the helper process that used the "
        "most CPU.",
        "* idle estimate: what 2 free cores would give, from CPU times alone: `--jobs 1` CPU / max(CPU / 2, "
        "busiest). It removes the other jobs' share of this shared machine, not our own overheads (process "
        "start-up, pickling the leaves, the sequential bisection decisions).",
        "* load: the 1-minute load average just before the run. The machine has 2 cores shared with other "
        "jobs: above 2, two processes do not get two cores, and the measured speedup is bounded by what the "
        f"others leave (these runs at niceness {os.nice(0) if hasattr(os, 'nice') else 'n/a'}: the others' "
        "processes come first).",
        "* identical: the `--json` report (every certified bound, range, verdict) byte for byte equal to the "
        "`--jobs 1` report.",
        "",
        "| case | format | boxes | engine | wall (s) | speedup | CPU (s) | busiest (s) | idle estimate | load | bound | identical |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case, fmt, boxes, runs in rows:
        base = runs[0]
        for r in runs:
            cpu = r["tree_cpu"] if r["tree_cpu"] is not None else r["cpu"]
            base_cpu = base["tree_cpu"] if base["tree_cpu"] is not None else base["cpu"]
            est = "" if r is base or r["busiest"] is None else f"{base_cpu / max(cpu / 2, r['busiest']):.2f}x"
            lines.append(f"| {case} | `{fmt}` | {boxes} | `{r['engine']}` | {r['wall']:.1f} | "
                         f"{base['wall'] / r['wall']:.2f}x | {cpu:.1f} | "
                         f"{'' if r is base else format(r['busiest'] or 0, '.1f')} | {est} | {r['load']:.2f} | "
                         f"{r['bound']:.6g} | {'yes' if r['digest'] == base['digest'] else 'NO'} |")
    if ray_reason:
        lines += ["", f"Ray: not run ({ray_reason})."]
    for case, why in skipped:
        lines += ["", f"{case}: skipped ({why})."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all(r["digest"] == runs[0]["digest"] for _, _, _, runs in rows for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
