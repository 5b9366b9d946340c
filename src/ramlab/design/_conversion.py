"""Replicate weights made from a linearised design (R ``as.svrepdesign``)."""

from __future__ import annotations

import numpy as np

from ramlab.errors import DesignError
from ramlab.variance import brr_factors, jk1_weights, jkn_weights

__all__ = ["REPLICATE_METHODS", "replicate_factors"]

REPLICATE_METHODS = ("JK1", "JKn", "BRR", "Fay", "bootstrap", "subbootstrap")


def _first_stage(design):
    st = design.structure.stages[0]
    return st, st.strata, st.cluster


def _fpc_factor(st):
    """(N_h - n_h) / N_h per row of the first stage, or None without an fpc."""
    if st.popsize is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isinf(st.popsize), 1.0, (st.popsize - st.npsu) / st.popsize)


def _bootstrap(strata, psu, popsize, replicates, rng, *, sub):
    """Per stratum, resampled PSU counts (R ``bootweights`` / ``subbootweights``)."""
    n = psu.shape[0]
    factors = np.empty((n, replicates))
    for s in np.unique(strata):
        rows = np.flatnonzero(strata == s)
        units, index = np.unique(psu[rows], return_inverse=True)
        nh = units.size
        if sub:
            draws = rng.integers(0, nh, size=(replicates, nh - 1))
        elif popsize is None:
            draws = rng.integers(0, nh, size=(replicates, nh))
        else:
            # R: sample(rep(upsu, length = N_h), n_h), without replacement, upsu shuffled
            # first (sample(unique(psu))): which PSUs the N_h mod n_h extra copies go to is random
            N = int(popsize[rows[0]])
            pool = np.resize(rng.permutation(nh), N)
            draws = np.stack([rng.choice(pool, size=nh, replace=False) for _ in range(replicates)])
        counts = np.stack([np.bincount(d, minlength=nh) for d in draws], axis=1).astype(float)
        if sub:
            counts *= nh / (nh - 1)
        factors[rows] = counts[index.ravel()]
    return factors


def replicate_factors(design, type, *, replicates=None, seed=None, rho=None):
    """Replicate factors (n, R), scale and rscales of a design, as R ``as.svrepdesign``.

    Returns (factors, scale, rscales, replicate type of the result).
    """
    st, strata, psu = _first_stage(design)
    stratified = design.structure.strata_col is not None
    if type == "JK1":
        if stratified:
            raise ValueError("JK1 needs an unstratified design: use type='JKn'")
        fpc = _fpc_factor(st)
        if fpc is not None and np.unique(fpc).size > 1:
            col = design.structure.fpc[0]
            raise DesignError(f"JK1 needs a single finite population correction: the fpc {col!r} gives "
                              f"{np.unique(fpc).size} different ones (R: 'More than one fpc value given')",
                              variable=col)
        if np.unique(psu).size < 2:  # R refuses such a design ("only one primary sampling unit")
            raise DesignError("JK1 needs at least two PSUs: the design has one")
        factors, scale = jk1_weights(psu, fpc=None if fpc is None else fpc[0])
        return factors, scale, np.ones(factors.shape[1]), "JK1"
    if type == "JKn":
        if not stratified:
            raise ValueError("JKn needs a stratified design: use type='JK1'")
        factors, scale, rscales = jkn_weights(st.strata_labels[strata], psu, fpc=_fpc_factor(st),
                                              lonely_psu=design.lonely_psu)
        return factors, scale, rscales, "JKn"
    if type in ("BRR", "Fay"):
        if not stratified:
            raise ValueError(f"{type} needs a stratified design with two PSUs per stratum")
        r = 0.0 if type == "BRR" else rho
        if type == "Fay" and (rho is None or not 0 < rho < 1):
            raise ValueError("type='Fay' needs rho between 0 and 1")
        factors = brr_factors(st.strata_labels[strata], psu, rho=r)
        R = factors.shape[1]
        return factors, 1.0 / (R * (1 - r) ** 2), np.ones(R), type
    if type in ("bootstrap", "subbootstrap"):
        R = 50 if replicates is None else int(replicates)
        sub = type == "subbootstrap"
        _, first = np.unique(psu, return_index=True)
        codes, per_stratum = np.unique(strata[first], return_counts=True)
        if sub and (per_stratum < 2).any():
            # R: n_h / (n_h - 1) = Inf times no draw, NaN weights, then qr() stops
            col = design.structure.strata_col
            where = (f"stratum {st.strata_labels[codes[np.argmax(per_stratum < 2)]]!r} of {col!r}"
                     if stratified else "the design")
            raise DesignError(f"subbootstrap draws n - 1 of the n PSUs of each stratum: {where} "
                              f"has a single PSU; use type='bootstrap'", variable=col)
        rng = np.random.default_rng(seed)
        factors = _bootstrap(strata, psu, None if sub else st.popsize, R, rng, sub=sub)
        if sub:
            return factors, 1.0 / (R - 1), np.ones(R), "bootstrap"
        m = 1.0 / np.mean(1.0 / per_stratum)  # R: harmonic mean of PSUs per stratum
        return factors, m / ((m - 1) * (R - 1)), np.ones(R), "bootstrap"
    raise ValueError(f"type must be one of {REPLICATE_METHODS}, not {type!r}")
