"""Generated code computes tanh/sigmoid with the design's own table, bit for bit.

A design's tanh/sigmoid layers use hls4ml's lookup table (fixedpoint/tables.py:
N entries, index trunc0(x N / D) + N/2 clamped, entries cast to the output's
grid) -- the table the analysis proved and the certificate records. The HLS
C++ and the C reference must compute exactly that table and that index (not
an ideal table): compiled with g++/gcc and run on inputs whose
pre-activations cover the whole table and beyond both clamps, every output
must equal the simulator's. The cases cover tanh and sigmoid, power-of-two
and other table sizes, both roundings and overflow modes, per-neuron groups,
negative fractional bits, 128-bit index products and the multi-limb path.
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from test_codegen_helpers import (
    auto_design,
    cosim_inputs,
    float_rows,
    load_net,
    missing_tools,
    raw_domain,
    write_rows,
)
from test_codegen_wide import check_testbenches
from verifq.codegen.emit import HlsIndex, build_plan
from verifq.codegen.project import generate_project
from verifq.fixedpoint.format import FixedFormat, Overflow, Rounding
from verifq.fixedpoint.simulator import quantize_inputs, simulate
from verifq.fixedpoint.tables import TableSpec, table_index
from verifq.network.ir import Activation

TRN, RND = Rounding.TRUNCATE, Rounding.NEAREST
WRAP, SAT = Overflow.WRAP, Overflow.SATURATE
TOOLS = missing_tools()


@dataclass(frozen=True)
class TableCase:
    id: str
    network: str
    table: TableSpec
    rounding: Rounding
    overflow: Overflow
    fw: int
    fa: int
    fo: int
    fin: int
    per_neuron: bool = False
    expect: tuple = ()  # (file suffix, text) the generated files must contain


CASES = [
    # hls4ml's defaults: 1,024 entries of ap_fixed<18,8> (truncated, wrapped)
    TableCase("tanh-default-table-rnd-sat", "reachnn_1_tanh.json", TableSpec(1024, FixedFormat(18, 8)), RND, SAT,
              fw=10, fa=14, fo=8, fin=8, expect=(("_ref.c", "hls4ml's tanh table"), (".cpp", "hls4ml's tanh table"))),
    # sigmoid, a table size that is no power of two, entries rounded to nearest and saturated, per-neuron groups
    TableCase("sigmoid-1000-entries-per-neuron-trn-wrap", "reachnn_1_sigmoid.json",
              TableSpec(1000, FixedFormat(12, 1), RND, SAT), TRN, WRAP, fw=9, fa=12, fo=10, fin=7, per_neuron=True),
    # a few entries, output grid coarser than 1 (negative fractional bits of the pre-activation)
    TableCase("tanh-7-entries-negative-frac", "reachnn_1_tanh.json", TableSpec(7, FixedFormat(10, 2)), TRN, SAT,
              fw=6, fa=4, fo=-2, fin=4),
    # 40 fractional bits and 2^16 entries: the index product needs 128-bit integers
    TableCase("sigmoid-65536-entries-128bit-index", "reachnn_1_sigmoid.json", TableSpec(65536, FixedFormat(24, 2)),
              RND, WRAP, fw=30, fa=48, fo=46, fin=30, expect=(("_ref.c", "vq_i128 num"),)),
    # 100-bit accumulators: the C reference's multi-limb path
    TableCase("tanh-multi-limb", "reachnn_1_tanh.json", TableSpec(4096, FixedFormat(20, 2)), TRN, WRAP,
              fw=70, fa=90, fo=20, fin=40, expect=(("_ref.c", "vq_limb acc"),)),
]


def build(case: TableCase, root: Path) -> tuple[Path, str]:
    net, meta = load_net(case.network)
    problem, design, analysis = auto_design(
        net, raw_domain(net, meta), fw=case.fw, fa=case.fa, fo=case.fo, fin=case.fin, rounding=case.rounding,
        overflow=case.overflow, per_neuron=case.per_neuron, table=case.table)
    assert all(lf.table == case.table for l, lf in zip(net.layers, design.layers) if l.activation in
               (Activation.TANH, Activation.SIGMOID))
    out = root / case.id
    hashes = generate_project(problem, design, analysis, out, tb_samples=40)
    top = next(k for k in hashes if k.endswith("_ref.c"))[: -len("_ref.c")]
    # inputs far beyond the domain too: pre-activations below and above both clamps of every table
    x = np.vstack([cosim_inputs(problem, design, 300), cosim_inputs(problem, design, 300, seed=2, widen=6.0)])
    mant, _ = quantize_inputs(analysis.qnet, x)
    write_rows(out / "in.txt", float_rows(x))
    write_rows(out / "exp.txt", simulate(analysis.qnet, np.asarray(mant)).outputs)
    check_testbenches(out, top, out / "in.txt", out / "exp.txt", mantissa=False)
    return out, top


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    if TOOLS:
        pytest.skip(f"needs g++/gcc/hls4ml: {TOOLS}")
    root = tmp_path_factory.mktemp("codegen_tables")
    ex = ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2)))
    futures = {c.id: ex.submit(build, c, root) for c in CASES}
    yield futures
    ex.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_generated_code_computes_the_designs_table_bit_exactly(case: TableCase, builds):
    out, top = builds[case.id].result()  # compiled and run bit-exact in build()
    for suffix, text in case.expect:
        assert text in (out / f"{top}{suffix}").read_text(), (suffix, text)
    ref = (out / f"{top}_ref.c").read_text()
    assert "ideal" not in ref
    net, _ = load_net(case.network)
    smooth = sum(l.activation in (Activation.TANH, Activation.SIGMOID) for l in net.layers)
    # one array per layer, however many neuron groups share it (per-neuron designs stay small)
    assert ref.count(f"[{case.table.size}] = {{") == smooth


def test_index_rule_of_the_generated_code_is_the_semantics():
    """HlsIndex (what the generated code computes) = tables.table_index, for every size class and grid."""
    rng = random.Random(5)
    for act in (Activation.TANH, Activation.SIGMOID):
        for size in (2, 3, 7, 1000, 1024, 4096, 65536, 1 << 20):
            for frac in (-6, -1, 0, 1, 8, 20, 45):
                ix = HlsIndex.of(act, size, frac)
                span = 1 << max(3, frac + 6)
                ms = [rng.randint(-span, span) for _ in range(400)] + list(range(-40, 40))
                assert [ix.index(m) for m in ms] == [table_index(act, size, m, frac) for m in ms], (act, size, frac)


def test_plan_uses_the_designs_table_not_an_ideal_one():
    net, meta = load_net("reachnn_1_tanh.json")
    table = TableSpec(256, FixedFormat(14, 2))
    problem, design, analysis = auto_design(net, raw_domain(net, meta), fw=10, fa=14, fo=12, fin=8, table=table)
    plan = build_plan(analysis.qnet, analysis, top="t", proved=True)
    luts = [g.lut for lp in plan.layers for g in lp.groups if g.lut is not None]
    assert luts and all(l.index is not None and len(l.values) == 256 and l.table == table for l in luts)
