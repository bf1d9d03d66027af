"""The `.nnspec` language: what each construct means once elaborated."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import pytest

from verifq.errors import UserError
from verifq.fixedpoint.format import FixedFormat, Overflow, Rounding
from verifq.network.ir import Activation
from verifq.language import CostModel, Granularity, load_spec, parse_spec_text

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO.parent / "shared" / "benchmarks"

TINY = """
network tiny {
  input 2
  dense relu   weights [[0.1, 0.3], [0.2, 0.15]]  bias [1.0, 2.0]
  dense linear weights [[0.1, 0.2]]               bias [0.5]
}
"""
DOMAIN = "domain { x in [0, 1] }\n"
REQUIRE = "require error <= 1e-3 on all outputs\n"


def spec(*parts: str):
    return parse_spec_text("".join(parts), "test.nnspec")


def fx(w, i, signed=True):
    return FixedFormat(w, i, signed)


def error_of(text: str) -> UserError:
    with pytest.raises(UserError) as info:
        parse_spec_text(text, "test.nnspec")
    return info.value


# -- numbers and networks -------------------------------------------------------


def test_inline_weights_are_exact_fractions():
    p = spec(TINY, DOMAIN, REQUIRE)
    l1, l2 = p.network.layers
    assert l1.weights[0][0] == Fraction(1, 10)  # never the float 0.1
    assert l1.weights[1][1] == Fraction(3, 20)
    assert l1.bias == (Fraction(1), Fraction(2))
    assert l1.activation is Activation.RELU and l2.activation is Activation.LINEAR
    assert p.network.name == "tiny" and p.network.source == "inline"
    assert p.network.n_inputs == 2 and p.network.n_outputs == 1
    assert p.max_error == (Fraction(1, 1000),)


def test_scientific_and_negative_numbers_are_exact():
    p = spec(
        "network n { dense tanh weights [[-1.5e-3, 2E2, +3, -0]] bias [1e-30] }\n",
        "domain { x in [-2.5, -1e-1] }\n",
        "require error <= 5e-4\n",
    )
    layer = p.network.layers[0]
    assert layer.weights[0] == (Fraction(-3, 2000), Fraction(200), Fraction(3), Fraction(0))
    assert layer.bias == (Fraction(1, 10**30),)
    assert p.domain == ((Fraction(-5, 2), Fraction(-1, 10)),) * 4
    assert p.max_error == (Fraction(1, 2000),)


def test_input_line_is_optional_and_all_activations_parse():
    p = spec(
        "network n {\n dense sigmoid weights [[1, 2]] bias [0]\n dense tanh weights [[1]] bias [0] }\n",
        "domain { x in [0, 1] }\n", REQUIRE,
    )
    assert [l.activation for l in p.network.layers] == [Activation.SIGMOID, Activation.TANH]


def test_use_selects_one_of_several_networks():
    other = "network other { input 2  dense linear weights [[1, -1]] bias [0] }\n"
    p = spec(TINY, other, "use other\n", DOMAIN, REQUIRE)
    assert p.network.name == "other"


def test_comments_everywhere_and_blocks_on_one_line():
    text = """# leading comment
network tiny { # after a brace
  input 2 # inputs
  dense relu weights [[0.1, 0.3], # a row
                      [0.2, 0.15]] bias [1.0, 2.0]
  dense linear weights [[0.1, 0.2]] bias [0.5] }
domain { x[0] in [0, 1]  x[1] in [2, 3] }   # one line
require error <= 1e-3 # trailing
synthesis { granularity = neuron  cost = dsp  solver = gurobi  time limit = 2.5 }
#"""
    p = spec(text)
    assert p.domain == ((0, 1), (2, 3))
    assert p.synthesis.granularity is Granularity.NEURON
    assert p.synthesis.cost is CostModel.DSP
    assert p.synthesis.solver == "gurobi"
    assert p.synthesis.time_limit == 2.5


# -- vectors and domain ---------------------------------------------------------------

FIVE = "network five { input 5  dense linear weights [[1, 1, 1, 1, 1], [1, 0, 0, 0, 0]] bias [0, 0] }\n"


def test_domain_index_range_and_whole_vector_default():
    p = spec(FIVE, "domain {\n  x[1..3] in [0, 1]\n  x in [-1, 1]\n  x[0] in [20, 30]\n}\n", REQUIRE)
    assert p.domain == ((20, 30), (0, 1), (0, 1), (0, 1), (-1, 1))


def test_domain_list_of_intervals():
    domain = "domain {\n  x in [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]\n  x[2..3] in [[0, 0], [-1, 1]]\n}\n"
    p = spec(FIVE, domain, REQUIRE)
    assert p.domain == ((1, 2), (3, 4), (0, 0), (-1, 1), (9, 10))


def test_named_vectors():
    p = spec("input state[5]\noutput cmd[2]\n", FIVE, "domain { state in [0, 1] }\n",
             "require error <= 1e-2 on cmd[1]\n")
    assert p.max_error == (None, Fraction(1, 100))


def test_domain_wrong_name_hints_the_real_one():
    err = error_of("input state\n" + FIVE + "domain { x in [0, 1] }\n" + REQUIRE)
    assert "unknown input vector 'x'" in err.message and "'state'" in err.hint


# -- requirements -------------------------------------------------------------------


def test_per_output_requirements_override_all_outputs():
    p = spec(FIVE, DOMAIN, "require error <= 5e-4 on y[1]\nrequire error <= 1e-3 on all outputs\n")
    assert p.max_error == (Fraction(1, 1000), Fraction(1, 2000))
    p = spec(FIVE, DOMAIN, "require error <= 1e-3 on y[0..1]\n")
    assert p.max_error == (Fraction(1, 1000),) * 2
    p = spec(FIVE, DOMAIN, "require error <= 2 on y\n")
    assert p.max_error == (Fraction(2),) * 2


def test_outputs_without_requirement_are_none():
    p = spec(FIVE, DOMAIN, "require error <= 1e-3 on y[0]\n")
    assert p.max_error == (Fraction(1, 1000), None)
    assert p.require_no_overflow is False
    assert spec(FIVE, DOMAIN, REQUIRE, "require no overflow\n").require_no_overflow is True


# -- implementation -----------------------------------------------------------------


def test_implementation_defaults():
    impl = spec(TINY, DOMAIN, REQUIRE).implementation
    assert impl.rounding is Rounding.TRUNCATE and impl.overflow is Overflow.WRAP
    assert impl.inputs_fixed is False and impl.input_format is None
    assert impl.max_word == 32 and impl.max_accumulator is None and impl.allowed_widths is None


def test_implementation_settings():
    impl = spec(TINY, DOMAIN, REQUIRE, """implementation {
  rounding = nearest
  overflow = saturate
  inputs   = fixed<16, 6>
  max word = 24
  max accumulator = 20
  widths = {16, 8, 8}
}
""").implementation
    assert impl.rounding is Rounding.NEAREST and impl.overflow is Overflow.SATURATE
    assert impl.inputs_fixed is True and impl.input_format == fx(16, 6)
    assert impl.max_word == 24 and impl.max_accumulator == 20 and impl.allowed_widths == (8, 16)


def test_inputs_real_is_explicit_default():
    impl = spec(TINY, DOMAIN, REQUIRE, "implementation { inputs = real }\n").implementation
    assert impl.inputs_fixed is False and impl.input_format is None


# -- formats ------------------------------------------------------------------------

THREE = "network three { input 2  dense relu weights [[1, 2], [3, 4], [5, 6]] bias [0, 0, 0]\n" \
        "  dense linear weights [[1, 1, 1], [1, 0, 1]] bias [0, 0] }\n"


def test_format_precedence():
    p = spec(THREE, DOMAIN, REQUIRE, """formats {
  default                  = fixed<16, 6>
  weight                   = fixed<8, 1>
  layer 2 default          = fixed<20, 8>
  layer 2 accum            = fixed<32, 12>
  layer 2 neuron 1 default = fixed<12, 4>
  layer 2 neuron 1 output  = ufixed<10, 3>
  layer 1 neuron 2 bias    = ap_fixed<6, 2>
  input                    = ap_ufixed<9, 1>
}
""")
    d = p.design
    assert d is not None
    assert d.inputs == (fx(9, 1, False),) * 2
    l1, l2 = d.layers
    assert l1.weight == (fx(8, 1),) * 3  # role default beats default
    assert l1.bias == (fx(16, 6), fx(16, 6), fx(6, 2))  # neuron override
    assert l1.accum == l1.output == (fx(16, 6),) * 3
    assert l2.weight == (fx(20, 8), fx(12, 4))  # layer default beats role default; neuron default beats both
    assert l2.accum == (fx(32, 12), fx(12, 4))  # the neuron's default beats the layer's role
    assert l2.output == (fx(20, 8), fx(10, 3, False))
    assert l2.bias == (fx(20, 8), fx(12, 4))


def test_neuron_default_beats_layer_role():
    p = spec(THREE, DOMAIN, REQUIRE, "formats { default = fixed<16, 6>\n layer 2 accum = fixed<32, 12>\n"
                                     " layer 2 neuron 1 default = fixed<12, 4> }\n")
    assert p.design.layers[1].accum == (fx(32, 12), fx(12, 4))


def test_design_carries_modes_and_fixed_inputs():
    p = spec(TINY, DOMAIN, REQUIRE, "implementation { rounding = nearest overflow = saturate inputs = fixed<8, 2> }\n",
             "formats { default = fixed<16, 6> }\n")
    d = p.design
    assert d.rounding is Rounding.NEAREST and d.overflow is Overflow.SATURATE and d.inputs_fixed is True
    assert d.inputs == (fx(8, 2),) * 2  # the implementation's input format beats `default`
    assert p.implementation.input_format == fx(8, 2)


def test_agreeing_input_formats_are_fine():
    p = spec(TINY, DOMAIN, REQUIRE, "implementation { inputs = fixed<8, 2> }\n",
             "formats { default = fixed<16, 6>  input = fixed<8, 2> }\n")
    assert p.design.inputs == (fx(8, 2),) * 2


def test_negative_and_large_integer_bits():
    formats = "formats { default = fixed<16, 6>  weight = fixed<8, -2>  accum = fixed<16, 20> }\n"
    p = spec(TINY, DOMAIN, REQUIRE, formats)
    assert p.design.layers[0].weight[0] == fx(8, -2)
    assert p.design.layers[0].accum[0] == fx(16, 20)


# -- synthesis ----------------------------------------------------------------------


def test_no_formats_means_synthesis_with_defaults():
    p = spec(TINY, DOMAIN, REQUIRE)
    assert p.design is None
    assert p.synthesis.granularity is Granularity.LAYER
    assert p.synthesis.cost is CostModel.TOTAL_BITS and p.synthesis.solver == "highs"
    assert p.synthesis.time_limit is None


@pytest.mark.parametrize("words, granularity", [
    ("per neuron", Granularity.NEURON), ("per layer", Granularity.LAYER), ("uniform", Granularity.UNIFORM),
])
def test_minimize(words, granularity):
    p = spec(TINY, DOMAIN, REQUIRE, f"minimize {words}\n")
    assert p.design is None and p.synthesis.granularity is granularity


def test_minimize_agrees_with_synthesis_block_and_empty_formats_block():
    p = spec(TINY, DOMAIN, REQUIRE, "minimize per neuron\nsynthesis { granularity = neuron cost = multiplier_area }\n",
             "formats { }\n")
    assert p.design is None
    assert p.synthesis.granularity is Granularity.NEURON and p.synthesis.cost is CostModel.MULTIPLIER_AREA


# -- errors carry positions ------------------------------------------------------------


def test_error_positions_point_at_the_token():
    text = TINY + "domain {\n  x[0] in [0, 1]\n  x[1] in [5, 4]\n}\n" + REQUIRE
    err = error_of(text)
    assert (err.location.file, err.location.line, err.location.column) == ("test.nnspec", 9, 11)
    rendered = err.render(text)
    assert rendered.splitlines()[0].startswith("test.nnspec:9:11: error: empty interval")
    assert "^^^^^^" in rendered and "hint:" in rendered


def test_syntax_error_hint_lists_expected_tokens_in_words():
    err = error_of(TINY + "domain { x in [0 1] }\n" + REQUIRE)
    assert err.message == "syntax error: unexpected '1'"
    assert err.hint == "expected ',' or ']'"


def test_huge_exponent_is_a_user_error_not_a_hang():
    err = error_of(TINY.replace("0.15", "1e999999999") + DOMAIN + REQUIRE)
    assert "out of range" in err.message


# -- files --------------------------------------------------------------------------


def test_load_spec_reports_missing_and_binary_files(tmp_path):
    with pytest.raises(UserError, match="spec file .* not found"):
        load_spec(tmp_path / "nope.nnspec")
    bad = tmp_path / "bad.nnspec"
    bad.write_bytes(b"network \xff\xfe")
    with pytest.raises(UserError, match="not a UTF-8"):
        load_spec(bad)


def test_load_spec_reads_inline_spec(tmp_path):
    path = tmp_path / "tiny.nnspec"
    path.write_text(TINY + DOMAIN + REQUIRE)
    p = load_spec(path)
    assert p.spec_path == str(path) and p.network.n_inputs == 2


def test_relative_network_path_is_resolved_from_the_spec_directory(tmp_path):
    (tmp_path / "nets").mkdir()
    layers = [{"activation": "relu", "weights": [[0.1, 0.3], [0.2, 0.15]], "bias": [1.0, 2.0]},
              {"activation": "linear", "weights": [[0.1, 0.2]], "bias": [0.5]}]
    (tmp_path / "nets" / "small.json").write_text(json.dumps({"name": "small", "layers": layers}))
    (tmp_path / "specs").mkdir()
    path = tmp_path / "specs" / "small.nnspec"
    path.write_text('network small = load "../nets/small.json"\ninput x[2]\n' + DOMAIN + REQUIRE)
    p = load_spec(path)
    assert p.network.layers[0].weights[0][0] == Fraction(1, 10)
    assert p.network.n_outputs == 1


def test_domain_from_vnnlib(tmp_path):
    (tmp_path / "prop.vnnlib").write_text(
        "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
        "(assert (>= X_0 -0.5))\n(assert (<= X_0 0.25))\n(assert (>= X_1 1))\n(assert (<= X_1 2))\n"
    )
    path = tmp_path / "p.nnspec"
    path.write_text(TINY + 'domain from "prop.vnnlib"\n' + REQUIRE)
    assert load_spec(path).domain == ((Fraction(-1, 2), Fraction(1, 4)), (1, 2))


@pytest.mark.skipif(not (BENCHMARKS / "networks" / "aster_ACC3NN.json").exists(), reason="benchmarks not present")
def test_benchmark_network_from_file(tmp_path):
    target = BENCHMARKS / "networks" / "aster_ACC3NN.json"
    path = tmp_path / "acc.nnspec"
    path.write_text(f"""network acc = load "{target}"
input x[5]
domain {{ x[0] in [20, 30]  x[1] in [1.2, 1.8]  x[2] in [0, 30.5]  x[3] in [0, 10]  x[4] in [0, 30.5] }}
require error <= 1e-3 on all outputs
formats {{ default = fixed<16, 6>  layer 2 accum = fixed<32, 12> }}
""")
    p = load_spec(path)
    assert p.network.n_inputs == 5
    assert len(p.design.layers) == len(p.network.layers)
    assert p.domain[1] == (Fraction(6, 5), Fraction(9, 5))


# -- the language reference stays true --------------------------------------------------


def _readme_examples():
    text = (REPO / "specs" / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```nnspec\n(.*?)```", text, flags=re.S)


def test_readme_has_examples():
    assert len(_readme_examples()) >= 3


@pytest.mark.parametrize("index", range(len(_readme_examples())))
def test_readme_examples_parse(index):
    example = _readme_examples()[index]
    # named as if it sat next to the README, so `networks/...` paths resolve as they would for a user
    parse_spec_text(example, REPO / "specs" / f"readme_example_{index}.nnspec")
