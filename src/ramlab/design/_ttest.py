"""Design-based t test of a difference of means between two groups (R ``svyttest``).

R fits ``svyglm(var ~ group)`` and tests the group's coefficient (the
difference of the two domain means, second group minus first) on t with the
model's residual degrees of freedom (``degf(design) - 1``). ramlab does the
same through :func:`ramlab.models.glm`. Tests: ``tests/design/test_ttest_wald.py``
against ``tests/fixtures/r/tables.json`` (``svyttest`` cases) and
``tests/design/test_contrast_ratio_corners.py`` (``extra_contrast.json``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ramlab.design._columns import categorical_column, column
from ramlab.errors import DesignError, WeightError

__all__ = ["TTest", "ttest"]


@dataclass(frozen=True)
class TTest:
    """A t test of the difference of two means (R ``svyttest``'s ``htest``).

    Attributes
    ----------
    estimate : float
        Mean of the second group minus mean of the first.
    se, statistic, df, p_value : float
        Its linearised SE, t = estimate / se, the residual df of R's model
        (design df - 1) and the two-sided p-value.
    ci_low, ci_high : float
        Confidence interval of the difference on t(df).
    groups : tuple of str
        The two groups, in the order of the difference (first, second).
    """

    estimate: float
    se: float
    statistic: float
    df: float
    p_value: float
    ci_low: float
    ci_high: float
    groups: tuple


def ttest(design, var, group, *, level=0.95):
    """:meth:`SurveyDesign.ttest`: see its docstring."""
    from scipy import stats

    y = column(design.data, var, "variable")
    g = categorical_column(design.data, group, "group variable")
    if not pd.api.types.is_numeric_dtype(y.dtype) or isinstance(y.dtype, pd.CategoricalDtype):
        raise DesignError(
            f"ttest: {var!r} is not numeric ({y.dtype}); for a share, test a 0/1 column, "
            f"e.g. data[{var!r}].eq('Oui').astype(float) where the answer is known",
            variable=var,
        )
    in_model = (design.weight_values != 0) & y.notna().to_numpy() & g.notna().to_numpy()
    negative = int(np.count_nonzero(design.weight_values[in_model] < 0))
    if negative:
        raise WeightError(
            f"ttest of {var!r} by {group!r}: negative weights not allowed (R's svyttest fits "
            f"svyglm, whose glm refuses them): {negative} rows have a negative weight; "
            "calibrate with bounds (bounds=) to keep the weights positive", variable="weight",
        )
    present = [c for c in (g.cat.categories if isinstance(g.dtype, pd.CategoricalDtype)
                           else sorted(g[in_model].unique()))
               if (g[in_model] == c).any()]
    if len(present) != 2:
        raise DesignError(
            f"ttest: group {group!r} must have exactly two groups with respondents, "
            f"it has {len(present)}: {list(present)[:6]}", variable=group,
        )
    fit = design.glm(f'Q("{var}") ~ C(Q("{group}"), levels={[*present]!r})')
    estimate, se = float(fit.params.iloc[1]), float(fit.bse.iloc[1])
    t = estimate / se
    df = float(fit.df_resid)
    q = stats.t.ppf(0.5 + level / 2, df)
    return TTest(estimate=estimate, se=se, statistic=t, df=df,
                 p_value=float(2 * stats.t.sf(abs(t), df)),
                 ci_low=estimate - q * se, ci_high=estimate + q * se,
                 groups=tuple(str(c) for c in present))
