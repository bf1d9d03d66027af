"""Human-readable and JSON views of a `SynthesisResult` (deterministic: no timings).

Per layer: the formats (or the width range per role when formats differ per
neuron), the real pre-activation range, the worst certified error of the
layer's outputs and the layer's stored bits; then a compact per-neuron width
summary, the four costs and the certified bound per output.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..numeric import scaled
from .cost import COST_LABELS


def _role_text(fmts) -> str:
    distinct = sorted(set(fmts), key=lambda f: (f.width, f.integer_bits, f.signed))
    if len(distinct) == 1:
        return str(distinct[0])
    w = [f.width for f in fmts]
    return f"W {min(w)}..{max(w)} ({len(distinct)} fmts)"


def layer_rows(result) -> list[dict]:
    a = result.analysis
    d = result.design
    net = result.problem.network
    rows = []
    in_bits = sum(f.width for f in d.inputs)
    rows.append({
        "layer": "in", "neurons": net.n_inputs, "activation": "-", "weight": "-", "bias": "-", "accum": "-",
        "output": _role_text(d.inputs),
        "range": [min(scaled.to_float(v) for v in a.input_lo), max(scaled.to_float(v) for v in a.input_hi)],
        "max_error": max(scaled.to_float(v) for v in a.inputs.err), "bits": in_bits,
    })
    for la, layer, lf in zip(a.layers, net.layers, d.layers):
        bits = sum(f.width * layer.n_in for f in lf.weight) + sum(f.width for f in (*lf.bias, *lf.accum, *lf.output))
        rows.append({
            "layer": str(la.index), "neurons": layer.n_out, "activation": layer.activation.value,
            "weight": _role_text(lf.weight), "bias": _role_text(lf.bias), "accum": _role_text(lf.accum),
            "output": _role_text(lf.output),
            "range": [min(scaled.to_float(v) for v in la.ranges.pre_lo), max(scaled.to_float(v) for v in la.ranges.pre_hi)],
            "max_error": max(scaled.to_float(v) for v in la.errors.err_out), "bits": bits,
        })
    return rows


def format_rows(rows: list[dict]) -> str:
    head = ("layer", "n", "act", "weight", "bias", "accum", "output", "pre-activation range", "max |err|", "bits")
    body = []
    for r in rows:
        body.append((
            r["layer"], str(r["neurons"]), r["activation"], r["weight"], r["bias"], r["accum"], r["output"],
            f"[{r['range'][0]:.4g}, {r['range'][1]:.4g}]", f"{r['max_error']:.3g}", str(r["bits"]),
        ))
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    fmt = "  ".join("{:<" + str(w) + "}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*b) for b in body]
    return "\n".join(lines)


def neuron_summary(result) -> list[str]:
    """Per layer and role: the width distribution (compact per-neuron view)."""
    d = result.design
    lines = []
    for i, lf in enumerate(d.layers, start=1):
        parts = []
        for role, fmts in lf.roles():
            w = np.array([f.width for f in fmts])
            f = np.array([f.frac_bits for f in fmts])
            if len(set(fmts)) == 1:
                parts.append(f"{role} {fmts[0]}")
            else:
                parts.append(f"{role} W {w.min()}..{w.max()} (mean {w.mean():.1f}), F {f.min()}..{f.max()}")
        lines.append(f"  layer {i}: " + "; ".join(parts))
    return lines


def text_report(result) -> list[str]:
    p = result.problem
    net = p.network
    out = []
    bounds = sorted({float(b) for b in p.max_error if b is not None})
    out.append(f"network   {net.name}: {net.architecture}, {net.parameter_count} parameters")
    out.append(f"require   |error| <= {' / '.join(f'{b:.6g}' for b in bounds)} on "
               f"{sum(b is not None for b in p.max_error)} of {net.n_outputs} outputs; no overflow")
    impl = p.implementation
    lim = [f"max word {impl.max_word}"]
    if impl.max_accumulator:
        lim.append(f"max accumulator {impl.max_accumulator}")
    if impl.allowed_widths:
        lim.append("widths {" + ", ".join(map(str, impl.allowed_widths)) + "}")
    out.append(f"arith     rounding {impl.rounding.value}, overflow {impl.overflow.value}, "
               f"inputs {'fixed ' + str(impl.input_format) if impl.inputs_fixed else 'real, rounded at the input'}; "
               + ", ".join(lim))
    out.append(f"synth     method {result.method}, granularity {result.granularity}, "
               f"cost {COST_LABELS[result.cost_model]}")
    if not result.feasible:
        out.append("")
        out.append(f"INFEASIBLE: {result.reason}")
        if result.achievable:
            ach = ", ".join(f"{float(e):.4g}" for e in result.achievable)
            out.append(f"smallest certifiable bound per output with the most precise formats: {ach}")
        return out
    out.append("")
    out.append(format_rows(layer_rows(result)))
    if result.granularity == "neuron":
        out.append("")
        out.append("per-neuron widths:")
        out += neuron_summary(result)
    c = result.costs
    out.append("")
    out.append(f"costs     total bits {c.total_bits}, weight bits {c.weight_bits}, "
               f"multiplier area {c.multiplier_area}, DSP48 slices {c.dsp}")
    errs = result.analysis.output_errors
    req = p.max_error
    used = [float(e / b) for e, b in zip(errs, req) if b]
    out.append("certified " + ", ".join(f"out{j} {float(e):.4g}" for j, e in enumerate(errs))
               + (f"  (bound used: max {100 * max(used):.1f}%)" if used else ""))
    info = result.analysis.split_info
    if info:
        out.append(f"split     proved on {len(result.analysis.leaves)} input boxes (branch and bound, at most "
                   f"{info['max_leaves']}); `verifq prove --formats` needs the same --split")
    if result.solver:
        g = "" if result.gap is None else f", gap {100 * result.gap:.2f}%"
        out.append(f"solver    {result.solver}: {result.solver_status}{g}; design from: {result.source}")
    else:
        out.append(f"search    exact analyses only; design from: {result.source}")
    if result.repairs:
        out.append(f"repairs   {len(result.repairs)} after exact re-analysis: " + "; ".join(result.repairs[:4])
                   + (" ..." if len(result.repairs) > 4 else ""))
    out.append("PROVED by exact re-analysis: every output within its bound, no value overflows")
    return out


def result_json(result, include_design: bool = True) -> dict:
    from ..fixedpoint.design_io import design_to_json

    p = result.problem
    doc = {
        "network": p.network.name,
        "method": result.method,
        "granularity": result.granularity,
        "cost_model": result.cost_model.value,
        "feasible": result.feasible,
        "solver": result.solver,
        "solver_status": result.solver_status,
        "gap": result.gap,
        "source": result.source,
        "repairs": list(result.repairs),
        "messages": list(result.messages),
        "seconds": round(result.seconds, 3),
        "exact_analyses": result.analyses,
        "required": [None if b is None else str(b) for b in p.max_error],
    }
    if result.feasible:
        doc["costs"] = result.costs.as_dict()
        doc["certified_errors"] = [str(e) for e in result.analysis.output_errors]
        doc["certified_errors_float"] = [float(e) for e in result.analysis.output_errors]
        doc["layers"] = layer_rows(result)
        info = result.analysis.split_info
        doc["split"] = {"boxes": len(result.analysis.leaves), "max_boxes": info["max_leaves"]} if info else None
        if include_design:
            doc["formats"] = design_to_json(result.design, p.network)
    else:
        doc["reason"] = result.reason
        doc["achievable"] = None if result.achievable is None else [str(e) for e in result.achievable]
        doc["achievable_float"] = None if result.achievable is None else [float(e) for e in result.achievable]
    if result.range_report is not None:
        doc["exact_ranges"] = result.range_report
    return doc


def _frac(x) -> str:
    return str(Fraction(x))
