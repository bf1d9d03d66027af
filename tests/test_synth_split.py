"""`verifq synth --split N` on a float network: every design the synthesis tries is proved (and
repaired, and trimmed) by `prove --split`'s branch and bound, whose bounds are far tighter than the
whole box's on deep networks, so the chosen design is cheaper. What it writes is what `prove
--formats F --split N` proves and what `verifq check` finds VALID, the same on any number of
processes, and no simulated output exceeds its certified bound."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verifq.certificate import checker
from verifq.synthesis.synthesize import SynthOptions, synthesize

from test_qonnx import run
from test_synthesis_helpers import DATA, check_sound, problem

ROOT = Path(__file__).resolve().parent.parent


def test_split_synthesis_is_cheaper_than_the_whole_box_and_sound():
    p = problem("aster_ACC3NN")  # 3 hidden layers: its whole-box bound is ~7x its split bound (tightness.md)
    whole = synthesize(p, SynthOptions(granularity="layer"))
    split = synthesize(p, SynthOptions(granularity="layer", split=4))
    assert whole.feasible and split.feasible
    assert split.costs.total_bits < whole.costs.total_bits  # 24,219 -> 20,984 bits when measured
    a = split.analysis
    assert a.proved and 1 < len(a.leaves) <= 4 and a.split_info["max_leaves"] == 4
    assert all(leaf.proved for leaf in a.leaves)
    assert split.max_certified_error <= p.max_error[0]
    assert check_sound(a) <= 1.0


def _spec(tmp_path: Path) -> Path:
    """aster_ACC3NN (tests/data/synth) with its domain, a 1e-3 bound and per-layer synthesis."""
    doc = json.loads((DATA / "aster_ACC3NN.json").read_text())
    dom = "\n".join(f"  x[{i}] in [{lo}, {hi}]" for i, (lo, hi) in enumerate(doc["input_domain"]))
    spec = tmp_path / "acc3.nnspec"
    spec.write_text(f'network net = load "{DATA / "aster_ACC3NN.json"}"\n\ninput x[{len(doc["input_domain"])}]\n'
                    f"domain {{\n{dom}\n}}\n\nrequire error <= 1e-3 on all outputs\nrequire no overflow\n")
    return spec


def test_synth_split_writes_what_prove_split_proves_and_the_checker_accepts(tmp_path, capsys):
    spec = _spec(tmp_path)
    formats, cert, doc = tmp_path / "f.json", tmp_path / "c.json", tmp_path / "r.json"
    code, out, _ = run(capsys, "synth", spec, "--split", 4, "-o", formats, "--cert", cert, "--json", doc)
    assert code == 0 and "proved on" in out and "needs the same --split" in out
    result = json.loads(doc.read_text())
    assert result["split"]["max_boxes"] == 4 and 1 < result["split"]["boxes"] <= 4
    assert json.loads(formats.read_text())["synthesis"]["split"] == 4
    assert run(capsys, "prove", spec, "--formats", formats, "--split", 4)[0] == 0
    code, out, _ = run(capsys, "prove", spec, "--formats", formats)  # the whole box alone does not prove it
    assert code == 1 and "pass --split 4 to prove it" in out
    assert checker.check_file(cert, out=open("/dev/null", "w"), err=open("/dev/null", "w")) == 0
    # the same design on two processes (the boxes are taken in order)
    formats2 = tmp_path / "f2.json"
    assert run(capsys, "synth", spec, "--split", 4, "--jobs", 2, "-o", formats2)[0] == 0
    one, two = json.loads(formats.read_text()), json.loads(formats2.read_text())
    assert (two["inputs"], two["layers"]) == (one["inputs"], one["layers"])


@pytest.mark.parametrize("split", [0, 65537])
def test_a_bad_split_on_a_float_spec_is_a_clear_error(split, capsys):
    code, _, err = run(capsys, "synth", ROOT / "examples" / "02_onnx_pendulum" / "pendulum.nnspec", "--split", split)
    assert code == 2 and "--split needs a number of boxes from 1 to 65536" in err


def test_a_design_the_whole_box_proves_records_no_split(tmp_path, capsys):
    formats = tmp_path / "f.json"
    code, out, _ = run(capsys, "synth", ROOT / "examples" / "02_onnx_pendulum" / "pendulum.nnspec", "--split", 4,
                       "-o", formats)
    assert code == 0 and "--split" not in out  # the pendulum proves on one box: nothing to pass on
    assert json.loads(formats.read_text())["synthesis"]["split"] == 1


def test_a_bad_jobs_count_is_refused_before_any_work_and_writes_nothing(tmp_path, capsys):
    formats = tmp_path / "f.json"
    code, out, err = run(capsys, "synth", ROOT / "examples" / "02_onnx_pendulum" / "pendulum.nnspec", "--split", 4,
                         "--jobs", -1, "-o", formats)
    assert code == 2 and "--jobs needs a number of processes" in err and not formats.exists()
    assert "synth ignores them" not in err  # refused before the synthesis starts
