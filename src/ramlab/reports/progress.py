"""The progress display of ``ramlab build``: a line per finished job, a live status on a terminal."""

from __future__ import annotations

import shutil
import time

from ramlab.format import fmt_seconds

__all__ = ["Progress"]


class Progress:
    """One line per finished job, with its time and the counts.

    On a terminal, a status line below them shows the running jobs and is
    rewritten in place; otherwise (a log, a pipe) the output is plain lines.
    """

    def __init__(self, stream, total: int, *, enabled: bool = True):
        self.stream = stream
        self.total = total
        self.enabled = enabled
        isatty = getattr(stream, "isatty", None)
        self.live = enabled and bool(isatty and isatty())
        self.done = 0
        self.failed = 0
        self.started: dict[str, float] = {}
        self._status = False

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _clear(self) -> None:
        if self._status:
            self._write("\r\x1b[K")
            self._status = False

    def finished(self, result) -> None:
        self.done += 1
        self.failed += not result.ok
        self.started.pop(result.job.key, None)
        if not self.enabled:
            return
        self._clear()
        state = "construit" if result.ok else "ÉCHEC"
        line = f"[{self.done}/{self.total}] {result.job.label} : {state} en {fmt_seconds(result.seconds)}"
        if result.attempts > 1:
            line += " (noyau relancé une fois)"
        if not result.ok:
            line += f"\n    {result.message}"
        self._write(line + "\n")

    def tick(self, running=()) -> None:
        """Refresh the status line with the jobs now running (terminal only)."""
        now = time.perf_counter()
        for job in running:
            self.started.setdefault(job.key, now)
        if not self.live:
            return
        labels = [
            f"{job.label} ({int(now - self.started[job.key])} s)"
            for job in running
        ]
        waiting = self.total - self.done - len(labels)
        status = (
            f"{self.done}/{self.total} terminés"
            + (f", {self.failed} en échec" if self.failed else "")
            + (f" ; en cours : {', '.join(labels)}" if labels else "")
            + (f" ; {waiting} en attente" if waiting > 0 else "")
        )
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self._write("\r\x1b[K" + status[:width])
        self._status = True

    def close(self) -> None:
        if self.live:
            self._clear()
