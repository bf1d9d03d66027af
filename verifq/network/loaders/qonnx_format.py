"""QONNX integer networks: a chain of dense layers whose weights, biases and
activations pass through QONNX quantizers (Quant, BipolarQuant, Trunc, and
MultiThreshold as an activation quantizer), into the integer IR of
`network/quantized.py` plus the float reference (the same graph with every
quantizer removed).

Supported operators: Quant, BipolarQuant, Trunc, MultiThreshold (followed by
an optional positive Mul), Gemm, MatMul, Add (bias), Relu, Identity, Flatten,
Reshape, Squeeze, Unsqueeze, Constant. Weight and bias codes are what qonnx
1.0.0 computes from the file (its float32 rule `rnd(clamp(fl32(fl32(w/s) + z)))`),
so the integer network uses the very constants QONNX execution uses. A batch
dimension of 1 is assumed (reshapes keep the feature order).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from ...errors import Location, UserError
from ..ir import Activation, DenseLayer, Network
from ..quantized import ROUNDING_MODES, Bipolar, IntLayer, QuantizedNetwork, Relu, Requant, Step, Thresholds, int_bounds
from ._common import finish

QUANT_OPS = ("Quant", "BipolarQuant", "Trunc", "MultiThreshold")
_SHAPE_OPS = ("Identity", "Flatten", "Reshape", "Squeeze", "Unsqueeze")
_SUPPORTED = "Quant, BipolarQuant, Trunc, MultiThreshold, Gemm, MatMul, Add, Mul, Relu, Identity, Flatten, Reshape, Squeeze, Unsqueeze, Constant"
_HINT = f"verifq reads QONNX chains of dense layers; supported operators: {_SUPPORTED}"


def has_quantizers(data: bytes) -> bool:
    """Whether the ONNX model holds a QONNX quantizer node (then it is read as an integer network)."""
    import onnx

    try:
        model = onnx.load_model_from_string(data)
    except Exception:
        return False  # parse_onnx reports it
    return any(n.op_type in QUANT_OPS for n in model.graph.node)


def _fractions(values) -> tuple[Fraction, ...]:
    return tuple(Fraction(float(v)) for v in np.asarray(values, dtype=np.float64).ravel())


def _round_like_qonnx(y: np.ndarray, mode: str) -> np.ndarray:
    """qonnx 1.0.0 `resolve_rounding_mode`, on numpy values (float32 arithmetic kept)."""
    if mode in ("ROUND", "HALF_EVEN"):
        return np.round(y)
    if mode == "CEIL":
        return np.ceil(y)
    if mode == "FLOOR":
        return np.floor(y)
    if mode == "UP":
        return np.sign(y) * np.ceil(np.abs(y))
    if mode == "DOWN":
        return np.fix(y)
    if mode == "HALF_UP":
        return np.sign(y) * np.floor(np.abs(y) + 0.5)
    return np.sign(y) * np.ceil(np.abs(y) - 0.5)  # HALF_DOWN


class _Const:
    """A quantized constant (weights or bias): integer codes and their scale (broadcast shape kept)."""

    def __init__(self, raw: np.ndarray, codes: np.ndarray, scale: np.ndarray, bits: int, signed: bool):
        self.raw, self.codes, self.scale, self.bits, self.signed = raw, codes, scale, bits, signed


class _Reader:
    def __init__(self, path: Path, constants: dict, input_name: str, n_in: int | None):
        self.path = path
        self.constants = constants
        self.qconst: dict[str, _Const] = {}
        self.cur = input_name
        self.n = n_in
        self.phase = "real"  # real input -> "codes" (quantized) -> "acc" (after a product)
        self.unit: tuple[Fraction, ...] = (Fraction(1),)
        self.steps: list[Step] = []
        self.input_steps: tuple[Step, ...] | None = None
        self.input_bits, self.input_signed = 0, True
        self.layers: list[dict] = []
        self.node = None

    # -- errors and helpers ---------------------------------------------------
    def error(self, message: str, hint: str | None = _HINT) -> UserError:
        n = self.node
        where = f"node '{n.name or '(unnamed)'}' ({n.op_type}): " if n is not None else ""
        return UserError(where + message, Location(str(self.path)), hint=hint)

    def const(self, name: str, what: str) -> np.ndarray:
        if name not in self.constants:
            raise self.error(f"its {what} '{name}' is not a constant", hint="weights, scales, zero points and bit widths must be initializers")
        return self.constants[name]

    def attr(self, name: str, default=None, required: bool = False):
        from onnx import helper

        for a in self.node.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        if required:
            raise self.error(f"has no '{name}' attribute (qonnx 1.0.0 requires it)", hint=None)
        return default

    def per_channel(self, arr: np.ndarray, what: str, count: int | None) -> np.ndarray:
        flat = np.asarray(arr, dtype=np.float64).ravel()
        if flat.size == 1:
            return np.repeat(flat, count or 1)
        if count is not None and flat.size == count:
            return flat
        raise self.error(f"its {what} has {flat.size} values for {count} channels", hint="per-tensor or per-channel (last axis) values only")

    def quant_params(self, scale_name: str, zp_name: str, bits_name: str | None):
        scale = self.const(scale_name, "scale")
        zp = self.const(zp_name, "zero point")
        if not np.all(np.isfinite(scale)) or np.any(np.asarray(scale) <= 0):
            raise self.error("its scale must be finite and positive", hint=None)
        if np.any(np.asarray(zp) != np.round(zp)):
            raise self.error("its zero point is not an integer", hint="verifq's integer semantics needs integer zero points")
        bits = None
        if bits_name is not None:
            b = np.asarray(self.const(bits_name, "bit width"), dtype=np.float64).ravel()
            if b.size != 1 or b[0] != round(b[0]) or not 1 <= b[0] <= 64:
                raise self.error(f"bit width {b.tolist()} is not one integer from 1 to 64", hint=None)
            bits = int(b[0])
        return scale, zp, bits

    # -- node dispatch --------------------------------------------------------
    def step(self, node) -> None:
        self.node = node
        op = node.op_type
        ins = [i for i in node.input]
        if op == "Constant":
            from onnx import numpy_helper

            value = next((a for a in node.attribute if a.name == "value"), None)
            if value is None:
                raise self.error("only a tensor `value` Constant is supported")
            self.constants[node.output[0]] = numpy_helper.to_array(value.t)
            return
        if ins and ins[0] != self.cur and all(i in self.constants for i in ins if i):
            if op == "Quant":
                self.const_quant(node, ins)
                return
            if op in _SHAPE_OPS:  # shape ops on constants (e.g. a transposed weight)
                self.constants[node.output[0]] = self.constants[ins[0]]
                return
        if self.cur not in ins:
            raise self.error(f"does not read the running tensor '{self.cur}' (verifq reads one chain of layers)")
        if op in _SHAPE_OPS:
            pass
        elif op == "Quant":
            self.quant(ins)
        elif op == "BipolarQuant":
            scale = self.const(ins[1], "scale")
            if not np.all(np.isfinite(scale)) or np.any(np.asarray(scale) <= 0):
                raise self.error("its scale must be finite and positive", hint=None)
            self.add_step(Bipolar(node.name, _fractions(self.per_channel(scale, "scale", self.n))))
        elif op == "Trunc":
            self.trunc(ins)
        elif op == "MultiThreshold":
            self.thresholds(ins)
        elif op == "Mul":
            self.mul(ins)
        elif op == "Relu":
            if self.phase == "real":
                raise self.error("the network input must be quantized before a Relu")
            self.steps.append(Relu(node.name))
        elif op in ("MatMul", "Gemm"):
            self.linear(op, ins)
        elif op == "Add":
            self.bias(ins)
        else:
            raise self.error(f"unsupported operator {op}")
        self.cur = node.output[0]

    def const_quant(self, node, ins) -> None:
        if len(ins) != 4:
            raise self.error(f"has {len(ins)} inputs; Quant takes x, scale, zero point, bit width", hint=None)
        x = self.constants[ins[0]]
        scale, zp, bits = self.quant_params(ins[1], ins[2], ins[3])
        signed = bool(self.attr("signed", required=True))
        narrow = bool(self.attr("narrow", required=True))
        mode = self.rounding()
        y = x / scale
        y = y + zp
        if bits == 1 and signed:
            r = np.where(y >= 0, 1.0, -1.0)
        else:
            lo, hi = int_bounds(bits, signed, narrow)
            r = _round_like_qonnx(np.clip(y, lo, hi), mode)
        zb = np.broadcast_to(zp, r.shape)
        codes = np.vectorize(lambda a, b: int(a) - int(b), otypes=[object])(r, zb)
        self.qconst[node.output[0]] = _Const(np.asarray(x), codes, np.asarray(scale), bits, signed)
        self.constants[node.output[0]] = np.asarray((r - zp) * scale)

    def rounding(self) -> str:
        mode = self.attr("rounding_mode", "ROUND")
        mode = (mode.decode() if isinstance(mode, bytes) else str(mode)).upper()
        if mode not in ROUNDING_MODES:
            raise self.error(f"unknown rounding mode '{mode}'", hint=f"qonnx knows {', '.join(ROUNDING_MODES)}")
        return mode

    def add_step(self, s: Step) -> None:
        self.steps.append(s)
        if self.phase == "real":
            self.input_steps = tuple(self.steps)
            self.steps = []
        self.phase = "codes"
        self.unit = s.scale

    def multiplier(self, scale: np.ndarray) -> tuple[tuple[Fraction, ...], tuple[Fraction, ...]]:
        """(incoming unit / scale, scale) per channel."""
        s = _fractions(self.per_channel(scale, "scale", self.n))
        unit = self.unit if len(self.unit) == len(s) else (self.unit[0],) * len(s)
        return tuple(u / v for u, v in zip(unit, s)), s

    def quant(self, ins) -> None:
        if len(ins) != 4:
            raise self.error(f"has {len(ins)} inputs; Quant takes x, scale, zero point, bit width", hint=None)
        scale, zp, bits = self.quant_params(ins[1], ins[2], ins[3])
        signed = bool(self.attr("signed", required=True))
        narrow = bool(self.attr("narrow", required=True))
        mode = self.rounding()
        mult, s = self.multiplier(scale)
        zps = tuple(int(v) for v in self.per_channel(zp, "zero point", len(s)))
        if bits == 1 and signed:
            if any(zps):
                raise self.error("a 1-bit signed Quant needs zero point 0", hint=None)
            self.add_step(Bipolar(self.node.name, s))
            return
        if self.phase == "real":
            self.input_bits, self.input_signed = bits, signed
        self.add_step(Requant(self.node.name, "Quant", mult, zps, s, bits, signed, narrow, mode))

    def trunc(self, ins) -> None:
        if self.phase == "real":
            raise self.error("Trunc on the unquantized network input")
        if len(ins) not in (5, 6):
            raise self.error(f"has {len(ins)} inputs; Trunc takes 5 (v1) or 6 (v2)", hint=None)
        scale, zp, in_bits = self.quant_params(ins[1], ins[2], ins[3])
        if np.any(np.asarray(zp) != 0):
            raise self.error("Trunc with a non-zero zero point is not supported", hint=None)
        mode = self.attr("rounding_mode", "FLOOR")
        mode = (mode.decode() if isinstance(mode, bytes) else str(mode)).upper()
        if mode not in ROUNDING_MODES:
            raise self.error(f"unknown rounding mode '{mode}'", hint=None)
        mult, s = self.multiplier(scale)
        zeros = (0,) * len(s)
        self.add_step(Requant(self.node.name, "Trunc", mult, zeros, s, 0, True, False, "HALF_EVEN"))  # onto the input grid
        if len(ins) == 5:  # v1: divide by 2^(in - out), stay on the input scale, no clamp
            _, _, out_bits = self.quant_params(ins[1], ins[2], ins[4])
            k = Fraction(1, 2 ** (in_bits - out_bits)) if in_bits >= out_bits else Fraction(2 ** (out_bits - in_bits))
            self.add_step(Requant(self.node.name, "Trunc", (k,) * len(s), zeros, s, 0, True, False, mode))
            return
        out_scale = self.const(ins[4], "output scale")
        _, _, out_bits = self.quant_params(ins[1], ins[2], ins[5])
        signed, narrow = bool(self.attr("signed", 1)), bool(self.attr("narrow", 0))
        so = _fractions(self.per_channel(out_scale, "output scale", len(s)))
        ks = [Fraction(2) ** int(np.round(np.log2(float(o) / float(v)))) for o, v in zip(so, s)]
        self.add_step(Requant(self.node.name, "Trunc", tuple(1 / k for k in ks), zeros, so, out_bits, signed, narrow, mode))

    def thresholds(self, ins) -> None:
        if self.phase == "real":
            raise self.error("MultiThreshold on the unquantized network input")
        t = np.asarray(self.const(ins[1], "thresholds"), dtype=np.float64)
        if t.ndim != 2 or t.shape[0] not in (1, self.n or 1):
            raise self.error(f"thresholds of shape {t.shape}: need (channels, steps) or (1, steps)", hint=None)
        if np.any(np.diff(t, axis=1) < 0):
            raise self.error("its thresholds are not sorted ascending: not a plain activation quantizer", hint=None)
        out_scale = Fraction(float(self.attr("out_scale", 1.0)))
        out_bias = Fraction(float(self.attr("out_bias", 0.0)))
        if out_scale <= 0 or (out_bias / out_scale).denominator != 1:
            raise self.error("out_scale must be positive and out_bias an integer multiple of it", hint=None)
        rows = t if t.shape[0] > 1 else np.repeat(t, self.n or 1, axis=0)
        unit = self.unit if len(self.unit) == len(rows) else (self.unit[0],) * len(rows)
        ints = tuple(tuple(-((-Fraction(float(v))) // u) for v in row) for row, u in zip(rows, unit))  # ceil(t / u)
        self.add_step(Thresholds(self.node.name, ints, int(out_bias / out_scale), (out_scale,) * len(rows)))

    def mul(self, ins) -> None:
        other = [i for i in ins if i != self.cur]
        c = self.per_channel(self.const(other[0], "factor"), "factor", self.n) if len(other) == 1 else None
        if c is None or self.phase != "codes" or not isinstance(self.steps[-1] if self.steps else None, Thresholds) or np.any(c <= 0):
            raise self.error("Mul is supported only as the positive scale after a MultiThreshold")
        self.unit = tuple(u * v for u, v in zip(self.unit, _fractions(c)))
        last = self.steps[-1]
        self.steps[-1] = Thresholds(last.node, last.thresholds, last.offset, self.unit)

    # -- dense layers -----------------------------------------------------------
    def weight(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int, bool]:
        """(raw float values, integer codes, scale array or None) of a weight tensor."""
        if name in self.qconst:
            c = self.qconst[name]
            return c.raw, c.codes, c.scale, c.bits, c.signed
        raw = self.const(name, "weight")
        if np.any(raw != np.round(raw)):
            raise self.error(f"its weights '{name}' are neither quantized by a Quant node nor integers")
        codes = np.vectorize(int, otypes=[object])(raw)
        width = max(int(abs(v)).bit_length() for v in codes.ravel()) + 1 if codes.size else 1
        return raw, codes, None, width, True

    def close_layer(self) -> None:
        if self.layers:
            self.layers[-1]["steps"] = tuple(self.steps)
            self.layers[-1]["out_unit"] = self.unit
        self.steps = []

    def linear(self, op: str, ins) -> None:
        if self.phase != "codes":
            raise self.error("its input is not quantized (add a Quant before it)" if self.phase == "real" else
                             "its input is an unquantized accumulator (a Quant must sit between two layers)")
        if len(set(self.unit)) != 1:
            raise self.error("its input has per-channel scales: the products of one neuron would have different units")
        self.close_layer()
        if op == "Gemm":
            if self.attr("transA", 0) or self.attr("alpha", 1.0) != 1.0 or self.attr("beta", 1.0) != 1.0:
                raise self.error("only Gemm with transA = 0, alpha = beta = 1 is supported")
            trans = bool(self.attr("transB", 0))
        else:
            trans = False
        raw, codes, scale, bits, signed = self.weight(ins[1])
        if raw.ndim != 2:
            raise self.error(f"weights of shape {raw.shape}; a dense layer needs a matrix")
        if trans:
            raw, codes = raw.T, codes.T
            scale = None if scale is None else np.asarray(scale).T
        k, n_out = raw.shape
        if self.n is not None and k != self.n:
            raise self.error(f"weights have {k} rows but the running tensor has {self.n} values")
        if scale is None:
            wscale = np.ones(n_out)
        else:
            sc = np.asarray(scale, dtype=np.float64)
            if sc.size == 1:
                wscale = np.repeat(sc.ravel(), n_out)
            elif sc.size == n_out and (sc.ndim == 1 or sc.shape[0] == 1 or (sc.ndim == 2 and sc.shape[1] == 1 and trans)):
                wscale = sc.ravel()
            else:
                raise self.error(f"weight scale of shape {sc.shape}: only per tensor or per output channel", hint=None)
        u_in = self.unit[0]
        unit = tuple(u_in * w for w in _fractions(wscale))
        self.layers.append({"node": self.node.name, "raw": raw, "codes": codes.T, "unit": unit, "bits": bits,
                            "signed": signed, "in_unit": u_in, "bias": [0] * n_out, "raw_bias": np.zeros(n_out)})
        self.n, self.phase, self.unit = n_out, "acc", unit
        if op == "Gemm" and len(ins) > 2 and ins[2]:
            self.bias([self.cur, ins[2]])

    def bias(self, ins) -> None:
        if self.phase != "acc" or self.steps:
            raise self.error("Add is supported only as the bias right after a MatMul/Gemm")
        name = [i for i in ins if i != self.cur]
        if len(name) != 1:
            raise self.error("adds two running tensors (residual connections are not supported)")
        layer = self.layers[-1]
        n_out = len(self.unit)
        if name[0] in self.qconst:
            c = self.qconst[name[0]]
            raw = self.per_channel(c.raw, "bias", n_out)
            codes = np.broadcast_to(c.codes, c.raw.shape).ravel()
            codes = list(codes) * n_out if len(codes) == 1 else list(codes)
            scale = _fractions(self.per_channel(c.scale, "bias scale", n_out))
        else:
            raw = self.per_channel(self.const(name[0], "bias"), "bias", n_out)
            codes, scale = [Fraction(float(v)) for v in raw], (Fraction(1),) * n_out
        out = []
        for j, (code, s, u) in enumerate(zip(codes, scale, self.unit)):
            value = Fraction(int(code)) * s if s != 1 or name[0] in self.qconst else Fraction(code)
            ratio = s / u
            if ratio == 1 or (name[0] in self.qconst and abs(ratio - 1) <= Fraction(1, 2**22)):
                out.append(int(code))  # on the accumulator grid (Int32Bias: scale = fl32(s_in * s_w))
            elif (value / u).denominator == 1:
                out.append(int(value / u))
            else:
                raise self.error(f"bias of neuron {j} ({float(value)!r}) is not on the accumulator grid "
                                 f"(unit {float(u)!r} = input scale x weight scale)",
                                 hint="quantize the bias with scale = input scale x weight scale (Brevitas Int32Bias)")
        layer["bias"] = [a + b for a, b in zip(layer["bias"], out)]
        layer["raw_bias"] = layer["raw_bias"] + raw

    def finish(self, output_name: str, name: str) -> QuantizedNetwork:
        self.node = None
        if self.cur != output_name:
            raise self.error(f"the graph output '{output_name}' is not the end of the chain ('{self.cur}')")
        if not self.layers:
            raise self.error("the graph has no MatMul/Gemm layer")
        self.close_layer()
        layers, ref = [], []
        for d in self.layers:
            steps = d["steps"]
            codes = d["codes"]
            layers.append(IntLayer(d["node"], tuple(tuple(int(v) for v in row) for row in codes), tuple(int(b) for b in d["bias"]),
                                   d["unit"], d["bits"], d["signed"], steps, d["out_unit"], d["in_unit"]))
            relu = any(isinstance(s, Relu) for s in steps) or any(isinstance(s, Thresholds) and s.offset >= 0 for s in steps)
            w = tuple(tuple(Fraction(float(v)) for v in row) for row in np.asarray(d["raw"], dtype=np.float64).T)
            ref.append(DenseLayer(w, _fractions(d["raw_bias"]), Activation.RELU if relu else Activation.LINEAR))
        net = finish(Network(name=name, layers=tuple(ref), source=str(self.path),
                             metadata=(("source_format", "qonnx"), ("reference", "the graph with its quantizers removed"))), self.path)
        return QuantizedNetwork(name, str(self.path), self.input_steps or (), self.input_bits, self.input_signed,
                                tuple(layers), net)


def parse_qonnx(data: bytes, path: Path) -> QuantizedNetwork:
    import onnx
    from onnx import numpy_helper

    here = Location(str(path))
    try:
        model = onnx.load_model_from_string(data)
        onnx.external_data_helper.load_external_data_for_model(model, str(path.parent))
        constants = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    except Exception as exc:
        raise UserError(f"'{path.name}' is not a readable ONNX model ({type(exc).__name__}: {exc})"[:300], here) from None
    g = model.graph
    inputs = [i for i in g.input if i.name not in constants]
    if len(inputs) != 1 or len(g.output) != 1:
        raise UserError(f"the QONNX graph has {len(inputs)} inputs and {len(g.output)} outputs; verifq needs one of each", here)
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    n_in = int(np.prod([d for d in dims[1:] if d > 0])) if len(dims) > 1 and all(d > 0 for d in dims[1:]) else None
    reader = _Reader(path, constants, inputs[0].name, n_in)
    try:
        for node in g.node:
            reader.step(node)
    except UserError:
        raise
    except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError, OverflowError) as exc:
        raise reader.error(f"malformed node ({type(exc).__name__}: {exc})", hint=None) from None
    if reader.input_steps is None:
        raise UserError("the network input is never quantized (no Quant on the graph input)", here,
                        hint="a QONNX network starts with a Quant of its input")
    return reader.finish(g.output[0].name, path.stem)
