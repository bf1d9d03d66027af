"""Helpers of the code generation tests (no tests here): proved designs for
benchmark networks, compiling the generated code, co-simulation inputs.

`auto_design` picks fractional bits (per layer, or per neuron through a
function) and derives the integer bits from the analysis's own widened
ranges, so the design is proved free of overflow by construction; the
analysis is re-run to check that.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import subprocess
import tempfile
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np

from verifq.analysis.prove import analyse, float_input_box, network_input_box
from verifq.numeric.scaled import PRECISION
from verifq.codegen.emit import join_formats
from verifq.fixedpoint.format import narrowest_format as format_for_range
from verifq.fixedpoint.design import Design, LayerFormats
from verifq.fixedpoint.format import FixedFormat, Overflow, Rounding
from verifq.network.ir import Activation, Network
from verifq.network.loaders import load_benchmark_json
from verifq.problem import Implementation, Problem

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = ROOT / "specs" / "networks"
SHARED_NETWORKS = Path("/work/shared/benchmarks/networks")


# --------------------------------------------------------------------------- tools


def ap_types_dir() -> Path | None:
    """Xilinx's ap_types headers shipped with the installed hls4ml package (never imported: it pulls h5py)."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "templates" / "vivado" / "ap_types"
    return d if (d / "ap_fixed.h").is_file() else None


def missing_tools() -> str | None:
    """Why co-simulation cannot run here, or None."""
    if shutil.which("g++") is None:
        return "g++ is not installed"
    if shutil.which("gcc") is None:
        return "gcc is not installed"
    if ap_types_dir() is None:
        return "hls4ml (the ap_types headers) is not installed: pip install hls4ml==1.3.0 --no-deps"
    return None


_PCH: dict[str, Path | None] = {}
_PCH_LOCK = threading.Lock()
HLS_FLAGS = ["-std=c++11", "-w"]


def _pch_dir(opt: str) -> Path | None:
    """A precompiled ap_fixed.h for these flags (parsing it costs ~2 s per compile), or None.

    The folder holds ap_fixed.h.gch and a stub ap_fixed.h that falls through to the real header
    (#include_next) should gcc reject the precompiled one."""
    with _PCH_LOCK:
        if opt not in _PCH:
            d = Path(tempfile.mkdtemp(prefix="verifq_pch_"))
            atexit.register(shutil.rmtree, d, True)
            (d / "ap_fixed.h").write_text("#include_next <ap_fixed.h>\n")
            r = subprocess.run(["g++", opt, *HLS_FLAGS, "-x", "c++-header", "-isystem", str(ap_types_dir()),
                                str(ap_types_dir() / "ap_fixed.h"), "-o", str(d / "ap_fixed.h.gch")],
                               capture_output=True, text=True)
            _PCH[opt] = d if r.returncode == 0 else None
        return _PCH[opt]


def compile_hls(outdir: Path, top: str, opt: str = "-O1", pch: bool = True) -> Path:
    exe = outdir / f"{top}_csim"
    pre = []
    d = _pch_dir(opt) if pch else None
    if d is not None:
        pre = ["-I", str(d), "-include", "ap_fixed.h"]
    cmd = ["g++", opt, *HLS_FLAGS, *pre, "-isystem", str(ap_types_dir()), "-o", str(exe),
           str(outdir / f"{top}.cpp"), str(outdir / f"{top}_tb.cpp")]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return exe


def compile_ref(outdir: Path, top: str, opt: str = "-O1", sanitize: bool = True) -> Path:
    """gcc -std=c99 -pedantic -Werror; with sanitize, any undefined behaviour at run time aborts."""
    exe = outdir / f"{top}_ref_tb"
    san = ["-fsanitize=undefined", "-fno-sanitize-recover=all"] if sanitize else []
    cmd = ["gcc", opt, *san, "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-o", str(exe),
           str(outdir / f"{top}_ref.c"), str(outdir / f"{top}_ref_tb.c"), "-lm"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return exe


def run_tb(exe: Path, inputs: Path, expected: Path | None = None, mantissa: bool = False) -> tuple[np.ndarray, str, int]:
    args = [str(exe)] + (["-m"] if mantissa else []) + [str(inputs)] + ([str(expected)] if expected else [])
    r = subprocess.run(args, capture_output=True, text=True, cwd=exe.parent)
    rows = [[int(t) for t in line.split()] for line in r.stdout.splitlines() if line.strip()]
    return np.array(rows, dtype=object), r.stderr, r.returncode


# --------------------------------------------------------------------------- networks and designs


def load_net(name: str) -> tuple[Network, dict]:
    path = NETWORKS / name
    if not path.is_file():
        path = SHARED_NETWORKS / name
    return load_benchmark_json(path)


def raw_domain(net: Network, meta: dict) -> tuple[tuple[Fraction, Fraction], ...]:
    dom = meta.get("input_domain_raw") if net.normalization is not None else None
    dom = dom or meta.get("input_domain")
    if not dom:
        dom = [[-1, 1]] * net.n_inputs
    return tuple((Fraction(a), Fraction(b)) for a, b in dom)


def make_problem(net: Network, domain, design: Design | None = None, name: str = "test") -> Problem:
    impl = Implementation(rounding=design.rounding if design else Rounding.TRUNCATE,
                          overflow=design.overflow if design else Overflow.WRAP,
                          inputs_fixed=design.inputs_fixed if design else False, max_word=1024)
    return Problem(f"{name}.nnspec", net, tuple(domain), (None,) * net.n_outputs, True, impl, design)


def _as_fn(v):
    return v if callable(v) else (lambda layer, j, _v=v: _v)


def _mant_range(lo_scaled, hi_scaled, frac: int) -> tuple[int, int]:
    lo = Fraction(int(lo_scaled), 1 << PRECISION) * Fraction(2) ** frac
    hi = Fraction(int(hi_scaled), 1 << PRECISION) * Fraction(2) ** frac
    return lo.numerator // lo.denominator, -((-hi.numerator) // hi.denominator)


def grid_domain(domain, frac_in: int):
    """Shrink a box to the grid 2^-frac_in (fixed-point inputs)."""
    out = []
    for a, b in domain:
        ka = -((-a * 2**frac_in).numerator // (a * 2**frac_in).denominator)
        kb = (b * 2**frac_in).numerator // (b * 2**frac_in).denominator
        out.append((Fraction(ka, 2**frac_in) if frac_in >= 0 else Fraction(ka * 2**-frac_in),
                    Fraction(max(ka, kb), 2**frac_in) if frac_in >= 0 else Fraction(max(ka, kb) * 2**-frac_in)))
    return tuple(out)


def with_table(design: Design, net: Network, table) -> Design:
    """The design with `table` on every tanh/sigmoid layer (None: unchanged, the ideal table)."""
    if table is None:
        return design
    return design.with_tables([table if l.activation in (Activation.TANH, Activation.SIGMOID) else None
                               for l in net.layers])


def auto_design(net: Network, domain, *, fw, fb=None, fa, fo, fin: int, rounding=Rounding.TRUNCATE,
                overflow=Overflow.WRAP, inputs_fixed=False, per_neuron=False, acc_extra=0, neuron_classes=None,
                table=None):
    """A design proved free of overflow: given fractional bits, integer bits from the analysed ranges.

    fw/fb/fa/fo: an int or a function (layer 1-based, neuron) -> fractional bits. With
    per_neuron=False every neuron of a layer gets the layer's join of formats; with per_neuron and
    neuron_classes=k, neurons j with equal j mod k share the join of their formats (k groups per layer,
    interleaved), otherwise every neuron keeps its own formats. table: the TableSpec of every tanh/sigmoid
    layer (None: the ideal table).
    Returns (problem, design, analysis).
    """
    fw, fa, fo = _as_fn(fw), _as_fn(fa), _as_fn(fo)
    fb = _as_fn(fb) if fb is not None else fw
    if inputs_fixed:
        domain = grid_domain(domain, fin)
    big = 40
    layers0 = []
    for i, layer in enumerate(net.layers, start=1):
        def f(fn):
            return tuple(FixedFormat(big + fn(i, j), big) for j in range(layer.n_out))
        layers0.append(LayerFormats(f(fw), f(fb), f(fa), f(fo)))
    inputs0 = (FixedFormat(big + fin, big),) * net.n_inputs
    d0 = with_table(Design(inputs0, tuple(layers0), rounding, overflow, inputs_fixed), net, table)
    p0 = make_problem(net, domain, d0)
    a0 = analyse(p0, d0)
    qn = a0.qnet
    # inputs
    in_fmts = []
    for k in range(net.n_inputs):
        lo, hi = _mant_range(a0.inputs.q_lo[k], a0.inputs.q_hi[k], fin)
        in_fmts.append(format_for_range(lo, hi, fin))
    in_fmt = join_formats(in_fmts)
    layers = []
    for pos, (ql, la) in enumerate(zip(qn.layers, a0.layers)):
        e = la.errors
        roles = {"weight": [], "bias": [], "accum": [], "output": []}
        for j in range(ql.n_out):
            F = ql.formats
            wr = ql.weight_mant[j]
            roles["weight"].append(format_for_range(int(wr.min()), int(wr.max()), F.weight[j].frac_bits))
            b = int(ql.bias_mant[j])
            roles["bias"].append(format_for_range(b, b, F.bias[j].frac_bits))
            lo, hi = _mant_range(e.acc_lo[j], e.acc_hi[j], F.accum[j].frac_bits)
            af = format_for_range(lo, hi, F.accum[j].frac_bits)
            if acc_extra:
                af = FixedFormat(af.width + acc_extra, af.integer_bits + acc_extra, af.signed)
            roles["accum"].append(af)
            lo, hi = _mant_range(e.out_lo[j], e.out_hi[j], F.output[j].frac_bits)
            roles["output"].append(format_for_range(lo, hi, F.output[j].frac_bits))
        if not per_neuron:
            roles = {r: [join_formats(v)] * ql.n_out for r, v in roles.items()}
        elif neuron_classes:
            k = neuron_classes
            roles = {r: [join_formats(v[j % k::k]) for j in range(ql.n_out)] for r, v in roles.items()}
        layers.append(LayerFormats(*(tuple(roles[r]) for r in ("weight", "bias", "accum", "output"))))
    design = with_table(Design((in_fmt,) * net.n_inputs, tuple(layers), rounding, overflow, inputs_fixed), net, table)
    problem = make_problem(net, domain, design)
    analysis = analyse(problem, design)
    assert analysis.proved, [c.describe() for c in analysis.violations[:3]]
    return problem, design, analysis


# --------------------------------------------------------------------------- inputs


def cosim_inputs(problem: Problem, design: Design, n: int, seed: int = 1, widen: float = 1.0) -> np.ndarray:
    """n inputs (layer-input units, float64): box corners, faces, uniform points, and for real
    inputs exact rounding ties of the input grid. widen > 1 scales the box around its centre
    (inputs outside the domain, e.g. to make input formats overflow)."""
    lo, hi = float_input_box(problem)
    n_in = len(lo)
    if widen != 1.0:
        mid, half = (lo + hi) / 2, (hi - lo) / 2 * widen
        lo, hi = mid - half - 1.0, mid + half + 1.0
    rng = np.random.default_rng(seed)
    rows = []
    if n_in <= 9:
        for c in range(1 << n_in):
            rows.append(np.where([(c >> i) & 1 for i in range(n_in)], hi, lo))
    else:
        for _ in range(200):
            rows.append(np.where(rng.random(n_in) < 0.5, lo, hi))
    for _ in range(200):  # faces: some coordinates at a bound
        u = lo + (hi - lo) * rng.random(n_in)
        pick = rng.random(n_in)
        rows.append(np.where(pick < 0.2, lo, np.where(pick > 0.8, hi, u)))
    if not design.inputs_fixed:  # exact ties of the input rounding, k + 1/2 ulps
        frac = np.array([f.frac_bits for f in design.inputs])
        for _ in range(100):
            u = lo + (hi - lo) * rng.random(n_in)
            t = np.ldexp(np.floor(np.ldexp(u, frac)) + 0.5, -frac)
            rows.append(np.clip(t, lo, hi))
    while len(rows) < n:
        rows.append(lo + (hi - lo) * rng.random(n_in))
    return np.clip(np.array(rows), lo, hi)


def fixed_input_mantissas(design: Design, problem: Problem, x: np.ndarray) -> np.ndarray:
    """Fixed-point inputs: the grid points nearest below x, inside the (grid) box."""
    box = network_input_box(problem)
    out = np.empty(x.shape, dtype=object)
    for k, ((a, b), f) in enumerate(zip(box, design.inputs)):
        ka = _ceil(Fraction(a) / f.ulp)
        kb = _floor(Fraction(b) / f.ulp)
        col = np.floor(np.ldexp(x[:, k], f.frac_bits))
        out[:, k] = [min(max(int(v), ka), kb) for v in col]
    return out


def _floor(q: Fraction) -> int:
    return q.numerator // q.denominator


def _ceil(q: Fraction) -> int:
    return -((-q.numerator) // q.denominator)


def write_rows(path: Path, rows) -> None:
    path.write_text("\n".join(" ".join(str(v) for v in row) for row in rows) + "\n")


def float_rows(x: np.ndarray) -> list[list[str]]:
    return [[repr(float(v)) for v in row] for row in x]


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")
