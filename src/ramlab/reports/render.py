"""Render an executed notebook for readers: a self-contained French HTML page.

:func:`clean_notebook` keeps only what a reader should see;
:func:`render_html` renders it with nbconvert and ramlab's template
(``templates/ramlab/``), with a table of contents
(:func:`add_table_of_contents`) and, when given, a provenance footer.
:func:`report_title` reads a report's title. nbconvert, nbformat and
BeautifulSoup are imported where they are used.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

__all__ = [
    "TEMPLATE_NAME",
    "TEMPLATES_DIR",
    "READER_MIMETYPES",
    "REMOVED_CELL_TAGS",
    "clean_notebook",
    "report_title",
    "render_html",
    "add_table_of_contents",
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
        nb, resources={"metadata": {"name": report_title(nb, title)}}
    )
    page = body  # the exporter added the table of contents (add_table_of_contents)
    if provenance:
        footer = provenance_footer(provenance)
        at = page.rfind("</body>")
        page = page[:at] + footer + page[at:] if at >= 0 else page + footer
    return page


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
