"""Empirical search for inputs that break a design: random samples, box
corners, and a local search that maximises the simulated error (or the
magnitude of an overflowing value).

Used two ways: by `prove` to turn a failed proof into a concrete
counterexample when one exists, and by tests/benchmarks to measure the
tightness of the analysis (certified bound / worst observed error). Every
reported counterexample is confirmed with the bit-exact simulator and a
60-digit evaluation of the real network, so "confirmed" is never a float
accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np

from ..fixedpoint.quantize import QuantizedNetwork
from ..fixedpoint.simulator import mantissas_to_float, quantize_inputs, simulate
from ..network.ir import Activation, Network, apply_activation_float

_CONFIRM_SLACK = Fraction(1, 10**40)  # far above the 60-digit evaluation error


@dataclass(frozen=True)
class Observation:
    """Worst behaviour seen on a batch of inputs."""

    n_inputs: int
    max_error: tuple[float, ...]  # per output, over rows without overflow
    worst_input: tuple[tuple[float, ...], ...]  # per output, network-input units
    overflow_rows: int
    overflow_example: tuple[float, ...] | None
    overflow_site: tuple | None


@dataclass(frozen=True)
class Counterexample:
    kind: str  # "error" | "overflow"
    input_network_units: tuple[float, ...]
    input_raw: tuple[float, ...]
    output: int | None
    observed_error: Fraction | None
    bound: Fraction | None
    overflow_site: tuple | None
    confirmed: bool


class Sampler:
    """Draws inputs in the box (network-input units) the quantized network can receive."""

    def __init__(self, qnet: QuantizedNetwork, box, seed: int = 0):
        self.qnet = qnet
        self.lo = np.array([float(lo) for lo, _ in box])
        self.hi = np.array([float(hi) for _, hi in box])
        # float64 of a rational endpoint may lie outside the box: pull inside
        exact_lo = [Fraction(lo) for lo, _ in box]
        exact_hi = [Fraction(hi) for _, hi in box]
        for i in range(len(box)):
            if Fraction(self.lo[i]) < exact_lo[i]:
                self.lo[i] = np.nextafter(self.lo[i], np.inf)
            if Fraction(self.hi[i]) > exact_hi[i]:
                self.hi[i] = np.nextafter(self.hi[i], -np.inf)
        self.hi = np.maximum(self.hi, self.lo)
        self.rng = np.random.default_rng(seed)
        self.fixed = qnet.design.inputs_fixed
        if self.fixed:
            f = qnet.input_frac
            self.k_lo = np.ceil(np.ldexp(self.lo, f)).astype(np.int64)
            self.k_hi = np.floor(np.ldexp(self.hi, f)).astype(np.int64)

    def snap(self, x: np.ndarray) -> np.ndarray:
        """Clip into the box; for fixed-point inputs, onto the representable grid."""
        x = np.clip(x, self.lo, self.hi)
        if self.fixed:
            f = self.qnet.input_frac
            k = np.clip(np.floor(np.ldexp(x, f)), self.k_lo, self.k_hi)
            x = np.ldexp(k, -f)
        return x

    def uniform(self, n: int) -> np.ndarray:
        return self.snap(self.rng.uniform(self.lo, self.hi, size=(n, len(self.lo))))

    def corners(self, limit: int) -> np.ndarray:
        d = len(self.lo)
        if d <= 16 and 2**d <= limit:
            bits = (np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1
        else:
            bits = self.rng.integers(0, 2, size=(limit, d))
        return self.snap(np.where(bits == 1, self.hi, self.lo))


def run_batch(qnet: QuantizedNetwork, network: Network, x: np.ndarray):
    """(errors (N, n_out) float, overflow (N,), first overflow sites) for inputs x."""
    mant, over_in = quantize_inputs(qnet, x)
    res = simulate(qnet, mant)
    y_q = res.outputs_float()
    y_r = network.forward_float(x)
    err = np.abs(y_q - y_r)
    overflow = res.overflow | over_in
    sites = [(0, "input", -1) if over_in[i] else res.first_overflow[i] for i in range(len(x))]
    return err, overflow, sites


def local_search(qnet, network, sampler: Sampler, starts: np.ndarray, objective, rounds: int = 12, batch: int = 64):
    """Hill-climb from each start, maximising objective(x) -> (N,) scores."""
    best = starts.copy()
    best_score = objective(best)
    step = (sampler.hi - sampler.lo) / 4
    for _ in range(rounds):
        for i in range(len(best)):
            cand = sampler.snap(best[i] + sampler.rng.uniform(-1, 1, size=(batch, len(step))) * step)
            scores = objective(cand)
            k = int(np.argmax(scores))
            if scores[k] > best_score[i]:
                best[i], best_score[i] = cand[k], scores[k]
        step = step / 2
    return best, best_score


def observe(qnet: QuantizedNetwork, network: Network, box, n_random: int = 10000, n_corners: int = 1024,
            search_starts: int = 8, seed: int = 0) -> Observation:
    """Random + corner + error-maximising search (from `search_starts` best points per output;
    0: no search); the worst error and overflow seen."""
    sampler = Sampler(qnet, box, seed)
    x = np.vstack([sampler.uniform(n_random), sampler.corners(n_corners)])
    chunks = [run_batch(qnet, network, x[i : i + 4096]) for i in range(0, len(x), 4096)]
    err = np.vstack([c[0] for c in chunks])
    overflow = np.concatenate([c[1] for c in chunks])
    sites = [s for c in chunks for s in c[2]]
    n_out = err.shape[1]
    ok_err = np.where(overflow[:, None], -np.inf, err)
    worst_inputs = []
    max_err = []
    for j in range(n_out):
        order = np.argsort(-ok_err[:, j])[:max(search_starts, 1)]
        base = float(ok_err[order[0], j]) if np.isfinite(ok_err[order[0], j]) else 0.0
        cand_err = -1.0
        if search_starts > 0:

            def objective(c, j=j):
                e, o, _ = run_batch(qnet, network, c)
                return np.where(o, -np.inf, e[:, j])

            best, score = local_search(qnet, network, sampler, x[order], objective)
            k = int(np.argmax(score))
            cand_err = float(score[k]) if np.isfinite(score[k]) else 0.0
        if cand_err >= base:
            max_err.append(cand_err)
            worst_inputs.append(tuple(float(v) for v in best[k]))
        else:
            max_err.append(base)
            worst_inputs.append(tuple(float(v) for v in x[order[0]]))
    ov_rows = int(overflow.sum())
    ov_idx = int(np.argmax(overflow)) if ov_rows else None
    return Observation(
        len(x) + search_starts * n_out,
        tuple(max_err),
        tuple(worst_inputs),
        ov_rows,
        tuple(float(v) for v in x[ov_idx]) if ov_idx is not None else None,
        sites[ov_idx] if ov_idx is not None else None,
    )


def real_output_highprec(network: Network, x) -> list[Decimal]:
    """The real network's outputs at x (network-input units), to 60 digits."""
    with localcontext() as ctx:
        ctx.prec = 60
        h = [Decimal(Fraction(v).numerator) / Decimal(Fraction(v).denominator) for v in x]
        for layer in network.layers:
            ws = [[Decimal(w.numerator) / Decimal(w.denominator) for w in row] for row in layer.weights]
            bs = [Decimal(b.numerator) / Decimal(b.denominator) for b in layer.bias]
            z = [sum((w * v for w, v in zip(row, h)), b) for row, b in zip(ws, bs)]
            if layer.activation is Activation.RELU:
                h = [v if v > 0 else Decimal(0) for v in z]
            elif layer.activation is Activation.TANH:
                h = [((2 * v).exp() - 1) / ((2 * v).exp() + 1) if abs(v) < 200 else Decimal(1 if v > 0 else -1) for v in z]
            elif layer.activation is Activation.SIGMOID:
                h = [1 / (1 + (-v).exp()) if v > -400 else Decimal(0) for v in z]
            else:
                h = z
        return h


def simulated_error(qnet: QuantizedNetwork, network: Network, x, output: int) -> Fraction | None:
    """|y~ - y| of one output at input x (float64, network-input units): the bit-exact simulator
    against the real network to 60 digits; None when the input or some stored value overflows."""
    x = np.asarray(x, dtype=np.float64)
    mant, over = quantize_inputs(qnet, x[None, :])
    res = simulate(qnet, mant)
    if res.overflow[0] or over[0]:
        return None
    q = Fraction(int(res.outputs[0, output]), 1) / (Fraction(2) ** int(res.output_frac[output]))
    real = Fraction(real_output_highprec(network, [Fraction(float(v)) for v in x])[output])
    return abs(q - real)


def confirm_error(qnet: QuantizedNetwork, network: Network, x: np.ndarray, output: int, bound: Fraction):
    """Exact check that the simulated output at x misses the real one by more than bound."""
    err = simulated_error(qnet, network, x, output)
    return err if err is not None and err > bound + _CONFIRM_SLACK else None


def find_counterexample(analysis, *, samples: int = 4000, seed: int = 0) -> Counterexample | None:
    """Look for a concrete input that breaks the first violated claim of `analysis`."""
    problem = analysis.problem
    qnet = analysis.qnet
    network = problem.network
    box = analysis.box
    sampler = Sampler(qnet, box, seed)
    x = np.vstack([sampler.uniform(samples), sampler.corners(min(1024, samples))])
    err, overflow, sites = run_batch(qnet, network, x)
    kinds = {v.kind for v in analysis.violations}
    if overflow.any():
        i = int(np.argmax(overflow))
        return _make(problem, "overflow", x[i], None, None, None, sites[i], True)
    if "error" in kinds:
        for v in analysis.violations:
            if v.kind != "error":
                continue
            j, bound = v.neuron, v.limit_hi
            starts = x[np.argsort(-np.where(overflow, -np.inf, err[:, j]))[:6]]

            def objective(c, j=j):
                e, o, _ = run_batch(qnet, network, c)
                return np.where(o, -np.inf, e[:, j])

            best, score = local_search(qnet, network, sampler, starts, objective)
            for k in np.argsort(-score)[:3]:
                if score[k] > float(bound) * (1 - 1e-9):
                    exact = confirm_error(qnet, network, best[k], j, bound)
                    if exact is not None:
                        return _make(problem, "error", best[k], j, exact, bound, None, True)
    # overflow claims random sampling missed: push the offending real value outward
    for v in analysis.violations:
        if v.kind != "overflow" or v.layer == 0:
            continue
        sign = 1.0 if v.value_hi - v.limit_hi >= v.limit_lo - v.value_lo else -1.0

        def objective(c, v=v, sign=sign):
            return sign * pre_activation_float(network, c, v.layer)[:, v.neuron]

        scores = objective(x)
        best, _ = local_search(qnet, network, sampler, x[np.argsort(-scores)[:6]], objective)
        _, o, s = run_batch(qnet, network, best)
        if o.any():
            i = int(np.argmax(o))
            return _make(problem, "overflow", best[i], None, None, None, s[i], True)
    return None


def describe_overflow_site(site) -> str:
    """(layer, role, neuron) as words; layer 0 is the input quantization."""
    if not site:
        return "?"
    if site[0] == 0:
        return "the input quantization"
    return f"layer {site[0]}, neuron {site[2]} ({site[1]})"


def pre_activation_float(network: Network, x: np.ndarray, layer: int) -> np.ndarray:
    """Float pre-activations of 1-based `layer` (ranking only, never proof)."""
    h = np.asarray(x, dtype=np.float64)
    for pos, lay in enumerate(network.layers, start=1):
        z = h @ lay.weight_float.T + lay.bias_float
        if pos == layer:
            return z
        h = apply_activation_float(lay.activation, z)
    raise ValueError(layer)


def _make(problem, kind, x, output, err, bound, site, confirmed) -> Counterexample:
    raw = tuple(float(v) for v in x)
    norm = problem.network.normalization
    if norm is not None:
        raw = tuple(float(v * r + m) for v, r, m in zip(x, norm.range, norm.mean))
    return Counterexample(kind, tuple(float(v) for v in x), raw, output, err, bound, site, confirmed)


def mantissa_outputs(qnet: QuantizedNetwork, x: np.ndarray) -> np.ndarray:
    mant, _ = quantize_inputs(qnet, x)
    res = simulate(qnet, mant)
    return mantissas_to_float(res.outputs, res.output_frac)
