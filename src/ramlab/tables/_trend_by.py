"""Trends per subgroup: ``trend(surveys, "q8", by="taille")``."""

from __future__ import annotations

import dataclasses

import pandas as pd

from ramlab.errors import TableError

__all__ = ["trend_by"]


def _groups(data, by, column):
    """The groups of ``by`` with respondents: the latest year's categories first, then the others'."""
    col = data.get(by)
    if col is None:
        raise TableError(f"trend(by={by!r}): column {by!r} is absent from the data")
    if not isinstance(col.dtype, pd.CategoricalDtype):
        raise TableError(
            f"trend(by={by!r}): column {by!r} is {col.dtype}, not a categorical; "
            f"group it first (pandas.cut, or a categorical column)"
        )
    out = []
    for y in reversed(list(data[column].cat.categories)):
        present = col[(data[column] == y).to_numpy()]
        out.extend(c for c in col.cat.categories if c not in out and (present == c).any())
    return out


def trend_by(year_trend, design, spec, column, years, row, by, **options):
    """One trend per group of ``by``, stacked: the item level names the group.

    Each group's trend is computed on the group's domain of the stacked
    design (``design.subset(data[by] == group)``), so its variances are those
    of a domain estimate in each year. A group without respondents in two
    years is left out, with a note.

    Returns
    -------
    Table
        The rows of each group's trend, their ``item`` prefixed with the
        group ("1 à 9 salariés", or "1 à 9 salariés – Mécénat" for a grid);
        ``tests`` likewise.
    """
    data = design.data
    groups = _groups(data, by, column)
    tables, absent = [], []
    for g in groups:
        mask = (data[by] == g).fillna(False).to_numpy(dtype=bool)
        t = year_trend(design.subset(mask), spec, column, years, row, **options)
        if t is None:
            absent.append(str(g))
            continue
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
    first = year_trend(design, spec, column, years, row, **options)
    qid = first.frame.index[0][0]
    info = dataclasses.replace(first.questions[qid])
    label = (data.attrs.get("variable_labels") or {}).get(by) or by
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
