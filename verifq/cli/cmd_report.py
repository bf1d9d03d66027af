"""`verifq report CERT -o DIR`: a review report (HTML + Markdown with plots) of a certificate."""

from __future__ import annotations

from pathlib import Path

from ..certificate import checker
from ..errors import EXIT_PROVED, EXIT_VIOLATED, Location, UserError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="write a review report (HTML and Markdown with plots) of a certificate",
        description="Write DIR/report.html (self-contained, plots embedded) and DIR/report.md (plots as PNG files) "
        "describing what a certificate proves, its formats, error budget and ranges, the tightness measured by "
        "the bit-exact simulator, and how to re-check it.",
    )
    p.add_argument("certificate", help="certificate JSON")
    p.add_argument("-o", "--output", metavar="DIR", required=True, help="folder for the report files")
    p.add_argument("--spec", metavar="SPEC", help="also check that the certificate is about exactly this spec (shown as checked; "
                   "default: the spec text recorded in the certificate, shown as not checked)")
    p.add_argument("--samples", type=int, metavar="N",
                   help="random inputs to simulate (default: a size-dependent number, or the certificate's record)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the simulation (default 0)")
    p.add_argument("--code", metavar="DIR", help="folder with the generated code the certificate binds "
                   "(default: the certificate's folder)")
    p.add_argument("--no-code", action="store_true", help="check the claims without the bound generated code")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..certificate.report import build_report

    from ..outputs import check_output

    if args.code is not None and args.no_code:
        raise UserError("--code and --no-code contradict each other", hint="pass one of them")
    if args.samples is not None and args.samples < 1:
        raise UserError(f"--samples must be at least 1, not {args.samples}")
    if args.code is not None and not Path(args.code).is_dir():
        raise UserError(f"--code: {args.code} is not a folder", Location(str(args.code)),
                        hint="give the folder of the generated code the certificate binds")
    check_output(args.output, "-o", directory=True)
    try:
        written = build_report(args.certificate, args.output, spec_path=args.spec, samples=args.samples, seed=args.seed,
                               code_dir=args.code, check_code=not args.no_code)
    except checker.Malformed as exc:
        raise UserError(f"cannot read the certificate: {exc}", Location(str(args.certificate))) from None
    except OSError as exc:
        raise UserError(f"cannot write the report: {exc.strerror or exc}", Location(str(args.output))) from None
    print(f"wrote {written.html}\nwrote {written.markdown}")
    return EXIT_PROVED if written.valid else EXIT_VIOLATED
