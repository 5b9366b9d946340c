"""The report page on paper and on a phone: scroll boxes for tables, and PDF printing.

:func:`prepare_html` runs on the page that nbconvert has written:

- nbconvert's HTML exporter puts ``tabindex="0"`` on every output block, so a
  keyboard user tabs through dozens of static blocks; only the boxes that
  scroll keep one (axe-core's rule "scrollable-region-focusable" wants it there);
- each table of the report is wrapped in a scroll box (``div.ramlab-scroll``,
  focusable, a named region) whose first column stays in place when a phone
  scrolls it; a table of more than :data:`WIDE_COLUMNS` columns gets a visible
  cue on a phone, is set smaller in print, and one of more than
  :data:`LANDSCAPE_COLUMNS` is printed on a landscape A4 page (``ramlab.css``).

:func:`print_pdf` prints a report to PDF with headless Chromium, on the A4
page of the report's own ``@page`` rule: Chromium's ``--print-to-pdf`` prints
with ``preferCSSPageSize`` (checked by ``tests/reports/test_browser.py``, which
reads the page size of the PDF), without the browser's header and footer.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ramlab.errors import BuildError

__all__ = ["WIDE_COLUMNS", "LANDSCAPE_COLUMNS", "prepare_html", "find_chromium", "print_pdf",
           "CHROMIUM_MISSING"]

#: Tables with more columns than this are wide: a scroll cue on a phone, smaller print.
WIDE_COLUMNS = 5
#: Tables with more columns than this are printed on a landscape page.
LANDSCAPE_COLUMNS = 10
#: What ``ramlab build --pdf`` says when no Chromium is installed.
CHROMIUM_MISSING = (
    "ramlab build --pdf : Chromium est introuvable, les PDF ne sont pas écrits (les pages HTML "
    "le sont). Installez-le (Debian/Ubuntu : sudo apt-get install chromium ; ailleurs : "
    "https://www.chromium.org/getting-involved/download-chromium) ou indiquez son chemin dans "
    "la variable RAMLAB_CHROMIUM."
)


_TABINDEX = re.compile(r'(<div\b[^>]*?)\s+tabindex="0"')
_TABLE = re.compile(r"<table\b.*?</table>", re.S)
_ROW = re.compile(r"<tr\b.*?</tr>", re.S)
_CELL = re.compile(r"<t[hd]\b([^>]*)>")
_COLSPAN = re.compile(r'colspan="(\d+)"')
_CAPTION = re.compile(r"<caption\b[^>]*>(.*?)</caption>", re.S)
_TAG = re.compile(r"<[^>]+>")


def _columns(table: str) -> int:
    """Number of columns of a table: the widest row, counting colspans."""
    widest = 0
    for row in _ROW.findall(table):
        width = 0
        for attrs in _CELL.findall(row):
            span = _COLSPAN.search(attrs)
            width += int(span[1]) if span else 1
        widest = max(widest, width)
    return widest


def prepare_html(page: str) -> str:
    """Scroll boxes around the tables, focus stops only on scroll boxes (an HTML page in, out).

    Works on the text nbconvert wrote (no second parse of a page of megabytes): the
    ``tabindex="0"`` of nbconvert's blocks are removed, and each ``<table>`` of the body
    (ramlab writes no nested table) is wrapped in a focusable, named region.
    """
    body = page.find("<body")
    if body < 0:
        return page
    head, rest = page[:body], _TABINDEX.sub(r"\1", page[body:])
    number = 0

    def wrap(match):
        nonlocal number
        number += 1
        table = match[0]
        columns = _columns(table)
        classes = ["ramlab-scroll"]
        if columns > WIDE_COLUMNS:
            classes.append("ramlab-wide")
        if columns > LANDSCAPE_COLUMNS:
            classes.append("ramlab-landscape")
        caption = _CAPTION.search(table)
        name = " ".join(html.unescape(_TAG.sub(" ", caption[1])).split()) if caption else ""
        label = html.escape(f"Tableau {number}" + (f" : {name}" if name else ""))[:240]
        cue = ('<p class="ramlab-scroll-cue" aria-hidden="true">Tableau large : faites-le défiler '
               "horizontalement →</p>" if columns > WIDE_COLUMNS else "")
        return (f'{cue}<div class="{" ".join(classes)}" tabindex="0" role="region" '
                f'aria-label="{label}">{table}</div>')

    return head + _TABLE.sub(wrap, rest)


def find_chromium() -> str | None:
    """Headless Chromium: ``$RAMLAB_CHROMIUM``, else chromium / chromium-browser /
    google-chrome on PATH, else None."""
    configured = os.environ.get("RAMLAB_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else shutil.which(configured)
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def print_pdf(html_path, pdf_path=None, *, chromium=None, timeout: float = 120) -> Path:
    """Print a report page to PDF with headless Chromium, on its CSS page (A4).

    Parameters
    ----------
    html_path : path
        The report (``reports/<survey>/<year>.html``).
    pdf_path : path, optional
        Where to write (default: beside it, ``.pdf``). Written atomically.
    chromium : str, optional
        The browser (default: :func:`find_chromium`).
    timeout : float
        Seconds the browser may take.

    Raises
    ------
    BuildError
        Without a browser (the message says how to install one), or when it fails.
    """
    html_path = Path(html_path).resolve()
    pdf_path = Path(pdf_path) if pdf_path is not None else html_path.with_suffix(".pdf")
    chromium = chromium or find_chromium()
    if chromium is None:
        raise BuildError(CHROMIUM_MISSING)
    with tempfile.TemporaryDirectory(prefix="ramlab-pdf-") as work:
        partial = Path(work) / "page.pdf"
        command = [
            chromium, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--mute-audio",
            f"--user-data-dir={Path(work) / 'profile'}", "--no-pdf-header-footer",
            "--run-all-compositor-stages-before-draw", "--virtual-time-budget=10000",
            f"--print-to-pdf={partial}", html_path.as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BuildError(f"{html_path}: Chromium could not print the PDF: {exc}") from exc
        if done.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
            tail = (done.stderr or "").strip().splitlines()[-3:]
            raise BuildError(f"{html_path}: Chromium could not print the PDF "
                             f"(exit {done.returncode}): {' | '.join(tail)}")
        pdf_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(partial), str(pdf_path.with_suffix(".pdf.tmp")))
        os.replace(pdf_path.with_suffix(".pdf.tmp"), pdf_path)
    return pdf_path
