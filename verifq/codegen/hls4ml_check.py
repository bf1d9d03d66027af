"""`verifq hls4ml MODEL --spec SPEC --check CONFIG`: prove or refute a user's EXISTING hls4ml 1.3.0
configuration (the dict `hls4ml.utils.config_from_*_model(granularity='name')` gives, JSON or YAML).

The configuration is read the way hls4ml reads it (`hls4ml/model/graph.py`, `get_precision`): a
layer's type for a role (`weight`, `bias`, `accum`, `result`) is `LayerName[layer].Precision[role]`,
else `LayerName[layer].Precision.default` (or the Precision string), else `Model.Precision[role]`,
`Model.Precision.default` or the `Model.Precision` string; `table_size` / `table_t` (or `TableSize` /
`TableT`) are layer keys with hls4ml's defaults 1024 and ap_fixed<18,8> (a `table` type under
Precision is ignored by hls4ml, and here). An `auto` type is what hls4ml's infer_precision pass
makes of it: a Dense accum/result and an ApplyAlpha result hold the exact value (`_dense_auto`,
`_apply_alpha_auto`, AP_TRN/AP_WRAP), anything else is Model.Precision's default. The types become
a verifq design (the recipe of `hls4ml_config.py`, read backwards) which verifq's analysis proves or
refutes against the spec's requirements (its implementation limits are reported, not judged).

Only configurations whose arithmetic verifq's semantics expresses EXACTLY are read; everything else
is a UserError naming the key (exit 2), never a guess:

* one rounding (AP_TRN / AP_RND) and one overflow mode (AP_WRAP / AP_SAT) for the whole datapath
  (input result, accum, Dense / ApplyAlpha result, activation result; a cast that is exact -- an
  accum holding every product and the bias, a pre-activation holding the sum -- may have another
  rounding mode, it never acts); weight and bias types may differ (their mode only sets the
  constant rule, HLS4ML_TRUNCATE / HLS4ML_NEAREST, one per role for the whole network); other
  ap_fixed modes, saturation bits, floats, `auto` clipped by Model.Precision.maximum -> refused;
* the Dense result (pre-activation, format P) must round to the activation's grid exactly as
  verifq does: linear layers store it as the output; ReLU needs P exact (F_P >= F_accum: the
  output then rounds once, and ReLU commutes with rounding), F_P = F_o, or F_P > F_o with
  truncation (floor to F_P then to F_o is one floor to F_o); tanh/sigmoid index their table by P,
  so F_P = F_o. P must not overflow: that is checked on the analysis' accumulator ranges (an extra
  "pre-activation" overflow check, part of the verdict);
* ONNX (MatMul_k = Dense without bias, Add_k = ApplyAlpha adding the bias): the MatMul result R
  must hold the exact sum (F_R >= F_accum; its range is checked like P, on the sum without the
  bias, as is the accumulator itself, which in hls4ml never holds the bias); the bias on the
  accumulator's grid, or truncation with F_P <= F_accum (both then round once, alike);
* Strategy Latency (or Resource with wrap, `check_buildable`), no LayerType precisions, no
  optimizer / bit-exact settings, every LayerName key a layer of the model (ONNX constants
  `<layer>_param<k>` are accepted and ignored: hls4ml takes the weights' floats, not their type).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from ..errors import UserError
from ..fixedpoint.design import ConstantRule, Design, LayerFormats
from ..fixedpoint.format import FixedFormat, Overflow, Rounding, quantize_exact
from ..fixedpoint.tables import DEFAULT_TABLE_FORMAT, DEFAULT_TABLE_SIZE, TableSpec
from ..network.ir import Activation
from .hls4ml_model import ModelNames

SMOOTH = (Activation.TANH, Activation.SIGMOID)
MAX_TABLE = 1 << 22
_TYPE = re.compile(r"^\s*(ap_)?(u?)(fixed|int)\s*<([^<>]*)>\s*$", re.IGNORECASE)
_ROUND = {"TRN": Rounding.TRUNCATE, "RND": Rounding.NEAREST}
_SAT = {"WRAP": Overflow.WRAP, "SAT": Overflow.SATURATE}
MODEL_KEYS = {"Precision", "ReuseFactor", "Strategy", "BramFactor", "TraceOutput", "PipelineStyle", "PipelineInterval",
              "ConvImplementation", "Compression"}
LAYER_KEYS = {"Precision", "Trace", "ReuseFactor", "Strategy", "table_size", "TableSize", "table_t", "TableT"}
HINT = "give an explicit type such as ap_fixed<16,6,AP_TRN,AP_WRAP>, or let `verifq hls4ml MODEL --spec SPEC -o FILE` write the configuration"


@dataclass(frozen=True)
class HType:
    """An hls4ml type string read exactly: the format and its quantization and overflow modes."""

    fmt: FixedFormat
    rounding: Rounding
    overflow: Overflow
    key: str  # where it was read (for messages)


@dataclass(frozen=True)
class ReadConfig:
    """The design an hls4ml configuration builds, and what the analysis must check besides it."""

    design: Design
    pre: tuple[HType, ...]  # per layer: the type the pre-activation is stored in (Dense / ApplyAlpha result)
    matmul: tuple[HType | None, ...]  # ONNX: the MatMul result holding the sum without the bias
    frontend: str
    strategy: str
    notes: tuple[str, ...]


def parse_type(text, key: str) -> HType:
    """An hls4ml precision string (ap_fixed<W,I[,Q[,O[,N]]]>, fixed<...>, ap_ufixed, ap_int<W>, ...)."""
    if not isinstance(text, str):
        raise UserError(f"{key}: expected a type string like \"ap_fixed<16,6>\", got {text!r}"[:200], hint=HINT)
    if text.strip().lower() == "auto":
        raise UserError(f"{key} is 'auto': hls4ml infers that type itself (its infer_precision pass); verifq checks "
                        "explicit types only", hint=HINT)
    m = _TYPE.match(text)
    if not m:
        raise UserError(f"{key}: '{text}' is not an ap_fixed / ap_int type verifq can read", hint=HINT)
    args = [a.strip() for a in m.group(4).split(",")]
    is_fixed = m.group(3).lower() == "fixed"
    try:
        width = int(args[0])
        ibits = int(args[1]) if is_fixed else width
    except (ValueError, IndexError):
        raise UserError(f"{key}: '{text}' has no width{' and integer bits' if is_fixed else ''}", hint=HINT) from None
    if not 1 <= width <= 1024 or abs(ibits) > 1024:
        raise UserError(f"{key}: '{text}': the width must be 1..1024 bits and |I| <= 1024", hint=HINT)
    fmt = FixedFormat(width, ibits, signed=not m.group(2))
    modes = args[2:] if is_fixed else []  # ap_int ignores modes: its casts truncate and wrap
    if len(modes) > 3 or (not is_fixed and len(args) > 1):
        raise UserError(f"{key}: '{text}' has too many parameters", hint=HINT)
    q = modes[0].upper().replace("AP_", "") if modes and modes[0] else "TRN"
    o = modes[1].upper().replace("AP_", "") if len(modes) > 1 and modes[1] else "WRAP"
    if q not in _ROUND:
        raise UserError(f"{key}: '{text}': quantization mode {modes[0]} is not AP_TRN or AP_RND, the two verifq's "
                        "semantics has", hint="use AP_TRN (truncation) or AP_RND (round half up)")
    if o not in _SAT:
        raise UserError(f"{key}: '{text}': overflow mode {modes[1]} is not AP_WRAP or AP_SAT, the two verifq's "
                        "semantics has", hint="use AP_WRAP or AP_SAT")
    if len(modes) > 2 and modes[2] not in ("", "0"):
        raise UserError(f"{key}: '{text}': saturation bits {modes[2]} (verifq's semantics has none)", hint="use 0")
    return HType(fmt, _ROUND[q], _SAT[o], key)


@dataclass(frozen=True)
class Auto:
    """A type given as 'auto': hls4ml's infer_precision pass decides it (read_config mirrors that pass)."""

    key: str


def _parse(text, key: str) -> "HType | Auto":
    return Auto(key) if isinstance(text, str) and text.strip().lower() == "auto" else parse_type(text, key)


def _dense_auto(x: FixedFormat, w: FixedFormat, b: FixedFormat, n_in: int) -> FixedFormat:
    """hls4ml 1.3.0 infer_precision `_infer_common_precision` (Dense, infer_no_bias off): the exact sum."""
    lg = math.ceil(math.log2(n_in))
    width, ints, signed = w.width + x.width + lg, w.integer_bits + x.integer_bits + lg, w.signed or x.signed
    frac = width - ints
    ints = max(ints + (b.signed and not signed), b.integer_bits + (signed and not b.signed)) + 1
    return FixedFormat(ints + max(frac, b.frac_bits), ints, signed or b.signed)


def _apply_alpha_auto(r: FixedFormat, b: FixedFormat) -> FixedFormat:
    """hls4ml 1.3.0 infer_precision `_infer_bn_precision` with the ApplyAlpha's scale type ap_uint<1>."""
    s_signed, s_width, s_int = r.signed, r.width + 1, r.integer_bits + 1
    ints = max(s_int + (b.signed and not s_signed), b.integer_bits + (s_signed and not b.signed)) + 1
    return FixedFormat(ints + max(s_width - s_int, b.frac_bits), ints, s_signed or b.signed)


# ----------------------------------------------------------------------------- hls4ml's lookup
class _Config:
    def __init__(self, config: dict, names: ModelNames):
        if not isinstance(config, dict):
            raise UserError("the configuration is not a mapping of hls4ml settings (Model, LayerName, ...)")
        for key in config:
            if key not in ("Model", "LayerName", "LayerType"):
                raise UserError(f"configuration key '{key}': verifq checks the Model and LayerName settings only "
                                "(optimizer and flow settings can change the arithmetic)", hint="remove the key")
        self.model = config.get("Model") or {}
        self.layers = config.get("LayerName") or {}
        for what, entry in (("Model", self.model), ("LayerName", self.layers)):
            if not isinstance(entry, dict):
                raise UserError(f"the configuration's {what} entry is not a mapping")
        if config.get("LayerType"):
            raise UserError(f"LayerType entries ({', '.join(map(str, config['LayerType']))}): verifq reads "
                            "precisions from LayerName and Model only", hint="give the types per layer under LayerName")
        for key in self.model:
            if key not in MODEL_KEYS:
                raise UserError(f"Model key '{key}' is not one verifq can check (it may change the arithmetic)",
                                hint=f"verifq reads {', '.join(sorted(MODEL_KEYS))}")
        if self.model.get("Compression"):
            raise UserError("Model key 'Compression' is set: verifq checks uncompressed Dense layers only")
        known = set(names.keys())
        dense = {ln.dense for ln in names.layers} | {ln.bias for ln in names.layers if ln.bias}
        self.ignored = []
        for name, entry in self.layers.items():
            param = re.fullmatch(r"(.+)_param\d+", str(name))
            if name not in known and not (names.frontend == "onnx" and param and param.group(1) in dense):
                raise UserError(f"LayerName key '{name}' matches no layer of {names.path} (hls4ml would ignore it "
                                "silently)", hint=f"the model's layers are: {', '.join(names.keys())}")
            if not isinstance(entry, dict):
                raise UserError(f"LayerName.{name} is not a mapping of settings")
            if name not in known:  # an ONNX constant: its (output) precision never reaches the weights
                for key in entry:
                    if key not in ("Precision", "Trace", "ReuseFactor"):
                        raise UserError(f"LayerName.{name}.{key}: verifq checks an ONNX constant's Precision only "
                                        "(other settings may quantize the weights)", hint="remove the key")
                self.ignored.append(name)
                continue
            for key in entry:
                if key not in LAYER_KEYS:
                    raise UserError(f"LayerName.{name}.{key} is not a setting verifq can check",
                                    hint=f"verifq reads {', '.join(sorted(LAYER_KEYS))}")
            for pair in (("table_size", "TableSize"), ("table_t", "TableT")):
                if all(p in entry for p in pair):
                    raise UserError(f"LayerName.{name} sets both {pair[0]} and {pair[1]}", hint="keep one")

    def precision(self, layer: str, var: str, allowed: tuple[str, ...]) -> "HType | Auto":
        entry = self.layers.get(layer) or {}
        prec = entry.get("Precision")
        if isinstance(prec, dict):
            for v in prec:
                if v not in allowed + ("default", "table"):
                    raise UserError(f"LayerName.{layer}.Precision.{v} is not a type of this layer verifq can check",
                                    hint=f"its types: {', '.join(allowed)}")
            if var in prec:
                return _parse(prec[var], f"LayerName.{layer}.Precision.{var}")
            if "default" in prec:
                return _parse(prec["default"], f"LayerName.{layer}.Precision.default")
        elif prec is not None:
            return _parse(prec, f"LayerName.{layer}.Precision")
        mp = self.model.get("Precision")
        if isinstance(mp, dict):
            if var in mp:
                return _parse(mp[var], f"Model.Precision.{var}")
            if "default" in mp:
                return _parse(mp["default"], "Model.Precision.default")
        elif mp is not None:
            return _parse(mp, "Model.Precision")
        raise UserError(f"no precision for {layer} -> {var}: neither LayerName.{layer}.Precision nor Model.Precision "
                        "sets it (hls4ml stops: 'No precision ... found')", hint=HINT)

    def default(self, auto: "Auto") -> HType:
        """What hls4ml's infer_precision pass gives an 'auto' type it does not infer: Model.Precision's default."""
        mp = self.model.get("Precision")
        text = mp.get("default") if isinstance(mp, dict) else mp
        if text is None:
            raise UserError(f"{auto.key} is 'auto' and Model.Precision has no default, which hls4ml then needs",
                            hint=HINT)
        t = parse_type(text, "Model.Precision" + (".default" if isinstance(mp, dict) else ""))
        return HType(t.fmt, t.rounding, t.overflow, f"{auto.key} ('auto': {t.key})")

    def inferred(self, auto: "Auto", fmt: FixedFormat) -> HType:
        """An 'auto' accum/result that hls4ml's infer_precision pass sizes to hold the exact value."""
        mp = self.model.get("Precision")
        if isinstance(mp, dict) and "maximum" in mp:
            raise UserError(f"{auto.key} is 'auto' and Model.Precision.maximum clips the type hls4ml infers: verifq "
                            "does not check clipped inferred types", hint=HINT)
        return HType(fmt, Rounding.TRUNCATE, Overflow.WRAP, f"{auto.key} ('auto': inferred {fmt})")

    def strategy(self, layer: str | None = None) -> str:
        entry = self.layers.get(layer) or {} if layer else {}
        value = entry.get("Strategy", self.model.get("Strategy", "Latency"))
        key = f"LayerName.{layer}.Strategy" if "Strategy" in entry else "Model.Strategy"
        s = str(value).replace("_", "").lower()
        if s not in ("latency", "resource"):
            raise UserError(f"{key} = {value}: verifq checks the Latency (and, with wrap, Resource) strategy only",
                            hint="use Strategy Latency")
        return s.capitalize()

    def table(self, layer: str) -> TableSpec:
        entry = self.layers.get(layer) or {}
        size = entry.get("table_size", entry.get("TableSize", DEFAULT_TABLE_SIZE))
        skey = f"LayerName.{layer}." + ("TableSize" if "TableSize" in entry else "table_size")
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_TABLE:
            raise UserError(f"{skey} = {size!r}: a table size must be an integer 1..{MAX_TABLE}")
        tkey = "TableT" if "TableT" in entry else "table_t"
        t = parse_type(entry[tkey], f"LayerName.{layer}.{tkey}") if tkey in entry else HType(
            DEFAULT_TABLE_FORMAT, Rounding.TRUNCATE, Overflow.WRAP, "hls4ml's default table_t")
        return TableSpec(size, t.fmt, t.rounding, t.overflow)


# ----------------------------------------------------------------------------- config -> design
def read_config(config: dict, names: ModelNames, network, implementation=None) -> ReadConfig:
    """The verifq design the hls4ml configuration builds for the model (UserError when its arithmetic is
    not exactly one verifq's semantics expresses). `implementation` (the spec's): inputs are taken as
    arriving on the input type's grid only when the spec says they arrive in that very format."""
    cfg = _Config(config, names)
    onnx = names.frontend == "onnx"
    notes = [f"LayerName {', '.join(cfg.ignored)} (ONNX constants) ignored: hls4ml quantizes the weights' floats "
             "with the layer's weight/bias types"] if cfg.ignored else []
    tables_ignored = []
    strategies = {cfg.strategy()} | {cfg.strategy(n) for n in names.keys()}
    strategy = "Resource" if "Resource" in strategies else "Latency"
    datapath: list[HType] = []  # the types whose rounding and overflow modes are the design's
    exempt: list[HType] = []  # exact casts (no rounding): their overflow mode must still agree
    inp = cfg.precision(names.input, "result", ("result",))
    inp = cfg.default(inp) if isinstance(inp, Auto) else inp
    datapath.append(inp)
    inputs_fixed = bool(implementation is not None and implementation.inputs_fixed)
    if inputs_fixed and implementation.input_format not in (None, inp.fmt):
        inputs_fixed = False
        notes.append(f"the spec's inputs arrive in {implementation.input_format}, the configuration's input type is "
                     f"{inp.fmt}: hls4ml rounds them into it, so they are analysed as real inputs")
    layers, pres, mats, wts, bss = [], [], [], [], []
    x = inp  # the type of the layer's input
    for pos, (layer, ln) in enumerate(zip(network.layers, names.layers), start=1):
        dense = ("weight", "bias", "accum", "result")

        def typed(t):
            return cfg.default(t) if isinstance(t, Auto) else t

        w = typed(cfg.precision(ln.dense, "weight", dense))
        dense_b = typed(cfg.precision(ln.dense, "bias", dense))  # ONNX: the Dense's (zero) bias
        acc = cfg.precision(ln.dense, "accum", dense)
        res = cfg.precision(ln.dense, "result", dense)
        auto_fmt = _dense_auto(x.fmt, w.fmt, dense_b.fmt, layer.n_in)
        acc = cfg.inferred(acc, auto_fmt) if isinstance(acc, Auto) else acc
        res = cfg.inferred(res, auto_fmt) if isinstance(res, Auto) else res
        if onnx and ln.bias is not None:
            b = typed(cfg.precision(ln.bias, "bias", ("bias", "result")))
            pre = cfg.precision(ln.bias, "result", ("bias", "result"))
            pre = cfg.inferred(pre, _apply_alpha_auto(res.fmt, b.fmt)) if isinstance(pre, Auto) else pre
            mat = res
        else:
            b = dense_b
            pre, mat = res, None
        fa, fb = acc.fmt.frac_bits, b.fmt.frac_bits
        acc_exact = fa >= w.fmt.frac_bits + x.fmt.frac_bits and fa >= fb  # products and bias land on its grid
        (exempt if acc_exact else datapath).append(acc)
        linear = layer.activation is Activation.LINEAR
        pre_exact = pre.fmt.frac_bits >= fa and fb <= fa  # holds the sum exactly (range: checked)
        (exempt if pre_exact else datapath).append(pre)
        table = None
        if ln.act is None:
            if not linear:
                raise UserError(f"layer {pos} ({ln.dense}): no activation layer for {layer.activation.value}")
            out = pre
        else:
            if "Precision" in (cfg.layers.get(ln.act) or {}) and isinstance(cfg.layers[ln.act]["Precision"], dict) \
                    and "table" in cfg.layers[ln.act]["Precision"]:
                tables_ignored.append(ln.act)
            if names.frontend == "keras" and ln.act not in cfg.layers and ln.act.startswith(ln.dense + "_"):
                raise UserError(f"LayerName has no entry '{ln.act}' (the activation hls4ml splits off Dense "
                                f"'{ln.dense}'): verifq does not guess which types hls4ml gives it",
                                hint=f"set LayerName.{ln.act}.Precision.result")
            out = typed(cfg.precision(ln.act, "result", ("result",)))
            datapath.append(out)
            if layer.activation in SMOOTH:
                table = cfg.table(ln.act)
        fp, fo = pre.fmt.frac_bits, out.fmt.frac_bits
        relu_ok = pre_exact or fp == fo or (fp > fo and pre.rounding is Rounding.TRUNCATE)
        if layer.activation is Activation.RELU and not relu_ok:
            why = "fewer" if fp < fo else "more"
            raise UserError(f"{pre.key} = {pre.fmt} has {why} fractional bits ({fp}) than {out.key} ({fo})"
                            + (" under AP_RND: rounding twice is not rounding once" if fp > fo else
                               ": hls4ml rounds the pre-activation to a coarser grid than the output's"),
                            hint="give the Dense result the activation result's fractional bits")
        if layer.activation in SMOOTH and fp != fo:
            raise UserError(f"{pre.key} = {pre.fmt}: hls4ml indexes the {layer.activation.value} table by the Dense "
                            f"result ({fp} fractional bits), verifq's semantics by the value on the output's grid "
                            f"({out.key}: {fo})", hint="give the Dense result the activation result's fractional bits")
        if mat is not None and mat.fmt.frac_bits < fa:
            raise UserError(f"{mat.key} = {mat.fmt} has fewer fractional bits than the accumulator ({acc.fmt}): "
                            "the ONNX MatMul result must hold the exact sum (the ApplyAlpha adds the bias and rounds "
                            "once)", hint="give the MatMul layer's result the accum type")
        if onnx and fb > fa and not (pre.rounding is Rounding.TRUNCATE and fp <= fa):
            raise UserError(f"{b.key} = {b.fmt} has more fractional bits than {acc.key} = {acc.fmt}: hls4ml's ONNX "
                            "frontend adds the bias after the sum and rounds once, verifq's semantics rounds the bias "
                            "into the accumulator first", hint="use a bias type with at most the accumulator's "
                            "fractional bits, or give the model as Keras 3 (.keras)")
        wts.append(w)
        bss.append(b)
        pres.append(pre)
        mats.append(mat)
        # the stored output: linear -> the pre format itself; else the activation's result
        layers.append(LayerFormats.uniform(layer.n_out, w.fmt, b.fmt, acc.fmt, out.fmt, table))
        x = out
    if tables_ignored:
        notes.append(f"Precision.table of {', '.join(tables_ignored)} ignored, as hls4ml ignores it (a table type is "
                     "the layer key table_t)")
    q, o = datapath[0].rounding, datapath[0].overflow
    for t in datapath[1:]:
        if t.rounding is not q or t.overflow is not o:
            raise UserError(f"{t.key} rounds/overflows with {_modes(t)}, {datapath[0].key} with {_modes(datapath[0])}: "
                            "verifq's semantics has one rounding and one overflow mode for the whole datapath",
                            hint="give every input, accum and result type the same quantization and overflow modes")
    for t in exempt:  # exact casts: the rounding mode never acts, an overflow mode might (partial sums)
        if t.overflow is not o:
            raise UserError(f"{t.key} overflows with {_modes(t)}, {datapath[0].key} with {_modes(datapath[0])}: "
                            "verifq's semantics has one overflow mode for the whole datapath",
                            hint="give every input, accum and result type the same overflow mode")
    rules = {Rounding.TRUNCATE: ConstantRule.HLS4ML_TRUNCATE, Rounding.NEAREST: ConstantRule.HLS4ML_NEAREST}
    for role, types in (("weight", wts), ("bias", bss)):
        for t in types[1:]:
            if t.rounding is not types[0].rounding:
                raise UserError(f"{t.key} rounds with {_modes(t)}, {types[0].key} with {_modes(types[0])}: verifq's "
                                f"semantics has one rule for every {role} constant",
                                hint=f"give every {role} type the same quantization mode")
    design = Design((inp.fmt,) * network.n_inputs, tuple(layers), q, o, inputs_fixed,
                    rules[wts[0].rounding], rules[bss[0].rounding])
    return ReadConfig(design, tuple(pres), tuple(mats), names.frontend, strategy, tuple(notes))


def _modes(t: HType) -> str:
    return f"{'AP_TRN' if t.rounding is Rounding.TRUNCATE else 'AP_RND'}/{'AP_WRAP' if t.overflow is Overflow.WRAP else 'AP_SAT'}"


# ----------------------------------------------------------------------------- the checks the design leaves out
def extra_checks(analysis, read: ReadConfig) -> list:
    """Overflow checks of the stored values hls4ml has and verifq's design does not: the pre-activation
    P (the accumulator's values rounded to P's grid) and, ONNX, the sum without the bias (in the
    accumulator and the MatMul result)."""
    from ..analysis.results import Check
    from ..numeric import scaled

    out = []
    for li, (la, ql, pre, mat) in enumerate(zip(analysis.layers, analysis.qnet.layers, read.pre, read.matmul), start=1):
        linear = analysis.problem.network.layers[li - 1].activation is Activation.LINEAR
        for j in range(ql.n_out):
            lo, hi = scaled.to_fraction(la.errors.acc_lo[j]), scaled.to_fraction(la.errors.acc_hi[j])
            if not linear:  # a linear layer's P is its output, which the analysis checks
                f = pre.fmt
                rl = quantize_exact(lo, f.frac_bits, read.design.rounding)
                rh = quantize_exact(hi, f.frac_bits, read.design.rounding)
                if rl < f.min_int or rh > f.max_int:
                    out.append(Check(li, j, "overflow", "pre-activation", rl * f.ulp, rh * f.ulp, f.min_value,
                                     f.max_value, f"{f} ({pre.key})"))
            if mat is not None and not _modular(read, acc_fmt := ql.formats.accum[j], pre, mat):
                acc = acc_fmt
                b = Fraction(int(ql.bias_acc_mant[j])) * acc.ulp
                for f, what in ((acc, f"{acc} (the accumulator, without the bias)"), (mat.fmt, f"{mat.fmt} ({mat.key})")):
                    if lo - b < f.min_value or hi - b > f.max_value:
                        out.append(Check(li, j, "overflow", "sum before the bias", lo - b, hi - b, f.min_value,
                                         f.max_value, what))
    return out


def _modular(read: ReadConfig, acc: FixedFormat, pre: HType, mat: HType) -> bool:
    """ONNX under wrap: when the pre-activation's modulus 2^I_P divides the accumulator's and the MatMul
    result's (I_P <= both) and they wrap, a sum without the bias that overflows them still gives the
    right pre-activation whenever the sum with the bias fits (which the analysis checks)."""
    return (read.design.overflow is Overflow.WRAP and mat.overflow is Overflow.WRAP
            and pre.fmt.integer_bits <= min(acc.integer_bits, mat.fmt.integer_bits))


@dataclass(frozen=True)
class Verdict:
    read: ReadConfig
    analysis: object
    violations: tuple  # the analysis' (limits apart) and the extra checks
    counterexample: object  # search.Counterexample or None
    limits: tuple = ()  # formats the spec's implementation limits forbid (reported, not part of the verdict)

    @property
    def proved(self) -> bool:
        return not self.violations


def check_config(problem, names: ModelNames, config: dict, *, search: bool = True) -> Verdict:
    """Prove or refute the user's hls4ml configuration for the spec (`names`: read_model_names of the model)."""
    from ..analysis.prove import analyse
    from ..progress import say
    from .hls4ml_config import check_buildable

    read = read_config(config, names, problem.network, problem.implementation)
    check_buildable(problem.network, read.design, names.frontend, read.strategy)
    say("analysing the configured design")
    analysis = analyse(problem, read.design)
    # the spec's implementation limits (max word, ...) bound what synthesis may choose; a configuration
    # the user already has is judged by the requirements (error, overflow) only, its limits reported apart
    limits = tuple(c for c in analysis.violations if c.kind == "limit")
    violations = tuple(c for c in analysis.violations if c.kind != "limit") + tuple(extra_checks(analysis, read))
    cex = None
    if len(limits) < len(analysis.violations) and search:
        from ..analysis.search import find_counterexample

        say("looking for a counterexample")
        cex = find_counterexample(analysis)
    return Verdict(read, analysis, violations, cex, limits)


def check_project(project: dict) -> None:
    """A whole hls4ml project configuration's settings besides HLSConfig: io_parallel, Vivado/Vitis."""
    io = project.get("IOType", "io_parallel")
    if str(io).lower() != "io_parallel":
        raise UserError(f"IOType {io}: verifq checks io_parallel only (io_stream computes in other kernels)",
                        hint="convert with io_type='io_parallel'")
    backend = project.get("Backend", "Vivado")
    if str(backend).lower() not in ("vivado", "vitis"):
        raise UserError(f"Backend {backend}: verifq checks the Vivado and Vitis backends' kernels only",
                        hint="use backend='Vivado' or 'Vitis'")


def readback_violations(config: dict, names: ModelNames, problem, design: Design, analysis) -> list:
    """The checks a configuration verifq WROTE for `design` (proved by `analysis`) fails when read back
    as hls4ml reads it: [] when hls4ml builds exactly the proved design with no overflow of its own
    (the pre-activation, ONNX's sum before the bias). A UserError from the reading is a bug of the
    writer, reported as such."""
    read = read_config(config, names, problem.network, problem.implementation)
    if read.design != design:
        from ..analysis.prove import analyse

        analysis = analyse(problem, read.design)
    return [c for c in analysis.violations if c.kind != "limit"] + extra_checks(analysis, read)


def report_lines(v: Verdict, names: ModelNames, config_path: str, limit: int = 10) -> list[str]:
    from ..analysis.search import describe_overflow_site

    d = v.read.design
    head = "PROVED" if v.proved else "NOT PROVED"
    lines = [f"verifq hls4ml --check {config_path}: {head} ({names.frontend} model {names.path}, {d.rounding.value}, "
             f"{d.overflow.value}, weights {d.weight_rule.value}, biases {d.bias_rule.value}; hls4ml 1.3.0, "
             f"io_parallel, Vivado/Vitis, {v.read.strategy})",
             f"  input {names.input}: {d.inputs[0]}"]
    for pos, (ln, lf, pre) in enumerate(zip(names.layers, d.layers, v.read.pre), start=1):
        table = f", table {lf.table}" if lf.table is not None else ""
        lines.append(f"  layer {pos} {ln.dense}: weight {lf.weight[0]}, bias {lf.bias[0]}, accum {lf.accum[0]}, "
                     f"pre-activation {pre.fmt}, output {lf.output[0]}{table}")
    lines += [f"  note: {n}" for n in v.read.notes]
    if v.limits:
        lines.append(f"  note: {len(v.limits)} format(s) exceed the spec's implementation limits (a bound on what "
                     f"synthesis may choose; not part of this verdict), e.g. {v.limits[0].describe()}")
    problem = v.analysis.problem
    for j, e in enumerate(v.analysis.output_errors):
        req = problem.max_error[j] if j < len(problem.max_error) else None
        ok = req is None or e <= req
        lines.append(f"  output {j}: |hls4ml - real| <= {float(e):.6g}" + (f" (required <= {float(req):.6g}"
                     f"{', margin ' + format(float(req - e), '.3g') if ok else ', exceeded by ' + format(float(e - req), '.3g')})"
                     if req is not None else ""))
    if v.violations:
        lines.append(f"  {len(v.violations)} failing check(s):")
        lines += [f"    {c.describe()}" for c in v.violations[:limit]]
        if len(v.violations) > limit:
            lines.append(f"    ... and {len(v.violations) - limit} more")
        cex = v.counterexample
        x = None if cex is None else "[" + ", ".join(f"{float(t):.9g}" for t in cex.input_raw) + "]"
        if cex is None:
            lines.append("  counterexample: none found (the proof fails; no concrete input was found that breaks it)")
        elif cex.kind == "overflow":
            lines.append(f"  counterexample: overflow at {describe_overflow_site(cex.overflow_site)}, x = {x}")
        else:
            lines.append(f"  counterexample: error {float(cex.observed_error):.6g} > {float(cex.bound):.6g} on output "
                         f"{cex.output}, x = {x}")
    else:
        lines.append("  no overflow anywhere (pre-activations included); every requirement holds")
    return lines


def confirm_with_hls4ml(model_path, config: dict, x, analysis, outdir) -> dict:
    """Convert the model with the user's configuration, compile it (g++, ~30 s) and predict at the
    inputs x (network units, rows): hls4ml's outputs, verifq's simulator of the configured design on
    the same inputs (mantissas scaled back), the real network's, and whether hls4ml and the
    simulator agree bit for bit. Needs hls4ml (and qonnx for ONNX)."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    import numpy as np

    import hls4ml

    from ..fixedpoint.simulator import quantize_inputs, simulate
    from .hls4ml_model import cleaned_onnx, frontend_of

    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    kw = dict(output_dir=str(outdir), hls_config=config, backend="Vivado", io_type="io_parallel")
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        if frontend_of(model_path) == "onnx":
            hm = hls4ml.converters.convert_from_onnx_model(cleaned_onnx(model_path), **kw)
        else:
            import keras

            hm = hls4ml.converters.convert_from_keras_model(keras.saving.load_model(str(model_path), compile=False), **kw)
        hm.compile()
        y = np.asarray(hm.predict(np.ascontiguousarray(x)), dtype=np.float64).reshape(len(x), -1)
    qnet = analysis.qnet
    mant, _ = quantize_inputs(qnet, x)
    ref = simulate(qnet, np.asarray(mant))
    sim = np.asarray(ref.outputs_float(), dtype=np.float64)
    real = analysis.problem.network.evaluate_float(x)
    return {"hls4ml": y, "simulator": sim, "real": real, "bit_exact": bool(np.array_equal(y, sim)),
            "overflow": np.asarray(ref.overflow)}
