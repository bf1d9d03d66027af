"""`prove` and `synth` on an already-quantized (QONNX) network (called by the CLI): the
accumulator proof with witnesses, the narrowest provably overflow-free accumulators per layer
and neuron, and the integer-accumulator certificate (SCHEMA.md, checked by checker_integer.py)."""

from __future__ import annotations

import datetime
import hashlib
import json
import sys
from pathlib import Path

from .. import __version__
from ..errors import EXIT_PROVED, EXIT_VIOLATED, UserError
from ..network.quantized import Bipolar, Relu, Requant, Thresholds
from ..outputs import check_outputs, input_files, write_json_output, write_text_atomic
from .writer import no_certificate_line
from .checker_integer import KIND, ORDER, PER_LAYER, canonical_sha
from .checker_integer_symbolic import KEYS as LINE_KEYS


def _step_json(s) -> dict:
    if isinstance(s, Relu):
        return {"op": "relu"}
    scale = [str(v) for v in s.scale]
    if isinstance(s, Bipolar):
        return {"op": "bipolar", "scale": scale}
    if isinstance(s, Thresholds):
        return {"op": "thresholds", "thresholds": [list(t) for t in s.thresholds], "offset": s.offset, "scale": scale}
    assert isinstance(s, Requant)
    return {"op": "requant", "node": s.node, "kind": s.op, "multiplier": [str(m) for m in s.multiplier],
            "zero_point": list(s.zero_point), "scale": scale, "bits": s.bits, "signed": s.signed, "narrow": s.narrow,
            "rounding": s.rounding}


def integer_network_content(qnet) -> dict:
    """The integer network (codes, units, steps) and its float reference, exact: what the
    certificate's hash binds and the checker reads."""
    return {"input_steps": [_step_json(s) for s in qnet.input_steps],
            "layers": [{"node": l.node, "weights": [list(r) for r in l.weights], "bias": list(l.bias),
                        "unit": [str(u) for u in l.unit], "in_unit": str(l.in_unit),
                        "steps": [_step_json(s) for s in l.steps]} for l in qnet.layers],
            "reference": {"layers": [{"weights": [[str(v) for v in row] for row in rl.weights],
                                      "bias": [str(v) for v in rl.bias], "activation": rl.activation.value}
                                     for rl in qnet.reference.layers]}}


def _implementation(analysis) -> dict:
    n = len(analysis.qnet.layers)
    return _implementation_of(list(analysis.widths), list(analysis.modes), [analysis.order(l) for l in range(n)])


def _implementation_of(widths: list, modes: list, orders: list) -> dict:
    """Widths, modes and orders per layer (the first certificates' form when every layer is
    sequential with one mode)."""
    if set(orders) == {"sequential"} and len(set(modes)) == 1:
        return {"order": ORDER, "accumulator": modes[0], "widths": widths}
    return {"order": PER_LAYER, "orders": orders, "modes": modes, "widths": widths}


def integer_spec_content(problem) -> dict:
    """What `verifq check CERT --spec SPEC` compares an integer certificate with: the integer
    network's content hash, the domain, the spec's accumulator widths, modes and orders per
    layer, and the error requirements (each as the certificate records it)."""
    from ..analysis.quantized_prove import layer_settings

    widths, modes, orders = layer_settings(problem)
    return {"kind": KIND, "network_sha256": canonical_sha(integer_network_content(problem.quantized)),
            "domain": [[str(lo), str(hi)] for lo, hi in problem.domain],
            "implementation": _implementation_of(widths, modes, orders),
            "max_error": [None if b is None else str(b) for b in problem.max_error]}


def write_accumulator_certificate(path: Path, analysis) -> dict:
    """The certificate of a proved accumulator analysis (overflow-freedom for its widths) and,
    when the analysis's bounds meet every error requirement, of its error bounds (both re-derived
    by checker_integer.py; symbolic bounds with their lines, see `certified_analysis`)."""
    doc = accumulator_certificate(analysis)
    write_text_atomic(str(path), json.dumps(doc, indent=1) + "\n")
    return doc


CHECK_BUDGET = 400_000_000  # the symbolic rule's work in the checker (multiplications; ~60 s on a loaded 2-core machine when set, less since the line check runs in integers)


def certified_analysis(analysis, budget: int = CHECK_BUDGET, unsplit=None):
    """(analysis, note): the analysis that a certificate carries, checked by the checker itself
    before it is written. A split analysis carries its leaves (each box's bounds and lines), or,
    if their check would exceed `budget` (or the checker refuses it), `unsplit()`'s analysis.
    Symbolic bounds keep their lines, except from the first layer whose symbolic check would
    exceed `budget` (or that the checker refuses): from there the interval rule's bounds (then
    the widths may no longer be proved: see `.overflows`); note says so."""
    from ..analysis.quantized_prove import interval_from
    from .checker_core import Invalid, Malformed
    from .checker_integer import check_integer
    from .checker_integer_symbolic import OverBudget

    if analysis.leaves:
        try:
            check_integer(accumulator_certificate(analysis), budget)
            return analysis, ""
        except OverBudget:
            why = "its check would exceed the checker's work budget"
        except (Invalid, Malformed) as e:
            why = f"the checker refuses it ({e})"
        if unsplit is None:
            raise ValueError("a split analysis that the checker does not accept needs `unsplit`")
        analysis, note = certified_analysis(unsplit(), budget)
        return analysis, f"the certificate claims the whole box's bounds, not the split's ({why})" + (
            "; " + note if note else "")
    if not any(lines is not None for lines in analysis.lines):
        return analysis, ""
    try:
        check_integer(accumulator_certificate(analysis), budget)
        return analysis, ""
    except OverBudget as e:
        start, why = e.layer, "its check would exceed the checker's work budget"
    except (Invalid, Malformed) as e:
        start, why = min(l for l, lines in enumerate(analysis.lines) if lines is not None), f"the checker refuses it ({e})"
    return interval_from(analysis, start), (f"the certificate claims the interval rule's bounds from layer {start + 1} on "
                                           f"(the symbolic rule's there: {why})")


def accumulator_certificate(analysis) -> dict:
    """The certificate document of `write_accumulator_certificate`."""
    qnet = analysis.qnet
    content = integer_network_content(qnet)
    doc = {
        "format": "verifq-certificate", "schema_version": 1, "kind": KIND, "verifq_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "network": {"name": qnet.name, "file_sha256": hashlib.sha256(Path(qnet.source).read_bytes()).hexdigest(),
                    "content": content, "sha256": canonical_sha(content)},
        "domain": [[str(lo), str(hi)] for lo, hi in analysis.domain],
        "implementation": _implementation(analysis),
        "claims": _box_claims(analysis, analysis.domain, analysis.bounds, analysis.lines),
        "verdict": {"overflow_free": True},
    }
    if analysis.leaves:  # the split: each box's claims, re-derived on its own; `layers` holds their union
        doc["claims"]["leaves"] = [{"domain": [[str(lo), str(hi)] for lo, hi in leaf.box],
                                    **_box_claims(analysis, leaf.box, leaf.bounds, leaf.lines)} for leaf in analysis.leaves]
        if analysis.whole is not None:  # (within the whole box's claims)
            whole = analysis.whole
            doc["claims"]["whole_box"] = _box_claims(analysis, whole.box, whole.bounds, whole.lines)
    if len(analysis.errors) == qnet.n_outputs and not analysis.error_violations:
        doc["claims"]["errors"] = [str(e) for e in analysis.errors]
        doc["requirements"] = {"max_error": [None if b is None else str(b) for b in analysis.max_error]}
    return doc


def _box_claims(analysis, box, bounds, lines) -> dict:
    """`inputs` and `layers` claims of a box (the domain or a leaf of a split)."""
    b0 = bounds[0]
    return {"inputs": {"code_lo": list(b0.code_lo), "code_hi": list(b0.code_hi)},
            "layers": [{"prefix_lo": list(b.prefix_lo), "prefix_hi": list(b.prefix_hi),
                        "final_lo": list(b.final_lo), "final_hi": list(b.final_hi), **ln}
                       for b, ln in zip(bounds, _lines_json(analysis, box, bounds, lines))]}


def _lines_json(analysis, box, bounds, lines) -> list[dict]:
    """Per layer {"lines": ...} (the symbolic rule's hints: per earlier layer and neuron, the
    relaxation lines of its steps, exact) where the symbolic bounds are tighter than the interval
    bounds over the box, else {}."""
    from fractions import Fraction

    from ..analysis.accumulators import analyse_bounds

    n = len(bounds)
    if not lines:
        return [{}] * n
    interval = analyse_bounds(analysis.qnet, box, None, orders=[analysis.order(l) for l in range(n)])
    out = []
    for b, iv, ln in zip(bounds, interval, lines):
        if ln is None or b == iv:
            out.append({})
            continue
        out.append({"lines": [{k: [str(Fraction(float(v))) for v in r[:, i]] for i, k in enumerate(LINE_KEYS)}
                              for r in ln]})
    return out


def _check_split(args) -> int:
    from ..analysis.batch import check_split

    split = getattr(args, "split", None)
    return check_split(1 if split is None else split)


def _emit_json(args, doc: dict) -> None:
    write_json_output(getattr(args, "json", None), doc)


def analysis_json(analysis) -> dict:
    from ..analysis.quantized_prove import reference_bounds

    refs = reference_bounds(analysis.qnet)
    return {
        "network": analysis.qnet.name, "kind": "qonnx", "orders": [analysis.order(l) for l in range(len(analysis.qnet.layers))],
        "accumulators": list(analysis.modes), "widths": list(analysis.widths), "proved": analysis.proved,
        "layers": [{"node": l.node, "fan_in": l.n_in, "neurons": l.n_out,
                    "prefix_lo": [str(v) for v in b.prefix_lo], "prefix_hi": [str(v) for v in b.prefix_hi],
                    "minimal_width": list(b.widths()), "layer_width": max(b.widths()),
                    "data_type_bound": r["data_type"], "a2q_bound": list(r["a2q"])}
                   for l, b, r in zip(analysis.qnet.layers, analysis.bounds, refs)],
        "errors": [str(e) for e in analysis.errors], "errors_hold": analysis.errors_hold,  # false: only if no overflow
        "max_error": [None if b is None else str(b) for b in analysis.max_error],
        "overflows": [{"layer": o.layer + 1, "neuron": o.neuron, "k": o.k, "bound": o.bound, "width": o.width}
                      for o in analysis.overflows],
        "witnesses": [{"layer": w.overflow.layer + 1, "neuron": w.overflow.neuron, "k": w.overflow.k,
                       "x": [str(v) for v in w.x], "x_float32": [float(v) for v in w.x],
                       "partial_sum": w.simulated, "qonnx": w.confirmed} for w in analysis.witnesses],
    }


def _method(args) -> str:
    ranges = getattr(args, "ranges", "interval")
    if ranges == "milp":
        raise UserError("--ranges milp is not available for QONNX integer networks", hint="use symbolic or interval")
    return "symbolic" if ranges == "symbolic" else "interval"


def _certify(path: Path, analysis, problem, human) -> None:
    """Certificates carry what the checker re-derives: each box's bounds of a split, symbolic
    ones with their lines (`certified_analysis`)."""
    from ..analysis.quantized_prove import analyse_quantized

    analysis, note = certified_analysis(analysis, unsplit=lambda: analyse_quantized(
        problem, 1, list(analysis.widths), analysis.method, list(analysis.orders)))
    if note:
        print(note, file=human)
    if analysis.overflows:
        print("no certificate: the bounds that the checker re-derives do not prove these widths; the analysis's "
              "bounds do (sound, not re-derived by the checker)", file=human)
        return
    doc = write_accumulator_certificate(path, analysis)
    if "errors" not in doc["claims"]:
        print("the certificate covers overflow-freedom only: the bounds the checker re-derives give error bounds "
              f"{', '.join(f'{float(e):.6g}' for e in analysis.errors)}, above the requirement that the "
              "analysis's bounds prove (sound, not re-derived by the checker)", file=human)
    print(f"certificate written to {path}" + ("" if "errors" not in doc["claims"] else
                                              " (overflow-freedom and error bounds, both re-derived by the checker)")
          + (f" over {len(analysis.leaves)} boxes" if analysis.leaves else ""), file=human)


def prove_quantized(args, problem) -> int:
    from ..analysis.quantized_prove import analyse_quantized, report_lines, search_witnesses
    from ..engine import make_engine
    from ..progress import say

    check_outputs([(args.json, "--json"), (args.cert, "--cert")], input_files(problem))
    split = _check_split(args)
    say(f"analysing the integer network {problem.quantized.name}: accumulator bounds"
        + (f" over {split} boxes" if split > 1 else ""))
    with make_engine(getattr(args, "jobs", 1), getattr(args, "ray", None)) as engine:
        analysis = analyse_quantized(problem, split, method=_method(args), engine=engine)
    if analysis.overflows and not args.no_search:
        say(f"{len(analysis.overflows)} partial sums may overflow; searching witnesses")
        analysis = search_witnesses(analysis, samples=min(args.samples, 20000), seed=args.seed)
    human = sys.stderr if args.json == "-" else sys.stdout
    print("\n".join(report_lines(analysis)), file=human)
    if analysis.proved and args.cert:
        _certify(Path(args.cert), analysis, problem, human)
    elif args.cert:
        print(no_certificate_line(args.cert), file=human)
    _emit_json(args, analysis_json(analysis))
    return EXIT_PROVED if analysis.proved else EXIT_VIOLATED


SYNTH_SPLIT_HELP = ("prove every design on at most N boxes of the domain (float networks: the branch and bound of "
                    "`prove --split`, up to N times slower per analysis; QONNX networks: accumulators bounded on a grid "
                    "of N boxes); the certificate lists every box")


def synth_quantized(args, problem) -> int:
    """The narrowest accumulator per layer and per neuron that the analysis proves overflow-free
    in the spec's partial-sum orders: by the symbolic bounds (sound) and by what a certificate's
    checker re-derives (the same, but for layers past the checker's work budget: `certified_analysis`);
    and, for comparison, per layer under every order."""
    from dataclasses import replace

    from ..analysis.accumulators import overflow_checks
    from ..engine import make_engine
    from ..analysis.quantized_prove import analyse_quantized, layer_settings, reference_bounds
    from ..fixedpoint.integer_net import ORDERS

    check_outputs([(args.output, "-o"), (args.json, "--json"), (args.cert, "--cert")], input_files(problem))
    none = [None] * len(problem.quantized.layers)
    caps, _, orders = layer_settings(problem)
    split = _check_split(args)
    with make_engine(args.jobs) as engine:  # the boxes of the split, taken in order: the same widths on any engine
        analysis = analyse_quantized(problem, split, none, "symbolic", engine=engine)
    certifiable, note = certified_analysis(analysis, unsplit=lambda: analyse_quantized(problem, 1, none, "symbolic"))
    certified = [max(m) for m in certifiable.minimal_widths()]
    minimal = analysis.minimal_widths()
    widths = [max(m) for m in minimal]
    proved = replace(analysis, widths=tuple(widths))  # the chosen widths hold every bound: no overflow
    assert not overflow_checks(proved.bounds, widths)
    neuron_by_order = {o: [list(m) for m in analyse_quantized(problem, 1, none, "symbolic", [o] * len(none)).minimal_widths()]
                       for o in ORDERS}
    by_order = {o: [max(m) for m in ms] for o, ms in neuron_by_order.items()}
    refs = reference_bounds(problem.quantized)
    human = sys.stderr if args.json == "-" else sys.stdout
    same = len(set(orders)) == 1
    print(f"narrowest provably overflow-free accumulators of {problem.quantized.name} "
          f"({'order ' + orders[0] if same else 'per-layer orders'}" + (f"; {split} boxes" if split > 1 else "") + "):",
          file=human)
    print(f"{'layer':>5} {'node':<16} {'K':>5} {'order':<10} {'per layer':>9} {'per neuron':>10} {'certified':>9} "
          f"{'data-type':>9} {'A2Q l1':>6} | {'sequential':>10} {'bias_last':>9} {'split_sign':>10}", file=human)
    for l, (layer, m, r, c) in enumerate(zip(problem.quantized.layers, minimal, refs, certified), start=1):
        print(f"{l:>5} {layer.node[:16]:<16} {layer.n_in:>5} {orders[l - 1]:<10} {max(m):>9} {f'{min(m)}..{max(m)}':>10} "
              f"{c:>9} {r['data_type']:>9} {max(r['a2q']):>6} | {by_order['sequential'][l - 1]:>10} "
              f"{by_order['bias_last'][l - 1]:>9} {by_order['split_sign'][l - 1]:>10}", file=human)
    print((note + "\n" if note else "") + "(per layer / per neuron: symbolic bounds, sound; certified: what the checker "
          "re-derives; "
          "right: per layer if the hardware added in that order" + (", whole box" if split > 1 else "") + ")", file=human)
    short = [l for l, (w, cap) in enumerate(zip(widths, caps)) if cap is not None and w > cap]
    feasible = not short
    if any(c is not None for c in caps):
        print("spec's accumulator widths: " + ("met" if feasible else "NOT met (" + ", ".join(
            f"layer {l + 1} needs {widths[l]} > {caps[l]}" for l in short) + ")"), file=human)
    for i, (e, b) in enumerate(zip(proved.errors, problem.max_error)):
        print(f"output {i}: |quantized - float reference| <= {float(e):.6g}"
              + ("" if b is None else (" (ok)" if e <= b else f" > required {float(b):.6g}")), file=human)
    doc = analysis_json(proved)
    doc["minimal_widths"] = {"per_layer": widths, "per_neuron": [list(m) for m in minimal], "certified_per_layer": certified,
                             "orders": orders, "per_layer_by_order": by_order, "per_neuron_by_order": neuron_by_order}
    if args.output:
        write_text_atomic(args.output, json.dumps(doc["minimal_widths"], indent=2) + "\n")
        print(f"accumulator widths written to {args.output}", file=human)
    if args.cert and feasible:
        write_accumulator_certificate(Path(args.cert), replace(certifiable, widths=tuple(certified)))
        print(f"certificate written to {args.cert} (for the certified widths {certified})", file=human)
    elif args.cert:
        print(no_certificate_line(args.cert, "the spec's accumulator widths are not met"), file=human)
    _emit_json(args, doc)
    return EXIT_PROVED if feasible else EXIT_VIOLATED
