"""`verifq synth` end to end, and the formats file (`fixedpoint.design_io`)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from test_synthesis_helpers import DATA, problem
from verifq.cli.main import main
from verifq.errors import UserError
from verifq.fixedpoint.design import Design, LayerFormats
from verifq.fixedpoint.design_io import design_from_json, design_to_json, load_design, save_design
from verifq.fixedpoint.format import FixedFormat, Overflow, Rounding

SPEC = """network net = load "{net}"
input x[{n}]
domain {{
  x in [-1, 1]
}}
require error <= {eps} on all outputs
require no overflow
implementation {{
  rounding = truncate
  overflow = wrap
  max word = {word}
}}
"""


def write_spec(tmp_path: Path, name="aster_InvPendulumNN", n=4, eps="1e-3", word=32) -> Path:
    spec = tmp_path / "net.nnspec"
    spec.write_text(SPEC.format(net=DATA / f"{name}.json", n=n, eps=eps, word=word))
    return spec


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_synth_writes_a_formats_file_that_prove_accepts(capsys, tmp_path):
    spec = write_spec(tmp_path)
    fmts, res = tmp_path / "formats.json", tmp_path / "result.json"
    code, out, err = run(capsys, "synth", spec, "--granularity", "neuron", "-o", fmts, "--json", res)
    assert code == 0, out + err
    assert "PROVED by exact re-analysis" in out and "total bits" in out
    assert "per-neuron widths" in out
    doc = json.loads(res.read_text())
    assert doc["feasible"] and doc["granularity"] == "neuron"
    assert set(doc["costs"]) == {"total_bits", "weight_bits", "multiplier_area", "dsp"}
    assert all(Fraction(e) <= Fraction(1, 1000) for e in doc["certified_errors"])
    code, out, _ = run(capsys, "prove", spec, "--formats", fmts, "--no-search")
    assert code == 0 and "PROVED" in out


def test_synth_stdout_is_deterministic(capsys, tmp_path):
    spec = write_spec(tmp_path)
    outs = [run(capsys, "synth", spec, "--quiet")[1] for _ in range(2)]
    assert outs[0] == outs[1]


def test_synth_methods_and_options(capsys, tmp_path):
    spec = write_spec(tmp_path)
    for extra in (["--method", "uniform"], ["--method", "aster"], ["--cost", "dsp"], ["--granularity", "uniform"]):
        code, out, _ = run(capsys, "synth", spec, "--quiet", *extra)
        assert code == 0, (extra, out)


def test_synth_error_rule_default_and_first_order(capsys, tmp_path):
    """synth re-verifies with the differential rule by default (its certificate records it and the
    checker re-derives it); `--errors first_order` stays available; the cheaper-or-equal design of the
    default is also proved by `prove` (default rule) from the formats file."""
    spec = write_spec(tmp_path, "aster_ACC3NN", n=5)
    bits = {}
    for rule in ("differential", "first_order"):
        fmts, cert, res = (tmp_path / f"{rule}.{ext}" for ext in ("formats.json", "cert.json", "json"))
        argv = ["synth", spec, "--quiet", "--granularity", "neuron", "-o", fmts, "--cert", cert, "--json", res]
        code, out, err = run(capsys, *(argv if rule == "differential" else argv + ["--errors", rule]))
        assert code == 0, out + err
        doc = json.loads(cert.read_text())
        assert doc["analysis"]["certified_with"] == {"range_method": "symbolic", "error_method": rule}
        assert run(capsys, "check", cert, "--spec", spec, "--no-code")[0] == 0
        assert json.loads(fmts.read_text())["synthesis"]["error_method"] == rule
        bits[rule] = json.loads(res.read_text())["costs"]["total_bits"]
        code, out, _ = run(capsys, "prove", spec, "--formats", fmts, "--no-search")
        assert code == 0 and "PROVED" in out
    assert bits["differential"] < bits["first_order"]


def test_infeasible_request_exits_1_with_the_smallest_bound(capsys, tmp_path):
    spec = write_spec(tmp_path, eps="1e-12", word=12)
    res = tmp_path / "r.json"
    code, out, _ = run(capsys, "synth", spec, "--quiet", "-o", tmp_path / "f.json", "--json", res)
    assert code == 1
    assert "INFEASIBLE" in out and "smallest certifiable bound" in out
    assert not (tmp_path / "f.json").exists()
    doc = json.loads(res.read_text())
    assert not doc["feasible"] and doc["achievable_float"][0] > 1e-12


def test_bad_options_are_user_errors(capsys, tmp_path):
    spec = write_spec(tmp_path)
    code, _, err = run(capsys, "synth", spec, "--time-limit", "0")
    assert code == 2 and "time-limit" in err


# ------------------------------------------------------------------------------------ formats file
def _design(net, per_neuron=False):
    layers = []
    for i, l in enumerate(net.layers):
        w = tuple(FixedFormat(8 + (j % 3 if per_neuron else 0), 2) for j in range(l.n_out))
        layers.append(LayerFormats(w, (FixedFormat(10, 3),) * l.n_out, (FixedFormat(20, 6),) * l.n_out,
                                   (FixedFormat(12, 4, False),) * l.n_out))
    return Design((FixedFormat(9, 2),) * net.n_inputs, tuple(layers), Rounding.NEAREST, Overflow.SATURATE, False)


@pytest.mark.parametrize("per_neuron", [False, True])
def test_formats_file_round_trip(tmp_path, per_neuron):
    net = problem("aster_InvPendulumNN").network
    d = _design(net, per_neuron)
    doc = design_to_json(d, net)
    assert isinstance(doc["layers"][0]["weight"], list if per_neuron else str)
    assert design_from_json(json.loads(json.dumps(doc)), net) == d
    save_design(tmp_path / "f.json", d, net)
    assert load_design(tmp_path / "f.json", net) == d
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # atomic write leaves no temp file


@pytest.mark.parametrize("mutate, message", [
    (lambda doc: doc["layers"].pop(), "layers"),
    (lambda doc: doc["layers"][0].__setitem__("weight", ["fixed<8,2>"] * 3), "formats for"),
    (lambda doc: doc["layers"][1].__setitem__("accum", "fixed<0,2>"), "width"),
    (lambda doc: doc["layers"][1].__setitem__("output", "float32"), "not a fixed-point format"),
    (lambda doc: doc.__setitem__("version", 99), "version"),
    (lambda doc: doc.__setitem__("rounding", "stochastic"), "rounding"),
    (lambda doc: doc.__setitem__("inputs", ["fixed<8,2>"]), "inputs"),
    (lambda doc: doc["network"].__setitem__("layers", [3, 1]), "written for a network"),
    (lambda doc: doc["layers"][0].pop("bias"), "no bias"),
])
def test_formats_file_mismatches_are_user_errors(mutate, message):
    net = problem("aster_InvPendulumNN").network
    doc = design_to_json(_design(net), net)
    mutate(doc)
    with pytest.raises(UserError) as e:
        design_from_json(doc, net)
    assert message in str(e.value.message)


def test_load_design_reports_bad_json_with_a_location(tmp_path):
    net = problem("aster_InvPendulumNN").network
    f = tmp_path / "bad.json"
    f.write_text('{"inputs": "fixed<8,2>",\n "layers": [}')
    with pytest.raises(UserError) as e:
        load_design(f, net)
    assert e.value.location is not None and e.value.location.line == 2
