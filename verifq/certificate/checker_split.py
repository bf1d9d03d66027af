"""Split certificates (`verifq prove --split N --cert`): the input domain was
bisected into boxes ("leaves") and each box analysed alone. The certificate
lists the bisection tree and every leaf's claims, recorded exactly as a
single-box certificate records them (SCHEMA.md, "Split certificates"). The
checker

  split tree     replays the tree from the domain: every node bisects its box
                 along one input at exact points (left half [lo, left_hi], right
                 half [right_lo, hi]), with right_lo <= left_hi (the halves meet
                 or overlap), or -- fixed-point inputs without normalization --
                 no grid point of the input's format strictly between them; a
                 missing half must contain no representable input; every node is
                 reached once and every leaf is one node of the tree, with the box
                 the replay gives. So every input of the domain (every
                 representable one, for fixed-point inputs) lies in some leaf.
  split leaf k   re-derives leaf k's claims with the single-box steps (inputs,
                 layer L constants / ranges / errors / accumulator) on its box,
                 each from the leaf's own claims of the layer before
  split whole    (when recorded) the whole box's own claims, the same way
  split hull     every combined claim (the certificate's `claims`) contains the
                 hull of the leaves' ranges and the maximum of their error bounds
                 (intersected with the whole box's claims when recorded: both hold
                 on every input); the formats contain the combined ranges. Only
                 these must fit the formats, not each box's own: every box's
                 claims of layer L assume no overflow up to layer L, and the
                 combined ranges fitting proves that, layer by layer, for every
                 input (a box's own range may be wider than the whole box's)

and the requirements and verdict are then checked on the combined claims as
for one box. Standard library only, no verifq import (see checker.py).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

try:
    from .checker_core import Invalid, Malformed, get, get_list, pow2, rat, show
except ImportError:  # run as a script next to checker_core.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from checker_core import Invalid, Malformed, get, get_list, pow2, rat, show

LOWER = ("pre_lo", "post_lo", "acc_lo", "out_lo")  # claims that are lower ends (the rest: upper ends, error bounds)
MAX_NODES = 1 << 20


def check_split(ch, prev):
    """Check a split certificate's tree, leaves and combined claims (ch: the checker.Checker of the
    whole certificate, its inputs already checked); returns the combined last-layer claims like
    Checker._layer does, for the requirements."""
    sp = get(ch.cert, "split", "certificate", dict)
    for L, r in enumerate(ch.rules):
        if r["range_rule"] != "split" or r["error_rule"] != "split":
            raise Invalid(f"layer {L + 1} rules", "a split certificate's combined claims use the rule \"split\" "
                                                  f"(found {r['range_rule']!r} / {r['error_rule']!r})")
    leaves = get_list(sp, "leaves", "split")
    boxes = _replay(ch, get_list(sp, "tree", "split"), len(leaves))
    ch.ok("split tree", f"{len(leaves)} leaves cover the domain"
                        + (" (every representable input)" if ch.inputs_fixed else ""))
    parts, worst = [], None
    for k, leaf in enumerate(leaves):
        where = f"split.leaves[{k}]"
        dom = get_list(leaf, "domain", where, len(ch.domain))
        dom = [(rat(p[0], f"{where}.domain[{i}][0]"), rat(p[1], f"{where}.domain[{i}][1]"))
               if isinstance(p, list) and len(p) == 2 else _bad(f"{where}.domain[{i}]: expected [lo, hi]")
               for i, p in enumerate(dom)]
        if dom != boxes[k]:
            i = next(i for i, (a, b) in enumerate(zip(dom, boxes[k])) if a != b)
            raise Invalid(f"split leaf {k}", f"input {i}: the leaf's domain [{show(dom[i][0])}, {show(dom[i][1])}] "
                                             f"is not the tree's box [{show(boxes[k][i][0])}, {show(boxes[k][i][1])}]")
        claims = _check_box(ch, k, dom, get(leaf, "claims", where, dict), where)
        parts.append(claims)
        bound = max(claims[-1]["err_out"])
        if worst is None or bound > worst[1]:
            worst = (k, bound)
        ch.ok(f"split leaf {k}", f"{len(ch.layers)} layers re-derived on its box; largest output error bound {show(bound)}")
    whole = None
    if "whole_box" in sp:
        whole = _check_box(ch, "whole", list(ch.domain), get(sp, "whole_box", "split", dict), "split.whole_box")
        ch.ok("split whole", "the whole box's own claims re-derived")
    ch.notes.append(f"split certificate: {len(leaves)} boxes, each re-derived; worst box {worst[0]} "
                    f"(output error bound {show(worst[1])}); --verbose lists them")
    ch.split_summary = {"leaves": len(leaves), "worst_leaf": worst[0], "worst_bound": worst[1],
                        "worst_domain": boxes[worst[0]], "branching": sp.get("branching")}
    for L, cl in enumerate(ch.claims):
        layer, fm = ch.layers[L], ch.fmts[L]
        for key, values in cl.items():
            for j in range(layer.n_out):
                vals = [p[L][key][j] for p in parts]
                need = min(vals) if key in LOWER else max(vals)
                if whole is not None:
                    need = max(need, whole[L][key][j]) if key in LOWER else min(need, whole[L][key][j])
                if (values[j] > need) if key in LOWER else (values[j] < need):
                    raise Invalid("split hull", f"layer {L + 1} neuron {j}: combined {key} {show(values[j])} is "
                                                f"tighter than the leaves give ({show(need)})")
        for j in range(layer.n_out):
            for role, lo, hi in (("accum", cl["acc_lo"][j], cl["acc_hi"][j]), ("output", cl["out_lo"][j], cl["out_hi"][j])):
                f = fm[role][j]
                if not (f.min_value <= lo and hi <= f.max_value):
                    raise Invalid("split hull", f"layer {L + 1} neuron {j}: combined {role} range [{show(lo)}, "
                                                f"{show(hi)}] does not fit {f.text}")
    ch.ok("split hull", f"the combined claims contain the hull of the {len(leaves)} leaves' claims and fit their formats")
    cl = ch.claims[-1]
    return cl["post_lo"], cl["post_hi"], cl["err_out"], cl["out_lo"], cl["out_hi"], [f.frac for f in ch.fmts[-1]["output"]]


def _check_box(ch, k, dom, claims_doc, where):
    """Re-derive one box's claims with the single-box steps; returns its per-layer claims."""
    sub = copy.copy(ch)  # the whole certificate's network, formats, options; this box's domain and claims
    sub.cert = dict(ch.cert, claims=claims_doc)
    sub.domain = dom
    sub.log, sub.details = [], []
    sub.tight_state = {key: ch.tight_state.setdefault(key, {}) for key in ("ints", "act_bounds")}  # per network
    label = f"split leaf {k}" if k != "whole" else "split whole"
    sub.formats_must_fit = False  # the combined claims must fit (split hull), each box's own need not
    try:
        sub.in_rules, sub.in_claims, sub.claims, sub.rules = sub.parse_claims(claims_doc, f"{where}.claims")
        if any(r["range_rule"] == "split" or r["error_rule"] == "split" for r in sub.rules):
            raise Invalid("rules", "a box's claims cannot themselves be split claims")
        prev = sub._inputs()
        for L in range(len(sub.layers)):
            prev = sub._layer(L, prev)
    except Invalid as exc:
        raise Invalid(f"{label} {exc.step}", exc.message) from None
    except Malformed as exc:
        raise Malformed(f"{where}: {exc}") from None
    return sub.claims


def _replay(ch, nodes, n_leaves):
    """The box of every leaf, by replaying the bisection tree from the domain (module docstring)."""
    step = "split tree"
    if not nodes or len(nodes) > MAX_NODES:
        raise Malformed(f"split.tree: expected 1 to {MAX_NODES} nodes, found {len(nodes)}")
    seen, boxes = [False] * len(nodes), [None] * n_leaves
    stack = [(0, list(ch.domain))]
    while stack:
        i, box = stack.pop()
        if type(i) is not int or not 0 <= i < len(nodes):
            raise Malformed(f"split.tree: child {i!r} is not a node index")
        if seen[i]:
            raise Invalid(step, f"node {i} is reached twice (the tree must be a tree)")
        seen[i] = True
        node, w = nodes[i], f"split.tree[{i}]"
        if not isinstance(node, dict):
            raise Malformed(f"{w}: expected an object")
        if "leaf" in node:
            k = get(node, "leaf", w, int)
            if not 0 <= k < n_leaves:
                raise Malformed(f"{w}.leaf: {k} is not a leaf index (0..{n_leaves - 1})")
            if boxes[k] is not None:
                raise Invalid(step, f"leaf {k} appears twice in the tree")
            boxes[k] = box
            continue
        d = get(node, "dim", w, int)
        if not 0 <= d < len(box):
            raise Malformed(f"{w}.dim: {d} is not an input index")
        a, b = rat(get(node, "left_hi", w, (str, int)), f"{w}.left_hi"), rat(get(node, "right_lo", w, (str, int)), f"{w}.right_lo")
        lo, hi = box[d]
        if not (lo <= a <= hi and lo <= b <= hi):
            raise Invalid(step, f"node {i}: split points {show(a)}, {show(b)} of input {d} lie outside its interval "
                                f"[{show(lo)}, {show(hi)}]")
        if b > a:  # a gap: allowed only where no input can occur
            if not ch.inputs_fixed or ch.norm is not None:
                raise Invalid(step, f"node {i}: the halves of input {d} leave the gap ({show(a)}, {show(b)}) uncovered")
            f = ch.in_fmt[d].frac
            after = a * pow2(f)
            nxt = (after.numerator // after.denominator + 1) * pow2(-f)  # the first grid point above a
            if nxt < b:
                raise Invalid(step, f"node {i}: the halves of input {d} leave {show(nxt)} (a value of "
                                    f"{ch.in_fmt[d].text}) uncovered between {show(a)} and {show(b)}")
        children = get_list(node, "children", w, 2)
        halves = (box[:d] + [(lo, a)] + box[d + 1:], box[:d] + [(b, hi)] + box[d + 1:])
        for c, half in zip(children, halves):
            if c is None:
                if not _empty(ch, half):
                    raise Invalid(step, f"node {i}: a half of input {d} is left out but contains inputs of the domain")
            else:
                stack.append((c, half))
    if not all(seen):
        raise Invalid(step, f"node {seen.index(False)} is not reached from the root")
    if None in boxes:
        raise Invalid(step, f"leaf {boxes.index(None)} is not in the tree")
    return boxes


def _empty(ch, box) -> bool:
    """Whether no input of the box can occur (fixed-point inputs: no grid point in some interval)."""
    for i, (lo, hi) in enumerate(box):
        if lo > hi:
            return True
        nlo, nhi = ch.network_interval(i, lo, hi)
        if nlo > nhi:
            return True
    return False


def _bad(msg):
    raise Malformed(msg)


__all__ = ["check_split"]
