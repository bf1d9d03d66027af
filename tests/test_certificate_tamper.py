"""Tamper tests: changing any single number of a certificate, or deleting any
claim, makes `verifq check` fail and name the failing step.

How a mutation is classified (soundly, without trusting the checker):

* **must be rejected** -- only mutations that make the certificate false *by
  construction*:
  - any change of hashed content (a weight, a bias, a normalization constant,
    a domain endpoint, a required bound, an implementation option, a format)
    with the hashes left as they were, and any change of a hash string: the
    recorded sha256 no longer matches, whatever the claims say;
  - a claim moved *inward* by at least 2^-100 (a range end narrowed, an error
    bound or quantized-range end shrunk). Every claim verifq writes is its
    rule's exact value rounded outward to 2^-128 -- at most a few units of
    2^-128 from the value the rule derives from the other (unchanged) claims
    -- so the moved claim lies strictly inside the derived one;
  - with the hashes recomputed ("resealed"): a domain widened past the claimed
    input range (computed here with the normalization and grid written out),
    a required bound below the claimed output error, a verdict that does not
    claim a proof or states a bound outside [claimed error, required bound], a
    format shrunk so it cannot hold a claimed value or a quantized weight, an
    unknown rule name, and a different network checked against the original
    spec (`--spec`);
  - a deleted claim, a shortened claim list, a float literal or a deleted
    required section: malformed (exit 2), the message names the field.
* **must be accepted** -- mutations that keep every claim true by
  construction: widening last-layer claims nothing else depends on (within
  the formats), raising a last-layer error bound together with the stated
  bound (still below the requirement), narrowing the domain or loosening the
  requirement (resealed), writing a rational in a non-reduced form, and
  reordering keys. (`test_certificate.py::test_wider_claims_are_accepted`
  widens every claim at once.)
* anything else (e.g. a small weight change with the hash recomputed and no
  spec: a possibly valid certificate of another network) is not counted.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from fractions import Fraction

import pytest

from test_certificate_cases import CASES, analysis_of, certificate_of
from verifq.certificate import checker
from verifq.certificate.measure import simulate_certificate
from verifq.certificate.writer import problem_content

MARGIN = Fraction(1, 1 << 100)
CLAIM_STEP = {"pre_lo": "ranges", "pre_hi": "ranges", "post_lo": "ranges", "post_hi": "ranges",
              "err_acc": "errors", "err_pre": "errors", "err_out": "errors", "out_lo": "errors", "out_hi": "errors",
              "acc_lo": "accumulator", "acc_hi": "accumulator"}
LO_KEYS = {"pre_lo", "post_lo", "acc_lo", "out_lo", "lo", "q_lo"}


@dataclass
class Mutation:
    case: str
    what: str
    cert: dict
    expect: str  # "reject" | "accept"
    step: str | None = None  # expected substring of "step: message" (reject)
    spec: dict | None = None
    malformed: bool = False
    category: str = ""


def copy(c: dict) -> dict:
    return json.loads(json.dumps(c))


def q(v) -> Fraction:
    return Fraction(v)


def reseal(c: dict) -> dict:
    c["network"]["sha256"] = checker.sha256_of(c["network"]["content"])
    c["problem_sha256"] = checker.sha256_of(checker.problem_hash_input(
        c["network"]["sha256"], c["domain"], c["requirements"], c["implementation"]))
    c["design_sha256"] = checker.sha256_of(checker.design_hash_input(c["formats"], c["implementation"]))
    return c


def outcome(m: Mutation) -> tuple[str, str]:
    try:
        checker.check(m.cert, spec_content=m.spec)
    except checker.Invalid as exc:
        return "INVALID", f"{exc.step}: {exc.message}"
    except checker.Malformed as exc:
        return "MALFORMED", str(exc)
    return "VALID", ""


def fmt_parts(text: str):
    signed = not text.startswith("u")
    w, i = text[text.index("<") + 1:-1].split(",")
    return signed, int(w), int(i)


def fmt_text(signed, w, i):
    return f"{'fixed' if signed else 'ufixed'}<{w},{i}>"


def network_box(c: dict):
    """The box the checker must derive from the domain (normalization, grid), written out here."""
    norm = c["network"]["content"]["input_normalization"]
    out = []
    for i, (lo, hi) in enumerate(c["domain"]):
        lo, hi = q(lo), q(hi)
        if norm:
            lo, hi = ((min(max(v, q(norm["clip_lo"][i])), q(norm["clip_hi"][i])) - q(norm["mean"][i])) / q(norm["range"][i])
                      for v in (lo, hi))
        if c["implementation"]["inputs_fixed"]:
            _, w, ib = fmt_parts(c["formats"]["inputs"][i])
            ulp = Fraction(2) ** (ib - w)
            lo, hi = math.ceil(lo / ulp) * ulp, math.floor(hi / ulp) * ulp
        out.append((lo, hi))
    return out


def mutations(case: str, rng: random.Random) -> list[Mutation]:
    base = certificate_of(case)
    a = analysis_of(case)
    spec = problem_content(a.problem, a.design)
    layers = base["network"]["content"]["layers"]
    nl = len(layers)
    out: list[Mutation] = []
    cat = [""]

    def add(what, c, expect, step=None, spec_content=None, malformed=False):
        out.append(Mutation(case, what, c, expect, step, spec_content, malformed, cat[0]))

    def weight_site():
        L = rng.randrange(nl)
        j = rng.randrange(len(layers[L]["weights"]))
        return L, j, rng.randrange(len(layers[L]["weights"][j]))

    def changed(v: Fraction) -> Fraction:
        return rng.choice([v + Fraction(1, 1 << 60), v - Fraction(1, 1000), 2 * v + 1, -v if v else Fraction(1)])

    # ---- hashed content changed, hashes not updated
    cat[0] = "hashed content changed, hash kept"
    for _ in range(6):
        L, j, k = weight_site()
        c = copy(base)
        c["network"]["content"]["layers"][L]["weights"][j][k] = str(changed(q(layers[L]["weights"][j][k])))
        add(f"weight L{L} j{j} k{k}", c, "reject", "network hash")
    for _ in range(3):
        L = rng.randrange(nl)
        j = rng.randrange(len(layers[L]["bias"]))
        c = copy(base)
        c["network"]["content"]["layers"][L]["bias"][j] = str(changed(q(layers[L]["bias"][j])))
        add(f"bias L{L} j{j}", c, "reject", "network hash")
    norm = base["network"]["content"]["input_normalization"]
    if norm:
        for key in ("mean", "range"):
            c = copy(base)
            i = rng.randrange(len(norm[key]))
            c["network"]["content"]["input_normalization"][key][i] = str(q(norm[key][i]) + Fraction(1, 7))
            add(f"normalization {key}[{i}]", c, "reject", "network hash")
    c = copy(base)
    c["network"]["content"]["layers"][0]["activation"] = "tanh" if layers[0]["activation"] != "tanh" else "relu"
    add("activation", c, "reject", "network hash")
    for _ in range(3):
        i, e = rng.randrange(len(base["domain"])), rng.randrange(2)
        c = copy(base)
        c["domain"][i][e] = str(q(base["domain"][i][e]) + rng.choice([Fraction(1, 1 << 70), Fraction(-1, 3)]))
        add(f"domain[{i}][{e}]", c, "reject", "problem hash")
    c = copy(base)
    b = base["requirements"]["max_error"][0]
    c["requirements"]["max_error"][0] = "1" if b is None else str(q(b) * 2)
    add("required bound", c, "reject", "problem hash")
    impl = base["implementation"]
    for key, val in (("rounding", "nearest" if impl["rounding"] == "truncate" else "truncate"),
                     ("overflow", "saturate" if impl["overflow"] == "wrap" else "wrap"),
                     ("inputs_fixed", not impl["inputs_fixed"]), ("max_word", (impl["max_word"] or 64) + 1)):
        c = copy(base)
        c["implementation"][key] = val
        add(f"implementation {key}", c, "reject", "problem hash")
    for _ in range(3):
        L, role = rng.randrange(nl), rng.choice(checker.ROLES)
        j = rng.randrange(len(base["formats"]["layers"][L][role]))
        s, w, i = fmt_parts(base["formats"]["layers"][L][role][j])
        c = copy(base)
        c["formats"]["layers"][L][role][j] = rng.choice([fmt_text(s, w + 1, i), fmt_text(s, w, i - 1), fmt_text(not s, w, i)])
        add(f"format L{L} {role}[{j}]", c, "reject", "design hash")
    c = copy(base)
    s, w, i = fmt_parts(base["formats"]["inputs"][0])
    c["formats"]["inputs"][0] = fmt_text(s, w - 1, i)
    add("input format", c, "reject", "design hash")
    cat[0] = "hash string changed"
    for path, step in ((("network", "sha256"), "network hash"), (("problem_sha256",), "problem hash"),
                       (("design_sha256",), "design hash")):
        c = copy(base)
        d = c
        for p in path[:-1]:
            d = d[p]
        h = d[path[-1]]
        pos = rng.randrange(len(h))
        d[path[-1]] = h[:pos] + ("0" if h[pos] != "0" else "1") + h[pos + 1:]
        add(f"hash {'.'.join(path)}", c, "reject", step)

    # ---- claims moved inward (not hashed): false by construction
    cat[0] = "claim moved inward"
    claims = base["claims"]
    for _ in range(14):
        if rng.random() < 0.2:
            key = rng.choice(["lo", "hi", "err", "q_lo", "q_hi"])
            i = rng.randrange(len(claims["inputs"][key]))
            c = copy(base)
            v = q(claims["inputs"][key][i])
            c["claims"]["inputs"][key][i] = str(v + MARGIN if key in LO_KEYS else v - MARGIN)
            add(f"input claim {key}[{i}]", c, "reject", "inputs")
            continue
        L, key = rng.randrange(nl), rng.choice(sorted(CLAIM_STEP))
        j = rng.randrange(len(claims["layers"][L][key]))
        v = q(claims["layers"][L][key][j])
        delta = MARGIN + rng.choice([0, abs(v) / (1 << 20), abs(v) / 2])
        c = copy(base)
        c["claims"]["layers"][L][key][j] = str(v + delta if key in LO_KEYS else v - delta)
        add(f"claim L{L} {key}[{j}]", c, "reject", f"layer {L + 1} {CLAIM_STEP[key]}")

    # ---- resealed semantic changes
    cat[0] = "resealed: domain/bound/verdict/format/rule"
    box = network_box(base)
    c = copy(base)
    i = rng.randrange(len(box))
    c["domain"][i][0] = str(q(base["domain"][i][0]) - 1)
    if network_box(c)[i][0] < q(claims["inputs"]["lo"][i]):
        add(f"domain[{i}] widened (resealed)", reseal(c), "reject", "inputs")
    last = claims["layers"][-1]
    reqs = base["requirements"]["max_error"]
    for o, b in enumerate(reqs):
        e = q(last["err_out"][o])
        if b is not None and e > 0:
            c = copy(base)
            c["requirements"]["max_error"][o] = str(e / 2)
            add(f"bound[{o}] below the claim (resealed)", reseal(c), "reject", "requirements")
            c = copy(base)
            c["verdict"]["output_error_bounds"][o] = str(q(b) * 2)
            add(f"verdict bound[{o}] above the requirement", c, "reject", "verdict")
            break
    c = copy(base)
    c["verdict"]["proved"] = False
    add("verdict not proved", c, "reject", "verdict")
    c = copy(base)
    o = rng.randrange(len(last["err_out"]))
    c["verdict"]["output_error_bounds"][o] = str(q(last["err_out"][o]) - MARGIN)
    add(f"verdict bound[{o}] below the claim", c, "reject", "verdict")
    for role, lo_key, hi_key in (("output", "out_lo", "out_hi"), ("accum", "acc_lo", "acc_hi")):
        L = rng.randrange(nl)
        cl = claims["layers"][L]
        j = max(range(len(cl[hi_key])), key=lambda t: max(abs(q(cl[lo_key][t])), abs(q(cl[hi_key][t]))))
        mag = max(abs(q(cl[lo_key][j])), abs(q(cl[hi_key][j])))
        if mag > 0:
            s, w, _ = fmt_parts(base["formats"]["layers"][L][role][j])
            i_new = math.floor(math.log2(mag)) if mag.numerator > 0 else 0
            while Fraction(2) ** (i_new - 1) >= mag:
                i_new -= 1
            c = copy(base)
            c["formats"]["layers"][L][role][j] = fmt_text(s, w, i_new)
            add(f"{role} format L{L}[{j}] too small (resealed)", reseal(c), "reject", f"layer {L + 1}")
    L = rng.randrange(nl)
    row = layers[L]["weights"]
    j = max(range(len(row)), key=lambda t: max(abs(q(v)) for v in row[t]))
    mw = max(abs(q(v)) for v in row[j])
    if mw > 0:
        s, w, _ = fmt_parts(base["formats"]["layers"][L]["weight"][j])
        i_new = math.floor(math.log2(mw))
        while Fraction(2) ** (i_new - 1) >= mw / 2:
            i_new -= 1
        c = copy(base)
        c["formats"]["layers"][L]["weight"][j] = fmt_text(s, w, i_new)
        add(f"weight format L{L}[{j}] too small (resealed)", reseal(c), "reject", f"layer {L + 1} constants")
    for key, val in (("range_rule", "symbolic"), ("error_rule", "first_order"),
                     ("accum_rule", "saturate_partial_sums" if base["implementation"]["overflow"] == "wrap" else "wrap_final_sum")):
        L = rng.randrange(nl)
        c = copy(base)
        c["claims"]["layers"][L][key] = val
        add(f"rule L{L} {key}", c, "reject", f"layer {L + 1} rules")
    c = copy(base)
    c["claims"]["inputs"]["range_rule"] = "symbolic"
    add("input rule", c, "reject", "inputs")
    cat[0] = "resealed: other network or domain vs --spec"
    for _ in range(2):
        L, j, k = weight_site()
        c = copy(base)
        c["network"]["content"]["layers"][L]["weights"][j][k] = str(changed(q(layers[L]["weights"][j][k])))
        add(f"weight L{L} j{j} k{k} (resealed) vs spec", reseal(c), "reject", "spec", spec)
    c = copy(base)
    c["domain"][0][1] = str(q(base["domain"][0][1]) + Fraction(1, 1 << 80))
    add("domain (resealed) vs spec", reseal(c), "reject", "spec", spec)

    # ---- malformed: deletions, truncations, floats
    cat[0] = "malformed: deleted/shortened/float"
    for _ in range(3):
        L, key = rng.randrange(nl), rng.choice(sorted(CLAIM_STEP))
        c = copy(base)
        del c["claims"]["layers"][L][key]
        add(f"delete claim L{L} {key}", c, "reject", f"claims.layers[{L}].{key}", malformed=True)
    L, key = rng.randrange(nl), rng.choice(sorted(CLAIM_STEP))
    c = copy(base)
    c["claims"]["layers"][L][key].pop()
    add(f"shorten claim L{L} {key}", c, "reject", f"claims.layers[{L}].{key}", malformed=True)
    c = copy(base)
    key = rng.choice(["lo", "hi", "err", "q_lo", "q_hi"])
    del c["claims"]["inputs"][key]
    add(f"delete input claim {key}", c, "reject", f"claims.inputs.{key}", malformed=True)
    c = copy(base)
    c["claims"]["layers"][0]["err_out"][0] = 0.5
    add("float claim", c, "reject", "claims.layers[0].err_out[0]", malformed=True)
    for section in ("verdict", "formats", "requirements"):
        c = copy(base)
        del c[section]
        add(f"delete {section}", c, "reject", section, malformed=True)

    # ---- benign: claims stay true by construction
    cat[0] = "benign"
    c = copy(base)
    c["claims"]["layers"][-1]["post_lo"] = [str(q(v) - 1) for v in last["post_lo"]]
    c["claims"]["layers"][-1]["post_hi"] = [str(q(v) + 1) for v in last["post_hi"]]
    add("widen last post ranges", c, "accept")
    c = copy(base)
    for j, f in enumerate(base["formats"]["layers"][-1]["output"]):
        s, w, i = fmt_parts(f)
        fmax = (Fraction(2) ** (w - 1 if s else w) - 1) * Fraction(2) ** (i - w)
        c["claims"]["layers"][-1]["out_hi"][j] = str((q(last["out_hi"][j]) + fmax) / 2)
    add("widen last stored ranges within the formats", c, "accept")
    for o, b in enumerate(reqs):
        if b is not None:
            c = copy(base)
            mid = (q(last["err_out"][o]) + q(b)) / 2
            c["claims"]["layers"][-1]["err_out"][o] = c["verdict"]["output_error_bounds"][o] = str(mid)
            add(f"raise err_out[{o}] and stated bound below the requirement", c, "accept")
            c = copy(base)
            c["requirements"]["max_error"][o] = str(q(b) * 2)
            add(f"loosen bound[{o}] (resealed)", reseal(c), "accept")
            break
    if not base["implementation"]["inputs_fixed"]:
        c = copy(base)
        c["domain"] = [[str(q(lo) + (q(hi) - q(lo)) / 10), str(q(hi) - (q(hi) - q(lo)) / 10)] for lo, hi in base["domain"]]
        add("narrow the domain (resealed)", reseal(c), "accept")
    c = copy(base)
    L, j, k = weight_site()
    v = q(layers[L]["weights"][j][k])
    c["network"]["content"]["layers"][L]["weights"][j][k] = f"{3 * v.numerator}/{3 * v.denominator}"
    c["claims"]["layers"][0]["err_acc"][0] = f"{5 * q(claims['layers'][0]['err_acc'][0]).numerator}/" \
                                             f"{5 * q(claims['layers'][0]['err_acc'][0]).denominator}"
    add("non-reduced rationals", c, "accept")
    c = dict(reversed(list(copy(base).items())))
    add("reordered keys", c, "accept")
    return out


@pytest.fixture(scope="module")
def results():
    rng = random.Random(20261122)
    res = []
    for case in sorted(CASES):
        for m in mutations(case, rng):
            res.append((m, *outcome(m)))
    return res


def test_every_false_certificate_is_rejected_naming_the_step(results):
    must = [(m, v, msg) for m, v, msg in results if m.expect == "reject"]
    missed = [(m.case, m.what, v, msg) for m, v, msg in must if v == "VALID"]
    wrong_kind = [(m.case, m.what, v, msg) for m, v, msg in must
                  if v != "VALID" and (v == "MALFORMED") != m.malformed]
    wrong_step = [(m.case, m.what, msg, m.step) for m, v, msg in must if v != "VALID" and m.step not in msg]
    by_kind: dict[str, int] = {}
    for m, _, _ in must:
        by_kind[m.category] = by_kind.get(m.category, 0) + 1
    print(f"\n{len(must)} mutations that must be rejected, {len(must) - len(missed)} rejected; "
          f"{len(results) - len(must)} benign mutations; kinds: {by_kind}")
    assert len(must) >= 200
    assert not missed, missed[:5]
    assert not wrong_kind, wrong_kind[:5]
    assert not wrong_step, wrong_step[:5]


def test_mutations_that_keep_the_claims_true_are_accepted(results):
    benign = [(m.case, m.what, v, msg) for m, v, msg in results if m.expect == "accept"]
    assert len(benign) >= 5 * len(CASES) - 4
    rejected = [b for b in benign if b[2] != "VALID"]
    assert not rejected, rejected[:5]


def test_every_accepted_mutation_is_harmless_in_bit_exact_simulation(results):
    """What the checker accepts must still be true of the arithmetic: the simulator, run on the
    accepted certificate's own network, design and domain, never exceeds its stated bounds or
    its requirements and never overflows."""
    accepted = [m for m, v, _ in results if v == "VALID"]
    assert len(results) >= 500 and len(accepted) >= 5 * len(CASES) - 4
    for m in accepted:
        sim = simulate_certificate(m.cert, samples=30, seed=len(m.what))
        assert sim.overflows == 0, (m.case, m.what)
        for o, worst in enumerate(sim.max_error):
            stated = q(m.cert["verdict"]["output_error_bounds"][o])
            required = m.cert["requirements"]["max_error"][o]
            assert worst <= stated, (m.case, m.what, o, float(worst), float(stated))
            assert required is None or worst <= q(required), (m.case, m.what, o)


def test_every_single_claim_number_matters():
    """Exhaustive on one small certificate: every claim number, moved inward by 2^-100, is rejected."""
    base = certificate_of("inline_small_magnitudes")
    count = 0
    for key, vals in base["claims"]["inputs"].items():
        if isinstance(vals, list):
            for i, v in enumerate(vals):
                c = copy(base)
                c["claims"]["inputs"][key][i] = str(q(v) + MARGIN if key in LO_KEYS else q(v) - MARGIN)
                with pytest.raises(checker.Invalid, match="inputs"):
                    checker.check(c)
                count += 1
    for L, cl in enumerate(base["claims"]["layers"]):
        for key in CLAIM_STEP:
            for j, v in enumerate(cl[key]):
                c = copy(base)
                c["claims"]["layers"][L][key][j] = str(q(v) + MARGIN if key in LO_KEYS else q(v) - MARGIN)
                with pytest.raises(checker.Invalid) as exc:
                    checker.check(c)
                assert exc.value.step == f"layer {L + 1} {CLAIM_STEP[key]}"
                count += 1
    assert count == 5 * 3 + 11 * 3
