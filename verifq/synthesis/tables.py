"""Lookup tables of tanh/sigmoid layers in synthesis (fixedpoint/tables.py: what a table is).

The MILP chooses the formats with a precise table on every tanh/sigmoid layer (`working_tables`:
the largest table the spec allows, entries as wide as max word allows, up to 32 bits); once a
design is proved, `shrink_tables` makes every table as small as the exact analysis still proves
(first fewer entries, then fewer entry bits), so that table memory is part of the minimised cost.
"""

from __future__ import annotations

from dataclasses import replace

from ..fixedpoint.design import Design
from ..fixedpoint.format import FixedFormat
from ..problem import SMOOTH, Problem, TableKind

ENTRY_INTEGER_BITS = 2  # entries of tanh/sigmoid lie in [-1, 1]: two integer bits (sign included) hold them
MAX_ENTRY_WIDTH = 32


def working_tables(problem: Problem) -> tuple:
    """Per layer: the most precise table the spec allows for a tanh/sigmoid layer, else None."""
    impl = problem.implementation
    if impl.tables is TableKind.IDEAL:
        return tuple(None for _ in problem.network.layers)
    width = min(impl.max_word, MAX_ENTRY_WIDTH)
    if impl.allowed_widths:
        fits = [w for w in impl.allowed_widths if w <= width]
        width = max(fits) if fits else width
    entry = FixedFormat(width, ENTRY_INTEGER_BITS)
    size = impl.max_table_size
    return tuple(impl.table(entry, size) if layer.activation in SMOOTH else None for layer in problem.network.layers)


def shrink_tables(ctx, design: Design, analysis):
    """The proved `design` with every table made smaller while the exact analysis still proves it:
    halve the entries, then drop entry bits (one at a time). Returns (design, analysis)."""
    impl = ctx.problem.implementation
    for pos, lf in enumerate(design.layers):
        table = lf.table
        if table is None:
            continue

        def attempt(candidate):
            d = design.with_tables([candidate if k == pos else l.table for k, l in enumerate(design.layers)])
            a = ctx.analyse(d)
            return (d, a) if a.proved else None

        while table.size > 2:
            found = attempt(replace(table, size=table.size // 2))
            if found is None:
                break
            (design, analysis), table = found, replace(table, size=table.size // 2)
        while table.entry.width > ENTRY_INTEGER_BITS + 1:
            narrower = FixedFormat(table.entry.width - 1, table.entry.integer_bits)
            if impl.allowed_widths and narrower.width not in impl.allowed_widths:
                break
            found = attempt(replace(table, entry=narrower))
            if found is None:
                break
            (design, analysis), table = found, replace(table, entry=narrower)
    return design, analysis
