"""The symbolic rule of integer certificates (SCHEMA.md; called by checker_integer.py). Standard
library only, exact Python integers and Fractions.

A layer L >= 2 may claim partial-sum bounds tighter than the interval rule gives when its claims
carry `lines`: for each earlier layer p and each of its neurons j, two lines between the neuron's
final sum c and its output code a = steps(c) (the layer's steps, composed): a <= us c + ui and
a >= ls c + li.

* Lines: each must hold at every integer of the neuron's claimed (already checked) final-sum
  interval [l, u]. The steps are monotone, so on [a, b] the code lies in [f(a), f(b)]: the upper
  line holds on [a, b] if f(b) - s c <= intercept at c = a and c = b (the lower one likewise
  with f(a)); [l, u] is bisected until that holds on every part or a part is two adjacent
  integers, where both are checked exactly (at most MAX_PIECES code changes over [l, u], else
  INVALID: the bisection's cost grows with them).
* Back-substitution: a held sum is a row (coefficients over layer L's input codes, a constant).
  For p = L-1 down to 0 each of layer p's output codes is replaced by its upper line when its
  coefficient is positive (for an upper bound; its lower line when negative), then layer p's
  final sums by W_p a + b_p; at the input codes each code takes the end of its claimed range
  that maximizes. The lines hold because every earlier claim was checked first (each final sum
  lies in its claimed interval; no accumulator overflows). A lower bound is the negated row's
  upper bound. Arithmetic: Python integers over a common denominator.
* A claimed bound is accepted when the interval rule gives it (tried first), else when the
  symbolic bound of split_sign's S+ (S-) row does (S+ >= every held sum of every order: its
  bias if positive, the products of fixed positive sign as a row, each product of either sign
  by max(0, its largest value)), else when the held sum's own row's symbolic bound does. The
  rows of the prefixes share their first substitution (a_i's line follows the sign of w_i), which
  is accumulated prefix by prefix.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from itertools import accumulate
from math import ceil, lcm
from operator import mul
from pathlib import Path

try:
    from .checker_core import Invalid, Malformed, get_list, rat
    from .checker_integer_rules import channel
except ImportError:  # run as a script next to checker_core.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from checker_core import Invalid, Malformed, get_list, rat
    from checker_integer_rules import channel

MAX_PIECES = 1 << 16  # code changes of one neuron's steps over its final-sum interval
STEP_WORK = 30  # one evaluation of a neuron's steps, in multiplications (the unit of `work`)
KEYS = ("upper_slope", "upper_intercept", "lower_slope", "lower_intercept")


class OverBudget(Exception):
    """The symbolic rule of layer `layer` (0-based) would exceed the work budget (writers only:
    the checker has no budget)."""

    def __init__(self, layer: int):
        super().__init__(f"layer {layer + 1}: over the work budget")
        self.layer = layer


class Symbolic:
    """The layers checked so far (their claimed final sums) and the claimed input codes' box."""

    def __init__(self, layers: list, code_lo: list, code_hi: list, budget: int | None = None):
        self.layers, self.lo, self.hi = layers, code_lo, code_hi
        self.work, self.budget, self.layer = 0, budget, 0  # multiplications so far (deterministic), the limit
        self.finals: list[tuple[list, list]] = []  # per checked layer: (final_lo, final_hi)
        self.cols: dict[int, list] = {}
        self.valid: dict[int, tuple] = {}  # p -> the lines of layer p already checked
        self.rows = 0  # rows back-substituted

    def _spend(self, work: int) -> None:
        self.work += work
        if self.budget is not None and self.work > self.budget:
            raise OverBudget(self.layer)

    def _columns(self, p: int) -> list:
        if p not in self.cols:
            self.cols[p] = [list(c) for c in zip(*self.layers[p]["weights"])]
        return self.cols[p]

    def lines(self, L: int, claims: dict, where: str) -> list:
        """Layer L's lines of every earlier layer, each checked: per p (den, us, ui, ls, li), the
        values times den as integers."""
        if L == 0:
            raise Malformed(f"{where}: the first layer has no earlier layer to carry lines of")
        out, self.layer = [], L
        for p, d in enumerate(get_list(claims, "lines", where, L)):
            n = len(self.layers[p]["weights"])
            if not isinstance(d, dict):
                raise Malformed(f"{where}.lines[{p}]: expected an object with {', '.join(KEYS)}")
            vals = [[rat(v, f"{where}.lines[{p}].{k}") for v in get_list(d, k, f"{where}.lines[{p}]", n)] for k in KEYS]
            key = tuple(tuple(v) for v in vals)
            if self.valid.get(p) != key:
                self._validate(p, vals, f"{where} lines")
                self.valid[p] = key
            den = lcm(*(v.denominator for col in vals for v in col))
            out.append((den, *[[v.numerator * (den // v.denominator) for v in col] for col in vals]))
        return out

    def _validate(self, p: int, vals: list, where: str) -> None:
        us, ui, ls, li = vals
        fl, fh = self.finals[p]
        for j in range(len(us)):
            fs = [channel(s, j) for s in self.layers[p]["steps"]]
            memo: dict[int, int] = {}

            def f(c: int) -> int:
                if c not in memo:
                    v = c
                    for g in fs:
                        v = g(v)
                    memo[c] = v
                    self._spend(STEP_WORK)
                return memo[c]
            lo, hi = fl[j], fh[j]
            if lo > hi:
                raise Invalid(where, f"layer {p + 1} neuron {j}: empty final-sum interval [{lo}, {hi}]")
            if f(hi) - f(lo) > MAX_PIECES:
                raise Invalid(where, f"layer {p + 1} neuron {j}: the steps change more than {MAX_PIECES} times over "
                              f"[{lo}, {hi}]: its lines are not checked")
            line = (us[j], ui[j], ls[j], li[j])
            d = lcm(*(v.denominator for v in line))  # the lines times d, in integers
            su, iu, sl, il = (v.numerator * (d // v.denominator) for v in line)
            todo = [(lo, hi)]
            while todo:  # on [a, b]: f(a) <= f <= f(b); split until that proves both lines, or a, b are adjacent
                a, b = todo.pop()
                fa, fb = f(a), f(b)
                if fb * d - min(su * a, su * b) <= iu and fa * d - max(sl * a, sl * b) >= il:
                    continue
                if b - a > 1:
                    m = (a + b) // 2
                    todo += [(a, m), (m, b)]
                    continue
                for c, v in ((a, fa), (b, fb)):
                    if v * d > su * c + iu:
                        su, iu = line[:2]
                        raise Invalid(where, f"layer {p + 1} neuron {j}: the code {v} at final sum {c} is above the "
                                      f"upper line {su} c + {iu}")
                    if v * d < sl * c + il:
                        sl, il = line[2:]
                        raise Invalid(where, f"layer {p + 1} neuron {j}: the code {v} at final sum {c} is below the "
                                      f"lower line {sl} c + {il}")

    def sup(self, coef: list, const: int, den: int, p: int, lines: list) -> tuple[int, int]:
        """(num, den) with coef . a + const <= num / den over the domain, for coef over layer p's
        output codes (p = -1: the input codes) and const over den."""
        self.rows += 1
        for q in range(p, -1, -1):
            self._spend(len(coef) * (1 + len(self.layers[q]["weights"][0])))
            d, us, ui, ls, li = lines[q]
            const *= d
            cc = []
            for c, s_up, i_up, s_lo, i_lo in zip(coef, us, ui, ls, li):
                if c > 0:
                    const += c * i_up
                    cc.append(c * s_up)
                elif c < 0:
                    const += c * i_lo
                    cc.append(c * s_lo)
                else:
                    cc.append(0)
            den *= d
            const += sum(map(mul, cc, self.layers[q]["bias"]))
            coef = [sum(map(mul, cc, col)) for col in self._columns(q)]
        return const + sum(c * (h if c > 0 else l) for c, l, h in zip(coef, self.lo, self.hi)), den

    def neuron(self, L: int, order: str, w: list, b: int, lo: list, hi: list, claim: tuple, lines: list,
               where: str, j: int) -> None:
        """Every held sum of neuron j of layer L (order) and its final sum within the claimed
        (prefix_lo, prefix_hi, final_lo, final_hi), by the interval rule or the symbolic rule."""
        pl, ph, fl, fh = claim
        k = len(w)
        cmin = [min(wi * a0, wi * a1) for wi, a0, a1 in zip(w, lo, hi)]
        cmax = [max(wi * a0, wi * a1) for wi, a0, a1 in zip(w, lo, hi)]
        pos = [c >= 0 for c in cmin]
        neg = [c <= 0 and not p for c, p in zip(cmax, pos)]
        for s, bound, final in ((1, ph, fh), (-1, -pl, -fl)):  # an upper bound of s * (held sum) <= bound
            terms = cmax if s == 1 else [-c for c in cmin]  # the interval rule's bound of each s * product
            fixed = pos if s == 1 else neg  # split_sign's S+ (s = 1) or -S- (s = -1) as a row
            cap_row = [s * wi if f else 0 for wi, f in zip(w, fixed)]
            cap_const = s * (max(b, 0) if s == 1 else min(b, 0))
            cap_const += sum(max(t, 0) for t, p, n in zip(terms, pos, neg) if not p and not n)
            cap = []

            def cap_holds() -> bool:  # computed once, when needed
                if not cap:
                    num, den = self.sup(cap_row, cap_const, 1, L - 1, lines)
                    cap.append((num <= bound * den, Fraction(num, den)))
                return cap[0][0]

            def fail(what: str, value: Fraction, limit: int) -> Invalid:  # value: the bound of s * (held sum)
                return Invalid(f"{where} partial sums", f"neuron {j}: {what} reaches {s * ceil(value)} by the symbolic "
                               f"rule, {'above' if s == 1 else 'below'} the claimed {s * limit}")
            if order == "split_sign":
                checks = [] if cap_const + sum(t for t, f in zip(terms, fixed) if f) <= bound else [(None, 0, bound, True)]
            else:  # (prefix length, constant, limit, the cap may prove it) of each row the interval rule leaves
                c0 = b if order == "sequential" else 0
                run, checks = s * c0, []
                for t in range(k + 1):
                    if run > bound:
                        checks.append((t, s * c0, bound, True))
                    if t < k:
                        run += terms[t]
                if order == "bias_last" and s * b + sum(terms) > bound:
                    checks.append((k, s * b, bound, True))
            if s * b + sum(terms) > final:
                checks.append((k, s * b, final, False))
            if any(c[3] for c in checks) and (order == "split_sign" or self._cap_first(L, checks)):
                if cap_holds():
                    checks = [c for c in checks if not c[3]]
                elif order == "split_sign":
                    raise fail("S+" if s == 1 else "S-", cap[0][1], bound)
            for t, value, limit, capped in self._prefixes(L, s, w, checks, lines):
                if not (capped and cap_holds()):
                    raise fail("the final sum" if limit == final and not capped else f"partial sum {t}", value, limit)

    def _cap_first(self, L: int, checks: list) -> bool:
        """Whether one S+ / S- row costs less than the prefix rows it may spare (multiplications)."""
        q = L - 1
        below = sum(len(self.layers[p]["weights"]) * len(self.layers[p]["weights"][0]) for p in range(q))
        row = below + len(self.lo)
        n_in = len(self.layers[q]["weights"][0])
        spared = n_in * max(c[0] for c in checks if c[3]) + row * sum(c[3] for c in checks)
        return len(self.layers[q]["weights"]) * n_in + row < spared

    def _prefixes(self, L: int, s: int, w: list, checks: list, lines: list) -> list:
        """The checks (t, c, limit, capped) whose row s * (sum_{i<t} w_i a_i) + c is not proved
        <= limit, as (t, its bound, limit, capped): the substitution through layer L-1's lines,
        column by column as running sums over the prefixes."""
        if not checks:
            return []
        q = L - 1
        d, us, ui, ls, li = lines[q]
        top = max(c[0] for c in checks)
        cc, inc = [], []
        for t in range(top):
            c = s * w[t]
            cc.append(c * us[t] if c > 0 else c * ls[t])
            inc.append(c * (ui[t] if c > 0 else li[t]) + cc[-1] * self.layers[q]["bias"][t])
        self._spend(top * (2 + len(self._columns(q))))
        runs = [list(accumulate(map(mul, cc, col[:top]), initial=0)) for col in self._columns(q)]
        consts = list(accumulate(inc, initial=0))
        out = []
        for t, c0, limit, capped in checks:
            num, den = self.sup([r[t] for r in runs], c0 * d + consts[t], d, q - 1, lines)
            if num > limit * den:
                out.append((t, Fraction(num, den), limit, capped))
        return out
