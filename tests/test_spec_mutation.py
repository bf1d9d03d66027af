"""Robustness: any text, however broken, gives a `Problem` or a `UserError`.

Valid specs are mutated token by token (delete, duplicate, swap, replace,
insert). Whatever comes out must either elaborate or raise `UserError` whose
`render()` works; any other exception (or a hang) is a bug in the spec stage.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verifq.errors import UserError
from verifq.language import parse_spec_text
from verifq.problem import Problem

TESTS_DIR = Path(__file__).parent
# A spec "located" among the goldens, so mutated paths can hit real files (a network, non-network files).
SPEC_PATH = TESTS_DIR / "golden" / "spec_errors" / "mutant.nnspec"

CORPUS = [
    """network tiny {
  input 2
  dense relu   weights [[0.1, 0.3], [0.2, 0.15]]  bias [1.0, 2.0]
  dense linear weights [[0.1, 0.2]]               bias [0.5]
}
input x[2]
output y[1]
domain { x[0] in [20, 30]  x[1] in [-1e-3, 1] }
require error <= 1e-3 on all outputs
require error <= 5e-4 on y[0]
require no overflow
implementation { rounding = nearest  overflow = saturate  inputs = fixed<16, 6>  max word = 32
                 max accumulator = 32  widths = {8, 16} }
formats {
  default = fixed<16, 6>
  weight = fixed<8, 1>
  layer 2 accum = fixed<32, 12>
  layer 1 neuron 1 output = ufixed<16, 4>
  input = ap_fixed<16, 6>
}
""",
    """network five { input 5 dense tanh weights [[1, 2, 3, 4, 5], [-1, -2, -3, -4, -5]] bias [0, 1] }
network other { dense sigmoid weights [[1]] bias [0] }
use five
input u
domain { u[1..3] in [0, 1]  u in [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]] }
require error <= 2 on y[0..1]
minimize per neuron
synthesis { granularity = neuron  cost = multiplier_area  solver = highs  time limit = 60 }
""",
    """network small = load "../../../specs/networks/aster_SmallNN.json"
domain { x in [-1, 1] }
require error <= 1e-3
minimize uniform
""",
    """network n { input 2 dense relu weights [[1, -1], [0.5, 0.5]] bias [0, 0] dense linear weights [[1, 1]] bias [0] }
domain { x in [0, 1] }
require error <= 1e-2 on y
implementation { inputs = real }
formats { layer 1 default = ap_ufixed<12, 3>  layer 2 neuron 0 default = fixed<20, 8>  default = fixed<8, 2> }
""",
]

TOKEN = re.compile(r'"[^"\n]*"|[A-Za-z_][A-Za-z0-9_]*|[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|\.\.|<=|\S')
TOKENS = [TOKEN.findall(text) for text in CORPUS]
NASTY = [
    "# comment\n", "\n", "\t", "@", ";", "é", "'", "\\", '"', "..", "<", ">", "{", "}", "[", "]", ",", "=",
    "0", "-1", "1.5", "-0", "1e400", "1e999999999", "-1e-999999999", "9" * 40, "0.000", "1" * 1200,
    '""', '"."', '"nope.json"', '"prop.vnnlib"', '"network_missing.nnspec"', '"network_missing.expected"',
    '"../../../specs/networks/aster_SmallNN.json"', '"../../data/acasxu_prop_1.vnnlib"',
    "fixed", "ufixed", "ap_fixed", "fxed", "layer", "neuron", "input", "output", "default", "weight", "accum",
    "load", "from", "use", "minimize", "per", "all", "outputs", "domain", "network", "require", "error", "no",
    "dense", "weights", "bias", "relu", "real", "x", "y", "in", "on",
]
POOL = sorted({tok for toks in TOKENS for tok in toks} | set(NASTY))
# "similar" swaps a token for another of its kind (number, name, path, punctuation), which tends to
# keep the syntax and so exercises elaboration rather than the parser.
OPERATIONS = ("delete", "duplicate", "swap", "replace", "insert", "similar", "similar")


def kind(token: str) -> str:
    if token[:1] == '"':
        return "path"
    if token[:1].isdigit() or token[:1] in "+-":
        return "number"
    return "name" if token[:1].isalpha() or token[:1] == "_" else "other"


BY_KIND = {k: [t for t in POOL if kind(t) == k] for k in ("path", "number", "name", "other")}


def mutate(tokens: list[str], ops: list[tuple[str, int, int, str]]) -> list[str]:
    """Apply (operation, position, other position, pool token) edits; positions wrap around."""
    toks = list(tokens)
    for op, i, j, new in ops:
        if not toks:
            toks = [new]
            continue
        i, j = i % len(toks), j % len(toks)
        if op == "delete":
            del toks[i]
        elif op == "duplicate":
            toks.insert(i, toks[i])
        elif op == "swap":
            toks[i], toks[j] = toks[j], toks[i]
        elif op == "replace":
            toks[i] = new
        elif op == "similar":
            same = BY_KIND[kind(toks[i])]
            toks[i] = same[j % len(same)]
        else:
            toks.insert(i, new)
    return toks


def check(text: str) -> str:
    """Parse; 'ok' or 'error'. Anything but a Problem or a renderable UserError fails the test."""
    try:
        problem = parse_spec_text(text, SPEC_PATH)
    except UserError as err:
        rendered = err.render(text)
        assert isinstance(rendered, str) and "error:" in rendered
        assert err.location is not None
        return "error"
    assert isinstance(problem, Problem)
    return "ok"


def test_corpus_is_valid():
    for text in CORPUS:
        assert check(text) == "ok", text


operation = st.tuples(
    st.sampled_from(OPERATIONS), st.integers(0, 10_000), st.integers(0, 10_000), st.sampled_from(POOL)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.integers(0, len(CORPUS) - 1), ops=st.lists(operation, min_size=1, max_size=5),
       separator=st.sampled_from([" ", "\n", "  \n\t"]))
def test_mutated_specs_parse_or_raise_user_error(base, ops, separator):
    check(separator.join(mutate(TOKENS[base], ops)))


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_seeded_mutations(seed):
    """Plain seeded runs, reproducible without Hypothesis' database; also checks both outcomes occur."""
    rng = random.Random(seed)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(300):
        base = rng.randrange(len(CORPUS))
        ops = [(rng.choice(OPERATIONS), rng.randrange(10_000), rng.randrange(10_000), rng.choice(POOL))
               for _ in range(rng.randint(1, 2))]
        outcomes[check(" ".join(mutate(TOKENS[base], ops)))] += 1
    assert outcomes["error"] > 0 and outcomes["ok"] > 0, outcomes
