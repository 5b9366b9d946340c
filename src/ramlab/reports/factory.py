"""The report factory: every survey-year and trend of the IMPACT studies in one command.

``ramlab build`` turns single-report builds (:mod:`ramlab.reports.build`) into the
yearly production:

1. :func:`plan` lists the jobs: every survey-year with both a spec and a data
   file, plus one trends job per survey with two years or more;
2. :func:`inputs_hash` fingerprints each job's inputs; a job whose fingerprint
   matches the manifest (``build/manifest.json``) and whose report exists is
   skipped, before anything heavy is imported;
3. :func:`run` builds the other jobs in parallel, one process per job, with a
   progress display; a failing job does not stop the others;
4. :func:`key_figure_changes` says which published key figures
   (:mod:`ramlab.reports.keyfigures`) changed since the last build;
5. :func:`write_index` writes ``reports/index.html``, linking every report.

:func:`build_all` chains them; it is what the command line calls::

    from ramlab.reports import factory
    summary = factory.build_all(root, surveys=["associations"], jobs_n=2)
    summary.exit_code      # 0, or 1 when a report failed

Each job is built by ``build_one(job)`` (default
:func:`ramlab.reports.build.build_report`) in its own process; a :class:`Job` carries
everything the builder needs (notebook, parameters, output, executed notebook,
audience, excel).

This module imports only the standard library and light ramlab modules at
import time. papermill, nbconvert and the scientific stack are imported in the
worker processes only, so that an unchanged rebuild takes well under 2 s.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import html
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from urllib.parse import quote

from ramlab.reports import _worker, keyfigures
from ramlab.reports.build import Job, Layout, write_atomic
from ramlab.errors import BuildError, ParameterError

__all__ = [
    "AUDIENCES",
    "Job",
    "JobResult",
    "BuildSummary",
    "plan",
    "audience_dirs",
    "inputs_digests",
    "inputs_hash",
    "population_files",
    "load_manifest",
    "write_manifest",
    "is_current",
    "run",
    "key_figure_changes",
    "write_index",
    "build_all",
]

#: Who a build is for: partner reports go to ``reports/``; internal ones (which
#: may show unweighted tables and small bases) to ``build/internal/reports/``,
#: so that sharing ``reports/`` can never leak them.
AUDIENCES = ("partner", "internal")
TRENDS_NOTEBOOK = "trends.ipynb"
MANIFEST_NAME = "manifest.json"
LOCK_FILE = "requirements.lock"
#: Default builder and parameter check, resolved lazily ("module:function").
BUILD_ONE = "ramlab.reports.build:build_report"
CHECK_PARAMETERS = "ramlab.reports.build:check_parameters"

_MANIFEST_FORMAT = 1


# ---------------------------------------------------------------------------
# Jobs and planning


def _as_set(values, convert):
    if values is None:
        return None
    if isinstance(values, (str, int)):
        values = [values]
    return {convert(value) for value in values}


def audience_dirs(root, audience: str = "partner") -> tuple[Path, Path]:
    """``(reports_dir, build_dir)`` of an audience.

    partner: ``reports/`` and ``build/``; internal: ``build/internal/reports/``
    and ``build/internal/``.
    """
    if audience not in AUDIENCES:
        raise BuildError(f"unknown audience {audience!r}: expected one of {', '.join(AUDIENCES)}")
    root = Path(root)
    if audience == "partner":
        return root / "reports", root / "build"
    return root / "build" / audience / "reports", root / "build" / audience


def plan(
    root,
    *,
    surveys=None,
    years=None,
    audience: str = "partner",
    excel: bool = False,
    reports_dir=None,
    build_dir=None,
) -> list[Job]:
    """List the jobs of a build.

    A report job is a survey-year with both a data file
    (``data/raw/<survey>_<year>.sav``) and a spec (:meth:`ramlab.reports.build.Layout.spec_for`); its notebook is
    ``notebooks/impact_<survey>.ipynb`` (:class:`ramlab.reports.build.Layout`). When
    ``notebooks/trends.ipynb`` exists, a survey with two such years or more
    also gets a trends job, which compares every one of its years.

    Parameters
    ----------
    root : path
        The project directory.
    surveys, years : str/int or iterable, optional
        Keep these surveys / survey-years only. A trends job is kept when its
        survey is and `years` is None or holds two of its years or more (it
        still compares all of them: a partial trend would overwrite the full one).
    audience, excel :
        Build flags, carried by every job.
    reports_dir, build_dir : path, optional
        Override :func:`audience_dirs` (the benchmark builds into a temporary
        directory).

    Returns
    -------
    list of Job
        Reports by survey then year, each survey's trends after its reports.

    Raises
    ------
    BuildError
        When `surveys` or `years` name nothing that can be built.
    """
    layout = Layout(Path(root).resolve())
    default_reports, default_build = audience_dirs(layout.root, audience)
    reports_dir = Path(reports_dir) if reports_dir is not None else default_reports
    build_dir = Path(build_dir) if build_dir is not None else default_build
    wanted_surveys = _as_set(surveys, str)
    wanted_years = _as_set(years, int)

    available = layout.survey_years()
    if wanted_surveys is not None and wanted_surveys - set(available):
        missing = ", ".join(sorted(wanted_surveys - set(available)))
        known = ", ".join(sorted(available)) or "none"
        raise BuildError(
            f"nothing to build for survey {missing}: a survey needs a data file "
            f"{layout.raw}/<survey>_<year>.sav and a spec in {layout.specs} (available: {known})"
            + _missing_files(layout, wanted_surveys - set(available), wanted_years)
        )

    data_dir = os.path.relpath(layout.data, layout.notebooks)
    trends_notebook = layout.notebooks / TRENDS_NOTEBOOK
    common = dict(root=layout.root, audience=audience, excel=bool(excel))
    jobs = []
    for survey in sorted(available):
        if wanted_surveys is not None and survey not in wanted_surveys:
            continue
        files = available[survey]
        for year in sorted(files):
            if wanted_years is not None and year not in wanted_years:
                continue
            data, spec = files[year]
            jobs.append(
                Job(
                    kind="report",
                    survey=survey,
                    years=(year,),
                    notebook=layout.notebook_for(survey),
                    output=reports_dir / survey / f"{year}.html",
                    executed=build_dir / "executed" / f"{survey}_{year}.ipynb",
                    data=(data,),
                    specs=(spec,),
                    parameters=_report_parameters(
                        layout, survey, year, data_dir=data_dir, audience=audience,
                        workbook=reports_dir / survey / f"{year}.xlsx" if excel else None,
                    ),
                    **common,
                )
            )
        all_years = sorted(files)
        picked = all_years if wanted_years is None else [y for y in all_years if y in wanted_years]
        if len(all_years) >= 2 and len(picked) >= 2 and trends_notebook.is_file():
            jobs.append(
                Job(
                    kind="trends",
                    survey=survey,
                    years=tuple(all_years),
                    notebook=trends_notebook,
                    output=reports_dir / survey / "trends.html",
                    executed=build_dir / "executed" / f"{survey}_trends.ipynb",
                    data=tuple(files[y][0] for y in all_years),
                    specs=tuple(files[y][1] for y in all_years),
                    parameters={"survey": survey, "years": all_years, "data_dir": data_dir},
                    **common,
                )
            )
    if not jobs:
        wanted = ", ".join(
            part for part in (
                wanted_surveys and "survey " + " ".join(sorted(wanted_surveys)),
                wanted_years and "year " + " ".join(map(str, sorted(wanted_years))),
            ) if part
        )
        raise BuildError(
            "nothing to build" + (f" for {wanted}" if wanted else "")
            + f": no survey-year has both a data file in {layout.raw} and a spec in {layout.specs}"
            + _missing_files(layout, wanted_surveys or (), wanted_years)
        )
    return jobs


def _missing_files(layout, surveys, years) -> str:
    """For survey-years asked for by name (survey and year), the files they lack."""
    missing = []
    for survey in sorted(surveys):
        for year in sorted(years or ()):
            data = layout.data_file_for(survey, year)
            if not data.is_file():
                missing.append(f"{data} does not exist")
            if layout.spec_for(survey, year) is None:
                missing.append(f"{layout.specs / f'{survey}_{year}.yaml'} does not exist")
    return "; " + "; ".join(missing) if missing else ""


def _report_parameters(layout, survey, year, *, data_dir, audience, workbook) -> dict:
    """The parameters of a report notebook: survey, year, data_dir, audience[, excel_path].

    Paths are relative to ``notebooks/`` (the kernel's working directory), so
    that the parameters, and the fingerprints, do not depend on where the
    project is checked out.
    """
    parameters = {"survey": survey, "year": int(year), "data_dir": data_dir, "audience": audience}
    if workbook is not None:
        parameters["excel_path"] = os.path.relpath(workbook, layout.notebooks)
    return parameters


# ---------------------------------------------------------------------------
# Input fingerprints


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_digest(path: Path, cache: dict | None = None) -> str:
    """sha256 of a file's content; ``"absent"`` for a missing file."""
    key = ("file", str(path))
    if cache is not None and key in cache:
        return cache[key]
    try:
        hasher = hashlib.sha256()
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                hasher.update(block)
        digest = hasher.hexdigest()
    except FileNotFoundError:
        digest = "absent"
    if cache is not None:
        cache[key] = digest
    return digest


def _tree_digest(directory: Path, cache: dict | None = None) -> str:
    """sha256 over the relative paths and contents of a directory's files (no caches)."""
    key = ("tree", str(directory))
    if cache is not None and key in cache:
        return cache[key]
    lines = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        lines.append(f"{path.relative_to(directory).as_posix()}\0{_file_digest(path)}\n")
    digest = _sha256("".join(lines).encode())
    if cache is not None:
        cache[key] = digest
    return digest


def _strings(value):
    """Every string in a parsed YAML document (keys and values)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def population_files(specs, population_dir) -> list[Path]:
    """The population-margin files the specs refer to.

    A file of `population_dir` is referred to when a string of a spec is its
    name or its path (``associations_2021_taille.yaml``,
    ``population/associations_2021_taille.yaml``) or its stem. When a spec
    cannot be parsed, or refers to no file of the directory, every file is
    returned.

    Why not always hash every population file: a new margin for one survey
    would then rebuild every report of every survey. Why the fallback: a
    spec that names its margins some other way must never be built on stale
    margins; rebuilding too much is safe, too little is not.
    """
    population_dir = Path(population_dir)
    files = (
        sorted(p for p in population_dir.rglob("*") if p.is_file())
        if population_dir.is_dir() else []
    )
    if not files:
        return []
    import yaml  # light (about 50 ms); only when a job's inputs are fingerprinted

    names = set()
    for spec in specs:
        try:
            document = yaml.safe_load(Path(spec).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return files
        for text in _strings(document):
            name = PurePath(text.strip().replace("\\", "/")).name
            names.update({name, PurePath(name).stem} if name else ())
    referenced = [p for p in files if p.name in names or p.stem in names]
    return referenced or files


def _package_dir() -> Path:
    return Path(__file__).resolve().parents[1]


def inputs_digests(job: Job, *, cache: dict | None = None) -> dict[str, str]:
    """Content digests of everything a job's report depends on.

    Parameters
    ----------
    job : Job
    cache : dict, optional
        Digests already computed in this build (ramlab's source, the lock
        file, shared data files); pass the same dict for every job.

    Returns
    -------
    dict
        ``{input: sha256}``: ``notebook``, ``parameters``, ``data:<path>``
        (every year, for trends), ``spec:<path>``, ``population:<path>``,
        ``ramlab`` (the package's source and templates), ``requirements.lock``,
        ``flags`` (audience, excel) and ``python`` (the interpreter version).
        Paths are relative to the project, so a moved checkout keeps its
        fingerprints.
    """
    root = job.root

    def relative(path: Path) -> str:
        try:
            return Path(path).resolve().relative_to(root).as_posix()
        except ValueError:
            return Path(path).as_posix()

    digests = {
        "notebook": _file_digest(job.notebook, cache),
        "parameters": _sha256(json.dumps(job.parameters, sort_keys=True).encode()),
    }
    for path in job.data:
        digests[f"data:{relative(path)}"] = _file_digest(path, cache)
    for path in sorted(set(job.specs)):
        digests[f"spec:{relative(path)}"] = _file_digest(path, cache)
    population_dir = root / "data" / "population"
    key = ("population", tuple(str(p) for p in sorted(set(job.specs))))
    if cache is not None and key in cache:
        margins = cache[key]
    else:
        margins = population_files(sorted(set(job.specs)), population_dir)
        if cache is not None:
            cache[key] = margins
    for path in margins:
        digests[f"population:{relative(path)}"] = _file_digest(path, cache)
    digests["ramlab"] = _tree_digest(_package_dir(), cache)
    digests["requirements.lock"] = _file_digest(root / LOCK_FILE, cache)
    flags = {"audience": job.audience, "excel": job.excel}
    digests["flags"] = _sha256(json.dumps(flags, sort_keys=True).encode())
    digests["python"] = _sha256(sys.version.encode())
    return digests


def inputs_hash(job: Job, *, cache: dict | None = None, digests: dict | None = None) -> str:
    """The fingerprint of a job: sha256 over :func:`inputs_digests` (or the given `digests`)."""
    digests = inputs_digests(job, cache=cache) if digests is None else digests
    return _sha256(json.dumps(digests, sort_keys=True).encode())


#: French names of the inputs, to say why a job is rebuilt.
_INPUT_NAMES = {
    "notebook": "notebook",
    "parameters": "paramètres",
    "data": "données",
    "spec": "spécification",
    "population": "marges de population",
    "ramlab": "code de ramlab",
    "requirements.lock": "dépendances",
    "flags": "options",
    "python": "version de Python",
}


def _reasons(record: dict | None, digests: dict, output_exists: bool) -> list[str]:
    """Why a job must be built, in French (empty when it need not be)."""
    if record is None:
        return ["premier build"]
    old = record.get("inputs", {})
    changed = {key.split(":", 1)[0] for key in set(old) | set(digests) if old.get(key) != digests.get(key)}
    reasons = [_INPUT_NAMES.get(key, key) for key in _INPUT_NAMES if key in changed]
    if not output_exists:
        reasons.append("rapport absent")
    return reasons


# ---------------------------------------------------------------------------
# Manifest


def load_manifest(path) -> dict:
    """The manifest at `path`: ``{"format": 1, "records": {job key: record}}``.

    A missing or unreadable manifest is an empty one (everything is rebuilt).
    """
    try:
        with open(path, encoding="utf-8") as stream:
            manifest = json.load(stream)
    except (OSError, ValueError):
        return {"format": _MANIFEST_FORMAT, "records": {}}
    if not isinstance(manifest, dict) or manifest.get("format") != _MANIFEST_FORMAT:
        return {"format": _MANIFEST_FORMAT, "records": {}}
    manifest.setdefault("records", {})
    return manifest


def write_manifest(path, manifest: dict) -> Path:
    """Write the manifest atomically (a reader sees the old one or the new one)."""
    return write_atomic(path, json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n")


def is_current(job: Job, record: dict | None, fingerprint: str) -> bool:
    """Whether `job` can be skipped: same fingerprint as its last good build, and its report exists."""
    return record is not None and record.get("hash") == fingerprint and job.output.is_file()


# ---------------------------------------------------------------------------
# Running


@dataclass
class JobResult:
    """What became of one job.

    Attributes
    ----------
    job : Job
    ok : bool
    seconds : float
        Wall time of the job in its worker process.
    message : str
        French; for a failure it names the failing cell and its error.
    cell : int or None
        1-based position, in the source notebook, of the failing cell.
    ename, evalue : str
        The failing cell's error.
    key_figures : dict
        ``{label: text}`` read from the executed notebook (success only).
    cells_seconds : float
        Time spent executing cells (papermill's per-cell durations).
    title : str
        The report's title (notebook metadata, else its first level-1 heading).
    synthetic : bool
        The report shows the "Données synthétiques" notice (built on synthetic data).
    attempts : int
        2 when a failed kernel start was retried.
    """

    job: Job
    ok: bool
    seconds: float
    message: str = ""
    cell: int | None = None
    ename: str = ""
    evalue: str = ""
    key_figures: dict = field(default_factory=dict)
    cells_seconds: float = 0.0
    title: str = ""
    synthetic: bool = False
    attempts: int = 1


def _module_of(function) -> str | None:
    """Module of a builder (a function, a functools.partial of one, or "module:function")."""
    if callable(function):
        return getattr(getattr(function, "func", function), "__module__", None)
    return str(function).partition(":")[0] or None


def _context(build_one):
    """The multiprocessing context of the workers: forkserver where it exists, else spawn.

    The fork server imports papermill, nbconvert and the builder once and
    warms nbconvert up (:mod:`ramlab.reports._preload`); each job then runs in a fresh
    process forked from it, so a job pays neither the imports (seconds) nor a
    state left by another job.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    preload = ["ramlab.reports._worker", "ramlab.reports._preload"]
    module = _module_of(build_one)
    if module and module != "__main__":
        preload.append(module)
    context.set_forkserver_preload(preload)  # ignored when the fork server already runs
    from multiprocessing import forkserver

    forkserver.ensure_running()  # start preloading now, while the font cache is built
    return context


def _warm_font_cache():
    """Start building matplotlib's font cache in a subprocess (None when matplotlib is absent).

    Done once before the workers start, so that concurrent kernels do not
    each scan the system fonts on a first run.
    """
    import subprocess

    try:
        return subprocess.Popen(
            [sys.executable, "-c", "import matplotlib.font_manager"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return None


def run(
    jobs,
    *,
    jobs_n: int | None = None,
    build_one=BUILD_ONE,
    check=None,
    progress: bool = True,
    stream=None,
    on_result=None,
) -> list[JobResult]:
    """Build jobs in parallel, one process per job; a failing job does not stop the others.

    Parameters
    ----------
    jobs : list of Job
    jobs_n : int, optional
        Jobs run at once (default: the number of cores).
    build_one : callable or "module:function"
        Builds one job: ``build_one(job)``; raises on failure. It runs in a
        worker process with a private ``IPYTHONDIR`` (history off); a failed
        kernel start is retried once.
    check : callable or "module:function", optional
        ``check(notebook, parameters)``, raising on an unknown or mistyped
        parameter. Every job is checked before any runs (in a worker, where
        papermill is already imported); when one has a bad parameter, nothing
        is built: :class:`ramlab.errors.ParameterError` lists every bad job.
        Other errors (a missing notebook) fail their own job only.
    progress : bool
        Print a line per finished job with its time, and counts; on a
        terminal, also a live line of the running jobs.
    stream : file, optional
        Where progress goes (default: sys.stdout).
    on_result : callable, optional
        Called in this process with each JobResult as it arrives.

    Returns
    -------
    list of JobResult, in the order of `jobs`.
    """
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    jobs = list(jobs)
    if not jobs:
        return []
    jobs_n = max(1, min(jobs_n or os.cpu_count() or 1, len(jobs)))
    display = _worker.Progress(stream or sys.stdout, len(jobs), enabled=progress)
    results: dict[int, JobResult] = {}
    context = _context(build_one)
    fonts = _warm_font_cache()
    pool = ProcessPoolExecutor(max_workers=jobs_n, mp_context=context, max_tasks_per_child=1)
    try:
        errors = pool.submit(_worker.check_all, jobs, check).result() if check is not None else []
        if errors:
            pool.shutdown(wait=True)  # nothing runs; let the pool settle before raising
            raise ParameterError("\n".join(errors))
        if fonts is not None:
            fonts.wait()
        pending = {}
        for index, job in enumerate(jobs):
            pending[pool.submit(_worker.work, job, build_one)] = index
        while pending:
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                result = _worker.to_result(jobs[index], future)
                results[index] = result
                display.finished(result)
                if on_result is not None:
                    on_result(result)
            # the executor marks a job running once queued for a worker: the first
            # jobs_n of those, in submission order, are the ones really running
            running = sorted(i for future, i in pending.items() if future.running())
            display.tick([jobs[i] for i in running[:jobs_n]])
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        display.close()
        if fonts is not None and fonts.poll() is None:
            fonts.wait()
    pool.shutdown(wait=True)
    return [results[index] for index in range(len(jobs))]


# ---------------------------------------------------------------------------
# Key figures


def key_figure_changes(label: str, before: dict | None, after: dict) -> list[str]:
    """French lines naming each key figure whose displayed text changed.

    Parameters
    ----------
    label : str
        The job's label, e.g. ``"associations 2021"``.
    before : dict or None
        Key figures of the previous build (None: first build, nothing to compare).
    after : dict
        Key figures of this build.

    Returns
    -------
    list of str
        e.g. ``"associations 2021 : Q7 Au niveau local 73 % -> 74 %"``;
        a figure new or gone shows ``(nouveau)`` / ``(retiré)``.
    """
    if before is None:
        return []
    return [
        f"{label} : {name} {old if old is not None else '(nouveau)'} -> "
        f"{new if new is not None else '(retiré)'}"
        for name, old, new in keyfigures.diff(before, after)
    ]


# ---------------------------------------------------------------------------
# Index page

_MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)

_INDEX_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       margin: 0 auto; max-width: 60rem; padding: 2rem 1.5rem; color: #1d2733; line-height: 1.45; }
h1 { font-size: 1.8rem; margin: 0 0 .3rem; }
h2 { font-size: 1.35rem; margin: 2rem 0 .8rem; border-bottom: 2px solid #0b5d7a; padding-bottom: .2rem; }
h3 { font-size: 1.1rem; margin: 0 0 .5rem; }
a { color: #0b5d7a; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; }
.report { border: 1px solid #d5dde5; border-radius: .4rem; padding: .9rem 1.1rem; margin: 0 0 1rem;
          break-inside: avoid; }
.title { margin: 0 0 .4rem; }
.figures { display: grid; grid-template-columns: 1fr auto; gap: .15rem 1rem; margin: .4rem 0; }
.figures dt { margin: 0; }
.figures dd { margin: 0; font-weight: 600; text-align: right; font-variant-numeric: tabular-nums; }
.meta, .empty, footer { color: #5a6772; font-size: .9rem; }
.ramlab-synthetic { background: #fff4d6; border-left: 5px solid #c98a00; padding: .7rem 1rem; margin: 1rem 0; }
.ramlab-synthetic strong { text-transform: uppercase; letter-spacing: .03em; }
.synthetic-badge { display: inline-block; margin: .2rem 0; padding: .05rem .5rem; font-size: .85rem;
                   background: #fff4d6; border: 1px solid #c98a00; border-radius: .3rem; }
footer { margin-top: 2.5rem; border-top: 1px solid #d5dde5; padding-top: .6rem; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  nav { display: none; }
  a { color: inherit; text-decoration: none; }
  .report { border-color: #999; }
}
"""


def _french_date(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        moment = _dt.datetime.fromisoformat(iso)
    except ValueError:
        return ""
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def _edition(entry) -> str:
    """French heading of an index entry: ``Édition 2021``, ``Évolution 2015-2021``."""
    years = [int(year) for year in entry.get("years") or ()]
    if entry.get("kind") == "trends" and years:
        return f"Évolution {years[0]}–{years[-1]}"
    if years:
        return f"Édition {years[0]}"
    return str(entry.get("title") or entry.get("label") or Path(entry["output"]).stem)


def _survey_heading(survey: str) -> str:
    return survey.replace("-", " ").capitalize()


def write_index(reports_dir, entries) -> Path:
    """Write ``<reports_dir>/index.html``: every report, linked, with its key figures.

    Parameters
    ----------
    reports_dir : path
    entries : iterable of mapping
        One per report: ``survey``, ``output`` (path of the HTML report),
        ``kind`` ("report" or "trends"), ``years``, and optionally ``title``
        (French), ``key_figures`` ({label: text}), ``built_at`` (ISO date) and
        ``synthetic`` (True: a "Données synthétiques" badge on the entry, and a
        notice at the top of the page).
        A report is headed "Édition 2021", a trend "Évolution 2015–2021".

    Returns
    -------
    Path of the index. The page is French (``lang="fr"``), self-contained (no
    script, no request to any server: styles inline), links are relative,
    every label is HTML-escaped, and it is written atomically, only when its
    content changed.
    """
    reports_dir = Path(reports_dir)
    escape = html.escape
    by_survey: dict[str, list] = {}
    for entry in entries:
        by_survey.setdefault(str(entry["survey"]), []).append(entry)

    def order(entry):
        years = tuple(entry.get("years") or ())
        return (entry.get("kind", "report") == "trends", years, str(entry.get("title", "")))

    dates = [entry.get("built_at") for group in by_survey.values() for entry in group]
    latest = max((d for d in dates if d), default=None)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="fr">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="ramlab">',
        "<title>Rapports IMPACT – Observatoire des partenariats</title>",
        f"<style>{_INDEX_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        "<h1>Rapports IMPACT</h1>",
        "<p>Observatoire des partenariats : les rapports de chaque enquête et leurs chiffres clés.</p>",
        "</header>",
    ]
    if by_survey:
        parts.append('<nav aria-label="Enquêtes"><ul>')
        for survey in sorted(by_survey):
            parts.append(
                f'<li><a href="#enquete-{escape(quote(survey))}">{escape(_survey_heading(survey))}</a></li>'
            )
        parts.append("</ul></nav>")
    parts.append("<main>")
    if any(entry.get("synthetic") for group in by_survey.values() for entry in group):
        parts.append(
            '<div class="ramlab-synthetic" role="note"><strong>Données synthétiques</strong> : '
            "les rapports marqués ci-dessous sont construits sur des fichiers de répondants "
            "synthétiques, générés pour reproduire les résultats publiés des enquêtes. Ils ne "
            "contiennent aucune réponse réelle.</div>"
        )
    if not by_survey:
        parts.append('<p class="empty">Aucun rapport n’a encore été construit.</p>')
    for survey in sorted(by_survey):
        parts.append(f'<section id="enquete-{escape(quote(survey))}">')
        parts.append(f"<h2>{escape(_survey_heading(survey))}</h2>")
        for entry in sorted(by_survey[survey], key=order):
            href = Path(os.path.relpath(Path(entry["output"]), reports_dir)).as_posix()
            parts.append('<article class="report">')
            parts.append(f'<h3><a href="{escape(quote(href))}">{escape(_edition(entry))}</a></h3>')
            if entry.get("title"):
                parts.append(f'<p class="title">{escape(str(entry["title"]))}</p>')
            figures = entry.get("key_figures") or {}
            if figures:
                parts.append('<dl class="figures">')
                for label, text in figures.items():
                    parts.append(f"<dt>{escape(str(label))}</dt><dd>{escape(str(text))}</dd>")
                parts.append("</dl>")
            if entry.get("synthetic"):
                parts.append('<p class="synthetic-badge">Données synthétiques</p>')
            built = _french_date(entry.get("built_at"))
            if built:
                parts.append(f'<p class="meta">Construit le {escape(built)}</p>')
            parts.append("</article>")
        parts.append("</section>")
    parts.append("</main>")
    footer = "Page produite par ramlab"
    if latest:
        footer += f", mise à jour le {_french_date(latest)}"
    parts += [f"<footer><p>{escape(footer)}.</p></footer>", "</body>", "</html>", ""]
    text = "\n".join(parts)
    path = reports_dir / "index.html"
    try:
        if path.read_text(encoding="utf-8") == text:
            return path
    except OSError:
        pass
    return write_atomic(path, text)


# ---------------------------------------------------------------------------
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


def _fmt_seconds(seconds: float) -> str:
    from ramlab.format import fmt_number

    return fmt_number(seconds, 1) + "\u00a0s"


def build_all(
    root=None,
    *,
    surveys=None,
    years=None,
    jobs_n: int | None = None,
    audience: str = "partner",
    excel: bool = False,
    force: bool = False,
    build_one=BUILD_ONE,
    check=CHECK_PARAMETERS,
    progress: bool = True,
    stream=None,
    reports_dir=None,
    build_dir=None,
) -> BuildSummary:
    """Build the production: plan, skip what is unchanged, run the rest, report, index.

    Parameters
    ----------
    root : path, optional
        The project directory (default: found from the working directory).
    surveys, years, audience, excel, reports_dir, build_dir :
        As :func:`plan`.
    jobs_n : int, optional
        Jobs at once (default: the number of cores).
    force : bool
        Build every planned job, changed or not.
    build_one, check, progress :
        As :func:`run`.
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
    manifest_path = build_dir / MANIFEST_NAME
    manifest = load_manifest(manifest_path)
    records = manifest["records"]

    cache: dict = {}
    todo, skipped, fingerprints = [], [], {}
    for job in jobs:
        digests = inputs_digests(job, cache=cache)
        fingerprint = inputs_hash(job, digests=digests)
        fingerprints[job.key] = (fingerprint, digests)
        record = records.get(job.key)
        if not force and is_current(job, record, fingerprint):
            skipped.append(job)
        else:
            reasons = ["reconstruction demandée"] if force else _reasons(
                record, digests, job.output.is_file()
            )
            todo.append((job, reasons))

    def say(line: str) -> None:
        if progress:
            print(line, file=out, flush=True)

    say(
        f"ramlab build : {len(jobs)} rapport{'s' if len(jobs) > 1 else ''}, "
        f"{len(todo)} à construire, {len(skipped)} inchangé{'s' if len(skipped) > 1 else ''}"
    )
    for job, reasons in todo:
        say(f"  {job.label} : {', '.join(reasons)}")

    changes: list[str] = []
    compared: list[str] = []  # reports whose key figures had a previous build to compare with

    def record_result(result: JobResult) -> None:
        job = result.job
        previous = records.get(job.key)
        if not result.ok:
            return  # the previous good report and its record stay
        if previous and previous.get("key_figures") is not None:
            compared.append(job.label)
        fingerprint, digests = fingerprints[job.key]
        changes.extend(
            key_figure_changes(
                job.label, previous.get("key_figures") if previous else None, result.key_figures
            )
        )
        records[job.key] = {
            "label": job.label,
            "kind": job.kind,
            "survey": job.survey,
            "years": list(job.years),
            "title": result.title,
            "synthetic": result.synthetic,
            "hash": fingerprint,
            "inputs": digests,
            "output": os.path.relpath(job.output, layout.root),
            "executed": os.path.relpath(job.executed, layout.root),
            "key_figures": result.key_figures,
            "built_at": _now(),
            "seconds": round(result.seconds, 3),
            "cells_seconds": round(result.cells_seconds, 3),
        }
        write_manifest(manifest_path, manifest)

    results = run(
        _longest_first([job for job, _ in todo], records), jobs_n=jobs_n, build_one=build_one,
        check=check, progress=progress, stream=out, on_result=record_result,
    ) if todo else []
    position = {job.key: index for index, job in enumerate(jobs)}
    results.sort(key=lambda result: position[result.job.key])

    entries = []
    for key, record in sorted(records.items()):
        output = layout.root / record["output"]
        if output.is_file() and _is_under(output, reports_dir):
            entries.append({**record, "output": output})
    index = write_index(reports_dir, entries)

    summary = BuildSummary(
        jobs=jobs, results=results, skipped=skipped, changes=changes, index=index,
        seconds=time.perf_counter() - start,
    )
    if changes:
        say("Chiffres clés modifiés depuis le dernier build :")
        for line in changes:
            say(f"  {line}")
    elif compared:
        say("Aucun chiffre clé modifié depuis le dernier build.")
    elif results:
        say("Premier build : chiffres clés enregistrés, sans build antérieur à comparer.")
    for result in summary.failed:
        print(f"ramlab build : ÉCHEC {result.message}", file=out if progress else sys.stderr, flush=True)
    built = len(results) - len(summary.failed)
    say(
        f"ramlab build : {built} construit{'s' if built > 1 else ''}, "
        f"{len(summary.failed)} échec{'s' if len(summary.failed) > 1 else ''}, "
        f"{len(skipped)} inchangé{'s' if len(skipped) > 1 else ''} "
        f"en {_fmt_seconds(summary.seconds)} ; index : "
        f"{os.path.relpath(index, layout.root) if _is_under(index, layout.root) else index}"
    )
    return summary


def _longest_first(jobs: list, records: dict) -> list:
    """Jobs in the order to start them: the longest first, so that no long job starts last.

    A job's length is its last build time from the manifest. Jobs never built
    come first (they may be long): trends (several years of data), then by
    size of their data files.
    """
    def expected(job):
        seconds = (records.get(job.key) or {}).get("seconds")
        if seconds:
            return (1, -float(seconds))
        size = sum(path.stat().st_size for path in job.data if path.is_file())
        return (0, job.kind != "trends", -size)

    return sorted(jobs, key=expected)


def _is_under(path: Path, directory: Path) -> bool:
    try:
        Path(path).resolve().relative_to(Path(directory).resolve())
    except ValueError:
        return False
    return True
