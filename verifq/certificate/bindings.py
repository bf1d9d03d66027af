"""The generated code a certificate is bound to: `generated_code` maps each
generated file to its sha256, and `verifq check` re-hashes the files."""

from __future__ import annotations

import json
from pathlib import Path

from ..outputs import write_text_atomic
from . import checker
from .writer import problem_content
from ..errors import Location, UserError


def read_certificate_for_update(cert_path) -> dict:
    """The certificate document `update_certificate` will rewrite (read first, so that a missing or
    malformed certificate stops the command before anything is written)."""
    path = Path(cert_path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"certificate not found: {path}", Location(str(path))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read certificate: {exc}", Location(str(path))) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"certificate is not JSON: {exc.msg}", Location(str(path), exc.lineno, exc.colno)) from None
    except RecursionError:
        raise UserError("certificate is nested too deeply to be a verifq certificate", Location(str(path))) from None
    if not isinstance(doc, dict) or doc.get("format") != "verifq-certificate":
        raise UserError("not a verifq certificate", Location(str(path)),
                        hint="pass the certificate written by `verifq prove --cert` or `verifq synth --cert`")
    return doc


def update_certificate(cert_path, hashes: dict[str, str], doc: dict | None = None) -> None:
    """Add or replace the top-level "generated_code" object of a certificate JSON (atomic rewrite)."""
    doc = read_certificate_for_update(cert_path) if doc is None else doc
    doc["generated_code"] = {name: hashes[name] for name in sorted(hashes)}
    write_text_atomic(Path(cert_path), json.dumps(doc, indent=2) + "\n")


def check_certificate_matches(doc: dict, cert_path, problem, design) -> None:
    """The certificate must be about this problem and this design, or the code it binds would not be
    the code it proves (a UserError otherwise, before anything is written)."""
    content = problem_content(problem, design)
    net_sha = checker.sha256_of(content["network"])
    problem_sha = checker.sha256_of(checker.problem_hash_input(net_sha, content["domain"], content["requirements"],
                                                               content["implementation"]))
    if doc.get("problem_sha256") != problem_sha:
        raise UserError("the certificate is about another problem (network, domain, requirements or implementation)",
                        Location(str(cert_path)), hint="pass the certificate that `verifq prove --cert` wrote for this spec")
    if doc.get("formats") != content["formats"]:
        raise UserError("the certificate certifies other formats than the design code is generated for",
                        Location(str(cert_path)), hint="pass the same --formats file (or spec formats) the certificate was made for")
