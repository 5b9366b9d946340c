"""Reading a design's columns: names to arrays, with the checks R's svydesign makes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ramlab.categories import factor
from ramlab.errors import WeightError

__all__ = ["as_list", "check_weights", "column", "combine", "count_distinct", "factor_codes"]


def as_list(x):
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def column(data, name, role):
    if name not in data.columns:
        raise KeyError(f"{role} column {name!r} is not in the data")
    return data[name]


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
            f"weight {name!r} has negative values (min {w.min()!r})", variable=name
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
            f"{w.max()!r} makes weighted sums overflow float64", variable=name,
        )
