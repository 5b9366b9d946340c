"""Banner tables: weighted percentages, bases, significance letters, trends, charts.

The public face is :func:`crosstab`, :func:`banner`, :func:`trend`, the
:class:`Table` they return, :func:`weighted_quantile`, :class:`Contrast` and
:mod:`ramlab.tables.charts`. Every cell is a design-based estimate on the full
weighted design: a column percentage is a domain ratio
``sum(w*y*m) / sum(w*z*m)`` (R: ``svyby(~y, ~g, design, svymean)``), every
sub-base and column a domain, and the standard errors of one question come
from one joint covariance of the weighted totals behind it
(``Design.domain_plan``), carried to ratios, nets, means and differences by the
delta method (R: ``svyby(..., covmat = TRUE)`` then ``svycontrast``).

Modules, one concern each:

- ``_questions``: a question, its base and categories resolved against the
  data (its *atoms* and the estimates built on them); the banner's columns;
- ``_estimation``: the cells of one question in every column, their joint
  covariance and gradients; ``_medians``: the medians of a numeric question
  (:func:`weighted_quantile`, R ``svyquantile`` qrule "math") with their
  Woodruff SE and interval in each column's domain;
- ``significance``: letters and + / − marks (t tests of contrasts), p-value
  adjustment (R ``p.adjust``), Rao-Scott tests (R ``svychisq``);
- ``_banner``: :func:`banner` and :func:`crosstab`, which stack the questions
  into a :class:`Table` (``_table``) with its :class:`TableOptions`
  (``_options``);
- ``_render`` (French cells, notes, HTML) and ``_excel`` (.xlsx): what a reader sees;
- ``_trend``: :func:`trend`, a question across survey years; ``_trend_by``, its
  ``by=`` (a trend per subgroup); ``_stacked``, tables of stacked years
  (``ramlab.stack``: an answer a year did not offer is missing, never 0 %);
- ``charts``: the report charts (seaborn).

References: R survey 4.1-1 ``svyby``, ``svymean``, ``svyratio``,
``svycontrast``, ``svyquantile``, ``svychisq``; Lumley (2010), *Complex
Surveys*, ch. 2-3; Rao & Scott (1984). Tests: ``tests/tables/``, against
``tests/fixtures/r/estimation.json``, ``quantile.json`` and ``extra_tables.json``.
"""

from ramlab.tables._banner import banner, crosstab
from ramlab.tables._estimation import weighted_quantile
from ramlab.tables._options import QuestionInfo, TableOptions
from ramlab.tables._table import Contrast, Table
from ramlab.tables._trend import trend

__all__ = ["Contrast", "Table", "banner", "crosstab", "trend", "weighted_quantile"]
