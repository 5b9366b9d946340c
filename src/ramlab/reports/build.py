"""Build one HTML report: check, execute, render, replace.

:func:`build_report` builds one :class:`~ramlab.reports.jobs.Job`; the pool
(:mod:`ramlab.reports.pool`) runs it in a worker process for each job that
``ramlab build`` must build. Its pipeline:

1. check the parameters against the typed defaults of the notebook's
   ``parameters`` cell (:mod:`ramlab.reports.parameters`: papermill only
   warns; ramlab refuses, before any run);
2. execute the notebook with papermill (:mod:`ramlab.reports.execute`) into an
   executed notebook kept outside ``reports/``
   (``build/executed/<survey>_<year>.ipynb``);
3. clean it for readers and render HTML with nbconvert and ramlab's own
   template, with a table of contents (:mod:`ramlab.reports.render`) and a
   provenance footer (:mod:`ramlab.reports.provenance`);
4. write the HTML to a temporary file beside the report, then ``os.replace``
   it, so that the previous report stays in place until the new one is whole.

Nothing heavy is imported at import time (papermill, nbconvert and nbformat
are imported where they are used).
"""

from __future__ import annotations

from pathlib import Path

from ramlab.files import write_atomic
from ramlab.errors import BuildError
from ramlab.files import recorded_inputs
from ramlab.reports.execute import KERNEL_NAME, execute_notebook, inputs_log
from ramlab.reports.jobs import Job
from ramlab.reports.parameters import check_parameters
from ramlab.reports.provenance import for_audience, provenance
from ramlab.reports.render import clean_notebook, render_html

__all__ = ["build_report"]


def build_report(job: Job, *, kernel_name: str = KERNEL_NAME, timeout: float | None = None) -> Path:
    """Build one report: check, execute, clean, render, replace atomically.

    The audience and the Excel flag reach the notebook as its ``audience``
    and ``excel_path`` parameters (:func:`ramlab.reports.jobs.plan` sets them);
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
    origin = provenance(job, read=recorded_inputs(inputs_log(job)))
    # the executed notebook keeps the full provenance; a partner page shows version and date
    executed.metadata.setdefault("ramlab", {})["provenance"] = origin
    nbformat.write(executed, str(job.executed))
    html = render_html(
        clean_notebook(executed), title=job.label, provenance=for_audience(origin, job.audience)
    )
    return write_atomic(job.output, html)
