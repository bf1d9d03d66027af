"""Certificates: the record of a successful `prove` / `synth` that a reviewer
re-checks with `verifq check` (schema: SCHEMA.md).

`build_certificate(analysis)` turns an `Analysis` (verifq.analysis.prove) into
the JSON document: canonical network content and its sha256, domain,
requirements, implementation options, formats, every per-neuron claim as an
exact rational string, the rule each claim was derived with, the verifq
version and the verdict. `write_certificate(path, analysis)` writes it
atomically (complete or absent, never half-written).

The canonical content is built by the checker's own `problem_content`, so
the checker and the writer agree on one definition of it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from fractions import Fraction
from pathlib import Path

from .. import __version__
from ..analysis.methods import ErrorMethod, RangeMethod
from ..analysis.prove import analyse
from ..outputs import write_bytes_atomic, write_text_atomic
from ..fixedpoint.tables import table_entries
from ..numeric.scaled import PRECISION
from . import checker, checker_tight

MAX_SPEC_BYTES = 1 << 20  # a spec is embedded in the certificate (for the report) up to this size


class CertificateError(ValueError):
    """The analysis cannot be certified (it did not prove the requirements)."""


def _q(n) -> str:
    """A scaled int of the analysis as an exact rational string."""
    return str(Fraction(int(n), 1 << PRECISION))


def _qs(values) -> list[str]:
    return [_q(v) for v in values]


def problem_content(problem, design=None) -> dict:
    """The checker's canonical content of a problem and design, lookup-table entries included
    (computed here, as verifq's semantics defines them: the checker itself takes them as given)."""
    def entries(L, table):
        return table_entries(problem.network.layers[L].activation, table)

    return checker.problem_content(problem, design, entries)


def build_certificate(
    analysis,
    *,
    generated_code: dict[str, str] | None = None,
    measurements: dict | None = None,
    spec_text: str | None = None,
    command: str | None = None,
    synthesized: bool = False,
) -> dict:
    """The certificate document of a proved `Analysis` (raises CertificateError otherwise).

    `generated_code`: {file name: sha256 hex} of generated files (relative to the
    certificate's folder); `measurements`: optional simulation results (recorded,
    not checked); `spec_text`: the spec's text (read from problem.spec_path when
    omitted and readable); `command`: the command line that produced it.
    """
    if not analysis.proved:
        first = analysis.violations[0].describe() if analysis.violations else "not proved"
        raise CertificateError(f"only a successful proof can be certified ({first})")
    proved_with = methods(analysis)
    split = split_checkable(analysis)
    if split:
        note = None
        range_rule, error_rule = methods(analysis.leaves[0])
    else:
        analysis, note = certifiable_analysis(analysis)
        range_rule, error_rule = methods(analysis)
    problem, design = analysis.problem, analysis.design
    content = problem_content(problem, design)
    net_sha = checker.sha256_of(content["network"])
    impl = content["implementation"]
    problem_sha = checker.sha256_of(
        checker.problem_hash_input(net_sha, content["domain"], content["requirements"], impl)
    )
    formats_source = "synthesis" if synthesized else None
    design_sha = checker.sha256_of(checker.design_hash_input(content["formats"], impl, formats_source))
    net = problem.network
    rounding = "nearest" if impl["rounding"] == "nearest" else "truncate"
    claims = box_claims(analysis, content, ("split", "split") if split else (range_rule, error_rule))
    bounds = [str(Fraction(b)) for b in analysis.output_errors]
    if spec_text is None and problem.spec_path:
        try:
            sp = Path(problem.spec_path)
            spec_text = sp.read_text(encoding="utf-8") if sp.stat().st_size <= MAX_SPEC_BYTES else None
        except (OSError, UnicodeDecodeError, ValueError):
            spec_text = None
    cert = {
        "format": checker.FORMAT_NAME,
        "schema_version": checker.SCHEMA_VERSION,
        "verifq_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "command": command,
        "problem_sha256": problem_sha,
        "design_sha256": design_sha,
        "network": {
            "sha256": net_sha,
            "info": {
                "name": net.name,
                "source": net.source,
                "architecture": net.architecture,
                "parameter_count": net.parameter_count,
                "license_note": net.license_note,
                "has_output_postprocess": net.postprocess is not None,
            },
            "content": content["network"],
        },
        "domain": content["domain"],
        "requirements": content["requirements"],
        "implementation": impl,
        "formats": content["formats"],
        **({"formats_source": formats_source} if formats_source else {}),
        "analysis": {
            "proved_with": {"range_method": proved_with[0], "error_method": proved_with[1]},
            "certified_with": {"range_method": range_rule, "error_method": error_rule},
            "note": note,
        },
        "claims": claims,
        "verdict": {
            "proved": True,
            "output_error_bounds": bounds,
            "statement": _statement(net.name, problem, rounding, impl["overflow"], bounds),
        },
    }
    if split:
        cert["split"] = split_section(analysis, content)
        cert["analysis"]["certified_with"]["split"] = len(analysis.leaves)
    elif not tight_checkable(analysis):
        hints = getattr(analysis, "hints", None)
        cert["analysis"]["hints"] = hints if isinstance(hints, dict) else {}
    if spec_text is not None:
        cert["spec"] = {
            "path": str(problem.spec_path),
            "sha256": hashlib.sha256(spec_text.encode("utf-8")).hexdigest(),
            "text": spec_text,
        }
    if measurements is not None:
        cert["measurements"] = measurements
    if generated_code:
        cert["generated_code"] = dict(sorted(generated_code.items()))
    return cert


def box_claims(analysis, content: dict, rules: tuple[str, str]) -> dict:
    """The `claims` object of one box's analysis (a single-box certificate's, a split leaf's, or, with
    rules ("split", "split"), the combined claims of a split certificate, which carry no hints)."""
    range_rule, error_rule = rules
    impl = content["implementation"]
    hints = analysis.hints if rules not in (("interval", "l1_local"), ("split", "split")) else {}
    layers = []
    for la in analysis.layers:
        r, e = la.ranges, la.errors
        layers.append(
            {
                "index": la.index,
                "activation": content["network"]["layers"][la.index - 1]["activation"],
                "range_rule": range_rule,
                "error_rule": error_rule,
                "accum_rule": "wrap_final_sum" if impl["overflow"] == "wrap" else "saturate_partial_sums",
                "hints": _layer_hints(hints, la.index - 1),
                **{k: _qs(getattr(r, k)) for k in ("pre_lo", "pre_hi", "post_lo", "post_hi")},
                **{k: _qs(getattr(e, k)) for k in ("err_acc", "err_pre", "err_out", "acc_lo", "acc_hi", "out_lo", "out_hi")},
            }
        )
    inp = analysis.inputs
    return {
        "precision_note": f"claims are the analysis's outward-rounded values at 2^-{PRECISION}",
        "inputs": {
            "range_rule": "domain",
            "error_rule": "input_quantization",
            "lo": _qs(analysis.input_lo),
            "hi": _qs(analysis.input_hi),
            "err": _qs(inp.err),
            "q_lo": _qs(inp.q_lo),
            "q_hi": _qs(inp.q_hi),
        },
        "layers": layers,
    }


def split_checkable(analysis) -> bool:
    """Whether `analysis` is an input splitting the checker re-derives leaf by leaf (checker_split.py):
    it records its bisection tree and every leaf is a box the single-box rules re-derive."""
    info = getattr(analysis, "split_info", None)
    if not analysis.leaves or not info or "tree" not in info:
        return False
    boxes = (info["root"],) + tuple(analysis.leaves)
    return all(tight_checkable(a) and methods(a) == methods(analysis.leaves[0]) for a in boxes)


_RANGE_KEYS = {"pre_lo": min, "pre_hi": max, "post_lo": min, "post_hi": max}
_ERROR_KEYS = {"err_acc": max, "err_pre": max, "err_out": max, "acc_lo": min, "acc_hi": max, "out_lo": min, "out_hi": max}


def _tighter_than_leaves(analysis) -> bool:
    """Whether some combined claim is tighter than the hull of the leaves' (split.combine intersects
    with the whole box's own analysis): then the certificate records that analysis too."""
    for pos, la in enumerate(analysis.layers):
        for part, keys in (("ranges", _RANGE_KEYS), ("errors", _ERROR_KEYS)):
            for key, pick in keys.items():
                hull = [pick(vals) for vals in zip(*(getattr(getattr(leaf.layers[pos], part), key) for leaf in analysis.leaves))]
                if list(getattr(getattr(la, part), key)) != hull:
                    return True
    return False


def split_section(analysis, content: dict) -> dict:
    """The `split` object of a split certificate: the bisection tree (exact), every leaf's box and
    claims (as a single-box certificate records them), the whole box's claims when the combined
    claims use them, and how the partition was found (recorded, not checked)."""
    info = analysis.split_info
    tree = []
    for node in info["tree"]:
        if "leaf" in node:
            tree.append({"leaf": node["leaf"]})
        else:
            tree.append({"dim": node["dim"], "left_hi": str(Fraction(node["left_hi"])),
                         "right_lo": str(Fraction(node["right_lo"])), "children": list(node["children"])})
    rules = methods(analysis.leaves[0])
    out = {
        "branching": info["branching"],
        "max_leaves": info["max_leaves"],
        "box_analyses": info["analyses"],
        "stopped_by": info["stopped_by"],
        "tree": tree,
    }
    if _tighter_than_leaves(analysis):
        out["whole_box"] = box_claims(info["root"], content, methods(info["root"]))
    out["leaves"] = [{"domain": [[str(Fraction(lo)), str(Fraction(hi))] for lo, hi in leaf.problem.domain],
                      "claims": box_claims(leaf, content, rules)} for leaf in analysis.leaves]
    return out


# the (range rule, error rule) pairs the checker re-derives (the tight ones in checker_tight.py, for the
# networks `tight_checkable` accepts): its own declaration, in the certificate schema's words
CHECKER_RULES = {(r, e) for r in ("interval",) + checker_tight.RANGE_RULES for e in ("l1_local",) + checker_tight.ERROR_RULES}


def tight_checkable(analysis) -> bool:
    """Whether the checker re-derives this analysis's claims with its rules as they are:
    interval/l1_local always; symbolic / first_order without MILP range ends or input
    splitting (see checker_tight.py)."""
    m = methods(analysis)
    if m == ("interval", "l1_local"):
        return True
    if m not in CHECKER_RULES or getattr(analysis, "leaves", ()):
        return False
    if any(checker.network_content(analysis.problem.network)["layers"][i]["activation"] not in checker_tight.SUPPORTED_ACTS
           for i in range(len(analysis.layers))):
        return False
    h = analysis.hints
    r = h.get("ranges")
    if m[0] == "symbolic":
        if not r or (r.get("slope_bits"), r.get("precision_bits"), r.get("smooth_pieces"), r.get("alpha_bits")) != (
                checker_tight.SB, checker_tight.P, checker_tight.K, checker_tight.AB):
            return False
        if any("milp" in lh["lo_method"] + lh["hi_method"] for lh in r["layers"]):
            return False
    if m[1] == "differential" and m[0] != "symbolic":  # its checker rule back-substitutes the symbolic relaxations
        return False
    return m[1] not in ("first_order", "differential") or len(h.get("errors", ())) == len(analysis.layers)


def _layer_hints(hints: dict, pos: int) -> dict:
    """The per-layer hints a tight rule needs (empty for interval / l1_local)."""
    out = {}
    if hints.get("range_method") == "symbolic" and "ranges" in hints:
        lh = hints["ranges"]["layers"][pos]
        out["ranges"] = {k: lh[k] for k in ("lo_method", "hi_method", "relu_lower_slope", "smooth_slope",
                                            "smooth_intercepts", "relu_alpha") if k in lh}
    if hints.get("error_method") in ("first_order", "differential") and "errors" in hints:
        out["errors"] = {k: v for k, v in hints["errors"][pos].items() if k != "error_rule"}
    return out


def methods(analysis) -> tuple[str, str]:
    """(range method, error method) an analysis used."""
    return analysis.range_method, analysis.error_method


def certifiable_analysis(analysis):
    """The analysis whose claims go into the certificate, and a note (or None).

    The checker re-derives claims with the rules in CHECKER_RULES, for the
    analyses `tight_checkable` accepts (tight claims + hints are written). Any
    other analysis (MILP range ends, split domains)
    is re-run with interval/l1_local; if that still proves, its (looser, checkable) claims are
    certified. Otherwise the tighter claims are written with their rule names
    and hints, and a checker without those rules reports them as unknown.
    """
    if tight_checkable(analysis):
        return analysis, None
    if methods(analysis)[1] == ErrorMethod.DIFFERENTIAL:  # not re-derivable here (ranges, split): first_order claims
        fo = analyse(analysis.problem, analysis.design, range_method=analysis.range_method,
                     error_method=ErrorMethod.FIRST_ORDER)
        if fo.proved and tight_checkable(fo):
            return fo, (
                f"proved with {'/'.join(methods(analysis))}; the checker re-derives the differential rule only "
                f"with symbolic ranges and without input splitting, so the certificate records the "
                f"{fo.range_method}/first_order claims (looser, re-derivable) because they also prove the requirements"
            )
    simple = analyse(analysis.problem, analysis.design, range_method=RangeMethod.INTERVAL, error_method=ErrorMethod.L1_LOCAL)
    if simple.proved:
        return simple, (
            f"proved with {'/'.join(methods(analysis))}; the certificate records the interval/l1_local "
            "claims (looser, re-derivable by the checker) because they also prove the requirements"
        )
    return analysis, (
        f"only {'/'.join(methods(analysis))} proves the requirements; the checker of this verifq version "
        "re-derives these claims only without MILP range ends or input splitting, so it "
        "reports them as unknown or not re-derivable"
    )


def _statement(name: str, problem, rounding: str, overflow: str, bounds: list[str]) -> str:
    req = [b for b in problem.max_error]
    parts = []
    for i, (e, b) in enumerate(zip(bounds, req)):
        parts.append(f"output {i}: |error| <= {float(Fraction(e)):.6g}" + ("" if b is None else f" (required {float(b):.6g})"))
    return (
        f"For every input in the domain, the fixed-point implementation of network '{name}' "
        f"({rounding} rounding, {overflow} overflow) never overflows and differs from the real-valued "
        f"network by at most: " + "; ".join(parts)
    )


def no_certificate_line(path, why: str = "a certificate records a proof, and this one failed") -> str:
    """What `--cert` prints when nothing is written (so a user never looks for a file that is not there)."""
    return f"no certificate written to {path}: {why}"


def write_certificate(path, analysis, **kwargs) -> dict:
    """Build the certificate of `analysis` and write it atomically to `path`; returns the document."""
    cert = build_certificate(analysis, **kwargs)
    if str(path).endswith(".gz"):  # gzip (a split certificate's many boxes compress about 6x); the checker reads both
        import gzip

        write_bytes_atomic(path, gzip.compress(dumps(cert).encode("utf-8"), 6, mtime=0))
    else:
        write_text_atomic(path, dumps(cert))
    return cert


def file_sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def dumps(cert: dict) -> str:
    """Readable JSON: one key per line, each list of numbers (a weight row, a claim) on one line."""
    import json

    def enc(v, ind: int) -> str:
        pad, inner = " " * ind, " " * (ind + 1)
        if isinstance(v, dict):
            if not v:
                return "{}"
            items = [f"{inner}{json.dumps(k)}: {enc(x, ind + 1)}" for k, x in v.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(v, list):
            if all(not isinstance(x, (dict, list)) for x in v):
                return json.dumps(v, separators=(", ", ": "))
            return "[\n" + ",\n".join(inner + enc(x, ind + 1) for x in v) + "\n" + pad + "]"
        return json.dumps(v)

    return enc(cert, 0) + "\n"
