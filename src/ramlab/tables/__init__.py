"""Cross-tabulations and banner tables (weighted %, bases, significance letters), trends, charts."""

from ramlab.tables._tables import Contrast, Table, banner, crosstab, trend, weighted_quantile

__all__ = ["Contrast", "Table", "banner", "crosstab", "trend", "weighted_quantile"]
