"""Build one HTML report: execute its notebook, then render it for readers.

A :class:`Job` is one notebook run (a survey-year report, or a survey's
trends); :mod:`ramlab.reports.factory` plans the jobs of ``ramlab build``, skips the
unchanged ones and runs the others in parallel, each with
:func:`build_report`. Its pipeline:

1. check the parameters against the typed defaults of the notebook's
   ``parameters`` cell (papermill only warns; ramlab refuses, before any run);
2. execute the notebook with papermill (kernel ``python3`` of the running
   environment, working directory ``notebooks/``) into an executed notebook
   kept outside ``reports/`` (``build/executed/<survey>_<year>.ipynb``);
3. clean the executed notebook for readers: no injected-parameters cell, no
   stderr, no plain-text object reprs, no tracebacks;
4. render HTML with nbconvert and ramlab's own template (no code, no prompts,
   no script loaded from a CDN, images embedded, ``lang="fr"``), with a table
   of contents and a provenance footer (:func:`provenance`);
5. write the HTML to a temporary file beside the report, then ``os.replace``
   it, so that the previous report stays in place until the new one is whole.

This module imports nothing heavy at import time (papermill, nbconvert and
nbformat are imported where they are used), so that the command line can plan
a build quickly.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ramlab._files import replacing
from ramlab.errors import BuildError, ParameterError

__all__ = [
    "KERNEL_NAME",
    "GENERIC_NOTEBOOK",
    "TEMPLATE_NAME",
    "TEMPLATES_DIR",
    "READER_MIMETYPES",
    "Layout",
    "Job",
    "notebook_parameters",
    "validate_parameters",
    "check_parameters",
    "execute_notebook",
    "source_cell_position",
    "clean_notebook",
    "render_html",
    "add_table_of_contents",
    "write_atomic",
    "private_ipython_dir",
    "provenance",
    "provenance_footer",
    "build_report",
]

KERNEL_NAME = "python3"
#: Report notebook of the surveys that have no ``impact_<survey>.ipynb`` of their own.
GENERIC_NOTEBOOK = "report.ipynb"
TEMPLATE_NAME = "ramlab"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

#: Cell tags whose cells never reach a reader.
REMOVED_CELL_TAGS = frozenset(
    {"parameters", "injected-parameters", "remove-cell", "papermill-error-cell-tag"}
)
#: Output mimetypes a report shows. Others are dropped: scripts and widgets
#: (a shared report runs no code), and data meant for ramlab itself, such as
#: key figures (application/vnd.ramlab.keyfigures+json).
READER_MIMETYPES = frozenset(
    {"text/html", "text/markdown", "text/latex", "image/png", "image/jpeg", "image/svg+xml"}
)

_DATA_FILE = re.compile(r"^(?P<survey>[a-z][a-z0-9-]*)_(?P<year>\d{4})\.sav$")


# ---------------------------------------------------------------------------
# Layout and jobs


@dataclass(frozen=True)
class Layout:
    """Where a project keeps its inputs and outputs.

    Parameters
    ----------
    root : Path
        The project directory (the one holding ``notebooks/`` and ``data/``).
    """

    root: Path

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def specs(self) -> Path:
        return self.data / "specs"

    @property
    def raw(self) -> Path:
        return self.data / "raw"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def build(self) -> Path:
        """Intermediate products (executed notebooks): never shared."""
        return self.root / "build"

    @classmethod
    def discover(cls, start=None) -> "Layout":
        """Find the project directory from `start` (default: the working directory).

        The first of `start` and its parents that holds both ``notebooks/``
        and ``data/`` is the root. Raises BuildError when there is none.
        """
        start = Path.cwd() if start is None else Path(start)
        start = start.resolve()
        for candidate in (start, *start.parents):
            if (candidate / "notebooks").is_dir() and (candidate / "data").is_dir():
                return cls(candidate)
        raise BuildError(
            f"no ramlab project found from {start}: expected a directory holding "
            "notebooks/ and data/ (run from the project, or pass --root)"
        )

    def notebook_for(self, survey: str) -> Path:
        """The report notebook of `survey`.

        ``notebooks/impact_<survey>.ipynb`` when the survey has its own;
        otherwise the generic, spec-driven ``notebooks/report.ipynb`` when it
        exists; otherwise ``impact_<survey>.ipynb`` (which a build reports as
        missing).
        """
        own = self.notebooks / f"impact_{survey}.ipynb"
        generic = self.notebooks / GENERIC_NOTEBOOK
        return generic if not own.is_file() and generic.is_file() else own

    def spec_for(self, survey: str, year: int) -> Path | None:
        """The spec of a survey-year: ``data/specs/<survey>_<year>.yaml``, else ``<survey>.yaml``.

        ``.yml`` is accepted too. None when there is none.
        """
        for stem in (f"{survey}_{int(year)}", survey):
            for suffix in (".yaml", ".yml"):
                path = self.specs / (stem + suffix)
                if path.is_file():
                    return path
        return None

    def data_file_for(self, survey: str, year: int) -> Path:
        return self.raw / f"{survey}_{int(year)}.sav"

    def survey_years(self) -> dict[str, dict[int, tuple[Path, Path]]]:
        """Every survey-year with both a data file and a spec.

        Returns
        -------
        dict
            ``{survey: {year: (data file, spec)}}``. A data file is
            ``data/raw/<survey>_<year>.sav``; other names are ignored.
        """
        found: dict[str, dict[int, tuple[Path, Path]]] = {}
        for path in sorted(self.raw.glob("*.sav")) if self.raw.is_dir() else []:
            match = _DATA_FILE.match(path.name)
            if match is None:
                continue
            survey, year = match["survey"], int(match["year"])
            spec = self.spec_for(survey, year)
            if spec is not None:
                found.setdefault(survey, {})[year] = (path, spec)
        return found


@dataclass(frozen=True)
class Job:
    """One notebook run of a build (a survey-year report or a survey's trends), and its products.

    :func:`ramlab.reports.factory.plan` makes the jobs of a build; :func:`build_report`
    builds one.

    Attributes
    ----------
    kind : {"report", "trends"}
    survey : str
    years : tuple of int
        The survey-year of a report; every year compared by a trends job.
    notebook, output, executed : Path
        Source notebook, HTML report, executed notebook (kept outside reports/).
    data, specs : tuple of Path
        The data file and spec of each year.
    root : Path
        The project directory.
    parameters : dict
        Injected into the notebook's ``parameters`` cell.
    audience : {"partner", "internal"}
    excel : bool
        Also write the report's tables to ``excel`` (a workbook beside the report).
    """

    kind: str
    survey: str
    years: tuple
    notebook: Path
    output: Path
    executed: Path
    data: tuple
    specs: tuple
    root: Path
    parameters: dict = field(default_factory=dict, hash=False)
    audience: str = "partner"
    excel: bool = False

    @property
    def year(self) -> int | None:
        """The survey-year of a report job; None for a trends job."""
        return self.years[0] if self.kind == "report" else None

    @property
    def name(self) -> str:
        """File-safe name: ``associations_2021``, ``associations_trends``."""
        return f"{self.survey}_{self.year if self.kind == 'report' else 'trends'}"

    @property
    def key(self) -> str:
        """Manifest key: ``associations/2021``, ``associations/trends``."""
        return f"{self.survey}/{self.year if self.kind == 'report' else 'trends'}"

    @property
    def label(self) -> str:
        """French label for messages: ``associations 2021``, ``associations évolution 2015-2021``."""
        if self.kind == "report":
            return f"{self.survey} {self.year}"
        return f"{self.survey} évolution {self.years[0]}-{self.years[-1]}"

    @property
    def workbook(self) -> Path:
        """The Excel workbook of a report built with ``--excel``: ``<output>.xlsx``."""
        return self.output.with_suffix(".xlsx")


# ---------------------------------------------------------------------------
# Parameters

_TYPES = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list, tuple),
    "tuple": (list, tuple),
    "dict": (dict,),
}


def notebook_parameters(notebook) -> dict:
    """The parameters a notebook declares, as ``papermill.inspect_notebook`` reads them.

    Returns
    -------
    dict
        ``{name: {"name", "inferred_type_name", "default", "help"}}``; empty
        when the notebook has no cell tagged ``parameters``.
    """
    import papermill

    notebook = Path(notebook)
    if not notebook.is_file():
        raise BuildError(f"notebook not found: {notebook}")
    return dict(papermill.inspect_notebook(str(notebook)))


def _declared_type(declared: dict) -> str | None:
    """Type name of a declared parameter: its annotation, else its literal default's type."""
    name = declared.get("inferred_type_name") or "None"
    if name != "None":
        return name.split("[", 1)[0]  # "list[str]" -> "list"
    try:
        default = ast.literal_eval(declared.get("default") or "None")
    except (ValueError, SyntaxError):
        return None
    return None if default is None else type(default).__name__


def validate_parameters(declared: dict, parameters: dict, *, notebook=None) -> None:
    """Check `parameters` against the parameters a notebook declares.

    Parameters
    ----------
    declared : dict
        As returned by :func:`notebook_parameters`.
    parameters : dict
        The values a build would inject.
    notebook : path, optional
        Named in error messages.

    Raises
    ------
    ParameterError
        Naming the parameter: unknown to the notebook, or of another type than
        its typed default (an int is accepted for a float; a bool is not an int).
    """
    where = f" of {notebook}" if notebook is not None else ""
    for name, value in parameters.items():
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise ParameterError(
                f"unknown parameter {name!r} for the notebook{where} "
                f"(its parameters cell declares: {known})"
            )
        type_name = _declared_type(declared[name])
        accepted = _TYPES.get(type_name) if type_name else None
        if accepted is None:
            continue  # no type to check against (None default, or a custom type)
        wrong_bool = isinstance(value, bool) and bool not in accepted
        if wrong_bool or not isinstance(value, accepted):
            raise ParameterError(
                f"parameter {name!r} of the notebook{where} must be {type_name} "
                f"(default {declared[name].get('default')}), got "
                f"{type(value).__name__} {value!r}"
            )


def check_parameters(notebook, parameters: dict) -> None:
    """Read the notebook's parameters cell and validate `parameters` against it."""
    validate_parameters(notebook_parameters(notebook), parameters, notebook=notebook)


# ---------------------------------------------------------------------------
# Execution


#: Environment variable naming the private IPython directory of the current build job.
_PRIVATE_IPYTHONDIR = "RAMLAB_PRIVATE_IPYTHONDIR"


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
    directory = Path(tempfile.mkdtemp(prefix="ramlab-ipython-"))
    profile = directory / "profile_default"
    profile.mkdir()
    for name in ("ipython_config.py", "ipython_kernel_config.py"):
        (profile / name).write_text("c.HistoryManager.enabled = False\n", encoding="utf-8")
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


@contextlib.contextmanager
def _kernel_environment():
    """Environment of one run: this environment's kernels first, a private IPython dir.

    ``JUPYTER_PATH`` puts ``<sys.prefix>/share/jupyter`` first, so that kernel
    ``python3`` is the project's even when a user-level kernelspec of that
    name exists; :func:`private_ipython_dir` keeps concurrent kernels apart.
    """
    jupyter_path = os.pathsep.join(
        part
        for part in (str(Path(sys.prefix) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH"))
        if part
    )
    changes = {
        "JUPYTER_PATH": jupyter_path,
        # charts display inline even when the caller's environment sets another backend
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
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
        @default("client_factory")
        def _default_client_factory(self):
            return _kernel_client_class()

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

        async def _async_wait(self, pollinterval: float = 0.1) -> None:
            # jupyter_client polls a killed kernel every 0.1 s until it is gone, so
            # each report waited about 0.1 s more for its kernel to end: poll more often
            await super()._async_wait(pollinterval=min(pollinterval, 0.005))

    return KernelManager


#: Seconds of silence on IOPub that end a kernel's start (jupyter_client waits 0.2 s).
_IOPUB_FLUSH_SECONDS = 0.02


def _kernel_client_class():
    """jupyter_client's async kernel client, ending its wait for a new kernel sooner.

    ``wait_for_ready`` (jupyter_client 8) gets the kernel's ``kernel_info_reply``
    and a message on IOPub, then drains IOPub until it stays silent for 0.2 s:
    a fixed 0.2 s added to every report. The kernel's start-up messages (its
    "busy"/"idle" status of that request) arrive within milliseconds, and the
    cells' outputs are matched to their requests by nbclient anyway, so this
    client waits :data:`_IOPUB_FLUSH_SECONDS` instead. The rest is the same.
    """
    import asyncio
    import time
    from queue import Empty

    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.manager import KernelManager
    from jupyter_core.utils import ensure_async

    class KernelClient(AsyncKernelClient):
        async def wait_for_ready(self, timeout: float | None = None) -> None:
            if timeout is None:
                timeout = float("inf")
            abs_timeout = time.time() + timeout
            if not isinstance(self.parent, KernelManager):
                while not await self._async_is_alive():
                    if time.time() > abs_timeout:
                        raise RuntimeError(
                            "Kernel didn't respond to heartbeats in %d seconds and timed out" % timeout
                        )
                    await asyncio.sleep(0.2)
            while True:
                self.kernel_info()
                try:
                    msg = await ensure_async(self.shell_channel.get_msg(timeout=1))
                except Empty:
                    pass
                else:
                    if msg["msg_type"] == "kernel_info_reply":
                        try:  # IOPub connected? If not, start over
                            await ensure_async(self.iopub_channel.get_msg(timeout=0.2))
                        except Empty:
                            pass
                        else:
                            self._handle_kernel_info_reply(msg)
                            break
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.time() > abs_timeout:
                    raise RuntimeError("Kernel didn't respond in %d seconds" % timeout)
            while True:  # flush IOPub
                try:
                    await ensure_async(self.iopub_channel.get_msg(timeout=_IOPUB_FLUSH_SECONDS))
                except Empty:
                    break

    return KernelClient


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
        its first line, the error, and where the executed notebook is.
    """
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    job.executed.parent.mkdir(parents=True, exist_ok=True)
    with _kernel_environment():
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
                execution_timeout=timeout,
                kernel_manager_class=_kernel_manager_class(),
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
    return job.executed


# ---------------------------------------------------------------------------
# Rendering


def _reader_output(output):
    """The output as a reader should see it, or None to drop it."""
    kind = output.get("output_type")
    if kind == "stream":
        return output if output.get("name") == "stdout" else None
    if kind == "error":
        return None
    if kind in ("execute_result", "display_data"):
        data = {
            mimetype: value
            for mimetype, value in output.get("data", {}).items()
            if mimetype in READER_MIMETYPES
        }
        if not data:
            return None  # only a repr such as "[<matplotlib.lines.Line2D at 0x…>]"
        kept = dict(output)
        kept["data"] = data
        return kept
    return output


def clean_notebook(nb):
    """A copy of an executed notebook with only what a report reader should see.

    Drops: cells tagged ``parameters``, ``injected-parameters``, ``remove-cell``
    or papermill's error marker; stderr streams; error outputs; from
    execute_result and display_data outputs, every representation but those
    of :data:`READER_MIMETYPES` (so ``text/plain`` object reprs, scripts,
    widgets and key-figure data go), and the output when none is left; code
    cells left with no output. The input notebook is not modified.
    """
    import nbformat

    cleaned = copy.deepcopy(nbformat.from_dict(nb))
    cells = []
    for cell in cleaned.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & REMOVED_CELL_TAGS:
            continue
        if cell.cell_type == "code":
            outputs = [kept for kept in map(_reader_output, cell.get("outputs", [])) if kept]
            if not outputs:
                continue
            cell.outputs = [nbformat.from_dict(output) for output in outputs]
        cells.append(cell)
    cleaned.cells = cells
    return cleaned


def _title(nb, default: str) -> str:
    """The report title: the notebook's metadata title, else its first level-1 heading."""
    title = nb.metadata.get("title")
    if title:
        return str(title)
    texts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            texts.append(cell.source)
        for output in cell.get("outputs", []):
            texts.append(output.get("data", {}).get("text/markdown", ""))
    for text in texts:
        for line in str(text).splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return default


def _exporter_class():
    """nbconvert's HTMLExporter, adding the table of contents on the page it already parses.

    ``HTMLExporter.from_notebook_node`` renders the template, parses the page
    with BeautifulSoup (alt texts, tabindex) and serialises it; parsing it
    again for the table of contents cost as much. This subclass repeats that
    method (nbconvert 7) and runs :func:`_add_toc_to_soup` on the same parse.
    """
    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class RamlabHTMLExporter(HTMLExporter):
        def from_notebook_node(self, nb, resources=None, **kw):
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            highlight_code = self.filters.get(
                "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)
            )
            resources = self._init_resources(resources)
            filter_data_type = WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources
            )
            self.register_filter("highlight_code", highlight_code)
            self.register_filter("filter_data_type", filter_data_type)
            html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            soup = BeautifulSoup(html, features="html.parser")
            missing_alt = 0
            for elem in soup.select("img:not([alt])"):
                elem.attrs["alt"] = "No description has been provided for this image"
                missing_alt += 1
            if missing_alt:
                self.log.warning("Alternative text is missing on %s image(s).", missing_alt)
            for elem in soup.select(".jp-Notebook div.jp-Cell-inputWrapper"):
                elem.attrs["tabindex"] = "0"
            for elem in soup.select(".jp-Notebook div.jp-OutputArea-output"):
                elem.attrs["tabindex"] = "0"
            _add_toc_to_soup(soup)
            return str(soup), resources

    return RamlabHTMLExporter


#: The HTML exporter of this process (:func:`_html_exporter`).
_EXPORTER = None


def _html_exporter():
    """nbconvert's HTML exporter with ramlab's template, made once per process.

    Its Jinja environment keeps the compiled templates: the fork server makes
    and warms it (:mod:`ramlab.reports._preload`), so a job forked from it does not
    look the templates up and compile them again. An export changes no
    option of the exporter (each call registers its own per-notebook filters
    and resources), so reusing it gives the same page.
    """
    global _EXPORTER
    if _EXPORTER is None:
        _EXPORTER = _exporter_class()(
            template_name=TEMPLATE_NAME,
            extra_template_basedirs=[str(TEMPLATES_DIR)],
            exclude_input=True,
            exclude_input_prompt=True,
            exclude_output_prompt=True,
            embed_images=True,
            language_code="fr",
        )
    return _EXPORTER


def render_html(nb, *, title: str = "Rapport", provenance: dict | None = None) -> str:
    """Render a cleaned notebook to a self-contained French HTML page.

    Uses ramlab's template (``templates/ramlab``, based on nbconvert's lab
    template without require.js, MathJax or mermaid): no code cells, no
    prompts, images as data URIs, ``<html lang="fr">``, a table of
    contents with unique anchors (:func:`add_table_of_contents`), and, when
    `provenance` is given (:func:`provenance`), a provenance footer.
    """
    body, _ = _html_exporter().from_notebook_node(
        nb, resources={"metadata": {"name": _title(nb, title)}}
    )
    page = body  # the exporter added the table of contents (add_table_of_contents)
    if provenance:
        footer = provenance_footer(provenance)
        at = page.rfind("</body>")
        page = page[:at] + footer + page[at:] if at >= 0 else page + footer
    return page


#: French labels of the provenance footer, in order.
_PROVENANCE_LABELS = {
    "ramlab": "Version de ramlab",
    "commit": "Commit git",
    "data": "Fichier de données (sha256)",
    "parameters": "Paramètres",
    "built": "Construit le",
}


def _git_commit(root) -> str:
    """``git rev-parse HEAD`` in `root`, or "inconnu" (no git, not a repository)."""
    import subprocess

    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=str(root), capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return "inconnu"
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{7,64}", commit) else "inconnu"


def _short_sha256(path) -> str:
    import hashlib

    hasher = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                hasher.update(block)
    except OSError:
        return "absent"
    return hasher.hexdigest()[:12]


def provenance(job: Job) -> dict[str, str]:
    """Where a report comes from, as its footer shows it (French values).

    Returns
    -------
    dict
        ``ramlab`` (version), ``commit`` (``git rev-parse HEAD`` of the
        project at build time, "inconnu" when unavailable), ``data`` (each
        data file with the first 12 hex digits of its sha256), ``parameters``
        (as injected, but paths: ``*_dir``, ``*_path``), ``built`` (UTC date and time of the build).
    """
    import datetime as dt

    from ramlab import __version__

    now = dt.datetime.now(dt.timezone.utc)
    return {
        "ramlab": __version__,
        "commit": _git_commit(job.root),
        "data": " ; ".join(f"{Path(path).name} ({_short_sha256(path)})" for path in job.data),
        "parameters": ", ".join(
            f"{name} = {value!r}" for name, value in job.parameters.items()
            if not name.endswith(("_dir", "_path"))  # local paths: the data file is named by its hash
        ),
        "built": f"{now:%d/%m/%Y à %H:%M} UTC",
    }


def provenance_footer(values: dict) -> str:
    """The provenance footer (HTML, every value escaped)."""
    import html

    items = "".join(
        f"<dt>{html.escape(label)}</dt><dd>{html.escape(str(values[key]))}</dd>"
        for key, label in _PROVENANCE_LABELS.items()
        if values.get(key)
    )
    return (
        '<footer class="ramlab-provenance" aria-label="Provenance du rapport">'
        f'<p class="ramlab-provenance-title">Provenance du rapport</p><dl>{items}</dl></footer>'
    )


def _slug(text: str) -> str:
    """An ASCII anchor from a French heading: "L'enquête" -> "l-enquete"."""
    import unicodedata

    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "section"


def add_table_of_contents(html: str, *, title: str = "Sommaire", levels=("h2", "h3")) -> str:
    """Give the page's section headings unique anchors and a table of contents.

    Every heading of `levels` inside ``<main>`` gets a unique ASCII id (its
    slug, suffixed ``-2``, ``-3``... on a repeat), its own anchor link follows
    it, and ``<nav id="toc">`` lists them (nested by level), placed after the
    cell holding the report's ``<h1>`` (or at the top of ``<main>``). A page
    with no such heading is returned unchanged.
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, features="html.parser")
    return str(soup) if _add_toc_to_soup(soup, title=title, levels=levels) else html


def _add_toc_to_soup(soup, *, title: str = "Sommaire", levels=("h2", "h3")) -> bool:
    """:func:`add_table_of_contents` on a parsed page, in place; False when nothing changed."""
    main = soup.find("main") or soup.body
    if main is None:
        return False
    headings = main.find_all(list(levels))
    if not headings:
        return False

    own = {id(heading) for heading in headings}
    used = {element["id"] for element in soup.find_all(id=True) if id(element) not in own}
    entries = []
    for heading in headings:
        for anchor in heading.find_all("a", class_="anchor-link"):
            anchor.extract()
        text = heading.get_text(" ", strip=True)
        anchor_id, suffix = _slug(text), 1
        while anchor_id in used:
            suffix += 1
            anchor_id = f"{_slug(text)}-{suffix}"
        used.add(anchor_id)
        heading["id"] = anchor_id
        link = soup.new_tag("a", attrs={"class": "anchor-link", "href": f"#{anchor_id}"})
        link.string = "¶"
        heading.append(link)
        entries.append((heading.name, anchor_id, text))

    nav = soup.new_tag("nav", attrs={"id": "toc", "class": "ramlab-toc", "aria-label": title})
    caption = soup.new_tag("p", attrs={"class": "ramlab-toc-title"})
    caption.string = title
    nav.append(caption)
    top = soup.new_tag("ol")
    nav.append(top)
    current, last_item = top, None
    for level, anchor_id, text in entries:
        if level == levels[0] or last_item is None:
            current = top
        elif current is top:
            current = soup.new_tag("ol")
            last_item.append(current)
        item = soup.new_tag("li")
        link = soup.new_tag("a", attrs={"href": f"#{anchor_id}"})
        link.string = text
        item.append(link)
        current.append(item)
        if current is top:
            last_item = item

    h1 = main.find("h1")
    cell = h1.find_parent("div", class_="jp-Cell") if h1 is not None else None
    if cell is not None:
        cell.insert_after(nav)
    else:
        main.insert(0, nav)
    return True


def write_atomic(path, text: str) -> Path:
    """Write `text` to `path` through a temporary file in the same directory.

    The temporary file is flushed to disk, then renamed over `path` with
    ``os.replace`` (atomic on POSIX): a reader sees the old file or the new
    one, never a partial one. On failure the temporary file is removed and
    `path` is untouched.
    """
    path = Path(path)
    with replacing(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
    return path


# ---------------------------------------------------------------------------
# Jobs


def build_report(job: Job, *, kernel_name: str = KERNEL_NAME, timeout: float | None = None) -> Path:
    """Build one report: check, execute, clean, render, replace atomically.

    The audience and the Excel flag reach the notebook as its ``audience``
    and ``excel_path`` parameters (:func:`ramlab.reports.factory.plan` sets them);
    with ``job.excel``, the notebook writes ``job.workbook`` (atomically).
    The page ends with a provenance footer (:func:`provenance`).

    Returns
    -------
    Path of the written report (``job.output``).

    Raises
    ------
    ParameterError
        Before anything runs, when a parameter is unknown or mistyped.
    BuildError
        When the notebook fails (the previous report is left as it was).
    """
    import nbformat

    if not job.notebook.is_file():
        raise BuildError(f"{job.name}: notebook not found: {job.notebook}")
    check_parameters(job.notebook, job.parameters)
    execute_notebook(job, kernel_name=kernel_name, timeout=timeout)
    if job.excel and "excel_path" in job.parameters and not job.workbook.is_file():
        raise BuildError(f"{job.name}: the notebook did not write its workbook {job.workbook}")
    executed = nbformat.read(str(job.executed), as_version=4)
    html = render_html(
        clean_notebook(executed), title=job.label, provenance=provenance(job)
    )
    return write_atomic(job.output, html)
