"""The ``ramlab`` command line.

``ramlab build``  executes the report notebooks and writes ``reports/<survey>/<year>.html``;
``ramlab synth``  writes a synthetic respondent file ``data/raw/<survey>_<year>.sav``.

Heavy libraries are imported by the subcommand that needs them, not here.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ramlab.errors import ParameterError, RamlabError

__all__ = ["main"]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _timeout(text: str) -> int:
    from ramlab.reports.execute import cell_timeout

    try:
        return cell_timeout(text)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ramlab", description="IMPACT survey reports: weighting, tables, HTML reports."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser(
        "build",
        help="execute the report notebooks and write reports/<survey>/<year>.html",
        description=(
            "Build the HTML report of every survey-year that has both a spec "
            "(data/specs/) and a data file (data/raw/<survey>_<year>.sav), plus the "
            "trends of every survey with two years or more, or those picked with "
            "--survey and --year. Reports whose inputs did not change are skipped; "
            "reports/index.html links them all."
        ),
    )
    build.add_argument(
        "--survey", action="append", default=None,
        help="survey id, e.g. associations (repeatable; default: every survey)",
    )
    build.add_argument(
        "--year", action="append", type=int, default=None,
        help="survey year, e.g. 2021 (repeatable; default: every year)",
    )
    build.add_argument(
        "--audience", choices=("partner", "internal"), default="partner",
        help="partner (default): reports/ for sharing, small bases hidden; internal: "
        "build/internal/reports/, small bases flagged and unweighted tables added",
    )
    build.add_argument(
        "--excel", action="store_true",
        help="also write each report's tables to <survey>/<year>.xlsx (one sheet per question)",
    )
    build.add_argument(
        "--pdf", action="store_true",
        help="also print each report to <survey>/<year>.pdf (A4) with headless Chromium",
    )
    build.add_argument(
        "--force", action="store_true", help="rebuild every report, changed or not",
    )
    build.add_argument(
        "--jobs", type=_positive_int, default=os.cpu_count() or 1,
        help="reports built at once, one process each (default: the number of cores)",
    )
    build.add_argument(
        "--root", type=Path, default=None,
        help="project directory (default: found from the working directory)",
    )
    build.add_argument(
        "--timeout", type=_timeout, default=None, metavar="SECONDS",
        help="seconds a notebook cell may run, a positive number, rounded up (default: no limit)",
    )

    synth = commands.add_parser(
        "synth",
        help="write the synthetic respondent file data/raw/<survey>_<year>.sav",
        description="Generate the deterministic, seeded synthetic data file of a survey-year.",
    )
    synth.add_argument("--survey", default="associations", help="survey id (default: associations)")
    synth.add_argument("--year", type=int, default=2021, help="survey year (default: 2021)")
    synth.add_argument(
        "--data-dir", type=Path, default=None,
        help="data directory (default: data/ of the project found from the working directory)",
    )
    return parser


def _build(args) -> int:
    import functools

    from ramlab.reports import build, factory

    summary = factory.build_all(
        args.root,
        surveys=args.survey,
        years=args.year,
        jobs_n=args.jobs,
        audience=args.audience,
        excel=args.excel,
        force=args.force,
        build_one=functools.partial(build.build_report, timeout=args.timeout),
    )
    if args.pdf:
        return max(summary.exit_code, _print_pdfs(summary.jobs))
    return summary.exit_code


def _print_pdfs(jobs) -> int:
    """Print every built report beside its HTML (``<survey>/<year>.pdf``); 1 on a failure.

    Without Chromium, one message says how to install it: the HTML reports are built.
    """
    from ramlab.errors import BuildError
    from ramlab.reports import page

    if page.find_chromium() is None:
        print(page.CHROMIUM_MISSING, file=sys.stderr)
        return 1
    failed = 0
    for job in jobs:
        if not job.output.is_file():
            continue
        try:
            written = page.print_pdf(job.output)
        except BuildError as exc:
            print(f"ramlab build --pdf : {exc}", file=sys.stderr)
            failed = 1
        else:
            print(f"PDF : {written}")
    return failed


def _synth(args) -> int:
    from ramlab.io import synth

    if args.data_dir is not None:
        data_dir = args.data_dir
    else:
        from ramlab.reports.layout import Layout

        data_dir = Layout.discover().data
    written = synth.generate(args.survey, args.year, data_dir=data_dir)
    if written is not None:
        print(f"ramlab synth: wrote {written}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failed, 2 bad usage)."""
    args = _parser().parse_args(argv)
    command = {"build": _build, "synth": _synth}[args.command]
    try:
        return command(args)
    except ParameterError as exc:
        print(f"ramlab: error: {exc}", file=sys.stderr)
        return 2
    except RamlabError as exc:
        print(f"ramlab: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
