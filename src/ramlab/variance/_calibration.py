"""Calibration records and the calibration step of the linearised variance.

Weighting (:mod:`ramlab.weighting`) computes new weights and describes what
it did as a :class:`Calibration` record: the model matrix X
(:class:`CalibrationModel`: categorical cells plus numeric columns), the
weights before and after, and X^T diag(w_old) X. The variance engine
(:func:`residualise`, :class:`ramlab.variance.DomainPlan`) replaces the
influence values by their calibration residuals, as R ``svyrecvar`` does with
a ``greg_calibration`` record (Deville & Sarndal 1992 linearisation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ramlab.errors import WeightError
from ramlab.variance._linalg import pinv_sym, rowsum

__all__ = ["Calibration", "CalibrationModel", "CellIndicators", "cells_from_codes", "prepare_residualise",
           "refuse_rows_sent_to_0", "residualise"]


@dataclass(frozen=True, eq=False)
class CellIndicators:
    """Indicator columns of categorical terms, one row per cell.

    ``cols[c, t]`` is the column (0..kc-1) that the category of term ``t``
    takes in cell ``c``, or ``kc`` when that category has no column. All
    products are bincounts: no dense indicator matrix, no BLAS call.
    """

    cols: np.ndarray
    kc: int

    @property
    def ncell(self):
        return self.cols.shape[0]

    def take(self, use):
        return CellIndicators(self.cols[use], self.kc)

    def matvec(self, beta):
        ext = np.append(np.asarray(beta, dtype=float), 0.0)
        return ext[self.cols].sum(axis=1)

    def rmatvec(self, v):
        kc1 = self.kc + 1
        if v.ndim == 1:
            out = np.zeros(kc1)
            for t in range(self.cols.shape[1]):
                out += np.bincount(self.cols[:, t], weights=v, minlength=kc1)
            return out[: self.kc]
        out = np.zeros((kc1, v.shape[1]))
        for j in range(v.shape[1]):
            for t in range(self.cols.shape[1]):
                out[:, j] += np.bincount(self.cols[:, t], weights=v[:, j], minlength=kc1)
        return out[: self.kc]

    def gram(self, d):
        kc1 = self.kc + 1
        G = np.zeros(kc1 * kc1)
        T = self.cols.shape[1]
        for a in range(T):
            for b in range(T):
                G += np.bincount(self.cols[:, a] * kc1 + self.cols[:, b], weights=d,
                                 minlength=kc1 * kc1)
        return G.reshape(kc1, kc1)[: self.kc, : self.kc]


def cells_from_codes(cell_codes, Ks, keep=None):
    """:class:`CellIndicators` of full indicator sets (``keep[t][k]`` False: no column)."""
    C = cell_codes[0].shape[0]
    cols = np.empty((C, len(Ks)), dtype=np.int64)
    colmap = []
    kc = 0
    for t, K in enumerate(Ks):
        m = np.full(K, -1, dtype=np.int64)
        for k in range(K):
            if keep is None or keep[t][k]:
                m[k] = kc
                kc += 1
        colmap.append(m)
    for t, (cc, m) in enumerate(zip(cell_codes, colmap)):
        cols[:, t] = m[cc]
    cols[cols < 0] = kc
    return CellIndicators(cols, kc)


@dataclass(frozen=True, eq=False)
class CalibrationModel:
    """Calibration model matrix X = [indicators of categories | Z].

    The categorical part depends on a row only through its cell of the
    cross-classification of the categorical variables: ``cell`` (n,) gives
    each row's cell and ``cells`` the indicator columns of each cell.
    ``Z`` holds the numeric columns as a tuple of 1-D arrays (views of the
    data when possible: no n x q copy), or None.
    """

    cell: np.ndarray | None
    cells: CellIndicators | None
    Z: tuple | None
    names: tuple = field(default=())

    @property
    def ncell(self):
        return 0 if self.cells is None else self.cells.ncell

    @property
    def kc(self):
        return 0 if self.cells is None else self.cells.kc

    @property
    def q(self):
        return 0 if self.Z is None else len(self.Z)

    @property
    def p(self):
        return self.kc + self.q

    @property
    def is_categorical(self):
        """True when the model has categorical terms only (rows differ only by cell)."""
        return self.Z is None and self.cells is not None and self.cell is not None

    def cell_indicators(self):
        """Dense (ncell, kc) indicator matrix of the model's cells."""
        cells = self.cells
        ind = np.zeros((cells.ncell, cells.kc + 1))
        rows = np.arange(cells.ncell)
        for t in range(cells.cols.shape[1]):
            ind[rows, cells.cols[:, t]] += 1.0  # one column per row and term
        return ind[:, : cells.kc]

    def rmatvec(self, v):
        """X^T v for v (n,) or (n, k)."""
        parts = []
        if self.cells is not None:
            parts.append(self.cells.rmatvec(rowsum(v, self.cell, self.ncell)))
        if self.Z is not None:
            # einsum's own loop: one pass, no BLAS call per column
            sub = "i,i->" if v.ndim == 1 else "i,ij->j"
            parts.append(np.array([np.einsum(sub, z, v) for z in self.Z]))
        return np.concatenate(parts, axis=0)

    def matvec(self, beta):
        """X beta (n,) for beta (p,), or (n, k) for beta (p, k)."""
        beta = np.asarray(beta, dtype=float)
        kc = self.kc
        if beta.ndim == 2:
            return np.column_stack([self.matvec(beta[:, j]) for j in range(beta.shape[1])])
        out = None
        if self.cells is not None:
            out = np.take(self.cells.matvec(beta[:kc]), self.cell)
        if self.Z is not None:
            for j, z in enumerate(self.Z):
                if out is None:
                    out = z * beta[kc + j]
                else:
                    out += z * beta[kc + j]
        return out

    def gram(self, d):
        """X^T diag(d) X."""
        if self.cells is not None:
            cd = np.bincount(self.cell, weights=d, minlength=self.ncell)
            cc = self.cells.gram(cd)
            if self.Z is None:
                return cc
        Z = self.Z
        q = len(Z)
        n = Z[0].shape[0]
        nn = np.zeros((q, q))
        # by blocks of rows copied into a small column-major buffer: no
        # n x q matrix, cache-sized syrk calls (d >= 0: weights times F')
        sd = np.sqrt(d)
        step = 1 << 16
        buf = np.empty((step, q), order="F")
        for a in range(0, n, step):
            m = min(step, n - a)
            B = buf[:m]
            for j, z in enumerate(Z):
                np.multiply(z[a:a + m], sd[a:a + m], out=B[:, j])
            nn += B.T @ B
        if self.cells is None:
            return nn
        zcell = np.empty((self.ncell, q))
        for j, z in enumerate(Z):
            zcell[:, j] = np.bincount(self.cell, weights=z * d, minlength=self.ncell)
        cn = self.cells.rmatvec(zcell)
        return np.block([[cc, cn], [cn.T, nn]])


@dataclass(frozen=True, eq=False)
class Calibration:
    """Record of one weighting step, for variance estimation.

    Attributes
    ----------
    method : str
        "rake", "linear", "raking", "logit", "poststratify".
    model : CalibrationModel
        The calibration model matrix X (categorical cells + numeric columns).
    w_old, w_new : ndarray
        Weights before and after the step.
    gram : ndarray
        X^T diag(w_old) X (its pseudo-inverse is taken when residualising;
        X may be rank-deficient, e.g. several margins' full indicator sets).

    Notes
    -----
    :meth:`residualise` is R's ``qr.resid(qr(mm * sqrt(w_old)), x / w) * w``
    with ``w = g * sqrt(w_old)`` (``svyrecvar``, greg_calibration at stage
    0): the influence values are replaced by the residuals of their
    regression on X, weighted by the pre-calibration weights, times the new
    weights.
    """

    method: str
    model: CalibrationModel
    w_old: np.ndarray
    w_new: np.ndarray
    gram: np.ndarray

    def weight_ratio(self):
        """w_old / w_new per row (0 where w_new is 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.w_new != 0, self.w_old / self.w_new, 0.0)

    def residualise(self, x):
        """Residualise weighted influence values ``x`` (n, k): see :func:`residualise`."""
        return residualise(self, x)


def refuse_rows_sent_to_0(calibrations):
    """Refuse the linearised SE of calibrations that send rows of nonzero weight to exactly 0.

    A calibration bounded below at 0 can give some rows a final weight of
    exactly 0 (w_new = 0, w_old != 0). R's ``svyrecvar`` divides by
    ``g sqrt(w_old) = 0`` there and stops ("NA/NaN/Inf in foreign function
    call"); ramlab refuses too, with a :class:`ramlab.errors.WeightError`
    naming the calibration and its number of such rows:

    - the first calibration (the oldest): R's SE for a lower bound L > 0
      tends to a finite limit as L -> 0, which needs the influence values of
      the rows at the bound; the estimators leave them out (their weight is
      0), so ramlab does not compute it (tests/MUTATION.md, ``weight_ratio``
      18). A small positive bound (1e-8) gives that limit to many digits.
    - a later calibration: the earlier calibrations' residuals leave nonzero
      values on those rows, divided by w_new: R's SE grows as 1 / L and has
      no limit.

    Rows of weight 0 before the calibration (w_old = 0) count for nothing, as
    in R's limit, and are not refused.
    """
    for k, cal in enumerate(calibrations):
        sent = int(np.count_nonzero((cal.w_new == 0) & (cal.w_old != 0)))
        if not sent:
            continue
        what = (f"calibration {k + 1} of {len(calibrations)} (method {cal.method!r}) sends {sent} "
                f"row{'s' if sent > 1 else ''} of nonzero weight to a weight of exactly 0 (a lower bound of 0)")
        if k == 0:
            raise WeightError(
                f"no linearised standard error: {what}. R's svyrecvar stops there too (\"NA/NaN/Inf\"); "
                "as the lower bound L goes to 0, R's SE tends to a limit that ramlab does not compute: "
                "give a small positive lower bound (e.g. 1e-8) instead of 0", variable="weight")
        raise WeightError(
            f"no linearised standard error: {what} after an earlier calibration. R's svyrecvar stops "
            "there too (\"NA/NaN/Inf\"), and its SE diverges (grows as 1 / L) as the lower bound L "
            "goes to 0: there is no standard error to give", variable="weight")


def residualise(record, x, *, prepared=None):
    """Calibration step of R ``svyrecvar``: residuals of ``x`` on the model, times w_new.

    ``x`` (n, k) holds weighted influence values. The result is R's
    ``qr.resid(qr(mm * sqrt(w_old)), x / w) * w`` with ``w = g * sqrt(w_old)``
    (greg_calibration at stage 0). For a purely categorical model the fitted
    values are computed per cell and gathered once (no per-column loop).
    ``prepared`` is :func:`prepare_residualise` of the record, when a caller
    residualises many ``x`` (it holds what does not depend on ``x``).
    """
    ratio, ginv, ind = prepared if prepared is not None else prepare_residualise(record)
    r = x * ratio[:, None]
    m = record.model
    if not m.is_categorical:
        fitted = m.matvec(ginv @ m.rmatvec(r))  # (n, k): r is (n, k)
        return x - record.w_new[:, None] * fitted
    cs = rowsum(r, m.cell, m.cells.ncell)
    del r
    fit = ind @ (ginv @ (ind.T @ cs))  # (ncell, k)
    if x.shape[1] == 1:  # a 1-d gather is several times faster than a row gather
        fitted = np.take(fit[:, 0], m.cell)
        fitted *= record.w_new
        return np.subtract(x[:, 0], fitted, out=fitted)[:, None]
    fitted = np.take(fit, m.cell, axis=0)
    fitted *= record.w_new[:, None]
    return np.subtract(x, fitted, out=fitted)


def prepare_residualise(record):
    """What :func:`residualise` needs of a record whatever ``x``: (w_old / w_new, G^-, cell indicators or None)."""
    m = record.model
    return (record.weight_ratio(), pinv_sym(record.gram),
            m.cell_indicators() if m.is_categorical else None)
