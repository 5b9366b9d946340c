"""Survey design object and design-based estimators.

:class:`Design` follows R ``survey`` (Lumley) 4.1-1, ``svydesign`` and the
``survey.design2`` methods: one object holds the data, the weights and the
sampling structure (strata, clusters per stage, finite population
corrections), and every estimator takes its standard error from one
function, :meth:`Design.total_vcov` (R ``svyrecvar``).

Weighting (:meth:`Design.rake`, :meth:`Design.calibrate`,
:meth:`Design.poststratify`, :meth:`Design.trim`) returns a new design that
remembers its calibrations, so that standard errors account for them as R's
do.

Domains
-------
:meth:`Design.subset` keeps every row and sets the weight to 0 outside the
domain (R's ``subset()`` of a calibrated design). R drops the rows when it
subsets an *uncalibrated* design; the two agree on estimates and variances,
and where R's answer depends on the number of rows it sees (``svyciprop``
"beta" and "likelihood", ``svychisq``'s denominator degrees of freedom and
table total, the "average" lonely-PSU rescaling, which strata are checked
for a single PSU) ramlab reproduces R's count for each case: the domain's
rows for an uncalibrated design, all rows for a calibrated one.

Where R returns NaN because a factor level has no weight in the domain
(``svychisq`` on a factor with an empty level: R's ``svytable`` keeps the
empty level), ramlab leaves the empty level out, which is what R itself
does for a character column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ramlab.design._chisq import chisq
from ramlab.design._ciprop import ciprop
from ramlab.design._columns import as_list, check_weights, column, count_distinct
from ramlab.design._estimates import estimate
from ramlab.design._structure import SamplingStructure
from ramlab.variance import LONELY_PSU_OPTIONS, DomainPlan, Linearisation

__all__ = ["Design"]


class Design:
    """A survey design over a pandas DataFrame (R ``svydesign``).

    Parameters
    ----------
    data : pandas.DataFrame
        The sample, one row per respondent; not copied.
    weights : str, optional
        Column of sampling weights. Without it the weights come from ``fpc``
        (product over stages of N_s / n_s, as R for ``apiclus2``) or are 1.
    ids : str or list of str, optional
        Cluster columns, first (PSU) stage first. Without them each row is
        its own PSU.
    strata : str, optional
        Stratum column (first stage).
    fpc : str or list of str, optional
        Finite population correction per stage: population sizes (> 1) or
        sampling fractions (<= 1), as R's ``svydesign``.
    lonely_psu : {"fail", "remove", "adjust", "average", "certainty"}
        What to do with a stratum holding a single PSU (R option
        ``survey.lonely.psu``).

    Notes
    -----
    Reference: R survey 4.1-1, ``svydesign``, ``svyrecvar``.
    """

    def __init__(self, data, *, weights=None, ids=None, strata=None, fpc=None, lonely_psu="fail"):
        if not isinstance(data, pd.DataFrame):
            raise TypeError("data must be a pandas DataFrame")
        if lonely_psu not in LONELY_PSU_OPTIONS:
            raise ValueError(f"lonely_psu must be one of {LONELY_PSU_OPTIONS}, not {lonely_psu!r}")
        ids = as_list(ids)
        fpc = as_list(fpc)
        structure = SamplingStructure(data, ids, strata, fpc)
        n = len(data)
        if weights is not None:
            w = column(data, weights, "weights").to_numpy(dtype=np.float64, na_value=np.nan)
            check_weights(w, weights)
            wname = weights
        elif fpc:
            w = structure.fpc_weights()
            check_weights(w, fpc[0])
            wname = None
        else:
            w = np.ones(n)
            wname = None
        self._init(data, structure, w, lonely_psu=lonely_psu, present=None,
                   calibrations=(), weight_name=wname)

    # internal constructor for derived designs
    def _init(self, data, structure, w, *, lonely_psu, present, calibrations, weight_name):
        # designs are immutable: a read-only view guards the weights (and a
        # weight column of the caller's DataFrame) against writes through
        # ``d.weights``
        w = np.asarray(w, dtype=np.float64).view()
        w.flags.writeable = False
        self._data = data
        self._structure = structure
        self._w = w
        self._lonely_psu = lonely_psu
        self._present = present
        self._calibrations = tuple(calibrations)
        self._weight_name = weight_name
        self._engine = None

    def _derive(self, *, weights=None, present=..., calibrations=None):
        new = object.__new__(type(self))
        new._init(
            self._data,
            self._structure,
            self._w if weights is None else weights,
            lonely_psu=self._lonely_psu,
            present=self._present if present is ... else present,
            calibrations=self._calibrations if calibrations is None else calibrations,
            weight_name=self._weight_name,
        )
        return new

    # ------------------------------------------------------------------ basics
    @property
    def data(self):
        """The DataFrame (not a copy)."""
        return self._data

    @property
    def weights(self):
        """Weights as a float64 Series named "weight" (0 outside a domain)."""
        return pd.Series(self._w, index=self._data.index, name="weight", copy=False)

    @property
    def weight_values(self):
        """Weights as a read-only float64 ndarray (0 outside a domain)."""
        return self._w

    @property
    def n(self):
        """Number of rows."""
        return len(self._data)

    @property
    def lonely_psu(self):
        return self._lonely_psu

    @property
    def calibrations(self):
        """Calibration records, oldest first (used by :meth:`total_vcov`)."""
        return self._calibrations

    @property
    def is_calibrated(self):
        """True once the design remembers a calibration (R ``is.calibrated``)."""
        return len(self._calibrations) > 0

    def __repr__(self):
        st = self._structure
        return (
            f"Design(n={self.n}, ids={st.ids or None}, strata={st.strata_col!r}, "
            f"fpc={st.fpc or None}, calibrations={len(self._calibrations)})"
        )

    def _mask(self, mask):
        if isinstance(mask, str):
            mask = self._data[mask]
        if isinstance(mask, pd.Series):
            if not mask.index.equals(self._data.index):
                mask = mask.reindex(self._data.index)
            mask = mask.fillna(False).to_numpy(dtype=bool)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.n,):
            raise ValueError(f"mask must have {self.n} values, not {mask.shape}")
        return mask

    def subset(self, mask):
        """Domain design: same rows and structure, weight 0 outside ``mask``.

        Parameters
        ----------
        mask : boolean array-like or Series aligned on ``data`` (missing = False)

        Notes
        -----
        R ``subset.survey.design`` / ``[.survey.design2``. See the module
        notes on which rows R counts for an uncalibrated design.
        """
        mask = self._mask(mask)
        w = np.where(mask, self._w, 0.0)
        if self.is_calibrated:
            present = self._present
        else:
            present = mask if self._present is None else (self._present & mask)
        return self._derive(weights=w, present=present)

    # ------------------------------------------------ the rows R's object holds
    @property
    def held_rows(self):
        """Indices of the rows R's design object would hold (None = all).

        An uncalibrated domain (:meth:`subset`) holds only its rows, as R's
        ``subset()`` drops the others; a calibrated one holds them all. See
        the module notes.
        """
        if self._present is None:
            return None
        return np.flatnonzero(self._present)

    @property
    def n_held_rows(self):
        """Number of rows R's design object would hold (R ``nrow(design)``).

        What R's ``svyciprop(method = "beta")`` and ``svychisq`` (table
        total) count.
        """
        return self.n if self._present is None else int(self._present.sum())

    @property
    def held_degf(self):
        """PSUs minus strata among the rows R's design object holds.

        R's ``nu`` in ``svychisq`` (denominator degrees of freedom), which
        counts the PSUs of the rows the object holds, with or without weight.
        Compare :meth:`degf`, which counts PSUs with a nonzero weight.
        """
        st = self._structure.stages[0]
        rows = self.held_rows
        cl = st.cluster if rows is None else st.cluster[rows]
        sr = st.strata if rows is None else st.strata[rows]
        return count_distinct(cl) - count_distinct(sr)

    # ---------------------------------------------------------------- variance
    def domain_plan(self, domains):
        """Prepare :meth:`total_vcov` for influence values crossed with domains.

        Parameters
        ----------
        domains : ndarray (n, C) of bool/0-1, or tuple (codes, table)
            Domain indicators of each row (e.g. the columns of a banner), or
            the same in factored form: ``codes`` (n,) int in 0..G-1 and
            ``table`` (G, C) float, the row of ``table`` each row takes.

        Returns
        -------
        DomainPlan
            Reusable for every ``u`` on this design:
            ``total_vcov(u, domains=plan)`` is the covariance of the C*K
            totals ``sum_i w_i table[codes_i, c] u[i, j]`` (index c*K + j).
        """
        return self.variance_engine.domain_plan(domains)

    def total_vcov(self, u, *, domains=None):
        """Linearisation covariance of the totals sum_i w_i u[i, j].

        Parameters
        ----------
        u : ndarray (n, k) or (n,)
            Per-row influence values; rows outside the domain must be 0.
        domains : ndarray (n, C), tuple (codes, table) or DomainPlan, optional
            Cross ``u`` with domains (see :meth:`domain_plan`): the result
            is then the (C*k, C*k) covariance of the totals of
            ``u[:, j] * domain_c`` (index c*k + j), the same as passing that
            (n, C*k) matrix, computed without forming it when the design
            allows (one PSU per row at the first stage, no single-PSU
            stratum, categorical calibrations): rows are grouped by their
            cell (stratum x domain pattern x calibration cells) and only
            k x k cross-products per cell are accumulated.

        Returns
        -------
        ndarray (k, k)

        Notes
        -----
        Residualises the weighted influence values for each calibration the
        design remembers (oldest first), then applies the stratified
        multistage formula. Reference: R survey ``svyrecvar``.
        """
        if domains is not None:
            plan = domains if isinstance(domains, DomainPlan) else self.domain_plan(domains)
            if plan.engine is not self.variance_engine:
                raise ValueError("the domain plan was made for another design")
            return plan.total_vcov(u)
        return self.variance_engine.total_vcov(u)

    @property
    def variance_engine(self):
        """The design's variance engine (:class:`ramlab.variance.Linearisation`).

        Every estimator takes its standard errors from it, through
        :meth:`total_vcov` and :meth:`domain_plan`: a design class with
        another engine (replicate weights) changes no estimator.
        """
        if self._engine is None:
            self._engine = Linearisation(self._structure, self._w, self._calibrations,
                                         self.held_rows, self._lonely_psu)
        return self._engine

    def degf(self):
        """Design degrees of freedom: PSUs minus strata with nonzero weight.

        Reference: R survey ``degf.survey.design2``.
        """
        st = self._structure.stages[0]
        inset = self._w != 0
        return count_distinct(st.cluster[inset]) - count_distinct(st.strata[inset])

    # -------------------------------------------------------------- estimators
    def mean(self, var, *, by=None, deff=False, na_rm=False):
        """Weighted mean (proportions for a categorical variable) and its SE.

        Parameters
        ----------
        var : str
            Column. Categorical, string or boolean columns give one row per
            category (proportions).
        by : str or list of str, optional
            Domain estimation per group (R ``svyby``); several columns give
            their cross-classification (groups in R's order: the first
            column varies slowest here, rows of a MultiIndex).
        deff : bool
            Add the design effect (R ``deff=TRUE``: design variance over the
            variance under simple random sampling without replacement,
            ``svyvar * (N - n) / (N n)``).
        na_rm : bool
            Drop rows where ``var`` is missing (as a domain); otherwise a
            missing value makes the estimate NaN, as in R.

        Returns
        -------
        pandas.DataFrame with columns estimate, se (, deff).

        Notes
        -----
        Influence values u_i = (y_i - ybar) / N_hat in the domain.
        Reference: R survey ``svymean.survey.design2``, ``svyby``.
        """
        return estimate(self, var, kind="mean", by=by, deff=deff, na_rm=na_rm)

    def total(self, var, *, by=None, deff=False, na_rm=False):
        """Weighted total (counts for a categorical variable) and its SE.

        Same parameters as :meth:`mean`. Reference: R survey
        ``svytotal.survey.design2``.
        """
        return estimate(self, var, kind="total", by=by, deff=deff, na_rm=na_rm)

    # ---------------------------------------------------------------- ciprop
    def ciprop(self, x, *, method="logit", level=0.95):
        """Confidence interval of a proportion (R ``svyciprop``).

        Parameters
        ----------
        x : str or boolean Series / array
            A column (boolean or 0/1) or a boolean Series aligned on the
            data. Missing values are left out (as a domain).
        method : {"logit", "likelihood", "beta", "xlogit", "mean", "asin", "wilson"}
            R ``svyciprop`` methods, plus "wilson":

            - "logit": Wald interval for the intercept of a quasi-binomial
              ``svyglm``, back-transformed (equal to "xlogit");
            - "likelihood": profile (Rao-Scott scaled) likelihood interval of
              that model. R approximates the profile by a spline on a grid;
              ramlab solves for the bounds exactly (agreement ~1e-3);
            - "beta": Korn & Graubard (1998), effective n = p(1-p)/var
              times (qt(alpha/2, nrow - 1) / qt(alpha/2, df))^2, with nrow the
              rows R's design holds;
            - "xlogit", "asin": t interval on the logit / arcsine-square-root
              scale (delta method), back-transformed; "mean": Wald t interval;
            - "wilson": Wilson score interval with the effective sample size
              n_eff = p(1-p)/var and the t(df) quantile (Kott & Carr 1997).
        level : float

        Returns
        -------
        pandas.Series with estimate, se, ci_low, ci_high, df.

        Notes
        -----
        Degrees of freedom: :meth:`degf` of the design or the domain, as R.
        """
        return ciprop(self, x, method=method, level=level)

    # ----------------------------------------------------------------- chisq
    def chisq(self, row, col, *, statistic="F"):
        """Test of independence of two categorical variables (R ``svychisq``).

        Parameters
        ----------
        row, col : str
            Columns. Rows with a missing value in either are left out.
        statistic : {"F", "Chisq", "Wald", "adjWald"}
            "F": Rao-Scott second-order correction, Pearson X^2 / tr(Delta)
            on F(d0, d0 * nu) with d0 = tr(Delta)^2 / tr(Delta^2);
            "Chisq": Pearson X^2 with the first-order correction, p-value of
            X^2 / mean(eigenvalues) on chi^2((r-1)(c-1)); "Wald": design-based
            Wald statistic / ((r-1)(c-1)) on F((r-1)(c-1), nu); "adjWald":
            the same scaled by (nu - ndf + 1) / nu on F(ndf, nu - ndf + 1).
            nu = number of PSUs minus number of strata of the design.

        Returns
        -------
        ChisqResult with statistic, df ((ndf, ddf), or the chi^2 df for
        "Chisq"), p_value and method. All NaN when either variable has fewer
        than two categories with a positive weight (nothing to test).

        References
        ----------
        R survey ``svychisq.survey.design``; Rao & Scott (1984), Ann. Stat.
        12, 46-60; Koch, Freeman & Freeman (1975).
        """
        return chisq(self, row, col, statistic=statistic)

    # ------------------------------------------------------------- weighting
    def apply_weighting(self, result):
        """The design with the weights of a weighting step (R: what ``rake`` & co. return).

        Parameters
        ----------
        result : ramlab.weighting.Reweighting
            New weights and, unless None, the calibration record to remember
            (its standard errors then account for it).

        Returns
        -------
        Design
        """
        calibrations = self._calibrations
        if result.calibration is not None:
            calibrations = calibrations + (result.calibration,)
        return self._derive(weights=result.weights, calibrations=calibrations)

    def rake(self, margins, *, tol=1e-10, max_iter=100, cap=None, population=None):
        """Rake the weights to population margins; see :func:`ramlab.weighting.rake_weights`."""
        from ramlab.weighting import rake_weights

        return self.apply_weighting(rake_weights(self, margins, tol=tol, max_iter=max_iter, cap=cap,
                                                 population=population))

    def calibrate(self, totals, *, method="linear", bounds=None, population=None, tol=1e-12, max_iter=100):
        """Calibrate the weights; see :func:`ramlab.weighting.calibrate_weights`."""
        from ramlab.weighting import calibrate_weights

        return self.apply_weighting(calibrate_weights(
            self, totals, method=method, bounds=bounds, population=population, tol=tol, max_iter=max_iter,
        ))

    def poststratify(self, columns, totals):
        """Post-stratify the weights; see :func:`ramlab.weighting.poststratify_weights`."""
        from ramlab.weighting import poststratify_weights

        return self.apply_weighting(poststratify_weights(self, columns, totals))

    def trim(self, lower=None, upper=None, strict=False):
        """Trim the weights (R ``trimWeights``); see :func:`ramlab.weighting.trim_weights`."""
        from ramlab.weighting import trim_weights

        return self.apply_weighting(trim_weights(self, lower=lower, upper=upper, strict=strict))

    # ---------------------------------------------------------------- models
    def glm(self, formula, *, family="gaussian"):
        """Design-based generalised linear model (R ``svyglm``)."""
        from ramlab.models import glm

        return glm(self, formula, family=family)
