"""Key figures: the few numbers of a report that partners quote.

A report notebook publishes its key figures with :func:`publish`, as the
French text the report shows ("73 %", "1,6", "148 429"). The call displays a
JSON output of MIME type :data:`MIME`; the HTML renderer drops that output
(it is not for readers), and ``ramlab build`` reads it back from the executed
notebook with :func:`read` to tell which figures changed since the last
build, and to list them on ``reports/index.html``.

Figures are compared as displayed text: what matters is whether an edition
already sent to partners would read differently, not a change in the fifth
decimal that rounding hides.

Example, in a report notebook::

    from ramlab.format import fmt_pct
    from ramlab import keyfigures
    keyfigures.publish({"Q7 Au niveau local": fmt_pct(0.731)})

This module imports nothing beyond the standard library at import time
(IPython is imported by :func:`publish`, which runs in a kernel).
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["MIME", "publish", "read", "read_file", "diff"]

#: MIME type of the key-figure output of a notebook.
MIME = "application/vnd.ramlab.keyfigures+json"


def _validated(figures) -> dict[str, str]:
    """`figures` as a plain ``{label: text}`` dict, or TypeError naming the bad entry."""
    items = figures.items() if hasattr(figures, "items") else figures
    checked = {}
    for label, text in items:
        if not isinstance(label, str) or not label.strip():
            raise TypeError(f"a key-figure label must be a non-empty str, got {label!r}")
        if not isinstance(text, str):
            raise TypeError(
                f"key figure {label!r} must be the displayed text (a str such as "
                f"fmt_pct(0.73) -> '73 %'), got {type(text).__name__} {text!r}"
            )
        checked[label] = text
    return checked


def publish(figures) -> None:
    """Publish key figures from a running notebook.

    Parameters
    ----------
    figures : mapping or iterable of (label, text) pairs
        French label -> displayed text, in the order the index page should
        list them, e.g. ``{"Q7 Au niveau local": "73 %"}``. Several calls in
        one notebook add up; a label published twice keeps its last text.

    Raises
    ------
    TypeError
        When a label is not a non-empty str or a text is not a str.
    """
    from IPython.display import display

    display({MIME: {"figures": _validated(figures)}}, raw=True)


def read(notebook: dict) -> dict[str, str]:
    """Key figures published in an executed notebook.

    Parameters
    ----------
    notebook : dict
        The notebook as parsed JSON (``json.load``; nbformat is not needed).

    Returns
    -------
    dict
        ``{label: text}`` in publication order; empty when none was published.
    """
    figures: dict[str, str] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) or []:
            payload = (output.get("data") or {}).get(MIME)
            if payload is None:
                continue
            if isinstance(payload, str):  # some writers keep JSON outputs as text
                payload = json.loads(payload)
            figures.update(_validated(payload.get("figures", {})))
    return figures


def read_file(path) -> dict[str, str]:
    """Key figures of the executed notebook at `path` (empty when the file is missing)."""
    path = Path(path)
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as stream:
        return read(json.load(stream))


def diff(before: dict[str, str], after: dict[str, str]) -> list[tuple[str, str | None, str | None]]:
    """The figures whose displayed text differs between two builds.

    Parameters
    ----------
    before, after : dict
        ``{label: text}`` of the previous and the new build.

    Returns
    -------
    list of (label, old text or None, new text or None)
        Changed figures in the new build's order, then removed ones; None
        marks a figure absent from one side.
    """
    changes = [
        (label, before.get(label), text)
        for label, text in after.items()
        if before.get(label) != text
    ]
    changes += [(label, text, None) for label, text in before.items() if label not in after]
    return changes
