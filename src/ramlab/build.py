"""Build the HTML reports: execute each report notebook, then render it for readers.

One build job is one survey-year. Its pipeline:

1. check the parameters against the typed defaults of the notebook's
   ``parameters`` cell (papermill only warns; ramlab refuses, before any run);
2. execute the notebook with papermill (kernel ``python3`` of the running
   environment, working directory ``notebooks/``) into an executed notebook
   kept outside ``reports/`` (``build/executed/<survey>_<year>.ipynb``);
3. clean the executed notebook for readers: no injected-parameters cell, no
   stderr, no plain-text object reprs, no tracebacks;
4. render HTML with nbconvert and ramlab's own template (no code, no prompts,
   no script loaded from a CDN, images embedded, ``lang="fr"``);
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
import time
from dataclasses import dataclass, field
from pathlib import Path

from ramlab.errors import BuildError, ParameterError

__all__ = [
    "KERNEL_NAME",
    "GENERIC_NOTEBOOK",
    "TEMPLATE_NAME",
    "TEMPLATES_DIR",
    "READER_MIMETYPES",
    "Layout",
    "Job",
    "Result",
    "find_jobs",
    "notebook_parameters",
    "validate_parameters",
    "check_parameters",
    "execute_notebook",
    "source_cell_position",
    "clean_notebook",
    "render_html",
    "add_table_of_contents",
    "write_atomic",
    "build_report",
    "build",
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
        """The spec of a survey-year, ``data/specs/<survey>_<year>.yaml`` (as ramlab.spec reads it), if any."""
        path = self.specs / f"{survey}_{int(year)}.yaml"
        return path if path.is_file() else None

    def data_file_for(self, survey: str, year: int) -> Path:
        return self.raw / f"{survey}_{year}.sav"


@dataclass(frozen=True)
class Job:
    """One report to build: a notebook run with parameters, and where its products go."""

    survey: str
    year: int
    notebook: Path
    output: Path
    executed: Path
    parameters: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.survey}_{self.year}"

    @classmethod
    def for_survey_year(cls, layout: Layout, survey: str, year: int) -> "Job":
        """The standard job of a survey-year in `layout`.

        ``data_dir`` is passed relative to ``notebooks/`` (the kernel's working
        directory), so that the parameters do not depend on where the project
        is checked out.
        """
        return cls(
            survey=survey,
            year=int(year),
            notebook=layout.notebook_for(survey),
            output=layout.reports / survey / f"{int(year)}.html",
            executed=layout.build / "executed" / f"{survey}_{int(year)}.ipynb",
            parameters={
                "survey": survey,
                "year": int(year),
                "data_dir": os.path.relpath(layout.data, layout.notebooks),
            },
        )


@dataclass(frozen=True)
class Result:
    """What became of one job."""

    job: Job
    ok: bool
    seconds: float
    message: str = ""


def find_jobs(layout: Layout, *, survey: str | None = None, year: int | None = None) -> list[Job]:
    """List the survey-years to build: those with both a spec and a data file.

    A data file is ``data/raw/<survey>_<year>.sav``; its spec is
    ``data/specs/<survey>_<year>.yaml``.
    `survey` and `year` narrow the list. When both are given, the survey-year
    is built if it has its files, and a missing file is a BuildError naming it.

    Returns
    -------
    list of Job, sorted by survey then year.
    """
    if survey is not None and year is not None:
        data_file = layout.data_file_for(survey, year)
        if not data_file.is_file():
            raise BuildError(f"no data file for {survey} {year}: {data_file} does not exist")
        if layout.spec_for(survey, year) is None:
            raise BuildError(
                f"no spec for {survey} {year}: {layout.specs / f'{survey}_{year}.yaml'} does not exist"
            )
        return [Job.for_survey_year(layout, survey, year)]

    found = []
    for path in sorted(layout.raw.glob("*.sav")) if layout.raw.is_dir() else []:
        match = _DATA_FILE.match(path.name)
        if match is None:
            continue
        name, number = match["survey"], int(match["year"])
        if survey is not None and name != survey:
            continue
        if year is not None and number != int(year):
            continue
        if layout.spec_for(name, number) is None:
            continue
        found.append(Job.for_survey_year(layout, name, number))
    if not found:
        wanted = " ".join(str(part) for part in (survey, year) if part is not None)
        raise BuildError(
            "nothing to build"
            + (f" for {wanted}" if wanted else "")
            + f": no survey-year has both a spec in {layout.specs} and a data file in {layout.raw}"
        )
    return sorted(found, key=lambda job: (job.survey, job.year))


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


@contextlib.contextmanager
def _kernel_environment(job: Job):
    """Environment of one run: this environment's kernels first, a private IPython dir.

    ``JUPYTER_PATH`` puts ``<sys.prefix>/share/jupyter`` first, so that kernel
    ``python3`` is the project's even when a user-level kernelspec of that
    name exists. A private ``IPYTHONDIR`` with history off keeps concurrent
    kernels from sharing IPython's history database.
    """
    ipython_dir = job.executed.parent.parent / "ipython" / job.name
    profile = ipython_dir / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "ipython_config.py").write_text("c.HistoryManager.enabled = False\n")
    jupyter_path = os.pathsep.join(
        part
        for part in (str(Path(sys.prefix) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH"))
        if part
    )
    changes = {
        "JUPYTER_PATH": jupyter_path,
        # charts display inline even when the caller's environment sets another backend
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "IPYTHONDIR": str(ipython_dir),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
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


def _kernel_manager_class():
    """papermill's kernel manager, with CurveZMQ transport encryption where available.

    ipykernel warns on stderr about a plain TCP transport; the kernel's own
    kernelspec says whether it supports Curve, and "auto" uses it then.
    """
    import zmq
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class KernelManager(AsyncKernelManager):
        @default("transport_encryption")
        def _default_transport_encryption(self):
            return "auto" if zmq.has("curve") else "disabled"

    return KernelManager


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
    with _kernel_environment(job):
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


def render_html(nb, *, title: str = "Rapport") -> str:
    """Render a cleaned notebook to a self-contained French HTML page.

    Uses ramlab's template (``templates/ramlab``, based on nbconvert's lab
    template without require.js, MathJax or mermaid): no code cells, no
    prompts, images as data URIs, ``<html lang="fr">``, and a table of
    contents with unique anchors (:func:`add_table_of_contents`).
    """
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATES_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        language_code="fr",
    )
    body, _ = exporter.from_notebook_node(
        nb, resources={"metadata": {"name": _title(nb, title)}}
    )
    return add_table_of_contents(body)


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
    main = soup.find("main") or soup.body
    if main is None:
        return html
    headings = main.find_all(list(levels))
    if not headings:
        return html

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
    return str(soup)


def write_atomic(path, text: str) -> Path:
    """Write `text` to `path` through a temporary file in the same directory.

    The temporary file is flushed to disk, then renamed over `path` with
    ``os.replace`` (atomic on POSIX): a reader sees the old file or the new
    one, never a partial one. On failure the temporary file is removed and
    `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path


# ---------------------------------------------------------------------------
# Jobs


def build_report(job: Job, *, kernel_name: str = KERNEL_NAME, timeout: float | None = None) -> Path:
    """Build one report: check, execute, clean, render, replace atomically.

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
    executed = nbformat.read(str(job.executed), as_version=4)
    html = render_html(clean_notebook(executed), title=f"{job.survey} {job.year}")
    return write_atomic(job.output, html)


def _run(job: Job, kernel_name: str, timeout: float | None) -> Result:
    """Build one job and report how it went (never raises a RamlabError)."""
    start = time.perf_counter()
    try:
        build_report(job, kernel_name=kernel_name, timeout=timeout)
    except BuildError as exc:
        return Result(job, False, time.perf_counter() - start, str(exc))
    except Exception as exc:  # noqa: BLE001 - one failing job must not stop the others
        message = f"{job.name}: {type(exc).__name__}: {exc}"
        return Result(job, False, time.perf_counter() - start, message)
    return Result(job, True, time.perf_counter() - start, str(job.output))


def build(
    jobs: list[Job],
    *,
    n_jobs: int = 1,
    kernel_name: str = KERNEL_NAME,
    timeout: float | None = None,
    progress=None,
) -> list[Result]:
    """Build several reports; a failing one does not stop the others.

    Every job's parameters are checked first: one ParameterError and nothing
    runs. With ``n_jobs > 1`` the jobs run in that many worker processes.

    Parameters
    ----------
    jobs : list of Job
    n_jobs : int
        Worker processes (1: run in this process).
    progress : callable, optional
        Called with each Result as it completes, and its rank and the total.

    Returns
    -------
    list of Result, in the order of `jobs`.
    """
    for job in jobs:
        if not job.notebook.is_file():
            raise BuildError(f"{job.name}: notebook not found: {job.notebook}")
        check_parameters(job.notebook, job.parameters)

    results: dict[int, Result] = {}

    def record(index, result):
        results[index] = result
        if progress is not None:
            progress(result, len(results), len(jobs))

    if n_jobs <= 1 or len(jobs) <= 1:
        for index, job in enumerate(jobs):
            record(index, _run(job, kernel_name, timeout))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(n_jobs, len(jobs)), mp_context=context) as pool:
            futures = {
                pool.submit(_run, job, kernel_name, timeout): index
                for index, job in enumerate(jobs)
            }
            for future in as_completed(futures):
                record(futures[future], future.result())
    return [results[index] for index in range(len(jobs))]
