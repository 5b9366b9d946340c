"""Reading a design's columns: names to arrays, with the checks R's svydesign makes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ramlab.categories import factor, is_categorical, not_categorical
from ramlab.errors import DesignError, WeightError

__all__ = ["aligned", "as_list", "categorical_column", "check_weights", "column", "combine", "count_distinct",
           "factor_codes"]


def as_list(x):
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def column(data, name, role):
    if name not in data.columns:
        from ramlab.errors import ColumnNotFoundError

        close = [c for c in data.columns if str(c).lower().startswith(str(name).lower()[:2])][:8]
        hint = f"; columns starting alike: {', '.join(map(repr, close))}" if close else ""
        raise ColumnNotFoundError(f"{role} column {name!r} is not in the data{hint}", variable=name)
    return data[name]


def aligned(series, index, what):
    """A Series on ``index``: the same labels in any order are aligned; other labels are an error.

    Reindexing silently would turn every unmatched row into a missing value
    (a mask of False, a weight of NaN): a wrong answer without a warning.
    """
    if series.index.equals(index):
        return series
    if len(series) == len(index) and series.index.is_unique and series.index.isin(index).all():
        return series.reindex(index)
    extra = series.index.difference(index)
    raise DesignError(
        f"{what} is a Series whose index does not match the data's "
        f"({len(series)} labels, {len(extra)} not in the data, e.g. {list(extra[:3])}; the data "
        f"has {len(index)} rows): give one value per row with the data's index, e.g. built "
        f"from design.data"
    )


def categorical_column(data, name, role):
    """A column used as categories (a grouping, a test's variable); a numeric one is a DesignError."""
    series = column(data, name, role)
    labels = (data.attrs.get("value_labels") or {}).get(name)
    if not is_categorical(series, value_labels=labels):
        raise DesignError(not_categorical(series, name, role), variable=name)
    return series


def factor_codes(series):
    """:func:`ramlab.categories.factor` as int64 codes (-1 = missing) and an array of labels."""
    codes, labels = factor(series)
    return codes.astype(np.int64), np.asarray(labels)


def combine(a, b):
    """Dense codes of the interaction of two code arrays (both >= 0)."""
    comb = a.astype(np.int64) * (int(b.max()) + 1 if b.size else 1) + b
    codes, _ = pd.factorize(comb)
    return codes.astype(np.int64)


def count_distinct(codes):
    """Number of distinct values of non-negative integer codes (linear time)."""
    if codes.size == 0:
        return 0
    return int(np.count_nonzero(np.bincount(codes)))


def check_weights(w, name):
    """Refuse missing, negative, infinite, all-zero or overflowing weights (WeightError)."""
    if w.size and not (w.min() >= 0):
        bad = np.isnan(w)
        if bad.any():
            raise WeightError(
                f"weight {name!r} has {int(bad.sum())} missing values", variable=name
            )
        raise WeightError(
            f"weight {name!r} has negative values (min {float(w.min())!r})", variable=name
        )
    if w.size and not np.isfinite(w).all():
        raise WeightError(f"weight {name!r} has infinite values", variable=name)
    if w.size and not w.any():
        raise WeightError(
            f"weight {name!r} is zero for every respondent ({w.size} rows): no estimate "
            "can be made", variable=name,
        )
    # Totals, variances and Kish's design effect sum weights and their squares:
    # both must stay within float64 (about 1.8e308).
    with np.errstate(over="ignore"):
        overflow = w.size and not (np.isfinite(w.sum()) and np.isfinite(np.dot(w, w)))
    if overflow:
        raise WeightError(
            f"weight {name!r} is too large to compute with: its largest value "
            f"{float(w.max())!r} makes weighted sums overflow float64", variable=name,
        )
