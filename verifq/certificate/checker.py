"""The independent certificate checker (`verifq check CERT`).

It re-derives every claim of a verifq certificate (schema: SCHEMA.md) in exact
arithmetic -- Python integers and `fractions.Fraction` -- with a fixed, small
set of rules: no search, no solver, no floating point. It imports only the
Python standard library, nothing from verifq's analysis, synthesis or
fixed-point code (a test enforces this), so it can be read in one sitting and
even run on its own: `python checker.py CERT`.

A claim may be looser than what its rule derives (a range wider, an error
bound larger). Each layer is checked from the *claimed* values of the layer
before it, so every check is local, and the first step that fails is reported:

  schema               a verifq certificate of a known version, well formed
  network hash         sha256 of the canonical network content == network.sha256
  problem hash         ... of {network hash, domain, requirements, implementation}
  design hash          ... of {formats, implementation}
  spec                 (with a spec) the same network, domain, requirements, options, formats
  limits               every format respects max word / max accumulator / allowed widths
  inputs               rule "domain": input range contains the (normalized) domain box;
                       rule "input_quantization": input error and quantized input range
  layer L constants    re-quantized weights and biases fit their formats
  layer L ranges       rule "interval": pre contains W [x] + b, post contains act(pre)
  layer L errors       rule "l1_local": error bounds per neuron (formula in `_errors`)
                       and the range of the stored output
  layer L accumulator  rule "wrap_final_sum" (modular sum: only the final sum must fit)
                       or "saturate_partial_sums" (every partial sum must fit)
  layer L overflow     the formats contain the claimed accumulator and output ranges
  split ...            (a split certificate, checker_split.py, instead of the layer steps) the
                       bisection tree covers the domain, every leaf's claims follow by the
                       steps above on its box, the combined claims contain the leaves' hull
  requirements         output error bounds <= the required bounds
  verdict              verdict.proved, with bounds that follow from the claims
  generated code       sha256 of generated files (when present)

Semantics (the same as verifq/fixedpoint/design.py): weights and biases are
rounded to nearest (ties up) into their formats; the bias is aligned to the
accumulator with the design's rounding mode; products are exact and rounded
to the accumulator's grid when finer; the sum is rounded to the output grid,
the activation applied (tanh/sigmoid: the lookup table the certificate lists, entries and
all (checker_core.Table), or the ideal lookup table, error <= half
an output ulp). Truncation = floor, nearest = floor(x + ulp/2).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zlib

import sys
from fractions import Fraction
from math import lcm
from pathlib import Path

try:
    from . import checker_tight as tight  # the tight rules (symbolic ranges, first-order errors)
    from .checker_integer import KIND as INTEGER_KIND, check_integer
    from . import checker_diff as diff  # the differential error rule
    from . import checker_split as split  # split certificates (a bisection tree of boxes)
    from .checker_core import (CONSTANT_RULES, HALF_RANGE, Fmt, Invalid, Malformed, Table, act_bounds, common_denominator,
                               constant_mantissa, get, get_list, get_rats, pow2, product_rounding, rat, round_to_grid,
                               rounding_bound, show, shift_round)
except ImportError:  # run as a script: python checker.py CERT (checker_core.py, checker_tight.py, checker_diff.py next to it)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import checker_tight as tight
    from checker_integer import KIND as INTEGER_KIND, check_integer
    import checker_diff as diff
    import checker_split as split
    from checker_core import (CONSTANT_RULES, HALF_RANGE, Fmt, Invalid, Malformed, Table, act_bounds, common_denominator,
                              constant_mantissa, get, get_list, get_rats, pow2, product_rounding, rat, round_to_grid,
                              rounding_bound, show, shift_round)

FORMAT_NAME = "verifq-certificate"
MAX_GZIP_BYTES = 1 << 31
SCHEMA_VERSION = 1
ACTIVATIONS = ("relu", "linear", "tanh", "sigmoid")
LIPSCHITZ = {"relu": Fraction(1), "linear": Fraction(1), "tanh": Fraction(1), "sigmoid": Fraction(1, 4)}
ROLES = ("weight", "bias", "accum", "output")
CLAIM_KEYS = ("pre_lo", "pre_hi", "post_lo", "post_hi", "err_acc", "err_pre", "err_out",
              "acc_lo", "acc_hi", "out_lo", "out_hi")
INPUT_KEYS = ("lo", "hi", "err", "q_lo", "q_hi")


# ---------------------------------------------------------------- numbers and canonical content


def canonical_bytes(obj) -> bytes:
    """The canonical serialization that hashes are computed over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def sha256_of(obj) -> str:
    return hashlib.sha256(canonical_bytes(obj)).hexdigest()


def _q(x) -> str:
    return str(Fraction(x))


def _enum(v) -> str:
    return str(getattr(v, "value", v))


def format_text(f) -> str:
    return f"{'fixed' if f.signed else 'ufixed'}<{f.width},{f.integer_bits}>"


def network_content(net) -> dict:
    """Canonical content of a network (duck-typed on verifq's Network IR)."""
    layers = [{"activation": _enum(l.activation), "weights": [[_q(w) for w in row] for row in l.weights],
               "bias": [_q(b) for b in l.bias]} for l in net.layers]
    norm = getattr(net, "normalization", None)
    nc = None if norm is None else {k: [_q(v) for v in getattr(norm, k)] for k in ("clip_lo", "clip_hi", "mean", "range")}
    return {"layers": layers, "input_normalization": nc}


def design_content(design, table_entries=None) -> dict:
    """Formats (and lookup tables, constant rules when not the defaults) of a verifq Design.
    table_entries(L, table): the entry mantissas of layer L's table (needed when a layer has one)."""
    layers = []
    for L, lf in enumerate(design.layers):
        d = {r: [format_text(f) for f in getattr(lf, r)] for r in ROLES}
        table = getattr(lf, "table", None)
        if table is not None:
            d["table"] = {"size": table.size, "entry": format_text(table.entry), "rounding": _enum(table.rounding),
                          "overflow": _enum(table.overflow), "entries": [int(e) for e in table_entries(L, table)]}
        layers.append(d)
    out = {"inputs": [format_text(f) for f in design.inputs], "layers": layers}
    for key in ("weight_rule", "bias_rule"):
        rule = _enum(getattr(design, key, "nearest"))
        if rule != "nearest":
            out[key] = rule
    return out


def problem_content(problem, design=None, table_entries=None) -> dict:
    """Network, domain, requirements, implementation (and formats) of a verifq Problem.

    Duck-typed, so the checker needs no verifq import. `design` (default: the
    problem's own, if any) supplies the rounding/overflow/input modes analysed.
    """
    impl = problem.implementation
    design = design if design is not None else problem.design
    modes = design if design is not None else impl
    widths = impl.allowed_widths
    return {
        "network": network_content(problem.network),
        "domain": [[_q(lo), _q(hi)] for lo, hi in problem.domain],
        "requirements": {"max_error": [None if b is None else _q(b) for b in problem.max_error],
                         "no_overflow": bool(problem.require_no_overflow)},
        "implementation": {"rounding": _enum(modes.rounding), "overflow": _enum(modes.overflow),
                           "inputs_fixed": bool(modes.inputs_fixed), "max_word": impl.max_word,
                           "max_accumulator": impl.max_accumulator,
                           "allowed_widths": None if widths is None else sorted(int(w) for w in widths)},
        "formats": None if design is None else design_content(design, table_entries),
    }


def problem_hash_input(network_sha: str, domain, requirements, implementation) -> dict:
    return {"network_sha256": network_sha, "domain": domain, "requirements": requirements,
            "implementation": implementation}


def design_hash_input(formats, implementation, formats_source=None) -> dict:
    """What the design hash covers; `formats_source` ("synthesis" when `verifq synth` chose the
    formats) only when recorded, so certificates without it keep their hash."""
    doc = {"formats": formats, "implementation": implementation}
    if formats_source is not None:
        doc["formats_source"] = formats_source
    return doc


class Layer:
    __slots__ = ("act", "weights", "bias", "n_in", "n_out", "wn", "wd")


def parse_network(content, where="network.content") -> tuple[list[Layer], dict | None]:
    layers = []
    n_prev = None
    for i, ld in enumerate(get_list(content, "layers", where)):
        w = f"{where}.layers[{i}]"
        L = Layer()
        L.act = get(ld, "activation", w, str)
        if L.act not in ACTIVATIONS:
            raise Malformed(f"{w}.activation: unknown activation {L.act!r}")
        rows = get_list(ld, "weights", w)
        if not rows or not isinstance(rows[0], list) or not rows[0]:
            raise Malformed(f"{w}.weights: must be a non-empty list of non-empty rows")
        L.n_out, L.n_in = len(rows), len(rows[0])
        if n_prev is not None and L.n_in != n_prev:
            raise Malformed(f"{w}.weights: {L.n_in} inputs but the previous layer has {n_prev} outputs")
        L.weights = []
        for j, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != L.n_in:
                raise Malformed(f"{w}.weights[{j}]: expected {L.n_in} weights")
            L.weights.append([rat(v, f"{w}.weights[{j}][{k}]") for k, v in enumerate(row)])
        L.bias = get_rats(ld, "bias", w, L.n_out)
        L.wd = lcm(*{v.denominator for row in L.weights for v in row})
        L.wn = [[v.numerator * (L.wd // v.denominator) for v in row] for row in L.weights]
        layers.append(L)
        n_prev = L.n_out
    if not layers:
        raise Malformed(f"{where}.layers: empty")
    norm = get(content, "input_normalization", where, (dict, type(None)))
    if norm is not None:
        norm = {k: get_rats(norm, k, f"{where}.input_normalization", layers[0].n_in) for k in ("clip_lo", "clip_hi", "mean", "range")}
    return layers, norm


def canonical_network(layers: list[Layer], norm) -> dict:
    """The canonical content rebuilt from the parsed values (so the hash is over values)."""
    return {"layers": [{"activation": L.act, "weights": [[str(v) for v in row] for row in L.weights],
                        "bias": [str(v) for v in L.bias]} for L in layers],
            "input_normalization": None if norm is None else {k: [str(v) for v in vs] for k, vs in norm.items()}}


def read_certificate(path) -> dict:
    try:
        if Path(path).exists() and not Path(path).is_file():  # a FIFO would block forever
            raise Malformed(f"cannot read the certificate file: {path} is not a regular file")
        with open(path, "rb") as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b":  # gzip (a `.json.gz` certificate), read up to MAX_GZIP_BYTES
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as g:
                data = g.read(MAX_GZIP_BYTES + 1)
            if len(data) > MAX_GZIP_BYTES:
                raise Malformed(f"the compressed certificate unpacks to more than {MAX_GZIP_BYTES} bytes")
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError, zlib.error) as exc:
        raise Malformed(f"cannot read the certificate file: {getattr(exc, 'strerror', None) or exc}") from None

    def no_float(s):
        raise Malformed(f"inexact JSON number {s} (numbers must be integers or \"p/q\" strings)")

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise Malformed(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
        return dict(pairs)

    try:
        doc = json.loads(text, parse_float=no_float, parse_constant=no_float, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise Malformed(f"not JSON ({exc})") from None
    except (ValueError, RecursionError) as exc:  # a number too long for int(), nesting too deep
        raise Malformed(f"not a readable certificate ({type(exc).__name__}: {str(exc)[:80]})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise Malformed(f"not a verifq certificate (no \"format\": \"{FORMAT_NAME}\")")
    return doc


# ---------------------------------------------------------------- the checker
class Checker:
    """Checks one certificate document; `log` collects (step, detail) of passed steps."""

    def __init__(self, cert: dict, *, spec_content: dict | None = None, code_dir=None):
        self.cert, self.spec_content, self.code_dir = cert, spec_content, code_dir
        self.log: list[tuple[str, str]] = []
        self.notes: list[str] = []
        self.details: list[dict] = []  # per layer: derived error parts (used by the report)
        self.tight_state: dict = {}  # what the tight rules keep between layers (checker_tight.py)
        self.formats_must_fit = True  # False for a split's boxes: only its combined claims must fit

    def ok(self, step: str, detail: str) -> None:
        self.log.append((step, detail))

    def run(self) -> None:
        if self.cert.get("kind") == INTEGER_KIND:  # an already-quantized (QONNX) network: checker_integer.py
            if self.cert.get("schema_version") != SCHEMA_VERSION:
                raise Malformed(f"unsupported schema_version {self.cert.get('schema_version')!r}")
            self.log += check_integer(self.cert)
            if self.spec_content is not None:
                self._integer_spec()
            return
        self._schema()
        self._hashes()
        self._tables_fit()
        if self.spec_content is not None:
            self._spec()
        self._limits()
        prev = self._inputs()
        if "split" in self.cert:  # the domain bisected into boxes, each checked alone: checker_split.py
            prev = split.check_split(self, prev)
        else:
            for L in range(len(self.layers)):
                prev = self._layer(L, prev)
        self._requirements(prev)
        self._code()

    # ---- structure
    def _schema(self) -> None:
        c = self.cert
        if c.get("format") != FORMAT_NAME:
            raise Malformed(f"not a verifq certificate (format {c.get('format')!r})")
        if c.get("schema_version") != SCHEMA_VERSION:
            raise Malformed(f"unsupported schema_version {c.get('schema_version')!r} (this checker reads {SCHEMA_VERSION})")
        net = get(c, "network", "certificate", dict)
        self.net_sha = get(net, "sha256", "network", str)
        self.layers, self.norm = parse_network(get(net, "content", "network", dict))
        n_in, n_out = self.layers[0].n_in, self.layers[-1].n_out
        self.domain = [(rat(p[0], f"domain[{i}][0]"), rat(p[1], f"domain[{i}][1]")) if isinstance(p, list) and len(p) == 2
                       else _bad(f"domain[{i}]: expected [lo, hi]") for i, p in enumerate(get_list(c, "domain", "certificate", n_in))]
        req = get(c, "requirements", "certificate", dict)
        self.max_error = [None if v is None else rat(v, f"requirements.max_error[{i}]")
                          for i, v in enumerate(get_list(req, "max_error", "requirements", n_out))]
        get(req, "no_overflow", "requirements", bool)
        impl = get(c, "implementation", "certificate", dict)
        self.rounding = get(impl, "rounding", "implementation", str)
        self.overflow = get(impl, "overflow", "implementation", str)
        if self.rounding not in ("truncate", "nearest") or self.overflow not in ("wrap", "saturate"):
            raise Malformed("implementation: rounding must be truncate|nearest and overflow wrap|saturate")
        self.nearest = self.rounding == "nearest"
        self.inputs_fixed = get(impl, "inputs_fixed", "implementation", bool)
        self.max_word = get(impl, "max_word", "implementation", (int, type(None)))
        self.max_acc = get(impl, "max_accumulator", "implementation", (int, type(None)))
        self.widths = get(impl, "allowed_widths", "implementation", (list, type(None)))
        if self.widths is not None and not all(type(w) is int for w in self.widths):
            raise Malformed("implementation.allowed_widths: expected integers")
        self.problem_sha = get(c, "problem_sha256", "certificate", str)
        self.design_sha = get(c, "design_sha256", "certificate", str)
        fm = get(c, "formats", "certificate", dict)
        self.in_fmt = [Fmt(t, f"formats.inputs[{i}]") for i, t in enumerate(get_list(fm, "inputs", "formats", n_in))]
        fl = get_list(fm, "layers", "formats", len(self.layers))
        self.fmts = [{r: [Fmt(t, f"formats.layers[{L}].{r}[{j}]")
                          for j, t in enumerate(get_list(d, r, f"formats.layers[{L}]", self.layers[L].n_out))]
                      for r in ROLES} for L, d in enumerate(fl)]
        self.tables = [None if d.get("table", "ideal") == "ideal" else Table(d["table"], self.layers[L].act,
                                                                              f"formats.layers[{L}].table")
                       for L, d in enumerate(fl)]
        self.constant_rules = {key: fm.get(key, "nearest") for key in ("weight_rule", "bias_rule")}
        if any(r not in CONSTANT_RULES for r in self.constant_rules.values()):
            raise Malformed(f"formats: constant rules are one of {', '.join(CONSTANT_RULES)}")
        self.in_rules, self.in_claims, self.claims, self.rules = self.parse_claims(get(c, "claims", "certificate", dict))
        v = get(c, "verdict", "certificate", dict)
        self.proved = get(v, "proved", "verdict", bool)
        self.out_bounds = get_rats(v, "output_error_bounds", "verdict", n_out)
        self.code = get(c, "generated_code", "certificate", dict) if "generated_code" in c else None
        self.formats_source = get(c, "formats_source", "certificate", str) if "formats_source" in c else None
        if self.formats_source not in (None, "spec", "synthesis"):
            raise Malformed(f"formats_source: unknown {self.formats_source!r} (spec or synthesis)")
        params = sum(L.n_in * L.n_out + L.n_out for L in self.layers)
        self.ok("schema", f"schema {SCHEMA_VERSION}, {len(self.layers)} layers, {params} parameters")

    def parse_claims(self, cl, where="claims"):
        """(input rules, input claims, per-layer claims, per-layer rules) of a claims object."""
        ci = get(cl, "inputs", where, dict)
        in_rules = (get(ci, "range_rule", f"{where}.inputs", str), get(ci, "error_rule", f"{where}.inputs", str))
        in_claims = {k: get_rats(ci, k, f"{where}.inputs", self.layers[0].n_in) for k in INPUT_KEYS}
        claims, rules = [], []
        for L, d in enumerate(get_list(cl, "layers", where, len(self.layers))):
            w = f"{where}.layers[{L}]"
            claims.append({k: get_rats(d, k, w, self.layers[L].n_out) for k in CLAIM_KEYS})
            rules.append({k: get(d, k, w, str) for k in ("range_rule", "error_rule", "accum_rule")})
            get(d, "hints", w, dict)
            rules[-1]["activation"] = d.get("activation", self.layers[L].act)
        return in_rules, in_claims, claims, rules

    def _tables_fit(self) -> None:
        for L, table in enumerate(self.tables):
            if table is not None and table.act not in HALF_RANGE:
                raise Invalid("formats", f"layer {L + 1} is {table.act}: only tanh/sigmoid layers have a lookup table")

    def _hashes(self) -> None:
        c = self.cert
        content = canonical_network(self.layers, self.norm)
        h = sha256_of(content)
        if h != self.net_sha:
            raise Invalid("network hash", f"the network content hashes to {h}, the certificate says {self.net_sha}")
        self.ok("network hash", h)
        domain = [[str(lo), str(hi)] for lo, hi in self.domain]
        req = {"max_error": [None if b is None else str(b) for b in self.max_error],
               "no_overflow": c["requirements"]["no_overflow"]}
        impl = {"rounding": self.rounding, "overflow": self.overflow, "inputs_fixed": self.inputs_fixed,
                "max_word": self.max_word, "max_accumulator": self.max_acc, "allowed_widths": self.widths}
        layers = [{r: [f.text for f in d[r]] for r in ROLES} for d in self.fmts]
        for d, table in zip(layers, self.tables):
            if table is not None:
                d["table"] = table.content()
        formats = {"inputs": [f.text for f in self.in_fmt], "layers": layers}
        formats.update({k: v for k, v in self.constant_rules.items() if v != "nearest"})
        self.content = {"network": content, "domain": domain, "requirements": req, "implementation": impl,
                        "formats": formats}
        for step, want, obj in (("problem hash", self.problem_sha, problem_hash_input(h, domain, req, impl)),
                                ("design hash", self.design_sha, design_hash_input(self.content["formats"], impl, self.formats_source))):
            got = sha256_of(obj)
            if got != want:
                raise Invalid(step, f"the content hashes to {got}, the certificate says {want}")
            self.ok(step, got)

    def _integer_spec(self) -> None:
        """The same integer network, domain, accumulators and error requirements as the spec's."""
        s, c = self.spec_content, self.cert
        if s.get("kind") != INTEGER_KIND:
            raise Invalid("spec", "the spec is about a float network; this certificate is about a QONNX integer network")
        if s["network_sha256"] != c["network"]["sha256"]:
            raise Invalid("spec", "the certificate is about a different integer network than the spec's")
        for key, have in (("domain", c["domain"]), ("implementation", c["implementation"])):
            if canonical_bytes(have) != canonical_bytes(s[key]):
                raise Invalid("spec", f"the {key} differs from the spec's")
        if any(b is not None for b in s["max_error"]) and c.get("requirements", {}).get("max_error") != s["max_error"]:
            raise Invalid("spec", "the spec requires error bounds this certificate does not cover (it proves "
                                  "overflow-freedom only, or for other bounds)")
        self.ok("spec", "same integer network, domain, accumulators" + (", error requirements" if c.get("requirements") else ""))

    def _spec(self) -> None:
        s, c = self.spec_content, self.content
        if s.get("kind") == INTEGER_KIND:
            raise Invalid("spec", "the spec is about a QONNX integer network; this certificate is about a float network")
        if sha256_of(s["network"]) != sha256_of(c["network"]):
            raise Invalid("spec", f"the certificate is about a different network (sha256 {sha256_of(c['network'])[:16]}... "
                                  f"vs the spec's {sha256_of(s['network'])[:16]}...)")
        for key in ("domain", "requirements", "implementation"):
            a, b = c[key], s[key]
            if canonical_bytes(a) != canonical_bytes(b):
                keys = a.keys() if isinstance(a, dict) else range(max(len(a), len(b)))
                diff = [str(k) for k in keys if canonical_bytes(_at(a, k)) != canonical_bytes(_at(b, k))]
                raise Invalid("spec", f"the {key} differs from the spec's (at {', '.join(diff[:5])})")
        if self.formats_source == "synthesis":  # the spec's own formats block (if any) was not used
            self.notes.append("the formats were synthesized: the spec's formats block, if any, is not compared")
        elif s.get("formats") is not None and canonical_bytes(s["formats"]) != canonical_bytes(c["formats"]):
            raise Invalid("spec", "the formats differ from the formats the spec gives")
        self.ok("spec", "same network, domain, requirements, implementation" + (", formats" if s.get("formats") else ""))

    def _limits(self) -> None:
        for where, f, role in self._all_formats():
            if self.max_word is not None and f.width > self.max_word:
                raise Invalid("limits", f"{where} {f.text} is wider than max word = {self.max_word}")
            if role == "accum" and self.max_acc is not None and f.width > self.max_acc:
                raise Invalid("limits", f"{where} {f.text} is wider than max accumulator = {self.max_acc}")
            if role in ("input", "weight", "output") and self.widths is not None and f.width not in self.widths:
                raise Invalid("limits", f"{where} {f.text}: width not in the allowed widths {self.widths}")
        self.ok("limits", f"max word {self.max_word}, max accumulator {self.max_acc}, widths {self.widths}")

    def _all_formats(self):
        for i, f in enumerate(self.in_fmt):
            yield f"input {i}", f, "input"
        for L, d in enumerate(self.fmts):
            for r in ROLES:
                for j, f in enumerate(d[r]):
                    yield f"layer {L + 1} neuron {j} {r}", f, r

    # ---- inputs
    def _inputs(self):
        step = "inputs"
        rr, er = self.in_rules
        if rr != "domain" or er != "input_quantization":
            raise Invalid(step, f"unknown rule (range_rule {rr!r}, error_rule {er!r}; "
                                "this checker knows 'domain', 'input_quantization')")
        box = []
        for i, (lo, hi) in enumerate(self.domain):
            if lo > hi:
                raise Invalid(step, f"domain of input {i} is empty ({show(lo)} > {show(hi)})")
            lo, hi = self.network_interval(i, lo, hi)
            if lo > hi:
                raise Invalid(step, f"input {i}: the domain contains no value of {self.in_fmt[i].text}")
            box.append((lo, hi))
        c = self.in_claims
        for i, ((lo, hi), f) in enumerate(zip(box, self.in_fmt)):
            if not (c["lo"][i] <= lo and hi <= c["hi"][i]):
                raise Invalid(step, f"input {i}: claimed range [{show(c['lo'][i])}, {show(c['hi'][i])}] "
                                    f"does not contain the domain [{show(lo)}, {show(hi)}]")
            if self.inputs_fixed:
                e, qlo, qhi = Fraction(0), lo, hi
            else:
                e = rounding_bound(None, f.frac, self.nearest)
                qlo, qhi = (round_to_grid(v, f.frac, self.nearest) * pow2(-f.frac) for v in (lo, hi))
            if c["err"][i] < e:
                raise Invalid(step, f"input {i}: claimed error {show(c['err'][i])} is below the rounding error {show(e)}")
            if not (c["q_lo"][i] <= qlo and qhi <= c["q_hi"][i]):
                raise Invalid(step, f"input {i}: claimed quantized range does not contain [{show(qlo)}, {show(qhi)}]")
            if not (f.min_value <= c["q_lo"][i] and c["q_hi"][i] <= f.max_value):
                raise Invalid(step, f"input {i}: quantized range [{show(c['q_lo'][i])}, {show(c['q_hi'][i])}] overflows {f.text}")
        self.ok(step, f"{len(box)} inputs: ranges contain the domain, errors and quantized ranges follow, formats fit")
        return c["lo"], c["hi"], c["err"], c["q_lo"], c["q_hi"], [f.frac for f in self.in_fmt]

    def network_interval(self, i: int, lo: Fraction, hi: Fraction) -> tuple[Fraction, Fraction]:
        """Input i's interval [lo, hi] (domain units) in network units after the normalization, shrunk to
        the grid points of its format with fixed-point inputs (only those occur; lo > hi: none does)."""
        if self.norm is not None:
            n = self.norm
            if n["range"][i] <= 0 or n["clip_lo"][i] > n["clip_hi"][i]:
                raise Invalid("inputs", f"input normalization of input {i} is not increasing")
            lo, hi = ((min(max(v, n["clip_lo"][i]), n["clip_hi"][i]) - n["mean"][i]) / n["range"][i] for v in (lo, hi))
        if self.inputs_fixed:  # inputs arrive in their formats: only grid points of the box occur
            f = self.in_fmt[i].frac
            lo, hi = -round_to_grid(-lo, f, False) * pow2(-f), round_to_grid(hi, f, False) * pow2(-f)
        return lo, hi

    # ---- one dense layer
    def _layer(self, L: int, prev):
        layer, fm, cl, rules = self.layers[L], self.fmts[L], self.claims[L], self.rules[L]
        name = f"layer {L + 1}"
        for key, known in (("range_rule", ("interval",) + tight.RANGE_RULES), ("error_rule", ("l1_local",) + tight.ERROR_RULES),
                           ("accum_rule", ("wrap_final_sum",) if self.overflow == "wrap" else ("saturate_partial_sums",))):
            if rules[key] not in known:
                raise Invalid(f"{name} rules", f"{key} {rules[key]!r} is not a rule this checker knows for this "
                                               f"certificate (expected {' or '.join(known)})")
        if rules["activation"] != layer.act:
            raise Invalid(f"{name} rules", f"the claims are for a {rules['activation']} layer, the network's is {layer.act}")
        mants, beff = self._constants(name, layer, fm)
        if rules["range_rule"] == "interval":
            self._ranges(name, layer, cl, prev)
        else:
            tight.ranges(self, L, name, layer, cl, prev)
        if rules["error_rule"] == "l1_local":
            self._errors(name, L, layer, fm, cl, prev, mants, beff)
        else:  # first_order (/ differential): the l1 bounds E1 only intersect; the signed intervals are checked
            dv = diff.derive(self, L, name, layer, fm, cl, prev, mants, beff) if rules["error_rule"] == "differential" else None
            tight.errors(self, L, name, layer, fm, cl, prev, mants, beff,
                         self._errors(name, L, layer, fm, cl, prev, mants, beff, False), dv)
        if rules["error_rule"] == "l1_local" or self.overflow == "saturate":
            self._accum(name, L, layer, fm, cl, prev, mants, beff)
        for j in range(layer.n_out) if self.formats_must_fit else ():
            for role, lo, hi in (("accum", cl["acc_lo"][j], cl["acc_hi"][j]), ("output", cl["out_lo"][j], cl["out_hi"][j])):
                f = fm[role][j]
                if not (f.min_value <= lo and hi <= f.max_value):
                    raise Invalid(f"{name} overflow", f"neuron {j}: {role} range [{show(lo)}, {show(hi)}] does not fit "
                                                      f"{f.text} [{show(f.min_value)}, {show(f.max_value)}]")
        self.ok(f"{name} overflow", f"{layer.n_out} accumulator and output ranges fit their formats" if self.formats_must_fit
                else "not required of these claims")
        return cl["post_lo"], cl["post_hi"], cl["err_out"], cl["out_lo"], cl["out_hi"], [f.frac for f in fm["output"]]

    def _constants(self, name, layer: Layer, fm):
        mants, beff = [], []
        d = layer.wd
        for j in range(layer.n_out):
            fw, fb, fa = fm["weight"][j], fm["bias"][j], fm["accum"][j]
            F = fw.frac
            if self.constant_rules["weight_rule"] != "nearest":
                m = [constant_mantissa(w, F, self.constant_rules["weight_rule"]) for w in layer.weights[j]]
            elif F >= 0:
                m = [((n << (F + 1)) + d) // (2 * d) for n in layer.wn[j]]
            else:
                d2 = d << -F
                m = [(2 * n + d2) // (2 * d2) for n in layer.wn[j]]
            if min(m) < fw.min_int or max(m) > fw.max_int:
                k = next(k for k, v in enumerate(m) if not fw.min_int <= v <= fw.max_int)
                raise Invalid(f"{name} constants", f"neuron {j}: weight {k} = {show(layer.weights[j][k])} rounds to "
                                                   f"{show(m[k] * pow2(-F))}, outside {fw.text}")
            mb = constant_mantissa(layer.bias[j], fb.frac, self.constant_rules["bias_rule"])
            if not fb.min_int <= mb <= fb.max_int:
                raise Invalid(f"{name} constants", f"neuron {j}: bias {show(layer.bias[j])} rounds outside {fb.text}")
            mants.append(m)
            beff.append(shift_round(mb, fb.frac - fa.frac, self.nearest) * pow2(-fa.frac))
        self.ok(f"{name} constants", f"{layer.n_out * (layer.n_in + 1)} weights and biases re-quantized, all fit their formats")
        return mants, beff

    def _ranges(self, name, layer: Layer, cl, prev):
        step = f"{name} ranges"
        x_lo, x_hi = prev[0], prev[1]
        xs, dx = common_denominator(x_lo + x_hi)
        xl, xh = xs[:len(x_lo)], xs[len(x_lo):]
        den = layer.wd * dx
        for j in range(layer.n_out):
            row = layer.wn[j]
            lo = Fraction(sum(w * (a if w > 0 else b) for w, a, b in zip(row, xl, xh)), den) + layer.bias[j]
            hi = Fraction(sum(w * (b if w > 0 else a) for w, a, b in zip(row, xl, xh)), den) + layer.bias[j]
            if cl["pre_lo"][j] > lo or cl["pre_hi"][j] < hi:
                raise Invalid(step, f"neuron {j}: claimed pre-activation range [{show(cl['pre_lo'][j])}, {show(cl['pre_hi'][j])}] "
                                    f"does not contain the interval image [{show(lo)}, {show(hi)}]")
            plo, phi = act_bounds(layer.act, cl["pre_lo"][j], False), act_bounds(layer.act, cl["pre_hi"][j], True)
            if cl["post_lo"][j] > plo or cl["post_hi"][j] < phi:
                raise Invalid(step, f"neuron {j}: claimed post-activation range [{show(cl['post_lo'][j])}, {show(cl['post_hi'][j])}] "
                                    f"does not contain {layer.act}(pre) [{show(plo)}, {show(phi)}]")
        self.ok(step, f"{layer.n_out} neurons: pre and post ranges contain the interval images of the claimed inputs")

    def _errors(self, name, L_index, layer: Layer, fm, cl, prev, mants, beff, check=True):
        """E_acc_j = sum_k |w~_jk| e_k + sum_k |w~_jk - w_jk| max|x_k| + |b_eff_j - b_j| + sum_k r_jk;
        E_pre = E_acc + r_out; E_out = Lip * E_pre (+ the lookup's error for tanh/sigmoid, `lookup`;
        0 for a ReLU whose real and quantized pre-activations are <= 0)."""
        step = f"{name} errors"
        x_lo, x_hi, e_in, _, _, in_frac = prev
        es, de = common_denominator(e_in)
        xs, dx = common_denominator([max(abs(a), abs(b)) for a, b in zip(x_lo, x_hi)])
        parts = {k: [] for k in ("propagated", "weight quantization", "bias quantization", "product rounding",
                                 "output rounding", "activation")}
        d, e1 = layer.wd, []
        for j in range(layer.n_out):
            m, F = mants[j], fm["weight"][j].frac
            fa, fo = fm["accum"][j].frac, fm["output"][j].frac
            prop = Fraction(sum(abs(a) * b for a, b in zip(m, es)), de) * pow2(-F)
            if F >= 0:
                wq = Fraction(sum(abs(a * d - (n << F)) * x for a, n, x in zip(m, layer.wn[j], xs)), (d << F) * dx)
            else:
                wq = Fraction(sum(abs((a << -F) * d - n) * x for a, n, x in zip(m, layer.wn[j], xs)), d * dx)
            bq = abs(beff[j] - layer.bias[j])
            pr = product_rounding(m, F, in_frac, fa, self.nearest)
            derived = prop + wq + bq + pr
            if not check:  # the l1 bounds (E_acc, E_pre, E_out) from the claimed inputs, for first_order
                ep = derived + rounding_bound(fa, fo, self.nearest)
                if layer.act in ("tanh", "sigmoid"):
                    lk = self.lookup(L_index, j, fo, cl["pre_lo"][j] - ep, cl["pre_hi"][j] + ep)
                    e1.append((derived, ep, LIPSCHITZ[layer.act] * ep + max(-lk[0], lk[1])))
                else:
                    e1.append((derived, ep, 0 if layer.act == "relu" and cl["pre_hi"][j] + ep <= 0 else ep))
                continue
            if cl["err_acc"][j] < derived:
                raise Invalid(step, f"neuron {j}: claimed accumulator error {show(cl['err_acc'][j])} is below the derived "
                                    f"{show(derived)} (propagated {show(prop)}, weights {show(wq)}, bias {show(bq)}, products {show(pr)})")
            ro = rounding_bound(fa, fo, self.nearest)
            if cl["err_pre"][j] < cl["err_acc"][j] + ro:
                raise Invalid(step, f"neuron {j}: claimed rounded-sum error {show(cl['err_pre'][j])} is below "
                                    f"{show(cl['err_acc'][j] + ro)} (accumulator error + output rounding {show(ro)})")
            e_pre, pre_lo, pre_hi = cl["err_pre"][j], cl["pre_lo"][j], cl["pre_hi"][j]
            if layer.act in ("tanh", "sigmoid"):
                err_lo, err_hi, olo, ohi = self.lookup(L_index, j, fo, pre_lo - e_pre, pre_hi + e_pre)
                extra = max(-err_lo, err_hi)
                e_out = LIPSCHITZ[layer.act] * e_pre + extra
            else:
                e_out, extra = (0 if layer.act == "relu" and pre_hi + e_pre <= 0 else e_pre), 0
                olo = act_bounds(layer.act, pre_lo - e_pre, False)
                ohi = act_bounds(layer.act, pre_hi + e_pre, True)
            if cl["err_out"][j] < e_out:
                raise Invalid(step, f"neuron {j}: claimed output error {show(cl['err_out'][j])} is below the derived {show(e_out)}")
            if cl["out_lo"][j] > olo or cl["out_hi"][j] < ohi:
                raise Invalid(step, f"neuron {j}: claimed output range [{show(cl['out_lo'][j])}, {show(cl['out_hi'][j])}] "
                                    f"does not contain [{show(olo)}, {show(ohi)}]")
            for k, v in zip(parts, (prop, wq, bq, pr, ro, extra)):
                parts[k].append(v)
        if not check:
            return e1
        self.details.append(parts)
        self.ok(step, f"{layer.n_out} neurons: error bounds follow from the claimed inputs (rule l1_local)")

    def lookup(self, L: int, j: int, out_frac: int, v_lo: Fraction, v_hi: Fraction):
        """(error lo, error hi, output lo, output hi) of neuron j's tanh/sigmoid lookup (layer L, 0-based)
        for every rounded pre-activation v in [v_lo, v_hi]: the layer's table (checker_core.Table), or
        the ideal table (the exact value rounded to nearest: error within half an output ulp)."""
        act, table = self.layers[L].act, self.tables[L]
        if table is None:
            half = pow2(-out_frac - 1)
            return -half, half, act_bounds(act, v_lo, False) - half, act_bounds(act, v_hi, True) + half
        cache = self.tight_state.setdefault("act_bounds", {})

        def f(x, upper):
            if (act, x, upper) not in cache:
                cache[(act, x, upper)] = act_bounds(act, x, upper)
            return cache[(act, x, upper)]

        return table.bound(out_frac, self.nearest, v_lo, v_hi, f)

    def _accum(self, name, L, layer: Layer, fm, cl, prev, mants, beff):
        step = f"{name} accumulator"
        if self.overflow == "saturate":
            qs, dq = common_denominator([max(abs(a), abs(b)) for a, b in zip(prev[3], prev[4])])
        for j in range(layer.n_out):
            if self.overflow == "wrap":  # two's complement sums are modular: only the final sum must fit
                lo, hi = cl["pre_lo"][j] - cl["err_acc"][j], cl["pre_hi"][j] + cl["err_acc"][j]
            else:  # every partial sum: |b_eff| + sum_k (|w~_jk| max|x~_k| + r_jk)
                F = fm["weight"][j].frac
                s = Fraction(sum(abs(a) * x for a, x in zip(mants[j], qs)), dq) * pow2(-F)
                hi = abs(beff[j]) + s + product_rounding(mants[j], F, prev[5], fm["accum"][j].frac, self.nearest)
                lo = -hi
            if cl["acc_lo"][j] > lo or cl["acc_hi"][j] < hi:
                raise Invalid(step, f"neuron {j}: claimed accumulator range [{show(cl['acc_lo'][j])}, {show(cl['acc_hi'][j])}] "
                                    f"does not contain [{show(lo)}, {show(hi)}] (rule {self.rules[L]['accum_rule']})")
        self.ok(step, f"{layer.n_out} neurons: accumulator ranges follow")

    # ---- the end
    def _requirements(self, last) -> None:
        e_out = last[2]
        for i, (b, e) in enumerate(zip(self.max_error, e_out)):
            if b is not None and e > b:
                raise Invalid("requirements", f"output {i}: error bound {show(e)} exceeds the required {show(b)}")
        self.ok("requirements", "every output error bound is within its required bound")
        if not self.proved:
            raise Invalid("verdict", "the certificate does not claim a proof (verdict.proved is false)")
        for i, (v, e, b) in enumerate(zip(self.out_bounds, e_out, self.max_error)):
            if v < e or (b is not None and v > b):
                raise Invalid("verdict", f"output {i}: stated bound {show(v)} does not lie between the claimed "
                                         f"error {show(e)} and the required {show(b)}")
        self.ok("verdict", "proved: " + ", ".join(show(v) for v in self.out_bounds))

    def _code(self) -> None:
        """Every generated file the certificate binds must be present in the code folder with its
        certified sha256, and every file the folder's manifest.json lists must be bound (so a
        deleted binding is noticed). With no code at hand, --no-code checks the claims alone."""
        if self.code is None:
            return
        for fname, digest in self.code.items():
            if not isinstance(digest, str) or not fname or Path(fname).is_absolute() or ".." in Path(fname).parts:
                raise Malformed(f"generated_code: bad entry {fname!r}")
        if self.code_dir is None:  # --no-code
            self.notes.append(f"generated code not checked ({len(self.code)} bound files): --no-code")
            self.ok("generated code", f"not checked (--no-code), {len(self.code)} files bound")
            return
        base = Path(self.code_dir)
        for fname, digest in sorted(self.code.items()):
            p = base / fname
            if not p.is_file():
                raise Invalid("generated code", f"{fname} is bound by the certificate but not found in {base} "
                                                "(pass --code with the folder of the generated code, or --no-code "
                                                "to check the claims alone)")
            got = hashlib.sha256(p.read_bytes()).hexdigest()
            if got != digest:
                raise Invalid("generated code", f"{fname}: sha256 {got} differs from the certified {digest}")
        manifest = base / "manifest.json"
        if manifest.is_file():
            try:
                listed = json.loads(manifest.read_text(encoding="utf-8")).get("files", {})
            except (ValueError, OSError, AttributeError):
                listed = None
            if not isinstance(listed, dict):
                raise Invalid("generated code", f"{manifest} is not a verifq code manifest")
            unbound = sorted(set(listed) - set(self.code))
            if unbound:
                raise Invalid("generated code", f"{', '.join(unbound[:3])} listed in {manifest} but not bound by "
                                                "the certificate")
        self.ok("generated code", f"{len(self.code)} files match their certified sha256")


def _at(x, k):
    return x.get(k) if isinstance(x, dict) else (x[k] if k < len(x) else None)


def _bad(msg):
    raise Malformed(msg)


# ---------------------------------------------------------------- entry points
def check(cert: dict, *, spec_content: dict | None = None, code_dir=None) -> Checker:
    """Run every step; raises Invalid or Malformed at the first failure, else returns the Checker."""
    ch = Checker(cert, spec_content=spec_content, code_dir=code_dir)
    ch.run()
    return ch


def check_file(path, *, spec_content: dict | None = None, code_dir=None, check_code: bool = True,
               verbose: bool = False, out=None, err=None) -> int:
    """Check a certificate file, print the verdict line; exit code 0 valid, 1 invalid, 2 malformed.
    code_dir: the folder of the generated code (default: the certificate's); check_code=False: the
    claims alone."""
    ch, out, err = None, out or sys.stdout, err or sys.stderr
    try:
        if code_dir is not None and check_code and not Path(code_dir).is_dir():
            raise Malformed(f"the code folder {code_dir} does not exist")
        cert = read_certificate(path)
        base = (Path(code_dir) if code_dir is not None else Path(path).parent) if check_code else None
        ch = Checker(cert, spec_content=spec_content, code_dir=base)
        ch.run()
        code, line = 0, "VALID"
    except Malformed as exc:
        code, line = 2, f"INVALID: unreadable or malformed certificate {path}: {exc}"
    except Invalid as exc:
        code, line = 1, f"INVALID: {exc.step}: {exc.message}"
    except (RecursionError, MemoryError, ValueError, TypeError, KeyError, IndexError, ZeroDivisionError) as exc:
        code, line = 2, f"INVALID: malformed certificate {path}: {type(exc).__name__}: {str(exc)[:200]}"
    if verbose and ch is not None:
        for step, detail in ch.log:
            print(f"  ok  {step}: {detail}", file=out)
    print(line, file=out)
    for note in ch.notes if ch is not None else ():
        print(f"note: {note}", file=err)
    return code


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="checker.py", description="Check a verifq certificate (standard library only).")
    p.add_argument("certificate")
    p.add_argument("--code", help="directory holding the generated code (default: the certificate's)")
    p.add_argument("--no-code", action="store_true", help="check the claims without the bound generated code")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    return check_file(a.certificate, code_dir=a.code, check_code=not a.no_code, verbose=a.verbose)


if __name__ == "__main__":
    sys.exit(main())
