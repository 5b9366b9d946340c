"""The survey design object and its estimators (R ``svydesign`` and ``svymean`` & co.).

Where to look (R function: module; test):

- the estimators, once for every design class: ``_base.py``
  (:class:`SurveyDesign`; R's generics);
- ``svydesign``: ``_design.py`` (:class:`Design`: linearised; domains,
  ``replicate()``) and ``_structure.py`` (strata, clusters, fpc);
  ``tests/design/test_design.py``;
- ``svrepdesign``, ``as.svrepdesign``: ``_replicate.py``
  (:class:`ReplicateDesign`) and ``_conversion.py`` (JK1, JKn, BRR, Fay,
  bootstrap replicates of a design); ``tests/design/test_replicate.py``;
- ``svymean``, ``svytotal``, ``svyby``, ``deff``: ``_estimates.py``;
  ``tests/design/test_design.py``, ``tests/design/test_extra_statscore.py``;
- ``svyciprop``: ``_ciprop.py``, with R's glm/profile/spline numerics in
  ``_rcompat.py``; ``tests/design/test_ciprop.py``;
- ``svyratio``, ``svyvar``: ``_ratio.py``; ``svycontrast``: ``_contrast.py``;
  the joint covariance of several means: ``_estimates.py``;
  ``tests/design/test_ratio.py``;
- ``svyquantile``: ``_quantile.py`` (:func:`quantile_rule`, R's ``qrule``, shared
  with the banner's medians); ``tests/design/test_quantile.py``;
- ``svychisq``: ``_chisq.py`` (:func:`chisq_from_totals` is shared with the
  banner tables); ``tests/design/test_chisq.py``;
- stacked independent samples (the years of a survey, ``ramlab.stack``):
  ``_stack.py`` (:func:`stack_designs`); ``tests/design/test_stack.py``;
- domains (``subset``, R's row counts): :meth:`Design.subset`,
  :attr:`Design.held_rows`; the banner's domain covariance is
  :class:`ramlab.variance.DomainPlan`, ``tests/design/test_domain_vcov.py``.

Standard errors come from the design's variance engine
(:mod:`ramlab.variance`); weighting from :mod:`ramlab.weighting`; models
(``svyglm``) from :mod:`ramlab.models`. R reference values and the scripts
that made them: ``tests/fixtures/r/``.
"""

from ramlab.design._chisq import CHISQ_STATISTICS, ChisqResult, chisq_from_totals, chisqsum_sf, fsum_sf
from ramlab.design._ciprop import CIPROP_METHODS
from ramlab.design._base import SurveyDesign
from ramlab.design._design import Design
from ramlab.design._display import design_facts, facts_html
from ramlab.design._quantile import quantile_rule
from ramlab.design._replicate import ReplicateDesign
from ramlab.design._stack import stack_designs
from ramlab.design._ttest import TTest
from ramlab.variance import DomainPlan

__all__ = [
    "CHISQ_STATISTICS", "CIPROP_METHODS", "ChisqResult", "Design", "DomainPlan", "ReplicateDesign",
    "SurveyDesign", "TTest", "chisq_from_totals", "design_facts", "facts_html", "quantile_rule",
    "stack_designs",
]
