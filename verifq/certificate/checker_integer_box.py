"""The per-box rules of integer certificates (SCHEMA.md; called by checker_integer.py): a box's
input codes and every layer's claimed partial sums over it, each layer from the previous one's
claimed final sums (the interval rule, or the symbolic rule of checker_integer_symbolic.py where
the claims carry lines); and a split: the leaves' boxes cover the domain, each re-derived on its
own, the combined claims contain every leaf's. Standard library only, exact Python integers and
Fractions.
"""

from __future__ import annotations

import sys
from bisect import bisect_left
from itertools import product
from pathlib import Path

try:
    from .checker_core import Invalid, Malformed, get, get_list, rat
    from .checker_integer_rules import MODES, apply, held_range
    from .checker_integer_symbolic import Symbolic
except ImportError:  # run as a script next to checker_core.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from checker_core import Invalid, Malformed, get, get_list, rat
    from checker_integer_rules import MODES, apply, held_range
    from checker_integer_symbolic import Symbolic

MAX_LEAVES = 1 << 16
MAX_CELLS = 1 << 22  # cells of the leaves' grid that the coverage check may visit


def integers(values, where: str) -> list:
    """JSON integers only: a bool, float or string (e.g. "3") is malformed, never coerced."""
    if not isinstance(values, list) or any(type(v) is not int for v in values):
        raise Malformed(f"{where}: expected a list of integers")
    return values


def steps_of(steps, n: int, where: str) -> list[dict]:
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


def input_codes(input_steps: list, box, cin: dict, where: str) -> tuple[list, list]:
    """The claimed input codes of a box, checked to contain the quantized box (the input steps
    are monotone, so the box's ends give the code range)."""
    n_in = len(box)
    lo, hi = [a for a, _ in box], [b for _, b in box]
    for s in input_steps:
        lo = [apply(s, i, v, exact=True) for i, v in enumerate(lo)]
        hi = [apply(s, i, v, exact=True) for i, v in enumerate(hi)]
    clo, chi = get_list(cin, "code_lo", where, n_in), get_list(cin, "code_hi", where, n_in)
    if any(type(v) is not int for v in clo + chi):
        raise Malformed(f"{where}: codes must be integers")
    if any(a > b for a, b in zip(clo, lo)) or any(a < b for a, b in zip(chi, hi)):
        raise Invalid("inputs", "the claimed input codes do not contain the quantized domain" if where == "claims.inputs"
                      else f"{where}: the claimed input codes do not contain the quantized box")
    return clo, chi


def claim_lists(c: dict, L: int, n_out: int, where: str = "claims.layers") -> tuple[list, ...]:
    """A layer's four claimed lists (prefix_lo, prefix_hi, final_lo, final_hi), integers."""
    return tuple(integers(get_list(c, k, f"{where}[{L}]", n_out), f"{where}[{L}].{k}")
                 for k in ("prefix_lo", "prefix_hi", "final_lo", "final_hi"))


def fits(width, pl: list, ph: list, name: str) -> list[tuple[str, str]]:
    """The claimed partial-sum ranges fit the layer's accumulator width (None: no width claimed)."""
    if width is None:
        return []
    amin, amax = -(1 << (width - 1)), (1 << (width - 1)) - 1
    bad = [j for j in range(len(pl)) if pl[j] < amin or ph[j] > amax]
    if bad:
        raise Invalid(f"{name} accumulator", f"neuron {bad[0]}: [{pl[bad[0]]}, {ph[bad[0]]}] does not fit {width} bits")
    return [(f"{name} accumulator", f"every partial sum fits {width} bits")]


def check_layers(layers: list, cl: list, lo: list, hi: list, orders: list, widths: list, sym: Symbolic,
                  where: str = "claims.layers") -> list[tuple[str, str]]:
    """Every layer's claimed partial sums over a box whose input codes are [lo, hi], each layer
    from the previous one's claimed final sums (the interval rule, or the symbolic rule where the
    claims carry lines); and the widths."""
    log = []
    for L, (layer, c, width) in enumerate(zip(layers, cl, widths)):
        name = f"layer {L + 1}"
        w, b = layer["weights"], layer["bias"]
        n_out = len(w)
        if any(not isinstance(row, list) or len(row) != len(lo) for row in w) or not isinstance(b, list) or len(b) != n_out:
            raise Malformed(f"{name}: weights must be {n_out} rows of {len(lo)} integers")
        for row in w:
            integers(row, f"{name}: weights")
        integers(b, f"{name}: bias")
        pl, ph, fl, fh = claim_lists(c, L, n_out, where)
        lines = sym.lines(L, c, f"{where}[{L}]") if "lines" in c else None
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
        log += fits(width, pl, ph, name)
        sym.finals.append((fl, fh))
        lo, hi = list(fl), list(fh)
        for s in steps_of(get_list(layer, "steps", name), n_out, f"{name} steps"):
            lo = [apply(s, j, v) for j, v in enumerate(lo)]
            hi = [apply(s, j, v) for j, v in enumerate(hi)]
    return log


def check_leaves(layers: list, input_steps: list, domain, claims: dict, orders: list, budget) -> list[tuple[str, str]]:
    """A split: the leaves' boxes cover the domain, each leaf's claims hold on its box (checked
    like a whole certificate's, from its own input codes), and each layer's claims contain the
    leaves' hull (so they hold on the union, the domain), intersected with the whole box's own
    claims (`whole_box`, re-derived the same way) when the certificate has them."""
    leaves = get_list(claims, "leaves", "claims")
    if not 1 <= len(leaves) <= MAX_LEAVES:
        raise Malformed(f"claims.leaves: expected 1 to {MAX_LEAVES} leaves")
    if any("lines" in c for c in get_list(claims, "layers", "claims", len(layers)) if isinstance(c, dict)):
        raise Malformed("claims.layers: with leaves the combined claims carry no lines (each leaf carries its own)")
    boxes = []
    for k, leaf in enumerate(leaves):  # first the boxes: they must cover the domain before any is re-derived
        where = f"claims.leaves[{k}]"
        if not isinstance(leaf, dict):
            raise Malformed(f"{where}: expected an object")
        box = []
        for i, (p, (lo, hi)) in enumerate(zip(get_list(leaf, "domain", where, len(domain)), domain)):
            if not isinstance(p, list) or len(p) != 2:
                raise Malformed(f"{where}.domain[{i}]: expected [lo, hi]")
            a, b = rat(p[0], f"{where}.domain"), rat(p[1], f"{where}.domain")
            if not lo <= a <= b <= hi:
                raise Invalid("leaves", f"leaf {k}: input {i}'s interval [{a}, {b}] is empty or leaves the domain")
            box.append((a, b))
        boxes.append(box)
    _covers(domain, boxes)
    work = rows = 0

    def derive(label: str, box, doc, where: str) -> list:
        """One box's claims re-derived on it (its own input codes, lines); per layer its four lists."""
        nonlocal work, rows
        if not isinstance(doc, dict):
            raise Malformed(f"{where}: expected an object")
        clo, chi = input_codes(input_steps, box, get(doc, "inputs", where, dict), f"{where}.inputs")
        cl = get_list(doc, "layers", where, len(layers))
        sym = Symbolic(layers, clo, chi, None if budget is None else budget - work)
        try:
            check_layers(layers, cl, clo, chi, orders, [None] * len(layers), sym, f"{where}.layers")
        except Invalid as exc:
            raise Invalid(f"{label} {exc.step}", exc.message) from None
        work, rows = work + sym.work, rows + sym.rows
        return [claim_lists(c, L, len(layers[L]["weights"]), f"{where}.layers") for L, c in enumerate(cl)]
    parts = [derive(f"leaf {k}", box, leaf, f"claims.leaves[{k}]") for k, (leaf, box) in enumerate(zip(leaves, boxes))]
    whole = derive("whole box", domain, claims["whole_box"], "claims.whole_box") if "whole_box" in claims else None
    log = [("leaves", f"{len(leaves)} boxes cover the domain; each one's claims re-derived on its box"
            + (" (and the whole box's)" if whole else "") + (f"; symbolic rule: {rows} rows back-substituted" if rows else ""))]
    for L, c in enumerate(get_list(claims, "layers", "claims", len(layers))):
        top = claim_lists(c, L, len(layers[L]["weights"]))
        for i, (key, mine) in enumerate(zip(("prefix_lo", "prefix_hi", "final_lo", "final_hi"), top)):
            lower = i % 2 == 0  # the leaves' hull, within the whole box's claims: both hold on every input
            need = [(min if lower else max)(p[L][i][j] for p in parts) for j in range(len(mine))]
            if whole is not None:
                need = [(max if lower else min)(v, w) for v, w in zip(need, whole[L][i])]
            bad = [j for j, (a, b) in enumerate(zip(mine, need)) if (a > b if lower else a < b)]
            if bad:
                raise Invalid(f"layer {L + 1} partial sums", f"neuron {bad[0]}: the claimed {key} {mine[bad[0]]} is "
                              f"tighter than the leaves give ({need[bad[0]]})")
        log.append((f"layer {L + 1} partial sums", f"{len(top[0])} neurons: the claims contain the leaves' hull"
                    + (" within the whole box's claims" if whole else "")))
    return log


def _covers(domain, boxes) -> None:
    """Every point of the domain lies in some box: cut each input at every box's ends, and every
    cell of that grid (between consecutive cuts) must lie in a box (a box either contains a cell or
    meets it on its boundary only, as the cuts include its ends). Boxes may share boundaries but
    not overlap, so the leaves' re-derivation costs one pass per cell at most."""
    cuts = [sorted({lo, hi} | {b[i][0] for b in boxes} | {b[i][1] for b in boxes}) for i, (lo, hi) in enumerate(domain)]
    cells = 1
    for c in cuts:
        cells *= max(len(c) - 1, 1)
    if cells > MAX_CELLS:
        raise Malformed(f"claims.leaves: the leaves' grid has {cells} cells, more than {MAX_CELLS}")
    covered = set()
    for k, b in enumerate(boxes):
        spans = [range(1) if len(c) == 1 else range(bisect_left(c, lo), bisect_left(c, hi)) for c, (lo, hi) in zip(cuts, b)]
        for cell in product(*spans):
            if cell in covered:  # (a writer's grid never overlaps; overlaps would only multiply the work)
                raise Malformed(f"claims.leaves: leaf {k} overlaps an earlier leaf")
            covered.add(cell)
    if len(covered) != cells:
        missing = next(cell for cell in product(*[range(max(len(c) - 1, 1)) for c in cuts]) if cell not in covered)
        at = ", ".join(f"[{c[i]}, {c[i + 1]}]" if len(c) > 1 else f"[{c[0]}, {c[0]}]" for c, i in zip(cuts, missing))
        raise Invalid("leaves", f"no leaf covers the box {at} of the domain")
