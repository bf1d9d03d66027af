"""`verifq prove` end to end: verdicts, exit codes, JSON, determinism, and
counterexamples confirmed by the bit-exact simulator."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from verifq.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "examples" / "01_inline_tiny" / "tiny.nnspec"
PENDULUM = ROOT / "examples" / "02_onnx_pendulum" / "pendulum.nnspec"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_prove_accepts_the_inline_example(capsys):
    code, out, _ = run(capsys, "prove", TINY)
    assert code == 0
    assert "PROVED" in out


def test_prove_accepts_the_onnx_example(capsys):
    code, out, _ = run(capsys, "prove", PENDULUM)
    assert code == 0 and "PROVED" in out


def test_prove_accepts_the_nnet_example_with_normalization(capsys):
    code, out, _ = run(capsys, "prove", ROOT / "examples" / "03_nnet_acasxu" / "acasxu.nnspec")
    assert code == 0 and "PROVED" in out


def test_prove_names_the_failing_output_and_gives_a_confirmed_counterexample(capsys, tmp_path):
    out_json = tmp_path / "r.json"
    code, out, _ = run(capsys, "prove", TINY, "--uniform", "fixed<16,6>", "--json", out_json)
    assert code == 1
    assert "VIOLATED" in out and "layer 2, neuron 0: error bound" in out
    assert "counterexample (real, confirmed" in out
    data = json.loads(out_json.read_text())
    assert data["verdict"] == "VIOLATED"
    cex = data["counterexample"]
    assert cex["kind"] == "error" and cex["confirmed"]
    assert Fraction(cex["observed_error"]) > Fraction(1, 1000)

    assert data["errors_hold"] is True  # no overflow: the error bounds stand (one of them is too large)


def test_error_bounds_are_conditional_when_a_value_may_overflow(capsys, tmp_path):
    """The error rules model values that fit their formats; a wrapped value is off by far more,
    so with a possible overflow the report and --json say the error bounds are not proved."""
    out_json = tmp_path / "r.json"
    code, out, _ = run(capsys, "prove", TINY, "--uniform", "fixed<12,2>", "--no-search", "--json", out_json)
    assert code == 1 and "does not fit" in out
    assert "the error bounds above assume that no value overflows: they are not proved" in out
    assert json.loads(out_json.read_text())["errors_hold"] is False

def test_a_failed_proof_writes_no_certificate_and_says_so(capsys, tmp_path):
    cert = tmp_path / "c.json"
    code, out, _ = run(capsys, "prove", TINY, "--uniform", "fixed<16,6>", "--no-search", "--cert", cert)
    assert code == 1 and "VIOLATED" in out
    assert f"no certificate written to {cert}" in out and not cert.exists()


def test_prove_reports_accumulator_overflow_with_the_neuron(capsys):
    spec = ROOT / "specs" / "aster_ACC3NN.nnspec"
    code, out, _ = run(capsys, "prove", spec, "--uniform", "fixed<16,6>")
    assert code == 1
    assert "accum range" in out and "does not fit fixed<16,6>" in out
    assert "overflows at layer 1, neuron" in out


def test_prove_output_is_deterministic(capsys):
    first = run(capsys, "prove", TINY, "--uniform", "fixed<16,6>", "--json", "-")
    second = run(capsys, "prove", TINY, "--uniform", "fixed<16,6>", "--json", "-")
    assert first[:2] == second[:2]  # exit code and stdout (the JSON alone)
    json.loads(first[1])
    no_progress = lambda err: [l for l in err.splitlines() if not l.startswith("[")]  # noqa: E731 (timed lines)
    assert no_progress(first[2]) == no_progress(second[2])


def test_prove_without_formats_says_what_to_do(capsys):
    code, _, err = run(capsys, "prove", ROOT / "specs" / "aster_SmallNN.nnspec")
    assert code == 2
    assert "no formats" in err and "verifq synth" in err


def test_bad_spec_is_exit_2_with_a_caret_and_no_traceback(capsys, tmp_path):
    bad = tmp_path / "bad.nnspec"
    bad.write_text("network n { input 2 dense relu weights [[1, 2]] bias [0] }\ndomain { x in [1, 0] }\nrequire error <= 1e-3\n")
    code, out, err = run(capsys, "prove", bad)
    assert code == 2
    assert "bad.nnspec:2:" in err and "^" in err and "Traceback" not in err


def test_bad_uniform_format_is_exit_2(capsys):
    code, _, err = run(capsys, "prove", TINY, "--uniform", "fixed<16")
    assert code == 2 and "not a fixed-point format" in err


@pytest.mark.parametrize("argv", [["--help"], ["prove", "--help"]])
def test_help_exits_cleanly(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    assert "verifq" in capsys.readouterr().out


def _certified(path):
    return max(Fraction(o["certified_error"]) for o in json.loads(Path(path).read_text())["outputs"])


def test_analysis_options_order_the_certified_bounds(capsys, tmp_path):
    """--ranges interval --errors l1_local is the loosest, the default tighter, --split never looser."""
    bounds = {}
    for name, opts in (("simple", ["--ranges", "interval", "--errors", "l1_local"]), ("default", []),
                       ("split", ["--split", "8"])):
        code, out, _ = run(capsys, "prove", PENDULUM, "--json", tmp_path / f"{name}.json", *opts)
        assert code == 0, out
        bounds[name] = _certified(tmp_path / f"{name}.json")
    assert bounds["split"] <= bounds["default"] < bounds["simple"]


def test_split_proves_what_the_unsplit_analysis_cannot_and_its_certificate_is_checked(capsys, tmp_path):
    """8.5e-5 is below the unsplit first-order bound (9.3e-5) but above the split one: the split proof succeeds;
    its certificate records the bisection tree and every box's claims, which `verifq check` re-derives (no
    fallback note)."""
    text = PENDULUM.read_text().replace("require error <= 1e-3", "require error <= 8.5e-5")
    text = text.replace('"../../specs/', f'"{ROOT}/specs/')
    spec = tmp_path / "tight.nnspec"
    spec.write_text(text)
    code, _, _ = run(capsys, "prove", spec, "--no-search", "--errors", "first_order")
    assert code == 1
    cert = tmp_path / "c.json"
    code, out, _ = run(capsys, "prove", spec, "--split", "16", "--cert", cert, "--errors", "first_order")
    assert code == 0, out
    assert "note:" not in out
    assert main(["check", str(cert)]) == 0


def test_split_below_one_is_a_user_error(capsys):
    code, _, err = run(capsys, "prove", PENDULUM, "--split", "0")
    assert code == 2 and "--split" in err
