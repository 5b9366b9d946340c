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

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ramlab.errors import WeightError
from ramlab.variance import LONELY_PSU_OPTIONS, Stage, multistage_vcov, row_psu_scale

__all__ = ["Design", "ChisqResult", "DomainPlan", "chisq_from_totals"]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _as_list(x):
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _column(data, name, role):
    if name not in data.columns:
        raise KeyError(f"{role} column {name!r} is not in the data")
    return data[name]


def _factor(series):
    """Codes (int64, -1 = missing) and labels of a column, in R factor order.

    Categorical columns keep their category order; other columns are sorted
    (R ``factor()``).
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy().astype(np.int64), np.asarray(series.cat.categories)
    codes, uniques = pd.factorize(series, sort=True)
    return codes.astype(np.int64), np.asarray(uniques)


def _combine(a, b):
    """Dense codes of the interaction of two code arrays (both >= 0)."""
    comb = a.astype(np.int64) * (int(b.max()) + 1 if b.size else 1) + b
    codes, _ = pd.factorize(comb)
    return codes.astype(np.int64)


def _count_distinct(codes):
    """Number of distinct values of non-negative integer codes (linear time)."""
    if codes.size == 0:
        return 0
    return int(np.count_nonzero(np.bincount(codes)))


def _check_weights(w, name):
    if w.size and not (w.min() >= 0):
        bad = np.isnan(w)
        if bad.any():
            raise WeightError(
                f"weight {name!r} has {int(bad.sum())} missing values", variable=name
            )
        raise WeightError(
            f"weight {name!r} has negative values (min {w.min()!r})", variable=name
        )
    if w.size and not np.isfinite(w).all():
        raise WeightError(f"weight {name!r} has infinite values", variable=name)
    if w.size and not w.any():
        raise WeightError(
            f"weight {name!r} is zero for every respondent ({w.size} rows): no estimate "
            "can be made", variable=name,
        )
    # Totals, variances and Kish's design effect sum weights and their squares:
    # both must stay within float64 (about 1.8e308).
    with np.errstate(over="ignore"):
        overflow = w.size and not (np.isfinite(w.sum()) and np.isfinite(np.dot(w, w)))
    if overflow:
        raise WeightError(
            f"weight {name!r} is too large to compute with: its largest value "
            f"{w.max()!r} makes weighted sums overflow float64", variable=name,
        )


# --------------------------------------------------------------------------
# sampling structure (shared, immutable, built lazily)
# --------------------------------------------------------------------------


class _Structure:
    """Stages of a design (R ``cluster``, ``strata``, ``fpc``), built on demand."""

    def __init__(self, data, ids, strata, fpc):
        self.data = data
        self.n = len(data)
        self.ids = ids
        self.strata_col = strata
        self.fpc = fpc

    @cached_property
    def stages(self):
        data, n = self.data, self.n
        ids = self.ids or [None]
        nstage = len(ids)
        if self.strata_col is not None:
            s_codes, s_labels = _factor(_column(data, self.strata_col, "strata"))
            if (s_codes < 0).any():
                raise ValueError(f"strata column {self.strata_col!r} has missing values")
        else:
            s_codes, s_labels = np.zeros(n, dtype=np.int64), np.array(["1"], dtype=object)
        fpcs = self.fpc
        if fpcs and len(fpcs) > nstage:
            raise ValueError("more fpc columns than sampling stages")
        stages = []
        prev_cluster = None
        strata = s_codes
        strata_labels = s_labels
        fpc_values = [
            _column(data, f, "fpc").to_numpy(dtype=float, na_value=np.nan) for f in fpcs
        ] if fpcs else []
        if fpc_values:
            allv = np.concatenate(fpc_values)
            if np.isnan(allv).any():
                raise WeightError("fpc has missing values", variable=fpcs[0])
            is_pop = bool(np.any(allv > 1))
            if is_pop and not np.all(allv >= 1):
                raise WeightError(
                    "fpc must be all population sizes (>= 1) or all fractions (<= 1)",
                    variable=fpcs[0],
                )
        else:
            is_pop = True
        for s, col in enumerate(ids):
            if col is None:
                cl = np.arange(n, dtype=np.int64)
            else:
                cl, _ = _factor(_column(data, col, "ids"))
                if (cl < 0).any():
                    raise ValueError(f"ids column {col!r} has missing values")
            if s == 0:
                # Nest first-stage units in strata (R nest=TRUE; with
                # check.strata R refuses non-nested ids instead).
                if self.strata_col is not None and col is not None:
                    cl = _combine(strata, cl)
            else:
                cl = _combine(prev_cluster, cl)
                # Strata of later stages: the parent unit (R svydesign).
                strata = prev_cluster
                strata_labels = None
            # Sampled units per stratum (R as.fpc sampsize). Units are nested
            # in their strata (codes dense), so one row per unit gives its
            # stratum.
            cl = pd.factorize(cl)[0].astype(np.int64) if cl.size else cl
            unit_stratum = np.empty(int(cl.max()) + 1 if cl.size else 0, dtype=np.int64)
            unit_stratum[cl] = strata
            npsu_per_stratum = np.bincount(unit_stratum, minlength=int(strata.max()) + 1 if strata.size else 0)
            npsu = npsu_per_stratum[strata].astype(float)
            popsize = None
            if s < len(fpc_values):
                v = fpc_values[s]
                popsize = v.copy() if is_pop else npsu / v
                if np.any(popsize < npsu):
                    raise WeightError(
                        f"fpc implies more than 100% sampling at stage {s + 1}",
                        variable=fpcs[s],
                    )
            if strata_labels is None:
                # later-stage strata are the parent units: "<stratum>.<parent id>"
                first = np.unique(strata, return_index=True)[1]
                prev = stages[-1]
                parent_ids = (
                    _column(data, ids[s - 1], "ids").to_numpy()[first]
                    if ids[s - 1] is not None else first
                )
                lab = np.empty(int(strata.max()) + 1, dtype=object)
                lab[strata[first]] = [
                    f"{prev.strata_labels[prev.strata[r]]}.{pid}" for r, pid in zip(first, parent_ids)
                ]
                strata_labels = lab
            stages.append(Stage(cl, strata, npsu, popsize, strata_labels))
            prev_cluster = cl
        return tuple(stages)

    @cached_property
    def row_psu_scale(self):
        """:func:`ramlab.variance.row_psu_scale` of the stages (or None)."""
        return row_psu_scale(self.stages)

    def fpc_weights(self):
        """Weights implied by the fpc: product over stages of N_s / n_s."""
        w = np.ones(self.n)
        stages = self.stages
        if len(self.fpc) != len(stages):
            raise WeightError(
                "weights cannot be computed from fpc: give one fpc per stage",
                variable=self.fpc[0],
            )
        for st in stages:
            w = w * (st.popsize / st.npsu)
        return w


# --------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChisqResult:
    """Result of :meth:`Design.chisq` (R ``svychisq``).

    Attributes
    ----------
    statistic : float
        F statistic ("F", "Wald", "adjWald") or Pearson X^2 ("Chisq").
    df : float or tuple of float
        (ndf, ddf) for F statistics; the chi-squared df for "Chisq".
    p_value : float
    method : str
    """

    statistic: float
    df: object
    p_value: float
    method: str


# --------------------------------------------------------------------------
# the design
# --------------------------------------------------------------------------


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
        ids = _as_list(ids)
        fpc = _as_list(fpc)
        structure = _Structure(data, ids, strata, fpc)
        n = len(data)
        if weights is not None:
            w = _column(data, weights, "weights").to_numpy(dtype=np.float64, na_value=np.nan)
            _check_weights(w, weights)
            wname = weights
        elif fpc:
            w = structure.fpc_weights()
            _check_weights(w, fpc[0])
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

    def _derive(self, *, weights=None, present=..., calibrations=None):
        new = object.__new__(Design)
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

    def _rows(self):
        """Indices of the rows R's design object would hold (None = all)."""
        if self._present is None:
            return None
        return np.flatnonzero(self._present)

    def _n_rows_r(self):
        return self.n if self._present is None else int(self._present.sum())

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
        return DomainPlan(self, domains)

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
            if plan.design is not self:
                raise ValueError("the domain plan was made for another design")
            return plan.total_vcov(u)
        u = np.asarray(u, dtype=float)
        one = u.ndim == 1
        if one:
            u = u[:, None]
        if u.shape[0] != self.n:
            raise ValueError(f"u must have {self.n} rows, not {u.shape[0]}")
        w = self._w
        x = u * w[:, None]
        x[w == 0] = 0.0
        for cal in self._calibrations:
            x = _residualise(cal, x)
        rows = self._rows()
        if rows is not None:
            x = x[rows]
        return multistage_vcov(x, self._structure.stages, lonely_psu=self._lonely_psu, rows=rows)

    def degf(self):
        """Design degrees of freedom: PSUs minus strata with nonzero weight.

        Reference: R survey ``degf.survey.design2``.
        """
        st = self._structure.stages[0]
        inset = self._w != 0
        return _count_distinct(st.cluster[inset]) - _count_distinct(st.strata[inset])

    def _design_df_r(self):
        """R's ``nu`` in svychisq: PSUs minus strata among R's rows."""
        st = self._structure.stages[0]
        rows = self._rows()
        cl = st.cluster if rows is None else st.cluster[rows]
        sr = st.strata if rows is None else st.strata[rows]
        return _count_distinct(cl) - _count_distinct(sr)

    # -------------------------------------------------------------- estimators
    def _variable(self, var):
        """Matrix of a variable: numeric (n, 1) or category indicators (n, K).

        Returns (Y, labels, missing, categorical).
        """
        s = _column(self._data, var, "variable")
        if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == bool or s.dtype == object \
                or pd.api.types.is_string_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            codes, labels = _factor(s)
            missing = codes < 0
            K = len(labels)
            Y = np.zeros((self.n, K))
            ok = ~missing
            Y[np.flatnonzero(ok), codes[ok]] = 1.0
            return Y, list(labels), missing, True
        y = s.to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(y)
        return y[:, None], [var], missing, False

    def _groups(self, by):
        """Group codes (-1 = missing), labels and the groups with weight.

        ``by`` is a column or a list of columns (their cross-classification,
        labels are tuples), as R ``svyby(~a + b)``.
        """
        cols = _as_list(by)
        pos = self._w > 0
        if len(cols) == 1:
            codes, labels = _factor(_column(self._data, cols[0], "by"))
        else:
            parts = [_factor(_column(self._data, c, "by")) for c in cols]
            codes = np.zeros(self.n, dtype=np.int64)
            missing = np.zeros(self.n, dtype=bool)
            for c, lab in parts:
                missing |= c < 0
                codes = codes * len(lab) + np.where(c < 0, 0, c)
            codes = np.where(missing, -1, codes)
            labels = np.empty(int(np.prod([len(lab) for _, lab in parts])), dtype=object)
            for i in range(labels.size):
                key, rest = [], i
                for _, lab in reversed(parts):
                    key.append(lab[rest % len(lab)])
                    rest //= len(lab)
                labels[i] = tuple(reversed(key))
        present = np.unique(codes[pos & (codes >= 0)])
        return codes, labels, present

    def _estimate(self, var, *, kind, by, deff, na_rm):
        Y, labels, missing, categorical = self._variable(var)
        if by is None:
            res = self._estimate_domain(Y, missing, kind=kind, deff=deff, na_rm=na_rm)
            index = pd.Index(labels, name=var if categorical else None)
            return pd.DataFrame(res, index=index)
        codes, glabels, present = self._groups(by)
        frames = []
        keys = []
        for g in present:
            d = self.subset(codes == g)
            res = d._estimate_domain(Y, missing, kind=kind, deff=deff, na_rm=na_rm)
            frames.append(pd.DataFrame(res, index=pd.Index(labels)))
            keys.append(glabels[g])
        if not frames:
            raise ValueError(f"no group of {by!r} has a positive weight")
        names = _as_list(by)
        if len(names) == 1:
            gindex = pd.Index(keys, name=names[0])
        else:
            gindex = pd.MultiIndex.from_tuples(keys, names=names)
        if categorical:
            out = pd.concat(frames, keys=list(gindex), names=names + [var])
        else:
            out = pd.concat(frames)
            out.index = gindex
        return out

    def _estimate_domain(self, Y, missing, *, kind, deff, na_rm):
        d = self
        if na_rm and missing.any():
            d = self.subset(~missing)
        w = d._w
        pos = w > 0
        Y = np.where(missing[:, None] & ~pos[:, None], 0.0, Y)
        has_na = bool((missing & pos).any())
        k = Y.shape[1]
        if has_na:
            nan = np.full(k, np.nan)
            res = {"estimate": nan, "se": nan}
            if deff:
                res["deff"] = nan
            return res
        psum = w.sum()
        totals = w @ Y
        ybar = totals / psum
        if kind == "mean":
            U = np.where(pos[:, None], (Y - ybar) / psum, 0.0)
            est = ybar
        else:
            U = np.where(pos[:, None], Y, 0.0)
            est = totals
        V = d.total_vcov(U)
        se = np.sqrt(np.diag(V))
        res = {"estimate": est, "se": se}
        if deff:
            nobs = int(pos.sum())
            # R svyvar: weighted variance with n / (n - 1), n = nonzero weights
            with np.errstate(divide="ignore", invalid="ignore"):
                var_y = (w @ ((Y - ybar) ** 2)) / psum * nobs / (nobs - 1)
                vsrs = var_y * (psum - nobs) / (psum * nobs)
            if kind == "total":
                vsrs = vsrs * psum**2
            if psum < nobs:
                vsrs = np.full(k, np.nan)
            with np.errstate(divide="ignore", invalid="ignore"):
                res["deff"] = np.diag(V) / vsrs
        return res

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
        return self._estimate(var, kind="mean", by=by, deff=deff, na_rm=na_rm)

    def total(self, var, *, by=None, deff=False, na_rm=False):
        """Weighted total (counts for a categorical variable) and its SE.

        Same parameters as :meth:`mean`. Reference: R survey
        ``svytotal.survey.design2``.
        """
        return self._estimate(var, kind="total", by=by, deff=deff, na_rm=na_rm)

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
        return _ciprop(self, x, method=method, level=level)

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
        return _chisq(self, row, col, statistic=statistic)

    # ------------------------------------------------------------- weighting
    def rake(self, margins, *, tol=1e-10, max_iter=100, cap=None, population=None):
        """Rake the weights to population margins; see :func:`ramlab.weighting.rake`."""
        from ramlab.weighting import rake

        return rake(self, margins, tol=tol, max_iter=max_iter, cap=cap, population=population)

    def calibrate(self, totals, *, method="linear", bounds=None, population=None, tol=1e-12, max_iter=100):
        """Calibrate the weights; see :func:`ramlab.weighting.calibrate`."""
        from ramlab.weighting import calibrate

        return calibrate(self, totals, method=method, bounds=bounds, population=population,
                         tol=tol, max_iter=max_iter)

    def poststratify(self, columns, totals):
        """Post-stratify the weights; see :func:`ramlab.weighting.poststratify`."""
        from ramlab.weighting import poststratify

        return poststratify(self, columns, totals)

    def trim(self, lower=None, upper=None, strict=False):
        """Trim the weights (R ``trimWeights``); see :func:`ramlab.weighting.trim`."""
        from ramlab.weighting import trim

        return trim(self, lower=lower, upper=upper, strict=strict)

    # ---------------------------------------------------------------- models
    def glm(self, formula, *, family="gaussian"):
        """Design-based generalised linear model (R ``svyglm``)."""
        from ramlab.models import glm

        return glm(self, formula, family=family)


# --------------------------------------------------------------------------
# svyciprop
# --------------------------------------------------------------------------

CIPROP_METHODS = ("logit", "likelihood", "beta", "xlogit", "mean", "asin", "wilson")


def _cell_indicators(model):
    """Dense (ncell, kc) indicator matrix of a calibration model's cells."""
    cells = model.cells
    ind = np.zeros((cells.ncell, cells.kc + 1))
    rows = np.arange(cells.ncell)
    for t in range(cells.cols.shape[1]):
        ind[rows, cells.cols[:, t]] += 1.0  # one column per row and term
    return ind[:, : cells.kc]


def _group_rows(A, codes, size):
    """Row sums of ``A`` (m, q) grouped by ``codes`` (0..size-1)."""
    if size == 1:
        return A.sum(axis=0, keepdims=True)
    if size * A.shape[0] <= 4_000_000:
        onehot = np.zeros((size, A.shape[0]))
        onehot[codes, np.arange(A.shape[0])] = 1.0
        return onehot @ A
    out = np.zeros((size, A.shape[1]))
    np.add.at(out, codes, A)
    return out


def _categorical_model(cal):
    m = cal.model
    return m.Z is None and m.cells is not None and m.cell is not None


def _residualise(cal, x):
    """``cal.residualise(x)`` (R svyrecvar's calibration step), vectorised.

    For a purely categorical model the fitted values are computed per cell
    and gathered once (no per-column loop); otherwise the record's own
    method is used.
    """
    if not _categorical_model(cal):
        return cal.residualise(x)
    from ramlab.weighting._weighting import _pinv_sym

    m = cal.model
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(cal.w_new > 0, cal.w_old / cal.w_new, 0.0)
    k = x.shape[1]
    ncell = m.cells.ncell
    r = x * ratio[:, None]
    if k == 1:
        cs = np.bincount(m.cell, weights=r[:, 0], minlength=ncell)[:, None]
    else:
        cs = np.empty((ncell, k))
        for j in range(k):
            cs[:, j] = np.bincount(m.cell, weights=r[:, j], minlength=ncell)
    ind = _cell_indicators(m)
    beta = _pinv_sym(cal.gram) @ (ind.T @ cs)
    fitted = (ind @ beta)[m.cell]
    fitted *= cal.w_new[:, None]
    return x - fitted


def _dense_codes(codes):
    """Dense codes 0..J-1 (order of first value kept sorted) and a row per code."""
    n = codes.shape[0]
    K = int(codes.max()) + 1 if n else 0
    if K <= 4 * n + 16:
        counts = np.bincount(codes, minlength=K)
        present = counts > 0
        lut = np.cumsum(present) - 1
        dense = lut[codes]
        rep = np.empty(int(present.sum()), dtype=np.int64)
        rep[dense] = np.arange(n)
        return dense, rep
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    return inverse.ravel().astype(np.int64), first


class DomainPlan:
    """Factored form of influence values crossed with domains (see
    :meth:`Design.domain_plan`). Immutable once built; holds no data of
    any particular ``u``.

    Notes
    -----
    With ``x_i = w_i u_i`` and ``a_i = table[g_i] (x) x_i``, calibration
    residuals are ``r_i = a_i - sum_l F_li B_l`` with ``F_l = w_new X_l``
    and ``B_l = G_l^- (Z_l' r^{(l-1)})``, ``Z_l = (w_old / w_new) X_l``
    (R ``svyrecvar`` with ``greg_calibration``), and the covariance is
    ``sum_h c_h (sum_{i in h} r_i r_i' - s_h s_h' / n_h)``
    (:func:`ramlab.variance.row_psu_scale`). Every sum over rows splits
    over the cells of (stratum, domain pattern, calibration cells), in
    which only ``x_i`` varies: per cell, the sums of ``x_i``, of
    ``(w_old / w_new) x_i``, of ``c w_new x_i`` and of ``x_i x_i'``
    suffice. Designs without this form use the dense path.
    """

    _MAX_CELLS = 20000

    def __init__(self, design, domains):
        self.design = design
        n = design.n
        if isinstance(domains, tuple):
            codes, table = domains
            codes = np.asarray(codes, dtype=np.int64)
            table = np.asarray(table, dtype=float)
            if table.ndim != 2 or codes.shape != (n,):
                raise ValueError("domains must be (codes (n,), table (G, C))")
        else:
            M = np.asarray(domains)
            if M.ndim != 2 or M.shape[0] != n:
                raise ValueError(f"domains must have {n} rows")
            C = M.shape[1]
            if n and C <= 62 and M.dtype == bool:
                # the pattern of each row as bits, one column at a time
                bits = np.zeros(n, dtype=np.int64)
                for c in range(C):
                    bits |= M[:, c].astype(np.int64) << c
                codes, rep = _dense_codes(bits)
                table = M[rep].astype(float)
            elif n and C <= 62 and np.all((M == 0) | (M == 1)):
                M = M.astype(float)
                bits = M.astype(np.int64) @ (np.int64(1) << np.arange(C, dtype=np.int64))
                codes, rep = _dense_codes(bits)
                table = M[rep]
            else:
                table, codes = np.unique(M.astype(float), axis=0, return_inverse=True)
                codes = codes.ravel().astype(np.int64)
        self.codes = codes
        self.table = table
        self.C = table.shape[1]
        self._fact = self._factor()

    def _factor(self):
        d = self.design
        n = d.n
        if n == 0:
            return None
        rs = d._structure.row_psu_scale
        if rs is None:
            return None
        if not all(_categorical_model(cal) for cal in d._calibrations):
            return None
        c, strata, n_h = rs
        w = d._w
        # joint cell code: stratum x domain pattern x calibration cells
        joint = None
        span = 1
        parts = [strata, self.codes] + [cal.model.cell for cal in d._calibrations]
        sizes = [int(strata.max()) + 1, self.table.shape[0]] + \
            [cal.model.cells.ncell for cal in d._calibrations]
        for p, size in zip(parts, sizes):
            if size == 1:
                continue
            if joint is None:
                joint, span = p.astype(np.int64, copy=False), size
                continue
            if span * size > 4 * n + 16:
                joint, rep0 = _dense_codes(joint)
                span = rep0.shape[0]
            joint = joint * size + p
            span *= size
        if joint is None:
            joint = np.zeros(n, dtype=np.int64)
        jc, rep = _dense_codes(joint)
        J = rep.shape[0]
        if J > self._MAX_CELLS:
            return None
        from ramlab.weighting._weighting import _pinv_sym

        f = dict(jc=jc, J=J, c=c, w=w)
        cj = c[rep]
        h_raw = strata[rep]
        hcode, hrep = _dense_codes(h_raw)
        f["cj"] = cj
        f["hcode"] = hcode
        f["H"] = hrep.shape[0]
        f["ch"] = cj[hrep]
        f["nh"] = n_h[rep][hrep]
        f["D"] = self.table[self.codes[rep]]  # (J, C)
        cals = []
        for cal in d._calibrations:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(cal.w_new > 0, cal.w_old / cal.w_new, 0.0)
            ind = _cell_indicators(cal.model)
            cals.append(dict(ratio=ratio, cw=c * cal.w_new, w_new=cal.w_new,
                             I=ind[cal.model.cell[rep]], pinv=_pinv_sym(cal.gram)))
        L = len(cals)
        # design-level sums over the cells
        for a in range(L):
            A = cals[a]
            wsum = np.bincount(jc, weights=A["w_new"], minlength=J)
            A["Fsum"] = _group_rows(wsum[:, None] * A["I"], hcode, f["H"])  # (H, p_a): sum over stratum h of F_a
            A["FSF"] = []
            A["ZF"] = []
            for b in range(L):
                B = cals[b]
                cs = np.bincount(jc, weights=A["cw"] * B["w_new"], minlength=J)
                A["FSF"].append((A["I"] * cs[:, None]).T @ B["I"])  # F_a' S F_b
                zs = np.bincount(jc, weights=A["ratio"] * B["w_new"], minlength=J)
                A["ZF"].append((A["I"] * zs[:, None]).T @ B["I"])  # Z_a' F_b
        f["cals"] = cals
        f["order"] = None
        return f

    def _sorted(self):
        """Rows ordered by cell within chunks of rows (segments), built once.

        Sorting by (chunk, cell) rather than by cell keeps the gather of the
        rows of ``u`` local to a chunk (cache-friendly); the sums per cell
        add the segments of the cell.
        """
        f = self._fact
        if f["order"] is None:
            jc = f["jc"]
            J = f["J"]
            n = jc.shape[0]
            nchunk = max(1, min(n // 65536, 4096 // max(J, 1)))
            if nchunk > 1:
                size = -(-n // nchunk)
                key = (np.arange(n, dtype=np.int64) // size) * J + jc
            else:
                key = jc
            order = np.argsort(key, kind="stable")
            counts = np.bincount(key, minlength=nchunk * J)
            nz = np.flatnonzero(counts)
            starts = (np.cumsum(counts) - counts)[nz]
            f["seg_start"] = starts
            f["seg_end"] = starts + counts[nz]
            f["seg_cell"] = nz % J
            _, first_seg = np.unique(f["seg_cell"], return_index=True)
            first_row = starts[first_seg]  # a row of each cell, in sorted order
            cell_s = jc[order]

            def per_cell(v):
                """Sorted values, and the cell's value when constant in every cell."""
                vs = v[order]
                vc = vs[first_row]
                return vs, (vc if np.array_equal(vs, vc[cell_s]) else None)

            f["w_s"], f["w_cell"] = per_cell(f["w"])
            for A in f["cals"]:
                A["ratio_s"], A["ratio_cell"] = per_cell(A["ratio"])
                A["cw_s"], A["cw_cell"] = per_cell(A["cw"])
            f["order"] = order
        return f

    def total_vcov(self, u, *, totals=False):
        """Covariance of the C*k domain totals (see :meth:`Design.domain_plan`).

        With ``totals=True``, also the (C, k) totals themselves,
        ``sum_i w_i table[codes_i, c] u[i, j]`` (from the same cell sums).
        """
        d = self.design
        u = np.asarray(u, dtype=float)
        if u.ndim == 1:
            u = u[:, None]
        n, k = u.shape
        if n != d.n:
            raise ValueError(f"u must have {d.n} rows, not {n}")
        C = self.C
        f = self._fact
        if f is None:
            U = (u[:, None, :] * self.table[self.codes][:, :, None]).reshape(n, C * k)
            V = d.total_vcov(U)
            if not totals:
                return V
            x = u * d._w[:, None]
            x[d._w == 0] = 0.0
            return V, self._domain_sums(x)
        w = f["w"]
        J = f["J"]
        cals = f["cals"]

        def weighted(v, wv):
            out = v * wv[:, None]
            if not np.isfinite(out).all():
                out[wv == 0] = 0.0  # 0 * inf or nan outside the domain
            return out

        if k <= 1 or (k <= 3 and f["order"] is None):
            jc = f["jc"]
            x = weighted(u, w)

            def sums(weight):
                v = x if weight is None else x * weight[:, None]
                return np.column_stack([np.bincount(jc, weights=v[:, j], minlength=J)
                                        for j in range(k)])

            Q = np.empty((J, k, k))
            for a in range(k):
                for b in range(a, k):
                    Q[:, a, b] = Q[:, b, a] = np.bincount(jc, weights=x[:, a] * x[:, b], minlength=J)
            T0 = sums(None)
            Tr = [sums(A["ratio"]) for A in cals]
            Tf = [sums(A["cw"]) for A in cals]
        else:
            f = self._sorted()
            seg_start, seg_end, seg_cell = f["seg_start"], f["seg_end"], f["seg_cell"]
            wc = f["w_cell"]
            if wc is not None:
                # weights constant in each cell: sums of u, scaled per cell
                xs = np.take(u, f["order"], axis=0)
                zero = wc == 0
                wz = np.where(zero, 0.0, wc)
            else:
                xs = weighted(np.take(u, f["order"], axis=0), f["w_s"])
            Q = np.zeros((J, k, k))
            T0 = np.zeros((J, k))
            ones = np.ones(int((seg_end - seg_start).max()))
            for a, b, j in zip(seg_start.tolist(), seg_end.tolist(), seg_cell.tolist()):
                seg = xs[a:b]
                Q[j] += seg.T @ seg
                T0[j] += ones[:b - a] @ seg
            if wc is not None:
                T0 = np.where(zero[:, None], 0.0, T0 * wz[:, None])
            if wc is not None:
                Q = np.where(zero[:, None, None], 0.0, Q * (wz * wz)[:, None, None])

            def weighted_sums(vs, vc):
                if vc is not None:
                    return T0 * vc[:, None]
                xw = weighted(xs, f["w_s"]) if wc is not None else xs
                return _group_rows(np.add.reduceat(xw * vs[:, None], seg_start, axis=0), seg_cell, J)

            Tr = [weighted_sums(A["ratio_s"], A["ratio_cell"]) for A in cals]
            Tf = [weighted_sums(A["cw_s"], A["cw_cell"]) for A in cals]
        D = f["D"]
        CK = C * k
        # sum_j c_j (D_j D_j') (x) Q_j, as one matrix product
        E = ((D * f["cj"][:, None])[:, :, None, None] * Q[:, None, :, :]).reshape(J, -1)
        ASA = (E.T @ D).reshape(C, k, k, C).transpose(0, 1, 3, 2).reshape(CK, CK)

        def spread(T):  # (J, C*k): row j is D_j (x) T_j
            return (D[:, :, None] * T[:, None, :]).reshape(J, CK)

        Dx = spread(T0)
        SA = _group_rows(Dx, f["hcode"], f["H"])
        Bs = []
        for a, A in enumerate(cals):
            ZA = A["I"].T @ spread(Tr[a])
            for b in range(a):
                ZA = ZA - A["ZF"][b] @ Bs[b]
            Bs.append(A["pinv"] @ ZA)
        V = ASA
        s = SA
        for a, A in enumerate(cals):
            ASF = spread(Tf[a]).T @ A["I"]
            cross = ASF @ Bs[a]
            V = V - cross - cross.T
            for b in range(len(cals)):
                V = V + Bs[a].T @ A["FSF"][b] @ Bs[b]
            s = s - A["Fsum"] @ Bs[a]
        sw = s * np.sqrt(f["ch"] / f["nh"])[:, None]
        V = V - sw.T @ sw
        if totals:
            return V, D.T @ T0
        return V

    def _domain_sums(self, x):
        """(C, k) sums of the rows of ``x`` over each domain (dense path)."""
        P = self.table.shape[0]
        S = np.column_stack([np.bincount(self.codes, weights=x[:, j], minlength=P)
                             for j in range(x.shape[1])])
        return self.table.T @ S


def _indicator(design, x):
    if isinstance(x, str):
        s = _column(design.data, x, "variable")
        name = x
    elif isinstance(x, pd.Series):
        s = x if x.index.equals(design.data.index) else x.reindex(design.data.index)
        name = x.name if x.name is not None else "x"
    else:
        s = pd.Series(np.asarray(x), index=design.data.index)
        name = "x"
    if isinstance(s.dtype, pd.CategoricalDtype):
        raise TypeError(f"{name!r} is categorical: give a boolean, e.g. d.data[{name!r}] == 'Yes'")
    y = s.to_numpy(dtype=float, na_value=np.nan)
    return y, str(name)


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _ciprop(design, x, *, method, level):
    from scipy import stats

    if method not in CIPROP_METHODS:
        raise ValueError(f"method must be one of {CIPROP_METHODS}, not {method!r}")
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    y, name = _indicator(design, x)
    missing = np.isnan(y)
    d = design.subset(~missing) if (missing & (design._w > 0)).any() else design
    y0 = np.where(missing, 0.0, y)
    w = d._w
    pos = w > 0
    N = w.sum()
    p = float(w @ y0 / N)
    u = np.where(pos, (y0 - p) / N, 0.0)
    var = float(d.total_vcov(u)[0, 0])
    se = np.sqrt(var)
    df = d.degf()
    alpha = 1 - level
    qt = stats.t.ppf(1 - alpha / 2, df) if df > 0 else np.nan
    if method == "mean":
        lo, hi = p - qt * se, p + qt * se
    elif method == "asin":
        c = np.arcsin(np.sqrt(p))
        sec = se / (2 * np.sqrt(p * (1 - p)))
        lo, hi = np.sin(c - qt * sec) ** 2, np.sin(c + qt * sec) ** 2
    elif method == "xlogit":
        c = np.log(p / (1 - p))
        sec = se / (p * (1 - p))
        lo, hi = _expit(c - qt * sec), _expit(c + qt * sec)
    elif method == "logit":
        # R: svyglm(y ~ 1, quasibinomial), Wald interval on the intercept
        rows = d._rows()
        wr = w if rows is None else w[rows]
        c = _glm_intercept(y0 if rows is None else y0[rows], wr / wr.mean())
        sec = np.sqrt(_intercept_var(d, y0, float(_logit_linkinv(c))))
        lo, hi = _expit(c - qt * sec), _expit(c + qt * sec)
        p = float(_logit_linkinv(c))
    elif method == "beta":
        n_eff = p * (1 - p) / var
        nrow = d._n_rows_r()
        n_eff = n_eff * (stats.t.ppf(alpha / 2, nrow - 1) / stats.t.ppf(alpha / 2, df)) ** 2
        lo = stats.beta.ppf(alpha / 2, n_eff * p, n_eff * (1 - p) + 1)
        hi = stats.beta.ppf(1 - alpha / 2, n_eff * p + 1, n_eff * (1 - p))
    elif method == "wilson":
        n_eff = p * (1 - p) / var
        z2 = qt**2
        centre = (p + z2 / (2 * n_eff)) / (1 + z2 / n_eff)
        half = qt / (1 + z2 / n_eff) * np.sqrt(p * (1 - p) / n_eff + z2 / (4 * n_eff**2))
        lo, hi = centre - half, centre + half
    else:  # likelihood
        lo, hi = _likelihood_ci(d, y0, df, level)
        rows = d._rows()
        wr = w if rows is None else w[rows]
        p = float(_logit_linkinv(_glm_intercept(y0 if rows is None else y0[rows], wr / wr.mean())))
    return pd.Series(
        {"estimate": p, "se": se, "ci_low": float(lo), "ci_high": float(hi), "df": float(df)},
        name=name,
    )


_DBL_EPS = np.finfo(float).eps


def _logit_linkinv(eta):
    """R's C_logit_linkinv (clamped at |eta| > 30)."""
    eta = np.asarray(eta, dtype=float)
    thresh = -np.log(_DBL_EPS)
    e = np.exp(np.clip(eta, -thresh, thresh))
    return np.where(eta < -30, _DBL_EPS, np.where(eta > 30, 1 - _DBL_EPS, e / (1 + e)))


def _binomial_deviance(y, mu, W):
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(y > 0, y * np.log(y / mu), 0.0)
        t2 = np.where(y < 1, (1 - y) * np.log((1 - y) / (1 - mu)), 0.0)
    return 2 * float(W @ (t1 + t2))


def _glm_intercept(y, W, epsilon=1e-8, maxit=25, *, info=False):
    """Intercept of R's ``glm.fit`` for a quasi-binomial model ``y ~ 1``.

    Reproduces R's IRLS (binomial initialisation, convergence when the
    relative change of deviance is below ``epsilon``), so that the estimate
    of ``svyciprop(method = "logit" | "likelihood")`` -- expit of the fitted
    intercept -- agrees with R to the digit, not only to R's tolerance.

    With ``info=True`` also returns the sum of the working weights of the
    last IRLS iteration. R's ``glm.fit`` keeps the QR of that last weighted
    fit, whose weights come from the *previous* iterate's mu, so the model
    -based ("naive") variance of the intercept is 1 / that sum, not
    1 / sum(W mu (1 - mu)) at the final mu; the two differ by up to ~1e-3
    relative for small proportions at R's default ``epsilon``.
    """
    good0 = W > 0
    y = np.where(good0, y, 0.0)
    mustart = (W * y + 0.5) / (W + 1)
    eta = np.log(mustart / (1 - mustart))
    mu = _logit_linkinv(eta)
    devold = _binomial_deviance(y, mu, W)
    coef = float(eta[good0][0]) if good0.any() else 0.0
    ww_sum = float("nan")
    for _ in range(maxit):
        mu_eta = np.maximum(mu * (1 - mu), _DBL_EPS)
        good = good0 & (mu_eta != 0)
        z = eta[good] + (y - mu)[good] / mu_eta[good]
        ww = W[good] * mu_eta[good] ** 2 / (mu[good] * (1 - mu[good]))
        ww_sum = float(ww.sum())
        coef = float(ww @ z / ww_sum)
        eta = np.full_like(y, coef)
        mu = _logit_linkinv(eta)
        dev = _binomial_deviance(y, mu, W)
        if abs(dev - devold) / (abs(dev) + 0.1) < epsilon:
            break
        devold = dev
    return (coef, ww_sum) if info else coef


def _fmm_spline(x, y):
    """Coefficients of R's ``spline(method = "fmm")`` (Forsythe, Malcolm & Moler)."""
    n = x.size
    b = np.zeros(n)
    c = np.zeros(n)
    d = np.zeros(n)
    if n < 2:
        return b, c, d
    if n < 3:
        t = (y[1] - y[0]) / (x[1] - x[0])
        b[:] = t
        return b, c, d
    nm1 = n - 1
    d[0] = x[1] - x[0]
    c[1] = (y[1] - y[0]) / d[0]
    for i in range(1, nm1):
        d[i] = x[i + 1] - x[i]
        b[i] = 2.0 * (d[i - 1] + d[i])
        c[i + 1] = (y[i + 1] - y[i]) / d[i]
        c[i] = c[i + 1] - c[i]
    b[0] = -d[0]
    b[nm1] = -d[n - 2]
    c[0] = c[nm1] = 0.0
    if n > 3:
        c[0] = c[2] / (x[3] - x[1]) - c[1] / (x[2] - x[0])
        c[nm1] = c[n - 2] / (x[nm1] - x[n - 3]) - c[n - 3] / (x[n - 2] - x[n - 4])
        c[0] = c[0] * d[0] * d[0] / (x[3] - x[0])
        c[nm1] = -c[nm1] * d[n - 2] * d[n - 2] / (x[nm1] - x[n - 4])
    for i in range(1, n):
        t = d[i - 1] / b[i - 1]
        b[i] = b[i] - t * d[i - 1]
        c[i] = c[i] - t * c[i - 1]
    c[nm1] = c[nm1] / b[nm1]
    for i in range(n - 2, -1, -1):
        c[i] = (c[i] - d[i] * c[i + 1]) / b[i]
    b[nm1] = (y[nm1] - y[n - 2]) / d[n - 2] + d[n - 2] * (c[n - 2] + 2.0 * c[nm1])
    for i in range(nm1):
        b[i] = (y[i + 1] - y[i]) / d[i] - d[i] * (c[i + 1] + 2.0 * c[i])
        d[i] = (c[i + 1] - c[i]) / d[i]
        c[i] = 3.0 * c[i]
    c[nm1] = 3.0 * c[nm1]
    d[nm1] = d[n - 2]
    return b, c, d


def _r_spline(x, y, n_out):
    """R ``spline(x, y, n = n_out)`` with the default "fmm" method."""
    order = np.argsort(x, kind="stable")
    x = np.asarray(x, dtype=float)[order]
    y = np.asarray(y, dtype=float)[order]
    b, c, d = _fmm_spline(x, y)
    xout = np.linspace(x[0], x[-1], n_out)
    i = np.clip(np.searchsorted(x, xout, side="right") - 1, 0, x.size - 1)
    dx = xout - x[i]
    return xout, y[i] + dx * (b[i] + dx * (c[i] + dx * d[i]))


def _r_approx(x, y, xout):
    """R ``approx(x, y, xout)`` (linear, ties averaged, NA outside the range)."""
    df = pd.DataFrame({"x": x, "y": y}).groupby("x", sort=True)["y"].mean()
    xs, ys = df.index.to_numpy(), df.to_numpy()
    out = np.interp(xout, xs, ys)
    return np.where((xout < xs[0]) | (xout > xs[-1]), np.nan, out)


def _intercept_var(d, y, mu):
    """Design variance of the logit intercept of ``svyglm(y ~ 1, quasibinomial)``.

    As R's ``vcov(svyglm)``: the linearisation variance of the estimating
    function at the fitted mu, w (y - mu) / (N mu (1 - mu)). R's IRLS stops
    at its default tolerance, so mu is not exactly the weighted proportion;
    taking the variance at the proportion moves the logit interval by up to
    6e-8 and the likelihood interval (through its profile step) by more.
    """
    w = d._w
    u = np.where(w > 0, (y - mu) / w.sum(), 0.0)
    return float(d.total_vcov(u)[0, 0]) / (mu * (1 - mu)) ** 2


def _likelihood_ci(d, y, df, level):
    """Profile-likelihood interval of R ``svyciprop(method = "likelihood")``.

    As R (``confint.svyglm(method = "likelihood")``, ``MASSprofile_glm``,
    ``confint_profile``): the quasi-binomial deviance of the intercept-only
    model (prior weights w / mean(w)) is profiled at up to 9 points on each
    side of the estimate, in steps of zmax/5 standard errors; the signed
    root (D(beta) - D(beta_hat)) / phi, phi the design-based variance of the
    Pearson residuals, is interpolated by R's "fmm" spline and inverted
    linearly at +- qt(alpha/2, df) * sqrt(lambda), lambda the ratio of the
    design-based to the model-based variance of the intercept.

    Both variances are taken as R's ``svyglm`` leaves them after IRLS stops
    at its default tolerance: the design variance at the fitted mu, the
    model-based one from the last iteration's working weights. Taking them
    at the exact proportion instead moves the interval by up to 6e-4
    relative for small proportions (the profile step and lambda change).
    """
    from scipy import stats

    rows = d._rows()
    w_all = d._w if rows is None else d._w[rows]
    yy = y if rows is None else y[rows]
    W = w_all / w_all.mean()
    B0, ww_sum = _glm_intercept(yy, W, info=True)
    mu = float(_logit_linkinv(B0))
    D0 = _binomial_deviance(yy, np.full_like(yy, mu), W)
    pos = w_all > 0
    r = np.where(pos, (yy - mu) / np.sqrt(mu * (1 - mu)), 0.0)
    n = int(pos.sum())
    rbar = (w_all @ r) / w_all.sum()
    phi = (w_all @ ((r - rbar) ** 2)) / w_all.sum() * n / (n - 1)
    # R: object$naive.cov, from the QR of glm.fit's last iteration (weights
    # of the previous iterate), see _glm_intercept
    naive = 1.0 / ww_sum
    cov = _intercept_var(d, y, mu)
    lam = cov / naive
    alpha_lvl = 1 - level
    if np.isfinite(df):
        alpha = stats.norm.cdf(stats.t.ppf(alpha_lvl / 2, df) * np.sqrt(lam)) / 2
    else:
        alpha = stats.norm.cdf(stats.norm.ppf(alpha_lvl / 2) * np.sqrt(lam)) / 2
    nobs = yy.size
    zmax = np.sqrt(stats.f.isf(alpha, 1, nobs - 1))
    delta = zmax / 5
    se_b = np.sqrt(cov)
    zi = [0.0]
    bi_all = [B0]
    for sgn in (-1, 1):
        step = 0
        z = 0.0
        while True:
            step += 1
            if not (step < 10 and abs(z) < zmax):
                break
            bi = B0 + sgn * step * delta * se_b
            m = float(_logit_linkinv(bi))
            zz = (_binomial_deviance(yy, np.full_like(yy, m), W) - D0) / phi
            zz = max(zz, 0.0)
            z = sgn * np.sqrt(zz)
            zi.append(z)
            bi_all.append(bi)
    zi = np.array(zi)
    bi_all = np.array(bi_all)
    order = np.argsort(zi, kind="stable")
    zi, bi_all = zi[order], bi_all[order]
    sx, sy = _r_spline(bi_all, zi, 3 * zi.size)
    unscaled = 2 * alpha
    cutoff = np.array([stats.norm.ppf(unscaled), stats.norm.isf(unscaled)])
    lo, hi = _r_approx(sy, sx, cutoff)
    return _expit(lo), _expit(hi)


# --------------------------------------------------------------------------
# svychisq
# --------------------------------------------------------------------------

CHISQ_STATISTICS = ("F", "Chisq", "Wald", "adjWald")


def _present_codes(codes):
    """np.unique of integer codes, in linear time for codes >= 0."""
    if codes.size and codes.min() >= 0:
        return np.flatnonzero(np.bincount(codes))
    return np.unique(codes)


def _chisq_not_computable(row, col, statistic):
    """Blank result: a variable has fewer than two categories with a positive weight."""
    nan = float("nan")
    df = nan if statistic == "Chisq" else (nan, nan)
    return ChisqResult(nan, df, nan, f"not computable: {row!r} or {col!r} has fewer "
                                    "than two categories with a positive weight")


def _chisq(design, row, col, *, statistic):
    if statistic not in CHISQ_STATISTICS:
        raise ValueError(f"statistic must be one of {CHISQ_STATISTICS}, not {statistic!r}")
    rc, _ = _factor(_column(design.data, row, "row"))
    cc, _ = _factor(_column(design.data, col, "col"))
    miss = (rc < 0) | (cc < 0)
    d = design.subset(~miss) if (miss & (design._w > 0)).any() else design
    w = d._w
    pos = w > 0
    # levels with a positive weight, in factor order
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
    # covariance of the K cell totals: the indicators take K + 1 distinct
    # rows (a cell, none): factored form, no n x K matrix
    code = np.where(ok, cell, K)
    Vt = d.total_vcov(np.ones((design.n, 1)), domains=(code, np.vstack([np.eye(K), np.zeros(K)])))
    return chisq_from_totals(t.reshape(ncol, nr).T, Vt, n_rows=design._n_rows_r(),
                             nu=design._design_df_r(), statistic=statistic, names=(row, col))


def chisq_from_totals(t, V, *, n_rows, nu, statistic="F", names=("row", "col")):
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
    statistic : {"F", "Chisq", "Wald", "adjWald"}
        See :meth:`Design.chisq`.
    names : (str, str)
        Names of the two variables (for the message of a blank result).

    Returns
    -------
    ChisqResult

    References
    ----------
    R survey ``svychisq.survey.design``; Rao & Scott (1984), Ann. Stat.
    12, 46-60; Koch, Freeman & Freeman (1975).
    """
    from scipy import stats

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
    K = nr * ncol
    tv = t.T.ravel()  # cell totals, rows fastest
    psum = tv.sum()
    rows_ = np.tile(np.arange(nr), ncol)
    cols_ = np.repeat(np.arange(ncol), nr)
    # Pearson X^2 on the weighted table scaled to n_rows (R svytable Ntotal)
    tab = t * n_rows / t.sum()
    E = np.outer(tab.sum(1), tab.sum(0)) / tab.sum()
    X2 = float(((tab - E) ** 2 / E).sum())
    if statistic in ("Wald", "adjWald"):
        rt = t.sum(axis=1)
        ct = t.sum(axis=0)
        Nt = psum
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
    # Rao-Scott: covariance of the cell proportions p = t / sum(t), linearised
    p = tv / psum
    A = (np.eye(K) - p[:, None]) / psum
    Vp = A @ V @ A.T
    # contrasts: interaction columns residualised on the main-effects design
    X1 = np.column_stack(
        [np.ones(K)]
        + [(rows_ == r).astype(float) for r in range(1, nr)]
        + [(cols_ == c).astype(float) for c in range(1, ncol)]
    )
    X12 = np.column_stack(
        [((rows_ == r) & (cols_ == c)).astype(float) for c in range(1, ncol) for r in range(1, nr)]
    )
    beta, *_ = np.linalg.lstsq(X1, X12, rcond=None)
    Cmat = X12 - X1 @ beta
    with np.errstate(divide="ignore"):
        ip = np.where(p == 0, 0.0, 1.0 / p)
    iD = np.diag(ip)
    denom = Cmat.T @ (iD / n_rows) @ Cmat
    numr = Cmat.T @ iD @ Vp @ iD @ Cmat
    Delta = np.linalg.solve(denom, numr)
    # numpy scalars: with no sampling variance (a census) Delta is 0 and, as in
    # R, the F statistic is Inf and its df and p-value NaN rather than an error
    tr = np.float64(np.trace(Delta))
    with np.errstate(divide="ignore", invalid="ignore"):
        d0 = tr**2 / np.trace(Delta @ Delta)
    if statistic == "F":
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = float(X2 / tr)
        pval = float(stats.f.sf(stat, d0, d0 * nu))
        return ChisqResult(stat, (float(d0), float(d0 * nu)), pval, "Pearson's X^2: Rao & Scott adjustment")
    dfc = Delta.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        pval = float(stats.chi2.sf(X2 / np.mean(np.diag(Delta)), dfc))
    return ChisqResult(X2, float(dfc), pval, "Pearson's X^2: Rao & Scott adjustment")
