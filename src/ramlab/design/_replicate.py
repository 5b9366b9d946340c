"""Replicate-weight designs (R ``svrepdesign``, ``as.svrepdesign``).

:class:`ReplicateDesign` is a :class:`ramlab.design.SurveyDesign` whose
variance engine is :class:`ramlab.variance.ReplicateVariance`: every
estimator (mean, total, ``by=``, ciprop, chisq, glm) works on it
through the same calls, and takes its variance from the replicates, as R's
``svymean.svyrep.design`` & co. do. Tests: ``tests/design/test_replicate.py``
against R (``tests/fixtures/r/replicate.R``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ramlab.design._base import SurveyDesign
from ramlab.design._columns import check_weights, column
from ramlab.design._conversion import replicate_factors
from ramlab.errors import WeightError
from ramlab.variance import REPLICATE_TYPES, ReplicateVariance, replicate_scales

__all__ = ["ReplicateDesign", "replicate_design"]


def _replicate_columns(data, repweights):
    """Column names of the replicate weights: a list, or a regular expression (R ``grep``)."""
    if isinstance(repweights, str):
        pattern = re.compile(repweights)
        cols = [c for c in data.columns if pattern.search(str(c))]
        if not cols:
            raise KeyError(f"no column of the data matches the replicate weights pattern {repweights!r}")
        return cols
    cols = list(repweights)
    for c in cols:
        column(data, c, "replicate weights")
    if not cols:
        raise ValueError("repweights names no column")
    return cols


class ReplicateDesign(SurveyDesign):
    """A survey design with replicate weights (R ``svrepdesign``).

    Parameters
    ----------
    data : pandas.DataFrame
    repweights : list of str or str
        The replicate weight columns, or a regular expression that selects
        them (as R's ``repweights = "pattern"``).
    type : {"JK1", "JKn", "BRR", "Fay", "bootstrap", "other"}
        How the replicates were made; sets ``scale`` and ``rscales`` as R
        does: BRR 1/R; Fay 1/(R (1 - rho)^2) (both ignore ``scale``); JK1
        (R - 1)/R, or with ``combined_weights=False`` 1 / the largest factor
        of the first replicate; bootstrap 1/(R - 1); JKn needs ``rscales``
        ((n_h - 1)/n_h of each replicate's stratum), or with
        ``combined_weights=False`` takes 1 / each replicate's largest
        factor; "other" takes ``scale`` and ``rscales`` (default 1).
    weights : str, optional
        Full-sample weight column (1 when absent, as R with a warning).
    scale, rscales : float, array-like, optional
        The overall multiplier of the replicate variance, and one multiplier
        per replicate (or one for all, R recycles it).
    rho : float, optional
        Fay's coefficient (type "Fay").
    mse : bool
        Centre the replicates on the full-sample estimate rather than on
        their mean (R ``mse = TRUE``).
    combined_weights : bool
        The columns hold full replicate weights (default, R
        ``combined.weights = TRUE``), or factors to multiply the weights by.

    Notes
    -----
    Reference: R survey 4.1-1, ``svrepdesign``, ``svrVar``. A domain
    (:meth:`subset`) keeps only its rows for the degrees of freedom (R's
    ``[.svyrep.design`` drops the others); its replicates are 0 outside it.

    Examples
    --------
    >>> import pandas as pd
    >>> from ramlab import ReplicateDesign
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 6.0]})
    >>> for i in range(4):  # JK1: one row left out, the others weigh 4/3
    ...     df[f"r{i}"] = [0.0 if j == i else 4 / 3 for j in range(4)]
    >>> d = ReplicateDesign(df, repweights="^r", type="JK1")
    >>> d.mean("x").round(4)
       estimate      se
    x       3.0  1.0801
    """

    def __init__(self, data, *, repweights, type, weights=None, scale=None, rscales=None, rho=None,
                 mse=False, combined_weights=True):
        if not isinstance(data, pd.DataFrame):
            raise TypeError("data must be a pandas DataFrame")
        if type not in REPLICATE_TYPES:
            raise ValueError(f"type must be one of {REPLICATE_TYPES}, not {type!r}")
        cols = _replicate_columns(data, repweights)
        # column by column: DataFrame.to_numpy cannot turn pd.NA of an object column into NaN
        A = np.column_stack([data[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in cols])
        if np.isnan(A).any():
            bad = cols[int(np.flatnonzero(np.isnan(A).any(axis=0))[0])]
            raise WeightError(f"replicate weight {bad!r} has missing values", variable=bad)
        if weights is not None:
            w = column(data, weights, "weights").to_numpy(dtype=np.float64, na_value=np.nan)
            check_weights(w, weights)
        else:
            w = np.ones(len(data))
        factors = None
        if not combined_weights:
            factors, A = A, A * w[:, None]
        scale, rscales = replicate_scales(type, A.shape[1], scale=scale, rscales=rscales, rho=rho,
                                          factors=factors)
        self._init_replicates(data, w, A, type=type, scale=scale, rscales=rscales, mse=bool(mse),
                              rho=rho, domain=None, calibrations=(), weight_name=weights)

    @classmethod
    def from_replicates(cls, data, weights, replicates, *, type, scale, rscales, rho=None, mse=False,
                        weight_name=None):
        """A replicate design from arrays: weights (n,) and full replicate weights (n, R)."""
        new = object.__new__(cls)
        new._init_replicates(data, np.asarray(weights, dtype=float), np.asarray(replicates, dtype=float),
                             type=type, scale=float(scale), rscales=np.asarray(rscales, dtype=float),
                             mse=bool(mse), rho=rho, domain=None, calibrations=(),
                             weight_name=weight_name)
        return new

    def _init_replicates(self, data, w, A, *, type, scale, rscales, mse, rho, domain, calibrations,
                         weight_name, steps=(), base_weights=None):
        self._init_base(data, w, calibrations=calibrations, weight_name=weight_name, steps=steps,
                        base_weights=base_weights)
        A = A.view()
        A.flags.writeable = False
        self._replicates = A
        self._type = type
        self._scale = scale
        self._rscales = rscales
        self._mse = mse
        self._rho = rho
        self._domain = domain

    def _derive(self, *, weights=None, present=..., calibrations=None, step=None, replicates=None,
                domain=...):
        new = object.__new__(type(self))
        new._init_replicates(
            self._data, self._w if weights is None else weights,
            self._replicates if replicates is None else replicates,
            type=self._type, scale=self._scale, rscales=self._rscales, mse=self._mse, rho=self._rho,
            domain=self._domain if domain is ... else domain,
            calibrations=self._calibrations if calibrations is None else calibrations,
            weight_name=self._weight_name, steps=self._steps + (step,), base_weights=self._base_w,
        )
        return new

    # ------------------------------------------------------------------ basics
    @property
    def replicate_weights(self):
        """Replicate weights as a DataFrame (n rows, one column per replicate; 0 outside a domain)."""
        A = self._replicates if self._domain is None else self._replicates * self._domain[:, None]
        return pd.DataFrame(A, index=self._data.index,
                            columns=[f"rep{r + 1}" for r in range(A.shape[1])])

    @property
    def type(self):
        return self._type

    @property
    def scale(self):
        return self._scale

    @property
    def rscales(self):
        return self._rscales.copy()

    @property
    def mse(self):
        return self._mse

    @property
    def n_replicates(self):
        return self._replicates.shape[1]

    def __repr__(self):
        return (f"ReplicateDesign(n={self.n}, type={self._type!r}, replicates={self.n_replicates}, "
                f"scale={self._scale!r}, mse={self._mse}, calibrations={len(self._calibrations)})")

    def subset(self, mask):
        """Domain design: weights and replicates 0 outside ``mask`` (R ``subset``)."""
        mask = self._mask(mask)
        domain = mask if self._domain is None else (self._domain & mask)
        return self._derive(weights=np.where(mask, self._w, 0.0), domain=domain, step=("subset", mask))

    @property
    def held_rows(self):
        """Rows of the domain (R's ``[.svyrep.design`` drops the others); None = all."""
        return None if self._domain is None else np.flatnonzero(self._domain)

    @property
    def n_held_rows(self):
        return self.n if self._domain is None else int(self._domain.sum())

    @property
    def held_degf(self):
        """R ``degf.svyrep.design``: rank of the held rows' replicate weights minus 1."""
        return self.degf()

    def degf(self):
        """R ``degf.svyrep.design``: rank of the replicate weights minus 1 (R's QR, tol 1e-5)."""
        return self.variance_engine.degf()

    @property
    def variance_engine(self):
        """The replicate-weight engine (:class:`ramlab.variance.ReplicateVariance`)."""
        if self._engine is None:
            self._engine = ReplicateVariance(self._w, self._replicates, self._domain,
                                             scale=self._scale, rscales=self._rscales, mse=self._mse)
        return self._engine

    @property
    def replicate_weight_values(self):
        """Replicate weights (n, R) as an ndarray, 0 outside a domain (what weighting reweights)."""
        if self._domain is None:
            return self._replicates
        return self._replicates * self._domain[:, None]

    def _apply(self, result, step):
        if result.replicates is None:
            raise ValueError("a weighting of a replicate design must reweight its replicates")
        calibrations = self._calibrations
        if result.calibration is not None:
            calibrations = calibrations + (result.calibration,)
        return self._derive(weights=result.weights, calibrations=calibrations, step=step,
                            replicates=result.replicates)


def replicate_design(design, type, *, replicates=None, seed=None, rho=None, mse=False):
    """:meth:`Design.replicate` (R ``as.svrepdesign``): see its docstring."""
    factors, scale, rscales, rtype = replicate_factors(design, type, replicates=replicates, seed=seed,
                                                       rho=rho)
    w = np.asarray(design.base_weights, dtype=float)
    rep = ReplicateDesign.from_replicates(design.data, w, factors * w[:, None], type=rtype, scale=scale,
                                          rscales=rscales, rho=rho, mse=mse,
                                          weight_name=design.weight_name)
    for step in design.steps:
        if step is None:
            raise ValueError("the design was given weights by apply_weighting: replicate() cannot "
                             "apply that step to the replicates; reweight the replicate design")
        name, options = step
        rep = rep.subset(options) if name == "subset" else getattr(rep, name)(**options)
    return rep
