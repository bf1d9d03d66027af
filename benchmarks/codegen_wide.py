"""Every synthesized design can be built: synth -> codegen -> compile -> testbench for every shared spec.

For each spec in specs/*.nnspec, at its own word limit (`max word = 32`, the
default) and at `max word = 64`, per layer and per neuron, this runs the
user's path in fresh processes:

    verifq synth SPEC --granularity G -o F.json
    verifq codegen SPEC --formats F.json -o DIR --tb-samples N
    g++ -O1 -std=c++11 (ap_types headers from hls4ml) DIR/TOP.cpp DIR/TOP_tb.cpp
    gcc -O1 -std=c99 -pedantic -Werror DIR/TOP_ref.c DIR/TOP_ref_tb.c
    both testbenches on DIR/tb_inputs.txt against DIR/tb_expected.txt (the bit-exact simulator's outputs)

and records what was refused (by synth: infeasible; by codegen: any
refusal is a failure of this benchmark), codegen and compile times, the
widest format and constant of each design, and the number of output
mismatches. Writes benchmarks/results/codegen_wide.md (and .csv).

    python benchmarks/codegen_wide.py [--only SUBSTRING] [--words 32,64] [--jobs 2] [--work DIR]

Synthesis results are cached in the work folder (default
/tmp/verifq_codegen_wide), so a re-run after a code generator change only
redoes codegen and compilation (`--resynth` to redo synthesis too); each
case's row is kept there too, and `--reuse` takes the rows of earlier runs
(e.g. to add cases to a table).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
sys.path.insert(0, str(ROOT))  # this checkout's verifq, also for the child processes (cwd)


def ap_types() -> Path:
    spec = importlib.util.find_spec("hls4ml")
    if spec is None:
        sys.exit("hls4ml is not installed (pip install hls4ml==1.3.0 --no-deps): its ap_types headers are needed")
    return Path(list(spec.submodule_search_locations)[0]) / "templates" / "vivado" / "ap_types"


# designs beyond the shared specs' own requirements (`--extra`): tighter error bounds, so that synthesis
# returns constants wider than a double's 53 bits (the C reference then needs its multi-limb path)
EXTRA = [
    (SPECS / "aster_ACC7NN.nnspec", 64, "1e-7"),
    (SPECS / "aster_ACC7NN.nnspec", 64, "1e-9"),
    (ROOT / "examples" / "01_inline_tiny" / "tiny.nnspec", 64, "1e-17"),
    (ROOT / "examples" / "01_inline_tiny" / "tiny.nnspec", 128, "1e-20"),
]


def spec_copy(spec: Path, word: int | None, work: Path, bound: str | None = None) -> Path:
    """The spec itself (word None), or a copy with `max word = word` (and every error bound `bound`;
    network paths made absolute)."""
    if word is None and bound is None:
        return spec
    text = spec.read_text()
    if word is not None:
        text, n = re.subn(r"max word\s*=\s*\d+", f"max word = {word}", text)
        if n == 0:
            text = re.sub(r"implementation\s*\{", f"implementation {{\n  max word = {word}", text, count=1)
    if bound is not None:
        text = re.sub(r"require error <= [0-9.eE+-]+", f"require error <= {bound}", text)
    text = re.sub(r'load\s+"([^"]+)"', lambda m: f'load "{(spec.parent / m.group(1)).resolve()}"', text)
    out = work / "specs" / f"{spec.stem}.w{word}{'.e' + bound if bound else ''}.nnspec"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out


def case_label(spec: Path, word: int | None, gran: str, bound: str | None = None) -> str:
    return f"{spec.stem}.{'w' + str(word) if word else 'default'}{'.e' + bound if bound else ''}.{gran}"


TIME = "/usr/bin/time"


def run(cmd, cwd=None, timeout=None):
    """(wall seconds, CPU seconds of the child (user + system; None without /usr/bin/time), result)."""
    wrap = os.path.exists(TIME)
    full = [TIME, "-f", "VQTIME %U %S"] + list(cmd) if wrap else list(cmd)
    t = time.perf_counter()
    try:
        r = subprocess.run(full, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return time.perf_counter() - t, None, subprocess.CompletedProcess(cmd, 124, e.stdout or "", f"timeout after {timeout} s")
    wall, cpu = time.perf_counter() - t, None
    if wrap:
        lines = r.stderr.splitlines()
        for i in range(len(lines) - 1, -1, -1):
            if lines[i].startswith("VQTIME "):
                u, sy = lines[i].split()[1:3]
                cpu = float(u) + float(sy)
                rest = [x for x in lines[:i] if not x.startswith("Command exited with non-zero status")]
                r = subprocess.CompletedProcess(r.args, r.returncode, r.stdout, "\n".join(rest + lines[i + 1:]))
                break
    return wall, cpu, r


def design_stats(spec: Path, formats: Path) -> dict:
    from verifq.fixedpoint.quantize import quantize_network
    from verifq.language import load_problem_and_design

    problem, design = load_problem_and_design(str(spec), str(formats), purpose="generate code for")
    widths = [f.width for f in design.inputs] + [f.width for lf in design.layers for _, fs in lf.roles() for f in fs]
    q = quantize_network(problem.network, design)
    const_bits = 0
    for ql in q.layers:
        for row in ql.weight_mant:
            for v in row:
                const_bits = max(const_bits, abs(int(v)).bit_length())
        for v in ql.bias_mant:
            const_bits = max(const_bits, abs(int(v)).bit_length())
    return {"max_width": max(widths), "const_bits": const_bits}


def case(spec: Path, word: int | None, gran: str, args, apdir: Path, bound: str | None = None) -> dict:
    work = Path(args.work)
    label = case_label(spec, word, gran, bound)
    row = {"spec": spec.stem + (f" (error <= {bound})" if bound else ""), "word": word or "default", "granularity": gran}
    sp = spec_copy(spec, word, work, bound)
    fjson = work / "synth" / f"{label}.json"
    flog = work / "synth" / f"{label}.log"
    fjson.parent.mkdir(parents=True, exist_ok=True)
    if args.resynth or not flog.exists():
        t, _, r = run([sys.executable, "-m", "verifq.cli.main", "synth", str(sp), "--granularity", gran, "-o", str(fjson),
                       "--quiet"], cwd=ROOT, timeout=args.synth_timeout)
        flog.write_text(json.dumps({"rc": r.returncode, "seconds": t, "stdout": r.stdout[-4000:], "stderr": r.stderr[-4000:]}))
    log = json.loads(flog.read_text())
    row["synth_s"] = round(log["seconds"], 2)
    if log["rc"] != 0:
        row["status"] = "infeasible" if log["rc"] == 1 else f"synth error (exit {log['rc']})"
        row["detail"] = (log["stderr"] or log["stdout"]).strip().splitlines()[-1:] or [""]
        row["detail"] = row["detail"][0][:200]
        return row
    row.update(design_stats(sp, fjson))
    out = work / "code" / label
    if out.exists():
        subprocess.run(["rm", "-rf", str(out)])
    t, cpu, r = run([sys.executable, "-m", "verifq.cli.main", "codegen", str(sp), "--formats", str(fjson), "-o", str(out),
                     "--tb-samples", str(args.samples), "--quiet"], cwd=ROOT)
    row["codegen_s"], row["codegen_cpu"] = round(t, 2), cpu
    if r.returncode != 0:
        row["status"] = "CODEGEN REFUSED"
        row["detail"] = (r.stderr.strip().splitlines() or [""])[0][:300]
        return row
    if args.no_compile:
        row["status"] = "generated"
        return row
    top = next(p.name[: -len("_ref.c")] for p in out.glob("*_ref.c"))
    ref = (out / f"{top}_ref.c").read_text()
    row["tables"] = "compact" if "vq_popcount64(TD" in ref else ("full" if re.search(r"ideal (tanh|sigmoid) table", ref) else "")
    row["c_path"] = ",".join(k for k, pat in (("64", "int64_t acc"), ("128", "vq_i128 acc"), ("128", "vq_u128 sum"),
                                               ("limbs", "vq_limb acc"))
                             if pat in ref)
    row["c_path"] = ",".join(dict.fromkeys(row["c_path"].split(","))) if row["c_path"] else "64"
    t1, c1, r1 = run(["g++", "-O1", "-std=c++11", "-w", "-isystem", str(apdir), "-o", str(out / "csim"),
                      str(out / f"{top}.cpp"), str(out / f"{top}_tb.cpp")])
    t2, c2, r2 = run(["gcc", "-O1", "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-o", str(out / "reftb"),
                      str(out / f"{top}_ref.c"), str(out / f"{top}_ref_tb.c"), "-lm"])
    row["gxx_s"], row["gcc_s"], row["gxx_cpu"], row["gcc_cpu"] = round(t1, 2), round(t2, 2), c1, c2
    if r1.returncode or r2.returncode:
        row["status"] = "COMPILE FAILED"
        row["detail"] = (r1.stderr.strip()[-300:] + " | " + r2.stderr.strip()[-300:])
        return row
    mism = 0
    samples = None
    ok = True
    for exe in ("csim", "reftb"):
        _, _, s = run([str(out / exe)], cwd=out)
        m = re.search(r"(\d+) samples, (\d+) output mismatches", s.stderr)
        if m is None:
            ok = False
            row["detail"] = f"{exe}: exit {s.returncode}: {s.stderr.strip()[-300:]}"
            continue
        samples = int(m.group(1))
        mism += int(m.group(2))
        ok = ok and s.returncode == 0
    row["samples"] = samples
    row["mismatches"] = mism
    row["status"] = "bit-exact" if ok and mism == 0 else "MISMATCH"
    if not args.keep:
        for exe in ("csim", "reftb"):
            (out / exe).unlink(missing_ok=True)
    return row


COLUMNS = ["spec", "word", "granularity", "status", "synth_s", "max_width", "const_bits", "codegen_cpu", "codegen_s",
           "gxx_cpu", "gxx_s", "gcc_cpu", "gcc_s", "c_path", "tables", "samples", "mismatches", "detail"]


def _t(r: dict, key: str) -> str:
    """CPU seconds (wall seconds) of a step, as a table cell."""
    cpu, wall = r.get(key + "_cpu"), r.get(key + "_s")
    if wall is None:
        return ""
    return f"{cpu:.1f} ({wall:.1f})" if cpu is not None else f"({wall:.1f})"


def _table(rows: list[dict]) -> list[str]:
    out = ["| spec | word | granularity | status | synth s | widest format | widest constant (bits) | codegen s | g++ -O1 s | gcc -O1 s | C path | tables | samples | mismatches |",
           "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|"]
    for r in rows:
        cells = [r.get("spec"), r.get("word"), r.get("granularity"), r.get("status"), r.get("synth_s"), r.get("max_width"),
                 r.get("const_bits"), _t(r, "codegen"), _t(r, "gxx"), _t(r, "gcc"), r.get("c_path"), r.get("tables"),
                 r.get("samples"), r.get("mismatches")]
        out.append("| " + " | ".join("" if c is None else str(c) for c in cells) + " |")
    return out


def _summary(rows: list[dict]) -> list[str]:
    built = [r for r in rows if r.get("status") == "bit-exact"]
    refused = [r for r in rows if r.get("status") == "CODEGEN REFUSED"]
    failed = [r for r in rows if r.get("status") in ("COMPILE FAILED", "MISMATCH")]
    infeasible = [r for r in rows if r.get("status") == "infeasible"]
    other = [r for r in rows if r not in built + refused + failed + infeasible]
    wide = [r for r in built if (r.get("const_bits") or 0) > 53]
    limbs = [r for r in built if "limbs" in str(r.get("c_path", ""))]
    compact = [r for r in built if r.get("tables") == "compact"]
    md = [f"- cases: {len(rows)}; infeasible for synthesis: {len(infeasible)}; synthesized: {len(rows) - len(infeasible) - len(other)}",
          f"- **refused by codegen: {len(refused)}**; failed to compile or mismatched: {len(failed)}; other errors: {len(other)}",
          f"- built and bit-exact: {len(built)} (HLS C++ and C reference, "
          f"{sum(r.get('samples') or 0 for r in built)} samples per testbench in total, "
          f"{sum(r.get('mismatches') or 0 for r in built)} output mismatches)",
          f"- designs with constants wider than 53 bits: {len(wide)}; C reference with multi-limb groups: {len(limbs)}; "
          f"with compact tanh/sigmoid tables (more than 65,536 entries): {len(compact)}"]
    if built:
        def tot(k):
            return sum(r.get(k) or 0 for r in built)

        slow_cg = max(built, key=lambda r: r.get("codegen_cpu") or r["codegen_s"])
        slow_cc = max(built, key=lambda r: r.get("gxx_cpu") or r["gxx_s"])
        md.append(f"- CPU time in total: codegen {tot('codegen_cpu'):.0f} s, g++ {tot('gxx_cpu'):.0f} s, gcc {tot('gcc_cpu'):.0f} s; "
                  f"slowest codegen {_t(slow_cg, 'codegen')} s ({slow_cg['spec']}, {slow_cg['word']}, {slow_cg['granularity']}), "
                  f"slowest g++ {_t(slow_cc, 'gxx')} s ({slow_cc['spec']}, {slow_cc['word']}, {slow_cc['granularity']})")
    return md


def write_results(rows: list[dict], path_md: Path, meta: dict) -> None:
    path_csv = path_md.with_suffix(".csv")
    with path_csv.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    shared, extra = rows[: meta["n_shared"]], rows[meta["n_shared"]:]
    md = ["# Every synthesized design can be built (`benchmarks/codegen_wide.py`)", "",
          f"Run on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {meta['gxx']}; "
          f"load average {meta['load']:.1f} before the run and {os.getloadavg()[0]:.1f} after it (other jobs share the "
          f"machine: wall times are upper bounds, CPU times are what the steps cost); {meta['jobs']} cases in parallel.", "",
          f"For each of the {meta['n_specs']} specs in `specs/` at its own word limit (`max word = 32`, the default) and at "
          "`max word = 64` (a copy of the spec), per layer and per neuron: `verifq synth SPEC --granularity G -o F.json`, "
          f"then `verifq codegen SPEC --formats F.json -o DIR --tb-samples {meta['samples']}`, then g++ -O1 of the HLS C++ "
          "and its testbench (ap_types headers from hls4ml, no precompiled header) and gcc -O1 -std=c99 -Wall -Wextra "
          "-pedantic -Werror of the C reference and its testbench, then both testbenches on the generated samples "
          "against the bit-exact simulator's outputs (`tb_expected.txt`, which `verifq codegen` computes with "
          "`verifq.fixedpoint.simulator`). Every step is a fresh process.", "",
          "Times are CPU seconds (wall seconds in parentheses). C path: the integer widths the C reference's neuron "
          "groups compute in (64: int64_t, 128: __int128, limbs: multi-limb words). Tables: the tanh/sigmoid lookup "
          "tables (compact: more than 65,536 entries, stored as every 64th entry plus one bit per entry).", ""]
    if shared:
        md += ["## Shared specs: summary", "", *_summary(shared), ""]
    if extra:
        md += ["## Beyond the shared specs", "",
               "The same path for specs with tighter error bounds than the shared specs require (a copy of the spec "
               "with every `require error` bound replaced), so that synthesis returns constants wider than a double's "
               "53 bits, up to the C reference's multi-limb path (before this generator, codegen refused every "
               "constant wider than 53 bits, every stored value wider than 64 bits and every intermediate beyond "
               "126 bits).", "", *_summary(extra), "", *_table(extra), ""]
    if shared:
        md += ["## Shared specs: per case", "", *_table(shared), ""]
    notes = [r for r in rows if r.get("detail")]
    if notes:
        md += ["## Details (infeasible synthesis, refusals, failures)", ""]
        md += [f"- {r['spec']} / {r['word']} / {r['granularity']}: {r['status']}: {r['detail']}" for r in notes]
    md.append("")
    path_md.write_text("\n".join(md))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", help="specs whose name contains this (repeatable)")
    ap.add_argument("--words", default="default,64", help="comma list of word limits: default and/or numbers")
    ap.add_argument("--granularities", default="layer,neuron")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--samples", type=int, default=200, help="testbench samples per design")
    ap.add_argument("--work", default="/tmp/verifq_codegen_wide")
    ap.add_argument("--resynth", action="store_true")
    ap.add_argument("--extra", action="store_true", help="also the EXTRA cases (tighter bounds: constants beyond 53 bits)")
    ap.add_argument("--no-shared", action="store_true", help="only the EXTRA cases")
    ap.add_argument("--reuse", action="store_true", help="take each case's row from an earlier run (work/rows) when there is one")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the executables")
    ap.add_argument("--synth-timeout", type=float, default=1800)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "codegen_wide.md"))
    args = ap.parse_args()
    apdir = ap_types()
    specs = sorted(SPECS.glob("*.nnspec"))
    if args.only:
        specs = [s for s in specs if any(o in s.name for o in args.only)]
    words = [None if w == "default" else int(w) for w in args.words.split(",")]
    grans = args.granularities.split(",")
    cases = [] if args.no_shared else [(s, w, g, None) for s in specs for w in words for g in grans]
    if args.extra:
        cases += [(s, w, g, b) for s, w, b in EXTRA for g in grans]
    meta = {"load": os.getloadavg()[0], "jobs": args.jobs, "n_specs": len(specs), "samples": args.samples,
            "gxx": subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]}
    Path(args.work).mkdir(parents=True, exist_ok=True)
    rows: list[dict | None] = [None] * len(cases)

    def one(i):
        s, w, g, b = cases[i]
        saved = Path(args.work) / "rows" / f"{case_label(s, w, g, b)}.json"
        if args.reuse and saved.exists():
            r = json.loads(saved.read_text())
        else:
            try:
                r = case(s, w, g, args, apdir, b)
            except Exception as e:  # noqa: BLE001 -- recorded in the table
                r = {"spec": s.stem, "word": w or "default", "granularity": g, "status": "ERROR", "detail": repr(e)[:300]}
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps(r))
        rows[i] = r
        print(f"[{sum(x is not None for x in rows)}/{len(cases)}] {r['spec']} {r['word']} {r['granularity']}: {r['status']}"
              + (f" ({r.get('detail')})" if r.get("detail") and r["status"] != "infeasible" else ""), flush=True)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        list(ex.map(one, range(len(cases))))
    meta["n_shared"] = 0 if args.no_shared else len(specs) * len(words) * len(grans)
    write_results([r for r in rows if r is not None], Path(args.out), meta)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
