"""Headless Chromium driven over the DevTools protocol, for the report browser tests.

The reports shared with partners must open offline, without a console error, and their
table of contents must work. This module opens a page the way a reader's browser does and
records what happened, from the browser's own events rather than from the HTML text:

- console errors: ``Runtime.consoleAPICalled`` (type ``error`` or ``assert``),
  ``Runtime.exceptionThrown``, ``Log.entryAdded`` at level ``error``, and any dialog
  (``alert``, ``confirm``: dismissed at once, since it would block the page);
- every request: ``Network.requestWillBeSent`` and ``Network.webSocketCreated``, also from
  out-of-process frames and workers (auto-attached), and any pop-up window;
- every table-of-contents link (``a[href^="#"]`` inside ``#toc`` or a ``nav``): clicked,
  then measured with ``Runtime.evaluate``;
- a screenshot (``Page.captureScreenshot``).

Requests to the network are also blocked (``Network.setBlockedURLs``) and host names do
not resolve (``--host-resolver-rules``), so a faulty report never reaches a server from a
test run; the request is still recorded and fails the check.

Reference: Chrome DevTools Protocol, https://chromedevtools.github.io/devtools-protocol/
(domains Target, Page, Runtime, Log, Network, Emulation; flat sessions).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urldefrag

import websocket

__all__ = [
    "CHROMIUM_ENV",
    "Chromium",
    "DevToolsError",
    "PageCheck",
    "TocLink",
    "find_chromium",
    "living_processes",
    "png_size",
]

#: Environment variable naming the browser executable, checked before the PATH.
CHROMIUM_ENV = "RAMLAB_CHROMIUM"
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")

#: Flags for a quiet, offline, disposable headless browser. ``--no-sandbox`` because CI
#: runs as root, where Chromium refuses to start sandboxed.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost",
    "--remote-debugging-port=0",
)
#: URL patterns refused by the page's network stack (file: and data: are not matched).
_BLOCKED = ("http://*", "https://*", "ws://*", "wss://*", "ftp://*")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL if the test process dies without closing us.

    Linux ``prctl(PR_SET_PDEATHSIG)``; the browser's helpers exit when it does. Elsewhere
    this does nothing and :meth:`Chromium.close` is the only cleanup.
    """
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class DevToolsError(RuntimeError):
    """The browser failed to start, answered with an error, or did not answer in time."""


def find_chromium() -> str | None:
    """Return the Chromium executable to use, or None when there is none.

    ``$RAMLAB_CHROMIUM`` wins when set (it must then name an executable), else the first of
    ``chromium``, ``chromium-browser``, ``google-chrome-stable``, ``google-chrome`` on PATH.
    """
    explicit = os.environ.get(CHROMIUM_ENV)
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            raise DevToolsError(f"${CHROMIUM_ENV}={explicit!r} is not an executable")
        return found
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def living_processes(group: int) -> list[int]:
    """Ids of the processes of process group `group` that are not zombies (Linux /proc)."""
    living = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == group and fields[0] not in ("Z", "X"):
            living.append(int(entry.name))
    return living


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height in pixels from a PNG's IHDR chunk; ValueError if not a PNG."""
    if len(data) < 24 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return struct.unpack(">II", data[16:24])


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


class _Connection:
    """One websocket to the browser endpoint; commands are synchronous, events buffered."""

    def __init__(self, url: str, *, timeout: float):
        self.timeout = timeout
        self._ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
        self._next_id = 0
        self.events: list[tuple[str | None, str, dict]] = []

    def close(self) -> None:
        try:
            self._ws.close(timeout=1)
        except Exception:  # the browser may already be gone
            pass

    def send(self, method: str, params: dict | None = None, *, session: str | None = None,
             timeout: float | None = None) -> dict:
        ident = self._post(method, params, session)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._receive(deadline, waiting_for=method)
            if reply.get("id") == ident and "method" not in reply:
                if "error" in reply:
                    raise DevToolsError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})

    def _post(self, method: str, params: dict | None, session: str | None) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        return self._next_id

    def pump(self, seconds: float) -> bool:
        """Read events for at most ``seconds``; True if at least one arrived."""
        deadline = time.monotonic() + seconds
        before = len(self.events)
        try:
            while time.monotonic() < deadline:
                self._receive(deadline, waiting_for=None)
        except _Quiet:
            pass
        return len(self.events) > before

    def _receive(self, deadline: float, *, waiting_for: str | None) -> dict:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            if waiting_for is None:
                raise _Quiet
            raise DevToolsError(f"no answer to {waiting_for} in time")
        self._ws.settimeout(remaining)
        try:
            raw = self._ws.recv()
        except websocket.WebSocketTimeoutException:
            if waiting_for is None:
                raise _Quiet from None
            raise DevToolsError(f"no answer to {waiting_for} in time") from None
        except (websocket.WebSocketConnectionClosedException, OSError) as exc:
            raise DevToolsError(f"browser connection lost ({exc})") from exc
        message = json.loads(raw)
        if "method" in message:
            self.events.append((message.get("sessionId"), message["method"], message.get("params", {})))
            if message["method"] == "Page.javascriptDialogOpening":
                # An alert blocks the page, and every command after it, until answered.
                self._post("Page.handleJavaScriptDialog", {"accept": False}, message.get("sessionId"))
        return message


class _Quiet(Exception):
    """No event arrived before the deadline (internal)."""


class Chromium:
    """A headless Chromium process with one DevTools connection.

    Use as a context manager, or call :meth:`close` (idempotent): it closes the browser,
    then terminates and kills its whole process group, then removes the profile directory.

    Parameters
    ----------
    executable : str
        Path of the browser (see :func:`find_chromium`).
    timeout : float
        Seconds allowed for the start and for each DevTools command or page load.
    """

    def __init__(self, executable: str, *, timeout: float = 30.0):
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="ramlab-chromium-")
        self._log = open(os.path.join(self._profile, "chromium.log"), "wb")
        self._process: subprocess.Popen | None = None
        self._connection: _Connection | None = None
        try:
            self._process = subprocess.Popen(
                [executable, *_FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as a whole in close()
                preexec_fn=_die_with_parent,
            )
            self._connection = _Connection(self._endpoint(), timeout=timeout)
            # Pop-ups opened by a page are reported through target discovery.
            self._connection.send("Target.setDiscoverTargets", {"discover": True})
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def _endpoint(self) -> str:
        port_file = Path(self._profile, "DevToolsActivePort")
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise DevToolsError(f"chromium exited with code {self._process.returncode}: {self._log_tail()}")
            try:
                port, path = port_file.read_text().split("\n")[:2]
            except (FileNotFoundError, ValueError):
                time.sleep(0.05)
                continue
            if port.strip() and path.strip():
                return f"ws://127.0.0.1:{port.strip()}{path.strip()}"
            time.sleep(0.05)
        raise DevToolsError(f"chromium did not open its DevTools port in {self.timeout:.0f} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        self._log.flush()
        text = Path(self._log.name).read_text(errors="replace")
        return text[-2000:].strip() or "(no output)"

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.send("Browser.close", timeout=5)
            except Exception:  # killed below anyway
                pass
            self._connection.close()
            self._connection = None
        process, self._process = self._process, None
        if process is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=5)
                    break
                except subprocess.TimeoutExpired:
                    pass
            # Children of the group (zygote, renderers) may outlive the reaped leader.
            deadline = time.monotonic() + 5
            while living_processes(process.pid) and time.monotonic() < deadline:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            if process.poll() is None:
                process.wait(timeout=5)
        if not self._log.closed:
            self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def check_page(self, path: str | os.PathLike, *, screenshot: str | os.PathLike | None = None,
                   viewport: tuple[int, int] = (1280, 900), settle: float = 0.5) -> PageCheck:
        """Open a local HTML file in a fresh tab and record what happened.

        The tab gets a ``viewport`` (CSS px, scale 1); the page is loaded, then waited on
        until no request is in flight and no event came for ``settle`` seconds, then captured
        to ``screenshot`` (PNG, viewport at the top of the page), then each
        table-of-contents link is clicked from the top of the page.
        """
        if self._connection is None:
            raise DevToolsError("the browser is closed")
        url = Path(path).resolve().as_uri()
        tab = _Tab(self._connection, viewport=viewport, timeout=self.timeout)
        try:
            check = PageCheck(url=url)
            tab.load(url, settle=settle)
            if screenshot is not None:
                check.screenshot = Path(screenshot)
                check.screenshot.write_bytes(tab.screenshot())
            check.links = tab.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.href)")
            check.toc = tab.click_toc()
            tab.settle(settle)
            check.console_errors = tab.console_errors()
            check.requests = tab.requests()
            return check
        finally:
            tab.close()


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
  a.click();
  let last = NaN, stable = 0;
  for (let t = 0; t < 250 && stable < 3; t++) {
    await sleep(20);
    const top = el ? el.getBoundingClientRect().top : null;
    if (top === last) { stable++; } else { stable = 0; last = top; }
  }
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


class _Tab:
    """A page target with Network, Runtime, Log and Page enabled, and its child targets."""

    def __init__(self, connection: _Connection, *, viewport: tuple[int, int], timeout: float):
        self._c = connection
        self.timeout = timeout
        self._start = len(connection.events)
        self.target_id = connection.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = connection.send(
            "Target.attachToTarget", {"targetId": self.target_id, "flatten": True})["sessionId"]
        self.sessions = {self.session}
        self._enable(self.session)
        width, height = viewport
        self._send("Emulation.setDeviceMetricsOverride",
                   {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def _send(self, method: str, params: dict | None = None, **kwargs) -> dict:
        return self._c.send(method, params, session=self.session, **kwargs)

    def _enable(self, session: str) -> None:
        for domain in ("Network", "Runtime", "Log"):
            self._c.send(f"{domain}.enable", session=session)
        self._c.send("Network.setBlockedURLs", {"urls": list(_BLOCKED)}, session=session)
        if session == self.session:
            self._c.send("Page.enable", session=session)
        # Out-of-process frames and workers: paused until their domains are enabled.
        self._c.send("Target.setAutoAttach",
                     {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True},
                     session=session)

    def _events(self):
        return self._c.events[self._start:]

    def _adopt_children(self) -> None:
        """Enable the domains on newly auto-attached targets, then let them run."""
        for _session, method, params in self._events():
            if method != "Target.attachedToTarget" or params["sessionId"] in self.sessions:
                continue
            child = params["sessionId"]
            self.sessions.add(child)
            try:
                self._enable(child)
                self._c.send("Runtime.runIfWaitingForDebugger", session=child)
            except DevToolsError:  # the frame or worker went away meanwhile
                pass

    def _in_flight(self) -> int:
        pending: set[str] = set()
        for session, method, params in self._events():
            if session not in self.sessions:
                continue
            if method == "Network.requestWillBeSent":
                pending.add(params["requestId"])
            elif method in ("Network.loadingFinished", "Network.loadingFailed"):
                pending.discard(params["requestId"])
        return len(pending)

    def load(self, url: str, *, settle: float) -> None:
        result = self._send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise DevToolsError(f"cannot open {url}: {result['errorText']}")
        deadline = time.monotonic() + self.timeout
        while not any(s == self.session and m == "Page.loadEventFired" for s, m, _ in self._events()):
            if time.monotonic() > deadline:
                raise DevToolsError(f"{url} did not finish loading in {self.timeout:.0f} s")
            self._c.pump(0.1)
            self._adopt_children()
        self.evaluate("document.fonts.ready.then(() => true)", await_promise=True)
        self.settle(settle)

    def settle(self, quiet: float) -> None:
        """Wait until nothing is in flight and no event came for ``quiet`` seconds."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            self._adopt_children()
            if not self._c.pump(quiet) and self._in_flight() == 0:
                return
        # Still busy: the checks below report what was seen, a hang is not hidden.

    def evaluate(self, expression: str, *, await_promise: bool = False):
        result = self._send("Runtime.evaluate", {
            "expression": expression, "awaitPromise": await_promise, "returnByValue": True,
            "userGesture": True, "timeout": self.timeout * 1000,
        })
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise DevToolsError(f"evaluation failed: {text}")
        return result["result"].get("value")

    def screenshot(self) -> bytes:
        data = self._send("Page.captureScreenshot", {"format": "png"})["data"]
        return base64.b64decode(data)

    def click_toc(self) -> list[TocLink]:
        links = []
        for i, link in enumerate(self.evaluate(_LIST_TOC)):
            measured = self.evaluate(f"({_CLICK_TOC})({i})", await_promise=True)
            links.append(TocLink(href=link["href"], text=link["text"], **measured))
        return links

    def console_errors(self) -> list[str]:
        errors = []
        for session, method, params in self._events():
            if session not in self.sessions:
                continue
            if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                args = " ".join(str(a.get("value", a.get("description", a.get("type")))) for a in params["args"])
                errors.append(f"console.{params['type']}: {args}{_where(params.get('stackTrace'))}")
            elif method == "Runtime.exceptionThrown":
                d = params["exceptionDetails"]
                text = d.get("exception", {}).get("description") or d.get("text", "")
                errors.append(f"uncaught exception: {text} ({d.get('url', '')}:{d.get('lineNumber', 0) + 1})")
            elif method == "Page.javascriptDialogOpening":
                errors.append(f"{params['type']} dialog: {params['message']}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                e = params["entry"]
                errors.append(f"{e['source']} error: {e['text']}" + (f" ({e['url']})" if e.get("url") else ""))
        return errors

    def requests(self) -> list[str]:
        urls = []
        for session, method, params in self._events():
            if session in self.sessions and method == "Network.requestWillBeSent":
                urls.append(params["request"]["url"])
            elif session in self.sessions and method == "Network.webSocketCreated":
                urls.append(params["url"])
            elif method == "Target.targetCreated" and params["targetInfo"].get("openerId") == self.target_id:
                urls.append(params["targetInfo"]["url"] or "about:blank (pop-up)")
        return urls

    def close(self) -> None:
        try:
            self._c.send("Target.closeTarget", {"targetId": self.target_id}, timeout=5)
        except DevToolsError:
            pass


def _where(stack: dict | None) -> str:
    frames = (stack or {}).get("callFrames") or []
    if not frames:
        return ""
    f = frames[0]
    return f" ({unquote(f['url'])}:{f['lineNumber'] + 1})"
