"""Key figures: the few numbers of a report that partners quote.

A report notebook publishes its key figures with :func:`publish`, as the
French text the report shows ("73 %", "1,6", "148 429"). The call displays a
JSON output of MIME type :data:`MIME`; the HTML renderer drops that output
(it is not for readers), and ``ramlab build`` reads it back from the executed
notebook with :func:`read` to tell which figures changed since the last
build (:func:`change_lines`), and to list them on ``reports/index.html``.

Figures are compared as displayed text: what matters is whether an edition
already sent to partners would read differently, not a change in the fifth
decimal that rounding hides.

Example, in a report notebook::

    from ramlab.format import fmt_pct
    from ramlab.reports import keyfigures
    keyfigures.publish({"Q7 Au niveau local": fmt_pct(0.731)})

This module imports nothing beyond the standard library at import time
(IPython is imported by :func:`publish`, which runs in a kernel).
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["MIME", "publish", "from_tables", "read", "read_file", "diff", "change_lines"]

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


#: Row kinds of a table that are key figures, by question type (see :func:`from_tables`).
_KEY_ROWS = {
    "multi": ("category", "answers"),
    "grid": ("first category", "net"),
    "single": ("net", "category"),
    "scale": ("net",),
    "numeric": ("mean", "median"),
}


def from_tables(tables) -> dict[str, str]:
    """The key figures of a report: a generic rule applied to its tables' total column.

    Parameters
    ----------
    tables : iterable of ramlab.tables.Table
        The report's tables (the "Ensemble" column is read, as displayed).

    Returns
    -------
    dict
        ``{label: text}``, labels ``"<question id> <item> : <row>"``:

        - multi-response: every answer and the mean number of answers
          (e.g. Q7's four levels and "1,6");
        - grid: per item, its first answer ("Oui") and its nets ("Oui ou
          dans les 6 mois");
        - single choice: its nets, or every answer when it has none;
        - scale: its nets (e.g. the top-2 box "Total Oui"), or every answer;
        - numeric: mean and median;
        - every question's weighted base.

        Texts are those the report displays (French format, hidden small
        bases included), so that :func:`diff` sees what a reader would.
    """
    figures: dict[str, str] = {}
    for table in tables:
        shown = table.display_frame().iloc[:, 0]  # the "Ensemble" column comes first
        kinds = table.kinds
        for qid, info in table.questions.items():
            wanted = _KEY_ROWS.get(info.type, ("category",))
            rows = [(key, kind) for key, kind in zip(kinds.index, kinds) if key[0] == qid]
            if info.type in ("single", "scale") and not any(k == "net" for _, k in rows):
                wanted = ("category",)
            seen_items = set()
            for (question, item, row), kind in rows:
                first = kind == "category" and item not in seen_items
                if kind == "category":
                    seen_items.add(item)
                keep = kind in wanted or (first and "first category" in wanted)
                if not keep:
                    continue
                label = " ".join(part for part in (question.upper(), str(item or "")) if part)
                figures[f"{label} : {row}"] = str(shown[(question, item, row)])
            bases = [(key, kind) for key, kind in rows if kind == "base"]
            if bases:
                key = bases[0][0]
                figures[f"{qid.upper()} : {key[2]}"] = str(shown[key])
    return figures


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


def change_lines(label: str, before: dict | None, after: dict) -> list[str]:
    """French lines naming each key figure whose displayed text changed.

    Parameters
    ----------
    label : str
        The job's label, e.g. ``"associations 2021"``.
    before : dict or None
        Key figures of the previous build (None: first build, nothing to compare).
    after : dict
        Key figures of this build.

    Returns
    -------
    list of str
        e.g. ``"associations 2021 : Q7 Au niveau local 73 % -> 74 %"``;
        a figure new or gone shows ``(nouveau)`` / ``(retiré)``.
    """
    if before is None:
        return []
    return [
        f"{label} : {name} {old if old is not None else '(nouveau)'} -> "
        f"{new if new is not None else '(retiré)'}"
        for name, old, new in diff(before, after)
    ]
