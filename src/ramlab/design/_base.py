"""The survey design base class: what every design class shares (R's generics).

:class:`SurveyDesign` holds the data and the weights and defines every
estimator once (mean, total, ``by=``, ciprop, chisq, glm) and the weighting
methods; a design class (:class:`ramlab.design.Design`, linearised, R
``survey.design2``; :class:`ramlab.design.ReplicateDesign`, R
``svyrep.design``) supplies its variance engine
(:class:`ramlab.variance.VarianceEstimator`), its domains and its degrees of
freedom. The estimators only call :meth:`SurveyDesign.total_vcov` and
:meth:`SurveyDesign.statistic_vcov`, so a new design class changes none of
them.
"""

from __future__ import annotations

import abc

import numpy as np
import pandas as pd

from ramlab.design._chisq import chisq
from ramlab.design._ciprop import ciprop
from ramlab.design._columns import aligned
from ramlab.design._contrast import contrast as contrast_of
from ramlab.design._estimates import estimate, joint_estimate
from ramlab.design._quantile import quantile
from ramlab.design._ratio import ratio, variance
from ramlab.design._ttest import ttest
from ramlab.errors import DesignError
from ramlab.variance import DomainPlan

__all__ = ["SurveyDesign"]


class SurveyDesign(abc.ABC):
    """A survey design: data, weights and every estimator (see the subclasses)."""

    # shared state of every design class, set by the subclass's constructor
    def _init_base(self, data, w, *, calibrations, weight_name, steps, base_weights):
        # designs are immutable: a read-only view guards the weights (and a
        # weight column of the caller's DataFrame) against writes through
        # ``d.weights``
        w = np.asarray(w, dtype=np.float64).view()
        w.flags.writeable = False
        self._data = data
        self._w = w
        self._calibrations = tuple(calibrations)
        self._weight_name = weight_name
        self._steps = tuple(steps)
        self._base_w = w if base_weights is None else base_weights
        self._engine = None

    @property
    def steps(self):
        """Domains and weighting steps that made this design from its constructor's, in order.

        Each is ("subset", mask) or (method name, options), or None for a
        :meth:`apply_weighting` of weights computed elsewhere.
        """
        return self._steps

    @property
    def replicate_weight_values(self):
        """Replicate weights (n, R), or None for a design without replicates."""
        return None

    @property
    def base_weights(self):
        """The weights the design was constructed with, before domains and weighting."""
        return self._base_w

    @property
    def weight_name(self):
        """The name of the weight column the design was given, or None (equal weights)."""
        return self._weight_name

    # --------------------------------------------------- what each class defines
    @property
    @abc.abstractmethod
    def variance_engine(self):
        """The :class:`ramlab.variance.VarianceEstimator` every estimator uses."""

    @abc.abstractmethod
    def degf(self):
        """Design degrees of freedom (R ``degf``)."""

    @abc.abstractmethod
    def subset(self, mask):
        """Domain design: weight 0 outside ``mask`` (R ``subset``)."""

    @abc.abstractmethod
    def _derive(self, *, weights=None, present=..., calibrations=None, step=None):
        """A design of the same class with these weights and calibrations, one step on."""

    @property
    @abc.abstractmethod
    def held_rows(self):
        """Indices of the rows R's design object would hold (None = all)."""

    @property
    @abc.abstractmethod
    def n_held_rows(self):
        """Number of rows R's design object would hold (R ``nrow(design)``)."""

    @property
    @abc.abstractmethod
    def held_degf(self):
        """R's ``nu`` of ``svychisq``: the degrees of freedom of the rows R's object holds."""

    # ------------------------------------------------------------------ display
    def _repr_html_(self):
        """JupyterLab's view: the sampling design, n, the weighting, the Kish design effect."""
        from ramlab.design._display import design_facts, facts_html

        return facts_html(type(self).__name__, design_facts(self, self.weight_name))

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
    def calibrations(self):
        """Calibration records, oldest first (used by :meth:`total_vcov`)."""
        return self._calibrations

    @property
    def is_calibrated(self):
        """True once the design remembers a calibration (R ``is.calibrated``)."""
        return len(self._calibrations) > 0

    def _mask(self, mask):
        if isinstance(mask, str):
            mask = self._query(mask)
        if isinstance(mask, pd.Series):
            mask = aligned(mask, self._data.index, "mask")
            mask = mask.to_numpy(dtype=bool, na_value=False)  # missing = False (R's subset)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.n,):
            raise DesignError(f"mask must have {self.n} values (one per row), not {mask.shape}")
        return mask

    def _query(self, text):
        """A boolean column, or a pandas query on the data (``"taille == 'Grande'"``)."""
        if text in self._data.columns:
            # a column of categories or numbers is not a domain (R's subset stops on a factor)
            out, what = self._data[text], f"the column is {self._data[text].dtype}, which"
        else:
            try:
                out, what = self._data.eval(text), "the query"
            except Exception as exc:
                raise DesignError(
                    f"subset({text!r}): not a column and not a query on the data's columns "
                    f"(pandas query syntax, e.g. \"taille == 'Moins de 10 salariés'\"): {exc}"
                ) from None
        # true/false per row, missing values allowed (a column of True, False and None)
        if not isinstance(out, pd.Series) or pd.api.types.infer_dtype(out, skipna=True) != "boolean":
            raise DesignError(f"subset({text!r}): {what} does not give one true/false per row")
        return out

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
        return DomainPlan(self.variance_engine, domains)

    def total_vcov(self, u, *, domains=None):
        """Covariance of the totals sum_i w_i u[i, j], from the design's variance engine.

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
        Linearised design: residualises the weighted influence values for
        each calibration the design remembers (oldest first), then applies
        the stratified multistage formula (R ``svyrecvar``). Replicate
        design: the spread of the replicate totals (R ``svrVar``).
        """
        if domains is not None:
            plan = domains if isinstance(domains, DomainPlan) else self.domain_plan(domains)
            if plan.engine is not self.variance_engine:
                raise ValueError("the domain plan was made for another design")
            return plan.total_vcov(u)
        return self.variance_engine.total_vcov(u)

    def statistic_vcov(self, statistic, influence):
        """Covariance of a statistic of the weights (the seam between design classes).

        Parameters
        ----------
        statistic : callable
            ``statistic(W)``: the (m, k) estimates computed with each column
            of the weights ``W`` (n, m). A replicate design evaluates it on
            its replicates (R's ``svymean.svyrep.design`` & co.).
        influence : ndarray (n, k)
            Influence values of the statistic: a linearised design returns
            :meth:`total_vcov` of them (R ``svyrecvar``).
        """
        return self.variance_engine.statistic_vcov(statistic, influence)

    # -------------------------------------------------------------- estimators
    def mean(self, var, *, by=None, deff=False, na_rm=False, cov=False):
        """Weighted mean (proportions for a categorical variable) and its SE.

        Parameters
        ----------
        var : str or list of str
            Column. Categorical, string or boolean columns give one row per
            category (proportions). Several columns give their means side by
            side, named as R (``api00``, ``stypeE``), with their joint
            covariance (``cov=True``).
        by : str or list of str, optional
            Domain estimation per group (R ``svyby``); several columns give
            their cross-classification (groups in R's order: the first
            column varies slowest here, rows of a MultiIndex).
        deff : bool or "replace"
            Add the design effect: design variance over the variance under
            simple random sampling without replacement, ``svyvar * (N - n) /
            (N n)`` (True, R ``deff=TRUE``), or with replacement, ``svyvar / n``
            ("replace", R ``deff="replace"``). NaN for a domain of one
            respondent (svyvar's n / (n - 1) is 1 / 0).
        na_rm : bool
            Drop rows where ``var`` is missing (as a domain); otherwise a
            missing value makes the estimate NaN, as in R (on a replicate
            design it raises DesignError, as R stops: "All replicates
            contained NAs").
        cov : bool
            Also return the joint covariance of the estimates (R
            ``vcov(svymean(~a + b))``), for :meth:`contrast`.

        Returns
        -------
        pandas.DataFrame with columns estimate, se (, deff); with
        ``cov=True``, the pair (that DataFrame, covariance DataFrame).

        Notes
        -----
        Influence values u_i = (y_i - ybar) / N_hat in the domain.
        Reference: R survey ``svymean.survey.design2``, ``svyby``.

        Examples
        --------
        >>> import pandas as pd
        >>> from ramlab import Design
        >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 6.0], "w": [1.0, 1.0, 1.0, 3.0]})
        >>> float(Design(df, weights="w").mean("x")["estimate"].iloc[0])  # (1+2+3+18) / 6
        4.0
        """
        return self._estimate(var, kind="mean", by=by, deff=deff, na_rm=na_rm, cov=cov)

    def total(self, var, *, by=None, deff=False, na_rm=False, cov=False):
        """Weighted total (counts for a categorical variable) and its SE.

        Same parameters as :meth:`mean`. Reference: R survey
        ``svytotal.survey.design2``.

        Examples
        --------
        >>> import pandas as pd
        >>> from ramlab import Design
        >>> df = pd.DataFrame({"taille": pd.Categorical(["petite"] * 3 + ["grande"] * 3),
        ...                    "x": [1.0, 2.0, 3.0, 5.0, 6.0, 7.0],
        ...                    "y": [2.0, 3.0, 5.0, 9.0, 13.0, 14.0],
        ...                    "w": [10.0, 10.0, 10.0, 20.0, 20.0, 20.0]})
        >>> d = Design(df, weights="w")
        >>> d.total("x").round(3)
           estimate       se
        x     420.0  138.564
        """
        return self._estimate(var, kind="total", by=by, deff=deff, na_rm=na_rm, cov=cov)

    def _estimate(self, var, *, kind, by, deff, na_rm, cov):
        if not (cov or isinstance(var, (list, tuple))):
            return estimate(self, var, kind=kind, by=by, deff=deff, na_rm=na_rm)
        if by is not None or deff:
            raise ValueError("by= and deff= take one variable, without cov=True")
        frame, V = joint_estimate(self, list(var) if isinstance(var, (list, tuple)) else [var],
                                  kind=kind, na_rm=na_rm)
        return (frame, V) if cov else frame

    # ------------------------------------------------- ratios, variances, contrasts
    def ratio(self, numerator, denominator, *, by=None, na_rm=False):
        """Ratio of two totals and its SE (R ``svyratio``).

        Parameters
        ----------
        numerator, denominator : str
            Numeric columns: the ratio is sum w y / sum w x.
        by : str or list of str, optional
            One ratio per group (R ``svyby(..., svyratio, denominator =)``).
        na_rm : bool
            Leave out the rows where either is missing (a domain); otherwise
            NaN, as R; on a replicate design a DesignError (R's
            ``svyratio.svyrep.design`` stops: "All replicates contained NAs").

        Returns
        -------
        pandas.DataFrame with columns estimate, se (one row, or one per group).

        Notes
        -----
        Influence values (y_i - R x_i) / X (R ``svyratio.survey.design2``);
        on a replicate design the ratio of each replicate's totals.

        Examples
        --------
        >>> import pandas as pd
        >>> from ramlab import Design
        >>> df = pd.DataFrame({"taille": pd.Categorical(["petite"] * 3 + ["grande"] * 3),
        ...                    "x": [1.0, 2.0, 3.0, 5.0, 6.0, 7.0],
        ...                    "y": [2.0, 3.0, 5.0, 9.0, 13.0, 14.0],
        ...                    "w": [10.0, 10.0, 10.0, 20.0, 20.0, 20.0]})
        >>> d = Design(df, weights="w")
        >>> d.ratio("y", "x").round(6)
             estimate        se
        y/x  1.952381  0.086245
        """
        return ratio(self, numerator, denominator, by=by, na_rm=na_rm)

    def var(self, x, *, na_rm=False):
        """Population variance of a numeric column (or covariance matrix of several), R ``svyvar``.

        The estimate is the weighted mean of (x_i - xbar)^2 n / (n - 1); its
        SE is that mean's, xbar held fixed (R ``svyvar.survey.design``); on a
        replicate design, the variance recomputed with each replicate.

        Parameters
        ----------
        x : str or list of str
            Numeric columns.
        na_rm : bool
            Leave out the rows with a missing value (a domain); otherwise NaN
            (R gives NA where a missing value enters and no finite SE), and
            on a replicate design a DesignError (R's ``svyvar`` stops). As R,
            n in n / (n - 1) counts the rows of nonzero weight before the
            missing ones are left out (on a replicate design: after).

        Returns
        -------
        pandas.DataFrame with columns estimate, se: one row for one column;
        for p columns, the p x p entries indexed by (row, column) variable in
        R's column-major order.

        Examples
        --------
        >>> import pandas as pd
        >>> from ramlab import Design
        >>> df = pd.DataFrame({"taille": pd.Categorical(["petite"] * 3 + ["grande"] * 3),
        ...                    "x": [1.0, 2.0, 3.0, 5.0, 6.0, 7.0],
        ...                    "y": [2.0, 3.0, 5.0, 9.0, 13.0, 14.0],
        ...                    "w": [10.0, 10.0, 10.0, 20.0, 20.0, 20.0]})
        >>> d = Design(df, weights="w")
        >>> d.var("x").round(6)
           estimate        se
        x  5.066667  2.028927
        """
        return variance(self, x, na_rm=na_rm)

    def quantile(self, var, probs, *, ci=False, by=None, interval_type="mean", qrule="math", level=0.95,
                 na_rm=False):
        """Quantiles, with Woodruff confidence intervals and SEs (R 4.1 ``svyquantile``).

        Parameters
        ----------
        var : str
            Numeric column.
        probs : float or sequence of float
        ci : bool
            Add ``se``, ``ci_low`` and ``ci_high``.
        by : str or list of str, optional
            Per group (R ``svyby(..., svyquantile)``): the SE is each group's
            Woodruff SE and, as R's ``confint`` of a ``svyby``, the interval is
            the estimate -/+ the normal quantile times the SE.
        interval_type : {"mean", "beta", "xlogit", "asin", "score", "quantile"}
            How the interval is made (R ``interval.type``): a Woodruff
            interval for the CDF, or ("score", linearised designs only, as
            in R) the inversion of the score test of F(q) = p, or
            ("quantile", replicate designs only, as in R) q -/+ t times the
            SE of the quantile recomputed in every replicate (R ``repCI``;
            R warns, and so does ramlab, that jackknife replicates may not
            give valid SEs for quantiles).
        qrule : {"math", "school", "hf7"}
            The quantile rule (R ``qrule``; "math" is R's default).
        level : float
        na_rm : bool
            Leave out the rows where ``var`` is missing (a domain).

        Returns
        -------
        pandas.DataFrame indexed by p (and the groups): estimate (, se,
        ci_low, ci_high).

        Notes
        -----
        See :mod:`ramlab.design._quantile`. The SE is derived from the
        interval as R does: (ci_high - ci_low) / (2 t(df)). On a replicate
        design the CDF's variance comes from the replicates.

        Examples
        --------
        >>> import pandas as pd
        >>> from ramlab import Design
        >>> df = pd.DataFrame({"taille": pd.Categorical(["petite"] * 3 + ["grande"] * 3),
        ...                    "x": [1.0, 2.0, 3.0, 5.0, 6.0, 7.0],
        ...                    "y": [2.0, 3.0, 5.0, 9.0, 13.0, 14.0],
        ...                    "w": [10.0, 10.0, 10.0, 20.0, 20.0, 20.0]})
        >>> d = Design(df, weights="w")
        >>> float(d.quantile("x", 0.5).loc[0.5, "estimate"])  # weighted median
        5.0
        """
        return quantile(self, var, probs, ci=ci, by=by, interval_type=interval_type, qrule=qrule,
                        level=level, na_rm=na_rm)

    @staticmethod
    def contrast(estimates, contrast):
        """Linear or nonlinear contrast of estimates with their covariance (R ``svycontrast``).

        Parameters
        ----------
        estimates : (DataFrame, DataFrame)
            Estimates and their joint covariance, e.g. ``d.mean(["a", "b"], cov=True)``.
        contrast : dict, array-like, str, or dict of those
            ``{"a": 1, "b": -1}`` or ``[1, -1]``: linear; ``"a / b"`` or
            ``"log(a) - log(b)"``: nonlinear, by the delta method (numbers,
            names, + - * / ** and log, exp, sqrt, log10, log2, sin, cos, tan,
            asin); ``{"diff": {...}, "ratio": "a / b"}``: several at once,
            with their joint covariance.

        Returns
        -------
        (DataFrame with estimate and se, covariance DataFrame)

        Examples
        --------
        Two proportions compared. Code each answer as a 0/1 column (NaN where
        the answer is unknown). Two questions put to the same respondents are
        not independent: their difference takes the covariance of the two
        means.

        >>> import pandas as pd
        >>> from ramlab import Design
        >>> df = pd.DataFrame({"a": [1, 0, 1, 1, 0, 1.0], "b": [1, 0, 0, 1, 0, 0.0],
        ...                    "w": [1, 2, 1, 2, 1, 2.0]})
        >>> d = Design(df, weights="w")
        >>> diff, cov = d.contrast(d.mean(["a", "b"], cov=True), {"a": 1, "b": -1})
        >>> diff.round(6)
                  estimate        se
        contrast  0.333333  0.222222

        The same share in two groups of respondents is the difference that
        :meth:`ttest` tests (R ``svyttest(a ~ group)``): ``d.ttest("a", "group")``.
        """
        return contrast_of(estimates, contrast)

    # ---------------------------------------------------------------- ciprop
    def ciprop(self, x, *, method="logit", level=0.95, category=None):
        """Confidence interval of a proportion (R ``svyciprop``).

        Parameters
        ----------
        x : str or boolean Series / array
            A column (categorical with `category`, or boolean or 0/1) or a
            boolean / 0-1 Series aligned on the data. Missing values (NaN)
            are left out (as a domain).
        category : str, optional
            For a categorical column: the answer whose share is estimated,
            among the rows where the answer is known:
            ``d.ciprop("q8_1", category="Oui")``. Do not write
            ``d.ciprop(d.data["q8_1"] == "Oui")`` on a column with missing
            answers: the comparison turns them into False, counted as "no"
            (ramlab warns when the Series is named after such a column).
        method : {"logit", "likelihood", "beta", "xlogit", "mean", "asin", "wilson"}
            R ``svyciprop`` methods, plus "wilson":

            - "logit": Wald interval for the intercept of a quasi-binomial
              ``svyglm``, back-transformed (equal to "xlogit");
            - "likelihood": profile (Rao-Scott scaled) likelihood interval of
              that model, on R's grid and spline (agreement ~1e-11). Linearised
              designs only: on a replicate design R answers NA (a
              replicate-weight svyglm has no model-based covariance) and
              ramlab raises DesignError;
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
        When every answer is no (p = 0) or yes (p = 1) there is no variance:
        "logit" and "mean" follow their formulas (R: bounds equal to the
        estimate), "beta", "xlogit" and "asin" give NaN bounds (as R),
        "wilson" its closed form ``[0, z^2 / (n + z^2)]`` with n the
        respondents, and "likelihood" raises :class:`~ramlab.errors.DesignError`
        (R errors). When p rounds to 1 while some answers are no (their
        weights are tiny), n_eff = 0: "beta" and "wilson" give (0, 1), as R's
        beta. Negative weights (an unbounded linear calibration) count
        as in R; "logit" and "likelihood" refuse them (WeightError), as R's
        ``svyglm`` does.

        Examples
        --------
        >>> import pandas as pd
        >>> from ramlab import Design
        >>> df = pd.DataFrame({"q": pd.Categorical(["Oui", "Non", "Oui", None])})
        >>> round(float(Design(df).ciprop("q", category="Oui")["estimate"]), 3)  # 2 of 3 answers
        0.667
        """
        return ciprop(self, x, method=method, level=level, category=category)

    # ----------------------------------------------------------------- chisq
    def chisq(self, row, col, *, statistic="F"):
        """Test of independence of two categorical variables (R ``svychisq``).

        Parameters
        ----------
        row, col : str or pandas.Series
            Columns, or one value per row with the data's index (named by the
            Series' name), e.g. ``design.data["q1"] == "Oui"``: R's
            ``svychisq`` of a variable added with ``update()``. Rows with a
            missing value in either are left out.
        statistic : {"F", "Chisq", "Wald", "adjWald", "saddlepoint"}
            "F": Rao-Scott second-order correction, Pearson X^2 / tr(Delta)
            on F(d0, d0 * nu) with d0 = tr(Delta)^2 / tr(Delta^2);
            "Chisq": Pearson X^2 with the first-order correction, p-value of
            X^2 / mean(eigenvalues) on chi^2((r-1)(c-1)); "Wald": design-based
            Wald statistic / ((r-1)(c-1)) on F((r-1)(c-1), nu); "adjWald":
            the same scaled by (nu - ndf + 1) / nu on F(ndf, nu - ndf + 1);
            "saddlepoint": Pearson X^2 with the saddlepoint p-value of
            sum_i lambda_i chi^2_1 (the eigenvalues of Delta) against
            chi^2_{d0 nu} / (d0 nu) (R ``pFsum``; ``pchisqsum`` on a
            replicate design).
            nu = number of PSUs minus number of strata of the design.

        Returns
        -------
        ChisqResult with statistic, df ((ndf, ddf), or (r-1)(c-1) for
        "Chisq" and "saddlepoint"), p_value and method. All NaN when either
        variable has fewer than two categories with a nonzero weight
        (nothing to test).

        Raises
        ------
        WeightError
            A cell of the weighted table is negative (negative weights of an
            unbounded linear calibration): R's ``svychisq`` stops in
            ``chisq.test``. Negative weights otherwise count, as in R.

        References
        ----------
        R survey ``svychisq.survey.design``; Rao & Scott (1984), Ann. Stat.
        12, 46-60; Koch, Freeman & Freeman (1975).

        Examples
        --------
        >>> import pandas as pd
        >>> from ramlab import Design
        >>> df = pd.DataFrame({"taille": pd.Categorical(["petite"] * 3 + ["grande"] * 3),
        ...                    "x": [1.0, 2.0, 3.0, 5.0, 6.0, 7.0],
        ...                    "y": [2.0, 3.0, 5.0, 9.0, 13.0, 14.0],
        ...                    "w": [10.0, 10.0, 10.0, 20.0, 20.0, 20.0]})
        >>> d = Design(df, weights="w")
        >>> d2 = Design(df.assign(haut=pd.Categorical(["non", "oui", "non", "oui", "oui", "non"])),
        ...             weights="w")
        >>> r = d2.chisq("taille", "haut")
        >>> round(r.statistic, 4), r.df, round(r.p_value, 4)
        (0.5625, (1.0, 5.0), 0.487)
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
        return self._apply(result, None)

    def _apply(self, result, step):
        calibrations = self._calibrations
        if result.calibration is not None:
            calibrations = calibrations + (result.calibration,)
        return self._derive(weights=result.weights, calibrations=calibrations, step=step)

    def _weighting_step(self, name, function, **options):
        """Apply ``function(self, **options)``, remembering the step (for :meth:`Design.replicate`)."""
        return self._apply(function(self, **options), (name, options))

    def rake(self, margins, *, tol=1e-10, max_iter=100, cap=None, population=None):
        """Rake the weights to population margins; see :func:`ramlab.weighting.rake_weights`.

        Returns a new design that remembers the raking, so that its standard
        errors account for it (R ``rake`` / ``calibrate(calfun = "raking")``).

        Examples
        --------
        >>> import pandas as pd
        >>> from ramlab import Design
        >>> df = pd.DataFrame({"taille": pd.Categorical(["petite"] * 3 + ["grande"] * 3),
        ...                    "x": [1.0, 2.0, 3.0, 5.0, 6.0, 7.0],
        ...                    "y": [2.0, 3.0, 5.0, 9.0, 13.0, 14.0],
        ...                    "w": [10.0, 10.0, 10.0, 20.0, 20.0, 20.0]})
        >>> d = Design(df, weights="w")
        >>> raked = d.rake({"taille": {"petite": 50, "grande": 50}})
        >>> raked.weights.round(4).tolist()
        [16.6667, 16.6667, 16.6667, 16.6667, 16.6667, 16.6667]
        >>> round(float(raked.total("x")["estimate"].iloc[0]), 6)
        400.0
        """
        from ramlab.weighting import rake_weights

        return self._weighting_step("rake", rake_weights, margins=margins, tol=tol, max_iter=max_iter,
                                    cap=cap, population=population)

    def calibrate(self, totals, *, method="linear", bounds=None, population=None, tol=1e-12, max_iter=100):
        """Calibrate the weights; see :func:`ramlab.weighting.calibrate_weights`.

        Examples
        --------
        >>> import pandas as pd
        >>> from ramlab import Design
        >>> df = pd.DataFrame({"taille": pd.Categorical(["petite"] * 3 + ["grande"] * 3),
        ...                    "x": [1.0, 2.0, 3.0, 5.0, 6.0, 7.0],
        ...                    "y": [2.0, 3.0, 5.0, 9.0, 13.0, 14.0],
        ...                    "w": [10.0, 10.0, 10.0, 20.0, 20.0, 20.0]})
        >>> d = Design(df, weights="w")
        >>> d.calibrate({"taille": {"petite": 50.0, "grande": 50.0}}).weights.round(3).tolist()
        [16.667, 16.667, 16.667, 16.667, 16.667, 16.667]
        """
        from ramlab.weighting import calibrate_weights

        return self._weighting_step("calibrate", calibrate_weights, totals=totals, method=method,
                                    bounds=bounds, population=population, tol=tol, max_iter=max_iter)

    def poststratify(self, columns, totals, *, partial=False):
        """Post-stratify the weights; see :func:`ramlab.weighting.poststratify_weights`.

        Examples
        --------
        >>> import pandas as pd
        >>> from ramlab import Design
        >>> df = pd.DataFrame({"taille": pd.Categorical(["petite"] * 3 + ["grande"] * 3),
        ...                    "x": [1.0, 2.0, 3.0, 5.0, 6.0, 7.0],
        ...                    "y": [2.0, 3.0, 5.0, 9.0, 13.0, 14.0],
        ...                    "w": [10.0, 10.0, 10.0, 20.0, 20.0, 20.0]})
        >>> d = Design(df, weights="w")
        >>> d.poststratify(["taille"], {"petite": 50.0, "grande": 50.0}).weights.round(3).tolist()
        [16.667, 16.667, 16.667, 16.667, 16.667, 16.667]
        """
        from ramlab.weighting import poststratify_weights

        return self._weighting_step("poststratify", poststratify_weights, columns=columns,
                                    totals=totals, partial=partial)

    def trim(self, lower=None, upper=None, strict=False):
        """Trim the weights (R ``trimWeights``); see :func:`ramlab.weighting.trim_weights`.

        Examples
        --------
        >>> import pandas as pd
        >>> from ramlab import Design
        >>> df = pd.DataFrame({"taille": pd.Categorical(["petite"] * 3 + ["grande"] * 3),
        ...                    "x": [1.0, 2.0, 3.0, 5.0, 6.0, 7.0],
        ...                    "y": [2.0, 3.0, 5.0, 9.0, 13.0, 14.0],
        ...                    "w": [10.0, 10.0, 10.0, 20.0, 20.0, 20.0]})
        >>> d = Design(df, weights="w")
        >>> d.trim(upper=15).weights.round(3).tolist()  # the excess is spread over the others
        [15.0, 15.0, 15.0, 15.0, 15.0, 15.0]
        """
        from ramlab.weighting import trim_weights

        return self._weighting_step("trim", trim_weights, lower=lower, upper=upper, strict=strict)

    # ---------------------------------------------------------------- models
    def olr(self, formula):
        """Design-based proportional-odds model (R ``svyolr``); see :func:`ramlab.models.olr`.

        Examples
        --------
        >>> import pandas as pd
        >>> from ramlab import Design
        >>> df = pd.DataFrame({"avis": pd.Categorical(
        ...     ["bas", "moyen", "haut", "bas", "haut", "moyen", "haut", "bas"],
        ...     categories=["bas", "moyen", "haut"], ordered=True),
        ...     "x": [1.0, 2.0, 3.0, 1.5, 2.5, 3.5, 4.0, 2.0]})
        >>> Design(df).olr("avis ~ x").params.round(3)
        x             2.279
        bas|moyen     4.559
        moyen|haut    6.587
        Name: estimate, dtype: float64
        """
        from ramlab.models import olr

        return olr(self, formula)

    def ttest(self, var, group, *, level=0.95):
        """Difference of the means of `var` between the two groups of `group` (R ``svyttest``).

        Parameters
        ----------
        var : str
            A numeric column (for a share, a 0/1 column with NaN where the
            answer is unknown).
        group : str
            A categorical column with exactly two groups with respondents.
        level : float
            Level of the interval of the difference.

        Returns
        -------
        TTest
            ``estimate`` (second group minus first), ``se``, ``statistic``
            (t), ``df`` (design df - 1, R's), ``p_value``, ``ci_low``,
            ``ci_high`` and ``groups``.

        Notes
        -----
        R ``svyttest(var ~ group, design)``: the coefficient of ``svyglm(var
        ~ group)``. Two proportions of two groups, or of two questions on the
        same respondents, are a :meth:`contrast` of :meth:`mean` estimates.

        Examples
        --------
        >>> import pandas as pd
        >>> from ramlab import Design
        >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 5.0, 6.0, 7.0],
        ...                    "g": pd.Categorical(["a", "a", "a", "b", "b", "b"])})
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # 3 rows per group: "fragile"
        ...     t = Design(df).ttest("x", "g")
        >>> round(t.estimate, 9), t.groups, t.df  # mean of b minus mean of a; design df - 1
        (4.0, ('a', 'b'), 4.0)
        """
        return ttest(self, var, group, level=level)

    def glm(self, formula, *, family="gaussian"):
        """Design-based generalised linear model (R ``svyglm``).

        Examples
        --------
        >>> import pandas as pd
        >>> from ramlab import Design
        >>> df = pd.DataFrame({"taille": pd.Categorical(["petite"] * 3 + ["grande"] * 3),
        ...                    "x": [1.0, 2.0, 3.0, 5.0, 6.0, 7.0],
        ...                    "y": [2.0, 3.0, 5.0, 9.0, 13.0, 14.0],
        ...                    "w": [10.0, 10.0, 10.0, 20.0, 20.0, 20.0]})
        >>> d = Design(df, weights="w")
        >>> d.glm("y ~ x").params.round(4)
        Intercept   -1.0000
        x            2.1667
        Name: estimate, dtype: float64
        """
        from ramlab.models import glm

        return glm(self, formula, family=family)
