"""Linearisation variance: the multistage estimator (R ``svyrecvar``)."""

from ramlab.variance._multistage import LONELY_PSU_OPTIONS, Stage, multistage_vcov, row_psu_scale

__all__ = ["LONELY_PSU_OPTIONS", "Stage", "multistage_vcov", "row_psu_scale"]
