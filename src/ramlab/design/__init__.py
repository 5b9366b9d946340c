"""The survey design object and its estimators (R ``svydesign`` and ``svymean`` & co.).

Where to look (R function: module; test):

- ``svydesign``: ``_design.py`` (:class:`Design`: data, weights, domains,
  weighting methods) and ``_structure.py`` (strata, clusters, fpc);
  ``tests/design/test_design.py``;
- ``svymean``, ``svytotal``, ``svyby``, ``deff``: ``_estimates.py``;
  ``tests/design/test_design.py``, ``tests/design/test_extra_statscore.py``;
- ``svyciprop``: ``_ciprop.py``, with R's glm/profile/spline numerics in
  ``_rcompat.py``; ``tests/design/test_ciprop.py``;
- ``svychisq``: ``_chisq.py`` (:func:`chisq_from_totals` is shared with the
  banner tables); ``tests/design/test_chisq.py``;
- domains (``subset``, R's row counts): :meth:`Design.subset`,
  :attr:`Design.held_rows`; the banner's domain covariance is
  :class:`ramlab.variance.DomainPlan`, ``tests/design/test_domain_vcov.py``.

Standard errors come from the design's variance engine
(:mod:`ramlab.variance`); weighting from :mod:`ramlab.weighting`; models
(``svyglm``) from :mod:`ramlab.models`. R reference values and the scripts
that made them: ``tests/fixtures/r/``.
"""

from ramlab.design._chisq import CHISQ_STATISTICS, ChisqResult, chisq_from_totals
from ramlab.design._ciprop import CIPROP_METHODS
from ramlab.design._design import Design
from ramlab.variance import DomainPlan

__all__ = ["CHISQ_STATISTICS", "CIPROP_METHODS", "ChisqResult", "Design", "DomainPlan", "chisq_from_totals"]
