"""Coding a categorical column, once for the whole package (R ``factor``).

Every part of ramlab that turns a column into category codes (design
variables, strata and clusters, raking margins, calibration totals,
post-strata) goes through :func:`factor`, so that they agree on the order
of the categories and on what counts as missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["factor", "missing_as_level", "is_categorical", "not_categorical"]

#: Integer codes with value labels and at most this many distinct values are categories.
MAX_LABELLED_CODES = 30


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


def is_categorical(series, *, value_labels=None):
    """True when a column can be used as categories (a grouping, a categorical answer).

    Categorical, boolean and text columns are; so are 0/1 indicators (a
    multi-response item) and integer codes with value labels
    (``value_labels``, e.g. ``data.attrs["value_labels"][name]``) taking at
    most :data:`MAX_LABELLED_CODES` distinct values. Any other numeric column
    (a weight, an identifier, an amount) is not.
    """
    if isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(series.dtype):
        return True
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        return True
    if not pd.api.types.is_numeric_dtype(series.dtype):
        return False
    values = pd.unique(series.dropna().to_numpy())
    if np.isin(values, (0, 1)).all():
        return True
    if value_labels:
        return len(values) <= MAX_LABELLED_CODES and bool(np.all(np.mod(values, 1) == 0))
    return False


def not_categorical(series, name, role):
    """The message for a numeric column used as categories: names it, its dtype, and the ways out."""
    return (
        f"{role} {name!r} is a {series.dtype} column with {series.nunique()} distinct values, "
        f"not a categorical: cut it into classes (pd.cut(data[{name!r}], bins=...)) or make "
        f"it a categorical (data[{name!r}].astype('category'))"
    )
