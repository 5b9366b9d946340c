"""Read SPSS ``.sav`` survey files as delivered by the polling institute.

The institute delivers numeric codes with French value labels, variable labels,
user-missing codes (e.g. 9 = "Ne sait pas") and one weight column or none.
:func:`read_sav` turns such a file into a pandas DataFrame whose labelled
variables are categoricals in code order, and records the file's metadata in
``DataFrame.attrs``.

The synthetic mark is read from the file itself (its file label or one of its
notes, see :data:`SYNTHETIC_LABEL` and :data:`SYNTHETIC_NOTE`); no argument can
turn it off, so that every report built on a synthetic file says so.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ramlab.errors import DataFileError
from ramlab.spec import normalize_label

__all__ = [
    "read_sav",
    "require_columns",
    "is_synthetic_mark",
    "SYNTHETIC_LABEL",
    "SYNTHETIC_NOTE",
    "WEIGHT_NOTE_PREFIX",
]

#: File label written by ``ramlab synth`` (SPSS file labels hold 64 bytes).
SYNTHETIC_LABEL = "DONNEES SYNTHETIQUES - ne pas diffuser comme resultats reels"
#: Document note written by ``ramlab synth``; either mark is enough.
SYNTHETIC_NOTE = "ramlab:synthetic=true"
#: Document note naming the delivered weight column, e.g. ``ramlab:weight=poids``.
WEIGHT_NOTE_PREFIX = "ramlab:weight="

# Names institutes commonly give the delivered weight column, used when the
# file carries no ``ramlab:weight=`` note (SPSS's own WEIGHT BY setting is not
# exposed by ReadStat).
_WEIGHT_NAMES = ("poids", "pond", "ponderation", "pondération", "weight", "wgt", "coef")


def is_synthetic_mark(file_label, notes) -> bool:
    """Return True when a file label or a document note marks synthetic data.

    Parameters
    ----------
    file_label : str or None
        The SPSS file label.
    notes : list of str or None
        The SPSS document notes.
    """
    label = _fold(file_label or "")
    if label.startswith("DONNEES SYNTHETIQUES"):
        return True
    return any(SYNTHETIC_NOTE in (note or "") for note in (notes or []))


def _fold(text: str) -> str:
    """Upper-case ASCII fold of a French label ("Données" -> "DONNEES")."""
    table = str.maketrans("ÉÈÊËÀÂÎÏÔÙÛÇ", "EEEEAAIIOUUC")
    return text.upper().translate(table)


def _is_missing_code(value: float, ranges) -> bool:
    for rng in ranges:
        lo, hi = rng["lo"], rng["hi"]
        if isinstance(lo, str) or isinstance(hi, str):
            if value == lo or value == hi:
                return True
        elif lo <= value <= hi:
            return True
    return False


def _code_key(code):
    """Normalise a numeric code to int when it is integral (9.0 -> 9)."""
    if isinstance(code, float) and code.is_integer():
        return int(code)
    return code


def _format_code(code) -> str:
    code = _code_key(code)
    return str(code)


def read_sav(path) -> pd.DataFrame:
    """Read an SPSS ``.sav`` file into a DataFrame with labelled categoricals.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.sav`` (or ``.zsav``) file.

    Returns
    -------
    pandas.DataFrame
        One row per respondent. Every variable with value labels is a pandas
        Categorical whose categories are the French labels **in code order**
        (not alphabetical); it is ordered when the SPSS measure level is
        "ordinal". Values that carry no label keep their code as text. A
        user-missing code (e.g. 9 "Ne sait pas") stays a category, listed in
        ``attrs["user_missing"][var]``; a true (system) missing value is NaN.
        Unlabelled numeric variables stay float64.

        ``attrs`` holds: ``"file"`` (path string), ``"file_label"``,
        ``"notes"``, ``"variable_labels"`` {var: label},
        ``"value_labels"`` {var: {code: label}}, ``"user_missing"``
        {var: [labels]}, ``"measure"`` {var: SPSS measure level},
        ``"synthetic"`` (bool, from the file's own mark) and ``"weight"``
        (the delivered weight column, or None).

    Raises
    ------
    DataFileError
        The file does not exist, cannot be parsed (damaged or not a ``.sav``),
        or a labelled variable has two codes with the same label. The error
        names the file (``.path``) and, where one is involved, the variable.

    Notes
    -----
    Reading is done by ReadStat through pyreadstat with ``user_missing=True``,
    the equivalent of haven's ``read_sav(user_na = TRUE)`` in R.
    """
    import pyreadstat

    path = Path(os.fspath(path))
    if not path.is_file():
        raise DataFileError(f"Survey file not found: {path}", path=str(path))
    try:
        raw, meta = pyreadstat.read_sav(str(path), user_missing=True)
    except Exception as exc:  # ReadstatError, PyreadstatError, OSError, UnicodeError
        raise DataFileError(
            f"Survey file {path} is damaged or is not an SPSS .sav file ({exc})",
            path=str(path),
        ) from exc

    value_labels_all = meta.variable_value_labels or {}
    missing_ranges = meta.missing_ranges or {}
    measures = meta.variable_measure or {}

    columns = {}
    value_labels: dict[str, dict] = {}
    user_missing: dict[str, list[str]] = {}
    for var in raw.columns:
        series = raw[var]
        labels = value_labels_all.get(var)
        ranges = missing_ranges.get(var, [])
        if not labels or series.dtype == object or pd.api.types.is_string_dtype(series):
            columns[var] = series
            if labels:
                value_labels[var] = dict(labels)
            continue
        values = series.to_numpy(dtype=float)
        present = np.unique(values[~np.isnan(values)])
        code_to_label = {_code_key(float(c)): normalize_label(str(lab)) for c, lab in labels.items()}
        for code in present:
            key = _code_key(float(code))
            if key not in code_to_label:
                code_to_label[key] = _format_code(key)
        codes = sorted(code_to_label)
        cat_labels = [code_to_label[c] for c in codes]
        if len(set(cat_labels)) != len(cat_labels):
            dup = sorted({lab for lab in cat_labels if cat_labels.count(lab) > 1})
            raise DataFileError(
                f"Survey file {path}: variable {var!r} gives the same label to several "
                f"codes ({', '.join(map(repr, dup))})",
                path=str(path),
                variable=var,
            )
        index = {code: i for i, code in enumerate(codes)}
        int_codes = np.full(len(values), -1, dtype=np.int64)
        ok = ~np.isnan(values)
        int_codes[ok] = [index[_code_key(float(v))] for v in values[ok]]
        ordered = measures.get(var) == "ordinal"
        columns[var] = pd.Categorical.from_codes(
            int_codes, categories=cat_labels, ordered=ordered
        )
        value_labels[var] = {c: code_to_label[c] for c in codes}
        miss = [code_to_label[c] for c in codes if _is_missing_code(float(c), ranges)]
        if miss:
            user_missing[var] = miss

    df = pd.DataFrame(columns, index=pd.RangeIndex(len(raw)))
    notes = list(meta.notes or [])
    variable_labels = {
        var: lab for var, lab in (meta.column_names_to_labels or {}).items() if lab
    }
    df.attrs.update(
        {
            "file": str(path),
            "file_label": meta.file_label or "",
            "notes": notes,
            "variable_labels": variable_labels,
            "value_labels": value_labels,
            "user_missing": user_missing,
            "measure": dict(measures),
            "synthetic": is_synthetic_mark(meta.file_label, notes),
            "weight": _find_weight(df, notes, value_labels),
        }
    )
    return df


def _find_weight(df: pd.DataFrame, notes, value_labels) -> str | None:
    for note in notes:
        for line in (note or "").splitlines():
            line = line.strip()
            if line.startswith(WEIGHT_NOTE_PREFIX):
                name = line[len(WEIGHT_NOTE_PREFIX):].strip()
                if name in df.columns:
                    return name
    for var in df.columns:
        if var.lower() in _WEIGHT_NAMES and var not in value_labels:
            if pd.api.types.is_numeric_dtype(df[var]):
                return var
    return None


def require_columns(df: pd.DataFrame, columns, *, path=None) -> None:
    """Raise DataFileError naming the file and the first absent variable.

    Parameters
    ----------
    df : pandas.DataFrame
        A frame returned by :func:`read_sav`.
    columns : iterable of str
        The variables a specification needs.
    path : str, optional
        The file to name; defaults to ``df.attrs["file"]``.
    """
    path = path if path is not None else df.attrs.get("file")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        more = f" (also absent: {', '.join(missing[1:])})" if len(missing) > 1 else ""
        raise DataFileError(
            f"Survey file {path} lacks variable {missing[0]!r}, which the spec needs{more}",
            path=path,
            variable=missing[0],
        )

