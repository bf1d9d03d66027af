"""Review report of a certificate: one self-contained HTML page and a Markdown
version with the same content, for a safety-case review.

The report runs the independent checker first and shows as verified only what
the checker re-derived: the statement is rebuilt from the checked content (the
network's hash and shape, the domain, the modes, the certified design, the
bounds); every other field of the certificate (the network's name and source,
the analysis note, recorded measurements, the embedded spec text) appears
under "recorded, not checked". An INVALID certificate gets the reason, not a
"what was proven". The assumptions the guarantee rests on are stated. The
checker files are copied next to the report, so its re-check commands
work from anywhere.

Every number shown for a certificate value carries its exact value and its
place in the certificate (`data-field`, `data-exact`), so a test (or a
reviewer) can confirm the page says what the certificate says.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..outputs import make_folder, write_bytes_atomic, write_text_atomic
from ..progress import say
from . import checker
from .writer import problem_content
from .measure import Simulation, recorded_simulation, simulate_certificate

ROLES = checker.ROLES
PART_NAMES = ("propagated", "weight quantization", "bias quantization", "product rounding", "output rounding", "activation")
CHECKER_FILES = ("checker.py", "checker_core.py", "checker_tight.py", "checker_diff.py", "checker_integer.py",
                 "checker_integer_rules.py", "checker_integer_symbolic.py", "checker_integer_box.py", "checker_split.py")


def fmt_num(q: Fraction) -> str:
    """The decimal shown for an exact value (7 significant digits)."""
    from ..numeric.rational import show

    return show(q, 7)


@dataclass(frozen=True)
class WrittenReport:
    """Where the report went and the checker's verdict it shows."""

    html: Path
    markdown: Path
    valid: bool
    verdict: str


# ---------------------------------------------------------------- the page as blocks (one content, two renderings)
@dataclass(frozen=True)
class Num:
    """A table cell showing a certificate value (exact value and its place in the certificate)."""

    value: Fraction
    field: str = ""


def _h(level: int, text: str):
    return ("h", level, text)


def _p(text: str, ident: str | None = None, cls: str | None = None):
    return ("p", text, ident, cls)


def _ul(items: list[str]):
    return ("ul", items)


def _table(head: list[str], rows: list[list], ident: str | None = None):
    return ("table", head, rows, ident)


def _pre(text: str, ident: str | None = None):
    return ("pre", text, ident)


def _render_html(title: str, blocks: list, plots: dict) -> str:
    e = html.escape
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title>",
           "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;}table{border-collapse:collapse}"
           "td,th{border:1px solid #bbb;padding:2px 6px}td.num{text-align:right;font-family:monospace}"
           ".ok{color:#070}.bad{color:#b00;font-weight:bold}.unchecked{color:#555}"
           "pre{background:#f4f4f4;padding:8px;overflow:auto}</style></head><body>"]
    for b in blocks:
        kind = b[0]
        if kind == "h":
            out.append(f"<h{b[1]}>{e(b[2])}</h{b[1]}>")
        elif kind == "p":
            attrs = (f" id='{b[2]}'" if b[2] else "") + (f" class='{b[3]}'" if b[3] else "")
            out.append(f"<p{attrs}>{e(b[1])}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b[1]) + "</ul>")
        elif kind == "pre":
            out.append(f"<pre{f' id={chr(39)}{b[2]}{chr(39)}' if b[2] else ''}>{e(b[1])}</pre>")
        elif kind == "table":
            out.append(f"<table{f' id={chr(39)}{b[3]}{chr(39)}' if b[3] else ''}><tr>"
                       + "".join(f"<th>{e(h)}</th>" for h in b[1]) + "</tr>")
            for row in b[2]:
                out.append("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>")
            out.append("</table>")
        elif kind == "plots":
            for name, (cap, png) in plots.items():
                out.append(f"<figure><img alt='{e(cap)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
                           f"<figcaption>{e(cap)}</figcaption></figure>")
        elif kind == "verdict":
            out.append(f"<p class='{'ok' if b[2] else 'bad'}'>Independent checker: <b id='verdict'>{e(b[1])}</b></p>")
        elif kind == "code":
            out.append(f"<p>{e(b[1])} <code id='{b[3]}'>{e(b[2])}</code></p>")
    out.append("</body></html>")
    return "\n".join(out)


def _html_cell(c) -> str:
    if isinstance(c, Num):
        if c.field:
            return f'<td class="num" data-field="{html.escape(c.field)}" data-exact="{c.value}">{fmt_num(c.value)}</td>'
        return f'<td class="num">{fmt_num(c.value)}</td>'
    return f"<td>{html.escape(str(c))}</td>"


def _render_markdown(title: str, blocks: list, plots: dict) -> str:
    m = [f"# {title}", ""]
    for b in blocks:
        kind = b[0]
        if kind == "h":
            m += ["#" * b[1] + " " + b[2], ""]
        elif kind == "p":
            m += [b[1], ""]
        elif kind == "ul":
            m += [f"- {i}" for i in b[1]] + [""]
        elif kind == "pre":
            m += ["```", b[1].rstrip("\n"), "```", ""]
        elif kind == "table":
            m.append("| " + " | ".join(b[1]) + " |")
            m.append("|" + "---|" * len(b[1]))
            for row in b[2]:
                m.append("| " + " | ".join(fmt_num(c.value) if isinstance(c, Num) else str(c).replace("|", "\\|")
                                           for c in row) + " |")
            m.append("")
        elif kind == "plots":
            m += [f"![{cap}](report_{name}.png)" for name, (cap, _) in plots.items()] + [""]
        elif kind == "verdict":
            m += [f"**Independent checker: {b[1]}**", ""]
        elif kind == "code":
            m += [f"{b[1]} `{b[2]}`", ""]
    return "\n".join(m).rstrip() + "\n"


# ---------------------------------------------------------------- plots (of checked content only)
def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def make_plots(ch: checker.Checker) -> dict[str, tuple[str, bytes]]:
    """name -> (caption, PNG bytes), from what the checker verified."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fm, claims = ch.fmts, ch.claims
    nl = len(fm)
    xs = list(range(1, nl + 1))
    out = {}
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    w = 0.2
    for k, role in enumerate(ROLES):
        mean = [sum(f.width for f in d[role]) / len(d[role]) for d in fm]
        lo = [m - min(f.width for f in d[role]) for m, d in zip(mean, fm)]
        hi = [max(f.width for f in d[role]) - m for m, d in zip(mean, fm)]
        a1.bar([x + (k - 1.5) * w for x in xs], mean, w, yerr=[lo, hi], capsize=2, label=role)
    a1.set_xlabel("layer"), a1.set_ylabel("width W (bits)"), a1.set_xticks(xs), a1.legend(fontsize=8)
    a1.set_title("bits per layer (mean, min-max over neurons)")
    g = 0
    for L, d in enumerate(fm):
        idx = list(range(g, g + len(d["output"])))
        a2.scatter(idx, [f.width for f in d["output"]], s=6, color=f"C{L % 10}", label=f"layer {L + 1}")
        a2.scatter(idx, [f.width for f in d["accum"]], s=6, color=f"C{L % 10}", marker="x")
        g += len(d["output"])
    a2.set_xlabel("neuron (all layers; dots: output, x: accumulator)"), a2.set_ylabel("width W (bits)")
    a2.set_title("bits per neuron"), a2.legend(fontsize=7)
    out["bits"] = ("Formats: bits per layer and per neuron", _png(fig))

    budget = len(ch.details) == nl  # the l1 rule's parts (the tight rules do not split the bound by source)
    fig, axes = plt.subplots(1, 2 if budget else 1, figsize=(11 if budget else 6, 3.8))
    b1 = axes[0] if budget else axes
    worst = [max(c["err_out"]) for c in claims]
    b1.semilogy(xs, [max(float(v), 1e-300) for v in worst], "o-")
    b1.set_xlabel("layer"), b1.set_ylabel("max error bound (log)"), b1.set_xticks(xs)
    b1.set_title("certified error bound after each layer (worst neuron)")
    if budget:
        b2 = axes[1]
        bottoms = [0.0] * nl
        for part in PART_NAMES:
            shares = []
            for L, c in enumerate(claims):
                j = max(range(len(c["err_out"])), key=lambda t: c["err_out"][t])
                total = sum(ch.details[L][p][j] for p in PART_NAMES) or Fraction(1)
                shares.append(float(ch.details[L][part][j] / total))
            b2.bar(xs, shares, bottom=bottoms, label=part)
            bottoms = [a + b for a, b in zip(bottoms, shares)]
        b2.set_ylim(0, 1), b2.legend(fontsize=7, loc="lower right"), b2.set_xticks(xs)
        b2.set_xlabel("layer"), b2.set_ylabel("share of the bound")
        b2.set_title("error budget of the worst neuron, by source")
    out["errors"] = ("Certified error bound per layer" + (" and its budget by source" if budget else ""), _png(fig))

    fig, c1 = plt.subplots(1, 1, figsize=(11, 4.2))
    g, smallest = 0, 1.0
    for L, (c, d) in enumerate(zip(claims, fm)):
        lo, hi = [float(v) for v in c["out_lo"]], [float(v) for v in c["out_hi"]]
        idx = list(range(g, g + len(lo)))
        c1.vlines(idx, lo, hi, color=f"C{L % 10}", lw=1.5, label=f"layer {L + 1}: stored range")
        c1.step(idx, [float(f.max_value) for f in d["output"]], where="mid", color="k", lw=0.8)
        c1.step(idx, [float(f.min_value) for f in d["output"]], where="mid", color="k", lw=0.8)
        smallest = min([smallest] + [abs(v) for v in lo + hi if v != 0])
        g += len(lo)
    c1.set_yscale("symlog", linthresh=max(smallest, 1e-9), linscale=0.3)
    c1.set_xlabel("neuron (all layers)"), c1.set_ylabel("value (symmetric log)")
    c1.set_title("stored output range per neuron (bars) inside the output format's range (black lines)")
    c1.legend(fontsize=7, ncol=min(nl, 6), loc="upper center", bbox_to_anchor=(0.5, -0.14))
    out["ranges"] = ("Ranges against format capacity", _png(fig))
    return out


# ---------------------------------------------------------------- content
def _fmt_summary(fmts) -> str:
    counts: dict[str, int] = {}
    for f in fmts:
        counts[f.text] = counts.get(f.text, 0) + 1
    if len(counts) == 1:
        return next(iter(counts))
    top = sorted(counts.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{t} x{n}" for t, n in top[:4]) + (f" (+{len(counts) - 4} more)" if len(counts) > 4 else "")


def _architecture(ch: checker.Checker) -> tuple[str, int]:
    hidden = ",".join(str(L.n_out) for L in ch.layers[:-1])
    params = sum(L.n_in * L.n_out + L.n_out for L in ch.layers)
    return f"{ch.layers[0].n_in}x[{hidden}]x{ch.layers[-1].n_out}", params


def _modes(ch: checker.Checker) -> str:
    return (f"{ch.rounding} rounding ({'AP_TRN' if ch.rounding == 'truncate' else 'AP_RND'}), {ch.overflow} overflow "
            f"({'AP_WRAP' if ch.overflow == 'wrap' else 'AP_SAT'}), inputs "
            + ("arrive in their fixed-point formats" if ch.inputs_fixed else "are real and rounded into their formats"))


def _statement(ch: checker.Checker) -> str:
    """The guarantee in words, from checked content only."""
    arch, params = _architecture(ch)
    parts = [f"output {i}: |error| <= {fmt_num(b)}" + ("" if r is None else f" (required {fmt_num(r)})")
             for i, (b, r) in enumerate(zip(ch.out_bounds, ch.max_error))]
    units = " (raw units, before the network's input normalization)" if ch.norm is not None else ""
    return (f"For every input in the domain below{units}, the fixed-point implementation of the network with "
            f"sha256 {ch.net_sha[:16]}... ({arch}, {params} parameters) in the certified formats, with {_modes(ch)}, "
            f"never overflows and differs from the real-valued network by at most: " + "; ".join(parts) + ".")


def _assumptions(ch: checker.Checker, cert: dict) -> list[str]:
    rules = sorted({(r["range_rule"], r["error_rule"], r["accum_rule"]) for r in ch.rules})
    items = [
        "Semantics (verifq's README, verifq/fixedpoint/design.py): weights and biases are rounded to nearest (ties "
        "up) once, offline; products are exact and rounded to the accumulator's grid only where it is coarser; the "
        "bias is aligned to the accumulator; the sum is rounded to the output format, then the activation applied.",
        "Overflow: " + ("wrap (two's complement): only the final sum of each accumulator must fit, partial sums may "
                        "wrap; every stored value is proven to fit its format." if ch.overflow == "wrap" else
                        "saturate: every partial sum and stored value is proven to fit its format."),
        "Rules the checker re-derived: " + "; ".join(f"ranges {a}, errors {b}, accumulators {c}" for a, b, c in rules) + ".",
        "The requirement is on the network's outputs; a hidden layer's error bound may be larger than the required "
        "bound, since later layers scale errors (up or down).",
        "The guarantee covers any implementation that computes exactly this semantics: verifq's own generated HLS C++ "
        "and C reference (tested bit for bit against verifq's simulator). Other builds (e.g. hls4ml from a precision "
        "configuration) are covered only as far as their arithmetic is this one.",
    ]
    table_items = []
    for L, (layer, table) in enumerate(zip(ch.layers, ch.tables), start=1):
        if layer.act not in ("tanh", "sigmoid"):
            continue
        if table is None:
            table_items.append(f"layer {L} {layer.act}: the ideal lookup table (the exact value rounded to nearest on the "
                            "output grid, error at most half an output ulp: an explicit option, no hardware builds it).")
        else:
            table_items.append(f"layer {L} {layer.act}: a lookup table of {table.size} entries in {table.entry.text} "
                            f"({table.rounding}, {table.overflow}) built as hls4ml 1.3.0 builds it (entries listed in the "
                            "certificate and checked); its error is part of the bound.")
    items[1:1] = table_items
    if any(r != "nearest" for r in ch.constant_rules.values()):
        items.insert(1, "Constants follow hls4ml's rule " + ", ".join(f"{k} {v}" for k, v in ch.constant_rules.items())
                     + " (printed decimals read back as doubles, cast with the type's mode).")
    if ch.norm is not None:
        items.append("Input normalization: the network first maps x to (clip(x, clip_lo, clip_hi) - mean) / range; "
                     "the domain is in raw units, the input formats hold the normalized values (both columns below).")
    if (cert.get("network") or {}).get("info", {}).get("has_output_postprocess"):
        items.append("Output post-processing (recorded, not checked): the source applies y = scale (out - offset) + "
                     "offset after the network; the bounds are on the network's own outputs, before that map "
                     "(multiply by |scale| for the post-processed outputs).")
    return items


def _recorded_unchecked(cert: dict, recorded: Simulation | None, spec_checked: bool) -> list:
    info = (cert.get("network") or {}).get("info") or {}
    analysis = cert.get("analysis") or {}
    rows = [["network name", str(info.get("name", ""))], ["network source", str(info.get("source", ""))],
            ["license note", str(info.get("license_note", ""))],
            ["verifq version, created", f"{cert.get('verifq_version')}, {cert.get('created')}"],
            ["command", str(cert.get("command") or "")]]
    proved_with = analysis.get("proved_with") or {}
    if proved_with:
        rows.append(["analysis that proved it", f"ranges {proved_with.get('range_method')}, errors {proved_with.get('error_method')}"])
    if analysis.get("note"):
        rows.append(["analysis note", str(analysis["note"])])
    if recorded is not None:
        rows.append(["recorded measurement", f"{recorded.samples} random + {recorded.corners} corner inputs, worst "
                     f"errors {', '.join(fmt_num(e) for e in recorded.max_error)}, {recorded.overflows} overflows"])
    if isinstance(cert.get("spec"), dict) and not spec_checked:
        rows.append(["spec text", f"{cert['spec'].get('path')} (shown below)"])
    return [_h(2, "Recorded, not checked"),
            _p("These fields of the certificate are informative: the checker does not re-derive them, so they may "
               "have been edited.", cls="unchecked"), _table(["field", "recorded value"], rows, "unchecked")]


def _simulation_blocks(sim: Simulation | None, bounds) -> list:
    if sim is None:
        return [_p("Tightness: not measured.", "simulation")]
    out = [_p(f"Tightness measured by the bit-exact simulator (run for this report, not part of the proof): "
              f"{sim.samples} random and {sim.corners} corner inputs of the domain; {sim.overflows} overflows "
              f"observed; real outputs {'computed exactly' if sim.exact_reference else 'in float64'}.", "simulation")]
    out += [_p(n) for n in sim.notes]
    bad = [i for i, (b, o) in enumerate(zip(bounds, sim.max_error)) if o > b]
    if bad or sim.overflows:
        out.append(_p(f"SOUNDNESS PROBLEM: observed error above the certified bound on outputs {bad} or an overflow "
                      "was observed. Report this as a bug.", cls="bad"))
    return out


def _blocks(cert: dict, ch: checker.Checker | None, verdict: str, sim, recorded, spec_text, spec_label,
            spec_checked: bool, recheck: list[str]) -> list:
    b: list = [("verdict", verdict, ch is not None)]
    if ch is None:
        b += [_h(2, "Why the certificate is not valid"),
              _p(f"The independent checker stopped at: {verdict.removeprefix('INVALID: ')}. Nothing in this "
                 "certificate is established: a claim that does not follow from the ones before it, a changed "
                 "number, or generated code that is missing or altered, invalidates the whole certificate.", "why"),
              _p("Regenerate the certificate with verifq prove --cert (or synth --cert) and check it again.")]
        b += _recorded_unchecked(cert, recorded, False)
        b += [_h(2, "How to re-check"), _pre("\n".join(recheck), "recheck")]
        return b
    arch, params = _architecture(ch)
    b += [_h(2, "What was proven (re-derived by the checker)"), _p(_statement(ch), "statement"),
          ("code", "Network content sha256 (checked):", ch.net_sha, "network-sha"),
          _p(f"Architecture {arch}, {params} parameters; activations "
             + ", ".join(f"layer {i + 1} {L.act}" for i, L in enumerate(ch.layers)) + "."),
          _h(3, "Per output"),
          _table(["output", "required bound", "certified bound", "worst observed error", "certified / observed"],
                 [[i, Num(r, f"requirements.max_error[{i}]") if r is not None else "none",
                   Num(bd, f"verdict.output_error_bounds[{i}]"),
                   Num(sim.max_error[i]) if sim else "not measured",
                   f"{float(bd / sim.max_error[i]):.3g}" if sim and sim.max_error[i] else "-"]
                  for i, (bd, r) in enumerate(zip(ch.out_bounds, ch.max_error))], "outputs")]
    b += _simulation_blocks(sim, ch.out_bounds)
    head = ["input", "lo", "hi"] + (["normalized lo", "normalized hi"] if ch.norm is not None else []) + ["format"]
    rows = []
    for i, (lo, hi) in enumerate(ch.domain):
        row = [i, Num(lo, f"domain[{i}][0]"), Num(hi, f"domain[{i}][1]")]
        if ch.norm is not None:
            n = ch.norm
            row += [Num((min(max(v, n["clip_lo"][i]), n["clip_hi"][i]) - n["mean"][i]) / n["range"][i]) for v in (lo, hi)]
        rows.append(row + [ch.in_fmt[i].text])
    b += [_h(3, "Input domain"), _table(head, rows, "domain")]
    split = getattr(ch, "split_summary", None)
    if split:
        k, box = split["worst_leaf"], split["worst_domain"]
        b += [_p(f"Input splitting (checked): the domain is bisected into {split['leaves']} boxes; the checker "
                 "replayed the bisection tree (the boxes cover the domain) and re-derived every box's claims; the "
                 f"bounds above are the largest over the boxes. Worst box: {k}, output error bound "
                 f"{fmt_num(split['worst_bound'])}, on " + ", ".join(f"[{fmt_num(lo)}, {fmt_num(hi)}]" for lo, hi in box)
                 + f" (branching {split['branching']}, recorded).", "split")]
    b += [_h(2, "Assumptions"), _ul(_assumptions(ch, cert))]
    b += [_h(2, "Certified design (checked)"),
          _table(["layer", "activation", "neurons", *ROLES, "max error bound"],
                 [[L + 1, ch.layers[L].act, len(cl["err_out"]), *(_fmt_summary(d[r]) for r in ROLES),
                   Num(max(cl["err_out"]), f"claims.layers[{L}].err_out[{max(range(len(cl['err_out'])), key=lambda t: cl['err_out'][t])}]")]
                  for L, (d, cl) in enumerate(zip(ch.fmts, ch.claims))], "formats")]
    if ch.code:
        b += [_p(f"Generated code bound by the certificate (each file's sha256 checked): {', '.join(sorted(ch.code))}.",
                 "code")]
    b += [_h(2, "Plots"), ("plots",)]
    b += [_h(2, "How to re-check"), _pre("\n".join(recheck), "recheck"),
          _p("The first command needs verifq; the second only Python 3: the checker files (standard library "
             "only, exact arithmetic, no solver) are copied next to this report.")]
    b += _recorded_unchecked(cert, recorded, spec_checked)
    if spec_text is not None:
        label = ("Spec (checked against the certificate: same network, domain, requirements and implementation)"
                 if spec_checked else "Spec as recorded in the certificate (not checked)")
        b += [_h(2, label), _p(str(spec_label)), _pre(spec_text, "spec")]
    b += [_h(2, "Per-neuron claims (checked)"),
          _table(["layer", "neuron", "output format", "accum format", "pre lo", "pre hi", "error bound", "stored lo",
                  "stored hi"],
                 [[L + 1, j, d["output"][j].text, d["accum"][j].text]
                  + [Num(cl[k][j], f"claims.layers[{L}].{k}[{j}]") for k in ("pre_lo", "pre_hi", "err_out", "out_lo", "out_hi")]
                  for L, (d, cl) in enumerate(zip(ch.fmts, ch.claims)) for j in range(len(cl["err_out"]))], "neurons")]
    return b


# ---------------------------------------------------------------- the job
def build_report(cert_path, out_dir, *, spec_path=None, samples: int | None = None, seed: int = 0,
                 simulate: bool = True, code_dir=None, check_code: bool = True) -> WrittenReport:
    """Write report.html, report.md (with its PNGs) and a copy of the checker into out_dir.

    spec_path: a spec to check the certificate against (then shown as checked). The
    bit-exact simulation runs only for a VALID certificate (samples: its random inputs)."""
    cert_path, out_dir = Path(cert_path), Path(out_dir)
    cert = checker.read_certificate(cert_path)
    spec_content, spec_text = None, None
    if spec_path is not None:
        from ..language import load_spec

        spec_content = problem_content(load_spec(spec_path))
        spec_text = Path(spec_path).read_text(encoding="utf-8-sig")
    base = (Path(code_dir) if code_dir is not None else cert_path.parent) if check_code else None
    ch, verdict = None, "VALID"
    say("checking the certificate")
    try:
        ch = checker.check(cert, spec_content=spec_content, code_dir=base)
    except checker.Invalid as exc:
        verdict = f"INVALID: {exc.step}: {exc.message}"
    if spec_text is None and isinstance(cert.get("spec"), dict) and isinstance(cert["spec"].get("text"), str):
        spec_text = cert["spec"]["text"]
    spec_label = str(Path(spec_path).resolve()) if spec_path is not None else (cert.get("spec") or {}).get("path")
    if ch is not None and simulate:
        say("simulating the design bit-exactly on random and corner inputs")
    sim = simulate_certificate(cert, samples=samples, seed=seed) if (ch is not None and simulate) else None
    recorded = recorded_simulation(cert)
    if ch is not None:
        say("drawing the plots")
    plots = make_plots(ch) if ch is not None else {}
    out_dir = make_folder(out_dir)
    cert_abs = cert_path.resolve()
    spec_arg = f" --spec {Path(spec_path).resolve()}" if spec_path is not None else ""
    code_arg = "" if check_code else " --no-code"
    if check_code and code_dir is not None:
        code_arg = f" --code {Path(code_dir).resolve()}"
    recheck = [f"verifq check {cert_abs}{spec_arg}{code_arg} --verbose",
               f"python3 {(out_dir / 'checker' / 'checker.py').resolve()} {cert_abs}{code_arg} --verbose"]
    title = f"Quantization certificate {cert_path.name}"  # the recorded network name is not checked
    blocks = _blocks(cert, ch, verdict, sim, recorded, spec_text, spec_label, spec_content is not None, recheck)
    for name, (_, png) in plots.items():
        write_bytes_atomic(out_dir / f"report_{name}.png", png)
    here = Path(__file__).resolve().parent
    for fname in CHECKER_FILES:
        write_bytes_atomic(out_dir / "checker" / fname, (here / fname).read_bytes())
    write_text_atomic(out_dir / "report.md", _render_markdown(title, blocks, plots))
    write_text_atomic(out_dir / "report.html", _render_html(title, blocks, plots))
    return WrittenReport(out_dir / "report.html", out_dir / "report.md", ch is not None, verdict)


__all__ = ["build_report", "WrittenReport", "fmt_num", "make_plots"]
