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
the layer's accumulator width), verdict. With `claims.leaves` (a split of the domain into
boxes): leaves (the boxes cover the domain, each box's claims re-derived as above on its own),
then per layer the combined claims contain every box's.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

try:
    from .checker_core import Invalid, Malformed, get, get_list, rat
    from .checker_integer_box import check_layers, check_leaves, claim_lists, fits, input_codes, steps_of
    from .checker_integer_rules import check_errors
    from .checker_integer_symbolic import Symbolic
except ImportError:  # run as a script next to checker_core.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from checker_core import Invalid, Malformed, get, get_list, rat
    from checker_integer_box import check_layers, check_leaves, claim_lists, fits, input_codes, steps_of
    from checker_integer_rules import check_errors
    from checker_integer_symbolic import Symbolic

KIND = "integer-accumulators"
ORDER = "bias-first-sequential"  # every layer sequential (the first certificates' only order)
PER_LAYER = "per-layer"  # `orders` (and `modes`) give each layer's
ORDERS = ("sequential", "bias_last", "split_sign")


def canonical_sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")).hexdigest()


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
    domain = get_list(cert, "domain", "certificate", n_in)
    if any(not isinstance(p, list) or len(p) != 2 for p in domain):
        raise Malformed("domain: expected [lo, hi] per input")
    domain = [(rat(p[0], "domain"), rat(p[1], "domain")) for p in domain]
    impl = get(cert, "implementation", "certificate", dict)
    orders = _orders(impl, len(layers))
    widths = get_list(impl, "widths", "implementation", len(layers))
    if any(w is not None and (type(w) is not int or w < 1) for w in widths):
        raise Malformed("implementation: widths must be positive integers or null")
    claims = get(cert, "claims", "certificate", dict)
    input_steps = steps_of(get_list(content, "input_steps", "network.content"), n_in, "input_steps")
    clo, chi = input_codes(input_steps, domain, get(claims, "inputs", "claims", dict), "claims.inputs")
    log.append(("inputs", f"{n_in} input codes contain the quantized domain box"))
    cl = get_list(claims, "layers", "claims", len(layers))
    if "leaves" in claims:
        log += check_leaves(layers, input_steps, domain, claims, orders, budget)
        for L, (c, width) in enumerate(zip(cl, widths)):
            pl, ph = claim_lists(c, L, len(layers[L]["weights"]))[:2]
            log += fits(width, pl, ph, f"layer {L + 1}")
    else:
        log += check_layers(layers, cl, clo, chi, orders, widths, Symbolic(layers, clo, chi, budget))
    verdict = get(cert, "verdict", "certificate", dict)
    if verdict.get("overflow_free") is not True:
        raise Invalid("verdict", "the certificate does not claim overflow-freedom")
    if "errors" in claims:
        log += check_errors(content, domain, claims, cert.get("requirements", {}))
    log.append(("verdict", "every accumulator of the stated widths is overflow-free over the domain"
                + ("; every output's error bound holds" if "errors" in claims else "")))
    return log
