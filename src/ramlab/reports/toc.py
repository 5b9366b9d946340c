"""The table of contents of a report, through nbconvert's public extension points.

A report's sections are the ``<h2>`` and ``<h3>`` headings of its page. Most
of them are emitted by HTML *outputs* (:func:`ramlab.reports.blocks.heading`),
a few by Markdown cells or Markdown outputs. Three pieces, all public hooks
of nbconvert, give each heading a unique ASCII anchor and list them:

- :class:`TableOfContents`, a preprocessor, reads every heading in the
  order the page shows them, gives each a unique id (its slug, suffixed
  ``-2``, ``-3``... on a repeat, and never an id the page already uses),
  rewrites the headings of HTML outputs, and leaves the nested entries in
  ``resources["ramlab_toc"]``;
- :func:`anchor_headings`, applied by the exporter's ``markdown2html``
  filter (:class:`ramlab.reports.render` subclasses it) to the headings of
  Markdown, with the ids the preprocessor chose;
- the template (``templates/ramlab/index.html.j2``) renders
  ``<nav id="toc">`` after the cell holding the report's ``<h1>``.
"""

from __future__ import annotations

import re
import unicodedata

from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbconvert.preprocessors import Preprocessor

__all__ = ["LEVELS", "TITLE", "slug", "TableOfContents", "anchor_headings"]

#: The heading levels listed: sections, then their subsections.
LEVELS = ("h2", "h3")
#: The French caption of the table of contents.
TITLE = "Sommaire"

_ID = re.compile(r"""\bid\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_HEADING_OR_H1 = re.compile(r"<h[123][\s>]", re.IGNORECASE)
_H1 = re.compile(r"<h1[\s>]", re.IGNORECASE)


def slug(text: str) -> str:
    """An ASCII anchor from a French heading: "L'enquête" -> "l-enquete"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "section"


def _parse(fragment: str):
    from bs4 import BeautifulSoup

    return BeautifulSoup(fragment, features="html.parser")


def _heading_texts(soup) -> list[tuple[str, str]]:
    """``(level, text)`` of each listed heading of a parsed fragment, its anchor link left out."""
    found = []
    for heading in soup.find_all(list(LEVELS)):
        for anchor in heading.find_all("a", class_="anchor-link"):
            anchor.extract()
        found.append((heading.name, heading.get_text(" ", strip=True)))
    return found


def anchor_headings(fragment: str, ids: list[str]) -> str:
    """The fragment with its listed headings given `ids`, in order, each followed by its ``¶`` link."""
    soup = _parse(fragment)
    for heading, anchor_id in zip(soup.find_all(list(LEVELS)), ids):
        for anchor in heading.find_all("a", class_="anchor-link"):
            anchor.extract()
        heading["id"] = anchor_id
        link = soup.new_tag("a", attrs={"class": "anchor-link", "href": f"#{anchor_id}"})
        link.string = "¶"
        heading.append(link)
    return str(soup)


def _nest(entries: list[tuple[str, str, str]]) -> list[dict]:
    """Entries ``(level, id, text)`` as a tree: each section with its subsections.

    A subsection before any section is listed at the top.
    """
    top: list[dict] = []
    for level, anchor_id, text in entries:
        item = {"id": anchor_id, "text": text, "children": []}
        if level == LEVELS[0] or not top:
            top.append(item)
        else:
            top[-1]["children"].append(item)
    return top


class TableOfContents(Preprocessor):
    """Give the headings of a notebook's page unique anchors; list them for the template.

    Reads the fragments the template will render, in order: each Markdown
    cell, and each output's representation chosen by the exporter's
    ``display_data_priority`` (``text/html`` or ``text/markdown``; register
    the class, so that the exporter is its parent and shares its config). Leaves in ``resources["ramlab_toc"]``:

    - ``items``: the sections, each ``{"id", "text", "children"}``;
    - ``after_cell``: index of the cell holding the first ``<h1>`` (the nav
      goes after it), or None (the nav opens the page);
    - ``markdown``: ``{markdown source: [ids of its headings], ...}``, one
      list per rendering, for :func:`anchor_headings` in ``markdown2html``;
    - ``title``: the nav's caption.

    HTML outputs get their ids here. A page without such headings gets no
    ``ramlab_toc``.
    """

    def _fragments(self, nb):
        """``(cell index, kind, text, output)`` of every Markdown or HTML fragment, in page order."""
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "markdown":
                yield index, "markdown", cell.source, None
            for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
                data = output.get("data", {})
                shown = next((m for m in self.display_data_priority if m in data), None)
                if shown == "text/html":
                    yield index, "html", data[shown], output
                elif shown == "text/markdown":
                    yield index, "markdown", data[shown], output

    def preprocess(self, nb, resources):
        found = []  # (kind, text, output, soup, headings)
        used: set[str] = set()
        after_cell = None
        for index, kind, text, output in self._fragments(nb):
            text = "".join(text) if isinstance(text, list) else str(text)
            rendered = markdown2html_mistune(text) if kind == "markdown" else text
            if after_cell is None and _H1.search(rendered):
                after_cell = index
            if not _HEADING_OR_H1.search(rendered):
                used.update(next(v for v in match.groups() if v is not None) for match in _ID.finditer(rendered))
                continue
            soup = _parse(rendered)
            own = set(map(id, soup.find_all(list(LEVELS))))
            used.update(e["id"] for e in soup.find_all(id=True) if id(e) not in own)
            found.append((kind, text, output, _heading_texts(soup)))
        entries, markdown = [], {}
        for kind, text, output, headings in found:
            ids = []
            for level, heading_text in headings:
                anchor_id, suffix = slug(heading_text), 1
                while anchor_id in used:
                    suffix += 1
                    anchor_id = f"{slug(heading_text)}-{suffix}"
                used.add(anchor_id)
                ids.append(anchor_id)
                entries.append((level, anchor_id, heading_text))
            if kind == "html" and ids:
                output["data"]["text/html"] = anchor_headings(text, ids)
            elif ids:
                markdown.setdefault(text, []).append(ids)
        if entries:
            resources["ramlab_toc"] = {
                "items": _nest(entries), "after_cell": after_cell, "markdown": markdown, "title": TITLE,
            }
        return nb, resources
