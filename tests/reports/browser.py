"""Headless Chromium for the report browser tests, driven by Playwright.

Playwright (pinned in ``requirements.lock``) launches the system's Chromium
(``/usr/bin/chromium``, Debian's package; ``$RAMLAB_CHROMIUM`` for another): no browser
is downloaded. A page is opened the way a reader's browser does, and what happened is
recorded from the browser's own events:

- console errors: console messages of type ``error`` or ``assert``, uncaught exceptions
  and rejections (``pageerror``), and any dialog (``alert``: dismissed, then reported);
- every request, from the page, its frames and workers, and every WebSocket; requests
  to the network are aborted (``BrowserContext.route``) and host names do not resolve,
  so a faulty report never reaches a server from a test run, but still fails the check;
- every table-of-contents link (``a[href^="#"]`` inside ``#toc`` or a ``nav``): clicked,
  then measured in the page;
- a screenshot.

:mod:`axe_playwright_python` runs the axe-core copy its wheel ships (4.x, pinned with it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urldefrag

__all__ = ["Browser", "PageCheck", "TocLink", "find_chromium", "A4_CONTENT_PX", "blank_pdf_pages"]

#: Environment variable naming the browser executable, checked before the PATH.
CHROMIUM_ENV = "RAMLAB_CHROMIUM"
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
#: ``--no-sandbox``: CI runs as root, where Chromium refuses to start sandboxed.
_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
          "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost"]
#: Width of the A4 content box in CSS px (96 px per inch), portrait and landscape
#: (``ramlab.css``: ``@page`` margins 18 mm left and right; 16 mm on a turned page).
A4_CONTENT_PX = {"portrait": (210 - 36) / 25.4 * 96, "landscape": (297 - 32) / 25.4 * 96}


def find_chromium() -> str | None:
    """``$RAMLAB_CHROMIUM``, else the first Chromium on PATH, else None."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        return configured if Path(configured).is_file() else shutil.which(configured)
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass(frozen=True)
class TocLink:
    """One table-of-contents link after it was clicked.

    ``fragment`` is the link's fragment, percent-decoded; ``target`` the id (or ``<a name>``)
    it resolves to as HTML does: the raw fragment when an element has it, else the decoded
    one. ``hash`` is ``location.hash`` after the click, decoded. ``top`` is the target's
    ``getBoundingClientRect().top`` in CSS pixels once scrolling settled, ``expected_top``
    its scroll-margin plus the scrolling container's scroll-padding.
    """

    href: str
    text: str
    fragment: str
    target: str
    matches: int
    hash: str
    rendered: bool
    top: float | None
    expected_top: float
    viewport_height: float
    at_end: bool

    @property
    def problem(self) -> str | None:
        """Why the link does not land on its section, or None when it does."""
        if not self.target:
            return "empty fragment"
        if self.matches == 0:
            return f"no element with id {self.fragment!r}"
        if self.matches > 1:
            return f"{self.matches} elements share id {self.target!r}"
        if self.hash != self.fragment:
            return f"location.hash is {self.hash!r} after the click"
        if not self.rendered or self.top is None:
            return "target is not rendered"
        if abs(self.top - self.expected_top) <= 2:
            return None
        # A section near the end of the page cannot reach the top of the viewport.
        if self.at_end and 0 <= self.top < self.viewport_height:
            return None
        return f"target top at {self.top:.0f}px, expected {self.expected_top:.0f}px"


@dataclass
class PageCheck:
    """What happened while a page was opened, waited on, clicked through and captured.

    ``links`` holds the absolute URL of every ``a[href]`` of the page, in document order.
    """

    url: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    toc: list[TocLink] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    screenshot: Path | None = None

    @property
    def foreign_requests(self) -> list[str]:
        """Requests other than the page's own file and ``data:`` URIs."""
        own = urldefrag(self.url).url
        return [u for u in self.requests if not (u.startswith("data:") or urldefrag(u).url == own)]

    @property
    def toc_problems(self) -> list[str]:
        return [f"{link.href} ({link.text!r}): {link.problem}" for link in self.toc if link.problem]


_TOC_LINKS = """
const tocLinks = () => {
  const links = [];
  for (const scope of document.querySelectorAll('#toc, nav')) {
    for (const a of scope.querySelectorAll('a[href^="#"]')) {
      if (!links.includes(a)) links.push(a);
    }
  }
  return links;
};
"""

_LIST_TOC = "(() => {" + _TOC_LINKS + """
return tocLinks().map(a => ({href: a.getAttribute('href'), text: a.textContent.trim()}));
})()"""

# Reset to the top of the page with no fragment, click link i, wait until the target stops
# moving (smooth scrolling), then measure. setTimeout rather than requestAnimationFrame,
# which a hidden tab may not run.
_CLICK_TOC = "(i) => {" + _TOC_LINKS + """
return (async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const decode = s => { try { return decodeURIComponent(s); } catch (e) { return s; } };
  const a = tocLinks()[i];
  // HTML's "find a potential indicated element": the raw fragment first, then decoded;
  // an id, else an <a name>. nbconvert writes ids percent-encoded (id="R%C3%A9sultats").
  const raw = a.getAttribute('href').slice(1), fragment = decode(raw);
  const find = f => f ? (document.getElementById(f)
                         || document.querySelector('a[name="' + CSS.escape(f) + '"]')) : null;
  let target = raw, el = find(raw);
  if (!el && fragment !== raw && find(fragment)) { target = fragment; el = find(fragment); }
  history.replaceState(null, '', location.pathname + location.search);
  for (const el of document.querySelectorAll('*')) {
    if (el.scrollTop) el.scrollTo({top: 0, behavior: 'instant'});
  }
  window.scrollTo({top: 0, behavior: 'instant'});
  await sleep(20);
  // scrollend (any scroller: a capturing listener) marks the end of a scroll, smooth or not;
  // a smooth scroll that stalls for a few ticks on a loaded machine has not ended
  let ended = false;
  const onEnd = () => { ended = true; };
  window.addEventListener('scrollend', onEnd, {capture: true});
  a.click();
  // Stable means: still for 3 ticks after its scroll ended, or for 1 s when it never moves
  // (a loaded machine may start a smooth scroll later than 3 ticks after the click).
  const start = el ? el.getBoundingClientRect().top : null;
  let last = NaN, stable = 0, moved = false;
  for (let t = 0; t < 250 && !(stable >= 3 && (moved ? ended : t >= 50)); t++) {
    await sleep(20);
    const top = el ? el.getBoundingClientRect().top : null;
    if (top !== start) moved = true;
    if (top === last) { stable++; } else { stable = 0; last = top; }
  }
  window.removeEventListener('scrollend', onEnd, {capture: true});
  let scroller = document.scrollingElement, expected = 0, atEnd = false;
  if (el) {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (p.scrollHeight > p.clientHeight && /(auto|scroll)/.test(s.overflowY)) { scroller = p; break; }
    }
    expected = (parseFloat(getComputedStyle(el).scrollMarginTop) || 0)
             + (parseFloat(getComputedStyle(scroller).scrollPaddingTop) || 0);
    atEnd = scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 2;
  }
  return {
    fragment,
    target,
    matches: target ? document.querySelectorAll(
      '[id="' + CSS.escape(target) + '"], a[name="' + CSS.escape(target) + '"]').length : 0,
    hash: decode(location.hash.slice(1)),
    rendered: !!el && el.getClientRects().length > 0,
    top: el ? el.getBoundingClientRect().top : null,
    expected_top: expected,
    viewport_height: window.innerHeight,
    at_end: atEnd,
  };
})();
}"""




class Browser:
    """One headless Chromium (Playwright, system executable) for a test session."""

    def __init__(self, executable: str, *, timeout: float = 60.0):
        from playwright.sync_api import sync_playwright

        self.timeout = timeout
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=executable, args=_FLAGS, timeout=timeout * 1000,
            )
        except Exception:
            self._playwright.stop()
            raise

    def close(self) -> None:
        """Close the browser and its driver; a second call does nothing."""
        if self._browser is not None:
            self._browser.close()
            self._playwright.stop()
            self._browser = None

    @property
    def closed(self) -> bool:
        return self._browser is None

    def open(self, path, *, viewport=(1280, 900), settle: float = 0.5):
        """A fresh page (own context) on a local file, loaded and settled: ``(page, check)``.

        ``check`` (:class:`PageCheck`) keeps recording until the page is closed with
        ``page.context.close()``.
        """
        url = Path(path).resolve().as_uri()
        context = self._browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        context.set_default_timeout(self.timeout * 1000)
        check = PageCheck(url=url)
        context.route(lambda u: not u.startswith(("file:", "data:", "blob:")),
                      lambda route: route.abort())
        context.on("request", lambda request: check.requests.append(request.url))
        page = context.new_page()
        page.on("console", lambda m: m.type in ("error", "assert") and check.console_errors.append(
            f"console.{m.type}: {m.text}"))
        page.on("pageerror", lambda exc: check.console_errors.append(f"{exc.name}: {exc.message}"))
        page.on("dialog", lambda d: (check.console_errors.append(f"{d.type} dialog: {d.message}"),
                                     d.dismiss()))
        page.on("websocket", lambda ws: check.requests.append(ws.url))
        page.on("worker", lambda w: w.on("console", lambda m: None))
        page.on("popup", lambda p: check.requests.append(p.url))
        try:
            page.goto(url, wait_until="load")
        except Exception as exc:
            context.close()
            raise RuntimeError(f"cannot open {url}: {exc}") from exc
        page.wait_for_timeout(settle * 1000)
        return page, check

    def check_page(self, path, *, screenshot=None, viewport=(1280, 900), settle: float = 0.5,
                   toc: bool = True) -> PageCheck:
        """Open a local page, screenshot it, click its table of contents, record; close it."""
        page, check = self.open(path, viewport=viewport, settle=settle)
        try:
            if screenshot is not None:
                check.screenshot = Path(screenshot)
                page.screenshot(path=str(check.screenshot))
            check.links = page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.href)")
            if toc:
                check.toc = [TocLink(href=link["href"], text=link["text"],
                                     **page.evaluate(_CLICK_TOC, i))
                             for i, link in enumerate(page.evaluate(_LIST_TOC))]
            page.wait_for_timeout(settle * 1000)
            return check
        finally:
            page.context.close()


def blank_pdf_pages(pdf: Path, *, footer_mm: float = 18.0, ink: float = 0.002) -> list[int]:
    """Pages of a PDF with nothing on them but the page-number footer.

    Each page is rasterised at 20 dpi by ``pdftoppm`` (poppler-utils); a page whose body
    has fewer than `ink` of its pixels darker than light grey, and no text but its page
    number (``pdftotext``: charts are drawn, not written), is blank apart from its footer.
    """
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="ramlab-pdf-") as work:
        subprocess.run(["pdftoppm", "-r", "20", "-gray", "-png", str(pdf), f"{work}/p"],
                       check=True, capture_output=True, timeout=120)
        blank = []
        for number, png in enumerate(sorted(Path(work).glob("p-*.png")), start=1):
            with Image.open(png) as image:
                width, height = image.size
                body = image.crop((0, 0, width, int(height * (1 - footer_mm / 297))))
                histogram = body.histogram()
                dark = sum(histogram[:200])
                if dark < ink * body.size[0] * body.size[1] and not _page_text(pdf, number):
                    blank.append(number)
        return blank


def _page_text(pdf: Path, number: int) -> str:
    """The text of one PDF page without its "n / N" page number (``pdftotext``)."""
    import re

    text = subprocess.run(["pdftotext", "-f", str(number), "-l", str(number), str(pdf), "-"],
                          check=True, capture_output=True, text=True, timeout=60).stdout
    return re.sub(r"\b\d+\s*/\s*\d+\b", "", text).strip()
