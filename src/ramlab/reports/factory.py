"""The report factory: every survey-year and trend of the IMPACT studies in one command.

:func:`build_all` is ``ramlab build``. It chains the factory's modules:

1. :func:`ramlab.reports.jobs.plan` lists the jobs: every survey-year with
   both a spec and a data file, plus one trends job per survey with two
   years or more;
2. :mod:`ramlab.reports.fingerprints` hashes each job's inputs; a job whose
   fingerprint matches the manifest (``build/manifest.json``) and whose
   report exists is skipped, before anything heavy is imported;
3. :func:`ramlab.reports.pool.run` builds the other jobs in parallel, one
   process per job (:func:`ramlab.reports.build.build_report` in each), with a
   progress display; a failing job does not stop the others;
4. :func:`ramlab.reports.keyfigures.change_lines` says which published key
   figures changed since the last build;
5. :func:`ramlab.reports.index.write_index` writes ``reports/index.html``.

Example::

    from ramlab.reports import factory
    summary = factory.build_all(root, surveys=["associations"], jobs_n=2)
    summary.exit_code      # 0, or 1 when a report failed

This module imports only the standard library and light ramlab modules at
import time. papermill, nbconvert and the scientific stack are imported in the
worker processes only, so that an unchanged rebuild takes well under 2 s.
"""
from __future__ import annotations

import datetime as _dt
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ramlab.errors import BuildError
from ramlab.files import remove_leftovers
from ramlab.format import fmt_seconds
from ramlab.reports import keyfigures
from ramlab.reports.fingerprints import (
    MANIFEST_NAME, inputs_digests, inputs_hash, is_current, load_manifest, manifest_lock, reasons,
    record_build,
)
from ramlab.reports.execute import remove_stale_ipython_dirs
from ramlab.reports.index import write_index
from ramlab.reports.jobs import longest_first, plan
from ramlab.reports.layout import Layout, audience_dirs
from ramlab.reports.pool import BUILD_ONE, JobResult, run

__all__ = ["CHECK_PARAMETERS", "BuildSummary", "build_all"]

#: Default parameter check, resolved lazily in a worker ("module:function").
CHECK_PARAMETERS = "ramlab.reports.parameters:check_parameters"

# The whole build


@dataclass
class BuildSummary:
    """What ``ramlab build`` did.

    Attributes
    ----------
    jobs : list of Job
        Every planned job.
    results : list of JobResult
        The jobs that ran.
    skipped : list of Job
        The jobs whose inputs had not changed.
    changes : list of str
        Key-figure changes since the last build (French lines).
    index : Path or None
        The index page.
    seconds : float
        Wall time of the whole build.
    """

    jobs: list
    results: list
    skipped: list
    changes: list
    index: Path | None
    seconds: float

    @property
    def failed(self) -> list:
        return [result for result in self.results if not result.ok]

    @property
    def exit_code(self) -> int:
        """0 when every job was built or skipped, 1 when one failed."""
        return 1 if self.failed else 0


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def build_all(
    root=None, *, surveys=None, years=None, jobs_n: int | None = None, audience: str = "partner",
    excel: bool = False, force: bool = False, build_one=BUILD_ONE, check=CHECK_PARAMETERS,
    progress: bool = True, stream=None, reports_dir=None, build_dir=None,
) -> BuildSummary:
    """Build the production: plan, skip what is unchanged, run the rest, report, index.

    Parameters
    ----------
    root : path, optional
        The project directory (default: found from the working directory).
    surveys, years, audience, excel, reports_dir, build_dir :
        As :func:`ramlab.reports.jobs.plan`.
    jobs_n : int, optional
        Jobs at once (default: the number of cores).
    force : bool
        Build every planned job, changed or not.
    build_one, check, progress :
        As :func:`ramlab.reports.pool.run`.
    stream : file, optional
        Where messages go (default: sys.stdout).

    Returns
    -------
    BuildSummary
        Its ``exit_code`` is the command's: 0, or 1 when a job failed.

    Raises
    ------
    ParameterError
        When a job's parameters do not match its notebook: nothing was built.
    BuildError
        When nothing matches `surveys` / `years`.
    """
    start = time.perf_counter()
    out = stream or sys.stdout
    layout = Layout.discover() if root is None else Layout(Path(root).resolve())
    default_reports, default_build = audience_dirs(layout.root, audience)
    reports_dir = Path(reports_dir) if reports_dir is not None else default_reports
    build_dir = Path(build_dir) if build_dir is not None else default_build
    jobs = plan(
        layout.root, surveys=surveys, years=years, audience=audience, excel=excel,
        reports_dir=reports_dir, build_dir=build_dir,
    )
    _prepare_directories([reports_dir, build_dir], existing={job.output.parent for job in jobs})
    manifest_path = build_dir / MANIFEST_NAME
    records = load_manifest(manifest_path)["records"]
    earlier = bool(records) or any(job.output.is_file() for job in jobs)
    cache: dict = {}  # the digests of this build's inputs, as they were before it ran
    todo, skipped = _triage(jobs, records, force=force, cache=cache)

    def say(line: str) -> None:
        if progress:
            print(line, file=out, flush=True)

    _say_plan(say, jobs, todo, skipped)
    recorder = _Recorder(records, manifest_path, cache, root=layout.root, say=say)
    results = run(
        longest_first([job for job, _ in todo], records), jobs_n=jobs_n, build_one=build_one,
        check=check, progress=progress, stream=out, on_result=recorder,
    ) if todo else []
    position = {job.key: index for index, job in enumerate(jobs)}
    results.sort(key=lambda result: position[result.job.key])

    with manifest_lock(manifest_path, say=say):  # with the records of builds run meanwhile
        current = load_manifest(manifest_path)["records"]
        index = write_index(reports_dir, _index_entries(current, layout.root, reports_dir))

    summary = BuildSummary(
        jobs=jobs, results=results, skipped=skipped, changes=recorder.changes, index=index,
        seconds=time.perf_counter() - start,
    )
    _say_outcome(summary, say, compared=bool(recorder.compared), earlier=earlier,
                 root=layout.root, failures=out if progress else sys.stderr)
    return summary


def _prepare_directories(directories, *, existing=()) -> None:
    """Create the build's output directories, check that they can be written, clear leftovers.

    `existing` are checked too when they exist (a survey's report directory).

    Raises
    ------
    BuildError
        Naming the first directory that cannot be created or written
        (read-only, no permission), before any job runs.
    """
    checked = set(map(Path, directories)) | {Path(d) for d in existing if Path(d).is_dir()}
    for directory in sorted(checked):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            handle, probe = tempfile.mkstemp(dir=directory, prefix=".ramlab-write-probe-")
            os.close(handle)
            os.unlink(probe)
        except OSError as exc:
            raise BuildError(
                f"cannot write to {directory}: {exc.strerror or exc} "
                "(ramlab build writes its reports, executed notebooks and manifest there)"
            ) from None
        remove_leftovers(directory)
    remove_stale_ipython_dirs()


def _triage(jobs, records: dict, *, force: bool, cache: dict):
    """``(todo, skipped)``: the jobs to build with the French reasons, the jobs unchanged.

    A job's inputs include the files its last good build read; `cache` keeps
    the digests computed.
    """
    todo, skipped = [], []
    for job in jobs:
        record = records.get(job.key)
        digests = inputs_digests(job, cache=cache, read=_read_files(record, job.root))
        fingerprint = inputs_hash(job, digests=digests)
        if not force and is_current(job, record, fingerprint):
            skipped.append(job)
        else:
            why = ["reconstruction demandée"] if force else reasons(
                record, digests, job.output.is_file()
            )
            todo.append((job, why))
    return todo, skipped


class _Recorder:
    """Records each job built successfully in the manifest, as its result arrives.

    Each record is merged into the manifest on disk under its lock
    (:func:`ramlab.reports.fingerprints.record_build`), so that a build run
    at the same time keeps its own. Keeps the French lines of the key figures
    that changed (``changes``) since `records` (the manifest read when the
    build started) and the labels of the reports that had a previous build to
    compare with (``compared``). A failed job changes nothing: its previous
    good report and record stay.
    """

    def __init__(self, records: dict, path: Path, cache: dict, *, root: Path, say=None):
        self.records, self.path, self.cache, self.root = records, path, cache, root
        self.say = say
        self.changes: list[str] = []
        self.compared: list[str] = []

    def __call__(self, result: JobResult) -> None:
        if not result.ok:
            return
        job = result.job
        previous = self.records.get(job.key)
        before = previous.get("key_figures") if previous else None
        if before is not None:
            self.compared.append(job.label)
        self.changes.extend(keyfigures.change_lines(job.label, before, result.key_figures))
        # the files this build really read; those hashed before it ran keep that digest
        digests = inputs_digests(job, cache=self.cache, read=result.read)
        fingerprint = inputs_hash(job, digests=digests)
        self.records[job.key] = _record(result, fingerprint, digests, root=self.root)
        record_build(self.path, job.key, self.records[job.key], say=self.say)


def _record(result: JobResult, fingerprint: str, digests: dict, *, root: Path) -> dict:
    """The manifest record of a job built successfully."""
    job = result.job
    return {
        "label": job.label,
        "kind": job.kind,
        "survey": job.survey,
        "years": list(job.years),
        "title": result.title,
        "synthetic": result.synthetic,
        "hash": fingerprint,
        "inputs": digests,
        "output": os.path.relpath(job.output, root),
        "executed": os.path.relpath(job.executed, root),
        "key_figures": result.key_figures,
        "read": sorted({os.path.relpath(path, root) for path in result.read}),
        "essentiel": result.essentiel,
        "built_at": _now(),
        "seconds": round(result.seconds, 3),
        "cells_seconds": round(result.cells_seconds, 3),
    }


def _read_files(record: dict | None, root: Path) -> list[Path]:
    """The input files a job's last good build read (its manifest record's ``read``)."""
    return [root / path for path in (record or {}).get("read", [])]


def _index_entries(records: dict, root: Path, reports_dir: Path) -> list[dict]:
    """The manifest records whose report exists under `reports_dir`, as index entries."""
    entries = []
    for _key, record in sorted(records.items()):
        output = root / record["output"]
        if output.is_file() and _is_under(output, reports_dir):
            entries.append({**record, "output": output})
    return entries


def _say_plan(say, jobs, todo, skipped) -> None:
    """The opening lines of a build: counts, and why each job is built."""
    say(
        f"ramlab build : {len(jobs)} rapport{'s' if len(jobs) > 1 else ''}, "
        f"{len(todo)} à construire, {len(skipped)} inchangé{'s' if len(skipped) > 1 else ''}"
    )
    for job, why in todo:
        say(f"  {job.label} : {', '.join(why)}")


def _say_outcome(summary: BuildSummary, say, *, compared: bool, earlier: bool, root: Path,
                 failures) -> None:
    """The closing lines of a build: key-figure changes, failures, counts and the index.

    "Premier build" only when the project had no earlier build (`earlier`:
    no manifest record, no report in place) and a report was built.
    """
    built_any = len(summary.results) > len(summary.failed)
    if summary.changes:
        say("Chiffres clés modifiés depuis le dernier build :")
        for line in summary.changes:
            say(f"  {line}")
    elif compared:
        say("Aucun chiffre clé modifié depuis le dernier build.")
    elif built_any and not earlier:
        say("Premier build : chiffres clés enregistrés, sans build antérieur à comparer.")
    elif built_any:
        say("Chiffres clés enregistrés : ces rapports n'ont pas de build antérieur à comparer.")
    for result in summary.failed:
        print(f"ramlab build : ÉCHEC {result.message}", file=failures, flush=True)
    built = len(summary.results) - len(summary.failed)
    skipped = len(summary.skipped)
    index = summary.index
    say(
        f"ramlab build : {built} construit{'s' if built > 1 else ''}, "
        f"{len(summary.failed)} échec{'s' if len(summary.failed) > 1 else ''}, "
        f"{skipped} inchangé{'s' if skipped > 1 else ''} "
        f"en {fmt_seconds(summary.seconds)} ; index : "
        f"{os.path.relpath(index, root) if _is_under(index, root) else index}"
    )


def _is_under(path: Path, directory: Path) -> bool:
    try:
        Path(path).resolve().relative_to(Path(directory).resolve())
    except ValueError:
        return False
    return True
