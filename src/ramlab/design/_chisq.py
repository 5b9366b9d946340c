"""Tests of independence in a two-way table (R ``svychisq``).

:func:`chisq` (:meth:`Design.chisq`) estimates the cell totals and their
covariance; :func:`chisq_from_totals` holds the formulas (Rao-Scott
corrections, design-based Wald tests), shared with the banner tables'
significance tests. Tests: ``tests/design/test_chisq.py`` against R.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ramlab.design._columns import aligned, categorical_column, factor_codes
from ramlab.errors import WeightError

__all__ = ["CHISQ_STATISTICS", "ChisqResult", "chisq", "chisq_from_totals", "chisqsum_sf", "fsum_sf"]


@dataclass(frozen=True)
class ChisqResult:
    """Result of :meth:`Design.chisq` (R ``svychisq``).

    Attributes
    ----------
    statistic : float
        F statistic ("F", "Wald", "adjWald") or Pearson X^2 ("Chisq",
        "saddlepoint").
    df : float or tuple of float
        (ndf, ddf) for F statistics; for Pearson X^2, (r - 1)(c - 1): the
        chi-squared df of "Chisq", the number of terms of the saddlepoint's
        sum of chi-squares (R's htest gives none).
    p_value : float
    method : str
    """

    statistic: float
    df: object
    p_value: float
    method: str


CHISQ_STATISTICS = ("F", "Chisq", "Wald", "adjWald", "saddlepoint")


def _present_codes(codes):
    """np.unique of integer codes, in linear time for codes >= 0."""
    if codes.size and codes.min() >= 0:
        return np.flatnonzero(np.bincount(codes))
    return np.unique(codes)


def _chisq_not_computable(row, col, statistic):
    """Blank result: a variable has fewer than two categories with a positive weight."""
    nan = float("nan")
    df = nan if statistic in ("Chisq", "saddlepoint") else (nan, nan)
    return ChisqResult(nan, df, nan, f"not computable: {row!r} or {col!r} has fewer "
                                    "than two categories with a positive weight")


def _codes(design, x, role):
    """Factor codes of a test's variable and its name: a column, or a Series on the data's index."""
    if isinstance(x, pd.Series):
        name = role if x.name is None else x.name
        frame = aligned(x, design.data.index, role).to_frame(name)
        return factor_codes(categorical_column(frame, name, role))[0], name
    return factor_codes(categorical_column(design.data, x, role))[0], x


def chisq(design, row, col, *, statistic):
    """:meth:`Design.chisq` (R ``svychisq``): see its docstring."""
    if statistic not in CHISQ_STATISTICS:
        raise ValueError(f"statistic must be one of {CHISQ_STATISTICS}, not {statistic!r}")
    rc, row = _codes(design, row, "row variable")
    cc, col = _codes(design, col, "column variable")
    miss = (rc < 0) | (cc < 0)
    d = design.subset(~miss) if miss.any() else design
    w = d.weight_values
    pos = w != 0  # negative weights (unbounded linear calibration) count, as in R
    # levels with a nonzero weight, in factor order
    rl = _present_codes(rc[pos])
    cl = _present_codes(cc[pos])
    nr, ncol = rl.size, cl.size
    if nr < 2 or ncol < 2:
        # no association to test (R fails here); a banner wants a blank cell
        return _chisq_not_computable(row, col, statistic)
    rmap = np.full(int(rc.max()) + 2, -1)
    rmap[rl] = np.arange(nr)
    cmap = np.full(int(cc.max()) + 2, -1)
    cmap[cl] = np.arange(ncol)
    ri = np.where(pos, rmap[rc], -1)
    ci = np.where(pos, cmap[cc], -1)
    ok = pos & (ri >= 0) & (ci >= 0)
    cell = ri + nr * ci  # rows vary fastest (R interaction order)
    K = nr * ncol
    t = np.bincount(cell[ok], weights=w[ok], minlength=K)
    if (t < 0).any():  # R: chisq.test(svytable(...)) stops
        raise WeightError(
            f"chisq of {row!r} by {col!r}: {int((t < 0).sum())} cells of the weighted table are "
            f"negative (min {t.min():.6g}), from {int((w < 0).sum())} rows of negative weight; "
            "a table's cells must be nonnegative (R's svychisq refuses too); calibrate with bounds",
            variable="weight",
        )
    # covariance of the K cell totals: the indicators take K + 1 distinct
    # rows (a cell, none): factored form, no n x K matrix
    code = np.where(ok, cell, K)
    table = np.vstack([np.eye(K), np.zeros(K)])
    Vt = d.total_vcov(np.ones((design.n, 1)), domains=(code, table))
    Vp = None
    if not d.variance_engine.linearised:
        # R svychisq.svyrep.design: the replicates' covariance of the cell proportions
        M = table[code]
        p = t / t.sum()
        Vp = d.statistic_vcov(lambda W: (W.T @ M) / W.sum(axis=0)[:, None],
                              np.where(ok[:, None], M - p, 0.0) / t.sum())
    return chisq_from_totals(t.reshape(ncol, nr).T, Vt, n_rows=design.n_held_rows,
                             nu=design.held_degf, statistic=statistic, names=(row, col), Vp=Vp)


def chisq_from_totals(t, V, *, n_rows, nu, statistic="F", names=("row", "col"), Vp=None):
    """Tests of independence from the estimated cell totals and their covariance.

    The formulas of :meth:`Design.chisq` (R ``svychisq``), given what they
    use of the design: the weighted totals of the cells of the two-way table
    and their linearisation covariance (``Design.total_vcov`` of the cell
    indicators on the domain design of the test).

    Parameters
    ----------
    t : ndarray (r, c)
        Estimated totals of the cells (row levels x column levels, in factor
        order). Levels whose margin is 0 (no row with a positive weight) are
        dropped, as R drops them.
    V : ndarray (r*c, r*c)
        Covariance of the totals, cell ``(i, j)`` at index ``i + r * j``
        (rows vary fastest: R interaction order).
    n_rows : int
        R's ``nrow(mm)``: rows of the design object (X^2 is computed on the
        table scaled to this total, R ``svytable(Ntotal)``).
    nu : int
        Design degrees of freedom (PSUs minus strata of the design's rows).
    statistic : {"F", "Chisq", "Wald", "adjWald", "saddlepoint"}
        See :meth:`Design.chisq`.
    names : (str, str)
        Names of the two variables (for the message of a blank result).
    Vp : ndarray (r*c, r*c), optional
        Covariance of the cell proportions t / sum(t), same order as ``V``.
        By default linearised from ``V``; a replicate design gives its
        replicates' own (R ``svychisq.svyrep.design``).

    Returns
    -------
    ChisqResult

    References
    ----------
    R survey ``svychisq.survey.design``; Rao & Scott (1984), Ann. Stat.
    12, 46-60; Koch, Freeman & Freeman (1975).
    """
    if statistic not in CHISQ_STATISTICS:
        raise ValueError(f"statistic must be one of {CHISQ_STATISTICS}, not {statistic!r}")
    t = np.asarray(t, dtype=float)
    V = np.asarray(V, dtype=float)
    r0, c0 = t.shape
    keep_r = t.sum(axis=1) > 0
    keep_c = t.sum(axis=0) > 0
    nr, ncol = int(keep_r.sum()), int(keep_c.sum())
    if nr < 2 or ncol < 2:
        return _chisq_not_computable(names[0], names[1], statistic)
    if nr < r0 or ncol < c0:
        sel = (np.arange(r0)[keep_r][:, None] + r0 * np.arange(c0)[keep_c][None, :]).T.ravel()
        t = t[np.ix_(keep_r, keep_c)]
        V = V[np.ix_(sel, sel)]
        Vp = None if Vp is None else np.asarray(Vp, dtype=float)[np.ix_(sel, sel)]
    tv = t.T.ravel()  # cell totals, rows fastest
    # Pearson X^2 on the weighted table scaled to n_rows (R svytable Ntotal)
    tab = t * n_rows / t.sum()
    E = np.outer(tab.sum(1), tab.sum(0)) / tab.sum()
    X2 = float(((tab - E) ** 2 / E).sum())
    if statistic in ("Wald", "adjWald"):
        return _wald(t, V, tv, nr, ncol, nu, statistic)
    return _rao_scott(X2, V, tv, nr, ncol, n_rows, nu, statistic, Vp)


def _wald(t, V, tv, nr, ncol, nu, statistic):
    """Design-based Wald test of the interaction (Koch, Freeman & Freeman 1975)."""
    from scipy import stats

    K = nr * ncol
    rows_ = np.tile(np.arange(nr), ncol)
    cols_ = np.repeat(np.arange(ncol), nr)
    rt = t.sum(axis=1)
    ct = t.sum(axis=0)
    Nt = tv.sum()
    # totals of (cells, row margins, column margins, all) are linear in the cells
    B = np.vstack([
        np.eye(K),
        (rows_[None, :] == np.arange(nr)[:, None]).astype(float),
        (cols_[None, :] == np.arange(ncol)[:, None]).astype(float),
        np.ones((1, K)),
    ])
    Vt = B @ V @ B.T
    J = np.hstack([
        np.eye(K),
        -(rows_[:, None] == np.arange(nr)[None, :]).astype(float) * ct[cols_][:, None] / Nt,
        -(cols_[:, None] == np.arange(ncol)[None, :]).astype(float) * rt[rows_][:, None] / Nt,
        (rt[rows_] * ct[cols_] / Nt**2)[:, None],
    ])
    Y = tv - rt[rows_] * ct[cols_] / Nt
    Vw = J @ Vt @ J.T
    use = np.array([r + nr * c for c in range(1, ncol) for r in range(1, nr)])
    wald = float(Y[use] @ np.linalg.solve(Vw[np.ix_(use, use)], Y[use]))
    ndf = (nr - 1) * (ncol - 1)
    if statistic == "Wald":
        stat, ddf = wald / ndf, nu
    else:
        ddf = nu - ndf + 1
        stat = wald * ddf / (ndf * nu)
    pval = float(stats.f.sf(stat, ndf, ddf))
    return ChisqResult(stat, (float(ndf), float(ddf)), pval, "Design-based Wald test of association")


def _rao_scott(X2, V, tv, nr, ncol, n_rows, nu, statistic, Vp=None):
    """Rao & Scott (1984) first- ("Chisq") and second-order ("F") corrections of Pearson's X^2.

    And its saddlepoint p-value ("saddlepoint", R ``pFsum`` / ``pchisqsum``).
    """
    from scipy import special

    Vp_given = Vp is not None

    K = nr * ncol
    psum = tv.sum()
    # Rao-Scott: covariance of the cell proportions p = t / sum(t), linearised
    p = tv / psum
    if Vp is None:
        A = (np.eye(K) - p[:, None]) / psum
        Vp = A @ V @ A.T
    # contrasts: the interaction columns residualised on the main-effects design.
    # With one cell per (row, column), the residual is the double centring of the
    # cell's indicator (cells in R's order, rows fastest): kron(P_col, P_row).
    Prow = np.eye(nr) - 1.0 / nr
    Pcol = np.eye(ncol) - 1.0 / ncol
    inter = (np.arange(1, nr)[None, :] + nr * np.arange(1, ncol)[:, None]).ravel()
    Cmat = np.kron(Pcol, Prow)[:, inter]
    with np.errstate(divide="ignore"):
        ip = np.where(p == 0, 0.0, 1.0 / p)
    iC = Cmat * ip[:, None]
    denom = (Cmat.T @ iC) / n_rows
    numr = iC.T @ Vp @ iC
    Delta = np.linalg.solve(denom, numr)
    # numpy scalars: with no sampling variance (a census) Delta is 0 and, as in
    # R, the F statistic is Inf and its df and p-value NaN rather than an error
    tr = np.float64(np.trace(Delta))
    with np.errstate(divide="ignore", invalid="ignore"):
        d0 = tr**2 / np.trace(Delta @ Delta)
    if statistic == "F":
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = float(X2 / tr)
        pval = float(special.fdtrc(d0, d0 * nu, stat))  # scipy.stats.f.sf
        return ChisqResult(stat, (float(d0), float(d0 * nu)), pval, "Pearson's X^2: Rao & Scott adjustment")
    dfc = Delta.shape[1]
    if statistic == "saddlepoint":
        # R: pFsum(ddf = d0 nu) for svychisq.survey.design; pchisqsum for
        # svychisq.svyrep.design (no denominator degrees of freedom)
        lam = np.real(np.linalg.eigvals(Delta))
        pval = chisqsum_sf(X2, lam) if Vp_given else fsum_sf(X2, lam, d0 * nu)
        return ChisqResult(X2, float(dfc), pval, "Pearson's X^2: saddlepoint approximation")
    with np.errstate(divide="ignore", invalid="ignore"):
        pval = float(special.chdtrc(dfc, X2 / np.mean(np.diag(Delta))))  # scipy.stats.chi2.sf
    return ChisqResult(X2, float(dfc), pval, "Pearson's X^2: Rao & Scott adjustment")


def _saddle(x, lam):
    """R survey's ``saddle``: upper tail of sum lam_i chi2_1 at x (Kuonen 1999), or None."""
    from scipy import optimize, stats

    d = lam.max()
    lam = lam / d
    x = x / d

    def k0(z):
        return -np.sum(np.log(1 - 2 * z * lam)) / 2

    def k1(z):
        return np.sum(lam / (1 - 2 * z * lam))

    def k2(z):
        return 2 * np.sum(lam**2 / (1 - 2 * z * lam) ** 2)

    if np.any(lam < 0):
        lmin = np.max(1 / (2 * lam[lam < 0])) * 0.99999
    elif x > lam.sum():
        lmin = -0.01
    else:
        lmin = -lam.size / (2 * x)
    lmax = np.min(1 / (2 * lam[lam > 0])) * 0.99999
    z = optimize.brentq(lambda t: k1(t) - x, lmin, lmax, xtol=1e-14, rtol=4 * np.finfo(float).eps)
    if abs(z) < 1e-4:
        return None
    w = np.sign(z) * np.sqrt(2 * (z * x - k0(z)))
    v = z * np.sqrt(k2(z))
    return float(stats.norm.sf(w + np.log(v / w) / w))


def fsum_sf(x, lam, ddf):
    """R ``pFsum(method = "saddlepoint", lower.tail = FALSE)``: P(sum lam_i chi2_1 > x chi2_ddf / ddf).

    The saddlepoint of sum lam_i chi2_1 - (x / ddf) chi2_ddf at 0 (R
    repeats the last term floor(ddf) times); Satterthwaite's F where the
    saddlepoint is undefined.
    """
    from scipy import stats

    lam = np.asarray(lam, dtype=float)
    tr = lam.mean()
    tr2 = np.mean(lam**2) / tr**2
    ndf = lam.size / tr2
    p = _saddle(0.0, np.concatenate([lam, np.full(int(np.floor(ddf)), -x / ddf)]))
    if p is None:
        return float(stats.f.sf(x / ndf / (tr * tr2), ndf, ddf))
    return p


def chisqsum_sf(x, lam):
    """P(sum_i lam_i chi2_1 > x): R ``pchisqsum(method = "saddlepoint")``.

    The saddlepoint approximation of R survey's ``saddle``; where it is
    undefined (saddlepoint near 0), Satterthwaite's scaled chi-square, as R.
    """
    from scipy import stats

    lam = np.asarray(lam, dtype=float)
    tr = lam.mean()
    tr2 = np.mean(lam**2) / tr**2
    p = _saddle(float(x), lam)
    if p is None:
        return float(stats.chi2.sf(x / (tr * tr2), lam.size / tr2))
    return p
