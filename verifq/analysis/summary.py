"""Per-layer summary of an analysis: the rows every front end prints
(CLI table, --json, report), computed once so they always agree."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..numeric import scaled
from .results import Analysis


@dataclass(frozen=True)
class LayerSummary:
    layer: str  # "in" or 1-based index
    neurons: int
    activation: str
    weight: str
    bias: str
    accum: str
    output: str
    range_lo: float  # real pre-activation range over the layer (inputs: the box)
    range_hi: float
    max_error: float  # worst certified error bound of the layer's outputs
    overflow_margin: float  # smallest distance of a value range to its format limits (<0: overflow)


def _margin(lo, hi, fmts) -> float:
    return min(
        min(scaled.to_float(l) - float(f.min_value), float(f.max_value) - scaled.to_float(h))
        for l, h, f in zip(lo, hi, fmts)
    )


def layer_summaries(a: Analysis) -> list[LayerSummary]:
    d = a.design
    distinct = sorted(set(d.inputs))
    in_fmt = str(distinct[0]) if len(distinct) == 1 else f"mixed ({len(distinct)} formats)"
    rows = [
        LayerSummary(
            "in", len(d.inputs), "-", "-", "-", "-", in_fmt,
            min(scaled.to_float(v) for v in a.input_lo), max(scaled.to_float(v) for v in a.input_hi),
            max(scaled.to_float(v) for v in a.inputs.err),
            _margin(a.inputs.q_lo, a.inputs.q_hi, d.inputs),
        )
    ]
    for la, ql in zip(a.layers, a.qnet.layers):
        desc = d.describe_layer(la.index - 1)
        e = la.errors
        rows.append(
            LayerSummary(
                str(la.index), ql.n_out, ql.activation.value, desc["weight"], desc["bias"], desc["accum"], desc["output"],
                min(scaled.to_float(v) for v in la.ranges.pre_lo), max(scaled.to_float(v) for v in la.ranges.pre_hi),
                max(scaled.to_float(v) for v in e.err_out),
                min(_margin(e.acc_lo, e.acc_hi, ql.formats.accum), _margin(e.out_lo, e.out_hi, ql.formats.output)),
            )
        )
    return rows


def format_table(rows: list[LayerSummary]) -> str:
    head = ["layer", "n", "act", "weight", "bias", "accum", "output", "real range", "error bound", "ovf margin"]
    body = [
        [r.layer, str(r.neurons), r.activation, r.weight, r.bias, r.accum, r.output,
         f"[{r.range_lo:.4g}, {r.range_hi:.4g}]", f"{r.max_error:.3e}", f"{r.overflow_margin:.4g}"]
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(b) for b in body])


def summaries_as_dicts(rows: list[LayerSummary]) -> list[dict]:
    return [asdict(r) for r in rows]
