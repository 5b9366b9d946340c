"""Replicate-weight variance (R ``svrVar``) and the replicate weights R makes.

A replicate design carries, besides the full-sample weights ``w`` (n,), a
matrix of replicate weights ``A`` (n, R). The estimate is recomputed with
each column of ``A``; the variance is the scaled spread of the replicates:

    V = scale * sum_r rscales_r (theta_r - c)(theta_r - c)'

with ``c`` the mean of the replicates (those with ``rscales > 0``) or, with
``mse=True``, the full-sample estimate (R ``svrVar``).

Weight constructors follow R ``jk1weights``, ``jknweights`` and the
``type`` defaults of ``svrepdesign``.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ramlab.errors import warn
from ramlab.variance._engine import VarianceEstimator, as_columns
from ramlab.variance._hadamard import hadamard
from ramlab.variance._linalg import qr_rank

__all__ = [
    "REPLICATE_TYPES", "ReplicateVariance", "brr_factors", "jk1_weights", "jkn_weights",
    "replicate_scales", "replicate_vcov",
]

REPLICATE_TYPES = ("JK1", "JKn", "BRR", "Fay", "bootstrap", "other")

# columns of replicate weights handled at once: bounds the temporary memory
# of a statistic evaluated on a block of replicates to CHUNK x n floats
CHUNK = 16


def _svr_var(thetas, rscales, scale, mse, coef):
    """R ``svrVar`` on replicates without NaN: scale * sum_r rscales_r (theta_r - c)(theta_r - c)'.

    An infinite replicate (a ratio whose replicate denominator is 0) gives
    NaN quietly, as in R (inf - inf).
    """
    with np.errstate(invalid="ignore"):
        centre = coef if mse else thetas[rscales > 0].mean(axis=0)
        dev = (thetas - centre) * np.sqrt(rscales)[:, None]
        return dev.T @ dev * scale


def replicate_vcov(thetas, *, scale, rscales, mse, coef):
    """R ``svrVar``: covariance from replicate estimates ``thetas`` (R, k).

    A replicate whose estimate is NaN (0 / 0: its weights leave no row of a
    domain, as the jackknife replicate that deletes the only PSU of a domain)
    is discarded, with R's warning. Each entry of the covariance is R's
    ``svrVar`` of the columns it involves, so a column's variance leaves out
    only its own NaN replicates, as R's ``svyby`` gives each group's SE from
    its own ``svymean``. A column without any estimate stays NaN.

    Parameters
    ----------
    thetas : ndarray (R, k)
    scale : float
    rscales : ndarray (R,)
    mse : bool
        Centre on ``coef`` (the full-sample estimate) instead of the mean of
        the replicates.
    coef : ndarray (k,)
    """
    thetas = np.asarray(thetas, dtype=float)
    rscales = np.asarray(rscales, dtype=float)
    coef = np.asarray(coef, dtype=float)
    ok = ~np.isnan(thetas)
    if ok.all():
        return _svr_var(thetas, rscales, scale, mse, coef)
    dropped = int((~ok[:, ok.any(axis=0)]).any(axis=1).sum())
    if dropped:
        warn(f"{dropped} replicates gave NA results and were discarded.")  # R svrVar's words
    k = thetas.shape[1]
    V = np.full((k, k), np.nan)
    # columns with the same NaN replicates share their rows: one svrVar per pair of patterns
    patterns, of = np.unique(ok.T, axis=0, return_inverse=True)
    of = of.ravel()
    for a in range(len(patterns)):
        for b in range(a, len(patterns)):
            rows = patterns[a] & patterns[b]
            if not (rows if mse else rows & (rscales > 0)).any():
                continue  # no replicate to centre or to sum: NaN, as a column without estimates
            cols = np.flatnonzero((of == a) | (of == b))
            sub = _svr_var(thetas[np.ix_(rows, cols)], rscales[rows], scale, mse, coef[cols])
            ia, ib = of[cols] == a, of[cols] == b
            V[np.ix_(cols[ia], cols[ib])] = sub[np.ix_(ia, ib)]
            V[np.ix_(cols[ib], cols[ia])] = sub[np.ix_(ib, ia)]
    return V


def replicate_scales(type, n_replicates, *, scale=None, rscales=None, rho=None, factors=None):
    """(scale, rscales) of a replicate type, as R ``svrepdesign`` sets them.

    ``factors`` (n, R) are the replicate factors when the user gave factors
    rather than full replicate weights (R ``combined.weights = FALSE``): R
    then guesses JK1's ``scale`` as 1 / the largest factor of the first
    replicate and JKn's ``rscales`` as 1 / the largest factor of each.
    """
    R = n_replicates
    if rscales is not None:
        rscales = np.ravel(np.asarray(rscales, dtype=float))
        if rscales.size not in (1, R):  # R: "rscales has length 3, should be ncol(repweights)"
            raise ValueError(f"rscales has {rscales.size} values: give one, or one per replicate ({R})")
    if type == "BRR":
        scale = 1.0 / R
    elif type == "Fay":
        if rho is None:
            raise ValueError("type='Fay' needs rho")
        scale = 1.0 / (R * (1 - rho) ** 2)
    elif type == "bootstrap":
        scale = 1.0 / (R - 1) if scale is None else scale
    elif type == "JK1":
        if scale is None:
            scale = (R - 1) / R if factors is None else 1.0 / np.max(factors[:, 0])
    elif type == "JKn":
        if rscales is None and factors is None:
            raise ValueError("type='JKn' needs rscales ((n_h - 1) / n_h of each replicate's stratum)")
        if rscales is None:
            rscales = 1.0 / np.max(factors, axis=0)
    elif type != "other":
        raise ValueError(f"type must be one of {REPLICATE_TYPES}, not {type!r}")
    scale = 1.0 if scale is None else float(scale)
    rs = np.ones(R) if rscales is None else np.broadcast_to(rscales, (R,)).copy()
    return scale, rs


def jk1_weights(psu, *, fpc=None):
    """R ``jk1weights``: delete-one-PSU factors (n_psu columns) and scale.

    Parameters
    ----------
    psu : ndarray (n,) of int
        PSU codes.
    fpc : float, optional
        Finite population correction factor (N - n) / N of the design.

    Returns
    -------
    factors : ndarray (n, n_psu), scale : float
    """
    unq, index = np.unique(psu, return_inverse=True)
    n = unq.size
    f = 1.0 if fpc is None else float(fpc)
    factors = np.full((n, n), n / (n - 1))
    np.fill_diagonal(factors, 0.0)
    return factors[index.ravel()], f * (n - 1) / n


def jkn_weights(strata, psu, *, fpc=None, lonely_psu="fail"):
    """R ``jknweights``: one delete-one-PSU replicate per PSU, stratum by stratum.

    Replicates follow the order of the strata and, within a stratum, of the
    PSUs, as R (first appearance in the data). ``fpc`` (per row, the factor
    (N_h - n_h) / N_h) scales the ``rscales``.

    Returns
    -------
    factors : ndarray (n, R), scale : float, rscales : ndarray (R,)
    """
    from ramlab.errors import LonelyPSUError

    _, sfirst = np.unique(strata, return_index=True)
    sorder = strata[np.sort(sfirst)]
    n = strata.shape[0]
    _, pfirst = np.unique(psu, return_index=True)
    npsu = pfirst.size
    cols, rscales = [], []
    for s in sorder:
        in_s = strata == s
        psus = psu[in_s]
        _, first = np.unique(psus, return_index=True)
        units = psus[np.sort(first)]
        nh = units.size
        f = 1.0 if fpc is None else float(fpc[np.flatnonzero(in_s)[0]])
        if f == 0:  # census stratum: R jk1weights makes no replicate (survey.drop.replicates)
            continue
        if nh == 1:
            if lonely_psu == "fail":
                raise LonelyPSUError(f"Stratum ({s}) has only one PSU", stratum=s, stage=1)
            if lonely_psu == "adjust":
                nstrat = sorder.size
                col = np.where(in_s, 0.0, nstrat / (nstrat - 1))
                cols.append(col)
                rscales.append((nstrat - 1) / nstrat)
            continue
        for u in units:
            col = np.ones(n)
            col[in_s] = nh / (nh - 1)
            col[psu == u] = 0.0
            cols.append(col)
            rscales.append(f * (nh - 1) / nh)
    if not cols:
        raise ValueError("every stratum was sampled exhaustively: there is no sampling variance")
    scale = 1.0
    if len(cols) < npsu and lonely_psu == "average":
        scale = npsu / len(cols)
    return np.column_stack(cols), scale, np.array(rscales)


def brr_factors(strata, psu, *, rho=0.0):
    """Balanced half-sample factors of a design with two PSUs per stratum.

    As R ``brrweights`` (with ``fay.rho``): strata are numbered in the
    order of their labels sorted as text (``strata``, any values, are
    compared as ``str``: R sorts ``as.character(strata)``, so stratum 10
    comes before stratum 2); in replicate r, stratum k uses row k + 1 of
    R's Hadamard matrix H (R ``hadamard``): where H[k + 1, r] is 1 its
    first PSU (first appearance) gets 2 - rho and the second rho; where 0
    they swap. H is R's own matrix for any number of strata
    (:func:`ramlab.variance.hadamard`), so the replicates are R's.
    """
    labels = np.asarray(strata).astype(str)
    order, code = np.unique(labels, return_inverse=True)
    H = hadamard(order.size)
    factors = np.ones((labels.shape[0], H.shape[1]))
    for h, s in enumerate(order):
        rows = code.ravel() == h
        psus = psu[rows]
        _, pf = np.unique(psus, return_index=True)
        units = psus[np.sort(pf)]
        if units.size != 2:
            raise ValueError(f"BRR needs two PSUs in every stratum; stratum {str(s)!r} has {units.size}")
        first_factor = np.where(H[h + 1] == 1, 2 - rho, rho)
        is_first = rows & (psu == units[0])
        factors[is_first] = first_factor
        factors[rows & ~is_first] = 2 - first_factor
    return factors


class ReplicateVariance(VarianceEstimator):
    """Replicate-weight variance of a design (R ``svyrep.design`` methods).

    Parameters
    ----------
    weights : ndarray (n,)
        Full-sample weights, 0 outside a domain.
    replicates : ndarray (n, R)
        Replicate weights (full weights, not factors), over all rows.
    domain : ndarray (n,) of bool or None
        Rows of the domain; replicate weights are 0 outside it.
    scale, rscales, mse
        See :func:`replicate_vcov`.
    """

    def __init__(self, weights, replicates, domain, *, scale, rscales, mse):
        self.weights = weights
        self.replicates = replicates
        self.domain = domain
        self.scale = scale
        self.rscales = rscales
        self.mse = mse
        self.n = weights.shape[0]

    linearised = False
    row_psu_scale = None  # no factored domain plan: DomainPlan takes its dense path
    calibrations = ()

    def replicate_blocks(self):
        """Blocks of replicate weight columns (n, <= CHUNK), zero outside the domain."""
        A = self.replicates
        for a in range(0, A.shape[1], CHUNK):
            block = A[:, a:a + CHUNK]
            yield block if self.domain is None else block * self.domain[:, None]

    def vcov_of(self, thetas, coef):
        return replicate_vcov(thetas, scale=self.scale, rscales=self.rscales, mse=self.mse, coef=coef)

    @cached_property
    def weighed_rows(self):
        """Rows of the domain that the full sample or a replicate weighs (n,) bool.

        R's replicate estimators use every row of the design object: a row of
        full-sample weight 0 still counts in the replicates that weigh it.
        """
        rows = (self.weights != 0) | (self.replicates != 0).any(axis=1)
        return rows if self.domain is None else rows & self.domain

    def replicate_totals(self, u):
        """(R, k) totals ``sum_i a_ir u[i, j]`` under each replicate weight column."""
        u = np.where(self.weighed_rows[:, None], as_columns(u, self.n), 0.0)
        # u is 0 outside the domain: no masking of the replicate weights
        return self.replicates.T @ u

    def total_vcov(self, u):
        """Replicate covariance of the totals ``sum_i w_i u[i, j]`` (R ``svytotal``)."""
        u = np.where(self.weighed_rows[:, None], as_columns(u, self.n), 0.0)
        return self.vcov_of(self.replicate_totals(u), self.weights @ u)

    def statistic_vcov(self, statistic, influence):
        """Replicate covariance of ``statistic(weights)``, recomputed per replicate."""
        # a replicate that weighs no row of a domain gives 0 / 0: NaN, discarded by vcov_of
        with np.errstate(divide="ignore", invalid="ignore"):
            coef = np.asarray(statistic(self.weights[:, None]), dtype=float)[0]
            thetas = np.vstack([np.asarray(statistic(W), dtype=float) for W in self.replicate_blocks()])
        return self.vcov_of(thetas, coef)

    def degf(self):
        """R ``degf.svyrep.design``: rank of the domain's replicate weights minus 1.

        The rank is R's ``qr(tol = 1e-5)`` test.
        """
        A = self.replicates if self.domain is None else self.replicates[self.domain]
        if A.shape[0] == 0:
            return -1
        return qr_rank(A, tol=1e-5) - 1
