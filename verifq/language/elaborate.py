"""Syntax tree -> `Problem`: the meaning of a `.nnspec` file.

Every semantic check lives here, because only here are both the meaning and
the source position known: a mistake is reported at the token that causes it,
with a hint, as a `UserError`. Numbers become exact `Fraction`s straight from
their decimal text.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from ..errors import Location, UserError
from ..solvers import BACKENDS
from ..fixedpoint.design import ROLES, Design, LayerFormats
from ..fixedpoint.format import FixedFormat, Overflow, Rounding
from ..network.ir import Activation, DenseLayer, Network, validate_network
from .accumulators import layer_accumulators, order_setting, profile_setting
from .values import (  # noqa: F401  (re-exported: the elaboration's helpers)
    MAX_EXPONENT, MAX_INTEGER_BITS, MAX_MAGNITUDE, MAX_NUMBER_LENGTH, MAX_WORD_LIMIT, _enum_setting, _int_setting,
    _settings, choice_hint, fraction, plural, whole,
)
from .formats import FormatResolver, _line_of
from .parser import (
    AccumulatorsBlock, ArrayLit, DenseDef, DomainBlock, DomainFile, FormatLit, FormatsBlock, FormatTarget, ImplementationBlock,
    IntSet, Minimize, Name, NetworkInline, NetworkLoad, Num, RequireError, RequireNoOverflow, Setting,
    SpecAst, Str, SynthesisBlock, UseNetwork, VectorDecl, VectorRef,
)
from ..fixedpoint.tables import DEFAULT_TABLE_SIZE, MAX_TABLE_SIZE
from ..problem import SMOOTH, CostModel, Granularity, Implementation, Problem, SynthesisOptions, TableKind

FORMAT_ROLES = ("default", "input") + ROLES + ("table",)
FORMAT_KINDS = {"fixed": True, "ap_fixed": True, "ufixed": False, "ap_ufixed": False}
IMPLEMENTATION_KEYS = ("rounding", "overflow", "inputs", "max word", "max accumulator", "widths", "tables",
                       "table size", "table rounding", "max table size", "accumulator", "accumulator order",
                       "accumulator profile")
MAX_TABLE_LIMIT = 1 << 20  # entries of a lookup table the language accepts
SYNTHESIS_KEYS = ("granularity", "cost", "solver", "time limit")
SOLVERS = tuple(BACKENDS)
MINIMIZE_FORMS = {"uniform": Granularity.UNIFORM, "per layer": Granularity.LAYER, "per neuron": Granularity.NEURON}

MAX_TIME_LIMIT = 10**7  # seconds (about four months)


def elaborate(ast: SpecAst) -> Problem:
    """Check a parsed spec and build the `Problem` it describes."""
    return _Elaborator(ast).problem()


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def show(value: Fraction) -> str:
    """Exact decimal text when there is one (dyadic values always have one), else p/q."""
    den, twos, fives = value.denominator, 0, 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    if den != 1:
        return str(value)
    digits = max(twos, fives)
    if digits == 0:
        return str(value.numerator)
    scaled = abs(value.numerator) * (10**digits // value.denominator)
    text = f"{scaled // 10**digits}.{scaled % 10**digits:0{digits}d}"
    return ("-" if value < 0 else "") + text


def _single(items: Sequence, what: str):
    """The one statement of a kind (or None); a second one is a duplicate."""
    if len(items) > 1:
        raise UserError(f"duplicate {what}", items[1].loc, f"{what} is already given on {_line_of(items[0].loc)}")
    return items[0] if items else None


# ---------------------------------------------------------------------------
# elaboration
# ---------------------------------------------------------------------------


class _Elaborator:
    """One pass per part of the problem, in dependency order."""

    def __init__(self, ast: SpecAst):
        self.ast = ast
        self.spec_dir = Path(ast.path).parent
        self.statements = ast.statements
        self.input_name = "x"
        self.output_name = "y"
        self.network_name = ""  # as the spec calls it (a loaded Network keeps its file's name)
        self.domain_locs: list[Location] = []  # the entry giving each input its interval
        self.sources: list[str] = []  # every file the spec reads (network, domain)
        self.quantized = None  # the integer network of a QONNX file (then `network` is its float reference)

    def _all(self, *kinds) -> list:
        return [s for s in self.statements if isinstance(s, kinds)]

    def problem(self) -> Problem:
        network = self._network()
        self._vectors(network)
        implementation, impl_settings = self._implementation()
        implementation = self._layer_accumulators(implementation, impl_settings)
        domain = self._domain(network)
        self._check_normalized_domain(network, domain)
        self._check_fixed_inputs(network, implementation, impl_settings, domain)
        max_error, no_overflow = self._requirements(network)
        synthesis = self._synthesis()
        design = self._design(network, implementation, impl_settings)
        return Problem(
            spec_path=self.ast.path,
            network=network,
            domain=domain,
            max_error=max_error,
            require_no_overflow=no_overflow,
            implementation=implementation,
            design=design,
            synthesis=synthesis,
            sources=tuple(self.sources),
            quantized=self.quantized,
        )

    # -- files -------------------------------------------------------------
    def _resolve(self, path: Str, what: str) -> Path:
        resolved = self._resolve_path(path, what)
        self.sources.append(str(resolved))
        return resolved

    def _resolve_path(self, path: Str, what: str) -> Path:
        """A path from the spec, relative to the spec file's directory; it must be a readable file."""
        if not path.value.strip():
            raise UserError(f"empty {what} path", path.loc, 'write the file name between the quotes, e.g. "net.onnx"')
        resolved = Path(path.value)
        if not resolved.is_absolute():
            resolved = self.spec_dir / resolved
        try:
            exists, is_file = resolved.exists(), resolved.is_file()
        except (OSError, ValueError):
            exists = is_file = False
        if not exists:
            raise UserError(f"{what} file not found: {path.value}", path.loc,
                            f"paths are relative to the spec file's directory; looked for {resolved}")
        if not is_file:
            raise UserError(f"{what} path is not a file: {path.value}", path.loc, f"{resolved} is a directory")
        return resolved

    # -- network -----------------------------------------------------------
    def _network(self) -> Network:
        defs = self._all(NetworkLoad, NetworkInline)
        by_name: dict[str, NetworkLoad | NetworkInline] = {}
        for d in defs:
            if d.name.text in by_name:
                raise UserError(f"duplicate network '{d.name.text}'", d.name.loc,
                                f"'{d.name.text}' is already defined on {_line_of(by_name[d.name.text].loc)}")
            by_name[d.name.text] = d
        use = _single(self._all(UseNetwork), "`use` statement")
        if not defs:
            raise UserError("the spec defines no network", self.ast.end_location(),
                            'add `network NAME = load "net.onnx"` or an inline `network NAME { input N  dense ... }`')
        if use is not None:
            if use.name.text not in by_name:
                raise UserError(f"unknown network '{use.name.text}'", use.name.loc,
                                choice_hint(use.name.text, by_name, "networks defined"))
            chosen = by_name[use.name.text]
        elif len(defs) > 1:
            raise UserError("several networks are defined but none is chosen", defs[1].name.loc,
                            f"add `use {defs[0].name.text}` (or `use {defs[1].name.text}`) to say which one to verify")
        else:
            chosen = defs[0]
        self.network_name = chosen.name.text

        built: Network | None = None
        for d in defs:  # check every definition, load only the chosen file
            if isinstance(d, NetworkInline):
                net = self._inline_network(d)
                if d is chosen:
                    built = net
            else:
                path = self._resolve(d.path, "network")
                if d is chosen:
                    from ..network.loaders import load_network_or_qonnx

                    built, self.quantized = load_network_or_qonnx(path, location=d.path.loc)
        assert built is not None
        return built

    def _inline_network(self, d: NetworkInline) -> Network:
        if not d.layers:
            raise UserError(f"network '{d.name.text}' has no layers", d.name.loc,
                            "add layers like `dense relu weights [[0.5, -1]] bias [0]`")
        prev: int | None = None
        if d.input_size is not None:
            hint = "`input N` gives the number of inputs of the network"
            prev = whole(d.input_size, "the number of inputs", hint)
            if prev < 1:
                raise UserError(f"a network needs at least one input, not {prev}", d.input_size.loc, hint)
        layers = []
        for index, layer_def in enumerate(d.layers, start=1):
            layer = self._dense(layer_def, index, prev, d)
            layers.append(layer)
            prev = layer.n_out
        net = Network(name=d.name.text, layers=tuple(layers), source="inline")
        problems = validate_network(net)
        if problems:  # the checks above should have caught everything; stay a user error anyway
            raise UserError(f"network '{d.name.text}': {problems[0]}", d.name.loc,
                            "each layer needs one row per neuron and one weight per input of the layer")
        return net

    def _dense(self, ld: DenseDef, index: int, prev: int | None, net: NetworkInline) -> DenseLayer:
        try:
            activation = Activation(ld.activation.text)
        except ValueError:
            raise UserError(f"unknown activation '{ld.activation.text}'", ld.activation.loc,
                            choice_hint(ld.activation.text, [a.value for a in Activation], "activations")) from None
        rows = self._weight_rows(ld.weights, index)
        n_in = len(rows[0])
        if prev is not None and n_in != prev:
            first_row = ld.weights.items[0].loc
            if index == 1:
                raise UserError(f"layer 1 rows have {n_in} weights but network '{net.name.text}' has {prev} inputs",
                                first_row, f"`input {prev}` is declared on {_line_of(net.input_size.loc)}; "
                                "each row needs one weight per input")
            raise UserError(f"layer {index} rows have {n_in} weights but layer {index - 1} has {prev} neurons",
                            first_row, "each row holds one weight per neuron of the previous layer")
        bias = self._numbers(ld.bias, f"the bias of layer {index}")
        if len(bias) != len(rows):
            raise UserError(f"layer {index} has {plural(len(rows), 'neuron')} (weight rows) but "
                            f"{plural(len(bias), 'bias')}", ld.bias.loc, "give one bias per weight row")
        return DenseLayer(weights=tuple(rows), bias=bias, activation=activation)

    def _weight_rows(self, arr: ArrayLit, index: int) -> list[tuple[Fraction, ...]]:
        if not arr.items:
            raise UserError(f"layer {index} has no weight rows", arr.loc, "weights are a list of rows, one per neuron")
        rows = []
        for item in arr.items:
            if isinstance(item, Num):
                raise UserError(f"the weights of layer {index} must be a list of rows", item.loc,
                                "write one row per neuron: weights [[w00, w01], [w10, w11]]")
            row = self._numbers(item, f"a weight row of layer {index}")
            if not row:
                raise UserError(f"empty weight row in layer {index}", item.loc, "a row needs one weight per input")
            if rows and len(row) != len(rows[0]):
                raise UserError(f"ragged weights in layer {index}: the row of neuron {len(rows)} has {len(row)} "
                                f"weights, the row of neuron 0 has {len(rows[0])}", item.loc,
                                "every row of a layer has one weight per input of the layer")
            rows.append(row)
        return rows

    def _numbers(self, arr: ArrayLit, what: str) -> tuple[Fraction, ...]:
        for item in arr.items:
            if not isinstance(item, Num):
                raise UserError(f"{what} must be a flat list of numbers", item.loc, "write e.g. [0.5, -1.25]")
        return tuple(fraction(item) for item in arr.items)

    # -- input and output vectors -----------------------------------------
    def _vectors(self, net: Network) -> None:
        decls = self._all(VectorDecl)
        inp = _single([d for d in decls if d.kind == "input"], "input declaration")
        out = _single([d for d in decls if d.kind == "output"], "output declaration")
        for decl, size in ((inp, net.n_inputs), (out, net.n_outputs)):
            if decl is None or decl.size is None:
                continue
            n = whole(decl.size, f"the size of {decl.name.text}", f"write `{decl.kind} {decl.name.text}[{size}]`")
            if n != size:
                raise UserError(f"{decl.kind} {decl.name.text} has {plural(n, 'element')} but network "
                                f"'{self.network_name}' has {plural(size, decl.kind)}", decl.size.loc,
                                f"write `{decl.kind} {decl.name.text}[{size}]`")
        if inp is not None:
            self.input_name = inp.name.text
        if out is not None:
            self.output_name = out.name.text
        if self.input_name == self.output_name:
            where = (out or inp).name.loc
            raise UserError(f"the input and output vectors are both called '{self.input_name}'", where,
                            "give them different names, e.g. `input x` and `output y`")

    def _indices(self, ref: VectorRef, kind: str, size: int) -> range:
        """Indices a reference like x, x[3] or x[1..4] covers (kind: 'input' or 'output')."""
        name = self.input_name if kind == "input" else self.output_name
        other = self.output_name if kind == "input" else self.input_name
        if ref.name.text != name:
            if ref.name.text == other:
                hint = f"'{other}' is the {'output' if kind == 'input' else 'input'} vector; here write '{name}'"
            elif difflib.get_close_matches(ref.name.text, [name], n=1, cutoff=0.6):
                hint = f"did you mean '{name}'?"
            else:
                hint = f"the {kind} vector is called '{name}' (`{kind} NAME` names it)"
            raise UserError(f"unknown {kind} vector '{ref.name.text}'", ref.name.loc, hint)
        if ref.lo is None:
            return range(size)
        lo = self._index(ref.lo, name, size)
        hi = lo if ref.hi is None else self._index(ref.hi, name, size)
        if hi < lo:
            raise UserError(f"empty index range {name}[{lo}..{hi}]", ref.loc, "write the smaller index first")
        return range(lo, hi + 1)

    def _index(self, num: Num, name: str, size: int) -> int:
        hint = f"the only index is {name}[0]" if size == 1 else f"indices run from {name}[0] to {name}[{size - 1}]"
        i = whole(num, "an index", hint)
        if not 0 <= i < size:
            raise UserError(f"index {i} is out of range: {name} has {plural(size, 'element')}", num.loc, hint)
        return i

    # -- implementation ----------------------------------------------------
    def _implementation(self) -> tuple[Implementation, dict[str, Setting]]:
        block = _single(self._all(ImplementationBlock), "implementation block")
        s = _settings(block, IMPLEMENTATION_KEYS, "implementation")
        max_word = _int_setting(s.get("max word"), 1, MAX_WORD_LIMIT, 32)
        profile = profile_setting(s.get("accumulator profile"))
        max_acc = _int_setting(s.get("max accumulator"), 1, MAX_WORD_LIMIT, profile.width if profile else None)
        input_format = None
        if "inputs" in s:
            value = s["inputs"].value
            if isinstance(value, FormatLit):
                input_format = self._format(value, max_word)
            elif not (isinstance(value, Name) and value.text == "real"):
                raise UserError("'inputs' must be `real` or a format like fixed<16, 6>", value.loc,
                                "`inputs = real`: real inputs are rounded into the input format; "
                                "`inputs = fixed<W, I>`: inputs arrive already in that format")
        widths = None
        if "widths" in s:
            widths = self._widths(s["widths"], max_word)
        max_table = _int_setting(s.get("max table size"), 2, MAX_TABLE_LIMIT, MAX_TABLE_SIZE)
        table_size = _int_setting(s.get("table size"), 2, max_table, min(DEFAULT_TABLE_SIZE, max_table))
        impl = Implementation(
            rounding=_enum_setting(s.get("rounding"), Rounding, Rounding.TRUNCATE),
            overflow=_enum_setting(s.get("overflow"), Overflow, Overflow.WRAP),
            inputs_fixed=input_format is not None,
            max_word=max_word,
            max_accumulator=max_acc,
            allowed_widths=widths,
            input_format=input_format,
            tables=_enum_setting(s.get("tables"), TableKind, TableKind.HLS4ML),
            table_size=table_size,
            table_rounding=_enum_setting(s.get("table rounding"), Rounding, Rounding.TRUNCATE),
            max_table_size=max_table,
            accumulator=_enum_setting(s.get("accumulator"), Overflow, profile.mode if profile else Overflow.WRAP),
            accumulator_order=order_setting(s.get("accumulator order"), profile.order if profile else "sequential"),
            accumulator_profile=s["accumulator profile"].value.text if profile else None,
        )
        return impl, s

    def _layer_accumulators(self, impl: Implementation, settings) -> Implementation:
        return layer_accumulators(impl, _single(self._all(AccumulatorsBlock), "accumulators block"), self.quantized,
                                  settings)

    def _widths(self, setting: Setting, max_word: int) -> tuple[int, ...]:
        value = setting.value
        if not isinstance(value, IntSet):
            raise UserError("'widths' must be a set of widths", value.loc, "write e.g. `widths = {8, 16}`")
        if not value.items:
            raise UserError("'widths' is empty", value.loc, "list the allowed widths, e.g. {8, 16}")
        widths = set()
        hint = f"widths are whole numbers of bits from 1 to max word = {max_word}"
        for num in value.items:
            w = whole(num, "a width", hint)
            if not 1 <= w <= max_word:
                raise UserError(f"width {w} is outside 1..{max_word}", num.loc, hint)
            widths.add(w)
        return tuple(sorted(widths))

    # -- domain ------------------------------------------------------------
    def _domain(self, net: Network) -> tuple[tuple[Fraction, Fraction], ...]:
        block = _single(self._all(DomainBlock, DomainFile), "domain")
        n = net.n_inputs
        if block is None:
            raise UserError("missing input domain", self.ast.end_location(),
                            f"add `domain {{ {self.input_name} in [lo, hi] }}` giving an interval to every input")
        if isinstance(block, DomainFile):
            path = self._resolve(block.path, "VNN-LIB")
            from ..network.loaders import load_vnnlib_box

            self.domain_locs = [block.path.loc] * n
            return tuple(load_vnnlib_box(path, n, location=block.path.loc))

        whole_vector = None  # (intervals, entry) of `x in ...`
        by_index: dict[int, tuple[tuple[Fraction, Fraction], Location]] = {}
        for entry in block.entries:
            indices = self._indices(entry.target, "input", n)
            intervals = self._intervals(entry.value, len(indices))
            if entry.target.lo is None:
                if whole_vector is not None:
                    raise UserError(f"duplicate domain entry for all of {self.input_name}", entry.target.loc,
                                    f"'{self.input_name} in ...' is already given on {_line_of(whole_vector[1].loc)}")
                whole_vector = (intervals, entry)
                continue
            for i, interval in zip(indices, intervals):
                if i in by_index:
                    raise UserError(f"duplicate domain entry for {self.input_name}[{i}]", entry.target.loc,
                                    f"{self.input_name}[{i}] already has an interval on {_line_of(by_index[i][1])}")
                by_index[i] = (interval, entry.loc)
        missing = [i for i in range(n) if i not in by_index] if whole_vector is None else []
        if missing:
            shown = ", ".join(f"{self.input_name}[{i}]" for i in missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise UserError(f"the domain gives no interval for {shown}", block.loc,
                            f"add `{self.input_name}[{missing[0]}] in [lo, hi]`, or `{self.input_name} in [lo, hi]` "
                            "for all inputs not listed")
        self.domain_locs = [by_index[i][1] if i in by_index else whole_vector[1].loc for i in range(n)]
        return tuple(by_index[i][0] if i in by_index else whole_vector[0][i] for i in range(n))

    def _check_normalized_domain(self, net: Network, domain: tuple[tuple[Fraction, Fraction], ...]) -> None:
        """A network with input normalization takes its domain in raw units; an interval reaching outside
        the normalization's clip range is most likely given in normalized units (and would be clipped)."""
        norm = net.normalization
        if norm is None:
            return
        for i, ((lo, hi), c_lo, c_hi) in enumerate(zip(domain, norm.clip_lo, norm.clip_hi)):
            if lo < c_lo or hi > c_hi:
                raw = ", ".join(f"[{show(a)}, {show(b)}]" for a, b in zip(norm.clip_lo, norm.clip_hi))
                raise UserError(
                    f"{self.input_name}[{i}] in [{show(lo)}, {show(hi)}] reaches outside the network's input clip "
                    f"range [{show(c_lo)}, {show(c_hi)}]", self.domain_locs[i],
                    "this network normalizes its inputs: the domain is in raw units, before the normalization "
                    f"(the clip ranges are {raw}); values outside are clipped by the network")

    def _check_fixed_inputs(self, net: Network, impl: Implementation, settings: dict[str, Setting],
                            domain: tuple[tuple[Fraction, Fraction], ...]) -> None:
        """Inputs that arrive in a fixed format cannot lie outside it (raw units; skipped for NNet normalization)."""
        fmt = impl.input_format
        if fmt is None or net.normalization is not None:
            return
        for i, (lo, hi) in enumerate(domain):
            if not fmt.contains(lo, hi):
                raise UserError(f"{self.input_name}[{i}] in [{show(lo)}, {show(hi)}] does not fit the input format "
                                f"{fmt}, which holds [{show(fmt.min_value)}, {show(fmt.max_value)}]",
                                self.domain_locs[i],
                                f"inputs arrive in {fmt} (`inputs` on {_line_of(settings['inputs'].loc)}); "
                                "give it more integer bits or narrow the domain")

    def _intervals(self, arr: ArrayLit, count: int) -> list[tuple[Fraction, Fraction]]:
        """`[lo, hi]` (for every covered input) or `[[lo, hi], ...]` (one per covered input)."""
        if arr.items and all(isinstance(item, ArrayLit) for item in arr.items):
            if len(arr.items) != count:
                raise UserError(f"{plural(len(arr.items), 'interval')} given for {plural(count, 'input')}", arr.loc,
                                "give one [lo, hi] per input, or a single [lo, hi] for all of them")
            return [self._interval(item) for item in arr.items]
        return [self._interval(arr)] * count

    def _interval(self, arr: ArrayLit) -> tuple[Fraction, Fraction]:
        if len(arr.items) != 2 or not all(isinstance(item, Num) for item in arr.items):
            raise UserError("an interval is written [lo, hi]", arr.loc,
                            "give two numbers, or a list of intervals [[lo, hi], ...] for a range of inputs")
        lo_num, hi_num = arr.items
        lo, hi = fraction(lo_num), fraction(hi_num)
        if lo > hi:
            raise UserError(f"empty interval: lower bound {lo_num.text} is above upper bound {hi_num.text}", arr.loc,
                            f"write [{hi_num.text}, {lo_num.text}]")
        return lo, hi

    # -- requirements ------------------------------------------------------
    def _requirements(self, net: Network) -> tuple[tuple[Fraction | None, ...], bool]:
        requires = self._all(RequireError)
        no_overflow = _single(self._all(RequireNoOverflow), "`require no overflow`") is not None
        if not requires and not (self.quantized is not None and no_overflow):
            raise UserError("missing requirement: the spec has no `require error`", self.ast.end_location(),
                            "add a line like `require error <= 1e-3 on all outputs`")
        n = net.n_outputs
        for_all: tuple[Fraction, RequireError] | None = None
        per_output: dict[int, tuple[Fraction, RequireError]] = {}
        for req in requires:
            bound = fraction(req.bound)
            if bound <= 0:
                raise UserError(f"the error bound must be positive, not {req.bound.text}", req.bound.loc,
                                "the bound limits |quantized output - real output|; fixed-point arithmetic "
                                "cannot promise 0")
            indices = range(n) if req.target is None else self._indices(req.target, "output", n)
            if req.target is None or req.target.lo is None:
                if for_all is not None:
                    raise UserError("duplicate error requirement on all outputs", req.loc,
                                    f"already required on {_line_of(for_all[1].loc)}")
                for_all = (bound, req)
                continue
            for i in indices:
                if i in per_output:
                    raise UserError(f"duplicate error requirement on {self.output_name}[{i}]", req.loc,
                                    f"already required on {_line_of(per_output[i][1].loc)}")
                per_output[i] = (bound, req)
        max_error = tuple(
            per_output[i][0] if i in per_output else (for_all[0] if for_all else None) for i in range(n)
        )
        return max_error, no_overflow

    # -- synthesis ---------------------------------------------------------
    def _synthesis(self) -> SynthesisOptions:
        block = _single(self._all(SynthesisBlock), "synthesis block")
        s = _settings(block, SYNTHESIS_KEYS, "synthesis")
        granularity = _enum_setting(s.get("granularity"), Granularity, None)
        minimize = _single(self._all(Minimize), "`minimize` statement")
        if minimize is not None and minimize.granularity is not None:
            words = " ".join(n.text for n in minimize.granularity)
            if words not in MINIMIZE_FORMS:
                raise UserError(f"unknown granularity '{words}'", minimize.granularity[-1].loc,
                                choice_hint(words, MINIMIZE_FORMS, "write `minimize` followed by one of"))
            chosen = MINIMIZE_FORMS[words]
            if granularity is not None and granularity is not chosen:
                raise UserError(f"`minimize {words}` contradicts `granularity = {granularity.value}`", minimize.loc,
                                f"the synthesis block sets the granularity on {_line_of(s['granularity'].loc)}; "
                                "keep one")
            granularity = chosen
        solver = "highs"
        if "solver" in s:
            value = s["solver"].value
            if not isinstance(value, Name) or value.text not in SOLVERS:
                word = value.text if isinstance(value, (Name, Num)) else ""
                raise UserError("unknown solver" + (f" '{word}'" if word else ""), value.loc,
                                choice_hint(word, SOLVERS, "solvers"))
            solver = value.text
        time_limit = None
        if "time limit" in s:
            value = s["time limit"].value
            if not isinstance(value, Num) or not 0 < fraction(value) <= MAX_TIME_LIMIT:
                raise UserError("'time limit' must be a positive number of seconds", value.loc,
                                f"write e.g. `time limit = 60` (at most {MAX_TIME_LIMIT} seconds)")
            time_limit = float(fraction(value))
        return SynthesisOptions(
            granularity=granularity or Granularity.LAYER,
            cost=_enum_setting(s.get("cost"), CostModel, CostModel.TOTAL_BITS),
            solver=solver,
            time_limit=time_limit,
        )

    # -- formats -----------------------------------------------------------
    def _format(self, lit: FormatLit, max_word: int) -> FixedFormat:
        kind = lit.kind.text
        if kind not in FORMAT_KINDS:
            raise UserError(f"unknown format type '{kind}'", lit.kind.loc,
                            choice_hint(kind, FORMAT_KINDS, "format types"))
        hint = "in fixed<W, I>, W is the total number of bits and I the integer bits (sign included)"
        width = whole(lit.width, "the width W", hint)
        integer_bits = whole(lit.integer_bits, "the integer bits I", hint)
        if width < 1:
            raise UserError(f"a format needs at least 1 bit, not {width}", lit.width.loc, hint)
        if width > max_word:
            raise UserError(f"width {width} exceeds max word = {max_word}", lit.width.loc,
                            f"use a narrower format, or raise the limit with `max word = {width}` "
                            "in the implementation block")
        if abs(integer_bits) > MAX_INTEGER_BITS:
            raise UserError(f"{integer_bits} integer bits is out of range", lit.integer_bits.loc,
                            f"|I| is at most {MAX_INTEGER_BITS}; fixed<W, I> holds values in [-2^(I-1), 2^(I-1))")
        return FixedFormat(width, integer_bits, FORMAT_KINDS[kind])

    def _format_key(self, t: FormatTarget, net: Network) -> tuple[int | None, int | None, str]:
        role = t.role.text
        if role not in FORMAT_ROLES:
            raise UserError(f"unknown format role '{role}'", t.role.loc, choice_hint(role, FORMAT_ROLES, "roles"))
        layer = neuron = None
        if t.layer is not None:
            n_layers = len(net.layers)
            hint = f"layers are numbered from 1 to {n_layers}"
            layer = whole(t.layer, "a layer number", hint)
            if not 1 <= layer <= n_layers:
                raise UserError(f"layer {layer} does not exist: network '{self.network_name}' has "
                                f"{plural(n_layers, 'layer')}", t.layer.loc, hint)
            if role == "input":
                raise UserError("the input format is not per layer", t.role.loc, "write `input = fixed<W, I>`")
        if t.neuron is not None and role == "table":
            raise UserError("a lookup table is per layer, not per neuron", t.neuron.loc,
                            f"write `layer {layer} table = fixed<W, I>`")
        if t.neuron is not None:
            n_out = net.layers[layer - 1].n_out
            hint = f"neurons are numbered from 0; layer {layer} has {plural(n_out, 'neuron')}"
            neuron = whole(t.neuron, "a neuron number", hint)
            if not 0 <= neuron < n_out:
                raise UserError(f"layer {layer} has no neuron {neuron}", t.neuron.loc, hint)
        return layer, neuron, role

    def _design(self, net: Network, impl: Implementation, impl_settings: dict[str, Setting]) -> Design | None:
        block: FormatsBlock | None = _single(self._all(FormatsBlock), "formats block")
        minimize = _single(self._all(Minimize), "`minimize` statement")
        if block is None or not block.entries:
            return None
        if minimize is not None:
            raise UserError("`minimize` asks for synthesis but the formats block gives formats", minimize.loc,
                            f"remove `minimize` to prove the formats given on {_line_of(block.loc)}, "
                            "or remove the formats block to synthesize")
        given: dict[tuple, tuple[FixedFormat, Location]] = {}
        for entry in block.entries:
            key = self._format_key(entry.target, net)
            if key in given:
                raise UserError("duplicate format", entry.target.loc,
                                f"the same target already has a format on {_line_of(given[key][1])}")
            given[key] = (self._format(entry.fmt, impl.max_word), entry.fmt.loc)
        resolver = FormatResolver(given, impl, block.loc, self.input_name)

        input_fmt = resolver.input_format(impl_settings.get("inputs"))
        layers = []
        for index, layer in enumerate(net.layers, start=1):
            per_role = {role: resolver.layer_role(index, layer.n_out, role) for role in ROLES}
            table = impl.table(resolver.layer_table(index)) if layer.activation in SMOOTH else None
            layers.append(LayerFormats(**per_role, table=table))
        return Design(
            inputs=(input_fmt,) * net.n_inputs,
            layers=tuple(layers),
            rounding=impl.rounding,
            overflow=impl.overflow,
            inputs_fixed=impl.inputs_fixed,
        )
