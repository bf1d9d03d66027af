"""Branch and bound on the error bound (`prove --split N [--branching strong]`) and its
checkable certificates: the certificate records the bisection tree and every leaf's
claims; the independent checker replays the tree (the leaves cover the domain, every
grid point of it for fixed-point inputs) and re-derives every leaf. A missing leaf, a
gap in the cover, a leaf claim tighter than derivable and a combined claim tighter
than the worst leaf are rejected. The split bounds hold on bit-exact simulation, the
partition is the same twice and on two processes."""

from __future__ import annotations

import copy
import io
import json
from fractions import Fraction
from pathlib import Path

import pytest

from soundness_harness import check_outputs_with_search
from test_cli_prove import PENDULUM, ROOT, TINY, run  # the examples and the CLI runner of the prove tests
from verifq.analysis.split import analyse_split
from verifq.analysis.wide import wide_uniform_analysis, without_error_requirement
from verifq.certificate import checker
from verifq.certificate.writer import build_certificate, dumps
from verifq.engine import PoolEngine, SerialEngine
from verifq.language import load_problem_and_design
from verifq.language.benchmark import problem_from_benchmark

NETWORKS = ROOT / "specs" / "networks"
_CACHE: dict = {}


def _split(name="aster_ACC5NN", frac=6, leaves=12, fixed=False, branching="smear", alpha_iters=None):
    """A uniform coarse design of a benchmark network, analysed on `leaves` boxes (cached per test run)."""
    key = (name, frac, leaves, fixed, branching, alpha_iters)
    if key not in _CACHE:
        problem = without_error_requirement(problem_from_benchmark(NETWORKS / f"{name}.json"))
        a = wide_uniform_analysis(problem, frac, fixed_inputs=fixed)
        s = analyse_split(a.problem, a.design, leaves, goal="tighten", branching=branching, alpha_iters=alpha_iters)
        assert s.proved and len(s.leaves) == leaves
        _CACHE[key] = (a, s, build_certificate(s))
    return _CACHE[key]


def _check(cert: dict, tmp_path: Path) -> tuple[int, str]:
    path = tmp_path / "cert.json"
    path.write_text(dumps(cert))
    out, err = io.StringIO(), io.StringIO()
    code = checker.check_file(path, out=out, err=err)
    return code, out.getvalue().strip().splitlines()[-1]


def _leaf_node(cert, k):
    return next(i for i, n in enumerate(cert["split"]["tree"]) if n.get("leaf") == k)


def _parent(cert, i):
    return next(p for p, n in enumerate(cert["split"]["tree"]) if i in n.get("children", ()))


# ---------------------------------------------------------------- valid certificates
def test_split_certificate_of_a_real_network_is_valid_and_lists_every_leaf(tmp_path):
    _, s, cert = _split()
    assert cert["analysis"]["certified_with"] == {"range_method": "symbolic", "error_method": "differential", "split": 12}
    assert len(cert["split"]["leaves"]) == 12 and sum("leaf" in n for n in cert["split"]["tree"]) == 12
    assert all(lc["range_rule"] == "split" for lc in cert["claims"]["layers"])
    assert all(lc["hints"]["errors"] for leaf in cert["split"]["leaves"] for lc in leaf["claims"]["layers"][1:])
    path = tmp_path / "c.json"
    path.write_text(dumps(cert))
    out, err = io.StringIO(), io.StringIO()
    assert checker.check_file(path, verbose=True, out=out, err=err) == 0
    lines = out.getvalue().splitlines()
    assert lines[-1] == "VALID"
    assert sum(line.startswith("  ok  split leaf ") for line in lines) == 12
    assert any("split tree: 12 leaves cover the domain" in line for line in lines)
    assert "split certificate: 12 boxes" in err.getvalue() and "worst box" in err.getvalue()
    assert [Fraction(b) for b in cert["verdict"]["output_error_bounds"]] == list(s.output_errors)


def test_prove_split_cert_is_rechecked_valid_by_verifq_check(capsys, tmp_path):
    """A real spec (the pendulum ONNX controller) at a bound only the split analysis proves: the CLI writes a
    split certificate (no fallback note) and `verifq check` re-derives it: VALID."""
    from verifq.cli.main import main

    text = PENDULUM.read_text().replace("require error <= 1e-3", "require error <= 8.5e-5")
    spec = tmp_path / "tight.nnspec"
    spec.write_text(text.replace('"../../specs/', f'"{ROOT}/specs/'))
    cert = tmp_path / "c.json"
    code, out, _ = run(capsys, "prove", spec, "--split", "16", "--cert", cert, "--errors", "first_order", "--quiet")
    assert code == 0, out
    assert "note:" not in out and "split     " in out and "worst box" in out
    doc = json.loads(cert.read_text())
    assert doc["analysis"]["certified_with"]["error_method"] == "first_order" and "split" in doc
    capsys.readouterr()
    assert main(["check", str(cert)]) == 0
    assert capsys.readouterr().out.strip() == "VALID"


def test_a_gzip_certificate_is_written_and_checked_like_the_plain_one(tmp_path):
    from verifq.certificate.writer import write_certificate

    _, s, _ = _split()
    plain, packed = tmp_path / "c.json", tmp_path / "c.json.gz"
    write_certificate(plain, s)
    write_certificate(packed, s)
    assert packed.read_bytes()[:2] == b"\x1f\x8b" and packed.stat().st_size * 4 < plain.stat().st_size
    out = io.StringIO()
    assert checker.check_file(packed, out=out, err=io.StringIO()) == 0 and out.getvalue().strip() == "VALID"
    (tmp_path / "cut.json.gz").write_bytes(packed.read_bytes()[:200])
    assert checker.check_file(tmp_path / "cut.json.gz", out=io.StringIO(), err=io.StringIO()) == 2


def test_standalone_checker_files_check_a_split_certificate(tmp_path):
    """The checker files, copied on their own (report.CHECKER_FILES), check a split certificate."""
    import shutil
    import subprocess
    import sys

    from verifq.certificate import report

    src = Path(report.__file__).resolve().parent
    for f in report.CHECKER_FILES:
        shutil.copy(src / f, tmp_path / f)
    (tmp_path / "c.json").write_text(dumps(_split()[2]))
    r = subprocess.run([sys.executable, "-I", str(tmp_path / "checker.py"), "c.json"], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "VALID", r.stdout + r.stderr


def test_fixed_point_inputs_split_into_disjoint_grid_runs_and_check_valid(tmp_path):
    _, s, cert = _split("aster_SmallNN", 10, 10, fixed=True)
    gaps = [n for n in cert["split"]["tree"] if "dim" in n and Fraction(n["right_lo"]) > Fraction(n["left_hi"])]
    assert gaps  # grid runs, not closed halves
    assert _check(cert, tmp_path) == (0, "VALID")


def test_report_shows_the_leaf_count_and_the_worst_leaf(tmp_path):
    from verifq.certificate.report import build_report

    _, s, cert = _split()
    path = tmp_path / "c.json"
    path.write_text(dumps(cert))
    written = build_report(path, tmp_path / "report", samples=20)
    md = written.markdown.read_text()
    assert written.valid and "bisected into 12 boxes" in md and "Worst box" in md


# ---------------------------------------------------------------- tampering
def test_a_missing_leaf_is_rejected(tmp_path):
    cert = copy.deepcopy(_split()[2])
    k = len(cert["split"]["leaves"]) - 1
    i = _leaf_node(cert, k)
    p = _parent(cert, i)
    cert["split"]["tree"][p]["children"] = [None if c == i else c for c in cert["split"]["tree"][p]["children"]]
    del cert["split"]["leaves"][k]
    code, line = _check(cert, tmp_path)
    assert code == 1 and line.startswith("INVALID: split tree:") and "left out" in line


def test_a_gap_in_the_cover_is_rejected(tmp_path):
    cert = copy.deepcopy(_split()[2])
    node = next(n for n in cert["split"]["tree"] if "dim" in n)
    node["right_lo"] = str(Fraction(node["right_lo"]) + Fraction(1, 1 << 20))  # real inputs: the halves must meet
    code, line = _check(cert, tmp_path)
    assert code == 1 and line.startswith("INVALID: split tree:") and "gap" in line


def test_a_skipped_grid_point_is_rejected(tmp_path):
    cert = copy.deepcopy(_split("aster_SmallNN", 10, 10, fixed=True)[2])
    node = next(n for n in cert["split"]["tree"] if "dim" in n and Fraction(n["right_lo"]) > Fraction(n["left_hi"]))
    ulp = Fraction(node["right_lo"]) - Fraction(node["left_hi"])
    node["right_lo"] = str(Fraction(node["right_lo"]) + ulp)  # one representable input falls between the halves
    code, line = _check(cert, tmp_path)
    assert code == 1 and line.startswith("INVALID: split tree:") and "uncovered" in line


def test_a_leaf_domain_other_than_the_trees_box_is_rejected(tmp_path):
    cert = copy.deepcopy(_split()[2])
    leaf = cert["split"]["leaves"][3]
    lo, hi = (Fraction(v) for v in leaf["domain"][0])
    leaf["domain"][0][1] = str(hi - (hi - lo) / 3)  # claims for a smaller box than the tree gives it
    code, line = _check(cert, tmp_path)
    assert code == 1 and line.startswith("INVALID: split leaf 3:") and "tree's box" in line


def test_a_leaf_claim_tighter_than_derivable_is_rejected(tmp_path):
    cert = copy.deepcopy(_split()[2])
    last = cert["split"]["leaves"][5]["claims"]["layers"][-1]
    last["err_out"][0] = str(Fraction(last["err_out"][0]) / 2)
    code, line = _check(cert, tmp_path)
    assert code == 1 and line.startswith(f"INVALID: split leaf 5 layer {len(cert['claims']['layers'])} errors:")


def test_a_combined_claim_tighter_than_the_worst_leaf_is_rejected(tmp_path):
    cert = copy.deepcopy(_split()[2])
    worst = max(Fraction(leaf["claims"]["layers"][-1]["err_out"][0]) for leaf in cert["split"]["leaves"])
    lower = str(worst * (1 - Fraction(1, 1000)))
    cert["claims"]["layers"][-1]["err_out"][0] = lower
    cert["verdict"]["output_error_bounds"][0] = lower
    code, line = _check(cert, tmp_path)
    assert code == 1 and line.startswith("INVALID: split hull:") and "tighter than the leaves" in line


def test_a_combined_range_narrower_than_the_leaves_is_rejected(tmp_path):
    cert = copy.deepcopy(_split()[2])
    layer = cert["claims"]["layers"][1]
    layer["pre_hi"][0] = str(Fraction(layer["pre_hi"][0]) - 1)
    code, line = _check(cert, tmp_path)
    assert code == 1 and line.startswith("INVALID: split hull:")


def test_the_whole_box_claims_are_rederived_and_needed_where_they_tighten_the_hull(tmp_path):
    # with DeepPoly's 0|1 slopes the unsplit box is tighter than the leaves' hull on some claim
    # (with optimized slopes it is not, on this network)
    cert = copy.deepcopy(_split(alpha_iters=0)[2])
    assert "whole_box" in cert["split"]
    tampered = copy.deepcopy(cert)
    last = tampered["split"]["whole_box"]["layers"][-1]
    last["err_out"][0] = str(Fraction(last["err_out"][0]) / 2)
    code, line = _check(tampered, tmp_path)
    assert code == 1 and line.startswith("INVALID: split whole layer")
    del cert["split"]["whole_box"]
    code, line = _check(cert, tmp_path)
    assert code == 1 and line.startswith("INVALID: split hull:")


def _integer_bits(lo: Fraction, hi: Fraction, frac: int) -> int:
    """The fewest integer bits of a signed format with `frac` fractional bits holding [lo, hi]."""
    i = -frac
    while not (-Fraction(2) ** (i - 1) <= lo and hi <= Fraction(2) ** (i - 1) - Fraction(1, 2 ** frac)):
        i += 1
    return i


def test_only_the_combined_claims_must_fit_the_formats_not_the_whole_boxs_own(tmp_path):
    """An accumulator narrowed to the integer bits the combined claims need, fewer than the whole
    box's own (looser) range needs: the split proves the design, the whole box alone does not, and
    the certificate, which records the whole box's claims, is VALID. The boxes' own claims assume no
    overflow; the combined claims fitting proves that, layer by layer (checker_split.py).
    (`synth --split` met this: the checker refused a design `prove --split` had proved.)"""
    from dataclasses import replace

    from verifq.fixedpoint.format import FixedFormat
    from verifq.numeric import scaled

    a, s, cert = _split(alpha_iters=0)
    assert "whole_box" in cert["split"]
    root = s.split_info["root"]
    design = None
    for L, (own, combined) in enumerate(zip(root.layers, s.layers)):
        for j, f in enumerate(a.design.layers[L].accum):
            need = [_integer_bits(scaled.to_fraction(la.errors.acc_lo[j]), scaled.to_fraction(la.errors.acc_hi[j]),
                                  f.frac_bits) for la in (own, combined)]
            if need[0] > need[1] and design is None:
                narrow = FixedFormat(f.width - f.integer_bits + need[1], need[1], f.signed)  # fractional bits kept
                accum = a.design.layers[L].accum[:j] + (narrow,) + a.design.layers[L].accum[j + 1:]
                layers = list(a.design.layers)
                layers[L] = replace(layers[L], accum=accum)
                design = replace(a.design, layers=tuple(layers))
    assert design is not None
    split = analyse_split(a.problem, design, 12, goal="tighten", alpha_iters=0)
    assert split.proved
    assert any(v.kind == "overflow" for v in split.split_info["root"].violations)  # the whole box alone: no proof
    cert = build_certificate(split)
    assert "whole_box" in cert["split"]
    assert _check(cert, tmp_path) == (0, "VALID")


def test_a_node_reached_twice_is_rejected(tmp_path):
    cert = copy.deepcopy(_split()[2])
    tree = cert["split"]["tree"]
    node = next(n for n in tree if "dim" in n and "leaf" in tree[n["children"][0]])
    node["children"][1] = node["children"][0]  # one leaf node for both halves (and its other half unreached)
    code, line = _check(cert, tmp_path)
    assert code == 1 and line.startswith("INVALID: split tree:") and "twice" in line


# ---------------------------------------------------------------- soundness and determinism
def test_split_bounds_hold_on_bit_exact_simulation_whole_and_per_leaf():
    _, s, _ = _split()
    check_outputs_with_search(s, n_random=2000)
    for leaf in s.leaves[:4]:  # each leaf's own (smaller) bound on its own box
        check_outputs_with_search(leaf, n_random=300)


def test_strong_branching_is_never_looser_than_one_box_and_records_its_work():
    a, s, cert = _split(leaves=8, branching="strong")
    assert all(x <= y for x, y in zip(s.output_errors, a.output_errors))
    assert s.split_info["analyses"] > 2 * 7  # up to 6 box analyses per bisection, not 2
    assert cert["split"]["branching"] == "strong"
    check_outputs_with_search(s, n_random=1000)


def _fingerprint(a) -> str:
    from verifq.analysis.report import prove_json

    tree = [{k: v for k, v in n.items()} for n in a.split_info["tree"]]
    return json.dumps([prove_json("s", a), [leaf.problem.domain for leaf in a.leaves], tree], default=str)


@pytest.mark.parametrize("branching", ["smear", "strong"])
def test_branch_and_bound_is_deterministic_and_the_same_on_two_processes(branching):
    problem, design = load_problem_and_design(str(PENDULUM), None, "fixed<14,3>")
    first = analyse_split(problem, design, 10, goal="tighten", branching=branching, engine=SerialEngine())
    again = analyse_split(problem, design, 10, goal="tighten", branching=branching, engine=SerialEngine())
    assert _fingerprint(first) == _fingerprint(again)
    with PoolEngine(2) as pool:
        pooled = analyse_split(problem, design, 10, goal="tighten", branching=branching, engine=pool)
    assert _fingerprint(pooled) == _fingerprint(first)
    assert first.split_info["analyses"] == pooled.split_info["analyses"]


def test_the_anytime_bound_is_never_looser_than_one_box_and_ends_at_the_result():
    problem, design = load_problem_and_design(str(PENDULUM), None, "fixed<14,3>")
    seen = []
    a = analyse_split(problem, design, 12, goal="tighten", observer=lambda n, k, b: seen.append((n, max(b))))
    assert [n for n, _ in seen] == list(range(2, 13))
    assert all(b <= max(a.split_info["root"].output_errors) for _, b in seen)
    assert seen[-1][1] == max(a.output_errors)


def test_unknown_branching_is_a_user_error(capsys):
    with pytest.raises(SystemExit) as exc:
        run(capsys, "prove", TINY, "--split", "4", "--branching", "best")
    assert exc.value.code == 2 and "--branching" in capsys.readouterr().err
