"""One job in a worker process of the pool: build it, and say what became of it.

Private to :mod:`ramlab.reports.pool`, whose workers run :func:`work` (and
:func:`check_all`). Standard library only at import time: the fork server
imports papermill and nbconvert for the workers, the parent never does.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import traceback
from pathlib import Path

from ramlab.errors import BuildError
from ramlab.reports import findings, keyfigures
from ramlab.files import recorded_inputs
from ramlab.reports.execute import inputs_log, private_ipython_dir, unfinished_cell
from ramlab.reports.render import report_title

__all__ = ["resolve", "work", "check_all", "failing_cell"]

#: Cells papermill adds to the executed notebook; they are not in the source.
_ADDED_CELL_TAGS = frozenset({"injected-parameters", "papermill-error-cell-tag"})


def resolve(function):
    """A callable, given as itself or as ``"module:attribute"``."""
    if callable(function):
        return function
    from importlib import import_module

    module, _, attribute = str(function).partition(":")
    return getattr(import_module(module), attribute)


def _load_json(path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except (OSError, ValueError):
        return None


def _chain(exc):
    """An exception and its causes / contexts, outermost first."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def failing_cell(executed: dict, source: dict | None = None):
    """The failing cell of an executed notebook: ``(position, ename, evalue)`` or None.

    `position` is 1-based, in the source notebook: the cell is found there by
    its id when `source` is given and ids match; otherwise cells papermill
    added (injected parameters, error banners) are not counted. A
    ``SystemExit`` is an error like any other (``sys.exit(0)`` ends the run
    early). Without an error output, the cell at which the run stopped (a
    dead kernel, a timeout: :func:`~ramlab.reports.execute.unfinished_cell`)
    is returned with an empty `ename` and `evalue`.
    """
    source_ids = {}
    for index, cell in enumerate((source or {}).get("cells", [])):
        if cell.get("id"):
            source_ids[cell["id"]] = index
    stopped = unfinished_cell(executed)
    position = 0
    for index, cell in enumerate(executed.get("cells", [])):
        if set(cell.get("metadata", {}).get("tags", [])) & _ADDED_CELL_TAGS:
            continue
        position += 1
        error = None
        for output in cell.get("outputs", []) or []:
            if output.get("output_type") == "error":
                error = (str(output.get("ename", "")), str(output.get("evalue", "")))
                break
        if error is None and cell.get("metadata", {}).get("papermill", {}).get("exception") is True:
            error = ("CellExecutionError", "")  # e.g. a cell timeout: no error output
        if error is None and index == stopped:
            error = ("", "")
        if error is not None:
            where = source_ids.get(cell.get("id"))
            return (where + 1 if where is not None else position, *error)
    return None


def _kernel_start_failed(exc, executed: Path) -> bool:
    """Whether a failure looks like a kernel that did not start (worth one retry).

    No cell ran (no error from a cell in the exception chain, no executed
    cell in the executed notebook), and the errors speak of a kernel or a
    timeout (a port taken by another kernel, a kernel dead before replying).
    """
    from ramlab.errors import ParameterError

    chain = list(_chain(exc))
    if any(isinstance(e, ParameterError) or hasattr(e, "ename") for e in chain):
        return False
    notebook = _load_json(executed)
    if notebook and any(cell.get("execution_count") for cell in notebook.get("cells", [])):
        return False
    text = " ".join(f"{type(e).__name__} {e}" for e in chain).lower()
    return "kernel" in text or any(isinstance(e, TimeoutError) for e in chain)


def _cells_seconds(notebook: dict) -> float:
    total = 0.0
    for cell in notebook.get("cells", []):
        duration = cell.get("metadata", {}).get("papermill", {}).get("duration")
        if isinstance(duration, (int, float)):
            total += duration
    return total


#: The class of the "Données synthétiques" notice of a report (ramlab.reports.blocks.synthetic_notice).
SYNTHETIC_CLASS = 'class="ramlab-synthetic"'


def _synthetic(notebook: dict) -> bool:
    """Whether an executed report shows the "Données synthétiques" notice."""
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) or []:
            text = (output.get("data") or {}).get("text/html", "")
            if SYNTHETIC_CLASS in ("".join(text) if isinstance(text, list) else str(text)):
                return True
    return False


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _one_line(text: str, limit: int = 300) -> str:
    line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _source_line(source: dict | None, position: int) -> str:
    """First non-blank line of the cell at 1-based `position` of a source notebook (shortened)."""
    cells = (source or {}).get("cells", [])
    if not 1 <= position <= len(cells):
        return ""
    text = cells[position - 1].get("source", "")
    return _one_line("".join(text) if isinstance(text, list) else str(text), 80)


def _failure(job, exc, seconds: float, attempts: int) -> dict:
    """A failed job as a result dict; its traceback goes to ``<build>/logs/<name>.log``."""
    log = Path(job.executed).parent.parent / "logs" / f"{job.name}.log"
    with contextlib.suppress(OSError):
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    executed = _load_json(job.executed)
    found = failing_cell(executed, _load_json(job.notebook)) if executed else None
    cell, ename, evalue = found if found is not None else (None, "", "")
    if not ename:  # no error output: the exception says what stopped the run
        cause = next((e for e in _chain(exc) if hasattr(e, "ename")), None)
        if cause is None:  # e.g. nbclient's DeadKernelError or CellTimeoutError
            cause = next((e for e in _chain(exc) if not isinstance(e, BuildError)), exc)
        ename = str(getattr(cause, "ename", type(cause).__name__))
        evalue = str(getattr(cause, "evalue", cause))
    notebook = _relative(job.notebook, job.root)
    if cell is not None:
        first_line = _source_line(_load_json(job.notebook), cell)
        quoted = f" (« {first_line} »)" if first_line else ""
        message = (
            f"{job.label} : la cellule {cell} de {notebook}{quoted} a échoué — {ename} : "
            f"{_one_line(evalue)} (notebook exécuté : {_relative(job.executed, job.root)})"
        )
    else:
        message = (
            f"{job.label} : {ename} : {_one_line(evalue)} "
            f"(détails : {_relative(log, job.root)})"
        )
    return {
        "ok": False, "seconds": seconds, "message": message, "cell": cell,
        "ename": ename, "evalue": str(evalue), "attempts": attempts,
    }


def work(job, build_one) -> dict:
    """Build one job in this (worker) process; never raises.

    Runs ``build_one(job)`` with a private IPython directory; retries once
    when the kernel failed to start. Reads the key figures, title and cell
    times back from the executed notebook.

    Returns
    -------
    dict of :class:`ramlab.reports.pool.JobResult` fields (picklable, unlike
    papermill's exceptions).
    """
    start = time.perf_counter()
    attempts = 0
    try:
        function = resolve(build_one)
        while True:
            attempts += 1
            with contextlib.suppress(FileNotFoundError):
                os.unlink(job.executed)  # a stale one would misreport this run
            try:
                with private_ipython_dir():
                    function(job)
            except Exception as exc:  # noqa: BLE001 - reported, and the other jobs go on
                if attempts == 1 and _kernel_start_failed(exc, job.executed):
                    continue
                return _failure(job, exc, time.perf_counter() - start, attempts)
            break
        executed = _load_json(job.executed) or {}
        return {
            "ok": True,
            "seconds": time.perf_counter() - start,
            "message": _relative(job.output, job.root),
            "key_figures": keyfigures.read(executed),
            "essentiel": findings.read(executed),
            "cells_seconds": _cells_seconds(executed),
            "title": report_title(executed),
            "synthetic": _synthetic(executed),
            "attempts": attempts,
            "read": [str(path) for path in recorded_inputs(inputs_log(job))],
        }
    except Exception as exc:  # noqa: BLE001 - e.g. an unreadable key-figure output
        return _failure(job, exc, time.perf_counter() - start, attempts)


def check_all(jobs, check) -> list[str]:
    """Check every job's parameters; the messages of the ParameterErrors (empty when none).

    Any other error of the check (a missing notebook, say) is left to the
    job itself: it fails when it runs, with that error, and the others go on.
    """
    from ramlab.errors import ParameterError

    check = resolve(check)
    errors = []
    for job in jobs:
        try:
            check(job.notebook, dict(job.parameters))
        except ParameterError as exc:  # every bad job is listed, then nothing runs
            errors.append(f"{job.label} : {exc}")
        except Exception:  # noqa: BLE001 - reported by the job's own run
            pass
    return errors
