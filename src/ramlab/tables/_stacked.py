"""Tables of stacked years (:func:`ramlab.stack`): an answer not offered is missing, never 0 %.

A stacked survey's data records, in ``attrs["stacked"]``, the year column
and the answers that each year did not offer. A table column whose rows
come from such a year shows those answers as missing ("–"), as it does the
rows built on them (nets, means, the mean number of answers), leaves them
out of its significance tests, and the test of association between the
question and the columns is dropped: its table would hold structural zeros.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["mask_not_asked"]

def _column_years(years, column, answered):
    """The years of a table column's rows that answered the question's column."""
    years = years[column.mask & answered]
    return {y for y in pd.unique(years) if not pd.isna(y)}


def _data_column(item_key, qcols):
    if item_key in qcols:
        return item_key
    return qcols[0] if len(qcols) == 1 else None


def _gone(kind, label, per, years, q, order):
    """Whether a row is not an answer of one of ``years`` (``per``: {category: [years]})."""
    if kind in ("category", "missing"):
        return bool(years & set(per.get(label, [])))
    if kind == "net":
        members = (getattr(q, "nets", None) or {}).get(label, list(per))
        return any(years & set(per.get(m, [])) for m in members)
    # means and medians score the answers by position: a year's answers must
    # come first in the stacked order for its scores to be its own
    for y in years:
        asked = [c for c in order if y not in per.get(c, [])]
        if asked != list(order[: len(asked)]):
            return True
    return False


def _clear_letters(marks, pos, letters):
    for c in range(marks.shape[1]):
        mark = marks.iat[pos, c]
        if mark:
            marks.iat[pos, c] = "".join(ch for ch in mark if ch.upper() not in letters)


def mask_not_asked(table, data, spec=None):
    """The table with the answers a column's years did not offer set to missing.

    Parameters
    ----------
    table : Table
        A banner of a stacked survey (any other table is returned unchanged).
    data : pandas.DataFrame
        The stacked data (``attrs["stacked"]``: ``column``, ``not_asked``).
    spec : Spec, optional
        Gives the data columns and the nets of each question.
    """
    info = data.attrs.get("stacked")
    if not info or not info.get("not_asked"):
        return table
    not_asked = info["not_asked"]
    year_col = info["column"]
    years = data[year_col].to_numpy()
    frame, se, marks = table.frame.copy(), table.se.copy(), table.marks.copy()
    masked = set()  # (question, item, row, column label)
    unanswered = set()  # (question, item) with an answer not offered in some column
    qids = table.frame.index.get_level_values(0).to_numpy()
    complement = table.options.versus == "complement"
    for qid, info_q in table.questions.items():
        q = getattr(spec, "questions", {}).get(qid) if spec is not None else None
        qcols = list(q.columns) if q is not None else [qid]
        positions = np.flatnonzero(qids == qid)
        for pos, (item_key, label) in zip(positions, info_q.row_keys):
            col = _data_column(item_key, qcols)
            per = not_asked.get(col, {}) if col is not None else {}
            if not per:
                continue
            order = list(data[col].cat.categories) if col in data.columns else []
            answered = data[col].notna().to_numpy() if col in data.columns else True
            col_years = [_column_years(years, c, answered) for c in table.columns]
            kind = table.kinds.iloc[pos]
            if kind in ("n", "base"):
                continue
            gone = [_gone(kind, label, per, years, q, order) for years in col_years]
            if not any(gone):
                continue
            idx = table.frame.index[pos]
            unanswered.add(idx[:2])
            for c in np.flatnonzero(gone):
                frame.iat[pos, c] = np.nan
                se.iat[pos, c] = np.nan
                marks.iat[pos, c] = ""
                masked.add((*idx, table.columns[c].label))
            if complement:
                marks.iloc[pos, :] = ""
            else:
                _clear_letters(marks, pos, {table.columns[c].letter for c in np.flatnonzero(gone)} - {""})
    if not masked:
        return table
    table.frame, table.se, table.marks = frame, se, marks
    tests = table.tests
    if len(tests):
        drop = [
            (r.question, r.item, r.row, r.column) in masked
            or (r.question, r.item, r.row, r.versus) in masked
            for r in tests.itertuples()
        ]
        table.tests = tests[~np.asarray(drop, dtype=bool)].reset_index(drop=True)
    chisq = table.chisq
    if len(chisq):
        drop = [(r.question, r.item) in unanswered for r in chisq.itertuples()]
        table.chisq = chisq[~np.asarray(drop, dtype=bool)].reset_index(drop=True)
    return table
