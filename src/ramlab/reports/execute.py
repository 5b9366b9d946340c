"""Execute a job's notebook with papermill, in an environment of its own.

The kernel is ``python3`` of the running environment (its share/jupyter
first on ``JUPYTER_PATH``), with a private ``IPYTHONDIR`` and Jupyter runtime
directory (:func:`private_ipython_dir`), talking over Unix sockets on POSIX.
A failing cell becomes a :class:`~ramlab.errors.BuildError` naming its
position in the source notebook (:func:`source_cell_position`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

from ramlab.errors import BuildError, ParameterError
from ramlab.reports.jobs import Job

__all__ = [
    "KERNEL_NAME", "cell_timeout", "private_ipython_dir", "source_cell_position", "execute_notebook",
    "unfinished_cell", "remove_stale_ipython_dirs", "inputs_log",
]

KERNEL_NAME = "python3"


def cell_timeout(seconds) -> int | None:
    """The seconds a cell may run, as nbclient takes them: a positive whole number, rounded up.

    None (no limit) stays None; 2.5 gives 3.

    Raises
    ------
    ParameterError
        For zero, a negative number, NaN, infinity, or what is not a number.
    """
    import math

    if seconds is None:
        return None
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise ParameterError(f"timeout must be a number of seconds, got {seconds!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(
            f"timeout must be a positive, finite number of seconds (e.g. 600 or 2.5), got {seconds!r}"
        )
    return math.ceil(value)


#: Prefix of the private IPython directories, in the system's temporary directory.
_IPYTHON_PREFIX = "ramlab-ipython-"


def remove_stale_ipython_dirs() -> list[Path]:
    """Remove the private IPython directories of build processes that were killed.

    :func:`private_ipython_dir` removes its directory on exit; a killed job
    cannot. Its name carries the process id: those of processes that are gone
    are removed.
    """
    import re
    import shutil

    from ramlab.files import pid_alive

    removed = []
    for path in Path(tempfile.gettempdir()).glob(f"{_IPYTHON_PREFIX}*"):
        match = re.match(rf"{_IPYTHON_PREFIX}(\d+)-", path.name)
        if match and path.is_dir() and not pid_alive(int(match[1])):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


#: Environment variable naming the private IPython directory of the current build job.
_PRIVATE_IPYTHONDIR = "RAMLAB_PRIVATE_IPYTHONDIR"


#: IPython startup file of a job's kernel: after a cell that imported modules, the objects
#: alive (modules, their functions and classes, mostly) are moved out of the garbage
#: collector's reach (``gc.freeze``). They live as long as the kernel; without this, each
#: full collection of a report's later cells walks them all again (one such collection,
#: 0.1 to 0.16 s, in the results loop of associations 2021; issue 14). A kernel whose cells
#: import nothing more is not affected.
_FREEZE_AFTER_IMPORTS = """\
def _ramlab_freeze_after_imports(result, _seen=[len(__import__("sys").modules)]):
    import gc, sys

    if len(sys.modules) > _seen[0]:
        gc.freeze()
    _seen[0] = len(sys.modules)


get_ipython().events.register("post_run_cell", _ramlab_freeze_after_imports)
del _ramlab_freeze_after_imports
"""


@contextlib.contextmanager
def private_ipython_dir():
    """A private ``IPYTHONDIR`` (history off) and Jupyter runtime dir for one job's kernel.

    Concurrent kernels would otherwise share IPython's history database (and
    lock it) and the runtime directory of their connection files. Reentrant:
    inside another ``private_ipython_dir()``, the enclosing one is used.
    The directory is removed on exit.
    """
    current = os.environ.get(_PRIVATE_IPYTHONDIR)
    if current and os.environ.get("IPYTHONDIR") == current and Path(current).is_dir():
        yield Path(current)
        return
    directory = Path(tempfile.mkdtemp(prefix=f"{_IPYTHON_PREFIX}{os.getpid()}-"))
    profile = directory / "profile_default"
    profile.mkdir()
    for name in ("ipython_config.py", "ipython_kernel_config.py"):
        (profile / name).write_text("c.HistoryManager.enabled = False\n", encoding="utf-8")
    (profile / "startup").mkdir()
    (profile / "startup" / "00-ramlab-gc.py").write_text(_FREEZE_AFTER_IMPORTS, encoding="utf-8")
    (directory / "runtime").mkdir()
    changes = {
        "IPYTHONDIR": str(directory),
        "JUPYTER_RUNTIME_DIR": str(directory / "runtime"),
        _PRIVATE_IPYTHONDIR: str(directory),
    }
    with _environment(changes):
        try:
            yield directory
        finally:
            import shutil

            shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def _environment(changes: dict):
    """Set environment variables for the duration of a block, then restore them."""
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def inputs_log(job: Job) -> Path:
    """Where a job's kernel notes the input files it opens (:func:`ramlab.files.record_input`)."""
    return job.executed.with_suffix(".inputs")


#: The thread-count variables of the BLAS and OpenMP libraries numpy and scipy may load.
_BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                 "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


@contextlib.contextmanager
def _kernel_environment(changes: dict | None = None):
    """Environment of one run: this environment's kernels first, a private IPython dir.

    ``JUPYTER_PATH`` puts ``<sys.prefix>/share/jupyter`` first, so that kernel
    ``python3`` is the project's even when a user-level kernelspec of that
    name exists; :func:`private_ipython_dir` keeps concurrent kernels apart.
    BLAS and OpenMP run one thread per kernel unless the caller's environment
    sets their variables (``OPENBLAS_NUM_THREADS`` ...).
    """
    jupyter_path = os.pathsep.join(
        part
        for part in (str(Path(sys.prefix) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH"))
        if part
    )
    changes = {  # the caller's changes last
        "JUPYTER_PATH": jupyter_path,
        # charts display inline even when the caller's environment sets another backend
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        # one BLAS thread per kernel (unless the caller chose): a report's matrices are
        # small, and --jobs kernels sharing the cores with BLAS threads each run slower
        **{name: os.environ.get(name, "1") for name in _BLAS_THREADS},
        **(changes or {}),
    }
    with _environment(changes), private_ipython_dir():
        yield


def _kernel_manager_class():
    """papermill's kernel manager: IPC sockets on POSIX, else TCP with CurveZMQ where available.

    Concurrent kernel starts over TCP can collide: each manager picks free
    ports, which another kernel may bind before this one does ("Address
    already in use", then a kernel that never answers). On POSIX the kernel
    talks over Unix sockets instead, named after a fresh id in the job's
    private runtime directory (:func:`private_ipython_dir`), so two kernels
    never share an address. Elsewhere, TCP with CurveZMQ encryption when the
    kernelspec supports it (ipykernel warns on stderr about plain TCP).
    """
    import uuid

    import zmq
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class KernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self):
            return "ipc" if os.name == "posix" else "tcp"

        @default("ip")
        def _default_ip(self):
            if self.transport != "ipc":
                return "127.0.0.1"
            from jupyter_core.paths import jupyter_runtime_dir

            return os.path.join(jupyter_runtime_dir(), f"kernel-{uuid.uuid4().hex[:12]}-ipc")

        @default("transport_encryption")
        def _default_transport_encryption(self):
            return "auto" if self.transport == "tcp" and zmq.has("curve") else "disabled"

    return KernelManager


def _engine_name() -> str:
    """Register and name papermill's nbclient engine, writing the executed notebook less often.

    papermill writes the whole executed notebook when each cell starts and
    again when it completes, Markdown cells included: some 40 writes for a
    report, most of them of a notebook that already holds the charts (about
    1 MB of JSON each time, a third of a second of the build's own part).
    This engine keeps the writes that matter: when a code cell starts (a
    kernel that dies, or a cell timeout, leaves on disk every finished cell
    and the running one marked as started: :func:`unfinished_cell` names it),
    on a failing cell and at the end (papermill's own writes).
    """
    from papermill.engines import NBClientEngine, papermill_engines

    class Engine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            def unsaved(step):
                def run(cell, cell_index=None, **options):
                    nb_man.save = lambda **_: None  # an instance attribute over the method
                    try:
                        return step(cell, cell_index, **options)
                    finally:
                        del nb_man.save

                return run

            start, complete = nb_man.cell_start, nb_man.cell_complete
            nb_man.cell_start = lambda cell, cell_index=None, **options: (
                start if cell.cell_type == "code" else unsaved(start))(cell, cell_index, **options)
            nb_man.cell_complete = unsaved(complete)
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register(_ENGINE, Engine)
    return _ENGINE


#: The name of ramlab's papermill engine (:func:`_engine_name`).
_ENGINE = "ramlab"


def source_cell_position(source_cells: list, executed_index: int, *, injected: bool) -> int:
    """1-based position, in the source notebook, of the executed notebook's cell `executed_index`.

    papermill inserts its injected-parameters cell right after the cell tagged
    ``parameters`` (at the top when there is none), or replaces an existing
    injected cell; the cells after it shift by one.
    """
    tags = [cell.get("metadata", {}).get("tags", []) for cell in source_cells]
    if not injected or any("injected-parameters" in t for t in tags):
        return executed_index + 1
    parameters_index = next((i for i, t in enumerate(tags) if "parameters" in t), -1)
    injected_index = parameters_index + 1
    return executed_index + 1 if executed_index < injected_index else executed_index


def execute_notebook(job: Job, *, kernel_name: str = KERNEL_NAME, timeout: float | None = None) -> Path:
    """Execute the job's notebook with papermill into ``job.executed``.

    The kernel runs with the notebook's directory as working directory. The
    executed notebook is written even when a cell fails, for inspection.

    Raises
    ------
    BuildError
        When a cell fails: names the cell's position in the source notebook,
        its first line, the error, and where the executed notebook is. Also
        when the run ended before the last cell (:func:`unfinished_cell`),
        as a cell calling ``sys.exit(0)`` makes it. A dead kernel or a cell
        timeout raises nbclient's error; the worker names the cell from the
        executed notebook.
    """
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from ramlab.files import INPUTS_LOG

    job.executed.parent.mkdir(parents=True, exist_ok=True)
    log = inputs_log(job)
    log.write_text("", encoding="utf-8")  # this run's inputs only
    with _kernel_environment({INPUTS_LOG: str(log)}):
        try:
            papermill.execute_notebook(
                str(job.notebook),
                str(job.executed),
                parameters=dict(job.parameters),
                kernel_name=kernel_name,
                language="python",
                cwd=str(job.notebook.parent),
                progress_bar=False,
                log_output=False,
                execution_timeout=cell_timeout(timeout),
                kernel_manager_class=_kernel_manager_class(),
                engine_name=_engine_name(),
                # no graceful shutdown request: the executed notebook is already written
                shutdown_kernel="immediate",
            )
        except PapermillExecutionError as exc:
            source = nbformat.read(str(job.notebook), as_version=4)
            position = source_cell_position(
                source.cells, exc.cell_index, injected=bool(job.parameters)
            )
            first_line = next((line for line in exc.source.splitlines() if line.strip()), "")
            raise BuildError(
                f"{job.name}: cell {position} of {job.notebook} failed "
                f"({first_line.strip()[:60]!r}): {exc.ename}: {exc.evalue}\n"
                f"  executed notebook kept in {job.executed}"
            ) from exc
    _check_every_cell_ran(job)
    return job.executed


def unfinished_cell(executed: dict) -> int | None:
    """Index of the cell at which papermill's run of `executed` stopped, or None when every cell ran.

    `executed` is the notebook as parsed JSON. papermill records in each
    cell's ``metadata.papermill`` when it started, and whether it failed. A
    run stops early when a cell raises ``SystemExit`` (``sys.exit(0)``), when
    the kernel dies (``os._exit``, SIGKILL) or when a cell exceeds the
    timeout; the cells after it never start. The cell returned is the first
    one that failed, else the last one that started before a code cell that
    never did. None also when the notebook carries no papermill record.
    """
    code = [
        (index, cell.get("metadata", {}).get("papermill"))
        for index, cell in enumerate(executed.get("cells", []))
        if cell.get("cell_type") == "code"
    ]
    if not code or any(record is None for _, record in code):
        return None
    for index, record in code:
        if record.get("status") == "failed" or record.get("exception"):
            return index
    last_started = None
    for index, record in code:
        if record.get("start_time") is None:
            return last_started if last_started is not None else index
        last_started = index
    return None


def _check_every_cell_ran(job: Job) -> None:
    """BuildError when papermill returned without running every cell (e.g. ``sys.exit(0)``)."""
    import json

    with open(job.executed, encoding="utf-8") as stream:
        executed = json.load(stream)
    stopped = unfinished_cell(executed)
    if stopped is not None:
        raise BuildError(
            f"{job.name}: the notebook {job.notebook} stopped at cell index {stopped} "
            f"before its last cell ran; executed notebook kept in {job.executed}"
        )
