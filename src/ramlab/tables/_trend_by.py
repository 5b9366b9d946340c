"""Trends per subgroup: ``trend(surveys, "q8", by="taille")``."""

from __future__ import annotations

import dataclasses

import pandas as pd

from ramlab.errors import TableError
from ramlab.tables._questions import unwrap

__all__ = ["trend_by"]


def _groups(designs, by):
    """The groups of ``by``: the categories of the latest year first, then the others'."""
    out = []
    for y in sorted(designs, reverse=True):
        col = designs[y].data.get(by) if hasattr(designs[y], "data") else None
        if col is None:
            raise TableError(f"trend(by={by!r}): column {by!r} is absent from the data of {y}")
        if not isinstance(col.dtype, pd.CategoricalDtype):
            raise TableError(
                f"trend(by={by!r}): column {by!r} of {y} is {col.dtype}, not a categorical; "
                f"group it first (pandas.cut, or a categorical column)"
            )
        out.extend(c for c in col.cat.categories if c not in out and (col == c).any())
    return out


def trend_by(trend, designs, row, by, *, specs=None, **options):
    """One :func:`trend` per group of ``by``, stacked: the item level names the group.

    Each group's trend is computed on the group's domain of each year's
    design (``Design.subset(data[by] == group)``), so its variances are
    those of a domain estimate in each year. A group absent from a year is
    left out, with a note.

    Returns
    -------
    Table
        The rows of each group's trend, their ``item`` prefixed with the
        group ("1 à 9 salariés", or "1 à 9 salariés – Mécénat" for a grid);
        ``tests`` likewise.
    """
    unwrapped = {y: unwrap(d, (specs or {}).get(y))[:2] for y, d in designs.items()}
    groups = _groups({y: d for y, (d, _) in unwrapped.items()}, by)
    tables, absent = [], []
    for g in groups:
        sub = {}
        for y, (d, _) in unwrapped.items():
            mask = (d.data[by] == g).fillna(False).to_numpy(dtype=bool)
            if mask.any():
                sub[y] = d.subset(mask)
        if len(sub) < 2:
            absent.append(str(g))
            continue
        t = trend(sub, row, specs={y: unwrapped[y][1] for y in sub}, **options)
        tables.append((str(g), t))
    if not tables:
        raise TableError(f"trend(by={by!r}): no group of {by!r} has respondents in two years")

    def relabel(index):
        return pd.MultiIndex.from_tuples(
            [(q, f"{g} – {item}" if item else g, r) for q, item, r in index], names=index.names)

    parts = {k: [] for k in ("frame", "se", "marks", "small", "kinds")}
    tests = []
    for g, t in tables:
        for k in parts:
            part = getattr(t, k).copy()
            part.index = relabel(part.index)
            parts[k].append(part)
        tt = t.tests.copy()
        tt["item"] = [f"{g} – {i}" if i else g for i in tt["item"]]
        tests.append(tt)
    # the whole base's trend gives the base line and the options
    first = trend(designs, row, specs=specs, **options)
    qid = first.frame.index[0][0]
    info = dataclasses.replace(first.questions[qid])
    labels = [(getattr(d, "data", None) is not None and d.data.attrs.get("variable_labels", {}).get(by))
              for d, _ in unwrapped.values()]
    label = next((lab for lab in reversed(labels) if lab), by)
    notes = [f"Évolutions par « {label} » : chaque groupe comparé à lui-même d'une édition à "
             "l'autre."]
    if absent:
        notes.append(f"Sans répondant dans au moins deux éditions : {', '.join(absent)}.")
    info.empty_notes = list(info.empty_notes or []) + notes
    info.row_keys = [key for _, t in tables for key in t.questions[qid].row_keys]
    return dataclasses.replace(
        first,
        frame=pd.concat(parts["frame"]), se=pd.concat(parts["se"]), marks=pd.concat(parts["marks"]),
        small=pd.concat(parts["small"]), kinds=pd.concat(parts["kinds"]),
        tests=pd.concat(tests, ignore_index=True), questions={qid: info},
    )
