"""Trends: the same question across survey years, with the change and its test.

The years are stacked into one design (:func:`ramlab.stack`: each year keeps
its own design and calibration, as a set of strata), and the trend is the
table of the question by year: each year's column is that year's own table,
and a change is the difference of two year columns, tested on the stacked
design's joint covariance, where the years' variances add up.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ramlab.errors import TableError
from ramlab.format import fmt_int, fmt_number
from ramlab.tables._banner import CHISQ_COLUMNS, TEST_COLUMNS, banner
from ramlab.tables._questions import Column, unwrap
from ramlab.tables._table import Table
from ramlab.tables.significance import TESTED

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
    designs : mapping {year: Survey or Design}, or a stacked Survey
        One independent sample per year, or the years already stacked by
        :func:`ramlab.stack`. Surveys are stacked with :func:`ramlab.stack`
        (each year's own base, categories the union); Designs are stacked
        with :func:`ramlab.design.stack_designs`, and the latest year's spec
        (``specs``) describes every year.
    row : str
        Question id (the same across years) or data column.
    specs : mapping {year: Spec}, optional
        Specs per year when `designs` holds Designs.
    base, show_missing, digits, mean_digits, source
        As in :func:`banner`.
    by : str, optional
        A categorical data column (e.g. ``"taille"``): one trend per group,
        each on the group's domain of the stacked design, stacked (the
        ``item`` level names the group); see :func:`ramlab.tables._trend_by.trend_by`.

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
    The samples are independent and stacked with their own strata, so the
    variance of a change is the sum of the two years' linearised variances
    (each with its calibration). The t reference has the stacked design's
    degrees of freedom, the sum of the years' (the letters' test of
    :func:`banner`, here between year columns, without correction); R: the
    rbind of the years with year-prefixed strata, calibrated on
    year-specific margins (``tests/fixtures/r/extra_stack.R``).

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
    design, spec, column, years = stacked_years(designs, specs)
    options = dict(base=base, alpha=tuple(alpha), show_missing=show_missing, digits=digits,
                   mean_digits=mean_digits, source=source)
    if by is not None:
        from ramlab.tables._trend_by import trend_by

        return trend_by(year_trend, design, spec, column, years, row, by, **options)
    table = year_trend(design, spec, column, years, row, **options)
    if table is None:
        raise TableError(f"trend({row!r}): fewer than two years have respondents")
    return table


def stacked_years(designs, specs=None):
    """``(stacked design, spec, year column, years)`` of the years to compare."""
    from ramlab.design import stack_designs
    from ramlab.io.stacking import stack, stack_data
    from ramlab.io.survey import Survey

    data = getattr(designs, "data", None)
    if data is not None and data.attrs.get("stacked"):
        design, spec, _ = unwrap(designs, None)
        info = data.attrs["stacked"]
        return design, spec, info["column"], list(info["years"])
    if len(designs) < 2:
        raise TableError("trend() needs at least two years")
    years = sorted(designs)
    ordered = {y: designs[y] for y in years}
    if specs is None and all(isinstance(d, Survey) and not d.is_domain for d in ordered.values()):
        stacked = stack(ordered)
        return stacked.design, stacked.spec, "year", years
    unwrapped = {y: unwrap(d, (specs or {}).get(y))[:2] for y, d in ordered.items()}
    spec = unwrapped[years[-1]][1]
    frames = {y: d.data for y, (d, _) in unwrapped.items()}
    if any("year" in f.columns for f in frames.values()):
        raise TableError("trend(): the data already has a column 'year'; stack the years with "
                         "ramlab.stack(..., column=...) and pass the stacked survey")
    data = stack_data(frames, column="year")
    return stack_designs({y: d for y, (d, _) in unwrapped.items()}, data), spec, "year", years


def year_trend(design, spec, column, years, row, *, base, alpha, show_missing, digits,
               mean_digits, source):
    """The trend of ``row`` on a stacked ``design``; None when under two years have respondents."""
    t = banner(design, [row], [column], spec=spec, base=base, letters=True, adjust=None,
               alpha=alpha, chisq=False, show_missing=show_missing, digits=digits,
               mean_digits=mean_digits, source=source, min_base=0)
    labels = [c.label for c in t.columns if c.variable == column]
    present = [y for y in years if str(y) in labels]
    if len(present) < 2:
        return None
    qid = t.frame.index[0][0]
    pairs = list(zip(present[:-1], present[1:]))
    if len(present) > 2:
        pairs.append((present[0], present[-1]))
    columns = pd.MultiIndex.from_tuples(
        [("Année", str(y)) for y in present] + [("Évolution", f"{a}-{b}") for a, b in pairs],
        names=["variable", "column"])
    est = pd.DataFrame(np.nan, index=t.frame.index, columns=columns)
    se = est.copy()
    for y in present:
        est[("Année", str(y))] = t.frame[(column, str(y))].to_numpy()
        se[("Année", str(y))] = t.se[(column, str(y))].to_numpy()
    marks = pd.DataFrame("", index=est.index, columns=columns, dtype=object)
    records = _changes(t.tests, est, se, marks, t.kinds, pairs, alpha)
    return Table(
        frame=est,
        se=se,
        marks=marks,
        small=pd.DataFrame(False, index=est.index, columns=columns),
        kinds=t.kinds.copy(),
        tests=pd.DataFrame(records, columns=TEST_COLUMNS),
        chisq=pd.DataFrame(columns=CHISQ_COLUMNS),
        questions={qid: _trend_info(t, design, spec, column, present, qid, base, alpha)},
        columns=[Column("Année", "Année", str(y), "", None) for y in present]
        + [Column("Évolution", "Évolution (points)", f"{a}-{b}", "", None) for a, b in pairs],
        options=replace(t.options, letters=False, trend=True, alpha=alpha, min_base=0),
        source=t.source,
        synthetic=t.synthetic,
    )


def _year_bases(t, design, spec, column, years, qid, base):
    """``{year: (base label, weighted base)}``: each year's own base of the question."""
    info = t.questions[qid]
    q = getattr(spec, "questions", {}).get(qid) if spec is not None else None
    data = design.data
    w = np.asarray(design.weights, dtype=float)
    out = {}
    if base is None and q is not None and q.base in getattr(spec, "bases", {}):
        stacked = spec.bases[q.base]
        mask = stacked.mask(data).to_numpy(dtype=bool)
        for y in years:
            own = getattr(stacked, "by_year", {}).get(y, stacked)
            out[y] = (own.label, float(w[mask & (data[column] == y).to_numpy()].sum()))
        return out
    # a data column or a given base: the rows tabulated, the question's first base row
    first = t.frame.index[(t.kinds == "base").to_numpy()][0]
    for y in years:
        out[y] = (info.base_label, float(t.frame.loc[first, (column, str(y))]))
    return out


def _trend_info(t, design, spec, column, years, qid, base, alpha):
    """The question's record, with every year's base line and the trend note."""
    info = replace(t.questions[qid])
    # each edition keeps its own base line: the bases may differ between years
    info.base_line = " ; ".join(
        f"{y} : Base : {label} ({fmt_int(wb)} {info.unit})"
        for y, (label, wb) in _year_bases(t, design, spec, column, years, qid, base).items())
    info.base_label = _year_bases(t, design, spec, column, years[-1:], qid, base)[years[-1]][0]
    lo, hi = alpha
    info.trend_note = (
        "Évolution en points ; * : évolution significative (p < "
        f"{fmt_number(lo, 2)}), ** : p < {fmt_number(hi, 2)} (échantillons indépendants, test t)."
    )
    return info


def _changes(tests, est, se, marks, kinds, pairs, alpha):
    """Fill the change columns of `est`, `se` and `marks` from the year-column tests.

    The tests of the stacked table give each pair of years ``earlier - later``;
    a change is ``later - earlier``. Returns the records of the changes.
    """
    lo, hi = alpha
    records = []
    if tests is None or not len(tests):
        return records
    by_key = {(r.question, r.item, r.row, r.column, r.versus): r for r in tests.itertuples()}
    for a, b in pairs:
        ccol = ("Évolution", f"{a}-{b}")
        for pos, key in enumerate(est.index):
            if kinds.iloc[pos] not in TESTED:
                continue
            r = by_key.get((*key, str(a), str(b)))
            if r is None or np.isnan(r.estimate):
                continue
            diff, sd, tt, p = -r.estimate, r.se, -r.t, r.p_value
            mark = "**" if p < hi else ("*" if p < lo else "")
            est.iat[pos, est.columns.get_loc(ccol)] = diff
            se.iat[pos, se.columns.get_loc(ccol)] = sd
            marks.iat[pos, marks.columns.get_loc(ccol)] = mark
            records.append(
                {"question": key[0], "item": key[1], "row": key[2], "variable": "Évolution",
                 "column": str(b), "versus": str(a), "estimate": diff, "se": sd, "t": tt,
                 "df": r.df, "p_value": p, "p_adjusted": p, "mark": mark})
    return records
