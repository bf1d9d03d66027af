"""Network and input-box loaders: JSON (verifq/benchmark format), ONNX, NNet
and classic VNN-LIB boxes, all into the exact-rational IR.

A file that cannot be found or read is the mistake of whoever referenced it,
so that error carries the caller's `location`; a mistake inside a file
points into the file itself.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

from ...errors import Location, UserError
from ..ir import Network
from ._common import read_bytes, read_text
from .json_format import parse_json_network
from .nnet_format import parse_nnet
from .onnx_format import parse_onnx
from .vnnlib import parse_vnnlib_box

__all__ = ["load_network", "load_network_or_qonnx", "load_vnnlib_box", "load_benchmark_json", "SUPPORTED_EXTENSIONS"]

SUPPORTED_EXTENSIONS = (".json", ".onnx", ".nnet")


def load_network(path: Path | str, *, location: Location | None = None) -> Network:
    """Load a network, choosing the format by the file extension."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise UserError(
            f"unsupported network file type '{path.suffix or path.name}'",
            location or Location(str(path)),
            hint=f"verifq reads {', '.join(SUPPORTED_EXTENSIONS)} networks",
        )
    if ext == ".onnx":
        return parse_onnx(read_bytes(path, location), path)
    text = read_text(path, location)
    if ext == ".nnet":
        return parse_nnet(text, path)
    return parse_json_network(text, path)[0]


def load_network_or_qonnx(path: Path | str, *, location: Location | None = None):
    """(network, None), or for an ONNX file holding QONNX quantizers (its float reference, the
    integer network)."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        from .qonnx_format import has_quantizers, parse_qonnx

        data = read_bytes(path, location)
        if has_quantizers(data):
            qnet = parse_qonnx(data, path)
            return qnet.reference, qnet
    return load_network(path, location=location), None


def load_benchmark_json(path: Path | str, *, location: Location | None = None) -> tuple[Network, dict[str, Any]]:
    """A JSON network plus its other fields (error_bound, input_domain,
    extra_domains, ...; numbers as exact Fractions), for scripts and spec generation."""
    path = Path(path)
    return parse_json_network(read_text(path, location), path)


def load_vnnlib_box(
    path: Path | str, n_inputs: int, *, location: Location | None = None
) -> tuple[tuple[Fraction, Fraction], ...]:
    """The input box (lo, hi) of each of the n_inputs inputs in a classic VNN-LIB file."""
    path = Path(path)
    return parse_vnnlib_box(read_text(path, location, "VNN-LIB file"), path, n_inputs)
