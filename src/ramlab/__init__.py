"""ramlab: survey weighting, design-based estimation and report tables for the IMPACT studies.

The public names are loaded lazily, so that ``ramlab build`` can decide what
to rebuild without importing pandas, numpy or matplotlib.
"""

from importlib import import_module

__version__ = "0.1.0"

_PUBLIC = {
    "Design": "ramlab.design",
    "ReplicateDesign": "ramlab.design",
    "weight_summary": "ramlab.weighting",
    "read_sav": "ramlab.io.sav",
    "load_spec": "ramlab.io.spec",
    "load_survey": "ramlab.io.survey",
    "stack": "ramlab.io.stacking",
    "crosstab": "ramlab.tables",
    "banner": "ramlab.tables",
    "charts": "ramlab.tables.charts",
    "errors": "ramlab.errors",
}
_PUBLIC.update(
    dict.fromkeys(
        [
            "RamlabError", "DataFileError", "SpecError", "MarginError", "WeightError",
            "ConvergenceError", "BoundsError", "LonelyPSUError", "TableError",
            "DesignError", "ColumnNotFoundError", "ModelError", "BuildError", "ParameterError",
        ],
        "ramlab.errors",
    )
)

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'ramlab' has no attribute {name!r}")
    mod = import_module(module)
    value = mod if module.endswith("." + name) else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
