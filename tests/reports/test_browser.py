"""The reports open cleanly in a real browser, on a phone and on paper (issues 5 and 10).

Each built report (every edition, trends and the index) is opened from disk in headless
Chromium, driven by Playwright on the system's browser (see ``tests/reports/browser.py``),
and must:

- log no console error and throw no exception;
- make no request but its own file and ``data:`` URIs (a partner reads it offline);
- have a table of contents whose every link lands on its section;
- give a screenshot that is a real picture, not a blank page;
- give every chart an alternative text that says what it shows, with figures;
- have no "serious" or "critical" violation of axe-core 4.x (the copy shipped in the
  pinned ``axe-playwright-python`` wheel);
- at 390 px wide, overflow nowhere but inside the scroll boxes of wide tables;
- in print media, have no table or image wider than the A4 content box, and print (with
  ``preferCSSPageSize``) to A4 pages none of which is empty apart from its footer.

The first tests prove the checks themselves on tiny pages written for the purpose: a page
that must pass, and pages with one defect each that must be caught.

Without a browser the tests are skipped, except under ``CI=true``, where they fail.
Set ``$RAMLAB_CHROMIUM`` to use another Chromium build than the one on PATH.
"""

from __future__ import annotations

import base64
import os
import struct
import zlib
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest
from PIL import Image

from browser import A4_CONTENT_PX, Browser, blank_pdf_pages, find_chromium
from ramlab.reports import factory
from ramlab.reports.jobs import plan
from ramlab.errors import BuildError, RamlabError

ROOT = Path(__file__).resolve().parents[2]
VIEWPORT = (1280, 900)
#: A blank or single-colour capture has one or two colours; text and a chart have hundreds.
MIN_COLOURS = 16


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _missing(message: str):
    """Skip, but fail under CI, which must have installed what the browser tests need."""
    if _in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _executable() -> str:
    """The browser and its client; see ``.ci/run`` for how CI installs them."""
    executable = find_chromium()
    if executable is None:
        _missing("headless Chromium not found: apt-get install chromium, or set $RAMLAB_CHROMIUM")
    try:
        import axe_playwright_python  # noqa: F401
        import playwright  # noqa: F401
    except ImportError as exc:
        _missing(f"{exc.name} is not installed: make install (the test extra of pyproject.toml)")
    return executable


@pytest.fixture(scope="session")
def chromium(request):
    """One headless Chromium for the session, closed at the end."""
    browser = Browser(_executable(), timeout=60)
    request.addfinalizer(browser.close)
    return browser


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


def _solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A PNG of one colour (RGB, 8 bits), built by hand: PNG spec, ISO/IEC 15948."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


DATA_IMAGE = "data:image/png;base64," + base64.b64encode(_solid_png(300, 120, (31, 119, 180))).decode()


def _page(tmp_path: Path, body: str, *, head: str = "", name: str = "page.html") -> Path:
    """A French page with a TOC of three sections (the last one short), plus `body` and `head`."""
    sections = "".join(
        f'<section><h2 id="partie-{i}">Partie {i}</h2>' + "<p>Texte du rapport.</p>" * n + "</section>"
        for i, n in ((1, 40), (2, 40), (3, 3))
    )
    toc = "".join(f'<li><a href="#partie-{i}">Partie {i}</a></li>' for i in (1, 2, 3))
    path = tmp_path / name
    path.write_text(
        f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Essai</title>{head}</head>'
        f'<body><h1>Rapport d’essai</h1><nav id="toc"><ul>{toc}</ul></nav>'
        f'<img src="{DATA_IMAGE}" alt="graphique">{body}{sections}</body></html>',
        encoding="utf-8",
    )
    return path


def _colours(png: Path) -> int:
    with Image.open(png) as image:
        found = image.convert("RGB").getcolors(maxcolors=1 << 16)
    return (1 << 16) if found is None else len(found)


def _assert_screenshot(png: Path, viewport=VIEWPORT) -> None:
    with Image.open(png) as image:
        size = image.size
    assert size == viewport, f"{png}: {size} pixels, viewport {viewport}"
    colours = _colours(png)
    assert colours >= MIN_COLOURS, f"{png}: {colours} colours, the page looks blank"


# ---------------------------------------------------------------------------
# The checks themselves, on pages written for the purpose


@pytest.mark.parametrize(
    "head",
    ["", "<style>html {scroll-behavior: smooth}</style>",
     "<style>h2 {scroll-margin-top: 48px} body {margin-top: 48px}</style>"],
    ids=["plain", "smooth-scrolling", "scroll-margin"],
)
def test_clean_page_passes(chromium, tmp_path, head):
    path = _page(tmp_path, "<p>Rien à signaler.</p>", head=head)
    check = chromium.check_page(path, screenshot=tmp_path / "page.png", viewport=VIEWPORT)
    assert check.console_errors == []
    assert check.foreign_requests == []
    assert check.requests == [path.as_uri()]  # data: URIs are not requests to Playwright
    assert [link.target for link in check.toc] == ["partie-1", "partie-2", "partie-3"]
    assert check.toc_problems == []
    # The last section cannot reach the top of the viewport; it is accepted as visible.
    assert check.toc[-1].at_end and 0 <= check.toc[-1].top < VIEWPORT[1]
    _assert_screenshot(check.screenshot)


@pytest.mark.parametrize(
    ("head", "body", "expected"),
    [
        ("", "<script>console.error('échec du graphique')</script>", "console.error: échec du graphique"),
        ("", "<script>console.assert(1 === 2, 'base nulle')</script>", "console.assert"),
        ("", "<script>undefinedFunction()</script>", "ReferenceError: undefinedFunction is not defined"),
        ("", "<script>Promise.reject(new Error('rejetée'))</script>", "Error: rejetée"),
        # A Content-Security-Policy violation is reported as a console error.
        ('<meta http-equiv="Content-Security-Policy" content="img-src \'none\'">', "",
         "Content Security Policy"),
        ("", "<script>alert('Attention')</script>", "alert dialog: Attention"),
    ],
    ids=["console-error", "console-assert", "exception", "unhandled-rejection", "log-entry", "alert"],
)
def test_console_errors_are_caught(chromium, tmp_path, head, body, expected):
    check = chromium.check_page(_page(tmp_path, body, head=head))
    assert any(expected in error for error in check.console_errors), check.console_errors


@pytest.mark.parametrize(
    ("head", "body", "url"),
    [
        ('<script src="https://cdn.jsdelivr.net/npm/requirejs@2/require.min.js"></script>', "",
         "https://cdn.jsdelivr.net/npm/requirejs@2/require.min.js"),
        ('<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Lato">', "",
         "https://fonts.googleapis.com/css?family=Lato"),
        ("", '<img src="http://example.org/logo.png">', "http://example.org/logo.png"),
        ("", '<iframe src="https://example.org/carte"></iframe>', "https://example.org/carte"),
        ("", "<script>fetch('https://example.org/api').catch(() => {})</script>", "https://example.org/api"),
        ("", "<script>new WebSocket('wss://example.org/direct')</script>", "wss://example.org/direct"),
        ("", "<script>setTimeout(() => { new Image().src = 'https://example.org/late.gif' }, 200)</script>",
         "https://example.org/late.gif"),
        ("", '<img src="logo.png">', "logo.png"),  # a sibling file: not self-contained either
    ],
    ids=["cdn-script", "stylesheet", "image", "iframe", "fetch", "websocket", "after-load", "sibling-file"],
)
def test_foreign_requests_are_caught(chromium, tmp_path, head, body, url):
    if url == "logo.png":
        url = (tmp_path / "logo.png").as_uri()
    check = chromium.check_page(_page(tmp_path, body, head=head))
    assert url in check.foreign_requests, check.requests


def test_worker_requests_are_caught(chromium, tmp_path):
    body = ("<script>new Worker(URL.createObjectURL(new Blob("
            "[\"fetch('https://example.org/from-worker').catch(() => {})\"])))</script>")
    check = chromium.check_page(_page(tmp_path, body))
    assert "https://example.org/from-worker" in check.foreign_requests, check.requests


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('<nav><a href="#manquante">Manquante</a></nav>', "no element with id 'manquante'"),
        ('<nav><a href="#partie-1">Doublon</a></nav><h2 id="partie-1">Encore</h2>', "2 elements share id"),
        ('<nav><a href="#cachee">Cachée</a></nav><h2 id="cachee" style="display:none">C</h2>',
         "not rendered"),
        ('<nav><a href="#">Haut</a></nav>', "empty fragment"),
        # The link is there and so is the section, but a script stops the jump.
        ('<script>document.addEventListener("click", e => e.preventDefault())</script>',
         "location.hash is ''"),
        # The page is scrolled by a script elsewhere after the jump.
        ("<script>addEventListener('hashchange', () => setTimeout(() => scrollTo(0, 0), 30))</script>",
         "target top at"),
    ],
    ids=["missing-target", "duplicate-id", "hidden-target", "empty-fragment", "click-prevented",
         "scrolled-away"],
)
def test_broken_toc_links_are_caught(chromium, tmp_path, body, problem):
    check = chromium.check_page(_page(tmp_path, body))
    assert any(problem in found for found in check.toc_problems), check.toc_problems


def test_toc_fragments_resolve_as_html_does(chromium, tmp_path):
    """Raw fragment first, then percent-decoded (HTML Standard, "find a potential indicated
    element"); nbconvert writes percent-encoded ids such as ``id="R%C3%A9sultats"``."""
    filler = "<p>Texte.</p>" * 40
    body = (
        '<nav><a href="#R%C3%A9sultats">encodé vers encodé</a> <a href="#Méthode">brut vers brut</a> '
        '<a href="#Synth%C3%A8se">encodé vers brut</a> <a href="#L\'enquête">apostrophe</a></nav>'
        f'<h2 id="R%C3%A9sultats">Résultats</h2>{filler}<h2 id="Méthode">Méthode</h2>{filler}'
        f'<h2 id="Synthèse">Synthèse</h2>{filler}<h2 id="L\'enquête">L’enquête</h2>{filler}'
    )
    check = chromium.check_page(_page(tmp_path, body))
    assert check.toc_problems == []
    assert [link.target for link in check.toc[3:]] == ["R%C3%A9sultats", "Méthode", "Synthèse", "L'enquête"]


def test_toc_inside_a_scrolling_container(chromium, tmp_path):
    """Reports may scroll a main column rather than the window; the check follows it."""
    head = "<style>html, body {height: 100%; margin: 0} main {height: 100%; overflow-y: auto}</style>"
    path = tmp_path / "scroller.html"
    sections = "".join(f'<h2 id="s{i}">S{i}</h2>' + "<p>Texte.</p>" * 60 for i in (1, 2))
    path.write_text(f'<!doctype html><html lang="fr"><head><meta charset="utf-8">{head}</head><body><main>'
                    f'<div id="toc"><a href="#s1">S1</a> <a href="#s2">S2</a></div>{sections}</main></body></html>')
    check = chromium.check_page(path)
    assert check.toc_problems == []
    assert check.toc[0].top == pytest.approx(0, abs=2)


def test_blank_screenshot_is_rejected(tmp_path):
    blank = tmp_path / "blank.png"
    blank.write_bytes(_solid_png(*VIEWPORT, (255, 255, 255)))
    with pytest.raises(AssertionError, match="looks blank"):
        _assert_screenshot(blank)


def test_missing_file_is_an_error(chromium, tmp_path):
    with pytest.raises(RuntimeError, match="cannot open"):
        chromium.check_page(tmp_path / "absent.html")


# ---------------------------------------------------------------------------
# ramlab's HTML template, on a notebook written here (no data or kernel needed)


def test_template_renders_an_offline_page(chromium, tmp_path):
    """A notebook with a figure, a table and script outputs renders to a page that works offline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from ramlab.reports.render import clean_notebook, render_html

    figure, axes = plt.subplots(figsize=(4, 3))
    axes.bar(["Oui", "Non"], [57, 43])
    png = tmp_path / "figure.png"
    figure.savefig(png)
    plt.close(figure)
    picture = base64.b64encode(png.read_bytes()).decode()
    cells = [new_markdown_cell("# Rapport d’essai\n\nIntroduction.")]
    for i in (1, 2):
        cells.append(new_markdown_cell(f"## Partie {i}\n\n" + "Texte du rapport. " * 200))
        cells.append(new_code_cell("figure", outputs=[
            new_output("display_data", data={"image/png": picture, "text/plain": "<Figure>"}),
            new_output("display_data", data={"text/html": "<table><tr><th>Oui</th><td>57 %</td></tr></table>",
                                             "text/plain": "table"}),
            new_output("display_data", data={"application/javascript": "console.error('script')",
                                             "text/plain": "js"}),
            new_output("stream", name="stderr", text="FutureWarning: ...\n"),
        ]))
    path = tmp_path / "rapport.html"
    path.write_text(render_html(clean_notebook(new_notebook(cells=cells)), title="Essai"), encoding="utf-8")
    check = chromium.check_page(path, screenshot=tmp_path / "rapport.png", viewport=VIEWPORT)
    assert check.console_errors == [], "\n".join(check.console_errors)
    assert check.foreign_requests == [], "\n".join(check.foreign_requests)
    assert check.toc_problems == [], "\n".join(check.toc_problems)
    _assert_screenshot(check.screenshot)


# ---------------------------------------------------------------------------
# The built reports


def _expected_reports() -> list[str]:
    """The reports a full build writes, relative to ``reports/`` (``associations/2021.html``).

    Read from the project's files by :func:`ramlab.reports.jobs.plan` (cheap, no notebook runs).
    """
    reports_dir = ROOT / "reports"
    try:
        jobs = plan(ROOT, reports_dir=reports_dir)
    except BuildError:
        return []
    return [job.output.relative_to(reports_dir).as_posix() for job in jobs]


EXPECTED = _expected_reports()


@pytest.fixture(scope="session")
def built_reports(tmp_path_factory) -> Path:
    """Every default report, trends and ``index.html``, built by ``ramlab build``'s own code.

    :func:`ramlab.reports.factory.build_all` on the real project, forced, with its ``reports/`` and
    ``build/`` in a temporary directory, so the checked-in reports are neither used nor
    touched. Returns that ``reports/`` directory.
    """
    where = tmp_path_factory.mktemp("build")
    try:
        summary = factory.build_all(
            ROOT, reports_dir=where / "reports", build_dir=where / "build", force=True, progress=False,
        )
    except RamlabError as exc:  # nothing was built: say why once, without a traceback
        pytest.fail(f"the build failed: {exc}", pytrace=False)
    failed = [result.message for result in summary.failed]
    if failed:
        pytest.fail("the build failed:\n" + "\n".join(failed), pytrace=False)
    return where / "reports"


#: Alternative texts that say nothing of what a chart shows.
GENERIC_ALTS = {"", "graphique", "image", "figure", "chart", "no description has been provided for this image"}

# Elements that stick out of the viewport, outside the scroll boxes (tables, charts).
_PHONE_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth, out = [];
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                   + (el.classList.length ? '.' + [...el.classList].join('.') : '');
  if (document.documentElement.scrollWidth > width + 1)
    out.push(`the page scrolls sideways: ${document.documentElement.scrollWidth}px for ${width}px`);
  for (const el of document.body.querySelectorAll('*')) {
    // inside a scroll box, or not shown (the content of a closed <details>)
    if (el.closest('.ramlab-scroll') || el.closest('details:not([open]) > :not(summary)')) continue;
    const box = el.getBoundingClientRect();
    if (box.width && (box.right > width + 1 || box.left < -1))
      out.push(`${name(el)}: ${Math.round(box.left)}px to ${Math.round(box.right)}px`);
  }
  return out.slice(0, 15);
}"""

# In print media: tables and images wider than the content box of their A4 page.
_PRINT_WIDTHS = """(limits) => {
  const out = [];
  for (const el of document.querySelectorAll('table, img, svg, figure')) {
    if (el.closest('details:not([open]) > :not(summary)')) continue;  // not printed
    const box = el.getBoundingClientRect();
    if (!box.width) continue;
    const turned = !!el.closest('.ramlab-landscape');
    const limit = turned ? limits.landscape : limits.portrait;
    const width = Math.max(box.width, el.scrollWidth || 0);
    if (width > limit + 1) {
      const label = (el.querySelector && el.querySelector('caption')
                     ? el.querySelector('caption').textContent : el.getAttribute('alt') || '').slice(0, 60);
      out.push(`${el.tagName.toLowerCase()} ${Math.round(width)}px > ${Math.round(limit)}px`
               + `${turned ? ' (landscape)' : ''}: ${label}`);
    }
  }
  return out.slice(0, 15);
}"""


def _pdf_page_sizes(pdf: Path) -> set[str]:
    """Paper names of the pages of a PDF (``pdfinfo``, poppler-utils)."""
    import re
    import subprocess

    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "9999", str(pdf)], capture_output=True,
                          text=True, check=True, timeout=60).stdout
    return {m[1] for m in re.finditer(r"Page\s+\d+ size:.*\((\S+)\)", info)} or {
        m[1] for m in re.finditer(r"Page size:.*\((\S+)\)", info)}


def _report_problems(chromium, path: Path, shots: Path, stem: str) -> dict[str, list[str]]:
    """Charts' alt texts, axe-core, phone width and print of one page (one load)."""
    from axe_playwright_python.sync_playwright import Axe

    problems: dict[str, list[str]] = {}
    page, _ = chromium.open(path, viewport=VIEWPORT)
    try:
        images = page.evaluate("[...document.querySelectorAll('img')].map(i => i.getAttribute('alt'))")
        problems["alt text"] = [
            f"{alt!r}" for alt in images
            if alt is None or alt.strip().lower() in GENERIC_ALTS or len(alt) < 30
            or not any(ch.isdigit() for ch in alt)
        ]
        result = Axe().run(page, options={"resultTypes": ["violations"]})
        assert result.response["testEngine"]["version"].startswith("4."), result.response["testEngine"]
        problems["axe-core (serious, critical)"] = [
            f"{v['id']} ({v['impact']}): {v['help']}; e.g. {v['nodes'][0]['target']}"
            for v in result.response["violations"] if v["impact"] in ("serious", "critical")
        ]
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(200)
        problems["390 px wide"] = page.evaluate(_PHONE_OVERFLOW)
        page.screenshot(path=str(shots / f"{stem}_390.png"))
        page.emulate_media(media="print")
        page.set_viewport_size({"width": int(A4_CONTENT_PX["portrait"]), "height": 1100})
        page.wait_for_timeout(200)
        problems["print width"] = page.evaluate(_PRINT_WIDTHS, A4_CONTENT_PX)
        pdf = shots / f"{stem}.pdf"
        page.pdf(path=str(pdf), prefer_css_page_size=True)
    finally:
        page.context.close()
    sizes = _pdf_page_sizes(pdf)
    problems["PDF paper"] = [] if sizes and sizes <= {"A4"} else [f"pages of {sorted(sizes)}"]
    problems["PDF pages empty but for the footer"] = [f"page {n}" for n in blank_pdf_pages(pdf)]
    return problems


def _check_report(chromium, reports: Path, report: str, screenshots: Path):
    """Open ``reports/<report>`` and assert every check; screenshots to ``<survey>_<year>*.png``."""
    path = reports / report
    assert path.is_file(), f"{path} was not built"
    stem = report.removesuffix(".html").replace("/", "_")
    shot = screenshots / (stem + ".png")
    check = chromium.check_page(path, screenshot=shot, viewport=VIEWPORT)
    problems = {
        "console": check.console_errors,
        "requests": check.foreign_requests,
        "table of contents": check.toc_problems,
    }
    problems.update(_report_problems(chromium, path, screenshots, stem))
    found = {what: found for what, found in problems.items() if found}
    assert not found, f"{report}:\n" + "\n".join(
        f"- {what}:\n    " + "\n    ".join(map(str, items)) for what, items in found.items())
    _assert_screenshot(check.screenshot)
    return check


def test_report_checks_catch_their_defects(chromium, tmp_path):
    """A page with one defect per check: each check names it."""
    body = (
        f'<img src="{DATA_IMAGE}" alt="Graphique">'  # generic alt text
        f'<img src="{DATA_IMAGE}">'  # no alt at all: axe-core's image-alt is critical
        '<div style="width: 800px">Un bloc trop large pour un téléphone.</div>'
        '<table><tr>' + "<td>colonne&nbsp;large&nbsp;sans&nbsp;coupure</td>" * 8 + "</tr></table>"
        '<p style="break-after: page">Fin de page.</p><p style="break-after: page"></p><p>Suite.</p>'
    )
    path = _page(tmp_path, body)
    problems = _report_problems(chromium, path, tmp_path, "defects")
    assert "'Graphique'" in problems["alt text"] and "None" in problems["alt text"]
    assert any(p.startswith("image-alt (critical)") for p in problems["axe-core (serious, critical)"])
    assert any("div" in p for p in problems["390 px wide"])
    assert any(p.startswith("table ") for p in problems["print width"])
    assert problems["PDF paper"], "a page without an A4 @page rule prints on Letter"
    assert problems["PDF pages empty but for the footer"]


@pytest.mark.parametrize("report", EXPECTED or [pytest.param(None, id="no-report-found")])
def test_report_opens_cleanly(request, chromium, screenshots, report):
    assert report is not None, (
        f"nothing to check: no survey-year in {ROOT} has data/raw/<survey>_<year>.sav and a spec"
    )
    check = _check_report(chromium, request.getfixturevalue("built_reports"), report, screenshots)
    assert check.toc, "the report has no table of contents (#toc or nav with links to its sections)"


# Each sentence of "L'essentiel" with the percentages it quotes, and the cells of the tables.
_ESSENTIEL = """() => {
  const section = document.querySelector('section.ramlab-essentiel');
  if (!section) return null;
  const cells = [...document.querySelectorAll('table td')].map(td => td.textContent.trim());
  return {
    cells,
    findings: [...section.querySelectorAll('li.ramlab-finding')].map(li => ({
      callout: li.querySelector('.ramlab-callout').textContent.trim(),
      sentence: li.querySelector('.ramlab-sentence').textContent.trim(),
    })),
  };
}"""


@pytest.mark.parametrize("report", [r for r in EXPECTED if r.split("/")[-1][:4].isdigit()]
                         or [pytest.param(None, id="no-edition-found")])
def test_essentiel_quotes_the_tables(request, chromium, report):
    """"L'essentiel" opens each edition and the programme; every percentage it quotes is a cell
    of a table."""
    import re

    assert report is not None, "no edition report to check"
    page, _ = chromium.open(request.getfixturevalue("built_reports") / report)
    try:
        found = page.evaluate(_ESSENTIEL)
    finally:
        page.context.close()
    assert found is not None, f"{report}: no « L'essentiel » section"
    findings = found["findings"]
    assert findings, f"{report}: « L'essentiel » states no finding"
    starts = {re.match(r"[\d\s\u202f,]+%?", cell)[0].strip() for cell in found["cells"]
              if re.match(r"\d", cell)}
    for finding in findings:
        quoted = re.findall(r"\d+(?:,\d+)?\u202f%", finding["sentence"]) or [finding["callout"]]
        missing = [q for q in quoted if q not in starts]
        assert not missing, f"{report}: {finding['sentence']!r} quotes {missing}, in no table cell"


def test_markup_in_spec_labels_shows_as_text(chromium, tmp_path):
    """A title and an answer label holding markup come out as text, never as elements."""
    import numpy as np
    import pandas as pd
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from ramlab.design import Design
    from ramlab.reports import blocks
    from ramlab.reports.render import clean_notebook, render_html
    from ramlab.tables import crosstab

    title = 'Titre <b class="injected">gras</b><img src=x onerror="alert(1)">'
    label = '<i class="injected">Oui</i>'
    rng = np.random.default_rng(2)
    data = pd.DataFrame({"q": pd.Categorical.from_codes(rng.integers(0, 3, 120), [label, "Non", "Autre"]),
                         "w": rng.uniform(1, 2, 120)})
    table = crosstab(Design(data, weights="w"), "q", chisq=False)
    html_out = lambda text: new_output("display_data", data={"text/html": text, "text/plain": ""})
    cells = [new_code_cell("", outputs=[html_out(blocks.heading(title, 2)), html_out(table.to_html())])]
    path = tmp_path / "balisage.html"
    path.write_text(render_html(clean_notebook(new_notebook(cells=cells)), title="Essai"), encoding="utf-8")
    page, check = chromium.open(path)
    try:
        injected = page.evaluate("document.querySelectorAll('.injected, img[src=x]').length")
        text = page.evaluate("document.body.innerText")
    finally:
        page.context.close()
    assert injected == 0
    assert "<b class=\"injected\">gras</b>" in text and label in text
    assert check.console_errors == []  # no alert


def test_index_opens_cleanly_and_links_every_report(chromium, built_reports, screenshots):
    check = _check_report(chromium, built_reports, "index.html", screenshots)
    linked = {urldefrag(url).url for url in check.links if url.startswith("file:")}
    broken = sorted(url for url in linked if not Path(unquote(urlparse(url).path)).is_file())
    assert not broken, f"index.html links to missing files: {broken}"
    expected = {(built_reports / report).as_uri() for report in EXPECTED}
    assert expected <= linked, f"reports not linked from index.html: {sorted(expected - linked)}"
