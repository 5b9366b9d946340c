"""Numbers out of a table: confidence intervals, the tidy frame (one row per cell), CSV.

Intervals: for a percentage (column %), R ``svyciprop(method = "xlogit")``,
a t interval on the logit scale back-transformed, so that it stays within
[0, 1]; for a mean, a count or a row %, ``confint(..., df = degf(design))``,
a t interval. Both on the table's design degrees of freedom (``options.df``;
for a trend, the latest year's). For a median, the Woodruff interval of R
``svyquantile`` in the column's domain (``Table.intervals``, made at 95 %:
NaN at another level).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ramlab.tables._options import PERCENT

TIDY_COLUMNS = ["question", "item", "category", "kind", "variable", "group", "estimate", "se",
                "ci_low", "ci_high", "n", "weighted_base", "marks", "small"]
_BASES = ("n", "base")


def confidence_intervals(table, level=0.95):
    """(low, high): DataFrames shaped as ``table.frame``; NaN where there is no interval."""
    est = table.frame.to_numpy(dtype=float)
    se = table.se.to_numpy(dtype=float)
    df = table.options.df
    qt = stats.t.ppf(1 - (1 - level) / 2, df) if df > 0 else np.nan
    kinds = table.kinds.to_numpy()
    low = est - qt * se
    high = est + qt * se
    if table.options.cells == "column%":
        pct = np.isin(kinds, list(PERCENT))
        with np.errstate(divide="ignore", invalid="ignore"):
            centre = np.log(est / (1 - est))
            half = qt * se / (est * (1 - est))
            low[pct] = _expit(centre - half)[pct]
            high[pct] = _expit(centre + half)[pct]
    median = kinds == "median"
    low[median] = high[median] = np.nan
    if table.intervals is not None and level == 0.95:
        # by labels: a table cut into pieces (rows, columns) keeps the banner's intervals
        for out, bounds in zip((low, high), table.intervals):
            out[median] = bounds.reindex(index=table.frame.index, columns=table.frame.columns).to_numpy(
                dtype=float)[median]
    no_ci = np.isin(kinds, _BASES)[:, None] | np.isnan(se)
    if table.options.trend:  # the changes between years have their own tests
        no_ci = no_ci | (table.frame.columns.get_level_values(0) == "Évolution")[None, :]
    low[no_ci] = np.nan
    high[no_ci] = np.nan

    def frame(values):
        return pd.DataFrame(values, index=table.frame.index, columns=table.frame.columns)

    return frame(low), frame(high)


def _expit(x):
    e = np.exp(x)
    return e / (1.0 + e)


def tidy(table, level=0.95):
    """One row per cell (bases left out; they are the columns n and weighted_base)."""
    low, high = confidence_intervals(table, level)
    kinds = table.kinds.to_numpy()
    index = table.frame.index
    bases = {}
    for pos, (q, item, row) in enumerate(index):
        if kinds[pos] in _BASES:
            bases[(q, item, kinds[pos])] = pos
    cols = table.frame.columns
    records = []
    for pos, (q, item, row) in enumerate(index):
        kind = kinds[pos]
        if kind in _BASES:
            continue
        n_pos = bases.get((q, item, "n"), bases.get((q, "", "n")))
        b_pos = bases.get((q, item, "base"), bases.get((q, "", "base")))
        for j, (variable, group) in enumerate(cols):
            records.append({
                "question": q, "item": item, "category": row, "kind": kind,
                "variable": variable, "group": group,
                "estimate": table.frame.iat[pos, j], "se": table.se.iat[pos, j],
                "ci_low": low.iat[pos, j], "ci_high": high.iat[pos, j],
                "n": table.frame.iat[n_pos, j] if n_pos is not None else np.nan,
                "weighted_base": table.frame.iat[b_pos, j] if b_pos is not None else np.nan,
                "marks": table.marks.iat[pos, j], "small": bool(table.small.iat[pos, j]),
            })
    return pd.DataFrame(records, columns=TIDY_COLUMNS)


__all__ = ["TIDY_COLUMNS", "confidence_intervals", "tidy"]
