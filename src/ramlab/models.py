"""Survey-weighted generalised linear models with design-based standard errors.

``glm(design, formula, *, family=...)`` is what ``Design.glm`` calls. It fits the
model with statsmodels on the design weights and replaces the model-based
covariance by the linearisation (sandwich) covariance of R ``survey``'s
``svyglm``: every standard error goes through ``design.total_vcov``, so strata,
clusters, fpc, multistage sampling and calibration (``rake``, ``calibrate``,
``poststratify``) are accounted for exactly as R does.

References
----------
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*, ch. 5.
    R ``survey``: ``svyglm.survey.design``, ``svy.varcoef``, ``summary.svyglm``.
Binder, D. A. (1983). On the variances of asymptotically normal estimators from
    complex surveys. *International Statistical Review* 51, 279-292.
Graubard, B. I. and Korn, E. L. (1999). Predictive margins with survey data.
    *Biometrics* 55, 652-659. R ``survey``: ``svypredmeans``.
"""

from __future__ import annotations

import ast
import builtins
import html
import re
import textwrap
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy
import scipy.linalg
import scipy.optimize
import scipy.special
import scipy.stats
import statsmodels.api as sm

from ramlab.errors import ModelError, WeightError, warn
from ramlab.format import fmt_number, fmt_pct

__all__ = ["glm", "GLMResult", "WaldTest", "FAMILIES"]

#: Families ``glm`` accepts, with the R ``svyglm`` family giving the same fit.
FAMILIES = {
    "gaussian": "gaussian()",
    "binomial": "quasibinomial()",
    "poisson": "quasipoisson()",
}

# A category of a model variable observed on fewer rows than this gets a warning.
MIN_CASES = 10

_SM_FAMILIES = {
    "gaussian": sm.families.Gaussian,
    "binomial": sm.families.Binomial,
    "poisson": sm.families.Poisson,
    # R's default links: Gamma "inverse", inverse.gaussian "1/mu^2"
    "gamma": sm.families.Gamma,
    "inverse_gaussian": sm.families.InverseGaussian,
}
# Names a formula may use without being data columns: numpy and patsy's helpers.
_ENV_NAMES = {"np": np, "numpy": np}
_KNOWN_NAMES = set(_ENV_NAMES) | set(patsy.builtins.__all__) | set(dir(builtins))
# Iteratively reweighted least squares to machine precision (the references use
# R glm.control(epsilon = 1e-12 or 1e-15)). IRLS converges quadratically with
# these canonical links, so a last step below 1e-10 leaves the coefficients exact
# to rounding, and a tighter stop would chase rounding noise.
_FIT_OPTIONS = {"method": "IRLS", "maxiter": 100, "tol_criterion": "params",
                "atol": 1e-12, "rtol": 1e-10, "wls_method": "qr"}


# ---------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------
def glm(design, formula, *, family="gaussian"):
    """Fit a survey-weighted generalised linear model (R ``survey::svyglm``).

    Parameters
    ----------
    design : ramlab.design.Design
        The survey design. Only its rows with a positive weight enter the model
        (a domain from ``design.subset`` is analysed as a domain, as R does).
    formula : str
        A statsmodels (patsy) formula on ``design.data`` columns, e.g.
        ``"api00 ~ ell + meals"`` or ``"I(partenariat == 'Oui') ~ C(taille) + C(secteur)"``.
        Categorical predictors use treatment contrasts against their first
        category; a pandas categorical column (as ``read_sav`` gives) needs no
        ``C()`` and is read faster without it. For ``family="binomial"`` the
        response is 0/1 (or a proportion), or a condition such as
        ``I(q6_1 == "Oui")``.
    family : {"gaussian", "binomial", "poisson", "gamma", "inverse_gaussian"}
        Identity, logit, log, inverse or 1/mu^2 link. Same coefficients and
        standard errors as R's ``gaussian()``, ``quasibinomial()``,
        ``quasipoisson()``, ``Gamma()`` and ``inverse.gaussian()`` in ``svyglm``.

    Returns
    -------
    GLMResult
        Coefficients, design-based covariance, t tests on the design's residual
        degrees of freedom (``design.degf() - n_coefficients + 1``).

    Raises
    ------
    ModelError
        A variable absent from the data, a constant or collinear term, perfect
        separation in a binomial model, too few cases or degrees of freedom; the
        error's ``term`` names the culprit.
    WeightError
        A row of the model has a negative weight (an unbounded linear
        calibration): R's ``glm`` stops with "negative weights not allowed".

    Warns
    -----
    UserWarning
        A category of a model variable with fewer than ``MIN_CASES`` rows in the
        model (its coefficient is fragile), or with none (it is left out).

    Notes
    -----
    The coefficients solve the weighted score equations
    ``sum_i w_i x_i (y_i - mu_i) mu'(eta_i) / V(mu_i) = 0`` (statsmodels GLM with
    the design weights as ``var_weights``; R rescales the weights to mean 1,
    which changes nothing). The covariance is the sandwich
    ``A^-1 Var(sum_i w_i U_i) A^-1`` with ``A = sum_i w_i mu'(eta_i)^2 / V(mu_i) x_i x_i'``
    and ``U_i`` the score of row ``i``; the middle term is ``design.total_vcov``
    of the rows' influence ``U_i A^-1`` (R: ``svy.varcoef``). Rows with a missing
    value in a model variable -- or a user-missing category listed in
    ``design.data.attrs["user_missing"]``, as SPSS excludes them -- are left out
    of the domain, as R's ``na.action`` does.

    ``dispersion`` is R's ``summary(svyglm)$dispersion`` (design-weighted
    variance of the Pearson residuals). When rows are dropped for missing values
    R rescales those residuals by a ratio of mean weights (a quirk of
    ``residuals.svyglm``); ramlab does not.
    """
    if family not in _SM_FAMILIES:
        raise ModelError(
            f"family {family!r} is not available: use one of {sorted(_SM_FAMILIES)}"
            " (R svyglm: gaussian, quasibinomial, quasipoisson, Gamma, inverse.gaussian)"
        )
    return _fit(design, formula, family)


# ---------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class WaldTest:
    """A Wald test of a model term (R ``regTermTest``): F, its df and ddf, p-value."""

    term: str
    statistic: float
    df: int
    ddf: int
    p_value: float


class GLMResult:
    """A fitted survey-weighted GLM (R: an ``svyglm`` object and its summary).

    Attributes
    ----------
    formula, family : str
    params, bse, tvalues, pvalues : pandas.Series indexed by term (patsy column names)
    vcov : pandas.DataFrame
        Design-based covariance of the coefficients (R ``vcov(svyglm)``).
    df_resid : int
        Residual degrees of freedom of the t tests: design df - n coefficients + 1.
    nobs : int
        Rows used (positive weight, no missing value).
    weighted_total : float
        Sum of the weights of those rows (the population the model describes).
    dispersion : float
        R's ``summary(svyglm)$dispersion``: design-weighted variance of the
        Pearson residuals. It is reported, not used by the standard errors.
    converged : bool
    sm_result : statsmodels GLMResults
        The underlying statsmodels fit (its standard errors are NOT design-based).
    """

    def __init__(self, *, formula, family, params, vcov, df_resid, nobs, weighted_total,
                 dispersion, converged, sm_result, parts):
        self.formula = formula
        self.family = family
        self.params = params
        self.vcov = vcov
        self.bse = pd.Series(np.sqrt(np.diag(vcov.to_numpy())), index=params.index, name="se")
        self.df_resid = df_resid
        self.nobs = nobs
        self.weighted_total = weighted_total
        self.dispersion = dispersion
        self.converged = converged
        self.sm_result = sm_result
        self.tvalues = (params / self.bse).rename("t")
        p = 2 * scipy.stats.t.sf(np.abs(self.tvalues.to_numpy()), df_resid)
        self.pvalues = pd.Series(p, index=params.index, name="p_value")
        self._parts = parts

    # -- tables ---------------------------------------------------------------
    def conf_int(self, level=0.95):
        """Confidence intervals on t with ``df_resid`` degrees of freedom (R ``confint.svyglm``).

        Returns
        -------
        pandas.DataFrame with columns ``ci_low``, ``ci_high``, indexed by term.
        """
        _check_level(level)
        q = scipy.stats.t.ppf(0.5 + level / 2, self.df_resid)
        return pd.DataFrame(
            {"ci_low": self.params - q * self.bse, "ci_high": self.params + q * self.bse}
        )

    def summary(self, level=0.95):
        """Coefficient table: estimate, se, t, p_value, ci_low, ci_high (R ``summary(svyglm)``)."""
        table = pd.concat(
            [self.params.rename("estimate"), self.bse, self.tvalues, self.pvalues,
             self.conf_int(level)],
            axis=1,
        )
        table.index.name = "term"
        return table

    def odds_ratios(self, level=0.95):
        """Odds ratios of a binomial model: exp of the coefficients and of their CI.

        Returns
        -------
        pandas.DataFrame with columns ``odds_ratio``, ``ci_low``, ``ci_high``, indexed by term.

        Raises
        ------
        ModelError
            The model is not binomial (its coefficients are not log odds ratios).
        """
        if self.family != "binomial":
            raise ModelError(f"odds ratios need a binomial model; this one is {self.family!r}")
        ci = self.conf_int(level)
        return pd.DataFrame({"odds_ratio": np.exp(self.params), "ci_low": np.exp(ci["ci_low"]),
                             "ci_high": np.exp(ci["ci_high"])})

    def predict(self, newdata, *, type="response"):
        """Predictions for new rows with their design-based SE (R ``predict.svyglm``).

        Parameters
        ----------
        newdata : pandas.DataFrame
            The model's predictors (the response is not needed); a categorical
            predictor takes the categories of the model's data.
        type : {"response", "link"}
            The mean (a probability for a binomial model) or the linear predictor.

        Returns
        -------
        pandas.DataFrame indexed as ``newdata``: ``estimate`` and ``se``. The
        SE is ``sqrt(diag(X V X'))`` on the link scale, times ``|dmu/deta|``
        on the response scale (delta method), V the coefficients' design
        covariance, as R.

        Raises
        ------
        ModelError
            ``newdata`` is not a DataFrame, lacks a predictor, has a missing
            value or a category the model does not know; ``type`` is unknown.
        """
        if type not in ("response", "link"):
            raise ModelError(f"predict: type must be 'response' or 'link', not {type!r}")
        if not isinstance(newdata, pd.DataFrame):
            raise ModelError(f"predict: newdata must be a pandas DataFrame, not "
                             f"{builtins.type(newdata).__name__}")
        x = _new_matrix(self, newdata)
        beta = self.params.to_numpy()
        eta = x @ beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", x, self.vcov.to_numpy(), x))
        if type == "response":
            link = self._parts["sm_family"].link
            se = se * np.abs(link.inverse_deriv(eta))
            eta = link.inverse(eta)
        return pd.DataFrame({"estimate": eta, "se": se}, index=newdata.index)

    # -- display ---------------------------------------------------------------
    def _header(self):
        return [
            ("Modèle", self.formula),
            ("Famille", f"{self.family} (R svyglm {FAMILIES.get(self.family, self.family)})"),
            ("Observations", fmt_number(self.nobs)),
            ("Total pondéré", fmt_number(self.weighted_total)),
            ("Degrés de liberté résiduels", fmt_number(self.df_resid)),
            ("Dispersion", fmt_number(self.dispersion, 4)),
        ]

    def _display_table(self, level=0.95):
        """The coefficient table as shown: statsmodels' columns, odds ratios for binomial."""
        table = self.summary(level)
        if self.family == "binomial":
            odds = self.odds_ratios(level)
            table = table.assign(odds_ratio=odds["odds_ratio"], or_low=odds["ci_low"],
                                 or_high=odds["ci_high"])
        return table

    def __repr__(self):
        return (f"<GLMResult {self.family}: {self.formula}; {self.nobs} observations, "
                f"{len(self.params)} coefficients>")

    def __str__(self):
        table = self._display_table()
        lo, hi = "[0.025", "0.975]"
        text = pd.DataFrame({
            "coef": table["estimate"].map(lambda v: f"{v:.4f}"),
            "std err": table["se"].map(lambda v: f"{v:.4f}"),
            "t": table["t"].map(lambda v: f"{v:.3f}"),
            "P>|t|": table["p_value"].map(lambda v: "<0.001" if v < 0.001 else f"{v:.3f}"),
            lo: table["ci_low"].map(lambda v: f"{v:.4f}"),
            hi: table["ci_high"].map(lambda v: f"{v:.4f}"),
        })
        if "odds_ratio" in table:
            text["odds ratio"] = table["odds_ratio"].map(lambda v: f"{v:.3f}")
            text["OR " + lo] = table["or_low"].map(lambda v: f"{v:.3f}")
            text["OR " + hi] = table["or_high"].map(lambda v: f"{v:.3f}")
        text.index.name = None
        width = max(len(line) for line in text.to_string().splitlines())
        head = [f"Survey-weighted GLM (R svyglm), family {self.family}",
                f"Formula: {self.formula}",
                f"Observations: {self.nobs}   Weighted total: {self.weighted_total:,.0f}   "
                f"Residual df: {self.df_resid}   Dispersion: {self.dispersion:.4g}"]
        rule = "=" * width
        note = ("Design-based standard errors (linearisation, calibration included); "
                "t tests on the design's residual degrees of freedom.")
        return "\n".join([rule, *head, "-" * width, text.to_string(), rule, note])

    def _repr_html_(self):
        head = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
            for k, v in self._header()
        )
        table = self._display_table()
        columns = [("estimate", "Coefficient", 3), ("se", "Erreur type", 3), ("t", "t", 2),
                   ("p_value", "p", 3), ("ci_low", "IC 95 % bas", 3), ("ci_high", "IC 95 % haut", 3)]
        if "odds_ratio" in table:
            columns += [("odds_ratio", "Rapport de cotes", 2), ("or_low", "RC : IC 95 % bas", 2),
                        ("or_high", "RC : IC 95 % haut", 2)]

        def cell(key, value, digits):
            if key == "p_value" and value < 0.001:
                return "&lt; 0,001"
            return html.escape(fmt_number(value, digits))

        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(str(term))}</th>"
            + "".join(f"<td style='text-align:right'>{cell(k, table.loc[term, k], d)}</td>"
                      for k, _, d in columns) + "</tr>"
            for term in table.index
        )
        header = "<tr><th>Terme</th>" + "".join(f"<th>{html.escape(lab)}</th>"
                                               for _, lab, _ in columns) + "</tr>"
        note = ("<p><small>Erreurs types fondées sur le plan de sondage (linéarisation,"
                " calage compris) ; tests t sur les degrés de liberté du plan.")
        if "odds_ratio" in table:
            note += " Rapport de cotes : exponentielle du coefficient."
        note += "</small></p>"
        return (f"<table>{head}</table><table class='ramlab-model'><thead>{header}</thead>"
                f"<tbody>{rows}</tbody></table>{note}")

    # -- tests -----------------------------------------------------------------
    def wald_test(self, term):
        """Wald F test that every coefficient of a term is zero (R ``regTermTest``).

        Parameters
        ----------
        term : str
            A term of the formula as written there, e.g. ``"taille"`` or
            ``"C(taille)"``: all its coefficients (one per category but the
            first) are tested together.

        Returns
        -------
        WaldTest
            ``statistic`` (F = b' V^-1 b / df), ``df`` (number of
            coefficients), ``ddf`` (the model's residual df) and ``p_value``
            on F(df, ddf).

        Notes
        -----
        R ``regTermTest(model, ~term)``, method "Wald", ``df = model$df.residual``.
        """
        info = self._parts["info"]
        names = [t for t in info.term_names
                 if t == term or re.fullmatch(rf"C\({re.escape(term)}(,.*)?\)", t)]
        if not names:
            raise ModelError(f"wald_test: {term!r} is not a term of {self.formula!r} "
                             f"(its terms: {info.term_names})", term=term)
        cols = np.concatenate([np.arange(len(self.params))[info.term_name_slices[t]] for t in names])
        b = self.params.to_numpy()[cols]
        V = self.vcov.to_numpy()[np.ix_(cols, cols)]
        df = len(cols)
        F = float(b @ np.linalg.solve(V, b)) / df
        return WaldTest(term=term, statistic=F, df=df, ddf=self.df_resid,
                        p_value=float(scipy.stats.f.sf(F, df, self.df_resid)))

    # -- predictive margins ---------------------------------------------------
    def margins(self, group, *, at=None, level=0.95):
        """Predictive margins by the categories of `group` (R ``svypredmeans``).

        For each category ``g``, every row of the model's domain is given
        ``group = g`` and the model's prediction (mean, or probability for a
        binomial model) is averaged with the design weights: the mean or
        percentage that would be observed if everyone were in ``g``, the other
        model variables keeping their observed distribution ("à taille et
        secteur égaux"). If `group` is not in the model, the model is refitted
        with ``C(group)`` added first, as R does.

        Parameters
        ----------
        group : str
            Column of ``design.data``. Without `at` it is treated as categorical
            (R: ``~factor(group)``) and the margins are given for each category
            observed in the model's rows.
        at : sequence, optional
            Values of `group` at which to predict (R: ``predictat``). A numeric
            `group` absent from the model is then added as a linear term, as R does.
        level : float
            Confidence level of ``ci_low``/``ci_high`` (normal quantile, as R's
            ``confint`` on the ``svypredmeans`` result).

        Returns
        -------
        pandas.DataFrame indexed by category: ``estimate``, ``se``, ``ci_low``, ``ci_high``.
        The standard error adds the variance of the coefficients (propagated by
        the delta method) to the design variance of the averaged predictions,
        as Graubard and Korn (1999) and R's ``svypredmeans``.
        """
        _check_level(level)
        estimate, cov, groups = _predictive_margins(self, group, at)
        se = np.sqrt(np.diag(cov))
        q = scipy.stats.norm.ppf(0.5 + level / 2)
        table = pd.DataFrame(
            {"estimate": estimate, "se": se, "ci_low": estimate - q * se,
             "ci_high": estimate + q * se},
            index=pd.Index(groups, name=group),
        )
        table.attrs["vcov"] = pd.DataFrame(cov, index=table.index, columns=table.index)
        return table

    def plot_margins(self, group, *, at=None, level=0.95, title=None, ax=None):
        """Chart of the predictive margins by `group` with their confidence intervals.

        Parameters
        ----------
        group, at, level
            As :meth:`margins`.
        title : str, optional
            Chart title (French); by default "<response> selon <group>, ...".
        ax : matplotlib Axes, optional
            Draw into this Axes (no figure title or footer then).

        Returns
        -------
        matplotlib.figure.Figure
            A horizontal point-and-interval chart built without pyplot, in the
            house style of :mod:`ramlab.tables.charts`; percentages for a binomial
            model; the model and the number of observations in the footer, and
            the synthetic-data mark when the data are synthetic.
        """
        table = self.margins(group, at=at, level=level)
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter

        from ramlab.tables.charts import PALETTE, SYNTHETIC_MARK, house_style, logit_interval

        is_share = self.family == "binomial"
        label = (lambda v: fmt_pct(v)) if is_share else (lambda v: fmt_number(v, 1))
        own = ax is None
        with house_style():
            if own:
                fig = Figure(figsize=(6.5, 1.6 + 0.45 * len(table)), dpi=100,
                             layout="constrained")
                ax = fig.add_subplot()
            else:
                fig = ax.figure
            ypos = np.arange(len(table))[::-1]
            est = table["estimate"].to_numpy()
            low, high = table["ci_low"].to_numpy(), table["ci_high"].to_numpy()
            if is_share:
                low, high = logit_interval(est, table["se"].to_numpy(), level=level)
            err = np.vstack([est - low, high - est])
            ax.errorbar(est, ypos, xerr=err, fmt="o", color=PALETTE[0], ecolor=PALETTE[5],
                        capsize=3, lw=1.5)
            ax.set_yticks(ypos, [_plain(g) for g in table.index])
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: label(v)))
            for y, v in zip(ypos, est):
                ax.annotate(label(v), (v, y), xytext=(0, 6), textcoords="offset points",
                            ha="center", fontsize=8)
            ax.set_xlabel(("Part ajustée" if is_share else "Moyenne ajustée")
                          + f" (intervalle de confiance à {fmt_number(100 * level)}\u202f%)")
            ax.set_ylabel(_plain(group))
            ax.set_ylim(-0.6, len(table) - 0.3)
            ax.grid(axis="x", alpha=0.3)
            heading = title or (f"{self._parts['response']} selon {group},"
                                " autres variables du modèle égales")
            if not own:  # drawing into the caller's figure: leave its title and footer
                ax.set_title(_plain(textwrap.fill(heading, 60)))
                return fig
            fig.suptitle(_plain(textwrap.fill(heading, 70)), x=0.01, ha="left",
                         fontsize=11, fontweight="bold")
            footer = [f"Modèle : {self.formula} ({self.family}) ;"
                      f" {fmt_number(self.nobs)} observations."]
            if self._parts["design"].data.attrs.get("synthetic"):
                footer.append(SYNTHETIC_MARK + ".")
            fig.supxlabel(_plain("\n".join(textwrap.fill(line, 110) for line in footer)),
                          x=0.01, ha="left", fontsize=7.5, color="#333333")
        return fig


def _plain(text):
    """Escape "$" so that matplotlib shows labels literally."""
    return str(text).replace("$", "\\$")


# ---------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------
def _fit(design, formula, family, *, categorical=(), start=None):
    data = design.data
    weights = np.asarray(design.weights, dtype=float)
    variables = _formula_variables(formula, data)
    frame, positions = _model_frame(data, variables, weights != 0, categorical=categorical)
    y_df, x_df = _design_matrices(formula, frame)
    local = y_df.index.to_numpy()
    rows = positions[local]
    y, response = _response(y_df, family)
    x = x_df.to_numpy(dtype=float)
    names = list(x_df.columns)
    info = x_df.design_info
    _check_matrix(x, names, info)

    w = weights[rows]
    _refuse_negative_weights(w, formula)
    vdesign, df_resid = _fit_domain(design, weights, rows, x.shape[1], formula, names, info)
    sm_family = _SM_FAMILIES[family]()
    result, beta, eta, mu, caught = _glm(x, y, w, sm_family, start, names)
    if family in ("binomial", "poisson"):
        _check_separation(x, y, names, info, family, result, mu, caught)
    if not result.converged or not np.all(np.isfinite(beta)):
        raise ModelError(f"the fit of {formula!r} did not converge in 100 iterations")
    cov, dispersion = _sandwich(vdesign, x, y, w, rows, len(weights), sm_family, beta, eta, mu)

    params = pd.Series(beta, index=names, name="estimate")
    return GLMResult(
        formula=formula, family=family, params=params,
        vcov=pd.DataFrame(cov, index=names, columns=names),
        df_resid=df_resid, nobs=len(rows), weighted_total=float(w.sum()),
        dispersion=dispersion, converged=bool(result.converged), sm_result=result,
        parts={"design": design, "vdesign": vdesign, "frame": frame, "local": local,
               "rows": rows, "info": info, "variables": variables,
               "response": response, "sm_family": sm_family},
    )


def _design_matrices(formula, frame):
    """patsy's response and model matrices of `formula` on the model frame (NA rows dropped)."""
    try:
        return patsy.dmatrices(
            formula, frame, NA_action="drop", return_type="dataframe",
            eval_env=patsy.EvalEnvironment([_ENV_NAMES]),
        )
    except patsy.PatsyError as exc:
        raise ModelError(f"cannot build the model matrix of {formula!r}: {exc}") from exc


def _fit_domain(design, weights, rows, n_coef, formula, names, info):
    """The design the variance is taken on, and its residual degrees of freedom.

    Rows dropped for missing values leave the domain (R: design[-na.action, ]).
    """
    mask = np.zeros(len(weights), dtype=bool)
    mask[rows] = True
    vdesign = design if mask.sum() == np.count_nonzero(weights) else design.subset(
        pd.Series(mask, index=design.data.index))
    df_resid = int(vdesign.degf()) - n_coef + 1
    if df_resid <= 0:
        raise ModelError(
            f"the design has {vdesign.degf()} degrees of freedom for {n_coef}"
            f" coefficients: too few PSUs or cases to fit {formula!r}",
            term=_term_of(names[-1], info),
        )
    return vdesign, df_resid


def _glm(x, y, w, sm_family, start, names):
    """statsmodels' IRLS fit: ``(result, coefficients, linear predictor, mean, warnings)``."""
    with warnings.catch_warnings():
        # statsmodels warns that R's canonical Gamma and inverse Gaussian links
        # can leave the family's domain; so does R's IRLS, which fails loudly
        warnings.simplefilter("ignore", sm.tools.sm_exceptions.DomainWarning)
        model = sm.GLM(y, x, family=sm_family, var_weights=w / w.mean())
    # Overflow in exp() only happens on the way to a separation, reported by the caller.
    with warnings.catch_warnings(record=True) as caught, np.errstate(over="ignore"):
        warnings.simplefilter("always")
        start_params = None if start is None else start.reindex(names).fillna(0.0).to_numpy()
        result = model.fit(start_params=start_params, **_FIT_OPTIONS)
        beta = np.asarray(result.params, dtype=float)
        eta = x @ beta
        mu = sm_family.link.inverse(eta)
    return result, beta, eta, mu, caught


def _sandwich(vdesign, x, y, w, rows, n_total, sm_family, beta, eta, mu):
    """The coefficients' design-based covariance and the fit's dispersion.

    Sandwich covariance (R svy.varcoef): influence U_i A^-1 of each row, then
    the design covariance of their weighted totals. Dispersion (R
    summary.svyglm): svyvar of the Pearson residuals.
    """
    dmu = sm_family.link.inverse_deriv(eta)
    var = sm_family.variance(mu)
    score = (y - mu) * dmu / var
    info_matrix = (x * (w * dmu**2 / var)[:, None]).T @ x
    a_inv = np.linalg.inv(info_matrix)
    influence = np.zeros((n_total, x.shape[1]))
    influence[rows] = (x * score[:, None]) @ a_inv
    cov = np.asarray(vdesign.statistic_vcov(_refit(y, x, rows, sm_family, beta), influence), dtype=float)

    pearson = (y - mu) / np.sqrt(var)
    centred = pearson - np.average(pearson, weights=w)
    n_rows = len(rows)
    dispersion = float(np.average(centred**2, weights=w) * n_rows / (n_rows - 1))
    return cov, dispersion


def _new_matrix(fit, newdata):
    """The model matrix of new rows (the predictors' categories as in the fit)."""
    parts = fit._parts
    info = parts["info"]
    needed = [v for v in parts["variables"]
              if any(v in _code_names(f.code, parts["frame"].columns)
                     for t in info.terms for f in t.factors)]
    absent = [v for v in needed if v not in newdata.columns]
    if absent:
        raise ModelError(f"predict: newdata lacks {', '.join(map(repr, absent))}; the model "
                         f"{fit.formula!r} needs {', '.join(map(repr, needed))}", term=absent[0])
    frame = newdata[needed].copy()
    for name in needed:
        ref = parts["frame"][name]
        if isinstance(ref.dtype, pd.CategoricalDtype):
            unknown = sorted({str(v) for v in frame[name].dropna()} -
                             {str(c) for c in ref.cat.categories})
            if unknown:
                raise ModelError(f"predict: {name!r} = {', '.join(map(repr, unknown))} is not a "
                                 f"category of the model's data "
                                 f"({', '.join(map(repr, map(str, ref.cat.categories)))})",
                                 term=name)
            frame[name] = pd.Categorical(frame[name], dtype=ref.dtype)
    try:
        (matrix,) = patsy.build_design_matrices([info], frame, NA_action="raise")
    except patsy.PatsyError as exc:
        raise ModelError(f"predict: cannot build the model matrix of newdata: {exc}") from exc
    return np.asarray(matrix, dtype=float)


def _refit(y, x, rows, sm_family, beta):
    """The coefficients refitted with each column of weights (R ``svyglm.svyrep.design``).

    Each replicate's weights, scaled to sum 1, start from the full-sample
    coefficients ``beta``. Linearised designs never call it.
    """

    def fit(W):
        out = np.empty((W.shape[1], x.shape[1]))
        for j in range(W.shape[1]):
            wj = W[rows, j]
            with warnings.catch_warnings(), np.errstate(over="ignore"):
                warnings.simplefilter("ignore")
                res = sm.GLM(y, x, family=sm_family, var_weights=wj / wj.sum()).fit(
                    start_params=beta, **_FIT_OPTIONS)
            out[j] = res.params
        return out

    return fit


def _formula_variables(formula, data):
    """Data columns a formula reads; ModelError naming the first one absent."""
    if not isinstance(formula, str) or "~" not in formula:
        raise ModelError(f"the formula must be a string 'response ~ terms', got {formula!r}")
    try:
        desc = patsy.ModelDesc.from_formula(formula)
    except patsy.PatsyError as exc:
        raise ModelError(f"cannot read the formula {formula!r}: {exc}") from exc
    if not desc.lhs_termlist:
        raise ModelError(f"the formula {formula!r} has no response (left of '~')")
    found = []
    for term in desc.lhs_termlist + desc.rhs_termlist:
        for factor in term.factors:
            for name in _code_names(factor.code, data.columns):
                if name not in data.columns:
                    raise ModelError(
                        f"the variable {name!r} of the term {factor.code!r} is not in the data",
                        term=name,
                    )
                if name not in found:
                    found.append(name)
    return found


def _code_names(code, columns):
    """Variable names a factor's Python code reads (Q("a.b") included).

    numpy, patsy helpers (C, I, Q, ...) and Python builtins are not variables,
    unless a data column carries their name.
    """
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError as exc:
        raise ModelError(f"cannot read the term {code!r}", term=code) from exc
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in _KNOWN_NAMES and node.id not in columns:
                continue
            names.append(node.id)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "Q" and node.args and isinstance(node.args[0], ast.Constant)):
            names.append(node.args[0].value)
    return names


def _refuse_negative_weights(w, formula):
    """WeightError when a row of the model has a negative weight.

    An unbounded linear calibration can give them; R's ``svyglm`` (so
    ``svyttest``, ``svyciprop`` "logit"/"likelihood") stops in ``glm``
    ("negative weights not allowed"), and ``svyolr`` fails too.
    """
    neg = int(np.count_nonzero(w < 0))
    if neg:
        raise WeightError(
            f"{formula!r}: negative weights not allowed in a model (as R's svyglm): "
            f"{neg} rows (of the {w.size} in the model) have a negative weight "
            f"(min {w.min():.6g}); calibrate with bounds (bounds=) to keep the weights positive",
            variable="weight",
        )


def _model_frame(data, variables, in_domain, *, categorical=()):
    """Domain rows complete on `variables`, unused categories removed.

    User-missing categories (``data.attrs["user_missing"]``) count as missing;
    the `categorical` columns become pandas categoricals (sorted levels, as
    patsy orders them). Returns the frame (fresh RangeIndex) and the rows'
    positions in `data`.
    """
    in_domain = np.asarray(in_domain, dtype=bool)
    if not in_domain.any():
        raise ModelError("the design has no row with a nonzero weight")
    frame = data.loc[in_domain, variables].reset_index(drop=True)
    positions = np.flatnonzero(in_domain)
    user_missing = data.attrs.get("user_missing", {}) or {}
    for name in variables:
        column = frame[name]
        if name in user_missing and user_missing[name]:
            frame[name] = column.mask(column.isin(list(user_missing[name])))
    complete = frame.notna().all(axis=1).to_numpy()
    if not complete.any():
        raise ModelError(
            "no row of the domain has a value for every model variable",
            term=frame.columns[frame.notna().sum().argmin()],
        )
    frame = frame.loc[complete].reset_index(drop=True)
    positions = positions[complete]
    for name in categorical:
        frame[name] = pd.Categorical(frame[name])
    for name in variables:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            used = column.cat.remove_unused_categories()
            dropped = [c for c in column.cat.categories if c not in set(used.cat.categories)]
            whole = data[name].value_counts()
            dropped = [c for c in dropped if whole.get(c, 0) > 0
                       and c not in (user_missing.get(name) or [])]
            if dropped:
                warn(
                    f"{name}: no case of {dropped} among the {len(frame)} rows of the model;"
                    " these categories are left out",
                )
            frame[name] = used
    return frame, positions


def _response(y_df, family):
    """The response vector; a boolean response gives its True column."""
    columns = list(y_df.columns)
    if len(columns) == 1:
        response = columns[0]
        y = y_df.iloc[:, 0].to_numpy(dtype=float)
    elif len(columns) == 2 and columns[1].endswith("[True]"):
        response = columns[1][: -len("[True]")]
        y = y_df.iloc[:, 1].to_numpy(dtype=float)
    else:
        stem = columns[0].split("[")[0]
        raise ModelError(
            f"the response {stem} is categorical with levels {columns}: write the outcome"
            f" as a 0/1 variable or a condition, e.g. I({stem} == 'Oui')",
            term=stem,
        )
    if family == "binomial" and (np.any(y < 0) or np.any(y > 1)):
        raise ModelError(
            f"a binomial response must lie between 0 and 1; {response} ranges from"
            f" {y.min():g} to {y.max():g}", term=response,
        )
    if family == "poisson" and np.any(y < 0):
        raise ModelError(f"a poisson response cannot be negative: {response}", term=response)
    if family in ("gamma", "inverse_gaussian") and np.any(y <= 0):
        raise ModelError(f"a {family} response must be positive: {response} has {y.min():g}",
                         term=response)
    if np.ptp(y) == 0:
        raise ModelError(
            f"the response {response} is constant ({y[0]:g}) on the rows of the model",
            term=response,
        )
    return y, response


def _term_of(column, info):
    for term, columns in info.term_name_slices.items():
        if column in info.column_names[columns]:
            return term
    return column


def _check_matrix(x, names, info):
    """Too few cases, constant, thin or collinear columns -> ModelError / warning."""
    n, p = x.shape
    if n <= p:
        raise ModelError(
            f"{n} rows for {p} coefficients: too few cases to fit the model",
            term=names[-1],
        )
    for j, name in enumerate(names):
        if name == "Intercept":
            continue
        column = x[:, j]
        term = _term_of(name, info)
        if np.ptp(column) == 0:
            raise ModelError(
                f"the term {term} (column {name}) is constant ({column[0]:g}) on the"
                f" {n} rows of the model: it cannot be estimated",
                term=term,
            )
        is_dummy = np.isin(column, (0.0, 1.0)).all()
        if is_dummy and min(column.sum(), n - column.sum()) < MIN_CASES:
            warn(
                f"{term}: only {int(min(column.sum(), n - column.sum()))} rows in {name}"
                f" (fewer than {MIN_CASES}); its coefficient is fragile",
            )
    # Rank with R's tolerance (lm.fit / glm.fit: 1e-7 on the pivoted QR of the
    # unit-length columns); the p x p Gram matrix answers first, cheaply.
    scaled = x / np.linalg.norm(x, axis=0)
    if np.linalg.eigvalsh(scaled.T @ scaled)[0] > 1e-12:
        return
    _, r, pivot = scipy.linalg.qr(scaled, mode="economic", pivoting=True)
    rank = int((np.abs(np.diag(r)) > 1e-7).sum())
    if rank < p:
        aliased = [names[j] for j in pivot[rank:]]
        raise ModelError(
            f"the column(s) {aliased} are linear combinations of the other terms"
            " (collinear): remove one of the terms involved",
            term=_term_of(aliased[0], info),
        )


def _check_separation(x, y, names, info, family, result, mu, caught):
    """Infinite coefficients (separation) -> ModelError naming the terms.

    Binomial: perfect or quasi-complete separation; poisson: a direction
    along which every count is 0. Runs when the fit shows the signs (no
    convergence, a separation warning, fitted values at the edge); a linear
    programme then finds a direction ``d`` with ``x_i d >= 0`` when
    ``y_i = 1``, ``<= 0`` when ``y_i = 0`` and ``= 0`` otherwise (Konis 2007,
    R ``detectseparation``); its nonzero entries are the terms.
    """
    sm_warned = any("separation" in str(w.message).lower() for w in caught)
    if family == "binomial":
        edge = np.minimum(mu, 1 - mu).min() < 1e-10
        sign = np.where(y >= 1, 1.0, np.where(y <= 0, -1.0, 0.0))
    else:
        edge = mu.min() < 1e-10
        sign = np.where(y <= 0, -1.0, 0.0)
    if result.converged and not sm_warned and not edge:
        return
    scale = np.maximum(np.abs(x).max(axis=0), 1.0)
    xs = x / scale
    signed = xs * sign[:, None]
    mid = sign == 0
    lp = scipy.optimize.linprog(
        -signed.sum(axis=0),
        A_ub=-signed[~mid], b_ub=np.zeros((~mid).sum()),
        A_eq=xs[mid] if mid.any() else None, b_eq=np.zeros(mid.sum()) if mid.any() else None,
        bounds=[(-1, 1)] * x.shape[1], method="highs",
    )
    if lp.status == 0 and -lp.fun > 1e-7:
        involved = [names[j] for j in np.flatnonzero(np.abs(lp.x) > 1e-7)]
        terms = list(dict.fromkeys(_term_of(c, info) for c in involved if c != "Intercept"))
        terms = terms or involved
        what = ("perfect separation: the response is fully determined by" if family == "binomial"
                else "zero counts: the response is 0 wherever it depends on")
        raise ModelError(
            f"{what} {terms} (columns {involved}); the coefficients are infinite."
            " Group the categories concerned or remove the term",
            term=terms[0],
        )
    if edge:
        warn("fitted values numerically at the edge (0 or 1) occurred")


def _check_level(level):
    if not 0 < level < 1:
        raise ModelError(f"level must lie strictly between 0 and 1, got {level!r}")


# ---------------------------------------------------------------------------
# Predictive margins (Graubard & Korn 1999; R svypredmeans)
# ---------------------------------------------------------------------------
def _margin_model(fit, group, at):
    """The fit itself when it has ``group``, else the fit with ``group`` added."""
    design = fit._parts["design"]
    data = design.data
    if not isinstance(group, str) or group not in data.columns:
        raise ModelError(f"the variable {group!r} is not in the data", term=str(group))
    if group in fit._parts["variables"]:
        return fit
    term = group if group.isidentifier() else f"Q({group!r})"
    # The group enters as a pandas categorical (patsy reads it fast, no C()),
    # or as it is for a numeric group predicted at given values.
    linear = at is not None and pd.api.types.is_numeric_dtype(data[group])
    convert = () if linear or isinstance(data[group].dtype, pd.CategoricalDtype) else (group,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the user saw the fit's warnings already
        return _fit(design, f"{fit.formula} + {term}", fit.family, categorical=convert,
                    start=fit.params)


def _margin_groups(used, group, at):
    """The values of ``group`` to predict at: ``at``, or those the model's rows have."""
    if at is not None:
        groups = list(at)
        if not groups:
            raise ModelError(f"at= gives no value of {group} to predict at", term=group)
        return groups
    if isinstance(used.dtype, pd.CategoricalDtype):
        return list(used.cat.remove_unused_categories().cat.categories)
    return sorted(pd.unique(used))


def _predictive_margins(fit, group, at):
    parts = fit._parts
    design = parts["design"]
    data = design.data
    model = _margin_model(fit, group, at)
    mparts = model._parts
    info = mparts["info"]
    group_terms = [t for t in info.terms
                   if any(group in _code_names(f.code, data.columns) for f in t.factors)]
    if not group_terms:
        raise ModelError(f"{group} is the response of the model, not a predictor", term=group)
    rows = parts["rows"]  # averaging rows: the original model's domain
    columns = mparts["variables"]
    frame = data.iloc[rows][columns].reset_index(drop=True)
    for name in columns:
        ref = mparts["frame"][name]
        if isinstance(ref.dtype, pd.CategoricalDtype):
            frame[name] = pd.Categorical(frame[name], dtype=ref.dtype)
    groups = _margin_groups(mparts["frame"][group].iloc[mparts["local"]], group, at)

    def build(design_info, rows_frame, value):
        rows_frame = rows_frame.copy()
        if isinstance(rows_frame[group].dtype, pd.CategoricalDtype):
            rows_frame[group] = pd.Categorical(np.repeat(value, len(rows_frame)),
                                               dtype=rows_frame[group].dtype)
        else:
            rows_frame[group] = value
        try:
            (matrix,) = patsy.build_design_matrices([design_info], rows_frame,
                                                    NA_action="raise")
        except patsy.PatsyError as exc:
            raise ModelError(f"cannot predict for {group} = {value!r}: {exc}",
                             term=group) from exc
        return np.asarray(matrix, dtype=float)

    # The design matrix is built once; only the columns of the terms that read
    # `group` change with its value (from one row when they read nothing else).
    x_base = build(info, frame, groups[0])
    sub = info.subset([t.name() for t in group_terms])
    cols = np.concatenate([np.arange(x_base.shape[1])[info.term_slices[t]]
                           for t in group_terms])
    alone = all(set(_code_names(f.code, data.columns)) == {group}
                for t in group_terms for f in t.factors)
    w = np.asarray(design.weights, dtype=float)[rows]
    total = w.sum()
    beta = model.params.to_numpy()
    link = mparts["sm_family"].link
    fits = np.empty((len(rows), len(groups)))
    gradient = np.empty((len(beta), len(groups)))
    eta_base = x_base @ beta
    for k, g in enumerate(groups):
        if alone:  # the group's columns are one row repeated: no n x p copy
            row = build(sub, frame.iloc[:1], g)[0]
            eta = eta_base + (row - x_base[0, cols]) @ beta[cols]
            dw = w * link.inverse_deriv(eta)
            gradient[:, k] = dw @ x_base
            gradient[cols, k] = dw.sum() * row
        else:
            x_g = x_base.copy()
            x_g[:, cols] = build(sub, frame, g)
            eta = x_g @ beta
            gradient[:, k] = (w * link.inverse_deriv(eta)) @ x_g
        fits[:, k] = link.inverse(eta)
    gradient /= total
    estimate = w @ fits / total
    influence = np.zeros((len(data), len(groups)))
    influence[rows] = (fits - estimate) / total
    cond = np.asarray(parts["vdesign"].total_vcov(influence), dtype=float)
    cov = gradient.T @ model.vcov.to_numpy() @ gradient + cond
    return estimate, cov, groups


# ---------------------------------------------------------------------------
# Proportional-odds models (R svyolr)
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class OLRResult:
    """A design-based proportional-odds (ordinal logistic) model (R ``svyolr``).

    Attributes
    ----------
    formula : str
    params, bse : pandas.Series
        The coefficients, then the thresholds named ``"a|b"`` (R's ``zeta``,
        on the scale of the linear predictor: P(Y <= a) = expit(zeta - x b)).
    vcov : pandas.DataFrame
        Design-based covariance (sandwich: R ``svyolr``'s ``var``).
    df_resid : int
        Design degrees of freedom minus the coefficients (R ``df.residual``).
    nobs : int
    deviance : float
        2 x minus the weighted log pseudo-likelihood / mean weight (R).
    """

    formula: str
    params: pd.Series
    bse: pd.Series
    vcov: pd.DataFrame
    df_resid: int
    nobs: int
    deviance: float


def _olr_parts(theta, x, y, q):
    """Per-row log-likelihood, scores (n, p+q) and the two derivative rows of the bounds.

    P(Y = k) = F(zeta_k - eta) - F(zeta_{k-1} - eta), F logistic, zeta_{-1} =
    -inf, zeta_q = +inf; theta = (beta, zeta).
    """
    p = x.shape[1]
    beta, zeta = theta[:p], theta[p:]
    eta = x @ beta
    n = y.shape[0]
    top, bottom = y == q, y == 0
    a = np.where(top, np.inf, zeta[np.minimum(y, q - 1)] - eta)
    b = np.where(bottom, -np.inf, zeta[np.maximum(y - 1, 0)] - eta)
    Fa, Fb = scipy.special.expit(a), scipy.special.expit(b)
    fa, fb = Fa * (1 - Fa), Fb * (1 - Fb)
    pr = Fa - Fb
    A = np.zeros((n, p + q))
    B = np.zeros((n, p + q))
    A[:, :p] = -x
    B[:, :p] = -x
    rows = np.arange(n)
    A[rows[~top], p + y[~top]] = 1.0
    B[rows[~bottom], p + y[~bottom] - 1] = 1.0
    A[top] = 0.0
    B[bottom] = 0.0
    score = (fa[:, None] * A - fb[:, None] * B) / pr[:, None]
    return np.log(pr), score, (A, B, fa * (1 - 2 * Fa) / pr, fb * (1 - 2 * Fb) / pr)


def _olr_information(w, score, curvature):
    """Minus the Hessian of the weighted log-likelihood: sum w (g g' - f'(a)/pr AA' + f'(b)/pr BB')."""
    A, B, ca, cb = curvature
    return ((score * w[:, None]).T @ score - (A * (w * ca)[:, None]).T @ A
            + (B * (w * cb)[:, None]).T @ B)


def _olr_fit(x, y, q, w, start=None, tol=1e-11, max_iter=200):
    """Maximum weighted pseudo-likelihood by Newton steps (halved until the likelihood rises)."""
    p = x.shape[1]
    if start is None:
        cum = np.cumsum(np.bincount(y, weights=w, minlength=q + 1))[:q] / w.sum()
        start = np.concatenate([np.zeros(p), np.log(cum / (1 - cum))])
    theta = np.asarray(start, dtype=float)
    ll, score, curv = _olr_parts(theta, x, y, q)
    value = float(w @ ll)
    for _ in range(max_iter):
        grad = w @ score
        H = _olr_information(w, score, curv)
        step = np.linalg.solve(H, grad)
        t = 1.0
        while True:
            trial = theta + t * step
            if np.all(np.diff(trial[p:]) > 0):
                ll_t, score_t, curv_t = _olr_parts(trial, x, y, q)
                if np.isfinite(ll_t).all() and w @ ll_t >= value - 1e-12 * abs(value):
                    break
            t /= 2
            if t < 1e-10:
                raise ModelError("the proportional-odds fit did not converge")
        theta, ll, score, curv, value = trial, ll_t, score_t, curv_t, float(w @ ll_t)
        if np.max(np.abs(t * step)) < tol * (1 + np.max(np.abs(theta))):
            break
    else:
        raise ModelError(f"the proportional-odds fit did not converge in {max_iter} iterations")
    return theta, score, _olr_information(w, score, curv), value


def olr(design, formula):
    """Design-based proportional-odds model, logit link (R ``svyolr``).

    Parameters
    ----------
    design : ramlab.design.SurveyDesign
    formula : str
        ``"response ~ terms"``; the response is a categorical column whose
        categories are in order (3 or more), the terms as :func:`glm`'s.

    Returns
    -------
    OLRResult

    Notes
    -----
    Maximises the weighted pseudo-log-likelihood sum_i w_i log P(Y_i = y_i),
    P(Y <= k) = expit(zeta_k - x_i b), by Newton's method with the exact
    Hessian H; the covariance is the sandwich H^-1 Var(sum w_i U_i) H^-1,
    its middle term the design's (R ``svyolr``: ``svyrecvar`` of the scores
    times H^-1). R takes H from optim's numerical Hessian: its SEs agree to
    about 1e-4 only. On a replicate design each replicate is refitted from
    the full-sample estimates (R ``svyolr.svyrep.design``). Rows with a
    missing value leave the domain.
    """
    lhs, rhs = formula.split("~", 1)
    response = lhs.strip()
    data = design.data
    variables = _formula_variables(formula, data)
    weights = np.asarray(design.weights, dtype=float)
    frame, rows = _model_frame(data, variables, weights != 0)
    levels = data[response].cat.categories if isinstance(data[response].dtype, pd.CategoricalDtype) \
        else pd.Index(sorted(pd.unique(frame[response])))
    y = pd.Categorical(frame[response], categories=levels).codes.astype(np.int64)
    used = np.unique(y)
    if used.size < 3:
        raise ModelError(f"the response {response} needs 3 or more categories in the model", term=response)
    levels = levels[used]
    y = np.searchsorted(used, y)
    q = levels.size - 1
    x_df = patsy.dmatrix(rhs, frame, NA_action="raise", return_type="dataframe",
                         eval_env=patsy.EvalEnvironment([_ENV_NAMES]))
    x_df = x_df.drop(columns=[c for c in x_df.columns if c == "Intercept"])
    x = x_df.to_numpy(dtype=float)
    w = weights[rows]
    _refuse_negative_weights(w, formula)
    theta, score, H, value = _olr_fit(x, y, q, w)
    mask = np.zeros(len(weights), dtype=bool)
    mask[rows] = True
    vdesign = design if mask.sum() == np.count_nonzero(weights) else design.subset(
        pd.Series(mask, index=data.index))
    influence = np.zeros((len(weights), theta.size))
    influence[rows] = score @ np.linalg.inv(H)

    def refit(W):
        return np.vstack([_olr_fit(x, y, q, W[rows, j], start=theta)[0] for j in range(W.shape[1])])

    cov = np.asarray(vdesign.statistic_vcov(refit, influence), dtype=float)
    names = list(x_df.columns) + [f"{a}|{b}" for a, b in zip(levels[:-1], levels[1:])]
    params = pd.Series(theta, index=names, name="estimate")
    return OLRResult(
        formula=formula, params=params, bse=pd.Series(np.sqrt(np.diag(cov)), index=names, name="se"),
        vcov=pd.DataFrame(cov, index=names, columns=names), df_resid=int(vdesign.degf()) - x.shape[1],
        nobs=int(len(rows)), deviance=float(-2 * value / w.mean()),
    )
