"""The checker's rules for integer-network certificates (`"kind": "integer-accumulators"`,
SCHEMA.md): accumulator overflow-freedom of an already-quantized (QONNX) network. Standard
library only, like checker.py; exact Python integers and Fractions.

Steps: schema, network hash (canonical integer network), inputs (the input quantizer's codes
over the domain box), layer L partial sums (every partial sum the layer's order holds --
sequential: every prefix bias + sum_{i<k} w_i a_i, k = 0..K; bias_last: every prefix
sum_{i<k} w_i a_i and the final sum with the bias; split_sign: max(b, 0) + the positive
products and min(b, 0) + the negative products -- bounded by the claimed ranges, derived from
the previous layer's claimed final sums through its monotone steps; a layer whose claims carry
`lines` may claim tighter ranges, which the symbolic rule of checker_integer_symbolic.py
re-derives by back-substitution to the input codes), layer L accumulator (the claimed ranges fit
the layer's accumulator width), verdict.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

try:
    from .checker_core import Invalid, Malformed, get, get_list, rat
    from .checker_integer_rules import MODES, apply, check_errors, held_range
    from .checker_integer_symbolic import Symbolic
except ImportError:  # run as a script next to checker_core.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from checker_core import Invalid, Malformed, get, get_list, rat
    from checker_integer_rules import MODES, apply, check_errors, held_range
    from checker_integer_symbolic import Symbolic

KIND = "integer-accumulators"
ORDER = "bias-first-sequential"  # every layer sequential (the first certificates' only order)
PER_LAYER = "per-layer"  # `orders` (and `modes`) give each layer's
ORDERS = ("sequential", "bias_last", "split_sign")


def canonical_sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")).hexdigest()


def integers(values, where: str) -> list:
    """JSON integers only: a bool, float or string (e.g. "3") is malformed, never coerced."""
    if not isinstance(values, list) or any(type(v) is not int for v in values):
        raise Malformed(f"{where}: expected a list of integers")
    return values


def _steps(steps, n: int, where: str) -> list[dict]:
    """The steps, each field of the type it must have (a string "false" for `signed` would
    otherwise read as true)."""
    for s in steps:
        if not isinstance(s, dict) or s.get("op") not in ("relu", "bipolar", "thresholds", "requant"):
            raise Malformed(f"{where}: a step must be relu, bipolar, thresholds or requant")
        if s["op"] == "requant":
            if s.get("rounding") not in MODES or type(s.get("bits")) is not int or s["bits"] < 0:
                raise Malformed(f"{where}: requant needs a QONNX rounding mode and bits >= 0")
            if type(s.get("signed")) is not bool or type(s.get("narrow")) is not bool:
                raise Malformed(f"{where}: requant's signed and narrow must be true or false")
            get_list(s, "multiplier", where, n)
            integers(get_list(s, "zero_point", where, n), f"{where}: zero_point")
            if any(rat(m, where) <= 0 for m in s["multiplier"]):
                raise Malformed(f"{where}: multipliers must be positive")
        elif s["op"] == "thresholds":
            for row in get_list(s, "thresholds", where, n):
                integers(row, f"{where}: thresholds")
            if type(s.get("offset")) is not int:
                raise Malformed(f"{where}: thresholds need an integer offset")
    return steps


def _orders(impl: dict, n: int) -> list[str]:
    """Each layer's partial-sum order (and a check of the modes)."""
    order = impl.get("order")
    if order == ORDER:
        orders = ["sequential"] * n
    elif order == PER_LAYER:
        orders = get_list(impl, "orders", "implementation", n)
        if any(o not in ORDERS for o in orders):
            raise Malformed(f"implementation: each order must be one of {', '.join(ORDERS)}")
    else:
        raise Malformed(f"implementation: order must be {ORDER!r} or {PER_LAYER!r}")
    modes = impl.get("modes", [impl.get("accumulator")] * n)
    if not isinstance(modes, list) or len(modes) != n or any(m not in ("wrap", "saturate") for m in modes):
        raise Malformed("implementation: accumulator (or modes, per layer) must be wrap|saturate")
    return orders


def check_integer(cert: dict, budget: int | None = None) -> list[tuple[str, str]]:
    """Every step for an integer-accumulator certificate; raises Invalid/Malformed at the first failure
    (with a work `budget` -- writers only -- OverBudget when the symbolic rule would exceed it)."""
    log = []
    net = get(cert, "network", "certificate", dict)
    content = get(net, "content", "network", dict)
    if canonical_sha(content) != get(net, "sha256", "network", str):
        raise Invalid("network hash", "sha256 of the integer network content differs from network.sha256")
    log.append(("network hash", "the integer network content matches its sha256"))
    layers = get_list(content, "layers", "network.content")
    n_in = len(layers[0]["weights"][0])
    domain = [(rat(p[0], "domain"), rat(p[1], "domain")) for p in get_list(cert, "domain", "certificate", n_in)]
    impl = get(cert, "implementation", "certificate", dict)
    orders = _orders(impl, len(layers))
    widths = get_list(impl, "widths", "implementation", len(layers))
    if any(w is not None and (type(w) is not int or w < 1) for w in widths):
        raise Malformed("implementation: widths must be positive integers or null")
    claims = get(cert, "claims", "certificate", dict)
    # inputs: the input steps are monotone, so the box's ends give the code range
    lo, hi = list(domain[i][0] for i in range(n_in)), list(domain[i][1] for i in range(n_in))
    for s in _steps(get_list(content, "input_steps", "network.content"), n_in, "input_steps"):
        lo = [apply(s, i, v, exact=True) for i, v in enumerate(lo)]
        hi = [apply(s, i, v, exact=True) for i, v in enumerate(hi)]
    cin = get(claims, "inputs", "claims", dict)
    clo, chi = get_list(cin, "code_lo", "claims.inputs", n_in), get_list(cin, "code_hi", "claims.inputs", n_in)
    if any(type(v) is not int or v.__class__ is bool for v in clo + chi):
        raise Malformed("claims.inputs: codes must be integers")
    if any(a > b for a, b in zip(clo, lo)) or any(a < b for a, b in zip(chi, hi)):
        raise Invalid("inputs", "the claimed input codes do not contain the quantized domain")
    log.append(("inputs", f"{n_in} input codes contain the quantized domain box"))
    lo, hi = clo, chi
    sym = Symbolic(layers, clo, chi, budget)  # the symbolic rule, for layers whose claims carry lines
    cl = get_list(claims, "layers", "claims", len(layers))
    for L, (layer, c, width) in enumerate(zip(layers, cl, widths)):
        name = f"layer {L + 1}"
        w, b = layer["weights"], layer["bias"]
        n_out = len(w)
        if any(not isinstance(row, list) or len(row) != len(lo) for row in w) or not isinstance(b, list) or len(b) != n_out:
            raise Malformed(f"{name}: weights must be {n_out} rows of {len(lo)} integers")
        for row in w:
            integers(row, f"{name}: weights")
        integers(b, f"{name}: bias")
        keys = ("prefix_lo", "prefix_hi", "final_lo", "final_hi")
        pl, ph, fl, fh = (get_list(c, k, f"claims.layers[{L}]", n_out) for k in keys)
        lines = sym.lines(L, c, f"claims.layers[{L}]") if "lines" in c else None
        rows = sym.rows
        for j in range(n_out):
            mn, mx, run_lo, run_hi = held_range(orders[L], w[j], b[j], lo, hi)
            if lines is not None and (pl[j] > mn or ph[j] < mx or fl[j] > run_lo or fh[j] < run_hi):
                sym.neuron(L, orders[L], w[j], b[j], lo, hi, (pl[j], ph[j], fl[j], fh[j]), lines, name, j)
                continue
            if pl[j] > mn or ph[j] < mx:
                raise Invalid(f"{name} partial sums", f"neuron {j}: partial sums reach [{mn}, {mx}], "
                              f"outside the claimed [{pl[j]}, {ph[j]}]")
            if fl[j] > run_lo or fh[j] < run_hi:
                raise Invalid(f"{name} partial sums", f"neuron {j}: the final sum reaches [{run_lo}, {run_hi}], "
                              f"outside the claimed [{fl[j]}, {fh[j]}]")
        log.append((f"{name} partial sums", f"{n_out} neurons: every partial sum ({orders[L]} order) within its claim"
                    + ("" if lines is None else f" (symbolic rule: lines of {L} earlier layers checked; {sym.rows - rows} "
                                                "rows back-substituted to the input codes)")))
        if width is not None:
            amin, amax = -(1 << (width - 1)), (1 << (width - 1)) - 1
            bad = [j for j in range(n_out) if pl[j] < amin or ph[j] > amax]
            if bad:
                raise Invalid(f"{name} accumulator", f"neuron {bad[0]}: [{pl[bad[0]]}, {ph[bad[0]]}] does not fit "
                              f"{width} bits")
            log.append((f"{name} accumulator", f"every partial sum fits {width} bits"))
        sym.finals.append((fl, fh))
        lo, hi = list(fl), list(fh)
        for s in _steps(layer["steps"], n_out, f"{name} steps"):
            lo = [apply(s, j, v) for j, v in enumerate(lo)]
            hi = [apply(s, j, v) for j, v in enumerate(hi)]
    verdict = get(cert, "verdict", "certificate", dict)
    if verdict.get("overflow_free") is not True:
        raise Invalid("verdict", "the certificate does not claim overflow-freedom")
    if "errors" in claims:
        log += check_errors(content, domain, claims, cert.get("requirements", {}))
    log.append(("verdict", "every accumulator of the stated widths is overflow-free over the domain"
                + ("; every output's error bound holds" if "errors" in claims else "")))
    return log
