"""Linearisation variance of estimated totals under a multistage design.

This module is the numerical core behind :meth:`ramlab.design.Design.total_vcov`.
It reproduces R ``survey`` (Lumley) 4.1-1, functions ``svyrecvar``,
``multistage``, ``onestage`` and ``onestrat``:

* influence values ``x`` (already multiplied by the weights) are summed per
  primary sampling unit (PSU), centred on their stratum mean, and the
  stratum's cross-product is scaled by ``f * n_h / (n_h - 1)`` with
  ``f = (N_h - n_h) / N_h`` (1 without a finite population correction);
* ``n_h`` is the number of PSUs of the stratum in the *full* design, so a
  domain keeps it (PSUs without domain rows contribute zero totals);
* later stages are added only when a population size is known for them,
  each PSU's sub-variance multiplied by the sampling fraction ``n_1 / N_1``;
* strata with a single PSU follow R's ``survey.lonely.psu`` option, as
  ``onestrat`` codes it: "fail" raises :class:`LonelyPSUError`; "remove"
  and "certainty" add nothing (a single centred PSU total is 0); "adjust"
  adds f * x x' with the PSU total x *not* centred (for a mean, whose
  influence values are already centred, this is centring at the overall
  mean); "average" leaves the stratum out and multiplies the sum over the
  strata by (number of strata) / (number of strata with more than one
  PSU) -- per R call, i.e. per parent unit at later stages, where a single
  stratum gives NaN as in R. Census strata (f = 0) come first and add 0.

All functions are pure and vectorised; nothing here knows about pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ramlab.errors import LonelyPSUError
from ramlab.variance._linalg import dense_codes, rowsum, wcrossprod, wcrossprod_sym

__all__ = ["Stage", "multistage_vcov", "row_psu_scale", "row_psu_vcov", "LONELY_PSU_OPTIONS"]

LONELY_PSU_OPTIONS = ("fail", "remove", "adjust", "average", "certainty")


@dataclass(frozen=True)
class Stage:
    """One sampling stage, row-aligned arrays over the full sample.

    Attributes
    ----------
    cluster : ndarray of int64
        Code of the sampling unit of each row at this stage (unique over the
        whole design: units are nested in their strata and parents).
    strata : ndarray of int64
        Code of the stratum of each row at this stage.
    npsu : ndarray of float64
        Number of sampled units of the row's stratum at this stage (R
        ``fpc$sampsize``), counted in the full design.
    popsize : ndarray of float64 or None
        Population number of units of the row's stratum (R ``fpc$popsize``);
        None when no finite population correction is given for this stage.
    strata_labels : ndarray
        Printable label of each stratum code (for error messages).
    """

    cluster: np.ndarray
    strata: np.ndarray
    npsu: np.ndarray
    popsize: np.ndarray | None
    strata_labels: np.ndarray


def _psu_totals(x, psu_codes, npsu_present):
    """PSU totals of ``x``; no copy when every row is its own PSU, in order."""
    m = x.shape[0]
    if npsu_present == m:
        if np.array_equal(psu_codes, np.arange(m)):
            return x
        T = np.empty_like(x)
        T[psu_codes] = x
        return T
    return rowsum(x, psu_codes, npsu_present)


def row_psu_scale(stages):
    """Per-row scale of the variance when each row is its own first-stage PSU.

    When the first stage has one row per PSU, no stratum with a single PSU
    (census strata excepted) and no later stage enters the variance (R
    counts a later stage only with a population size for it and for the
    stage above), the covariance of R ``multistage`` reduces to
    ``sum_h c_h (sum_{i in h} x_i x_i' - s_h s_h' / n_h)`` with
    ``c_h = f_h n_h / (n_h - 1)`` (0 for a census stratum), ``s_h`` the
    stratum total and ``n_h`` its number of PSUs in the full design
    (R ``onestage``: absent PSUs are zero totals, centred). This holds for
    any subset of rows. Returns ``(c, strata, n_h)`` per row, or None when
    the design does not have this form.
    """
    st = stages[0]
    n = st.cluster.shape[0]
    if n == 0 or int(st.cluster.max()) + 1 != n:
        return None
    if len(stages) > 1 and st.popsize is not None and stages[1].popsize is not None:
        return None
    n_h = np.asarray(st.npsu, dtype=float)
    f = _fpc_factor(n_h, None if st.popsize is None else np.asarray(st.popsize))
    census = f < 1e-7
    if np.any((n_h <= 1) & ~census):
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(census, 0.0, f * n_h / (n_h - 1))
    return c, st.strata, n_h


def row_psu_vcov(x, scale):
    """:func:`multistage_vcov` of every row of a design of the :func:`row_psu_scale` form.

    ``sum_h c_h sum_{i in h} (x_i - m_h)(x_i - m_h)'`` with ``m_h`` the mean of
    ``x`` over the ``n_h`` rows of stratum h: R ``onestage`` when each row is its
    own PSU and ``x`` holds every row of the design (0 outside a domain), without
    factorising the PSUs of the rows.

    Parameters
    ----------
    x : ndarray (n, k)
        Weighted (and calibration-residualised) influence values of all rows.
    scale : tuple
        ``(c, strata, n_h)`` per row, from :func:`row_psu_scale`.
    """
    c, strata, n_h = scale
    H = int(strata.max()) + 1
    if H == 1:
        xc = x - x.sum(axis=0) / n_h[0]
        if x.shape[1] == 1:
            v = xc[:, 0]
            return np.array([[c[0] * (v @ v)]])
        return c[0] * wcrossprod_sym(xc, np.ones(x.shape[0]))
    rows_h = np.bincount(strata, minlength=H)
    xc = x - (rowsum(x, strata, H) / np.maximum(rows_h, 1)[:, None])[strata]
    return wcrossprod_sym(xc, c)


def _onestage(x, stage, rows, lonely_psu, stage_number, group=None, multiplier=None, domain_lonely=False):
    """Variance contribution of one stage (R ``onestage`` + ``onestrat``).

    Parameters
    ----------
    x : ndarray (m, k)
        Influence values of the rows ``rows`` (already weighted).
    stage : Stage
    rows : ndarray of int or None
        Indices (into the full sample) of the rows of ``x``; None = all.
    lonely_psu : str
    stage_number : int
        1 for the first stage (used in messages).
    group : ndarray of int64 or None
        Per-row code of the separate R ``onestage`` call the row belongs to
        (later stages are computed by R one first-stage unit at a time; the
        "average" lonely-PSU rescaling is per call). None = a single call.
    multiplier : ndarray of float or None
        Per-row factor applied to the stratum's contribution (product of the
        sampling fractions of the ancestor units).
    domain_lonely : bool
        R's ``survey.adjust.domain.lonely``: a stratum with several PSUs in
        the design and one among these rows is lonely too.
    """
    k = x.shape[1]
    if x.shape[0] == 0:
        return np.zeros((k, k))

    def take(a):
        return a if rows is None else a[rows]

    # PSUs and strata present among these rows.
    psu_codes, psu_first = dense_codes(take(stage.cluster))
    T = _psu_totals(x, psu_codes, psu_first.shape[0])
    psu_stratum_raw = take(stage.strata)[psu_first]
    h_codes, h_first_psu = dense_codes(psu_stratum_raw)
    H = h_first_psu.shape[0]
    h_row = psu_first[h_first_psu]  # a representative row per stratum
    n_h = take(stage.npsu)[h_row].astype(float)
    nsub_h = np.bincount(h_codes, minlength=H).astype(float)
    f_h = _fpc_factor(n_h, None if stage.popsize is None else take(stage.popsize)[h_row])
    with np.errstate(divide="ignore", invalid="ignore"):
        scale_h = np.where(n_h > 1, f_h * n_h / (n_h - 1), f_h)
    census = f_h < 1e-7
    lonely = (n_h <= 1) & ~census
    mult_h = None if multiplier is None else take(multiplier)[h_row]
    group_h = None if group is None else take(group)[h_row]

    if lonely.any() and lonely_psu == "fail":
        h = int(np.flatnonzero(lonely)[0])
        _refuse_lonely(stage.strata_labels[psu_stratum_raw[h_first_psu[h]]], stage_number)

    # Stratum means over the n_h PSUs of the full design (absent PSUs are 0).
    with np.errstate(divide="ignore", invalid="ignore"):
        means = rowsum(T, h_codes, H) / n_h[:, None]
    # R onestrat: with "adjust", a lonely stratum's PSU total is not centred
    # (nor are the absent PSUs' zeros): in the design, or in the domain too
    # when survey.adjust.domain.lonely is set
    in_domain = domain_lonely & (nsub_h == 1) & (n_h > 1) & ~census
    uncentred = (lonely & (nsub_h == 1)) | in_domain if lonely_psu == "adjust" else np.zeros(H, bool)
    Tc = T - np.where(uncentred[h_codes][:, None], 0.0, means[h_codes])
    weight_h, na_h = _stratum_weights(scale_h, census, lonely, in_domain, lonely_psu, mult_h)
    w_p = weight_h[h_codes]
    V = wcrossprod_sym(Tc, w_p)
    # PSUs of the full design absent from these rows: zero totals, centred.
    pad = np.clip(n_h - nsub_h, 0.0, None)
    if lonely_psu == "adjust":
        pad = np.where(lonely | uncentred, 0.0, pad)
    if np.any(pad > 0):
        wpad = pad * weight_h
        V = V + wcrossprod(means, wpad, means)
    if lonely_psu == "average" and np.any(na_h):
        # R rescales each onestage call by (its strata) / (its strata without NA).
        # At a later stage R calls onestage once per unit of the previous stage,
        # whose only stratum is that unit: a call with an NA stratum has none
        # left, and its NA * 1 / 0 makes the whole variance NaN.
        nok = H - int(na_h.sum())
        V = V * (H / nok if nok > 0 and group_h is None else np.nan)
    return V


def _stratum_weights(scale_h, census, lonely, in_domain, lonely_psu, mult_h):
    """Each stratum's factor f n_h / (n_h - 1) (0 for a census or an "average"-d lonely stratum).

    With "average", R's ``onestrat`` returns NA for a lonely stratum, and for a
    stratum lonely in the domain under ``survey.adjust.domain.lonely`` (scale
    NA); ``onestage`` leaves the NA strata out of the sum and rescales it by
    (number of strata) / (number of strata without NA): ``na_h`` marks both.
    """
    na_h = (lonely | in_domain) & (lonely_psu == "average")
    weight_h = np.where(census | na_h, 0.0, scale_h)
    if mult_h is not None:
        weight_h = weight_h * mult_h
    return weight_h, na_h


def _fpc_factor(n_h, N_h):
    """(N_h - n_h) / N_h per stratum (1 without an fpc or for an infinite population)."""
    if N_h is None:
        return np.ones(n_h.shape[0])
    N_h = N_h.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isinf(N_h), 1.0, (N_h - n_h) / N_h)


def _refuse_lonely(label, stage_number):
    raise LonelyPSUError(
        f"Stratum ({label}) has only one PSU at stage {stage_number}; "
        f"choose lonely_psu among {', '.join(LONELY_PSU_OPTIONS[1:])}",
        stratum=label,
        stage=stage_number,
    )


def multistage_vcov(x, stages, *, lonely_psu="fail", rows=None, domain_lonely=False):
    """Covariance of the totals of the columns of ``x`` (R ``multistage``).

    Parameters
    ----------
    x : ndarray (m, k)
        Weighted influence values of the rows ``rows`` (after any
        calibration residualisation).
    stages : sequence of Stage
        Sampling stages, first (PSU) stage first.
    lonely_psu : {"fail", "remove", "adjust", "average", "certainty"}
    rows : ndarray of int or None
        Indices of the rows of ``x`` in the full sample (R's rows of the
        design object: all of them, or those of an uncalibrated subset).
    domain_lonely : bool
        R option ``survey.adjust.domain.lonely``.

    Returns
    -------
    ndarray (k, k)

    References
    ----------
    R survey 4.1-1: ``svyrecvar``, ``multistage``, ``onestage``, ``onestrat``.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    V = _onestage(x, stages[0], rows, lonely_psu, 1, domain_lonely=domain_lonely)
    # Later stages: only with a population size for that stage (R needs fpc).
    multiplier = None
    for s in range(1, len(stages)):
        prev = stages[s - 1]
        cur = stages[s]
        if prev.popsize is None or cur.popsize is None:
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(np.isinf(prev.popsize), 0.0, prev.npsu / prev.popsize)
        multiplier = frac if multiplier is None else multiplier * frac
        # R recurses one unit of the previous stage at a time.
        group = prev.cluster
        V = V + _onestage(x, cur, rows, lonely_psu, s + 1, group=group, multiplier=multiplier,
                          domain_lonely=domain_lonely)
    return V
