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

import datetime as _dt
import math
import os
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from ramlab.errors import DataFileError, warn
from ramlab.files import record_input
from ramlab.io.labels import normalize_label

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


def _code_key(code):
    """Normalise a numeric code to int when it is integral (9.0 -> 9)."""
    if isinstance(code, (float, np.floating)) and float(code).is_integer():
        return int(code)
    if isinstance(code, np.integer):
        return int(code)
    return code


def _ranges(declared) -> list[tuple]:
    """The user-missing declaration of a variable as (lo, hi) pairs (lo == hi: one code)."""
    out = []
    for rng in declared or []:
        lo, hi = rng["lo"], rng["hi"]
        if isinstance(lo, str) or isinstance(hi, str):
            out.append((str(lo).rstrip(), str(hi).rstrip()))
        elif isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
            out.append((_code_key(float(lo)), _code_key(float(hi))))
        else:  # a date variable's range, as pyreadstat converts it
            out.append((lo, hi))
    return out


def _in_ranges(value, ranges) -> bool:
    for lo, hi in ranges:
        if isinstance(lo, str):
            if value == lo or value == hi:
                return True
        elif not isinstance(value, str) and lo <= value <= hi:
            return True
    return False


def _missing_mask(values: np.ndarray, ranges) -> np.ndarray:
    """Boolean mask of the float `values` that a numeric user-missing declaration covers."""
    mask = np.zeros(values.shape, dtype=bool)
    for lo, hi in ranges:
        if lo == hi:
            mask |= values == lo
        else:
            mask |= (values >= lo) & (values <= hi)
    return mask


def _smallest_codes(n_categories: int):
    for dtype in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(dtype).max:
            return dtype
    return np.int64


# SPSS formats that pyreadstat turns into dates, datetimes and times (its own
# lists), counted in seconds since the Gregorian calendar's first day.
_DATE_FORMATS = {"DATE", "ADATE", "EDATE", "JDATE", "SDATE"}
_DATETIME_FORMATS = {"DATETIME", "YMDHMS"}
_TIME_FORMATS = {"TIME", "DTIME"}
_SPSS_ORIGIN = _dt.datetime(1582, 10, 14)


def _format_kind(spss_format) -> str | None:
    name = re.match(r"[A-Za-z]*", str(spss_format or "")).group(0).upper()
    if name in _DATE_FORMATS:
        return "date"
    if name in _DATETIME_FORMATS:
        return "datetime"
    if name in _TIME_FORMATS:
        return "time"
    return None


def _spss_datetime(seconds: float) -> _dt.datetime:
    """A value of an SPSS date variable as pyreadstat converts it (may overflow)."""
    days = math.floor(seconds / 86400)
    secs = int(seconds % 86400)
    usecs = int(round(seconds % 1 * 1e6))
    return _SPSS_ORIGIN + _dt.timedelta(days, secs, usecs)


def _convert_dates(path, raw: pd.DataFrame, meta) -> tuple[pd.DataFrame, dict]:
    """Convert the date columns of a frame read without date conversion.

    Used only when pyreadstat's own conversion failed (a value beyond Python's
    datetime, years 1 to 9999). Columns whose values all convert get the types
    pyreadstat gives them (``datetime.date`` objects, ``datetime64[us]``,
    ``datetime.time`` objects); a column with a value out of range stays in
    SPSS seconds since 14 October 1582, with a warning naming it.
    """
    kept = {}
    formats = meta.original_variable_types or {}
    for var in raw.columns:
        kind = _format_kind(formats.get(var))
        if kind is None or raw[var].dtype.kind != "f":
            continue
        values = raw[var].to_numpy()
        converted = []
        try:
            for v in values:
                if np.isnan(v):
                    converted.append(None)
                    continue
                stamp = _spss_datetime(float(v))
                converted.append(
                    stamp.date() if kind == "date" else stamp.time() if kind == "time" else stamp
                )
        except (OverflowError, ValueError):
            bad = next(v for v in values if not np.isnan(v) and not _fits_datetime(float(v)))
            warn(
                f"Survey file {path}: variable {var!r} (format {formats.get(var)}) holds "
                f"{bad!r}, a date beyond the years 1 to 9999; the column is kept as numbers "
                f"(SPSS seconds since 14 October 1582)",
            )
            kept[var] = str(formats.get(var))
            continue
        if kind == "datetime":
            raw[var] = pd.Series(
                np.array([np.datetime64("NaT") if c is None else c for c in converted],
                         dtype="datetime64[us]"),
                index=raw.index,
            )
        else:
            raw[var] = pd.Series(
                np.array([np.nan if c is None else c for c in converted], dtype=object),
                index=raw.index,
            )
    return raw, kept


def _fits_datetime(seconds: float) -> bool:
    try:
        _spss_datetime(seconds)
    except (OverflowError, ValueError):
        return False
    return True


def _read_raw(path: Path, encoding):
    """pyreadstat's read with user-missing codes; dates beyond Python's range kept as numbers."""
    import pyreadstat

    options = {"user_missing": True}
    if encoding is not None:
        options["encoding"] = encoding
    try:
        raw, meta = pyreadstat.read_sav(str(path), **options)
        return raw, meta, {}
    except Exception as exc:  # ReadstatError, PyreadstatError, OSError, OverflowError
        first = exc
    # pyreadstat converts dates value by value into Python's datetime: a valid
    # file with a date beyond year 9999 (or before year 1) fails there. Read the
    # numbers instead; if that works, the file was sound.
    try:
        raw, meta = pyreadstat.read_sav(str(path), disable_datetime_conversion=True, **options)
    except Exception:
        raise _read_error(path, first, encoding) from first
    raw, kept = _convert_dates(path, raw, meta)
    return raw, meta, kept


def _read_error(path: Path, exc: Exception, encoding) -> DataFileError:
    text = str(exc)
    if "encoding" in text.lower() or "character set" in text.lower():
        if encoding is not None:
            return DataFileError(
                f"Survey file {path} cannot be decoded as {encoding!r} ({text}); give the "
                f"encoding its text is written in, e.g. read_sav(path, encoding='cp1252')",
                path=str(path),
            )
        return DataFileError(
            f"Survey file {path}: its text does not match the encoding the file declares "
            f"({text}); give the right one with read_sav(path, encoding=...), e.g. "
            f"encoding='cp1252' or 'utf-8'",
            path=str(path),
        )
    return DataFileError(
        f"Survey file {path} is damaged or is not an SPSS .sav file ({text})", path=str(path)
    )


def _check_names(path: Path, names, encoding) -> None:
    """Column names must be text: a wrong encoding record gives None or control bytes."""
    for position, name in enumerate(names, start=1):
        bad = (
            not isinstance(name, str)
            or not name.strip()
            or "\ufffd" in name
            or any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name)
        )
        if bad:
            hint = (
                f"the encoding {encoding!r} given does not fit it"
                if encoding is not None
                else "its declared encoding is probably wrong"
            )
            raise DataFileError(
                f"Survey file {path}: variable {position} has no readable name ({name!r}); "
                f"{hint}: give the encoding of its text with read_sav(path, encoding=...), "
                f"e.g. encoding='cp1252'",
                path=str(path),
                variable=name if isinstance(name, str) else None,
            )


def read_sav(path, *, encoding=None) -> pd.DataFrame:
    """Read an SPSS ``.sav`` file into a DataFrame with labelled categoricals.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.sav`` (or ``.zsav``) file.
    encoding : str, optional
        The encoding of the file's text (names, labels, strings), e.g.
        ``"cp1252"``, ``"utf-8"``, ``"cp1255"`` (iconv names). By default the
        encoding the file declares; give it when that declaration is wrong.

    Returns
    -------
    pandas.DataFrame
        One row per respondent.

        A variable with value labels that cover most of its distinct values
        (at least half of them; numeric or string) is a pandas Categorical
        whose categories are the labels **in code order** (not alphabetical);
        it is ordered when the SPSS measure level is "ordinal". Values that
        carry no label keep their code as text. A user-missing code (e.g. 9
        "Ne sait pas") stays a category, listed in ``attrs["user_missing"][var]``;
        a true (system) missing value, or a blank string, is NaN.

        Other variables keep their values: numbers as float64, text as
        strings, dates as pyreadstat gives them. There, user-missing codes
        (discrete values and ranges) are NaN, as in pyreadstat's and haven's
        default reads, and the codes found are counted in
        ``attrs["missing_codes"][var]`` {code: respondents}. Their value
        labels, if any, stay in ``attrs["value_labels"]``. A date column
        holding a value beyond Python's datetime (years 1 to 9999) stays in
        SPSS seconds, with a ``UserWarning`` naming it (``attrs["raw_dates"]``).

        ``attrs`` holds: ``"file"`` (path string), ``"file_label"``,
        ``"notes"``, ``"encoding"`` (the one used), ``"variable_labels"``
        {var: label}, ``"value_labels"`` {var: {code: label}},
        ``"user_missing"`` {var: [categories]}, ``"missing_ranges"`` {var:
        [(lo, hi)]} (the file's user-missing declaration; lo == hi for one
        code), ``"missing_codes"``, ``"raw_dates"`` {var: SPSS format},
        ``"measure"`` {var: SPSS measure level}, ``"synthetic"`` (bool, from
        the file's own mark) and ``"weight"`` (the delivered weight column, or
        None). Value labels are in :func:`ramlab.io.labels.normalize_label` form
        (NFC, no invisible whitespace), as the spec's labels are.

    Raises
    ------
    DataFileError
        The path does not exist or is a directory, the file cannot be parsed
        (damaged or not a ``.sav``), its text does not fit its encoding (the
        message suggests ``encoding=``), or a labelled variable has two codes
        with the same label. The error names the file (``.path``) and, where
        one is involved, the variable.

    Notes
    -----
    Reading is done by ReadStat through pyreadstat with ``user_missing=True``,
    the equivalent of haven's ``read_sav(user_na = TRUE)`` in R; codes become
    categoricals through ``pandas.Categorical.from_codes``, without a pass
    over the values per label.

    Examples
    --------
    >>> from ramlab import read_sav
    >>> from ramlab.io.spec import default_data_dir
    >>> df = read_sav(default_data_dir() / "raw" / "associations_2021.sav")
    >>> len(df), df["q2_1"].cat.categories[:2].tolist()  # the labels, in code order
    (1206, ['Oui, tout à fait', 'Oui, plutôt'])
    """
    path = _sav_path(path)
    raw, meta, raw_dates = _read_raw(path, encoding)
    _check_names(path, raw.columns, encoding)
    columns, *labels_and_missing = _read_columns(path, raw, meta, raw_dates)
    df = pd.DataFrame(columns, index=pd.RangeIndex(len(raw)), copy=False)
    del raw, columns
    df.attrs.update(_attrs(df, path, meta, encoding, raw_dates, *labels_and_missing))
    return df


def _sav_path(path) -> Path:
    """The file to read, as a Path, once it is known to exist (recorded as a build input)."""
    path = Path(os.fspath(path))
    if path.is_dir():
        raise DataFileError(
            f"Survey file {path} is a directory, not an SPSS .sav file", path=str(path)
        )
    if not path.exists():
        raise DataFileError(f"Survey file not found: {path}", path=str(path))
    record_input(path)
    return path


def _attrs(df, path, meta, encoding, raw_dates, value_labels, user_missing, missing_ranges,
           missing_codes) -> dict:
    """The ``attrs`` of :func:`read_sav`'s frame ``df``: the file's metadata, labels and
    missing-value declarations."""
    notes = list(meta.notes or [])
    variable_labels = {
        var: lab for var, lab in (meta.column_names_to_labels or {}).items() if lab
    }
    return {
        "file": str(path),
        "file_label": meta.file_label or "",
        "notes": notes,
        "encoding": encoding or meta.file_encoding,
        "variable_labels": variable_labels,
        "value_labels": value_labels,
        "user_missing": user_missing,
        "missing_ranges": missing_ranges,
        "missing_codes": missing_codes,
        "raw_dates": raw_dates,
        "measure": dict(meta.variable_measure or {}),
        "synthetic": is_synthetic_mark(meta.file_label, notes),
        "weight": _find_weight(df, notes, value_labels),
    }


def _read_columns(path, raw, meta, raw_dates):
    """Each column of ``raw`` as read_sav returns it, with its labels and missing codes.

    Returns ``(columns, value_labels, user_missing, missing_ranges,
    missing_codes)``, the dictionaries of :func:`read_sav`'s ``attrs``.
    """
    value_labels_all = meta.variable_value_labels or {}
    missing_declared = meta.missing_ranges or {}
    measures = meta.variable_measure or {}
    storage = meta.readstat_variable_types or {}

    columns = {}
    value_labels: dict[str, dict] = {}
    user_missing: dict[str, list] = {}
    missing_ranges: dict[str, list] = {}
    missing_codes: dict[str, dict] = {}
    for var in raw.columns:
        series = raw[var]
        labels = value_labels_all.get(var)
        ranges = _ranges(missing_declared.get(var))
        if ranges:
            missing_ranges[var] = ranges
        if var in raw_dates:
            columns[var] = series
            continue
        if series.dtype.kind == "f":
            out = _numeric(path, var, series.to_numpy(), labels, ranges, measures.get(var))
        elif storage.get(var) == "string":
            out = _text(path, var, series, labels, ranges, measures.get(var))
        else:  # dates and times converted by pyreadstat: kept as it gives them
            out = (series, dict(labels or {}), [], {})
        columns[var], var_labels, var_missing, var_codes = out
        if labels:
            value_labels[var] = var_labels
        if var_missing:
            user_missing[var] = var_missing
        if var_codes:
            missing_codes[var] = var_codes

    return columns, value_labels, user_missing, missing_ranges, missing_codes


def _small_integer_codes(values: np.ndarray):
    """Small integral codes as table indices, the usual case of a labelled variable.

    Returns (present, slots, size) or None when the values are not all integers within a
    range of a million: ``present`` the sorted distinct values (floats), ``slots``
    an intp array, 0 for NaN and ``value - min + 1`` otherwise, and ``size``
    the length of a lookup table indexed by slot (linear time, no sort, no
    masked copies).
    """
    with np.errstate(invalid="ignore"):
        lo, hi = np.nanmin(values), np.nanmax(values)
    if not (-(2**31) <= lo and hi < 2**31 and hi - lo <= 1_000_000):
        return None
    shifted = values - (lo - 1.0)
    np.copyto(shifted, 0.0, where=np.isnan(shifted))
    slots = shifted.astype(np.intp)
    if not np.array_equal(slots, shifted):
        return None
    seen = np.bincount(slots)
    present = np.flatnonzero(seen[1:]) + lo
    return present.astype(float), slots, seen.size


def _mostly_labelled(present_keys, label_keys) -> bool:
    """Labels describe a variable's values when they cover at least half of them."""
    unlabelled = sum(1 for key in present_keys if key not in label_keys)
    return 2 * unlabelled <= len(present_keys)


def _numeric(path, var, values, labels, ranges, measure):
    """One numeric column: (column, value labels, user-missing categories, codes set to NaN)."""
    if not labels:
        return _measure(values, {}, ranges)
    code_to_label = {_code_key(float(c)): normalize_label(str(lab)) for c, lab in labels.items()}
    coded = _small_integer_codes(values) if values.size and not np.isnan(values).all() else None
    if coded is not None:
        present, slots, size = coded
    else:
        finite = ~np.isnan(values)
        present, inverse = np.unique(values[finite], return_inverse=True)
    present_keys = [_code_key(float(v)) for v in present]
    if not _mostly_labelled(present_keys, code_to_label):
        return _measure(values, code_to_label, ranges)
    for key in present_keys:
        code_to_label.setdefault(key, str(key))
    codes = sorted(code_to_label)
    cat_labels = [code_to_label[c] for c in codes]
    _check_unique_labels(path, var, cat_labels)
    position = {c: i for i, c in enumerate(codes)}
    dtype = _smallest_codes(len(codes))
    of_present = np.array([position[k] for k in present_keys], dtype=dtype)
    if coded is not None:
        # The slot of a value v is v - min + 1 (present[0] is the minimum); slot 0 is NaN.
        table = np.full(size, -1, dtype=dtype)
        table[(present - present[0]).astype(np.intp) + 1] = of_present
        int_codes = table[slots]
    else:
        int_codes = np.full(values.size, -1, dtype=dtype)
        int_codes[finite] = of_present[inverse]
    return _labelled(int_codes, codes, code_to_label, cat_labels, measure, ranges)


def _measure(values, code_to_label, ranges):
    """A numeric column kept as numbers: user-missing codes become NaN, as in
    pyreadstat's and haven's default reads; the codes found are counted."""
    if not ranges:
        return values, code_to_label, [], {}
    mask = _missing_mask(values, ranges)
    if not mask.any():
        return values, code_to_label, [], {}
    found, counts = np.unique(values[mask], return_counts=True)
    values = values.copy()
    values[mask] = np.nan
    return values, code_to_label, [], {_code_key(float(v)): int(n) for v, n in zip(found, counts)}


def _text(path, var, series, labels, ranges, measure):
    """One string column: (column, value labels, user-missing categories, codes set to NaN)."""
    code_to_label = {}
    if labels:
        code_to_label = {str(c).rstrip(): normalize_label(str(lab)) for c, lab in labels.items()}
    codes_in, uniques = pd.factorize(series)
    present_keys = [str(u) for u in uniques]
    if not labels or not _mostly_labelled(
        [k for k in present_keys if k or k in code_to_label], code_to_label
    ):
        found = {}
        if ranges:
            hit = [i for i, k in enumerate(present_keys) if _in_ranges(k, ranges)]
            if hit:
                counts = np.bincount(codes_in[codes_in >= 0], minlength=len(present_keys))
                found = {present_keys[i]: int(counts[i]) for i in hit}
                series = series.mask(series.isin([present_keys[i] for i in hit]))
        return series, code_to_label, [], found
    # A blank string is SPSS's "no value" for text: missing unless labelled or declared.
    blank_is_value = "" in code_to_label or _in_ranges("", ranges)
    for key in present_keys:
        if key or blank_is_value:
            code_to_label.setdefault(key, normalize_label(key))
    codes = sorted(code_to_label)
    cat_labels = [code_to_label[c] for c in codes]
    _check_unique_labels(path, var, cat_labels)
    position = {c: i for i, c in enumerate(codes)}
    # -1 (NaN) stays -1 through the appended entry.
    table = np.array([position.get(k, -1) for k in present_keys] + [-1], dtype=np.int64)
    int_codes = table[codes_in].astype(_smallest_codes(len(codes)))
    return _labelled(int_codes, codes, code_to_label, cat_labels, measure, ranges)


def _labelled(int_codes, codes, code_to_label, cat_labels, measure, ranges):
    """The categorical column of a labelled variable, with its labels and user-missing labels.

    Returns ``(column, {code: label}, [user-missing labels], {})``, as the
    readers of one column do (the last item: no missing codes set aside).
    """
    column = pd.Categorical.from_codes(
        int_codes,
        dtype=pd.CategoricalDtype(cat_labels, ordered=measure == "ordinal"),
        validate=False,
    )
    miss = [code_to_label[c] for c in codes if _in_ranges(c, ranges)]
    return column, {c: code_to_label[c] for c in codes}, miss, {}


def _check_unique_labels(path, var, cat_labels):
    if len(set(cat_labels)) != len(cat_labels):
        seen, dup = set(), []
        for lab in cat_labels:
            if lab in seen and lab not in dup:
                dup.append(lab)
            seen.add(lab)
        raise DataFileError(
            f"Survey file {path}: variable {var!r} gives the same label to several "
            f"codes ({', '.join(map(repr, dup))})",
            path=str(path),
            variable=var,
        )


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

