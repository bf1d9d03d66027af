"""What every synthesis method shares: the problem, the real ranges (which do
not depend on the formats), the analysed input box, exact-analysis calls
(every call counted and timed), and the results of the searches in
`baselines.py` that several methods reuse (kept here, computed there)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..numeric import scaled
from ..analysis.methods import ErrorMethod
from ..analysis.prove import Analysis, analyse
from ..fixedpoint.design import Design
from ..fixedpoint.format import FixedFormat
from ..problem import Problem
from .cost import Costs, design_costs, nonzero_masks
from .tables import working_tables


def probe_design(problem: Problem) -> Design:
    """Any design with the problem's modes (ranges do not depend on the formats)."""
    return problem.implementation.uniform_design(problem.network, FixedFormat(48, 24)).with_tables(
        working_tables(problem))


# Synthesis analyses with the optimized lower ReLU slopes of `prove` (analysis/alpha.py, the default of
# `analyse`), so the design it proves is the design `prove` re-checks. It used DeepPoly's 0|1 slopes for a while:
# with optimized slopes the 4th calibrated re-solve of vcas pra04 (per layer) ran past HiGHS's own limits
# (> 10 min) where OpenBLAS picks its own kernels: HiGHS 1.16.0 loops in the presolve of a RENS sub-MIP, which
# solvers/highs.py now switches off (benchmarks/results/ranges_notes.md; regression test in test_synthesis_solvers).


@dataclass
class Context:
    problem: Problem
    ranges: list  # LayerRanges per layer (scaled ints)
    x_lo: np.ndarray  # analysed input box (scaled ints)
    x_hi: np.ndarray
    masks: list
    range_method: str | None = None  # None: the analysis's default; "milp": exact ranges (--exact)
    error_method: str | None = None  # None: the analysis's default (methods.DEFAULT_ERROR_METHOD)
    progress: object = None
    box: object = None  # the analysed input box (for the range report)
    analyses: int = 0
    analysis_seconds: float = 0.0
    log: list = field(default_factory=list)
    # set by baselines.py: the most precise per-neuron design and its analysis (computed once),
    # and the best single-format analysis without overflow found by the uniform search
    reference: tuple[Design, Analysis] | None = None
    uniform_best: Analysis | None = None
    tables: tuple = ()  # per layer: the working lookup table of a tanh/sigmoid layer (tables.py)
    split: int = 1  # > 1: every design is analysed by branch and bound on at most this many input boxes
    engine: object = None  # where the boxes of a split are analysed (verifq/engine.py; None: this process)
    boxes: int = 0  # box analyses run (= analyses without a split)

    @staticmethod
    def create(problem: Problem, range_method: str | None = None, progress=None,
               error_method: str | None = None, split: int = 1, engine=None) -> "Context":
        """The real ranges come from the exact analysis itself (they do not depend on the
        formats); with range_method="milp" every analysis uses the rigorous MILP ranges.
        error_method: the error rule of every exact (re-)analysis (None: the default).
        split > 1: every design is proved (and repaired, and trimmed) by `prove --split`'s branch and
        bound, which deep networks need (their whole-box bounds are far looser). The MILP still
        models the whole box, so there it is often infeasible: the max-precision fallback and the
        trim then choose the design (benchmarks/results/synth_split.md)."""
        kw = {} if range_method is None else {"range_method": range_method}
        probe = analyse(problem, probe_design(problem), **kw, error_method=ErrorMethod.L1_LOCAL)  # ranges only
        ranges = [la.ranges for la in probe.layers]
        return Context(problem, ranges, probe.input_lo, probe.input_hi, nonzero_masks(problem.network),
                       range_method, error_method, progress, probe.box, tables=working_tables(problem),
                       split=split, engine=engine)

    def analyse(self, design: Design) -> Analysis:
        t = time.perf_counter()
        kw = {} if self.range_method is None else {"range_method": self.range_method}
        if self.error_method is not None:
            kw["error_method"] = self.error_method
        if self.split > 1:
            kw.update(split=self.split, engine=self.engine)
        a = analyse(self.problem, design, **kw)
        self.analyses += 1
        self.boxes += a.split_info["analyses"] if a.split_info else 1
        self.analysis_seconds += time.perf_counter() - t
        return a

    def costs(self, design: Design) -> Costs:
        return design_costs(self.problem.network, design, self.masks)

    def say(self, text: str) -> None:
        self.log.append(text)
        if self.progress is not None:
            self.progress(text)

    def range_report(self) -> dict:
        """How far interval (and symbolic) ranges are from the ranges in use, per layer: the mean
        ratio of the widths of the pre-activation ranges, and the number of ReLUs each proves stable."""
        from ..analysis.ranges import compute_ranges
        from ..network.ir import Activation

        net = self.problem.network
        out = {"method": self.range_method or "default", "layers": []}
        others = {m: compute_ranges(net, self.box, m).layers for m in ("interval", "symbolic")}
        for i, (layer, r) in enumerate(zip(net.layers, self.ranges)):
            lo, hi = scaled.to_float_array(r.pre_lo), scaled.to_float_array(r.pre_hi)
            width = np.maximum(hi - lo, 1e-300)
            row = {"layer": i + 1, "neurons": layer.n_out}
            for m, rs in others.items():
                olo, ohi = scaled.to_float_array(rs[i].pre_lo), scaled.to_float_array(rs[i].pre_hi)
                row[f"{m}_width_ratio"] = float(np.mean((ohi - olo) / width))
                if layer.activation is Activation.RELU:
                    row[f"{m}_stable"] = int(((olo >= 0) | (ohi <= 0)).sum())
            if layer.activation is Activation.RELU:
                row["stable"] = int(((lo >= 0) | (hi <= 0)).sum())
            out["layers"].append(row)
        return out

    def float_ranges(self):
        return [
            (scaled.to_float_array(r.pre_lo), scaled.to_float_array(r.pre_hi),
             scaled.to_float_array(r.post_lo), scaled.to_float_array(r.post_hi))
            for r in self.ranges
        ]
