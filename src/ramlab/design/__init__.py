"""The survey design object and its estimators (R ``svydesign`` and ``svymean`` & co.)."""

from ramlab.design._design import (
    CHISQ_STATISTICS,
    CIPROP_METHODS,
    ChisqResult,
    Design,
    DomainPlan,
    chisq_from_totals,
)

__all__ = ["CHISQ_STATISTICS", "CIPROP_METHODS", "ChisqResult", "Design", "DomainPlan", "chisq_from_totals"]
