"""How close a certificate's bounds are to the truth: the bit-exact simulator run
on random and corner inputs of the certificate's domain, against the exact real
network (tanh/sigmoid networks: float64). A measurement for the review report,
never part of the proof."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from fractions import Fraction

from . import checker

ROLES = checker.ROLES


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


def recorded_simulation(cert: dict) -> Simulation | None:
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
