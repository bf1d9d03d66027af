"""The formats block of a spec: which format each stored value gets (precedence of the
entries) and the check of every chosen format against the implementation limits."""

from __future__ import annotations

from ..errors import Location, UserError
from ..fixedpoint.format import FixedFormat
from ..problem import Implementation
from .parser import Setting


def _line_of(loc: Location) -> str:
    return f"line {loc.line}" if loc.line is not None else "elsewhere"


class FormatResolver:
    """Applies the precedence of format entries and the implementation limits.

    For neuron j of layer L and role r the first entry found wins:
    `layer L neuron j r`, `layer L neuron j default`, `layer L r`,
    `layer L default`, `r`, `default`.
    """

    def __init__(self, given, impl: Implementation, block_loc: Location, input_name: str):
        self.given = given
        self.impl = impl
        self.block_loc = block_loc
        self.input_name = input_name
        self.checked: set[tuple[str, Location]] = set()

    def _check(self, fmt: FixedFormat, loc: Location, role: str) -> FixedFormat:
        if (role, loc) in self.checked:
            return fmt
        self.checked.add((role, loc))
        impl = self.impl
        bad = impl.format_limit_violation(fmt, role)
        if bad and bad[0] == "max accumulator":
            raise UserError(f"{fmt} is used for accumulators but is wider than max accumulator = "
                            f"{impl.max_accumulator}", loc, "use a narrower accum format or raise `max accumulator`")
        if bad and bad[0] == "widths":
            allowed = ", ".join(map(str, impl.allowed_widths))
            raise UserError(f"{fmt} is used for {role} values but its width {fmt.width} is not an allowed width",
                            loc, f"the implementation block allows widths {{{allowed}}}")
        return fmt

    def input_format(self, setting: Setting | None) -> FixedFormat:
        impl_fmt = self.impl.input_format
        block_input = self.given.get((None, None, "input"))
        if impl_fmt is not None:
            if block_input is not None and block_input[0] != impl_fmt:
                raise UserError(f"conflicting input formats: {block_input[0]} here but {impl_fmt} in the "
                                "implementation block", block_input[1],
                                f"`inputs = {impl_fmt}` on {_line_of(setting.loc)} already sets the input format; "
                                "give it once")
            return self._check(impl_fmt, setting.value.loc, "input")
        found = block_input or self.given.get((None, None, "default"))
        if found is None:
            raise UserError(f"no format for the inputs {self.input_name}", self.block_loc,
                            "add `input = fixed<W, I>` or `default = fixed<W, I>` to the formats block")
        return self._check(found[0], found[1], "input")

    def layer_table(self, layer: int) -> FixedFormat | None:
        """The entry format of layer `layer`'s lookup table (`layer L table`, `table`), or None (the default)."""
        for key in ((layer, None, "table"), (None, None, "table")):
            if key in self.given:
                return self.given[key][0]
        return None

    def _lookup(self, layer: int, neuron: int, role: str):
        for key in ((layer, neuron, role), (layer, neuron, "default"), (layer, None, role), (layer, None, "default"),
                    (None, None, role), (None, None, "default")):
            if key in self.given:
                return self.given[key]
        return None

    def layer_role(self, layer: int, n_out: int, role: str) -> tuple[FixedFormat, ...]:
        found = [self._lookup(layer, j, role) for j in range(n_out)]
        missing = [j for j, f in enumerate(found) if f is None]
        if missing:
            where = f"layer {layer}" if len(missing) == n_out else f"layer {layer} neuron {missing[0]}"
            raise UserError(f"no {role} format for {where}", self.block_loc,
                            f"add `{role} = fixed<W, I>`, `layer {layer} {role} = fixed<W, I>` or "
                            "`default = fixed<W, I>` to the formats block")
        return tuple(self._check(fmt, loc, role) for fmt, loc in found)
