"""`synthesize(problem, options) -> SynthesisResult`: minimal sound formats.

Methods:

* ``milp`` (default) at the granularity of the spec or the command line:
  ``layer`` (one format per role per layer) or ``neuron`` (per neuron; the
  per-layer optimum is computed first and kept as a candidate, so a
  per-neuron result never costs more than the per-layer one); ``uniform``
  granularity is the single-format search below;
* ``uniform``: the smallest single format fixed<W, I> for every value;
* ``aster``: Aster's per-layer scheme made sound -- one fractional-bit count
  per layer shared by weights, bias, accumulator and output, products
  rounded to it, error propagation with |W| row norms (Aster's public code
  uses signed row sums, which are not bounds).

Every answer of a solver is re-analysed exactly (`verifq.analysis.prove`);
when the exact analysis finds a violation (solver tolerances, or the
model's simplifications) the design is repaired -- integer bits where a value
overflows, fractional bits where an output bound is missed, chosen with the
float mirror of the analysis -- and re-analysed until it is proved. The
reported guarantee is always that of the exact analysis. When nothing
within the word-length limits can be proved, the result is infeasible and
carries the smallest bound the analysis certifies with max-precision formats.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Callable

import numpy as np

from ..analysis.methods import DEFAULT_ERROR_METHOD, ErrorMethod
from ..analysis.prove import Analysis
from ..engine import check_jobs, make_engine
from ..fixedpoint.design import Design
from ..problem import SMOOTH, CostModel, Granularity, Problem, SynthesisOptions, TableKind
from . import baselines
from .context import Context
from .trim import trim
from .repair import repair
from .tables import shrink_tables
from .cost import COST_LABELS, Costs
from .model import ModelConfig, SynthesisModel
from ..solvers import SolveOptions, SolveResult, solve

METHODS = ("milp", "uniform", "aster")
DEFAULT_NODE_LIMIT = 5_000  # branch-and-bound nodes per MILP solve: the deterministic limit
# HiGHS's limit checks per MILP solve (root separation rounds and restarts count, nodes alone do not):
# deterministic, like the node limit; synthesis MILPs need tens at the root and about one per node
DEFAULT_WORK_LIMIT = 20_000
DEFAULT_TIME_LIMIT = 600.0  # seconds per MILP solve: only a safety net (its expiry is reported; results then vary)


@dataclass
class SynthOptions:
    """What to synthesize and how (None: take it from the spec's synthesis block)."""

    method: str = "milp"
    granularity: Granularity | str | None = None
    cost: CostModel | str | None = None
    solver: str | None = None
    time_limit: float | None = None  # seconds per MILP solve (a safety net; the node limit decides)
    node_limit: int | None = DEFAULT_NODE_LIMIT  # branch-and-bound nodes per MILP solve (deterministic)
    work_limit: int | None = DEFAULT_WORK_LIMIT  # HiGHS's limit checks per MILP solve (deterministic)
    mip_gap: float = 0.01
    exact_ranges: bool = False  # tight per-neuron ranges by MILP (small networks)
    error_method: str | None = None  # error rule of the exact (re-)analysis (None: methods.DEFAULT_ERROR_METHOD)
    seeds: tuple = ()  # designs to keep as candidates (e.g. a per-layer result for a per-neuron run)
    progress: Callable[[str], None] | None = None
    threads: int | None = None
    calibrate: bool = False  # scale the per-neuron model's output bounds by its error on the per-layer design
    recalibrate: int | None = None  # re-solves calibrated on the last proved design (None: 4 with
    # the differential rule and no lookup tables, else 0)
    seeds_replace_layer: bool = False  # per-neuron: use the given seeds instead of running the per-layer MILP first
    refine: bool = False  # re-solve calibrated on the exact analysis (slopes, per-output scale)
    trim: bool = True  # narrow the chosen MILP design while the exact analysis proves it (trim.py)
    split: int = 1  # > 1: prove every design on at most this many input boxes (branch and bound, `prove --split`)
    jobs: int = 1  # processes analysing the boxes of a split (the result does not depend on it)

    @staticmethod
    def from_spec(spec: SynthesisOptions, **overrides) -> "SynthOptions":
        """The spec's synthesis block with the command line's overrides (None: not given), checked."""
        from ..errors import UserError

        limit, nodes, gap = overrides.get("time_limit"), overrides.get("node_limit"), overrides.get("mip_gap")
        if limit is not None and not 0 < limit < 1e9:
            raise UserError(f"--time-limit must be a positive number of seconds, not {limit}")
        if nodes is not None and nodes < 1:
            raise UserError("--node-limit must be at least 1")
        if gap is not None and not 0 <= gap < 1:  # (NaN fails this too)
            raise UserError("--gap must be in [0, 1)")
        if overrides.get("jobs") is not None:
            check_jobs(overrides["jobs"])
        opts = SynthOptions(granularity=spec.granularity, cost=spec.cost, solver=spec.solver, time_limit=spec.time_limit)
        return replace(opts, **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class Attempt:
    label: str
    design: Design | None
    analysis: Analysis | None
    solve: SolveResult | None = None
    repairs: list[str] = field(default_factory=list)
    model_size: str = ""
    seconds: float = 0.0
    messages: list[str] = field(default_factory=list)


@dataclass
class SynthesisResult:
    problem: Problem
    method: str
    granularity: str
    cost_model: CostModel
    feasible: bool
    design: Design | None
    analysis: Analysis | None  # the exact analysis of `design` (the guarantee)
    costs: Costs | None
    source: str  # which attempt produced the design
    solver: str | None
    solver_status: str  # optimal | feasible (time limit, best found) | infeasible | n/a ...
    gap: float | None
    objective: float | None
    repairs: list[str]
    attempts: list[Attempt]
    achievable: tuple[Fraction, ...] | None = None  # smallest certifiable bound per output (infeasible runs)
    reason: str | None = None
    messages: list[str] = field(default_factory=list)
    seconds: float = 0.0
    analyses: int = 0
    range_report: dict | None = None
    achievable_finest: tuple[Fraction, ...] | None = None  # the same with per-neuron max-precision formats

    @property
    def certified_errors(self) -> tuple[Fraction, ...] | None:
        return None if self.analysis is None else self.analysis.output_errors

    @property
    def max_certified_error(self) -> Fraction | None:
        errs = self.certified_errors
        return None if not errs else max(errs)


# ----------------------------------------------------------------------------------------- runs
FOCUS_MIN_BINARIES = 1500  # larger models are solved on candidates near the LP relaxation's support


def _prepare(model: SynthesisModel, lm, seed: Design | None, time_limit: float):
    """LP relaxation (a valid lower bound), an incumbent (the cheaper of the seed design and
    the rounded relaxation) and, for large models, candidate sets focused around the relaxation.
    Returns (initial point or None, LP bound or None, number of candidates switched off)."""
    cands = []
    if seed is not None:
        ch = model.choices_from_design(seed)
        x = model.point(ch) if ch is not None else None
        if x is not None:
            cands.append((x, ch))
    lp = solve(lm, SolveOptions("highs", time_limit, relax=True))
    bound = lp.objective if lp.status == "optimal" else None
    if lp.has_solution:
        r = model.rounded_point(lp.x)
        if r is not None:
            cands.append(r)
    cost = lm.arrays()[2]
    best = min(cands, key=lambda xc: float(cost @ xc[0])) if cands else None
    off = 0
    n_bin = int(lm.arrays()[3].sum())
    if lp.has_solution and n_bin > FOCUS_MIN_BINARIES:
        off = model.focus(lp.x, best[1] if best else None)
    return (best[0] if best else None), bound, off


def _solve_milp(lm, opts: SynthOptions, solver: str, time_limit, initial) -> SolveResult:
    """One synthesis MILP solve with the options' gap, threads and deterministic node and work limits."""
    return solve(lm, SolveOptions(solver, time_limit, opts.mip_gap, opts.threads, initial,
                                  node_limit=opts.node_limit, work_limit=opts.work_limit))


def _run_milp(ctx: Context, cfg: ModelConfig, label: str, opts: SynthOptions, solver: str, time_limit: float,
              seed: Design | None = None, calibrate: Analysis | None = None) -> Attempt:
    """Build, solve, decode and repair one MILP configuration (retrying once with wider candidate sets)."""
    t0 = time.perf_counter()
    problem = ctx.problem
    attempt = Attempt(label, None, None)
    res = None
    model = None
    # attempts: as built; with wider candidate sets; calibrated on the most precise design's exact
    # analysis (when the model, an over-approximation, finds nothing at all)
    plan = [(0, seed, calibrate), (4, seed, calibrate)]
    if calibrate is None:
        plan.append((0, "reference", "reference"))
    for widen, sd, cal in plan:
        if sd == "reference":
            sd, cal = baselines.reference(ctx, with_design=True)
            if not cal.proved:
                break
        c = replace(cfg, domain_widen=widen, seed=sd)
        model = SynthesisModel(problem, ctx.ranges, ctx.x_lo, ctx.x_hi, c)
        lm = model.build()
        attempt.model_size = lm.size_text()
        attempt.messages += [m for m in model.messages if m not in attempt.messages]
        ctx.say(f"{label}: MILP with {attempt.model_size}")
        if sd is not None and cal is not None:
            scale = model.calibrate(sd, cal)
            if scale and max(scale.values()) > 1.0:
                ctx.say(f"{label}: output bounds scaled x{min(scale.values()):.2f}..{max(scale.values()):.2f} "
                        "(the model's over-estimate of the exact analysis on a reference design)")
        initial, lp_bound, off = _prepare(model, lm, sd, time_limit)
        if off:
            ctx.say(f"{label}: {off} candidates far from the LP relaxation switched off")
        res = _solve_milp(lm, opts, solver, time_limit, initial)
        if off and res.has_solution and lp_bound is not None:
            # the relaxation of the full model is the honest lower bound
            res.bound = min(res.bound if res.bound is not None else lp_bound, lp_bound)
            res.gap = max(0.0, (res.objective - res.bound) / max(abs(res.objective), 1e-9))
            if res.status == "optimal" and res.gap > opts.mip_gap:
                res.status = "feasible"
                res.messages.append(f"optimal on the focused candidate sets; gap to the full relaxation {100 * res.gap:.2f}%")
        attempt.solve = res
        attempt.messages += res.messages
        for msg in res.messages:
            ctx.say(msg)
        ctx.say(f"{label}: {res.describe()} in {res.seconds:.2f} s")
        if res.time_limited:
            note = (f"{label}: the time limit (a safety net) stopped the solver before its node limit: this "
                    "result depends on the machine's speed and load")
            attempt.messages.append(note)
            ctx.say(note)
        if res.has_solution or res.status != "infeasible":
            break
    if res is not None and res.has_solution:
        choices = model.choices_from_solution(res.x)
        design, a, notes = repair(ctx, model, choices)
        attempt.design, attempt.analysis, attempt.repairs = design, a, notes
        if design is None:
            attempt.messages.append("the MILP's answer could not be repaired into a proved design")
            ctx.say(f"{label}: {attempt.messages[-1]}")
        elif notes:
            ctx.say(f"{label}: repaired after exact re-analysis ({'; '.join(notes[:3])}{' ...' if len(notes) > 3 else ''})")
        if design is not None and _recalibrations(ctx, opts):
            _recalibrate(ctx, cfg, label, opts, solver, time_limit, attempt, _recalibrations(ctx, opts))
        if attempt.design is not None and opts.refine:
            _refine(ctx, cfg, label, opts, solver, time_limit, attempt, model)
    attempt.seconds = time.perf_counter() - t0
    return attempt


def _differential(ctx: Context) -> bool:
    return ErrorMethod(ctx.error_method or DEFAULT_ERROR_METHOD) is ErrorMethod.DIFFERENTIAL


def _recalibrations(ctx: Context, opts: SynthOptions) -> int:
    """Calibrated re-solves: none with lookup tables by default (their shrinking, after the MILP, turns the
    slack into far more table bits than the re-solves save in formats; synth_differential.md)."""
    if opts.recalibrate is not None:
        return opts.recalibrate
    return 4 if _differential(ctx) and not any(t is not None for t in ctx.tables) else 0


def _recalibrate(ctx: Context, cfg: ModelConfig, label: str, opts: SynthOptions, solver: str, time_limit: float,
                 attempt: Attempt, rounds: int) -> None:
    """Solve again with the model's output bounds scaled by its over-estimate of the exact analysis on
    the last proved design (`SynthesisModel.calibrate`; the factor f, or f**t after a failed try: t
    halves), while that design leaves slack: the differential rule certifies much less than the
    first-order model predicts. At most `rounds` solves. Every answer is repaired by the exact
    analysis (so sound whatever the scale); a new design is kept only when it is proved and cheaper."""
    t = 1.0
    for _ in range(rounds):
        a = attempt.analysis
        slack = [float(e / b) for e, b in zip(a.output_errors, ctx.problem.max_error) if b is not None and b > 0]
        if not slack or max(slack) > 0.95 or t < 0.2:
            return
        model = SynthesisModel(ctx.problem, ctx.ranges, ctx.x_lo, ctx.x_hi, replace(cfg, seed=attempt.design))
        lm = model.build()
        scale = model.calibrate(attempt.design, a)
        if not scale or max(scale.values()) <= 1.0:
            return
        if t < 1.0:  # a gentler scale: as if the analysis certified actual * f**(1 - t)
            errs = [e * Fraction(scale.get(o, 1.0) ** (1.0 - t)) for o, e in enumerate(a.output_errors)]
            scale = model.calibrate(attempt.design, _Errors(tuple(errs)))
        initial, _, _ = _prepare(model, lm, attempt.design, time_limit)
        res = _solve_milp(lm, opts, solver, time_limit, initial)
        design, a2, notes = repair(ctx, model, model.choices_from_solution(res.x)) if res.has_solution else (None, None, [])
        old = ctx.costs(attempt.design).get(cfg.cost)
        new = None if design is None else ctx.costs(design).get(cfg.cost)
        if new is None or new >= old:
            ctx.say(f"{label}: re-solved calibrated on the exact analysis (x{max(scale.values()):.2f}): "
                    + ("no proved design" if new is None else f"cost {new}, not below {old}")
                    + (f" after repair ({len(notes)} steps)" if notes else ""))
            t /= 2
            continue
        ctx.say(f"{label}: re-solved calibrated on the exact analysis (x{max(scale.values()):.2f}), cost {old} -> {new}")
        attempt.design, attempt.analysis = design, a2
        attempt.repairs = attempt.repairs + notes


@dataclass
class _Errors:
    output_errors: tuple  # what `SynthesisModel.calibrate` reads of an analysis


def _analysis_slopes(a: Analysis):
    """The slope intervals the exact analysis found (first-order rule), as floats per layer."""
    er = getattr(a, "error_result", None)
    hints = getattr(er, "hints", None)
    if not hints:
        return None
    from ..numeric import scaled

    return [(scaled.to_float_array(h.s_lo), scaled.to_float_array(h.s_hi)) for h in hints]


def _refine(ctx: Context, cfg: ModelConfig, label: str, opts: SynthOptions, solver: str, time_limit: float,
            attempt: Attempt, model: SynthesisModel, rounds: int = 2) -> None:
    """Calibrate the model on the exact analysis and solve again: the slopes the analysis found
    replace the model's a-priori ones, and each output bound is scaled by how much the model
    over-estimated that output's error. Keep the new design when it is proved and cheaper."""
    cost_model = cfg.cost
    for k in range(rounds):
        a = attempt.analysis
        err, _ = model.evaluate(model.choices_from_design(attempt.design) or model.least_precise_choices())
        actual = np.array([float(e) for e in a.output_errors])
        scale = {}
        for o, e in enumerate(model.eps):
            if e is None or actual[o] <= 0:
                continue
            scale[o] = float(min(4.0, max(1.0, e / actual[o] * 0.995)))
        slopes = _analysis_slopes(a)
        if not scale or max(scale.values()) < 1.02:
            return
        c = replace(cfg, seed=attempt.design, slopes=slopes, weight_floor=attempt.design)
        try:
            m2 = SynthesisModel(ctx.problem, ctx.ranges, ctx.x_lo, ctx.x_hi, c)
        except Exception as exc:  # noqa: BLE001 - refinement is optional
            attempt.messages.append(f"refinement skipped: {exc}")
            return
        lm = m2.build()
        initial, _, _ = _prepare(m2, lm, attempt.design, time_limit)
        res = _solve_milp(lm, opts, solver, time_limit, initial)
        if not res.has_solution:
            return
        design, a2, notes = repair(ctx, m2, m2.choices_from_solution(res.x))
        if design is None:
            return
        old, new = ctx.costs(attempt.design).get(cost_model), ctx.costs(design).get(cost_model)
        if new >= old:
            return
        ctx.say(f"{label}: calibrated on the exact analysis, cost {old} -> {new}")
        attempt.design, attempt.analysis = design, a2
        attempt.repairs = attempt.repairs + notes
        attempt.solve = res if attempt.solve is None else attempt.solve
        model = m2


def choose_checkpoints(ctx: Context) -> tuple:
    """Levels where the exact analysis stops its backward passes (read off the analysis of the
    most precise design): the model then certifies those layers' error intervals as variables,
    as the analysis does, instead of propagating first-order terms through the whole network."""
    if len(ctx.problem.network.layers) < 3:
        return ()
    ref = baselines.reference(ctx)
    if ref.split_info:  # a split analysis keeps its hints per box: read the whole box's (the model's own box)
        ref = ref.split_info["root"]
    er = getattr(ref, "error_result", None)
    hints = getattr(er, "hints", None)
    if not hints:
        return ()
    levels = []
    layer = len(hints)  # 1-based layer whose rows we follow
    while layer > 1:
        h = hints[layer - 1]
        depths = np.concatenate([np.asarray(h.depth_hi), np.asarray(h.depth_lo)]).astype(int)
        c = int(np.bincount(depths).argmax())
        if c <= 0 or c >= layer:
            break
        levels.append(c)
        layer = c
    return tuple(sorted(levels))


def _run_uniform(ctx: Context) -> Attempt:
    t0 = time.perf_counter()
    design, a, notes = baselines.uniform_search(ctx)
    ctx.say("uniform: " + (f"{design.layers[0].weight[0]} everywhere" if design else "; ".join(notes)))
    return Attempt("uniform", design, a, None, [], "", time.perf_counter() - t0, notes)


def _granularity(g) -> str:
    if g is None:
        return "layer"
    return Granularity(g).value if not isinstance(g, Granularity) else g.value


def _fits_granularity(design: Design, gran: str) -> bool:
    if gran == "neuron":
        return True
    for fm in design.layers:
        for _, fmts in fm.roles():
            if len(set(fmts)) > 1:
                return False
    if len(set(design.inputs)) > 1:
        return False
    if gran == "uniform":
        allf = set(design.inputs)
        for fm in design.layers:
            for _, fmts in fm.roles():
                allf |= set(fmts)
        return len(allf) == 1
    return True


def synthesize(problem: Problem, options: SynthOptions | SynthesisOptions | None = None) -> SynthesisResult:
    if options is None:
        options = SynthOptions.from_spec(problem.synthesis)
    elif isinstance(options, SynthesisOptions):
        options = SynthOptions.from_spec(options)
    with make_engine(options.jobs) as engine:  # (a pool starts its processes only when a split submits boxes)
        if options.split > 1 and not options.seeds:
            # the whole box's design first (seconds, next to a split run's minutes): a design the whole box
            # proves, every split proves too, so as a seed it keeps --split from ever choosing a costlier one
            whole = _synthesize(problem, replace(options, split=1), engine)
            if whole.feasible:
                result = _synthesize(problem, replace(options, seeds=(whole.design,)), engine)
                result.seconds, result.analyses = result.seconds + whole.seconds, result.analyses + whole.analyses
                return result
        return _synthesize(problem, options, engine)


def _synthesize(problem: Problem, options: SynthOptions, engine) -> SynthesisResult:
    t_start = time.perf_counter()
    spec = problem.synthesis
    method = options.method
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    gran = _granularity(options.granularity if options.granularity is not None else spec.granularity)
    cost_model = CostModel(options.cost if options.cost is not None else spec.cost)
    solver = options.solver or spec.solver or "highs"
    time_limit = options.time_limit if options.time_limit is not None else (spec.time_limit or DEFAULT_TIME_LIMIT)
    if method == "uniform":
        gran = "uniform"
    elif method == "aster":
        gran = "layer"

    range_report = None
    ctx = Context.create(problem, "milp" if options.exact_ranges else None, options.progress, options.error_method,
                         options.split, engine)
    if options.exact_ranges:
        range_report = ctx.range_report()
        for row in range_report["layers"]:
            ctx.say(f"exact ranges, layer {row['layer']}: interval ranges {row['interval_width_ratio']:.2f}x, "
                    f"symbolic {row['symbolic_width_ratio']:.2f}x as wide"
                    + (f"; stable ReLUs {row.get('interval_stable')} / {row.get('symbolic_stable')} / {row['stable']} "
                       f"(interval / symbolic / exact)" if "stable" in row else ""))
    attempts: list[Attempt] = []
    for k, seed in enumerate(options.seeds):
        a = ctx.analyse(seed)
        if a.proved and _fits_granularity(seed, gran):
            attempts.append(Attempt(f"seed {k + 1}", seed, a))

    need_ckpts = gran != "uniform" and not (gran == "neuron" and options.seeds_replace_layer and
                                            any(at.label.startswith("seed") for at in attempts))
    ckpts = choose_checkpoints(ctx) if need_ckpts else ()
    if ckpts:
        ctx.say(f"error checkpoints at layer{'s' * (len(ckpts) > 1)} {', '.join(map(str, ckpts))} (as the exact analysis)")
    if gran == "uniform":
        attempts.append(_run_uniform(ctx))
    elif method == "aster":
        cfg = ModelConfig("layer", tied=True, exact_accumulation=False, cost=cost_model, checkpoints=ckpts, tables=ctx.tables)  # products rounded, as Aster
        attempts.append(_run_milp(ctx, cfg, "aster (sound, per layer)", options, solver, time_limit))
    else:
        exact = cost_model is not CostModel.TOTAL_BITS
        given = [at for at in attempts if at.label.startswith("seed")]
        if gran == "neuron" and options.seeds_replace_layer and given:
            # the caller already has a per-layer (or coarser) design: seed the per-neuron run with it
            layer_att = min(given, key=lambda at: ctx.costs(at.design).get(cost_model))
        else:
            layer_att = _run_milp(ctx, ModelConfig("layer", cost=cost_model, exact_accumulation=exact, checkpoints=ckpts, tables=ctx.tables),
                                  "per-layer", options, solver, time_limit)
            attempts.append(layer_att)
        if gran == "neuron":
            seed = layer_att.design if layer_att.design is not None else None
            # per neuron: the fast full-depth knapsack, calibrated on the per-layer design's exact analysis
            attempts.append(_run_milp(ctx, ModelConfig("neuron", cost=cost_model, exact_accumulation=exact, tables=ctx.tables), "per-neuron",
                                      options, solver, time_limit, seed=seed,
                                      calibrate=layer_att.analysis if (seed is not None and options.calibrate) else None))

    proved = [at for at in attempts if at.design is not None and at.analysis is not None and at.analysis.proved]
    primary = [at for at in attempts if not at.label.startswith("seed")]
    last_solve = next((at.solve for at in reversed(primary) if at.solve is not None), None)
    messages = [m for at in attempts for m in at.messages]
    if not proved:
        # nothing proved: either the request is infeasible within the limits, or the model failed
        ref_gran = "layer" if gran == "layer" else "neuron"
        ref_design, ref = baselines.max_precision(ctx, ref_gran) if ref_gran == "layer" else baselines.reference(ctx, with_design=True)
        if gran == "uniform" and ctx.uniform_best is not None:
            ref_design, ref = ctx.uniform_best.design, ctx.uniform_best
        if ref.proved and gran != "uniform":
            att = Attempt("max-precision fallback", ref_design, ref)
            att.messages.append("the MILP gave no proved design; the max-precision design is proved and used")
            ctx.say(att.messages[-1])
            attempts.append(att)
            proved = [att]
            messages += att.messages
        else:
            finest = baselines.reference(ctx)
            reason = _infeasible_reason(ctx, ref, gran, finest)
            return SynthesisResult(
                problem, method, gran, cost_model, False, None, None, None, "none",
                last_solve.solver if last_solve else None,
                last_solve.status if last_solve else "n/a", last_solve.gap if last_solve else None,
                last_solve.objective if last_solve else None, [], attempts, ref.output_errors, reason, messages,
                time.perf_counter() - t_start, ctx.analyses, range_report, finest.output_errors,
            )
    scored = [(ctx.costs(at.design), at) for at in proved]
    scored.sort(key=lambda ca: (ca[0].get(cost_model), ca[0].total_bits, _rank(ca[1], primary)))
    costs, best = scored[0]
    if options.trim and method == "milp" and gran in ("layer", "neuron") and all(lf.table is None for lf in best.design.layers):
        design, analysis, used = trim(ctx, best.design, best.analysis, cost_model, gran)
        if design is not best.design:
            trimmed = ctx.costs(design)
            messages.append(f"trimmed: {COST_LABELS[cost_model]} {costs.get(cost_model)} -> {trimmed.get(cost_model)} by "
                            f"narrowing formats while the exact analysis proves the design ({used} analyses)")
            ctx.say(messages[-1])
            best.design, best.analysis, costs = design, analysis, trimmed
    if any(lf.table is not None for lf in best.design.layers):
        design, analysis = shrink_tables(ctx, best.design, best.analysis)
        if design is not best.design:
            best.design, best.analysis = design, analysis
            costs = ctx.costs(design)
            ctx.say("tables: " + "; ".join(f"layer {i} {lf.table}" for i, lf in enumerate(design.layers, 1)
                                           if lf.table is not None))
    if best not in primary[-1:] and primary and primary[-1].design is not None:
        messages.append(f"kept the {best.label} design: it costs no more than the {primary[-1].label} result "
                        f"({COST_LABELS[cost_model]} {costs.get(cost_model)} vs {ctx.costs(primary[-1].design).get(cost_model)})")
        ctx.say(messages[-1])
    status = "n/a"
    gap = obj = None
    solver_used = None
    src_solve = best.solve or last_solve
    if src_solve is not None:
        status, gap, obj, solver_used = src_solve.status, src_solve.gap, src_solve.objective, src_solve.solver
    return SynthesisResult(
        problem, method, gran, cost_model, True, best.design, best.analysis, costs, best.label, solver_used, status, gap, obj,
        best.repairs, attempts, None, None, messages, time.perf_counter() - t_start, ctx.analyses, range_report,
    )


def _rank(att: Attempt, primary: list[Attempt]) -> int:
    """Prefer the requested method's own answer on ties."""
    return 0 if primary and att is primary[-1] else 1


def _infeasible_reason(ctx: Context, ref: Analysis, gran: str, finest: Analysis) -> str:
    impl = ctx.problem.implementation
    limits = [f"max word {impl.max_word}"]
    if impl.max_accumulator:
        limits.append(f"max accumulator {impl.max_accumulator}")
    if impl.allowed_widths:
        limits.append("widths {" + ", ".join(map(str, impl.allowed_widths)) + "}")
    if impl.tables is TableKind.HLS4ML and any(l.activation in SMOOTH for l in ctx.problem.network.layers):
        limits.append(f"max table size {impl.max_table_size} (tanh/sigmoid lookup tables: a larger "
                      "`max table size` may help)")
    lim = ", ".join(limits)
    over = [v for v in ref.violations if v.kind != "error"]
    if over:
        v = over[0]
        return (f"no design within {lim} avoids overflow: {v.describe()} even with the most integer bits the "
                f"limits allow")
    eps = ctx.problem.max_error
    worst = max(range(len(ref.output_errors)), key=lambda o: float(ref.output_errors[o] / eps[o]) if eps[o] else -1)
    what = {"uniform": "a single format", "layer": "per-layer formats", "neuron": "per-neuron formats"}[gran]
    text = (f"the required bound {float(eps[worst]):.3g} on output {worst} is below what {what} can be certified "
            f"to within {lim}: the most precise ones give {float(ref.output_errors[worst]):.4g}")
    if finest is not ref and finest.proved is False:
        text += f" (per-neuron: {float(max(finest.output_errors)):.4g})"
    elif finest is not ref:
        text += "; per-neuron formats can meet it (--granularity neuron)"
    return text
