"""Coding a categorical column, once for the whole package (R ``factor``).

Every part of ramlab that turns a column into category codes (design
variables, strata and clusters, raking margins, calibration totals,
post-strata) goes through :func:`factor`, so that they agree on the order
of the categories and on what counts as missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["factor", "missing_as_level"]


def factor(series):
    """Codes and labels of a column, in R factor order.

    Parameters
    ----------
    series : pandas.Series

    Returns
    -------
    codes : ndarray of int
        Category of each row, -1 where the value is missing. A categorical
        column keeps its own integer type (``series.cat.codes``).
    labels : pandas.Index
        The categories: a categorical column's own order; otherwise the
        sorted distinct values (R ``factor()``).
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy(), series.cat.categories
    codes, uniques = pd.factorize(series, sort=True)
    return codes, pd.Index(uniques)


def missing_as_level(codes, labels):
    """Give the missing values (code -1) an extra, last level labelled None.

    Weighting uses it for rows outside a domain (zero weight) that have no
    category: they need a cell, but no target. Returns (codes, labels).
    """
    miss = codes < 0
    if not miss.any():
        return codes, labels
    return np.where(miss, len(labels), codes), labels.append(pd.Index([None]))
