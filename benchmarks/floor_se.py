"""The numpy floor of a standard error after raking (issue 14, targets 1 and 4).

Plain numpy, nothing from ramlab: the calibration-aware linearised variance of a
weighted mean after raking, for a one-stage design sampled with replacement
(every row its own PSU, one stratum), as R survey computes it (``svymean`` on a
``rake``d design: ``svyrecvar`` with ``greg_calibration``). The influence values
of the mean, ``x_i = w_i (y_i - ybar) / N``, are replaced by the residuals
``qr.resid(qr(mm * sqrt(w_old)), x / w) * w`` with ``w = g * sqrt(w_old)``, i.e.
``e_i = x_i - w_i X_i b``, where ``b`` is the weighted (``w_old``) least-squares
fit of ``x_i / w_i`` on the raking indicators ``X_i`` (which depend on a row only
through its raking cell), and ``V = n / (n - 1) (sum e e' - E E' / n)``.

:func:`prepare` does, once per raked design, what raking itself leaves behind (the
raking cell of each row, the cells' indicator table, the pseudo-inverse of the
cells' Gram matrix, the squared weights); :func:`se_numeric_mean` and
:func:`se_factor_proportions` are the per-variable work that a benchmark times:

- a numeric mean: a handful of passes over the rows (weighted sums, one bincount
  over the raking cells, a gather);
- the proportions of a factor, per cell: rows are grouped by (raking cell x
  category), where the residual of the indicator influence values is constant
  up to the row's weight, so three weighted bincounts over the combined codes
  (sums of ``w``, ``w**2`` and ``w_old``) give every cross-product; no
  ``n x k`` matrix.

``benchmarks/bench_se.py`` times ramlab against these functions and checks that
the standard errors agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Floor", "prepare", "se_numeric_mean", "se_factor_proportions"]


@dataclass(frozen=True)
class Floor:
    """What raking leaves behind for the variance (computed once per design)."""

    cell: np.ndarray  # (n,) raking cell of each row, 0..ncell-1
    ncell: int
    ind: np.ndarray  # (ncell, p) raking indicators of each cell
    ginv: np.ndarray  # (p, p) pseudo-inverse of X' diag(w_old) X
    w: np.ndarray  # (n,) raked weights
    w_old: np.ndarray  # (n,) weights before raking
    w2: np.ndarray  # (n,) w ** 2


def prepare(margin_codes, w_old, w):
    """Raking cells of the margin columns and the cells' projection.

    Parameters
    ----------
    margin_codes : list of ndarray of int
        Category codes (0..K-1) of each raking variable.
    w_old, w : ndarray
        Weights before and after raking.
    """
    Ks = [int(c.max()) + 1 for c in margin_codes]
    cell = np.zeros(w.shape[0], dtype=np.int64)
    for codes, K in zip(margin_codes, Ks):
        cell = cell * K + codes
    ncell = int(np.prod(Ks))
    # indicator columns of every cell of the cross-classification
    grid = np.indices(Ks).reshape(len(Ks), -1)  # (terms, ncell), C order as ``cell``
    ind = np.concatenate([np.eye(K)[g] for g, K in zip(grid, Ks)], axis=1)
    cw = np.bincount(cell, weights=w_old, minlength=ncell)
    G = ind.T @ (ind * cw[:, None])
    return Floor(cell, ncell, ind, np.linalg.pinv(G, hermitian=True), w, w_old, w * w)


def se_numeric_mean(f, y):
    """Weighted mean of ``y`` and its SE after raking."""
    w, n = f.w, f.w.shape[0]
    N = w.sum()
    ybar = (w @ y) / N
    d = y - ybar
    cs = np.bincount(f.cell, weights=f.w_old * d, minlength=f.ncell)
    fit = f.ind @ (f.ginv @ (f.ind.T @ cs))
    e = w * (d - np.take(fit, f.cell))
    E = e.sum()
    V = (e @ e - E * E / n) * n / (n - 1) / (N * N)
    return ybar, np.sqrt(V)


def se_factor_proportions(f, codes, K):
    """Weighted proportions of the categories 0..K-1 of ``codes`` and their SEs, per cell."""
    n = f.w.shape[0]
    joint = f.cell * K + codes
    size = f.ncell * K
    W = np.bincount(joint, weights=f.w, minlength=size).reshape(f.ncell, K)
    W2 = np.bincount(joint, weights=f.w2, minlength=size).reshape(f.ncell, K)
    W0 = np.bincount(joint, weights=f.w_old, minlength=size).reshape(f.ncell, K)
    N = W.sum()
    p = W.sum(axis=0) / N
    # Residual of the indicator of category k in (cell c, category m), per unit of weight
    # and in units of 1 / N: a[c, m] = e_m - q_c with q_c = p + fit_c, fit_c the w_old
    # least-squares fit on the raking indicators of cell c. The sums over the rows,
    # sum W2[c, m] a a' and sum W[c, m] a, expand without forming a[c, m].
    cs = W0 - W0.sum(axis=1, keepdims=True) * p  # (ncell, K): sum of w_old (delta - p) per cell
    q = p + f.ind @ (f.ginv @ (f.ind.T @ cs))  # (ncell, K)
    M = W2.T @ q  # (K, K): sum over cells of W2[c, m] q_c
    S = np.diag(W2.sum(axis=0)) - M - M.T + q.T @ (q * W2.sum(axis=1)[:, None])
    E = W.sum(axis=0) - W.sum(axis=1) @ q
    V = (S - np.outer(E, E) / n) * n / (n - 1) / (N * N)
    return p, np.sqrt(np.diag(V))
