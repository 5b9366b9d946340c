"""Exceptions raised by ramlab.

Every error names what is wrong (file, variable, category, value) in its
message, so that a researcher can fix the input without reading a traceback.
"""

import os
import sys
import warnings

__all__ = [
    "RamlabError",
    "DataFileError",
    "SpecError",
    "MarginError",
    "WeightError",
    "ConvergenceError",
    "BoundsError",
    "LonelyPSUError",
    "TableError",
    "DesignError",
    "ColumnNotFoundError",
    "ModelError",
    "BuildError",
    "ParameterError",
    "MarginRescaledWarning",
]


class RamlabError(Exception):
    """Base class of every error ramlab raises on purpose."""


class DataFileError(RamlabError):
    """A survey file is missing, damaged, or lacks a variable the spec needs."""

    def __init__(self, message, *, path=None, variable=None):
        super().__init__(message)
        self.path = path
        self.variable = variable


class SpecError(RamlabError):
    """A survey specification, population-margin or generator file is invalid.

    ``path`` names the file, ``key`` the dotted key at fault, and ``line`` and
    ``column`` (1-based) the place in the file when it is known (YAML syntax
    errors, duplicate keys).
    """

    def __init__(self, message, *, path=None, key=None, line=None, column=None):
        super().__init__(message)
        self.path = path
        self.key = key
        self.line = line
        self.column = column


class MarginError(RamlabError, ValueError):
    """Weighting margins or totals cannot be used with the data."""

    def __init__(self, message, *, variable=None, category=None):
        super().__init__(message)
        self.variable = variable
        self.category = category


class WeightError(RamlabError, ValueError):
    """Weights are negative, missing or infinite."""

    def __init__(self, message, *, variable=None):
        super().__init__(message)
        self.variable = variable


class ConvergenceError(RamlabError):
    """An iterative weighting did not reach its tolerance."""

    def __init__(self, message, *, max_error=None, iterations=None):
        super().__init__(message)
        self.max_error = max_error
        self.iterations = iterations


class BoundsError(RamlabError, ValueError):
    """Calibration or trimming bounds cannot be met."""


class LonelyPSUError(RamlabError):
    """A stratum has a single PSU and the lonely-PSU option is "fail"."""

    def __init__(self, message, *, stratum=None, stage=None):
        super().__init__(message)
        self.stratum = stratum
        self.stage = stage


class TableError(RamlabError, ValueError):
    """A table asks for a row, column, group or question type the data cannot give."""


class DesignError(RamlabError, ValueError):
    """An estimator is given a variable, mask or option it cannot use (names it and what is accepted)."""

    def __init__(self, message, *, variable=None):
        super().__init__(message)
        self.variable = variable


class ModelError(RamlabError, ValueError):
    """A model term is absent, constant, separated or too thinly observed."""

    def __init__(self, message, *, term=None):
        super().__init__(message)
        self.term = term


class BuildError(RamlabError):
    """A report build failed."""


class ParameterError(BuildError, ValueError):
    """A notebook parameter is unknown or has the wrong type."""


class MarginRescaledWarning(UserWarning):
    """A population margin published as rounded shares was rescaled to the population.

    :func:`ramlab.io.spec.load_spec` warns once per margin file;
    :func:`ramlab.load_survey` gathers them into one warning per survey load,
    and the loaded survey states them in French (``Survey.margin_notes``, the
    methodology box).
    """


class ColumnNotFoundError(DesignError, KeyError):
    """A column the call names is not in the data (also a ``KeyError``, as pandas raises)."""

    def __str__(self):  # KeyError would quote the message
        return self.args[0]


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message, category=UserWarning):
    """Warn at the line of the first caller outside ramlab.

    The warning shows the user's line (a notebook cell, a script), whatever
    the path of ramlab calls that led to it, as pandas' ``find_stack_level``
    does; a fixed ``stacklevel`` would point into ramlab whenever a function
    is reached through another one.
    """
    frame, level = sys._getframe(0), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
