"""The integer semantics' rules for checker_integer.py (standard library only, exact): QONNX
rounding, the requantization multiplier, the monotone steps, the partial sums each order holds,
and the error bound against the float reference (INTEGER_SEMANTICS.md)."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

try:
    from .checker_core import Invalid, Malformed, get, get_list, rat
except ImportError:  # run as a script next to checker_core.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from checker_core import Invalid, Malformed, get, get_list, rat

MODES = ("ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN")


def rnd(v: Fraction, mode: str) -> int:
    """A rational rounded to an integer in a QONNX rounding mode."""
    return rnd_div(v.numerator, v.denominator, mode)


def rnd_div(n: int, d: int, mode: str) -> int:
    """n / d (d > 0) rounded to an integer in a QONNX rounding mode (Python integers only)."""
    f, r = divmod(n, d)
    if r == 0 or mode == "FLOOR":
        return f
    if mode == "CEIL":
        return f + 1
    if mode == "DOWN":
        return f if n > 0 else f + 1
    if mode == "UP":
        return f + 1 if n > 0 else f
    if 2 * r != d:
        return f + (2 * r > d)
    up = {"ROUND": f % 2 == 1, "HALF_EVEN": f % 2 == 1, "HALF_UP": n > 0, "HALF_DOWN": n < 0}[mode]
    return f + up


def multiplier(m: Fraction) -> Fraction:
    """The requantization multiplier as implemented: m itself when dyadic, else
    round-half-even(m 2^n) / 2^n with the integer in [2^30, 2^31)."""
    if m.denominator & (m.denominator - 1) == 0:
        return m
    n = 0
    while m * (1 << n) < (1 << 30):
        n += 1
    while m * (1 << n) >= (1 << 31):
        n -= 1
    q = round(m * (1 << n))
    return Fraction(q, 1 << n)


def bounds(bits: int, signed: bool, narrow: bool) -> tuple[int, int]:
    if signed:
        return -(1 << (bits - 1)) + int(narrow), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1 - int(narrow)


def apply(step: dict, j: int, c, exact: bool = False) -> int:
    """One monotone step on one channel's code (a rational for the input quantizer)."""
    return channel(step, j, exact)(c)


def channel(step: dict, j: int, exact: bool = False):
    """One monotone step on one channel's code, as a function of the code (numbers parsed once)."""
    op = step["op"]
    if op == "relu":
        return lambda c: max(c, 0)
    if op == "bipolar":
        return lambda c: 1 if c >= 0 else -1
    if op == "thresholds":
        ts, offset = step["thresholds"][j], step["offset"]
        return lambda c: sum(1 for t in ts if c >= t) + offset
    if op != "requant":
        raise Malformed(f"unknown step {op!r}")
    mult = rat(step["multiplier"][j], "multiplier")
    m, z, mode = mult if exact else multiplier(mult), step["zero_point"][j], step["rounding"]
    p, q = m.numerator, m.denominator
    lo, hi = bounds(step["bits"], step["signed"], step["narrow"]) if step["bits"] else (None, None)

    def requant(c) -> int:  # rnd(c m + z), c an integer or a Fraction
        r = rnd_div(c.numerator * p + z * q * c.denominator, q * c.denominator, mode)
        return (r if lo is None else min(max(r, lo), hi)) - z
    return requant


def held_range(order: str, w: list, b: int, lo: list, hi: list) -> tuple[int, int, int, int]:
    """(min, max) over every partial sum the order holds, and (min, max) of the final sum, for
    input codes ranging independently over [lo_i, hi_i] (exact: each term is bounded alone)."""
    cmin = [min(wi * a0, wi * a1) for wi, a0, a1 in zip(w, lo, hi)]
    cmax = [max(wi * a0, wi * a1) for wi, a0, a1 in zip(w, lo, hi)]
    final_lo, final_hi = b + sum(cmin), b + sum(cmax)
    if order == "split_sign":
        return min(b, 0) + sum(min(c, 0) for c in cmin), max(b, 0) + sum(max(c, 0) for c in cmax), final_lo, final_hi
    run_lo = run_hi = b if order == "sequential" else 0
    mn, mx = run_lo, run_hi
    for c0, c1 in zip(cmin, cmax):
        run_lo, run_hi = run_lo + c0, run_hi + c1
        mn, mx = min(mn, run_lo), max(mx, run_hi)
    if order == "bias_last":
        mn, mx = min(mn, final_lo), max(mx, final_hi)
    return mn, mx, final_lo, final_hi


NEAREST = ("ROUND", "HALF_EVEN", "HALF_UP", "HALF_DOWN")


def _requant_error(step: dict, j: int, unit_in: Fraction, clo, chi, exact: bool, js: int | None = None) -> Fraction:
    """max |value out - value in| of one requantization channel on input codes [clo, chi] of unit
    unit_in: its rounding (half a unit for the nearest modes, one unit otherwise), the integer
    multiplier's approximation and the clamping excess."""
    s = rat(step["scale"][j if js is None else js], "scale")  # js: a per-tensor scale's index
    mult = rat(step["multiplier"][j], "multiplier")
    if step["bits"] == 0 and step.get("kind") == "Trunc" and mult != unit_in / s:
        return abs(unit_in) * max(abs(clo), abs(chi))  # v1 Trunc rescales the value itself
    approx = Fraction(0) if exact else abs(multiplier(mult) - mult) * max(abs(clo), abs(chi)) * s
    err = (s / 2 if step["rounding"] in NEAREST else s) + approx
    if step["bits"]:
        lo, hi = bounds(step["bits"], step["signed"], step["narrow"])
        z = step["zero_point"][j]
        err += max(Fraction(0), chi * unit_in - (hi - z) * s, (lo - z) * s - clo * unit_in)
    return err


def _units_agree(step: dict, j: int, u: Fraction, where: str, js: int | None = None) -> None:
    """A requantization's multiplier is the exact ratio (incoming unit / its positive scale)
    (INTEGER_SEMANTICS.md), or -- a v1 Trunc (no clamp) -- it divides the code (multiplier <= 1) and
    stays on the incoming unit: otherwise its codes are not worth `scale` each, and the error rule's
    terms (`_requant_error`) do not bound the change of value."""
    m, s = rat(step["multiplier"][j], "multiplier"), _scale(step, j if js is None else js, where)
    if u <= 0 or s <= 0:
        raise Invalid("error bounds", f"{where}: channel {j}: units must be positive (incoming {u}, scale {s})")
    if m == u / s or (step.get("kind") == "Trunc" and step["bits"] == 0 and s == u and m <= 1):
        return
    raise Invalid("error bounds", f"{where}: channel {j}: multiplier {m} is not the incoming unit {u} over the "
                  f"scale {s}")


def _scale(step: dict, j: int, where: str) -> Fraction:
    """A step's new unit: positive (the interval cap and the rounding terms assume it)."""
    s = rat(step["scale"][j], "scale")
    if s <= 0:
        raise Invalid("error bounds", f"{where}: channel {j}: scale {s} is not positive")
    return s


def check_errors(content: dict, domain, claims: dict, requirements: dict) -> list[tuple[str, str]]:
    """Re-derive the bound on |integer network - float reference| of every output (the rule of
    INTEGER_SEMANTICS.md, in exact rationals, from the checked input codes and final sums) and
    compare it with the claimed bounds and the required ones."""
    ref = get(content, "reference", "network.content", dict)
    layers = content["layers"]
    rlayers = get_list(ref, "layers", "network.content.reference", len(layers))
    e, f_lo, f_hi = [], [lo for lo, _ in domain], [hi for _, hi in domain]
    cin = claims["inputs"]
    u_in = []  # each input code's unit: every layer's in_unit must be its input codes' unit
    for i, (lo, hi) in enumerate(domain):  # the input quantizer: exact rational multiplier
        err, clo, chi, u = Fraction(0), lo, hi, Fraction(1)
        for step in content["input_steps"]:
            jj = i if len(step.get("scale", [])) > 1 else 0
            if step["op"] == "requant":
                _units_agree(step, i, u, "input steps", jj)  # multiplier and zero point per input, as `apply`
                err += _requant_error(step, i, u, clo, chi, exact=True, js=jj)
                clo, chi = cin["code_lo"][i], cin["code_hi"][i]
            elif step["op"] == "bipolar":
                sc = _scale(step, jj, "input steps")
                err += max(abs(sc - lo), abs(sc - hi), abs(sc + lo), abs(sc + hi))
            else:
                raise Malformed("input_steps: the error rule covers requant and bipolar input quantizers")
            u = rat(step["scale"][jj], "scale")
        e.append(err)
        u_in.append(u)
    for L, (layer, rl, c) in enumerate(zip(layers, rlayers, claims["layers"])):
        n_out = len(layer["weights"])
        rw = [[rat(v, "reference weight") for v in row] for row in get_list(rl, "weights", f"reference layer {L + 1}", n_out)]
        rb = [rat(v, "reference bias") for v in get_list(rl, "bias", f"reference layer {L + 1}", n_out)]
        if rl.get("activation") not in ("relu", "linear") or any(len(row) != len(e) for row in rw):
            raise Malformed(f"reference layer {L + 1}: {n_out} rows of {len(e)} weights and activation relu|linear")
        in_unit = rat(layer["in_unit"], "in_unit")
        if any(v != in_unit for v in u_in):
            raise Invalid("error bounds", f"layer {L + 1}: in_unit {in_unit} is not the unit of its input codes "
                          f"({', '.join(sorted({str(v) for v in u_in}))})")
        units = [rat(v, "unit") for v in get_list(layer, "unit", f"layer {L + 1}", n_out)]
        if in_unit <= 0 or min(units) <= 0:
            raise Invalid("error bounds", f"layer {L + 1}: units must be positive")
        fmax = [max(abs(a), abs(b)) for a, b in zip(f_lo, f_hi)]
        ne, nlo, nhi, u_out = [], [], [], []
        for j in range(n_out):
            wq = [cw * units[j] / in_unit for cw in layer["weights"][j]]
            err = sum((abs(a) * ei for a, ei in zip(wq, e)), Fraction(0))
            err += sum((abs(a - b) * m for a, b, m in zip(wq, rw[j], fmax)), Fraction(0))
            err += abs(layer["bias"][j] * units[j] - rb[j])
            lo = rb[j] + sum((b * (f_lo[i] if b > 0 else f_hi[i]) for i, b in enumerate(rw[j]) if b), Fraction(0))
            hi = rb[j] + sum((b * (f_hi[i] if b > 0 else f_lo[i]) for i, b in enumerate(rw[j]) if b), Fraction(0))
            pre_lo = lo
            if rl["activation"] == "relu":
                lo, hi = max(lo, Fraction(0)), max(hi, Fraction(0))
            clo, chi, u = c["final_lo"][j], c["final_hi"][j], units[j]
            relu = rl["activation"] == "relu"
            for step in layer["steps"]:
                op = step["op"]
                if op == "relu":  # 1-Lipschitz against a reference ReLU; against a linear one, the cut-off part
                    if not relu:
                        err += abs(u) * max(-clo, 0)
                    clo, chi = max(clo, 0), max(chi, 0)
                    relu = False  # the reference's ReLU is matched here
                    continue
                sc = _scale(step, j, f"layer {L + 1} steps")
                if op == "requant":
                    _units_agree(step, j, u, f"layer {L + 1} steps")
                    err += _requant_error(step, j, u, clo, chi, exact=False)
                    clo, chi, u = apply(step, j, clo), apply(step, j, chi), sc
                    continue
                ncl, nch = (-1, 1) if op == "bipolar" else (step["offset"], step["offset"] + len(step["thresholds"][j]))
                err += max(abs(o - v) for o in (ncl * sc, nch * sc) for v in (clo * u, chi * u))
                clo, chi, u = ncl, nch, sc
            if relu and min(clo * u, chi * u) < 0:  # a reference ReLU the integer steps do not match:
                err += max(-pre_lo, Fraction(0))  # |out - relu(y)| <= |out - y| + max(-y, 0)
            ne.append(min(err, max(abs(chi * u - lo), abs(hi - clo * u))))
            u_out.append(u)
            nlo.append(lo)
            nhi.append(hi)
        e, f_lo, f_hi, u_in = ne, nlo, nhi, u_out
    claimed = [rat(v, "claims.errors") for v in get_list(claims, "errors", "claims", len(e))]
    bad = [i for i, (a, b) in enumerate(zip(claimed, e)) if a < b]
    if bad:
        raise Invalid("error bounds", f"output {bad[0]}: the rule gives {e[bad[0]]} "
                      f"(~{float(e[bad[0]]):.6g}), above the claimed {claimed[bad[0]]}")
    required = requirements.get("max_error", [None] * len(e))
    if not isinstance(required, list) or len(required) != len(e):
        raise Malformed(f"requirements.max_error: expected {len(e)} entries")
    over = [i for i, (a, r) in enumerate(zip(claimed, required)) if r is not None and a > rat(r, "max_error")]
    if over:
        raise Invalid("error bounds", f"output {over[0]}: the bound {claimed[over[0]]} exceeds the required "
                      f"{required[over[0]]}")
    n_req = sum(r is not None for r in required)
    return [("error bounds", f"{len(e)} outputs: |integer network - float reference| re-derived in exact rationals, "
                             f"within the claims" + (f"; {n_req} required bounds met" if n_req else ""))]
