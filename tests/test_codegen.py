"""Co-simulation of the generated code: the HLS C++ (compiled with g++ against
Xilinx's ap_types headers from the installed hls4ml package) and the C99
reference (gcc -std=c99 -pedantic -Werror) run on >= 1,000 inputs per
network and configuration; every output must equal the Python bit-exact
simulator's, bit for bit, and (for proved designs) lie within the certified
error bound of the real network (float64 reference on the layer inputs).

Configurations cover per-layer and per-neuron formats, truncation and
round-to-nearest, wrap and saturate, real and fixed-point inputs, typed and
mantissa constant arrays, ReLU / linear / tanh / sigmoid layers, NNet input
normalization, an ACAS Xu network (13k parameters), accumulators beyond 64
bits (the C reference's __int128 path) and deliberately overflowing
(unverified) designs whose wrap/saturate behaviour must still match exactly.

Compilation runs in parallel, once per configuration; inputs go through one
process run. Bigger runs (MNIST 256x2, per-neuron ACAS Xu, AC7) are marked slow.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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
    make_problem,
    missing_tools,
    raw_domain,
    run_tb,
    write_rows,
)
from verifq.analysis.prove import analyse
from verifq.codegen.project import generate_project
from verifq.codegen.hls import HlsOptions
from verifq.fixedpoint.design import Design, LayerFormats
from verifq.fixedpoint.format import FixedFormat, Overflow, Rounding
from verifq.fixedpoint.simulator import mantissas_to_float, quantize_inputs, simulate

TRN, RND = Rounding.TRUNCATE, Rounding.NEAREST
WRAP, SAT = Overflow.WRAP, Overflow.SATURATE
N_INPUTS = 1200


def vary(base: int, spread: int, salt: int = 0):
    """Per-neuron fractional bits: base + ((7 j + 3 layer + salt) mod spread)."""
    return lambda layer, j: base + (7 * j + 3 * layer + salt) % spread


@dataclass(frozen=True)
class Cfg:
    id: str
    network: str
    rounding: Rounding
    overflow: Overflow
    fw: object = 10
    fa: object = 14
    fo: object = 9
    fin: int = 8
    per_neuron: bool = False
    inputs_fixed: bool = False
    constants: str = "auto"
    acc_extra: int = 0
    classes: int | None = 3  # per-neuron designs: neurons j mod classes share formats (None: every neuron its own)
    hls_opt: str = "-O0"
    stress: int = 0  # > 0: remove this many integer bits from accumulators and outputs (overflows; unverified)
    widen: float = 1.0  # co-simulation inputs from the domain box scaled by this factor around its centre
    n_inputs: int = N_INPUTS
    slow: bool = False
    options: dict = field(default_factory=dict)


CONFIGS = [
    Cfg("acc3-layer-trn-wrap", "aster_ACC3NN.json", TRN, WRAP),
    Cfg("acc3-neuron-rnd-sat", "aster_ACC3NN.json", RND, SAT, fw=vary(9, 4), fa=vary(12, 3, 1), fo=vary(7, 3, 2), per_neuron=True),
    Cfg("invpendulum-every-neuron-rnd-wrap-fixedin", "aster_InvPendulumNN.json", RND, WRAP, fw=vary(9, 4), fa=vary(12, 3),
        fo=vary(8, 3), per_neuron=True, classes=None, inputs_fixed=True, fin=10, options={"pipeline_ii": 1}),
    Cfg("singlependulum-neuron-trn-sat-fixedin", "aster_SinglePendulumNN.json", TRN, SAT, fw=vary(8, 5), fa=vary(11, 4),
        fo=vary(8, 3), per_neuron=True, inputs_fixed=True, constants="mantissa"),
    # output with more fractional bits than the accumulator (exact left shift before the activation)
    Cfg("mountaincar-layer-trn-sat", "aster_MountainCarNN.json", TRN, SAT, fw=12, fa=10, fo=12, fin=10),
    # coarse grids: negative fractional bits (I > W), 1-bit formats, ties of AP_RND everywhere
    Cfg("lyapunov-coarse-neuron-rnd-wrap", "aster_LyapunovNN.json", RND, WRAP, fw=vary(1, 3), fa=vary(-1, 3),
        fo=vary(-2, 4), fin=2, per_neuron=True, classes=None),
    Cfg("mpc-neuron-rnd-wrap", "aster_MpcNN.json", RND, WRAP, fw=vary(9, 3), fa=vary(13, 3), fo=vary(8, 4), per_neuron=True,
        options={"pipeline_top": True, "io": "parallel"}),
    Cfg("reachnn1-tanh-layer-rnd-wrap", "reachnn_1_tanh.json", RND, WRAP, fo=8),
    Cfg("reachnn3-sigmoid-neuron-trn-sat", "reachnn_3_sigmoid.json", TRN, SAT, fw=vary(9, 3), fa=vary(12, 3), fo=vary(6, 3),
        per_neuron=True),
    Cfg("tora-relu-tanh-layer-trn-wrap-mantissa", "archcomp22_tora_relu_tanh_3x20.json", TRN, WRAP, fo=7, constants="mantissa"),
    Cfg("vcas-normalized-rnd-sat", "archcomp22_vcas_pra01_relu_5x20.json", RND, SAT, fin=12, fw=11, fa=16, fo=10),
    Cfg("acrobot-wide-acc-int128-trn-wrap", "aster_AcrobotNN.json", TRN, WRAP, fw=20, fa=40, fo=16, fin=16, acc_extra=30),
    Cfg("acrobot-wide-acc-int128-rnd-sat", "aster_AcrobotNN.json", RND, SAT, fw=20, fa=40, fo=16, fin=16, acc_extra=30),
    Cfg("mountaincar-stress-overflow-rnd-wrap", "aster_MountainCarNN.json", RND, WRAP, stress=3, widen=3.0),
    Cfg("acc5-stress-overflow-rnd-sat", "aster_ACC5NN.json", RND, SAT, stress=3, widen=3.0),
    Cfg("acasxu-layer-rnd-sat", "acasxu_run2a_1_1.json", RND, SAT, fin=10, fw=10, fa=14, fo=9),
    # slow: -m slow
    Cfg("acasxu-every-neuron-trn-wrap", "acasxu_run2a_1_1.json", TRN, WRAP, fw=vary(9, 3), fa=vary(13, 3), fo=vary(8, 3),
        per_neuron=True, classes=None, slow=True),
    Cfg("ac7-layer-rnd-wrap", "aster_AC7.json", RND, WRAP, slow=True),
    Cfg("attitude-sigmoid-layer-rnd-sat", "archcomp22_attitude_control_sigmoid_3x64.json", RND, SAT, fo=8, slow=True),
    Cfg("mnist256x2-layer-trn-wrap", "vnncomp21_mnistfc_256x2.json", TRN, WRAP, fin=8, fw=10, fa=14, fo=8,
        n_inputs=1000, slow=True),
]


COST = {"acasxu-layer-rnd-sat": 3, "acc3-neuron-rnd-sat": 2, "mpc-neuron-rnd-wrap": 2}


def _param(c: Cfg):
    return pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.slow else [])


def _stressed(design: Design, bits: int) -> Design:
    """Fewer integer bits in accumulators and outputs (same fractional bits): overflows happen."""
    def cut(f: FixedFormat) -> FixedFormat:
        w = max(2, f.width - bits)
        return FixedFormat(w, f.integer_bits - (f.width - w), f.signed)

    layers = tuple(LayerFormats(lf.weight, lf.bias, tuple(map(cut, lf.accum)), tuple(map(cut, lf.output)))
                   for lf in design.layers)
    return Design(design.inputs, layers, design.rounding, design.overflow, design.inputs_fixed)


@dataclass
class Built:
    cfg: Cfg
    dir: Path
    top: str
    problem: object
    design: Design
    analysis: object
    x: np.ndarray  # layer-input units (float64), or for fixed inputs the grid values
    mant: np.ndarray  # input mantissas the generated code receives
    hls_exe: Path
    ref_exe: Path
    inputs_file: Path
    expected_file: Path
    mantissa_mode: bool


def build(cfg: Cfg, root: Path) -> Built:
    net, meta = load_net(cfg.network)
    problem, design, analysis = auto_design(
        net, raw_domain(net, meta), fw=cfg.fw, fa=cfg.fa, fo=cfg.fo, fin=cfg.fin, rounding=cfg.rounding,
        overflow=cfg.overflow, inputs_fixed=cfg.inputs_fixed, per_neuron=cfg.per_neuron, acc_extra=cfg.acc_extra,
        neuron_classes=cfg.classes)
    if cfg.stress:
        design = _stressed(design, cfg.stress)
        problem = make_problem(net, problem.domain, design)
        analysis = analyse(problem, design)
        assert not analysis.proved
    out = root / cfg.id
    opts = HlsOptions(constants=cfg.constants, **cfg.options)
    hashes = generate_project(problem, design, analysis, out, hls_options=opts, tb_samples=32)
    top = next(k for k in hashes if k.endswith("_ref.c"))[: -len("_ref.c")]
    x = cosim_inputs(problem, design, cfg.n_inputs, widen=cfg.widen)
    qnet = analysis.qnet
    inputs_file = out / "cosim_inputs.txt"
    if design.inputs_fixed:
        mant = fixed_input_mantissas(design, problem, x)
        write_rows(inputs_file, mant)
        x = mantissas_to_float(mant, qnet.input_frac)
    else:
        mant, _ = quantize_inputs(qnet, x)
        write_rows(inputs_file, float_rows(x))
    sim = simulate(qnet, np.asarray(mant))
    expected_file = out / "cosim_expected.txt"
    write_rows(expected_file, sim.outputs)
    hls_exe = compile_hls(out, top, cfg.hls_opt)
    ref_exe = compile_ref(out, top, "-O1")
    return Built(cfg, out, top, problem, design, analysis, x, np.asarray(mant), hls_exe, ref_exe, inputs_file,
                 expected_file, design.inputs_fixed)


@pytest.fixture(scope="module")
def builds(request, tmp_path_factory):
    reason = missing_tools()
    if reason:
        pytest.skip(f"co-simulation needs g++, gcc and hls4ml's ap_types headers: {reason}")
    selected = []
    for item in request.session.items:
        cs = getattr(item, "callspec", None)
        if cs is not None and isinstance(cs.params.get("cfg"), Cfg) and cs.params["cfg"] not in selected:
            selected.append(cs.params["cfg"])
    root = tmp_path_factory.mktemp("codegen")
    ex = ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2)))
    selected.sort(key=lambda c: -COST.get(c.id, 1))  # longest first
    futures = {c.id: ex.submit(build, c, root) for c in selected}
    yield futures
    ex.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("cfg", [_param(c) for c in CONFIGS])
def test_cosim_bit_exact(cfg: Cfg, builds):
    b: Built = builds[cfg.id].result()
    qnet = b.analysis.qnet
    sim = simulate(qnet, b.mant)
    assert len(b.mant) >= 1000
    if b.analysis.proved:
        assert not sim.overflow.any(), "a proved design overflowed in the simulator"
    else:
        assert cfg.stress and sim.overflow.mean() > 0.05, "the stress design should overflow often"
    if cfg.widen > 1 and not b.design.inputs_fixed:
        _, in_over = quantize_inputs(qnet, b.x)
        assert in_over.mean() > 0.05, "the widened inputs should overflow the input formats often"
    for exe in (b.hls_exe, b.ref_exe):
        got, err, rc = run_tb(exe, b.inputs_file, b.expected_file, mantissa=b.mantissa_mode)
        assert rc == 0, f"{exe.name}: {err.strip()[-800:]}"
        assert got.shape == sim.outputs.shape
        diff = np.nonzero((got != sim.outputs.astype(object)).any(axis=1))[0]
        assert diff.size == 0, f"{exe.name}: {diff.size} rows differ, first {diff[0]}: {got[diff[0]]} vs {sim.outputs[diff[0]]}"
    # the generated project's own testbench data passes in its folder, with the default arguments
    for exe in (b.hls_exe, b.ref_exe):
        _, err, rc = run_tb(exe, b.dir / "tb_inputs.txt", b.dir / "tb_expected.txt")
        assert rc == 0, err


@pytest.mark.parametrize("cfg", [_param(c) for c in CONFIGS if not c.stress])
def test_cosim_within_certified_bound(cfg: Cfg, builds):
    """Generated code's outputs (= simulator's, checked above) are within the certified bound of the real network."""
    b: Built = builds[cfg.id].result()
    qnet = b.analysis.qnet
    sim = simulate(qnet, b.mant)
    y_q = sim.outputs_float()
    y_real = b.problem.network.forward_float(b.x)  # layer-input units: no normalization here
    bounds = np.array([float(e) for e in b.analysis.output_errors])
    slack = 1e-9 * (1.0 + np.abs(y_real))  # float64 evaluation of the real network
    err = np.abs(y_q - y_real)
    worst = (err - bounds[None, :] - slack).max()
    assert worst <= 0, f"observed error exceeds the certified bound by {worst}"
    # the bound is not vacuous: it is within a sane factor of what is observed
    assert np.isfinite(bounds).all()


def test_cosim_covers_the_required_matrix():
    default = [c for c in CONFIGS if not c.slow]
    networks = {c.network for c in default}
    assert len(networks) >= 10
    assert {c.rounding for c in default} == {TRN, RND}
    assert {c.overflow for c in default} == {WRAP, SAT}
    assert any(c.per_neuron for c in default) and any(not c.per_neuron for c in default)
    assert any("tanh" in c.network or "sigmoid" in c.network for c in default)
    assert any(c.network.startswith("acasxu") for c in default)
    assert all(c.n_inputs >= 1000 for c in CONFIGS)


def test_per_neuron_configs_really_mix_formats(builds):
    for c in CONFIGS:
        if c.per_neuron and not c.slow and c.id in builds:
            b = builds[c.id].result()
            assert any(len(set(lf.output)) > 1 and len(set(lf.weight)) > 1 for lf in b.design.layers), c.id
            # several groups per layer, some of them interleaved (index arrays)
            src = (b.dir / f"{b.top}.cpp").read_text()
            assert "_G1: for" in src and ("static const int nL" in src or c.classes is None), c.id


def test_int128_path_is_used(builds):
    c = next(c for c in CONFIGS if "int128" in c.id)
    if c.id not in builds:
        pytest.skip("not selected")
    src = (builds[c.id].result().dir / f"{builds[c.id].result().top}_ref.c").read_text()
    assert "vq_i128 acc" in src or "vq_u128 sum" in src
