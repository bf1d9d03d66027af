"""Code generation of any width, checked end to end: every design `verifq synth`
returns can be emitted, compiled and run bit-exact.

* constants wider than a double's 53 bits (exact integer mantissas, 64-bit
  limbs copied into ap_fixed bit ranges), values and intermediates beyond 64
  and 126 bits (the C reference's multi-limb path), inputs and outputs wider
  than 64 bits (decimal testbench I/O), formats beyond ap_types' default
  1024 bits (AP_INT_MAX_W), compact tanh/sigmoid tables beyond 65,536
  entries, and tables whose mantissas do not fit 64 bits;
* the default run compiles (g++ with the ap_types headers; gcc -std=c99
  -pedantic -Werror with the undefined-behaviour sanitizer) and co-simulates
  a synthesized design with 62-bit constants at `max word = 64` (the issue's
  path: synth -> codegen -> compile -> testbench), one with 68-bit constants
  on the multi-limb path, two handmade designs with 70-130-bit formats and a
  compact table; every output must equal the simulator's;
* slow (-m slow): formats of nearly 1024 bits, and the sweep over every
  shared spec at its default word and at max word 64, per layer and per
  neuron (`benchmarks/codegen_wide.py` runs the same and writes
  benchmarks/results/codegen_wide.md).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from test_codegen_helpers import (
    auto_design,
    compile_hls,
    compile_ref,
    cosim_inputs,
    fixed_input_mantissas,
    float_rows,
    load_net,
    missing_tools,
    raw_domain,
    run_tb,
    write_rows,
)
from verifq.cli.main import main
from verifq.codegen.c_reference import generate_c_reference
from verifq.codegen.emit import COMPACT_TABLE_ABOVE, MAX_TABLE_ENTRIES, Lut, activation_table, build_plan
from verifq.codegen.limbs import double_exact, limbs_of
from verifq.codegen.hls import HlsEmitter, HlsOptions
from verifq.codegen.project import generate_project
from verifq.errors import UserError
from verifq.fixedpoint.activation import exact_activation_rounded
from verifq.fixedpoint.design_io import load_design
from verifq.fixedpoint.format import FixedFormat, Overflow, Rounding
from verifq.fixedpoint.quantize import quantize_network
from verifq.fixedpoint.simulator import quantize_inputs, simulate
from verifq.language import load_spec
from verifq.network.ir import Activation

ROOT = Path(__file__).resolve().parent.parent
TRN, RND = Rounding.TRUNCATE, Rounding.NEAREST
WRAP, SAT = Overflow.WRAP, Overflow.SATURATE
TOOLS = missing_tools()
needs_tools = pytest.mark.skipif(TOOLS is not None, reason=f"needs g++/gcc/hls4ml: {TOOLS}")

TINY_WIDE = """
network tiny {{
  input 2
  dense relu weights [[0.1, 0.3], [0.2, 0.15]]  bias [1.0, 2.0]
  dense relu weights [[0.1, 0.2]]               bias [0.5]
}}
input x[2]
domain {{
  x[0] in [-10, 10]
  x[1] in [-5, 5]
}}
require error <= {bound} on all outputs
require no overflow
implementation {{
  rounding = {rounding}
  overflow = {overflow}
  max word = {word}
}}
"""


def widest_constant_bits(problem, design) -> int:
    q = quantize_network(problem.network, design)
    return max(abs(int(v)).bit_length() for ql in q.layers for m in (ql.weight_mant.ravel(), ql.bias_mant) for v in m)


def check_testbenches(out: Path, top: str, inputs: Path, expected: Path, mantissa: bool, hls_pch: bool = True,
                      hls_opt: str = "-O0") -> None:
    """Both testbenches: the given inputs, and the project's own tb files with the default arguments."""
    exes = [compile_hls(out, top, hls_opt, pch=hls_pch), compile_ref(out, top, "-O1")]
    rows = [line for line in expected.read_text().splitlines() if line.strip() and not line.startswith("#")]
    for exe in exes:
        got, err, rc = run_tb(exe, inputs, expected, mantissa=mantissa)
        assert rc == 0, f"{exe.name}: {err.strip()[-800:]}"
        assert f"{len(rows)} samples, 0 output mismatches" in err
        assert got.tolist() == [[int(t) for t in r.split()] for r in rows]
        _, err, rc = run_tb(exe, out / "tb_inputs.txt", out / "tb_expected.txt")
        assert rc == 0 and ", 0 output mismatches" in err, f"{exe.name}: {err.strip()[-800:]}"


# --------------------------------------------------------------------------- the user's path, constants > 53 bits


@needs_tools
@pytest.mark.parametrize("bound, word, rounding, overflow, limbs", [
    ("1e-17", 64, "truncate", "wrap", False),  # the issue: at max word 64, constants of 54..64 bits
    ("1e-20", 128, "nearest", "saturate", True),  # constants beyond 64 bits, inputs and outputs too
], ids=["w64-62bit-constants", "w128-multi-limb"])
def test_synthesized_wide_design_is_emitted_compiled_and_bit_exact(tmp_path, bound, word, rounding, overflow, limbs):
    spec = tmp_path / "tiny_wide.nnspec"
    spec.write_text(TINY_WIDE.format(bound=bound, word=word, rounding=rounding, overflow=overflow))
    formats, out = tmp_path / "f.json", tmp_path / "code"
    assert main(["synth", str(spec), "--granularity", "neuron", "-o", str(formats), "--quiet"]) == 0
    assert main(["codegen", str(spec), "--formats", str(formats), "-o", str(out), "--quiet"]) == 0
    problem = load_spec(spec)
    design = load_design(formats, problem.network)
    assert max(f.width for lf in design.layers for _, fs in lf.roles() for f in fs) <= word
    assert widest_constant_bits(problem, design) > (64 if limbs else 53)
    src = (out / "tiny.cpp").read_text()
    assert ("64-bit limbs" in src) == limbs
    assert "vq_limb acc" in (out / "tiny_ref.c").read_text()  # products of ~60-bit weights and inputs: > 126 bits
    from verifq.analysis.prove import analyse

    analysis = analyse(problem, design)
    x = cosim_inputs(problem, design, 400)
    mant, _ = quantize_inputs(analysis.qnet, x)
    sim = simulate(analysis.qnet, np.asarray(mant))
    write_rows(out / "in.txt", float_rows(x))
    write_rows(out / "exp.txt", sim.outputs)
    check_testbenches(out, "tiny", out / "in.txt", out / "exp.txt", mantissa=False)


FAR_TANH = """
network n {
  input 2
  dense tanh   weights [[0.3, -0.7], [0, 0]]  bias [0.125, 1.5]
  dense linear weights [[0.6, 0.9]]            bias [0.1]
}
input x[2]
domain {
  x[0] in [-1, 1]
  x[1] in [-0.5, 0.75]
}
require error <= 1e-3 on all outputs
implementation {
  rounding = nearest
  overflow = saturate
  max word = 128
  tables = ideal
}
formats {
  default                 = fixed<100, 8>
  input                   = fixed<70, 2>
  layer 1 accum           = fixed<120, 6>
  layer 1 neuron 0 output = fixed<18, 2>
  layer 1 neuron 1 output = fixed<82, 2>
  layer 2 output          = fixed<90, 4>
}
"""


@needs_tools
def test_tanh_tables_compact_and_far_from_zero(tmp_path):
    """Neuron 0: a 94k-entry table (compact); neuron 1 (constant pre-activation 1.5 at 80 fractional
    bits): a one-entry table whose first mantissa needs 82 bits; 92-bit weights."""
    spec = tmp_path / "far.nnspec"
    spec.write_text(FAR_TANH)
    out = tmp_path / "code"
    assert main(["codegen", str(spec), "-o", str(out), "--quiet"]) == 0
    src, ref = (out / "n.cpp").read_text(), (out / "n_ref.c").read_text()
    assert "one bit per entry" in src and "ap_int<82> lo;" in src
    assert "vq_popcount64(TDL1_G0" in ref and "static const vq_limb lo[3]" in ref
    problem = load_spec(spec)
    from verifq.analysis.prove import analyse

    analysis = analyse(problem, problem.design)
    assert analysis.proved
    x = cosim_inputs(problem, problem.design, 300)
    mant, _ = quantize_inputs(analysis.qnet, x)
    write_rows(out / "in.txt", float_rows(x))
    write_rows(out / "exp.txt", simulate(analysis.qnet, np.asarray(mant)).outputs)
    check_testbenches(out, "n", out / "in.txt", out / "exp.txt", mantissa=False)


# --------------------------------------------------------------------------- handmade wide designs


@dataclass(frozen=True)
class WideCfg:
    id: str
    network: str
    rounding: Rounding
    overflow: Overflow
    fw: int
    fa: int
    fo: int
    fin: int
    per_neuron: bool = False
    inputs_fixed: bool = False
    constants: str = "auto"
    n_inputs: int = 400
    hls_pch: bool = True
    slow: bool = False
    expect: tuple = ()  # substrings the generated files must contain: (file suffix, text)
    extra: dict = field(default_factory=dict)


WIDE = [
    # 90-bit weights, 120-bit accumulators, 95-bit outputs, real inputs quantized into 82-bit formats
    WideCfg("invpendulum-100bit-neuron-rnd-sat", "aster_InvPendulumNN.json", RND, SAT, fw=90, fa=120, fo=95, fin=80,
            per_neuron=True, expect=(("_ref.c", "vq_limb acc"), ("_ref.h", "_REF_Y_LIMBS"), ("_ref.c", "vq_w_from_double"),
                                     (".cpp", "64-bit limbs"))),
    # fixed-point inputs of ~72 bits (read as decimal mantissas), 70-bit weights, tanh tables
    WideCfg("reachnn1-tanh-70bit-fixedin-trn-wrap", "reachnn_1_tanh.json", TRN, WRAP, fw=70, fa=90, fo=8, fin=70,
            inputs_fixed=True, constants="mantissa", expect=(("_ref.h", "_REF_X_LIMBS"), (".cpp", "64-bit limbs"))),
    # a tanh table of more than 65,536 entries: stored compactly (one bit per entry)
    WideCfg("reachnn1-tanh-compact-table-rnd-wrap", "reachnn_1_tanh.json", RND, WRAP, fw=12, fa=22, fo=19, fin=12,
            expect=(("_ref.c", "vq_popcount64"), (".cpp", "one bit per entry"))),
    # slow: formats of up to 1024 bits (products of ~2000 bits: AP_INT_MAX_W)
    WideCfg("invpendulum-1000bit-layer-rnd-wrap", "aster_InvPendulumNN.json", RND, WRAP, fw=950, fa=980, fo=960, fin=930,
            hls_pch=False, n_inputs=200, slow=True, expect=((".h", "#define AP_INT_MAX_W"), ("_ref.c", "vq_limb acc"))),
]


def _wide_param(c: WideCfg):
    return pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.slow else [])


@dataclass
class WideBuilt:
    cfg: WideCfg
    dir: Path
    top: str
    plan_luts: list
    inputs: Path
    expected: Path


def build_wide(cfg: WideCfg, root: Path) -> WideBuilt:
    net, meta = load_net(cfg.network)
    problem, design, analysis = auto_design(
        net, raw_domain(net, meta), fw=cfg.fw, fa=cfg.fa, fo=cfg.fo, fin=cfg.fin, rounding=cfg.rounding,
        overflow=cfg.overflow, inputs_fixed=cfg.inputs_fixed, per_neuron=cfg.per_neuron)
    out = root / cfg.id
    hashes = generate_project(problem, design, analysis, out, hls_options=HlsOptions(constants=cfg.constants), tb_samples=40)
    top = next(k for k in hashes if k.endswith("_ref.c"))[: -len("_ref.c")]
    qnet = analysis.qnet
    x = cosim_inputs(problem, design, cfg.n_inputs)
    if design.inputs_fixed:
        mant = fixed_input_mantissas(design, problem, x)
        write_rows(out / "cosim_in.txt", mant)
    else:
        mant, _ = quantize_inputs(qnet, x)
        write_rows(out / "cosim_in.txt", float_rows(x))
    sim = simulate(qnet, np.asarray(mant))
    assert not sim.overflow.any()
    write_rows(out / "cosim_exp.txt", sim.outputs)
    plan = build_plan(qnet, analysis, top=top, proved=True)
    luts = [g.lut for lp in plan.layers for g in lp.groups if g.lut is not None]
    check_testbenches(out, top, out / "cosim_in.txt", out / "cosim_exp.txt", mantissa=design.inputs_fixed,
                      hls_pch=cfg.hls_pch)
    return WideBuilt(cfg, out, top, luts, out / "cosim_in.txt", out / "cosim_exp.txt")


@pytest.fixture(scope="module")
def wide_builds(request, tmp_path_factory):
    if TOOLS:
        pytest.skip(f"needs g++/gcc/hls4ml: {TOOLS}")
    selected = []
    for item in request.session.items:
        cs = getattr(item, "callspec", None)
        if cs is not None and isinstance(cs.params.get("cfg"), WideCfg) and cs.params["cfg"] not in selected:
            selected.append(cs.params["cfg"])
    root = tmp_path_factory.mktemp("codegen_wide")
    ex = ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2)))
    futures = {c.id: ex.submit(build_wide, c, root) for c in selected}
    yield futures
    ex.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("cfg", [_wide_param(c) for c in WIDE])
def test_wide_design_cosim_bit_exact(cfg: WideCfg, wide_builds):
    b: WideBuilt = wide_builds[cfg.id].result()  # compiled and co-simulated in build_wide
    for suffix, text in cfg.expect:
        files = [p for p in b.dir.iterdir() if p.name == b.top + suffix]
        assert files and text in files[0].read_text(), (suffix, text)
    if "compact" in cfg.id:
        assert any(l.compact and len(l.values) > COMPACT_TABLE_ABOVE for l in b.plan_luts)


# --------------------------------------------------------------------------- pieces


def test_no_width_limit_below_the_spec_language():
    """1000-bit formats: generated without refusal; the HLS header raises AP_INT_MAX_W."""
    net, meta = load_net("aster_InvPendulumNN.json")
    problem, design, analysis = auto_design(net, raw_domain(net, meta), fw=950, fa=980, fo=960, fin=930)
    assert max(f.width for lf in design.layers for _, fs in lf.roles() for f in fs) <= 1024
    plan = build_plan(analysis.qnet, analysis, top="t", proved=True)
    em = HlsEmitter(plan, HlsOptions())
    header = em.header()
    m = re.search(r"#define AP_INT_MAX_W (\d+)", header)
    assert m and int(m.group(1)) % 1024 == 0 and int(m.group(1)) >= em.max_ap_width()
    assert header.index("#define AP_INT_MAX_W") < header.index('#include "ap_fixed.h"')
    files = generate_c_reference(plan)
    assert "vq_limb acc" in files["t_ref.c"] and "T_REF_X_LIMBS" in files["t_ref.h"]


def test_activation_table_is_the_exact_decision():
    rng = np.random.default_rng(3)
    for act in (Activation.TANH, Activation.SIGMOID):
        for frac in (4, 11, 19, 27, 36, 63):
            lo = int(rng.integers(-6 << frac, 4 << frac)) if frac < 60 else int(rng.integers(-(1 << 62), 1 << 62))
            n = 1500 if frac < 60 else 60
            got = activation_table(act, lo, lo + n - 1, frac)
            want = [exact_activation_rounded(act, m, frac) for m in range(lo, lo + n)]
            assert [int(v) for v in got] == want, (act, frac)


def test_compact_table_blocks_rebuild_every_entry():
    rng = np.random.default_rng(4)
    values = np.cumsum(rng.integers(0, 2, 1000)) - 37
    lut = Lut(-500, values, FixedFormat(12, 2), compact=True)
    bases, words = lut.blocks()
    for i in range(len(values)):
        r = i % 64
        steps = bin(words[i // 64] & (((1 << r) - 1) << 1)).count("1")
        assert bases[i // 64] + steps == values[i]


def test_table_limit_is_a_clear_user_error():
    net, meta = load_net("reachnn_1_tanh.json")
    problem, design, analysis = auto_design(net, raw_domain(net, meta), fw=12, fa=40, fo=34, fin=12)
    with pytest.raises(UserError) as exc:
        build_plan(analysis.qnet, analysis, top="t", proved=True)
    msg = exc.value.message + " " + (exc.value.hint or "")
    assert f"{MAX_TABLE_ENTRIES} entries" in msg and "fewer fractional bits" in msg


def test_double_literals_only_where_exact():
    rng = np.random.default_rng(5)
    for _ in range(3000):
        m = int(rng.integers(-(1 << 62), 1 << 62)) >> int(rng.integers(0, 62))
        f = int(rng.integers(-1100, 1200))
        exact = Fraction(m) * Fraction(2) ** -f
        try:
            is_double = Fraction(float(exact)) == exact
        except OverflowError:
            is_double = False
        assert double_exact(m, f) == is_double, (m, f)


def test_limbs_are_twos_complement():
    for v in (0, 1, -1, 5, -5, 1 << 70, -(1 << 70) + 3, (1 << 95) - 1, -(1 << 95)):
        for limb, n in ((32, 4), (64, 2)):
            parts = limbs_of(v, n, limb)
            u = sum(p << (limb * i) for i, p in enumerate(parts))
            assert u - (1 << (limb * n) if u >> (limb * n - 1) else 0) == v


# --------------------------------------------------------------------------- the sweep (slow)


def _sweep_module():
    path = ROOT / "benchmarks" / "codegen_wide.py"
    spec = importlib.util.spec_from_file_location("codegen_wide_bench", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("codegen_wide_bench", mod)
    spec.loader.exec_module(mod)
    return mod


SPECS = sorted((ROOT / "specs").glob("*.nnspec"))


@needs_tools
@pytest.mark.slow
@pytest.mark.parametrize("granularity", ["layer", "neuron"])
@pytest.mark.parametrize("word", [None, 64], ids=["default-word", "max-word-64"])
@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_every_synthesized_design_of_every_shared_spec_builds_bit_exact(spec, word, granularity, tmp_path_factory):
    """synth -> codegen -> g++/gcc -> both testbenches; codegen refuses nothing synth returns."""
    import argparse

    mod = _sweep_module()
    work = tmp_path_factory.mktemp("sweep")
    args = argparse.Namespace(work=str(work), samples=200, resynth=True, no_compile=False, keep=False, synth_timeout=3600)
    row = mod.case(spec, word, granularity, args, mod.ap_types())
    assert row["status"] in ("bit-exact", "infeasible"), row
    if row["status"] == "bit-exact":
        assert row["mismatches"] == 0 and row["samples"] >= 100
