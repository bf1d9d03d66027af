"""The checker's core: exact numbers, formats and rounding, rigorous tanh and
sigmoid, and reading the certificate's fields -- what both rule files of the
independent checker (checker.py: structure and the simple rules;
checker_tight.py: the tight rules) build on. Standard library only, no verifq
import, so the checker's files can be copied and run on their own.
"""

from __future__ import annotations

import re
from fractions import Fraction
from math import lcm


class Malformed(Exception):
    """The file is not a well-formed certificate (exit 2)."""


class Invalid(Exception):
    """A claim does not follow (exit 1)."""

    def __init__(self, step: str, message: str):
        super().__init__(f"{step}: {message}")
        self.step, self.message = step, message


# ---------------------------------------------------------------- numbers
_RAT = re.compile(r"-?[0-9]+(/[0-9]+)?\Z")
_FMT = re.compile(r"(u?)fixed<(-?[0-9]+),(-?[0-9]+)>\Z")


MAX_DIGITS = 4000  # characters of one number in a certificate (Python's int() refuses more than 4300 digits)


def rat(v, where: str) -> Fraction:
    """An exact rational: a JSON integer or a string "p/q" / "p" (never a float)."""
    if type(v) is int:
        return Fraction(v)
    if type(v) is str and len(v) > MAX_DIGITS:
        raise Malformed(f"{where}: a number of {len(v)} characters (at most {MAX_DIGITS})")
    if type(v) is str and _RAT.match(v):
        p, _, q = v.partition("/")
        if q and int(q) == 0:
            raise Malformed(f"{where}: zero denominator in {v!r}")
        return Fraction(int(p), int(q) if q else 1)
    raise Malformed(f"{where}: expected an exact rational (integer or \"p/q\" string), got {v!r}")


def show(q: Fraction | None) -> str:
    if q is None:
        return "none"
    try:
        return f"{float(q):.6g}"
    except OverflowError:
        return "huge" if q > 0 else "-huge"


# ---------------------------------------------------------------- formats and rounding
class Fmt:
    __slots__ = ("text", "width", "ibits", "signed", "frac", "min_int", "max_int", "min_value", "max_value")

    def __init__(self, text: str, where: str):
        m = _FMT.match(text) if type(text) is str else None
        if not m or not 1 <= int(m.group(2)) <= 4096 or abs(int(m.group(3))) > 4096:
            raise Malformed(f"{where}: expected a format like \"fixed<16,6>\" or \"ufixed<8,2>\" (W in 1..4096, "
                            f"|I| <= 4096), got {text!r}")
        self.signed, self.width, self.ibits = not m.group(1), int(m.group(2)), int(m.group(3))
        self.text = f"{m.group(1)}fixed<{self.width},{self.ibits}>"  # canonical (no leading zeros)
        self.frac = self.width - self.ibits
        self.min_int = -(1 << (self.width - 1)) if self.signed else 0
        self.max_int = (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1
        self.min_value, self.max_value = self.min_int * pow2(-self.frac), self.max_int * pow2(-self.frac)


def pow2(k: int) -> Fraction:
    return Fraction(1 << k) if k >= 0 else Fraction(1, 1 << -k)


def round_to_grid(x: Fraction, frac: int, nearest: bool) -> int:
    """Mantissa of x rounded to the grid 2^-frac: floor(x 2^F), or floor(x 2^F + 1/2)."""
    s = x * pow2(frac) + (Fraction(1, 2) if nearest else 0)
    return s.numerator // s.denominator


def shift_round(k: int, shift: int, nearest: bool) -> int:
    """Mantissa k at 2^-(F+shift) rounded to 2^-F (exact when shift <= 0)."""
    if shift <= 0:
        return k << -shift
    return (k + (1 << (shift - 1))) >> shift if nearest else k >> shift


def rounding_bound(src: int | None, dst: int, nearest: bool) -> Fraction:
    """Largest |error| rounding a value on grid 2^-src (None: any real) to grid 2^-dst."""
    if src is not None and src <= dst:
        return Fraction(0)
    if nearest:
        return pow2(-dst - 1)
    return pow2(-dst) if src is None else pow2(-dst) - pow2(-src)


# ---------------------------------------------------------------- tanh / sigmoid, rigorously
_EXP_BITS = 220
_CLAMP = Fraction(300)


def exp_bounds(x: Fraction) -> tuple[Fraction, Fraction]:
    """lo <= e^x <= hi for rational 0 <= x <= 1024: Taylor series on x/2^k, then k squarings."""
    if not 0 <= x <= 1024:
        raise ValueError("exp_bounds needs 0 <= x <= 1024")  # the series bounds rely on x >= 0
    k = max(0, x.numerator.bit_length() - x.denominator.bit_length() + 2)  # x / 2^k < 1/2
    q = _EXP_BITS + 2 * k + 16
    r = x / (1 << k)
    rl = (r.numerator << q) // r.denominator
    rh = -((-r.numerator << q) // r.denominator)
    one = 1 << q
    lo = hi = t_lo = t_hi = one
    i = 0
    while t_hi > 1:  # terms are >= 0, so truncating the series bounds it from below
        i += 1
        t_lo = t_lo * rl // (i << q)
        t_hi = -(-t_hi * rh // (i << q))
        lo, hi = lo + t_lo, hi + t_hi
    hi += 2  # the tail after a term <= 1 ulp is <= 2 ulps (ratio of terms <= 1/2)
    for _ in range(k):  # e^x = (e^(x/2^k))^(2^k), monotone
        lo, hi = lo * lo >> q, -(-(hi * hi) >> q)
    return Fraction(lo, one), Fraction(hi, one)


def act_bounds(act: str, x: Fraction, upper: bool) -> Fraction:
    """A rigorous lower (upper=False) or upper bound of act(x)."""
    if act == "linear":
        return x
    if act == "relu":
        return max(x, Fraction(0))
    if x == 0:  # exact: tanh(0) = 0, sigmoid(0) = 1/2 (the engine's derivative bounds use them)
        return Fraction(0) if act == "tanh" else Fraction(1, 2)
    neg = x < 0
    a = min(abs(x), _CLAMP)
    if abs(x) > _CLAMP and upper != neg:  # saturated side: bound by the limit
        return Fraction(1) if not neg else Fraction(-1) if act == "tanh" else Fraction(0)
    if act == "tanh":  # tanh(a) = (E - 1)/(E + 1), E = e^(2a), increasing in E; tanh odd
        el, eh = exp_bounds(2 * a)
        e = el if upper == neg else eh
        t = (e - 1) / (e + 1)
        return -t if neg else t
    el, eh = exp_bounds(a)  # sigmoid(a) = E/(1+E), sigmoid(-a) = 1/(1+E), E = e^a
    if neg:
        return 1 / (1 + (el if upper else eh))
    e = eh if upper else el
    return e / (1 + e)


# ---------------------------------------------------------------- reading the document
def get(d, key, where, kinds):
    if not isinstance(d, dict) or key not in d:
        raise Malformed(f"{where}.{key}: missing")
    v, kinds = d[key], kinds if isinstance(kinds, tuple) else (kinds,)
    if not isinstance(v, kinds) or (type(v) is bool and bool not in kinds):
        raise Malformed(f"{where}.{key}: wrong type ({type(v).__name__})")
    return v


def object_items(d, keys, where, leaf=False):
    """The items of a JSON object with keys in `keys` (names, or canonical indices in a range) and object values (unless leaf)."""
    if not isinstance(d, dict):
        raise Malformed(f"{where}: expected an object")
    for key, v in d.items():
        ok = key.isdigit() and str(int(key)) == key and int(key) in keys if isinstance(keys, range) else key in keys
        if not ok or not (leaf or isinstance(v, dict)):
            raise Malformed(f"{where}: unexpected entry {key!r} (keys: {keys}{'' if leaf else ', values: objects'})")
    return d.items()


def get_list(d, key, where, n=None):
    v = get(d, key, where, list)
    if n is not None and len(v) != n:
        raise Malformed(f"{where}.{key}: expected {n} entries, found {len(v)}")
    return v


def get_rats(d, key, where, n):
    return [rat(v, f"{where}.{key}[{i}]") for i, v in enumerate(get_list(d, key, where, n))]


def common_denominator(values: list[Fraction]) -> tuple[list[int], int]:
    """Integer numerators over one common denominator."""
    d = lcm(*{v.denominator for v in values}) if values else 1
    return [v.numerator * (d // v.denominator) for v in values], d


def product_rounding(m: list[int], fw: int, in_frac: list[int], fa: int, nearest: bool) -> Fraction:
    total = Fraction(0)
    counts: dict[int, int] = {}
    for w, fx in zip(m, in_frac):
        if w:
            counts[fx] = counts.get(fx, 0) + 1
    for fx, n in counts.items():
        total += n * rounding_bound(fw + fx, fa, nearest)
    return total


# ---------------------------------------------------------------- lookup tables (verifq/fixedpoint/tables.py)
HALF_RANGE = {"sigmoid": 8, "tanh": 4}  # a table covers [-R, R)
CONSTANT_RULES = ("nearest", "hls4ml_nearest", "hls4ml_truncate")


class Table:
    """A tanh/sigmoid lookup table: `size` entries (mantissas at entry.frac) over [-R, R)."""

    __slots__ = ("act", "size", "entry", "rounding", "overflow", "entries")

    def __init__(self, d, act: str, where: str):
        self.act = act  # a table on a relu/linear layer is refused after the hashes (Checker._tables_fit)
        self.size = get(d, "size", where, int)
        if not 2 <= self.size <= 1 << 20:
            raise Malformed(f"{where}.size: {self.size} is not 2..{1 << 20}")
        self.entry = Fmt(get(d, "entry", where, str), f"{where}.entry")
        self.rounding = get(d, "rounding", where, str)
        self.overflow = get(d, "overflow", where, str)
        if self.rounding not in ("truncate", "nearest") or self.overflow not in ("wrap", "saturate"):
            raise Malformed(f"{where}: rounding truncate|nearest, overflow wrap|saturate")
        self.entries = get_list(d, "entries", where, self.size)
        for i, e in enumerate(self.entries):
            if type(e) is not int or not self.entry.min_int <= e <= self.entry.max_int:
                raise Malformed(f"{where}.entries[{i}]: not a mantissa of {self.entry.text}")

    def content(self) -> dict:
        return {"size": self.size, "entry": self.entry.text, "rounding": self.rounding, "overflow": self.overflow,
                "entries": list(self.entries)}

    def index(self, x: Fraction) -> int:
        """trunc0(x N / D) + floor(R N / D), clamped to [0, N-1] (D = 2R)."""
        r = HALF_RANGE[self.act]
        q = x * self.size / (2 * r)
        k = q.numerator // q.denominator if q >= 0 else -((-q.numerator) // q.denominator)
        return min(max(k + (r * self.size) // (2 * r), 0), self.size - 1)

    def bucket(self, i: int):
        """The closure [lo, hi] of the inputs with index i (None: unbounded)."""
        r = HALF_RANGE[self.act]
        u, c = Fraction(2 * r, self.size), (r * self.size) // (2 * r)
        lower = lambda k: k * u if k >= 1 else -u if k == 0 else (k - 1) * u  # noqa: E731
        upper = lambda k: (k + 1) * u if k >= 0 else k * u  # noqa: E731
        return (None if i == 0 else lower(i - c)), (None if i == self.size - 1 else upper(i - c))

    def bound(self, out_frac: int, nearest: bool, v_lo: Fraction, v_hi: Fraction, f):
        """(error lo, error hi, output lo, output hi) of the table's output (cast to 2^-out_frac) against
        act(v), for every v in [v_lo, v_hi]; f(x, upper) bounds act rigorously (monotone increasing)."""
        limit = (Fraction(-1) if self.act == "tanh" else Fraction(0), Fraction(1))
        i_lo, i_hi = self.index(v_lo), self.index(v_hi)
        e_lo = e_hi = o_lo = o_hi = None
        for i in range(i_lo, i_hi + 1):
            out = shift_round(self.entries[i], self.entry.frac - out_frac, nearest) * pow2(-out_frac)
            lo, hi = self.bucket(i)
            p = v_lo if i == i_lo else lo
            q = v_hi if i == i_hi else hi
            a = out - (limit[1] if q is None else f(q, True))
            b = out - (limit[0] if p is None else f(p, False))
            e_lo = a if e_lo is None else min(e_lo, a)
            e_hi = b if e_hi is None else max(e_hi, b)
            o_lo = out if o_lo is None else min(o_lo, out)
            o_hi = out if o_hi is None else max(o_hi, out)
        return e_lo, e_hi, o_lo, o_hi


def constant_mantissa(value: Fraction, frac: int, rule: str) -> int:
    """A weight or bias's mantissa at 2^-frac: nearest (ties up), or hls4ml's rule (printed with max(0, F)
    decimals, ties to the even digit, read as the nearest double, cast with AP_RND / AP_TRN)."""
    if rule == "nearest":
        return round_to_grid(value, frac, True)
    digits = max(0, frac)
    t = value * 10 ** digits
    q, r = divmod(t.numerator, t.denominator)
    if 2 * r > t.denominator or (2 * r == t.denominator and q % 2 == 1):
        q += 1
    return round_to_grid(Fraction(float(Fraction(q, 10 ** digits))), frac, rule == "hls4ml_nearest")
