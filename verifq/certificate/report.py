"""Review report of a certificate: one self-contained HTML page and a Markdown
version, for a safety-case review.

What was proven (in words and numbers), the checker's verdict, the spec text,
the formats per layer, plots (bits per layer and neuron, error budget per
layer, ranges against format capacity; matplotlib Agg, embedded as base64
PNG in the HTML, written as PNG files next to the Markdown), the tightness of
the certified bounds measured by the bit-exact simulator on random and corner
inputs of the domain, and the exact command to re-check.

Every number shown for a certificate value carries its exact value and its
place in the certificate (`data-field`, `data-exact`), so a test (or a
reviewer) can confirm the page says what the certificate says.
"""

from __future__ import annotations

import base64
import html
import io
import math
import random
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ..outputs import make_folder, write_bytes_atomic, write_text_atomic
from . import checker

ROLES = checker.ROLES
_SRC = {"simulated": "run for this report", "certificate": "as recorded in the certificate"}
PART_NAMES = ("propagated", "weight quantization", "bias quantization", "product rounding", "output rounding", "activation")


def fmt_num(q: Fraction) -> str:
    """The decimal shown for an exact value (7 significant digits)."""
    if q == 0:
        return "0"
    try:
        return f"{float(q):.7g}"
    except OverflowError:
        return ("-" if q < 0 else "") + "huge"


# ---------------------------------------------------------------- simulation (tightness)
@dataclass
class Simulation:
    samples: int
    corners: int
    max_error: list[Fraction]  # per output, worst |quantized - real| observed
    overflows: int
    exact_reference: bool
    source: str  # "simulated" | "certificate"
    worst_input: list | None = None
    notes: list[str] = field(default_factory=list)


def rebuild(cert: dict):
    """(Network without normalization, Design, network-unit input box) from a certificate."""
    from ..fixedpoint.design import Design, LayerFormats
    from ..fixedpoint.format import Overflow, Rounding, parse_format
    from ..network.ir import Activation, DenseLayer, Network

    layers, norm = checker.parse_network(cert["network"]["content"])
    net = Network(
        name=str(cert["network"].get("info", {}).get("name", "network")),
        layers=tuple(DenseLayer(tuple(tuple(r) for r in L.weights), tuple(L.bias), Activation(L.act)) for L in layers),
    )
    fm = cert["formats"]
    impl = cert["implementation"]
    design = Design(
        inputs=tuple(parse_format(t) for t in fm["inputs"]),
        layers=tuple(LayerFormats(*(tuple(parse_format(t) for t in d[r]) for r in ROLES)) for d in fm["layers"]),
        rounding=Rounding(impl["rounding"]),
        overflow=Overflow(impl["overflow"]),
        inputs_fixed=bool(impl["inputs_fixed"]),
    )
    box = []
    for i, (lo, hi) in enumerate(cert["domain"]):
        lo, hi = checker.rat(lo, "domain"), checker.rat(hi, "domain")
        if norm is not None:
            lo, hi = (
                (min(max(v, norm["clip_lo"][i]), norm["clip_hi"][i]) - norm["mean"][i]) / norm["range"][i] for v in (lo, hi)
            )
        box.append((lo, hi))
    return net, design, box


def _float_inside(q: Fraction, up: bool) -> float:
    f = float(q)
    if up and Fraction(f) < q:
        f = math.nextafter(f, math.inf)
    if not up and Fraction(f) > q:
        f = math.nextafter(f, -math.inf)
    return f


def _exact_forward(net, rows: list[list[Fraction]]) -> list[list[Fraction]]:
    """Exact real outputs of a ReLU/linear network (integer numerators, one denominator)."""
    import numpy as np

    from ..numeric.rational import RationalArray

    d = 1
    for r in rows:
        for v in r:
            d = math.lcm(d, v.denominator)
    h = np.array([[v.numerator * (d // v.denominator) for v in r] for r in rows], dtype=object)
    for layer in net.layers:
        w = RationalArray.from_fractions(layer.weight_array)
        b = RationalArray.from_fractions(list(layer.bias))
        s = h.dot(w.num.T)  # denominator d * w.den
        nd = math.lcm(d * w.den, b.den)
        h = s * (nd // (d * w.den)) + (b.num * (nd // b.den))[None, :]
        d = nd
        if layer.activation.value == "relu":
            h = np.where(h > 0, h, 0).astype(object)
    return [[Fraction(int(v), d) for v in r] for r in h]


def simulate_certificate(cert: dict, *, samples: int | None = None, seed: int = 0) -> Simulation:
    """Run the bit-exact simulator on random and corner inputs of the domain."""
    import numpy as np

    from ..fixedpoint.quantize import quantize_network
    from ..fixedpoint.simulator import quantize_inputs, simulate

    net, design, box = rebuild(cert)
    qnet = quantize_network(net, design)
    params = net.parameter_count
    if samples is None:
        samples = max(40, min(1000, int(4e6 // max(params, 1))))
    rng = random.Random(seed)
    n = net.n_inputs
    notes = []
    if n <= 8:
        corner_sel = [[(c >> i) & 1 for i in range(n)] for c in range(1 << n)]
    else:
        corner_sel = [[rng.randrange(2) for _ in range(n)] for _ in range(32)]
        notes.append("32 random corners of the input box (too many inputs for all 2^n)")
    if design.inputs_fixed:
        fr = [f.frac_bits for f in design.inputs]
        ends = [(-((-lo.numerator << f) // lo.denominator) if f >= 0 else math.ceil(lo * Fraction(2) ** f),
                 (hi.numerator << f) // hi.denominator if f >= 0 else math.floor(hi * Fraction(2) ** f))
                for (lo, hi), f in zip(box, fr)]
        mant = [[rng.randint(a, b) for a, b in ends] for _ in range(samples)]
        mant += [[ends[i][s] for i, s in enumerate(sel)] for sel in corner_sel]
        mant_arr = np.array(mant, dtype=object)
        reals = [[Fraction(m) * Fraction(2) ** -f for m, f in zip(r, fr)] for r in mant]
    else:
        ends = [(_float_inside(lo, True), _float_inside(hi, False)) for lo, hi in box]
        xs = [[rng.uniform(a, b) for a, b in ends] for _ in range(samples)]
        xs = [[min(max(v, a), b) for v, (a, b) in zip(r, ends)] for r in xs]
        xs += [[ends[i][s] for i, s in enumerate(sel)] for sel in corner_sel]
        mant_arr, _ = quantize_inputs(qnet, np.array(xs, dtype=np.float64))
        reals = [[Fraction(v) for v in r] for r in xs]
    res = simulate(qnet, mant_arr)
    exact = all(l.activation.value in ("relu", "linear") for l in net.layers)
    if exact:
        ref = _exact_forward(net, reals)
    else:
        ref = [[Fraction(float(v)) for v in r] for r in net.evaluate_float(np.array([[float(v) for v in r] for r in reals]))]
        notes.append("tanh/sigmoid network: real outputs evaluated in float64 (a measurement, not a proof)")
    of = [int(f) for f in res.output_frac]
    worst = [Fraction(0)] * net.n_outputs
    worst_row = [0] * net.n_outputs
    for r, (out_row, ref_row) in enumerate(zip(res.outputs, ref)):
        for i, (m, y) in enumerate(zip(out_row, ref_row)):
            e = abs(Fraction(int(m)) * Fraction(2) ** -of[i] - y)
            if e > worst[i]:
                worst[i], worst_row[i] = e, r
    return Simulation(samples, len(corner_sel), worst, int(np.count_nonzero(res.overflow)), exact, "simulated",
                      [[str(v) for v in reals[worst_row[i]]] for i in range(net.n_outputs)], notes)


def _recorded_simulation(cert: dict) -> Simulation | None:
    sim = (cert.get("measurements") or {}).get("simulation")
    if not sim:
        return None
    try:
        return Simulation(int(sim["samples"]), int(sim.get("corners", 0)),
                          [checker.rat(v, "measurements") for v in sim["max_abs_error"]], int(sim.get("overflows", 0)),
                          bool(sim.get("exact_reference", True)), "certificate")
    except (KeyError, TypeError, ValueError, checker.Malformed):
        return None


def simulation_record(sim: Simulation) -> dict:
    """The `measurements.simulation` object a certificate may carry."""
    return {"samples": sim.samples, "corners": sim.corners, "max_abs_error": [str(e) for e in sim.max_error],
            "overflows": sim.overflows, "exact_reference": sim.exact_reference}


# ---------------------------------------------------------------- plots
def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def make_plots(cert: dict, ch: checker.Checker | None) -> dict[str, tuple[str, bytes]]:
    """name -> (caption, PNG bytes)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fm = [{r: [checker.Fmt(t, "") for t in d[r]] for r in ROLES} for d in cert["formats"]["layers"]]
    claims = cert["claims"]["layers"]
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

    fig, (b1, b2) = plt.subplots(1, 2, figsize=(11, 3.8))
    worst = [max(checker.rat(v, "") for v in c["err_out"]) for c in claims]
    b1.semilogy(xs, [max(float(v), 1e-300) for v in worst], "o-")
    b1.set_xlabel("layer"), b1.set_ylabel("max error bound (log)"), b1.set_xticks(xs)
    b1.set_title("certified error bound after each layer (worst neuron)")
    if ch is not None and len(ch.details) == nl:
        bottoms = [0.0] * nl
        for part in PART_NAMES:
            shares = []
            for L, c in enumerate(claims):
                errs = [checker.rat(v, "") for v in c["err_out"]]
                j = max(range(len(errs)), key=lambda t: errs[t])
                total = sum(ch.details[L][p][j] for p in PART_NAMES) or Fraction(1)
                shares.append(float(ch.details[L][part][j] / total))
            b2.bar(xs, shares, bottom=bottoms, label=part)
            bottoms = [a + b for a, b in zip(bottoms, shares)]
        b2.set_ylim(0, 1), b2.legend(fontsize=7, loc="lower right"), b2.set_xticks(xs)
    b2.set_xlabel("layer"), b2.set_ylabel("share of the bound")
    b2.set_title("error budget of the worst neuron, by source")
    out["budget"] = ("Error budget per layer", _png(fig))

    fig, c1 = plt.subplots(1, 1, figsize=(11, 4.2))
    g, smallest = 0, 1.0
    for L, (c, d) in enumerate(zip(claims, fm)):
        lo = [float(checker.rat(v, "")) for v in c["out_lo"]]
        hi = [float(checker.rat(v, "")) for v in c["out_hi"]]
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


# ---------------------------------------------------------------- the page
def _cell(q: Fraction, where: str) -> str:
    return f'<td class="num" data-field="{html.escape(where)}" data-exact="{q}">{fmt_num(q)}</td>'


def _fmt_summary(fmts: list[str]) -> str:
    counts = {}
    for t in fmts:
        counts[t] = counts.get(t, 0) + 1
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{t} x{n}" for t, n in sorted(counts.items(), key=lambda kv: -kv[1])[:4]) + (
        f" (+{len(counts) - 4} more)" if len(counts) > 4 else "")


def build_report(cert_path, out_dir, *, spec_path=None, samples: int | None = None, seed: int = 0,
                 simulate: bool = True) -> tuple[Path, Path]:
    """Write report.html and report.md (plus PNGs for the Markdown) into out_dir; returns both paths."""
    cert_path, out_dir = Path(cert_path), Path(out_dir)
    cert = checker.read_certificate(cert_path)
    ch, verdict = None, "VALID"
    try:
        ch = checker.check(cert, code_dir=cert_path.parent)
    except checker.Invalid as exc:
        verdict = f"INVALID: {exc.step}: {exc.message}"
    except checker.Malformed as exc:
        raise
    spec_text, spec_name = None, None
    if spec_path is not None:
        spec_text, spec_name = Path(spec_path).read_text(encoding="utf-8"), str(spec_path)
    elif isinstance(cert.get("spec"), dict):
        spec_text, spec_name = cert["spec"].get("text"), cert["spec"].get("path")
    sim = _recorded_simulation(cert) if samples is None else None
    if sim is None and simulate and ch is not None:
        sim = simulate_certificate(cert, samples=samples, seed=seed)
    plots = make_plots(cert, ch)
    page = _Page(cert, cert_path, verdict, sim, spec_text, spec_name, spec_path)
    html_text = page.html(plots)
    md_text = page.markdown(plots)
    out_dir = make_folder(out_dir)
    for name, (_, png) in plots.items():
        write_bytes_atomic(out_dir / f"report_{name}.png", png)
    for fname, text in (("report.html", html_text), ("report.md", md_text)):
        write_text_atomic(out_dir / fname, text)
    return WrittenReport(out_dir / "report.html", out_dir / "report.md", ch is not None, verdict)


@dataclass(frozen=True)
class WrittenReport:
    """Where the report went and the checker's verdict it shows."""

    html: Path
    markdown: Path
    valid: bool
    verdict: str


class _Page:
    def __init__(self, cert, cert_path, verdict, sim, spec_text, spec_name, spec_path):
        self.c, self.path, self.verdict, self.sim = cert, cert_path, verdict, sim
        self.spec_text, self.spec_name, self.spec_path = spec_text, spec_name, spec_path
        info = cert["network"].get("info", {})
        self.name = info.get("name", "network")
        self.arch = info.get("architecture", "")
        self.params = info.get("parameter_count", "")
        self.bounds = [checker.rat(v, "") for v in cert["verdict"]["output_error_bounds"]]
        self.req = [None if v is None else checker.rat(v, "") for v in cert["requirements"]["max_error"]]
        self.note = (cert.get("analysis") or {}).get("note")
        impl = cert["implementation"]
        self.modes = (f"{impl['rounding']} rounding, {impl['overflow']} overflow, inputs "
                      + ("arrive already quantized" if impl["inputs_fixed"] else "are real and rounded at the input"))

    def recheck(self) -> str:
        spec = f" --spec {self.spec_path or self.spec_name}" if (self.spec_path or self.spec_name) else ""
        return f"verifq check {self.path}{spec} --verbose"

    def output_rows(self):
        """(output, required, certified, observed, tightness) with certificate paths."""
        rows = []
        for i, (b, r) in enumerate(zip(self.bounds, self.req)):
            obs = self.sim.max_error[i] if self.sim else None
            tight = float(b / obs) if obs else None
            rows.append((i, r, b, obs, tight))
        return rows

    def html(self, plots) -> str:
        e = html.escape
        c = self.c
        ok = self.verdict == "VALID"
        h = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>verifq report: {e(self.name)}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;}table{border-collapse:collapse}"
             "td,th{border:1px solid #bbb;padding:2px 6px}td.num{text-align:right;font-family:monospace}"
             ".ok{color:#070}.bad{color:#b00;font-weight:bold}pre{background:#f4f4f4;padding:8px;overflow:auto}</style>",
             "</head><body>", f"<h1>Quantization certificate: {e(self.name)}</h1>",
             f"<p class='{'ok' if ok else 'bad'}'>Independent checker: <b id='verdict'>{e(self.verdict)}</b></p>",
             "<h2>What was proven</h2>", f"<p id='statement'>{e(c['verdict'].get('statement', ''))}</p>",
             f"<p id='analysis-note'>{e(self.note)}</p>" if self.note else "",
             f"<p>Network <b>{e(self.name)}</b> ({e(str(self.arch))}, {e(str(self.params))} parameters), "
             f"sha256 <code id='network-sha'>{e(c['network']['sha256'])}</code>; problem sha256 "
             f"<code>{e(c['problem_sha256'])}</code>; design sha256 <code>{e(c['design_sha256'])}</code>. "
             f"Arithmetic: {e(self.modes)}. verifq {e(str(c.get('verifq_version')))}, created {e(str(c.get('created')))}.</p>",
             "<h3>Per output</h3><table id='outputs'><tr><th>output</th><th>required bound</th><th>certified bound</th>"
             "<th>worst observed error</th><th>certified / observed</th></tr>"]
        for i, r, b, obs, tight in self.output_rows():
            h.append(f"<tr><td>{i}</td>" + (_cell(r, f"requirements.max_error[{i}]") if r is not None else "<td>none</td>")
                     + _cell(b, f"verdict.output_error_bounds[{i}]")
                     + (f"<td class='num'>{fmt_num(obs)}</td>" if obs is not None else "<td>not measured</td>")
                     + (f"<td class='num'>{tight:.3g}</td>" if tight is not None else "<td>-</td>") + "</tr>")
        h.append("</table>")
        h += self._sim_html()
        h.append("<h3>Input domain</h3><table id='domain'><tr><th>input</th><th>lo</th><th>hi</th><th>format</th></tr>")
        for i, (lo, hi) in enumerate(c["domain"]):
            h.append(f"<tr><td>{i}</td>{_cell(checker.rat(lo, ''), f'domain[{i}][0]')}"
                     f"{_cell(checker.rat(hi, ''), f'domain[{i}][1]')}<td>{e(c['formats']['inputs'][i])}</td></tr>")
        h.append("</table>")
        h.append("<h2>Formats per layer</h2><table id='formats'><tr><th>layer</th><th>activation</th><th>neurons</th>"
                 + "".join(f"<th>{r}</th>" for r in ROLES) + "<th>max error bound</th></tr>")
        for L, (d, cl) in enumerate(zip(c["formats"]["layers"], c["claims"]["layers"])):
            errs = [checker.rat(v, "") for v in cl["err_out"]]
            j = max(range(len(errs)), key=lambda t: errs[t])
            h.append(f"<tr><td>{L + 1}</td><td>{e(c['network']['content']['layers'][L]['activation'])}</td>"
                     f"<td>{len(errs)}</td>" + "".join(f"<td>{e(_fmt_summary(d[r]))}</td>" for r in ROLES)
                     + _cell(errs[j], f"claims.layers[{L}].err_out[{j}]") + "</tr>")
        h.append("</table>")
        h.append("<h2>Plots</h2>")
        for name, (cap, png) in plots.items():
            h.append(f"<figure><img alt='{e(cap)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
                     f"<figcaption>{e(cap)}</figcaption></figure>")
        h.append("<h2>How to re-check</h2><pre id='recheck'>" + e(self.recheck()) + "</pre>"
                 "<p>The checker (verifq/certificate/checker.py) uses only the Python standard library and exact "
                 "rational arithmetic; it also runs on its own: <code>python checker.py CERT</code>.</p>")
        if self.spec_text is not None:
            h.append(f"<h2>Spec</h2><p>{e(str(self.spec_name))}</p><pre id='spec'>{e(self.spec_text)}</pre>")
        h.append("<h2>Per-neuron claims</h2><details><summary>ranges and error bounds of every neuron</summary>"
                 "<table id='neurons'><tr><th>layer</th><th>neuron</th><th>output format</th><th>accum format</th>"
                 "<th>pre lo</th><th>pre hi</th><th>error bound</th><th>stored lo</th><th>stored hi</th></tr>")
        for L, (d, cl) in enumerate(zip(c["formats"]["layers"], c["claims"]["layers"])):
            for j in range(len(cl["err_out"])):
                h.append(f"<tr><td>{L + 1}</td><td>{j}</td><td>{e(d['output'][j])}</td><td>{e(d['accum'][j])}</td>"
                         + "".join(_cell(checker.rat(cl[k][j], ""), f"claims.layers[{L}].{k}[{j}]")
                                   for k in ("pre_lo", "pre_hi", "err_out", "out_lo", "out_hi")) + "</tr>")
        h.append("</table></details></body></html>")
        return "\n".join(h)

    def _sim_html(self) -> list[str]:
        s = self.sim
        if s is None:
            return ["<p>Tightness: not measured.</p>"]
        bad = [i for i, (b, o) in enumerate(zip(self.bounds, s.max_error)) if o > b]
        out = [f"<p id='simulation'>Tightness measured by the bit-exact simulator ({_SRC[s.source]}): {s.samples} random "
               f"and {s.corners} corner inputs of the domain; {s.overflows} overflows observed; real outputs "
               f"{'computed exactly' if s.exact_reference else 'in float64'}.</p>"]
        out += [f"<p>{html.escape(n)}</p>" for n in s.notes]
        if bad or s.overflows:
            out.append(f"<p class='bad'>SOUNDNESS PROBLEM: observed error above the certified bound on outputs {bad} "
                       f"or an overflow was observed. Report this as a bug.</p>")
        return out

    def markdown(self, plots) -> str:
        c = self.c
        m = [f"# Quantization certificate: {self.name}", "", f"**Independent checker: {self.verdict}**", "",
             "## What was proven", "", c["verdict"].get("statement", ""), "",
             *([f"Note: {self.note}", ""] if self.note else []),
             f"- network: {self.name} ({self.arch}, {self.params} parameters), sha256 `{c['network']['sha256']}`",
             f"- problem sha256 `{c['problem_sha256']}`, design sha256 `{c['design_sha256']}`",
             f"- arithmetic: {self.modes}", f"- verifq {c.get('verifq_version')}, created {c.get('created')}", "",
             "| output | required bound | certified bound | worst observed | certified / observed |", "|---|---|---|---|---|"]
        for i, r, b, obs, tight in self.output_rows():
            m.append(f"| {i} | {fmt_num(r) if r is not None else 'none'} | {fmt_num(b)} | "
                     f"{fmt_num(obs) if obs is not None else 'not measured'} | {f'{tight:.3g}' if tight else '-'} |")
        if self.sim is not None:
            s = self.sim
            m += ["", f"Tightness measured by the bit-exact simulator ({_SRC[s.source]}): {s.samples} random + {s.corners} corner inputs, {s.overflows} overflows, "
                  f"real outputs {'exact' if s.exact_reference else 'float64'}."] + [f"Note: {n}" for n in s.notes]
        m += ["", "## Input domain", "", "| input | lo | hi | format |", "|---|---|---|---|"]
        for i, (lo, hi) in enumerate(c["domain"]):
            m.append(f"| {i} | {fmt_num(checker.rat(lo, ''))} | {fmt_num(checker.rat(hi, ''))} | {c['formats']['inputs'][i]} |")
        m += ["", "## Formats per layer", "", "| layer | activation | neurons | " + " | ".join(ROLES) + " | max error bound |",
              "|---" * (4 + len(ROLES)) + "|"]
        for L, (d, cl) in enumerate(zip(c["formats"]["layers"], c["claims"]["layers"])):
            worst = max(checker.rat(v, "") for v in cl["err_out"])
            m.append(f"| {L + 1} | {c['network']['content']['layers'][L]['activation']} | {len(cl['err_out'])} | "
                     + " | ".join(_fmt_summary(d[r]) for r in ROLES) + f" | {fmt_num(worst)} |")
        m += ["", "## Plots", ""] + [f"![{cap}](report_{name}.png)" for name, (cap, _) in plots.items()]
        m += ["", "## How to re-check", "", "```", self.recheck(), "```"]
        if self.spec_text is not None:
            m += ["", f"## Spec ({self.spec_name})", "", "```", self.spec_text.rstrip("\n"), "```"]
        return "\n".join(m) + "\n"
