"""Write one .nnspec per benchmark network (run from anywhere):

    python specs/generate_specs.py

Each spec loads the network, takes the box the benchmark itself states
(raw units for NNet networks), requires the Aster suite's bound (1e-3) where
the file has one, and otherwise states 1e-3 too (said in a comment), with
hls4ml-like arithmetic (truncation, wrap). No formats: `verifq synth` chooses
them, `verifq prove --uniform 'fixed<16,6>'` checks a given one. Networks
over 2 MB stay in ../shared and are referenced there.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "benchmarks" / "networks"


def exact_decimal(v: Fraction) -> str:
    """The finite decimal spelling of v (raises if v has none)."""
    v = Fraction(v)
    if v.denominator == 1:
        return str(v.numerator)
    d, k = v.denominator, 0
    while d % 10 == 0 or d % 2 == 0 or d % 5 == 0:
        if d % 10 == 0:
            d //= 10
        elif d % 2 == 0:
            d //= 2
        else:
            d //= 5
        k += 1
    if d != 1:
        raise ValueError(f"{v} has no finite decimal expansion")
    s = f"{abs(v.numerator) * 10**k // v.denominator:0{k + 1}d}"
    text = (s[:-k] + "." + s[-k:]).rstrip("0").rstrip(".")
    return ("-" if v < 0 else "") + text


def spec_for(path: Path, rel_path: str) -> str:
    meta = json.loads(path.read_text(), parse_float=str, parse_int=str)
    name = meta["name"]
    n_in = int(meta["inputs"])
    raw = meta.get("input_domain_raw") if meta.get("input_normalization") else None
    box = raw or meta.get("input_domain")
    lines = [f"# {name}: {meta['architecture']}, {meta['activations']}, {meta['parameter_count']} parameters"]
    lines.append(f"# source: {meta['source']}")
    lines.append(f"# license: {meta.get('license_note', 'not stated')}")
    if box is None:
        lines.append("# The benchmark states no input box; [-1, 1] per input is an assumption of this spec.")
        box = [["-1", "1"]] * n_in
    elif raw:
        lines.append("# Domain in the network's raw input units (verifq applies the NNet input normalization).")
    lines.append(f"# Domain source: {meta.get('input_domain_source', 'n/a')}")
    bound = meta.get("error_bound")
    if bound is None:
        lines.append("# The benchmark states no roundoff bound; this spec requires 1e-3 (Aster's default).")
        bound = "1e-3"
    lines += ["", f'network net = load "{rel_path}"', "", f"input x[{n_in}]", "domain {"]
    texts = [(exact_decimal(Fraction(lo)), exact_decimal(Fraction(hi))) for lo, hi in box]
    if len(set(texts)) == 1:
        lines.append(f"  x in [{texts[0][0]}, {texts[0][1]}]")
    else:
        lines += [f"  x[{i}] in [{lo}, {hi}]" for i, (lo, hi) in enumerate(texts)]
    lines += ["}", "", f"require error <= {bound} on all outputs", "require no overflow", "",
              "implementation {", "  rounding = truncate", "  overflow = wrap", "  max word = 32"]
    if "tanh" in meta["activations"] or "sigmoid" in meta["activations"]:
        # hls4ml's tables: bucket width and entry rounding alone exceed 1e-3 with a few thousand entries
        lines.append("  max table size = 65536  # tanh/sigmoid lookup tables synthesis may choose")
    lines += ["}", ""]
    return "\n".join(lines)


def main() -> None:
    local = HERE / "networks"
    for path in sorted(local.glob("*.json")):
        (HERE / f"{path.stem}.nnspec").write_text(spec_for(path, f"networks/{path.name}"))
    for path in sorted(SHARED.glob("*.json")):
        if not (local / path.name).exists():
            (HERE / f"{path.stem}.nnspec").write_text(spec_for(path, f"../../shared/benchmarks/networks/{path.name}"))


if __name__ == "__main__":
    main()
