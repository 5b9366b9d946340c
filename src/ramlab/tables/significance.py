"""Significance helpers for banner tables: t p-values, p-value adjustment, letters.

Kept apart from :mod:`ramlab.tables` so that the arithmetic can be tested
against closed forms and R's ``p.adjust`` without building a table.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["t_pvalue", "adjust_pvalues", "column_letters", "ADJUST_METHODS"]

ADJUST_METHODS = (None, "bonferroni", "holm", "bh")


def t_pvalue(t, df):
    """Two-sided p-value of `t` on the t distribution with `df` degrees of freedom.

    As R's ``svyttest``: ``2 * pt(-abs(t), df)``. NaN where `t` is NaN (a
    contrast with zero standard error is not tested).
    """
    t = np.asarray(t, dtype=float)
    return 2.0 * stats.t.sf(np.abs(t), df)


def adjust_pvalues(p, method=None):
    """Adjust a vector of p-values for multiple comparisons, as R's ``p.adjust``.

    Parameters
    ----------
    p : array_like
        p-values; NaN entries are left NaN and not counted (R: ``n = sum(!is.na(p))``).
    method : {None, "bonferroni", "holm", "bh"}
        None returns `p` unchanged; "bh" is Benjamini-Hochberg (R "BH").

    Returns
    -------
    ndarray
        Adjusted p-values, capped at 1.
    """
    p = np.asarray(p, dtype=float)
    if method is None:
        return p.copy()
    if method not in ADJUST_METHODS:
        raise ValueError(f"adjust must be one of {ADJUST_METHODS}, not {method!r}")
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    if method == "bonferroni":
        adj = np.minimum(1.0, q * m)
    elif method == "holm":
        order = np.argsort(q, kind="stable")
        steps = (m - np.arange(m)) * q[order]
        adj_sorted = np.minimum(1.0, np.maximum.accumulate(steps))
        adj = np.empty(m)
        adj[order] = adj_sorted
    else:  # Benjamini-Hochberg
        order = np.argsort(q, kind="stable")[::-1]
        ranks = np.arange(m, 0, -1)
        adj_sorted = np.minimum(1.0, np.minimum.accumulate(m / ranks * q[order]))
        adj = np.empty(m)
        adj[order] = adj_sorted
    out[ok] = adj
    return out


def column_letters(count):
    """Letters naming banner columns: A, B, ..., Z, AA, AB, ... (upper case)."""
    letters = []
    for i in range(count):
        name = ""
        k = i
        while True:
            name = chr(ord("A") + k % 26) + name
            k = k // 26 - 1
            if k < 0:
                break
        letters.append(name)
    return letters
