"""`verifq check CERT [--spec SPEC] [--code DIR] [--verbose]`: re-check a certificate.

The work is done by `verifq.certificate.checker`, which imports only the
standard library; this module only parses the command line and, with
`--spec`, loads the spec so the checker can confirm the certificate is about
exactly that spec's network, domain, requirements and options.
"""

from __future__ import annotations

from pathlib import Path

from ..certificate import checker


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "check",
        help="independently re-check a certificate (exact arithmetic, no solver)",
        description="Re-derive every claim of a verifq certificate in exact arithmetic and print one verdict "
        "line: VALID, or INVALID: <first failing step>. Exit 0 valid, 1 invalid, 2 unreadable or malformed.",
    )
    p.add_argument("certificate", help="certificate JSON written by `verifq prove --cert` or `verifq synth`")
    p.add_argument("--spec", metavar="SPEC", help="also confirm the certificate is about exactly this .nnspec")
    p.add_argument("--code", metavar="DIR", help="folder with the generated code to hash "
                   "(default: the certificate's folder)")
    p.add_argument("--no-code", action="store_true", help="check the claims alone, without the generated code the "
                   "certificate binds (by default every bound file must be present and unchanged)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every step that passed")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import UserError

    if args.code is not None and args.no_code:
        raise UserError("--code and --no-code contradict each other", hint="pass one of them")
    if args.code is not None and not args.no_code and Path(args.code).exists() and not Path(args.code).is_dir():
        raise UserError(f"--code: {args.code} is a file, not a folder", hint="give the folder of the generated code")
    spec_content = None
    if args.spec:
        from ..certificate import accumulators, writer
        from ..language import load_spec
        spec = load_spec(args.spec)  # a QONNX spec is compared with integer certificates' fields
        spec_content = writer.problem_content(spec) if spec.quantized is None else accumulators.integer_spec_content(spec)
    return checker.check_file(args.certificate, spec_content=spec_content, code_dir=args.code,
                              check_code=not args.no_code, verbose=args.verbose)
