"""Certificates and the independent checker: writing, checking, the CLI,
`--spec`, generated-code hashes, the checker's independence (imports, size),
its rigorous tanh/sigmoid bounds, and agreement with the analysis on random
problems."""

from __future__ import annotations

import ast
import hashlib
import io
import json
import math
import subprocess
import sys
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from strategies import draw_box, draw_network, tables
from test_certificate_cases import CASES, NETWORKS, ROOT, analysis_of, certificate_of
from verifq.analysis.prove import analyse
from verifq.certificate import checker, checker_core
from verifq.certificate.writer import CertificateError, build_certificate, dumps, write_certificate
from verifq.certificate.writer import problem_content
from verifq.cli.main import main as cli_main
from verifq.errors import UserError
from verifq.fixedpoint.design import Design, LayerFormats
from verifq.fixedpoint.format import FixedFormat, Overflow, Rounding
from verifq.network.ir import Activation
from verifq.problem import Implementation, Problem

CHECKER = ROOT / "verifq" / "certificate" / "checker.py"


def run_check(path, *extra) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = cli_main(["check", str(path), *extra])
    finally:
        sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


def write(tmp_path, cert, name="c.json") -> Path:
    p = tmp_path / name
    p.write_text(dumps(cert), encoding="utf-8")
    return p


# ---------------------------------------------------------------- valid certificates
@pytest.mark.parametrize("name", sorted(CASES))
def test_certificates_of_real_networks_are_valid(name, tmp_path):
    path = tmp_path / f"{name}.cert.json"
    write_certificate(path, analysis_of(name))
    code, out, _ = run_check(path, "--verbose")
    assert code == 0, out
    lines = out.strip().splitlines()
    assert lines[-1] == "VALID"
    steps = [l.split(":")[0].strip() for l in lines[:-1]]
    n_layers = len(analysis_of(name).layers)
    for must in ("ok  schema", "ok  network hash", "ok  problem hash", "ok  design hash", "ok  inputs",
                 f"ok  layer {n_layers} errors", "ok  requirements", "ok  verdict"):
        assert must in steps


def test_certificate_content_is_exact_and_canonical(tmp_path):
    cert = certificate_of("acc3_truncate_wrap")
    path = write_certificate(tmp_path / "c.json", analysis_of("acc3_truncate_wrap")) and tmp_path / "c.json"
    doc = json.loads(path.read_text(), parse_float=lambda s: pytest.fail(f"float literal {s} in a certificate"))
    assert doc["format"] == "verifq-certificate" and doc["schema_version"] == 1
    # the network hash is the sha256 of the canonical JSON of the content, computed here independently
    content = doc["network"]["content"]
    canon = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    assert hashlib.sha256(canon).hexdigest() == doc["network"]["sha256"]
    # weights are the network's exact values
    net = analysis_of("acc3_truncate_wrap").problem.network
    assert [Fraction(w) for w in content["layers"][0]["weights"][3]] == list(net.layers[0].weights[3])
    # every claim is the analysis's exact value (scaled int / 2^128)
    a = analysis_of("acc3_truncate_wrap")
    got = [Fraction(v) for v in doc["claims"]["layers"][1]["err_out"]]
    assert got == [Fraction(int(v), 1 << 128) for v in a.layers[1].errors.err_out]
    assert [Fraction(v) for v in doc["verdict"]["output_error_bounds"]] == list(a.output_errors)
    assert cert["claims"]["layers"][0]["range_rule"] == "interval"
    assert not list(tmp_path.glob(".*.tmp")), "atomic write left a temporary file"


def test_unproved_analysis_is_not_certified():
    a = analysis_of("acc3_truncate_wrap")
    p = a.problem
    strict = Problem(p.spec_path, p.network, p.domain, (Fraction(1, 10**12),), True, p.implementation, p.design)
    with pytest.raises(CertificateError, match="only a successful proof"):
        build_certificate(analyse(strict, strict.design))


def test_wider_claims_are_accepted(tmp_path):
    """Claims may be looser than derived: take every claim from the analysis of a
    larger domain and certify the original domain with them."""
    for name in ("acc3_truncate_wrap", "tanh_product_rounding", "fixed_inputs"):
        a = analysis_of(name)
        p = a.problem
        wide = tuple((lo - (hi - lo) / 20 - Fraction(1, 100), hi + (hi - lo) / 20 + Fraction(1, 100)) for lo, hi in p.domain)
        pw = Problem(p.spec_path, p.network, wide, p.max_error, True, p.implementation, p.design)
        aw = analyse(pw, p.design)
        assert aw.proved
        cert = build_certificate(aw)
        narrow = certificate_of(name)
        cert["domain"], cert["problem_sha256"] = narrow["domain"], narrow["problem_sha256"]
        assert cert["claims"] != narrow["claims"]
        checker.check(cert)  # VALID
        assert run_check(write(tmp_path, cert))[0] == 0


# ---------------------------------------------------------------- exit codes and messages
def test_invalid_and_malformed_exit_codes(tmp_path):
    cert = certificate_of("testnn_nearest_saturate_unsigned")
    bad = json.loads(json.dumps(cert))
    bad["claims"]["layers"][0]["err_acc"][1] = "0"
    code, out, _ = run_check(write(tmp_path, bad))
    assert code == 1 and out.startswith("INVALID: layer 1 errors: neuron 1: claimed accumulator error")
    assert len(out.strip().splitlines()) == 1

    del bad["claims"]["layers"][0]["err_acc"]
    code, out, _ = run_check(write(tmp_path, bad))
    assert code == 2 and "claims.layers[0].err_acc: missing" in out

    (tmp_path / "garbage.json").write_text("{not json")
    code, out, _ = run_check(tmp_path / "garbage.json")
    assert code == 2 and out.startswith("INVALID: unreadable or malformed certificate") and "not JSON" in out

    code, out, _ = run_check(tmp_path / "absent.json")
    assert code == 2 and "cannot read" in out

    text = dumps(cert).replace('"schema_version": 1', '"schema_version": 2')
    (tmp_path / "v2.json").write_text(text)
    code, out, _ = run_check(tmp_path / "v2.json")
    assert code == 2 and "unsupported schema_version 2" in out

    # an inexact (float) number anywhere is malformed
    text = dumps(cert).replace('"err": ["', '"err": [0.5, "', 1)
    (tmp_path / "float.json").write_text(text)
    code, out, _ = run_check(tmp_path / "float.json")
    assert code == 2 and "inexact JSON number 0.5" in out

    # duplicate keys could show a reader one value and the checker another
    text = dumps(cert).replace('"schema_version": 1,', '"schema_version": 1, "schema_version": 1,', 1)
    (tmp_path / "dup.json").write_text(text)
    code, out, _ = run_check(tmp_path / "dup.json")
    assert code == 2 and "duplicate key 'schema_version'" in out

    huge = json.loads(json.dumps(cert))
    huge["formats"]["inputs"][0] = "fixed<100000000,1>"
    code, out, _ = run_check(write(tmp_path, huge, "huge.json"))
    assert code == 2 and "formats.inputs[0]" in out


def test_standalone_checker_script(tmp_path):
    """checker.py runs on its own with the standard library (no verifq on the path)."""
    path = tmp_path / "c.json"
    write_certificate(path, analysis_of("inline_small_magnitudes"))
    r = subprocess.run([sys.executable, "-I", str(CHECKER), str(path), "-v"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1] == "VALID"


# ---------------------------------------------------------------- --spec
def _spec_text(net_path: Path, bound="1e-3", rounding="nearest") -> str:
    return f"""network net = load "{net_path}"
input x[2]
domain {{
  x[0] in [-10, 10]
  x[1] in [-5, 5]
}}
require error <= {bound} on all outputs
require no overflow
implementation {{
  rounding = {rounding}
  overflow = saturate
  max word = 64
}}
formats {{
  default = fixed<32, 12>
  accum = fixed<64, 24>
}}
"""


def test_spec_option(tmp_path):
    net_path = NETWORKS / "aster_TestNN.json"
    if not net_path.exists():
        pytest.skip("specs/networks not present")
    from verifq.language import load_spec

    spec = tmp_path / "t.nnspec"
    spec.write_text(_spec_text(net_path, "1e-2"))
    problem = load_spec(spec)
    a = analyse(problem, problem.design)
    assert a.proved
    cert_path = tmp_path / "t.cert.json"
    cert = write_certificate(cert_path, a)
    assert cert["spec"]["text"] == spec.read_text()
    assert run_check(cert_path, "--spec", str(spec))[0] == 0

    for i, (text, what) in enumerate([
        (_spec_text(net_path, "1e-3"), "requirements"),
        (_spec_text(net_path, "1e-2", "truncate"), "implementation"),
        (_spec_text(net_path, "1e-2").replace("x[1] in [-5, 5]", "x[1] in [-5, 6]"), "domain"),
        (_spec_text(NETWORKS / "aster_SmallNN.json", "1e-2"), "different network"),
        (_spec_text(net_path, "1e-2").replace("accum = fixed<64, 24>", "accum = fixed<64, 25>"), "formats"),
    ]):
        other = tmp_path / f"other{i}.nnspec"
        other.write_text(text)
        code, out, _ = run_check(cert_path, "--spec", str(other))
        assert code == 1 and out.startswith("INVALID: spec:") and what in out, out

    bad = tmp_path / "bad.nnspec"
    bad.write_text("network net = load \"nowhere.json\"\n")
    assert run_check(cert_path, "--spec", str(bad))[0] == 2


def test_problem_content_matches_writer():
    for name in CASES:
        a = analysis_of(name)
        cert = certificate_of(name)
        content = problem_content(a.problem, a.design)
        for key in ("domain", "requirements", "implementation", "formats"):
            assert content[key] == cert[key], key
        assert checker.sha256_of(content["network"]) == cert["network"]["sha256"]


# ---------------------------------------------------------------- generated code
def test_generated_code_hashes(tmp_path):
    code_file = tmp_path / "net.cpp"
    code_file.write_text("// generated\nint main() { return 0; }\n")
    digest = hashlib.sha256(code_file.read_bytes()).hexdigest()
    path = tmp_path / "c.json"
    write_certificate(path, analysis_of("inline_small_magnitudes"),
                      generated_code={"net.cpp": digest, "net_tb.cpp": "0" * 64})
    code, out, err = run_check(path, "--verbose")
    assert code == 1 and "net_tb.cpp is bound by the certificate but not found" in out
    code, out, err = run_check(path, "--no-code")
    assert code == 0 and "generated code not checked" in err
    (tmp_path / "net_tb.cpp").write_text("x")
    code, out, _ = run_check(path)
    assert code == 1 and out.startswith("INVALID: generated code: net_tb.cpp: sha256")
    (tmp_path / "net_tb.cpp").unlink()

    code_file.write_text("// edited by hand\n")
    code, out, _ = run_check(path)
    assert code == 1 and out.startswith("INVALID: generated code: net.cpp")

    elsewhere = tmp_path / "gen"
    elsewhere.mkdir()
    (elsewhere / "net.cpp").write_text("// generated\nint main() { return 0; }\n")
    assert run_check(path, "--code", str(elsewhere))[0] == 1  # net_tb.cpp is not there either
    (elsewhere / "net_tb.cpp").write_text("")
    cert = json.loads(path.read_text())
    cert["generated_code"]["net_tb.cpp"] = hashlib.sha256(b"").hexdigest()
    rebound = write(tmp_path, cert, "rebound.json")
    assert run_check(rebound, "--code", str(elsewhere))[0] == 0
    assert run_check(rebound, "--code", str(tmp_path / "nowhere"))[0] == 2
    (elsewhere / "manifest.json").write_text(json.dumps({"files": {"net.cpp": "", "net_tb.cpp": "", "extra.cpp": ""}}))
    code, out, _ = run_check(rebound, "--code", str(elsewhere))
    assert code == 1 and "extra.cpp listed in" in out  # a binding deleted from the certificate

    cert = json.loads(path.read_text())
    cert["generated_code"] = {"../escape.cpp": digest}
    assert run_check(write(tmp_path, cert, "esc.json"))[0] == 2


# ---------------------------------------------------------------- independence of the checker
ALLOWED_IMPORTS = {"__future__", "argparse", "hashlib", "json", "re", "sys", "fractions", "math", "pathlib",
                   "copy", "gzip", "io", "zlib", "itertools", "operator", "bisect"}


CHECKER_SIBLINGS = {"checker_tight", "checker_core", "checker_diff", "checker_integer", "checker_integer_rules",
                    "checker_integer_symbolic", "checker_integer_box", "checker_split"}


@pytest.mark.parametrize("path, max_lines", [(CHECKER, 800), (CHECKER.with_name("checker_tight.py"), 450),
                                             (CHECKER.with_name("checker_core.py"), 300),
                                             (CHECKER.with_name("checker_integer.py"), 200),
                                             (CHECKER.with_name("checker_integer_rules.py"), 250),
                                             (CHECKER.with_name("checker_integer_symbolic.py"), 300),
                                             (CHECKER.with_name("checker_integer_box.py"), 250),
                                             (CHECKER.with_name("checker_diff.py"), 250),
                                             (CHECKER.with_name("checker_split.py"), 250)])
def test_checker_imports_only_the_standard_library_and_is_small(path, max_lines):
    source = path.read_text(encoding="utf-8")
    assert len(source.splitlines()) < max_lines
    tree = ast.parse(source)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = {a.name.split(".")[0] for a in node.names}
            imported |= names - CHECKER_SIBLINGS  # the checker's own modules (script fallback)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # only the checker's sibling modules
                assert node.level == 1 and (node.module in ("checker_core", "checker_integer", "checker_integer_rules",
                                                                       "checker_integer_symbolic", "checker_integer_box", None)) and \
                    {a.name for a in node.names} <= ({"checker_tight", "checker_core", "checker_diff", "checker_split"} if node.module is None else
                                                      {a.name for a in node.names}), f"relative import in the checker at line {node.lineno}"
                continue
            if node.module in CHECKER_SIBLINGS:  # script fallback
                continue
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("__import__", "exec", "eval"):
            pytest.fail(f"dynamic import/exec in the checker at line {node.lineno}")
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS
    assert all(m in sys.stdlib_module_names for m in imported)
    for banned in ("verifq", "numpy", "z3", "highspy", "gurobipy", "flint", "decimal"):
        assert banned not in imported


# ---------------------------------------------------------------- rigorous tanh / sigmoid
def _ref(act: str, x: Fraction) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 120
        xd = Decimal(x.numerator) / Decimal(x.denominator)
        if act == "tanh":
            e = (2 * xd).exp()
            return (e - 1) / (e + 1)
        return 1 / (1 + (-xd).exp())


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["tanh", "sigmoid"]), st.fractions(min_value=-320, max_value=320, max_denominator=1 << 40))
def test_activation_bounds_enclose_the_true_value(act, x):
    lo, hi = checker.act_bounds(act, x, False), checker.act_bounds(act, x, True)
    ref = _ref(act, x)
    with localcontext() as ctx:
        ctx.prec = 120
        tol = Decimal(2) ** -100
        assert Decimal(lo.numerator) / Decimal(lo.denominator) <= ref + Decimal(10) ** -110
        assert Decimal(hi.numerator) / Decimal(hi.denominator) >= ref - Decimal(10) ** -110
        if abs(x) <= 300:
            assert hi - lo <= Fraction(1, 1 << 150)
        else:
            assert Decimal(hi.numerator) / Decimal(hi.denominator) - Decimal(lo.numerator) / Decimal(lo.denominator) <= tol


def test_exp_bounds():
    for x in (Fraction(0), Fraction(1, 3), Fraction(1), Fraction(37, 2), Fraction(600)):
        lo, hi = checker_core.exp_bounds(x)
        assert lo <= hi and hi - lo <= hi / (1 << 190)
        assert abs(float(lo) - math.exp(float(x))) <= 1e-12 * math.exp(float(x)) if x < 700 else True


# ---------------------------------------------------------------- agreement with the analysis on random problems
@st.composite
def random_problems(draw):
    n_in = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    net = draw_network(draw, n_in, sizes, lambda k: draw(st.sampled_from(list(Activation))))
    layers, prev, box = net.layers, sizes[-1], draw_box(draw, n_in)
    rounding, overflow = draw(st.sampled_from(list(Rounding))), draw(st.sampled_from(list(Overflow)))
    fixed = draw(st.booleans())

    def fmt(min_i, max_i, signed=True):  # mostly wide enough to prove; unsigned where values may be >= 0
        f, i = draw(st.integers(0, 16)), draw(st.integers(min_i, max_i))
        return FixedFormat(f + i, i, signed)

    lf = [LayerFormats(tuple(fmt(2, 5) for _ in range(l.n_out)), tuple(fmt(3, 5) for _ in range(l.n_out)),
                       tuple(fmt(8, 12) for _ in range(l.n_out)),
                       tuple(fmt(5, 9, l.activation in (Activation.LINEAR, Activation.TANH) or draw(st.booleans()))
                             for _ in range(l.n_out)),
                       draw(tables()) if l.activation in (Activation.TANH, Activation.SIGMOID) else None) for l in layers]
    design = Design(tuple(fmt(3, 6) for _ in range(n_in)), tuple(lf), rounding, overflow, fixed)
    bounds = tuple(draw(st.sampled_from([None, Fraction(1, 2), Fraction(5)])) for _ in range(prev))
    return Problem("random", net, tuple(box), bounds, True, Implementation(rounding, overflow, fixed), design)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(random_problems())
def test_checker_accepts_whatever_the_analysis_proves(problem):
    """Whatever the interval/l1_local analysis proves, the checker re-derives (random
    networks, all activations, both modes, signed/unsigned, fixed or real inputs)."""
    try:
        a = analyse(problem, problem.design, range_method="interval", error_method="l1_local")
    except UserError:
        assume(False)
        return
    assume(a.proved)
    checker.check(build_certificate(a))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(random_problems())
def test_checker_accepts_whatever_the_tight_analysis_proves(problem):
    """The default analysis (symbolic ranges, the differential error rule) on random networks with
    every activation: its own claims are certified and the checker re-derives them."""
    try:
        a = analyse(problem, problem.design)
    except UserError:
        assume(False)
        return
    assume(a.proved)
    cert = build_certificate(a)
    assert cert["analysis"]["certified_with"] == {"range_method": "symbolic", "error_method": "differential"}
    checker.check(cert)


# ---------------------------------------------------------------- analyses with tighter methods
def test_default_analysis_is_certified_with_its_tight_rules(tmp_path):
    """`analyse` defaults to symbolic ranges and the differential error rule; the checker
    re-derives them (checker_tight.py, checker_diff.py) for ReLU/linear and tanh/sigmoid networks alike."""
    for name in ("tanh_product_rounding", "acc3_truncate_wrap"):
        a = analysis_of(name, True)
        assert (a.range_method, a.error_method) == ("symbolic", "differential")
        cert = build_certificate(a)
        assert cert["analysis"]["proved_with"] == {"range_method": a.range_method, "error_method": a.error_method}
        assert cert["analysis"]["certified_with"] == cert["analysis"]["proved_with"]
        assert cert["claims"]["layers"][0]["range_rule"] == "symbolic"
        assert run_check(write(tmp_path, cert, f"{name}.json"))[0] == 0


def test_claims_only_tighter_methods_prove_are_certified(tmp_path):
    """A requirement only the tighter methods meet (between the tight and the simple bound):
    the tight claims are certified and VALID, for a ReLU and a tanh network."""
    for name in ("acc3_truncate_wrap", "tanh_product_rounding"):
        p = analysis_of(name).problem
        bound = (analysis_of(name, True).output_errors[0] + analysis_of(name).output_errors[0]) / 2
        p2 = Problem(p.spec_path, p.network, p.domain, (bound,) * len(p.max_error), True, p.implementation, p.design)
        a = analyse(p2, p2.design)
        assert a.proved
        cert = build_certificate(a)
        assert cert["claims"]["layers"][0]["range_rule"] == a.range_method
        code, out, _ = run_check(write(tmp_path, cert, f"{name}.json"))
        assert code == 0, out


def test_checker_values_at_zero_are_exact_so_a_zero_range_tanh_slope_of_one_is_accepted():
    """tanh'(0) = 1 exactly: the engine hints the slope interval [1, 1] for a neuron whose
    range is {0}; the checker's derivative bound there must be exactly 1 too (found by hypothesis)."""
    assert checker.act_bounds("tanh", Fraction(0), False) == checker.act_bounds("tanh", Fraction(0), True) == 0
    assert checker.act_bounds("sigmoid", Fraction(0), False) == checker.act_bounds("sigmoid", Fraction(0), True) == Fraction(1, 2)
