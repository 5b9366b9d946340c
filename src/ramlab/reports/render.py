"""Render an executed notebook for readers: a self-contained French HTML page.

:func:`clean_notebook` keeps only what a reader should see;
:func:`render_html` renders it with nbconvert and ramlab's template
(``templates/ramlab/``), with a table of contents
(:mod:`ramlab.reports.toc`) and, when given, a provenance footer.
:func:`report_title` reads a report's title. nbconvert, nbformat and
BeautifulSoup are imported where they are used.
"""

from __future__ import annotations

import copy
from pathlib import Path

__all__ = [
    "TEMPLATE_NAME",
    "TEMPLATES_DIR",
    "READER_MIMETYPES",
    "REMOVED_CELL_TAGS",
    "clean_notebook",
    "report_title",
    "render_html",
]

from ramlab.reports.provenance import provenance_footer

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


def report_title(notebook, default: str = "") -> str:
    """The report title: the notebook's metadata title, else its first level-1 Markdown heading.

    `notebook` is a notebook node or the notebook as parsed JSON; headings are
    looked for in Markdown cells and in ``text/markdown`` outputs, in order.
    """
    title = notebook.get("metadata", {}).get("title")
    if title:
        return str(title)
    for cell in notebook.get("cells", []):
        texts = [cell.get("source", "")] if cell.get("cell_type") == "markdown" else []
        for output in cell.get("outputs", []) or []:
            texts.append((output.get("data") or {}).get("text/markdown", ""))
        for text in texts:
            text = "".join(text) if isinstance(text, list) else str(text)
            for line in text.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return default


def _exporter_class():
    """nbconvert's HTMLExporter, its Markdown headings anchored as the table of contents says.

    The ids come from :class:`ramlab.reports.toc.TableOfContents`, which the
    exporter runs as a preprocessor; Markdown is rendered by the exporter's
    own ``markdown2html`` filter, then its headings get those ids
    (:func:`ramlab.reports.toc.anchor_headings`).
    """
    from jinja2 import pass_context
    from nbconvert import HTMLExporter

    from ramlab.reports import page
    from ramlab.reports.toc import anchor_headings

    class RamlabHTMLExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context, source):
            html = super().markdown2html(context, source)
            toc = context.get("resources", {}).get("ramlab_toc")
            renderings = (toc or {}).get("markdown", {}).get(source)
            return anchor_headings(html, renderings.pop(0)) if renderings else html

        def from_notebook_node(self, nb, resources=None, **kw):
            html, resources = super().from_notebook_node(nb, resources, **kw)
            # nbconvert makes every block a focus stop; only the scroll boxes stay one.
            return page.prepare_html(html), resources

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
        from ramlab.reports.toc import TableOfContents

        _EXPORTER.register_preprocessor(TableOfContents, enabled=True)
    return _EXPORTER


def render_html(nb, *, title: str = "Rapport", provenance: dict | None = None) -> str:
    """Render a cleaned notebook to a self-contained French HTML page.

    Uses ramlab's template (``templates/ramlab``, based on nbconvert's lab
    template without require.js, MathJax or mermaid): no code cells, no
    prompts, images as data URIs, ``<html lang="fr">``, a table of
    contents with unique anchors (:mod:`ramlab.reports.toc`), and, when
    `provenance` is given (:func:`ramlab.reports.provenance.provenance`), a
    provenance footer.
    """
    body, _ = _html_exporter().from_notebook_node(
        nb, resources={"metadata": {"name": report_title(nb, title)}}
    )
    page = body
    if provenance:
        footer = provenance_footer(provenance)
        at = page.rfind("</body>")
        page = page[:at] + footer + page[at:] if at >= 0 else page + footer
    return page
