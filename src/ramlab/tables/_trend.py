"""Trends: the same question across survey years, with the change and its test."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from ramlab.errors import TableError
from ramlab.format import fmt_number
from ramlab.tables._banner import CHISQ_COLUMNS, TEST_COLUMNS, banner
from ramlab.tables._options import TOTAL, TOTAL_LABEL
from ramlab.tables._questions import Column, unwrap
from ramlab.tables._table import Table
from ramlab.tables.significance import TESTED, t_pvalue


def trend(
    designs,
    row,
    *,
    specs=None,
    base=None,
    by=None,
    alpha=(0.05, 0.01),
    show_missing=None,
    digits=0,
    mean_digits=1,
    source=None,
):
    """The same question across two or more survey years, with the change in points.

    Parameters
    ----------
    designs : mapping {year: Design or Survey}
        One independent sample per year (a Survey brings its spec).
    row : str
        Question id (the same across years) or data column.
    specs : mapping {year: Spec}, optional
        Specs per year when `designs` holds Designs.
    base, show_missing, digits, mean_digits, source
        As in :func:`banner`.
    by : str, optional
        A categorical data column (e.g. ``"taille"``): one trend per group,
        each on the group's domain of every year, stacked (the ``item`` level
        names the group); see :func:`ramlab.tables._trend_by.trend_by`.

    Returns
    -------
    Table
        Columns ``("Année", year)`` with each year's estimate, then
        ``("Évolution", "y0-y1")`` for each pair of consecutive years (and
        first-last when there are more than two years): the change (proportion
        units; shown in points), its significance marked ``*`` (p < alpha[0])
        or ``**`` (p < alpha[1]). ``tests`` lists each change.

    Notes
    -----
    The samples are independent, so the variance of a change is the sum of the
    two years' linearised variances. The t reference has Welch-Satterthwaite
    degrees of freedom ``(v0 + v1)^2 / (v0^2/df0 + v1^2/df1)`` where ``df0``,
    ``df1`` are the designs' ``degf()``: each variance estimate has its own
    design df, and the combination follows Satterthwaite (1946); with equal
    variances and df it gives ``df0 + df1``, with one dominant variance it
    falls back to that year's df.

    Examples
    --------
    >>> import pandas as pd
    >>> from ramlab import Design
    >>> from ramlab.tables import trend
    >>> y1 = pd.DataFrame({"q": pd.Categorical(["Oui", "Non", "Non", "Non"])})
    >>> y2 = pd.DataFrame({"q": pd.Categorical(["Oui", "Oui", "Oui", "Non"])})
    >>> t = trend({2015: Design(y1), 2021: Design(y2)}, "q")
    >>> t.frame.loc[("q", "", "Oui")].round(2).tolist()  # 2015, 2021, change
    [0.25, 0.75, 0.5]
    """
    if len(designs) < 2:
        raise TableError("trend() needs at least two years")
    if by is not None:
        from ramlab.tables._trend_by import trend_by

        return trend_by(trend, designs, row, by, specs=specs, base=base, alpha=alpha,
                        show_missing=show_missing, digits=digits, mean_digits=mean_digits,
                        source=source)
    years = sorted(designs)
    tables, dfs = {}, {}
    for y in years:
        d, sp, _ = unwrap(designs[y], (specs or {}).get(y))
        tables[y] = banner(
            d, [row], [], spec=sp, base=base, letters=False, chisq=False,
            show_missing=show_missing, digits=digits, mean_digits=mean_digits,
            source=source, min_base=0,
        )
        dfs[y] = float(d.degf())
    return _trend_table(tables, dfs, years, tuple(alpha))


def _trend_table(tables, dfs, years, alpha):
    """The trend table from each year's total-column table."""
    qid, order, labels, kinds = _aligned_rows(tables, years)
    pairs = list(zip(years[:-1], years[1:]))
    if len(years) > 2:
        pairs.append((years[0], years[-1]))
    index = pd.MultiIndex.from_tuples([(qid, *labels[k]) for k in order],
                                      names=["question", "item", "row"])
    columns = pd.MultiIndex.from_tuples(
        [("Année", str(y)) for y in years] + [("Évolution", f"{a}-{b}") for a, b in pairs],
        names=["variable", "column"],
    )
    est = pd.DataFrame(np.nan, index=index, columns=columns)
    se = est.copy()
    for pos, y in enumerate(years):
        est.iloc[:, pos], se.iloc[:, pos] = _year_column(tables[y], order)
    kinds = {(qid, *labels[k]): kinds[k] for k in order}
    marks = pd.DataFrame("", index=index, columns=columns, dtype=object)
    records = _changes(est, se, marks, kinds, pairs, dfs, alpha, qid)
    last = tables[years[-1]]
    return Table(
        frame=est,
        se=se,
        marks=marks,
        small=pd.DataFrame(False, index=index, columns=columns),
        kinds=pd.Series([kinds[k] for k in index], index=index, name="kind"),
        tests=pd.DataFrame(records, columns=TEST_COLUMNS),
        chisq=pd.DataFrame(columns=CHISQ_COLUMNS),
        questions={qid: _trend_info(tables, years, qid, alpha)},
        columns=[Column("Année", "Année", str(y), "", None) for y in years]
        + [Column("Évolution", "Évolution (points)", f"{a}-{b}", "", None) for a, b in pairs],
        options=replace(last.options, letters=False, trend=True, alpha=alpha, min_base=0),
        source=last.source,
        synthetic=any(t.synthetic for t in tables.values()),
    )


def _trend_info(tables, years, qid, alpha):
    """The latest year's record of the question, with every year's base line and the trend note."""
    info = replace(tables[years[-1]].questions[qid])
    # each edition keeps its own base line: the bases may differ between years
    info.base_line = " ; ".join(
        f"{y} : " + next(iter(tables[y].questions.values())).base_line for y in years
    )
    lo, hi = alpha
    info.trend_note = (
        "Évolution en points ; * : évolution significative (p < "
        f"{fmt_number(lo, 2)}), ** : p < {fmt_number(hi, 2)} (échantillons indépendants, test t)."
    )
    return info


def _aligned_rows(tables, years):
    """The rows of every year, matched on stable keys.

    Rows are matched across years on the data column of a grid or
    multi-response item, then the answer label, so that an item renamed
    between two editions stays one row; labels are the latest year's.
    Returns the question id, the keys in order, and their labels and kinds.
    """
    qid = tables[years[-1]].frame.index[0][0]
    labels, kinds, order = {}, {}, []
    for y in reversed(years):
        t = tables[y]
        keys = t.questions[t.frame.index[0][0]].row_keys
        for key, idx in zip(keys, t.frame.index):
            if key not in labels:
                labels[key] = idx[1:]
                kinds[key] = t.kinds[idx]
                order.append(key)
    return qid, order, labels, kinds


def _year_column(table, order):
    """Estimates and SEs of the total column of one year, on the aligned rows."""
    q = table.frame.index[0][0]
    located = dict(zip(table.questions[q].row_keys, table.frame.index))
    col = table.frame[(TOTAL, TOTAL_LABEL)]
    err = table.se[(TOTAL, TOTAL_LABEL)]
    est = np.full(len(order), np.nan)
    se = np.full(len(order), np.nan)
    for pos, key in enumerate(order):
        idx = located.get(key)
        if idx is not None:
            est[pos], se[pos] = col[idx], err[idx]
    return est, se


def _changes(est, se, marks, kinds, pairs, dfs, alpha, qid):
    """Fill the change columns of `est`, `se` and `marks`; returns the tests."""
    records = []
    lo, hi = alpha
    for a, b in pairs:
        ccol = ("Évolution", f"{a}-{b}")
        dfa, dfb = dfs[a], dfs[b]
        for key in est.index:
            if kinds.get(key) not in TESTED:
                continue
            ea, eb = est.loc[key, ("Année", str(a))], est.loc[key, ("Année", str(b))]
            va, vb = se.loc[key, ("Année", str(a))] ** 2, se.loc[key, ("Année", str(b))] ** 2
            diff = eb - ea
            if np.isnan(diff):
                continue
            v = va + vb
            dfw = v**2 / (va**2 / dfa + vb**2 / dfb) if v > 0 else np.nan
            sd = math.sqrt(v)
            tt = diff / sd if sd > 0 else np.nan
            p = float(t_pvalue(tt, dfw)) if sd > 0 else np.nan
            mark = "**" if p < hi else ("*" if p < lo else "")
            est.loc[key, ccol] = diff
            se.loc[key, ccol] = sd
            marks.loc[key, ccol] = mark
            records.append(
                {"question": qid, "item": key[1], "row": key[2], "variable": "Évolution",
                 "column": str(b), "versus": str(a), "estimate": diff, "se": sd, "t": tt,
                 "df": dfw, "p_value": p, "p_adjusted": p, "mark": mark}
            )
    return records
