"""The `.nnspec` language: `load_spec(path)` / `parse_spec_text(text, path)` -> `Problem`.

Parsing (`parser`) builds a located syntax tree; elaboration (`elaborate`)
checks it and builds the `Problem`. Every mistake in the text is a
`UserError` carrying file, line and column.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import Location, UserError
from ..inputs import read_text
from .elaborate import elaborate
from .parser import parse_ast
from ..problem import CostModel, Granularity, Implementation, Problem, SynthesisOptions

__all__ = [
    "load_spec", "parse_spec_text", "load_problem_and_design", "Problem", "Implementation", "SynthesisOptions", "Granularity", "CostModel",
]


def parse_spec_text(text: str, path: str | Path = "<spec>") -> Problem:
    """Elaborate spec `text`; `path` names it in messages and anchors relative file paths."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # CR-only line ends (old Mac) are line ends too
    return elaborate(parse_ast(text, str(path)))


def load_spec(path: str | Path) -> Problem:
    """Read and elaborate a `.nnspec` file (paths in messages are shown as given)."""
    text = read_text(path, kind="spec file")
    return parse_spec_text(text, path)


def load_problem_and_design(spec: str | Path, formats: str | Path | None = None, uniform: str | None = None,
                            purpose: str = "prove"):
    """The spec's Problem and the design to work on, for every command: one format for every
    value (`uniform`, e.g. "fixed<16,6>"), a formats file written by `verifq synth`
    (`formats`), or else the spec's own formats block. A UserError when there is none."""
    from ..fixedpoint.design_io import load_design
    from ..fixedpoint.format import parse_format

    if uniform is not None and formats is not None:
        raise UserError("--uniform and --formats both give the formats", hint="pass one of them")
    problem = load_spec(Path(spec))
    if problem.quantized is not None:
        if purpose != "prove":
            raise UserError(f"cannot {purpose} an already-quantized (QONNX) network", Location(str(spec)),
                            hint="verifq proves (prove) and sizes the accumulators (synth) of QONNX networks")
        if uniform is not None or formats is not None:
            raise UserError(f"{'--uniform' if uniform is not None else '--formats'}: the network is already quantized "
                            "(QONNX); its file gives every format", hint="drop the option")
        return problem, None
    if uniform is not None:
        design = problem.implementation.uniform_design(problem.network, parse_format(uniform, "--uniform"))
    elif formats is not None:
        design = load_design(Path(formats), problem.network, problem.implementation)
        impl = problem.implementation
        for what, mine, theirs in (("rounding", impl.rounding.value, design.rounding.value),
                                   ("overflow", impl.overflow.value, design.overflow.value),
                                   ("inputs", "fixed" if impl.inputs_fixed else "real", "fixed" if design.inputs_fixed else "real")):
            if mine != theirs:
                raise UserError(f"the formats file has {what} = {theirs}, the spec's implementation {what} = {mine}",
                                Location(str(formats)),
                                hint="synthesize the formats for this spec, or make the spec's implementation block agree")
    else:
        design = problem.design
    if design is not None and (uniform is not None or formats is not None):
        bad = problem.implementation.limit_violations(design)
        if bad:
            layer, neuron, role, why = bad[0]
            where = f"input {neuron}" if layer == 0 else f"layer {layer} neuron {neuron} {role}"
            option = "--uniform" if uniform is not None else f"--formats {formats}"
            raise UserError(f"{option}: {where}: {why}" + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""),
                            Location(str(formats)) if formats is not None else None,
                            hint="use narrower formats, or raise the limit in the spec's implementation block")
    if design is None:
        raise UserError(
            f"the spec gives no formats to {purpose}", Location(str(spec)),
            hint="add a `formats { default = fixed<16,6> }` block, pass --formats FILE (written by `verifq synth -o`), "
                 "or run `verifq synth` to choose them",
        )
    return problem, design
