"""The generated code a certificate is bound to: `generated_code` maps each
generated file to its sha256, and `verifq check` re-hashes the files."""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import write_text_atomic
from ..errors import Location, UserError


def update_certificate(cert_path: str | Path, hashes: dict[str, str]) -> None:
    """Add or replace the top-level "generated_code" object of a certificate JSON (atomic rewrite)."""
    path = Path(cert_path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"certificate not found: {path}", Location(str(path))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read certificate: {exc}", Location(str(path))) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"certificate is not JSON: {exc.msg}", Location(str(path), exc.lineno, exc.colno)) from None
    if not isinstance(doc, dict):
        raise UserError("certificate JSON is not an object", Location(str(path)))
    doc["generated_code"] = {name: hashes[name] for name in sorted(hashes)}
    write_text_atomic(path, json.dumps(doc, indent=2) + "\n")
