"""`verifq codegen`: files, manifest and certificate hashes, determinism, refusal
of unproved designs, the --unverified banner, lookup-table limits, the hls4ml
configuration, and the exactness of the emitted constants."""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from test_codegen_helpers import auto_design, compile_hls, compile_ref, load_net, missing_tools, raw_domain, run_tb
from verifq.cli.main import main
from verifq.codegen.c_reference import generate_c_reference
from verifq.codegen.emit import build_plan, dyadic_literal, join_formats
from verifq.fixedpoint.format import narrowest_format as format_for_range
from verifq.errors import UserError
from verifq.fixedpoint.design import Design, LayerFormats
from verifq.fixedpoint.format import FixedFormat

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "examples" / "01_inline_tiny" / "tiny.nnspec"
ACC3_SPEC = ROOT / "examples" / "hls_acc3" / "acc3.nnspec"
ACC3_NET = ROOT / "specs" / "networks" / "aster_ACC3NN.json"
REGEN = ("regenerate it: verifq prove examples/hls_acc3/acc3.nnspec --cert examples/hls_acc3/acc3.cert.json && "
         "verifq codegen examples/hls_acc3/acc3.nnspec -o examples/hls_acc3 --cert examples/hls_acc3/acc3.cert.json")


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_codegen_writes_project_with_manifest_and_is_deterministic(tmp_path, capsys):
    out1, out2 = tmp_path / "a", tmp_path / "b"
    assert main(["codegen", str(TINY), "-o", str(out1)]) == 0
    assert main(["codegen", str(TINY), "-o", str(out2), "--top", "tiny"]) == 0
    manifest = json.loads((out1 / "manifest.json").read_text())
    assert manifest["proved"] is True
    files = manifest["files"]
    for name in ("tiny.h", "tiny.cpp", "tiny_tb.cpp", "tiny_ref.h", "tiny_ref.c", "tiny_ref_tb.c",
                 "tb_inputs.txt", "tb_expected.txt", "run_hls.tcl", "Makefile"):
        assert name in files
        assert _sha(out1 / name) == files[name]
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes(), f"{name} is not deterministic"
    assert not (out1 / "hls4ml_config.json").exists()  # an inline network: no model for hls4ml to convert
    assert "UNVERIFIED" not in (out1 / "tiny.h").read_text()
    assert "Proved for every input" in (out1 / "tiny.h").read_text()


NARROW_SPEC = """
network acc = load "{net}"
input x[5]
domain {{
  x[0] in [20, 30]
  x[1] in [1.2, 1.8]
  x[2] in [0, 30.5]
  x[3] in [0, 10]
  x[4] in [0, 30.5]
}}
require error <= 1e-3 on all outputs
require no overflow
implementation {{ rounding = nearest  overflow = saturate }}
formats {{
  default = fixed<16, 6>
}}
"""


def test_codegen_refuses_unproved_design_unless_unverified(tmp_path, capsys):
    spec = tmp_path / "narrow.nnspec"
    spec.write_text(NARROW_SPEC.format(net=ACC3_NET))
    out = tmp_path / "out"
    assert main(["codegen", str(spec), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "NOT proved" in err and "--unverified" in err
    assert not out.exists()
    assert main(["codegen", str(spec), "-o", str(out), "--unverified"]) == 0
    err = capsys.readouterr().err
    assert "UNVERIFIED" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["proved"] is False
    top = manifest["top"]
    for name in (f"{top}.h", f"{top}.cpp", f"{top}_ref.c", f"{top}_ref.h", f"{top}_tb.cpp"):
        text = (out / name).read_text()
        assert "UNVERIFIED: verifq could NOT prove this design" in text, name
    assert not (out / "hls4ml_config.json").exists()  # hls4ml is only ever configured for proved designs


def test_codegen_without_formats_is_a_user_error(tmp_path, capsys):
    spec = tmp_path / "noformats.nnspec"
    spec.write_text(NARROW_SPEC.format(net=ACC3_NET).split("formats")[0])
    assert main(["codegen", str(spec), "-o", str(tmp_path / "o")]) == 2
    assert "no formats" in capsys.readouterr().err


def test_codegen_records_hashes_in_certificate_and_check_verifies_them(tmp_path, capsys):
    cert = tmp_path / "tiny.cert.json"
    out = tmp_path / "code"
    assert main(["prove", str(TINY), "--cert", str(cert)]) == 0
    before = json.loads(cert.read_text())
    assert main(["codegen", str(TINY), "-o", str(out), "--cert", str(cert)]) == 0
    after = json.loads(cert.read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert {k: v for k, v in after["generated_code"].items() if k != "manifest.json"} == manifest["files"]
    assert "manifest.json" in after["generated_code"]
    assert {k: v for k, v in after.items() if k != "generated_code"} == {
        k: v for k, v in before.items() if k != "generated_code"}
    capsys.readouterr()
    assert main(["check", str(cert), "--code", str(out)]) == 0
    assert "VALID" in capsys.readouterr().out
    # a second codegen replaces (not appends) the record
    assert main(["codegen", str(TINY), "-o", str(out), "--cert", str(cert), "--top", "renamed"]) == 0
    again = json.loads(cert.read_text())
    assert "renamed.cpp" in again["generated_code"] and "tiny.cpp" not in again["generated_code"]
    # tampering with a generated file is caught by the checker
    f = out / "renamed.cpp"
    f.write_text(f.read_text().replace("acc += p;", "acc -= p;", 1))
    capsys.readouterr()
    assert main(["check", str(cert), "--code", str(out)]) != 0
    assert "renamed.cpp" in capsys.readouterr().out


@pytest.mark.skipif(missing_tools() is not None, reason=f"needs g++/gcc/hls4ml: {missing_tools()}")
def test_example_project_is_current_and_passes_its_testbenches(tmp_path):
    """examples/hls_acc3 holds exactly what codegen generates today, and both testbenches pass."""
    out = tmp_path / "acc3"
    assert main(["codegen", str(ACC3_SPEC), "-o", str(out)]) == 0
    example = ACC3_SPEC.parent
    manifest = json.loads((out / "manifest.json").read_text())
    for name, digest in manifest["files"].items():
        assert (example / name).is_file(), f"examples/hls_acc3/{name} missing: {REGEN}"
        assert _sha(example / name) == digest, f"examples/hls_acc3/{name} is stale: {REGEN}"
    top = manifest["top"]
    for exe in (compile_hls(out, top, "-O0"), compile_ref(out, top)):
        _, err, rc = run_tb(exe, out / "tb_inputs.txt", out / "tb_expected.txt")
        assert rc == 0, err


def test_lut_limit_is_a_clear_user_error():
    net, meta = load_net("reachnn_1_tanh.json")
    problem, design, analysis = auto_design(net, raw_domain(net, meta), fw=10, fa=14, fo=12, fin=8)
    with pytest.raises(UserError) as exc:
        build_plan(analysis.qnet, analysis, top="t", proved=True, lut_limit=1000)
    msg = exc.value.message + " " + (exc.value.hint or "")
    assert "lookup table" in msg and "fewer fractional bits" in msg and "--lut-limit" in msg
    plan = build_plan(analysis.qnet, analysis, top="t", proved=True)  # default limit: fine
    assert all(g.lut is not None for lp in plan.layers for g in lp.groups)


def test_lookup_tables_cover_the_proven_range_with_ideal_values():
    from verifq.fixedpoint.activation import exact_activation_rounded

    net, meta = load_net("reachnn_3_sigmoid.json")
    problem, design, analysis = auto_design(net, raw_domain(net, meta), fw=10, fa=14, fo=7, fin=8)
    plan = build_plan(analysis.qnet, analysis, top="t", proved=True)
    for lp in plan.layers:
        for g in lp.groups:
            f = g.output.frac_bits
            for i in (0, len(g.lut.values) // 2, len(g.lut.values) - 1):
                assert g.lut.values[i] == exact_activation_rounded(lp.activation, g.lut.lo + i, f)
            la = analysis.layers[lp.index - 1]
            for j in g.neurons:  # every value the rounded pre-activation can take is in the table
                lo = Fraction(int(la.ranges.pre_lo[j] - la.errors.err_pre[j]), 1 << 128)
                hi = Fraction(int(la.ranges.pre_hi[j] + la.errors.err_pre[j]), 1 << 128)
                assert g.lut.lo * Fraction(1, 2**f) <= lo + Fraction(1, 2**f)
                assert g.lut.hi * Fraction(1, 2**f) >= hi - Fraction(1, 2**f)


def test_dyadic_literals_are_exact():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        m = int(rng.integers(-(1 << 52), 1 << 52))
        f = int(rng.integers(-20, 70))
        text = dyadic_literal(m, f)
        assert Fraction(text) == Fraction(m) * Fraction(2) ** -f
        assert Fraction(float(text)) == Fraction(text)  # what a C/C++ compiler reads, exactly


def test_format_for_range_is_the_narrowest():
    for lo, hi in [(0, 0), (0, 1), (-1, 0), (-128, 127), (-129, 127), (-128, 128), (3, 1000), (-5, -2)]:
        f = format_for_range(lo, hi, 7)
        assert f.frac_bits == 7 and f.min_int <= lo and hi <= f.max_int
        smaller = FixedFormat(f.width - 1, f.integer_bits - 1, f.signed) if f.width > 1 else None
        if smaller is not None:
            assert not (smaller.min_int <= lo and hi <= smaller.max_int)
    c = join_formats([FixedFormat(8, 2), FixedFormat(6, 4, False), FixedFormat(10, -1)])
    for f in (FixedFormat(8, 2), FixedFormat(6, 4, False), FixedFormat(10, -1)):
        assert c.min_value <= f.min_value and f.max_value <= c.max_value and c.frac_bits >= f.frac_bits


def test_c_reference_goes_multi_limb_beyond_128_bits():
    """Beyond 126 bits the C reference computes on limbs (it used to refuse); groups that fit stay on
    int64/__int128 (tests/test_codegen_wide.py compiles and co-simulates such designs)."""
    net, meta = load_net("aster_InvPendulumNN.json")
    problem, design, analysis = auto_design(net, raw_domain(net, meta), fw=40, fa=100, fo=30, fin=20, acc_extra=40)
    plan = build_plan(analysis.qnet, analysis, top="t", proved=analysis.proved)
    src = generate_c_reference(plan)["t_ref.c"]
    assert "vq_limb acc[" in src and "vq_w_mul(p, wk, xk" in src
    assert "int64_t x[" in generate_c_reference(plan)["t_ref.h"]  # inputs and outputs still fit int64


def test_weights_outside_their_format_cannot_be_emitted():
    net, meta = load_net("aster_InvPendulumNN.json")
    problem, design, analysis = auto_design(net, raw_domain(net, meta), fw=10, fa=14, fo=9, fin=8)
    lf = design.layers[0]
    tiny_w = tuple(FixedFormat(4, -2) for _ in lf.weight)
    bad = Design(design.inputs, (LayerFormats(tiny_w, lf.bias, lf.accum, lf.output),) + design.layers[1:],
                 design.rounding, design.overflow, design.inputs_fixed)
    from verifq.analysis.prove import analyse

    a = analyse(problem, bad)
    with pytest.raises(UserError) as exc:
        build_plan(a.qnet, a, top="t", proved=False)
    assert "does not fit its format" in exc.value.message


@pytest.mark.skipif(missing_tools() is not None, reason=f"needs g++/gcc/hls4ml: {missing_tools()}")
def test_synthesized_per_neuron_design_via_formats_file_cosim(tmp_path):
    """`verifq synth --granularity neuron` -> formats file -> `codegen --formats`: bit-exact on 1,200 inputs."""
    import numpy as np

    from test_codegen_helpers import cosim_inputs, float_rows, write_rows
    from verifq.analysis.prove import analyse
    from verifq.fixedpoint.design_io import load_design
    from verifq.fixedpoint.simulator import quantize_inputs, simulate
    from verifq.language import load_spec

    formats = tmp_path / "tiny_neuron.json"
    assert main(["synth", str(TINY), "--granularity", "neuron", "-o", str(formats), "--quiet"]) == 0
    out = tmp_path / "code"
    assert main(["codegen", str(TINY), "--formats", str(formats), "-o", str(out)]) == 0
    problem = load_spec(TINY)
    design = load_design(formats, problem.network)
    assert len(set(design.inputs)) > 1 or any(len(set(lf.weight)) > 1 for lf in design.layers)
    analysis = analyse(problem, design)
    assert analysis.proved
    x = cosim_inputs(problem, design, 1200)
    mant, _ = quantize_inputs(analysis.qnet, x)
    sim = simulate(analysis.qnet, np.asarray(mant))
    write_rows(out / "in.txt", float_rows(x))
    write_rows(out / "exp.txt", sim.outputs)
    manifest = json.loads((out / "manifest.json").read_text())
    top = manifest["top"]
    for exe in (compile_hls(out, top, "-O0"), compile_ref(out, top)):
        got, err, rc = run_tb(exe, out / "in.txt", out / "exp.txt")
        assert rc == 0, err
        assert (got == sim.outputs.astype(object)).all()
    y_real = problem.network.forward_float(x)
    bound = np.array([float(e) for e in analysis.output_errors])
    assert (np.abs(sim.outputs_float() - y_real) <= bound + 1e-9).all()


def test_formats_file_for_another_network_is_a_user_error(tmp_path, capsys):
    formats = tmp_path / "f.json"
    assert main(["synth", str(TINY), "-o", str(formats), "--quiet"]) == 0
    assert main(["codegen", str(ACC3_SPEC), "--formats", str(formats), "-o", str(tmp_path / "o")]) == 2
    assert "error" in capsys.readouterr().err


def test_example_certificate_checks_with_its_code(capsys):
    cert = ACC3_SPEC.parent / "acc3.cert.json"
    assert main(["check", str(cert), "-v"]) == 0, f"{capsys.readouterr().out[-1500:]}\n{REGEN}"
    out = capsys.readouterr().out
    assert "generated code: 11 files match their certified sha256" in out  # no hls4ml_config.json: a JSON network
