"""A notebook's parameters: read its typed ``parameters`` cell, check what a build injects.

papermill only warns about a parameter the notebook does not declare;
ramlab refuses it, and a value of the wrong type, before anything runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

from ramlab.errors import BuildError, ParameterError

__all__ = ["notebook_parameters", "validate_parameters", "check_parameters"]

_TYPES = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list, tuple),
    "tuple": (list, tuple),
    "dict": (dict,),
}


def notebook_parameters(notebook) -> dict:
    """The parameters a notebook declares, as ``papermill.inspect_notebook`` reads them.

    Returns
    -------
    dict
        ``{name: {"name", "inferred_type_name", "default", "help"}}``; empty
        when the notebook has no cell tagged ``parameters``.
    """
    import papermill

    notebook = Path(notebook)
    if not notebook.is_file():
        raise BuildError(f"notebook not found: {notebook}")
    return dict(papermill.inspect_notebook(str(notebook)))


def _declared_type(declared: dict) -> str | None:
    """Type name of a declared parameter: its annotation, else its literal default's type."""
    name = declared.get("inferred_type_name") or "None"
    if name != "None":
        return name.split("[", 1)[0]  # "list[str]" -> "list"
    try:
        default = ast.literal_eval(declared.get("default") or "None")
    except (ValueError, SyntaxError):
        return None
    return None if default is None else type(default).__name__


def validate_parameters(declared: dict, parameters: dict, *, notebook=None) -> None:
    """Check `parameters` against the parameters a notebook declares.

    Parameters
    ----------
    declared : dict
        As returned by :func:`notebook_parameters`.
    parameters : dict
        The values a build would inject.
    notebook : path, optional
        Named in error messages.

    Raises
    ------
    ParameterError
        Naming the parameter: unknown to the notebook, or of another type than
        its typed default (an int is accepted for a float; a bool is not an int).
    """
    where = f" of {notebook}" if notebook is not None else ""
    for name, value in parameters.items():
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise ParameterError(
                f"unknown parameter {name!r} for the notebook{where} "
                f"(its parameters cell declares: {known})"
            )
        type_name = _declared_type(declared[name])
        accepted = _TYPES.get(type_name) if type_name else None
        if accepted is None:
            continue  # no type to check against (None default, or a custom type)
        wrong_bool = isinstance(value, bool) and bool not in accepted
        if wrong_bool or not isinstance(value, accepted):
            raise ParameterError(
                f"parameter {name!r} of the notebook{where} must be {type_name} "
                f"(default {declared[name].get('default')}), got "
                f"{type(value).__name__} {value!r}"
            )


def check_parameters(notebook, parameters: dict) -> None:
    """Read the notebook's parameters cell and validate `parameters` against it."""
    validate_parameters(notebook_parameters(notebook), parameters, notebook=notebook)
