"""The worker pool of ``ramlab build``: one process per job, forked from a warmed-up server.

:func:`run` builds jobs in parallel (``ramlab.reports._worker.work`` in each
process), shows progress (:class:`~ramlab.reports.progress.Progress`) and
returns a :class:`JobResult` per job; a failing job does not stop the
others. Standard library only at import time.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from ramlab.errors import ParameterError
from ramlab.reports import _worker
from ramlab.reports.jobs import Job
from ramlab.reports.progress import Progress

__all__ = ["BUILD_ONE", "JobResult", "run"]

#: Default builder, resolved lazily ("module:function").
BUILD_ONE = "ramlab.reports.build:build_report"

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
    essentiel : dict
        The study card and sentences of "L'essentiel" (:func:`ramlab.reports.findings.read`),
        for the index page; empty when the notebook published none.
    cells_seconds : float
        Time spent executing cells (papermill's per-cell durations).
    title : str
        The report's title (notebook metadata, else its first level-1 heading).
    synthetic : bool
        The report shows the "Données synthétiques" notice (built on synthetic data).
    read : list of str
        The input files the notebook opened (:func:`ramlab.files.record_input`).
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
    essentiel: dict = field(default_factory=dict)
    cells_seconds: float = 0.0
    title: str = ""
    synthetic: bool = False
    attempts: int = 1
    read: list = field(default_factory=list)


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
    jobs, *, jobs_n: int | None = None, build_one=BUILD_ONE, check=None, progress: bool = True,
    stream=None, on_result=None,
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
    display = Progress(stream or sys.stdout, len(jobs), enabled=progress)
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
                result = _to_result(jobs[index], future)
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


def _to_result(job, future) -> JobResult:
    """The JobResult of a finished future (a crashed worker is a failed job)."""
    try:
        fields = future.result()
    except Exception as exc:  # noqa: BLE001 - e.g. BrokenProcessPool: the worker died
        return JobResult(
            job=job, ok=False, seconds=0.0,
            message=f"{job.label} : le processus du build s'est arrêté ({type(exc).__name__} : {exc})",
            ename=type(exc).__name__, evalue=str(exc),
        )
    return JobResult(job=job, **fields)
