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
            "(data/specs/) and a data file (data/raw/<survey>_<year>.sav), or "
            "of those picked with --survey and --year."
        ),
    )
    build.add_argument("--survey", help="survey id, e.g. associations")
    build.add_argument("--year", type=int, help="survey year, e.g. 2021")
    build.add_argument(
        "--jobs", type=_positive_int, default=os.cpu_count() or 1,
        help="reports built at once, one process each (default: the number of cores)",
    )
    build.add_argument(
        "--root", type=Path, default=None,
        help="project directory (default: found from the working directory)",
    )
    build.add_argument(
        "--timeout", type=float, default=None,
        help="seconds a notebook cell may run (default: no limit)",
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


def _progress(result, done: int, total: int) -> None:
    status = "ok" if result.ok else "FAILED"
    print(
        f"[{done}/{total}] {result.job.survey} {result.job.year}: {status} "
        f"({result.seconds:.1f} s)",
        file=sys.stderr,
        flush=True,
    )
    if result.ok:
        print(f"    -> {result.message}", file=sys.stderr, flush=True)


def _build(args) -> int:
    from ramlab import build

    layout = build.Layout(args.root.resolve()) if args.root else build.Layout.discover()
    jobs = build.find_jobs(layout, survey=args.survey, year=args.year)
    results = build.build(jobs, n_jobs=args.jobs, timeout=args.timeout, progress=_progress)
    failed = [result for result in results if not result.ok]
    for result in failed:
        print(f"ramlab: error: {result.message}", file=sys.stderr)
    built = len(results) - len(failed)
    print(f"ramlab build: {built} built, {len(failed)} failed", file=sys.stderr)
    return 1 if failed else 0


def _synth(args) -> int:
    from ramlab import synth

    if args.data_dir is not None:
        data_dir = args.data_dir
    else:
        from ramlab.build import Layout

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
