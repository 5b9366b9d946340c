"""The codebook of a loaded survey: ``s.codebook()``.

One row per data column: name, label, type, categories with their codes,
user-missing codes, the base the question is asked of, and the share of that
base with no valid answer. Read from the file (value labels, user-missing
codes, variable labels, as :func:`ramlab.io.sav.read_sav` records them) and
from the spec (question types and bases).
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

__all__ = ["Codebook", "codebook"]

COLUMNS = ["name", "label", "type", "question", "categories", "user_missing", "base", "n_base",
           "missing_share"]
_HEADERS = {
    "name": "Variable", "label": "Libellé", "type": "Type", "question": "Question",
    "categories": "Modalités (codes)", "user_missing": "Codes de non-réponse", "base": "Base",
    "n_base": "Effectif de la base", "missing_share": "Sans réponse valide",
}


class Codebook:
    """A survey's codebook: ``frame`` (a DataFrame, one row per variable) and an HTML view.

    Columns of ``frame``: ``name``, ``label``, ``type`` (the spec's question
    type, else "categorical", "numeric", "date" or "text"), ``question``
    (spec question id or ""), ``categories`` ("1 = Oui ; 2 = Non"),
    ``user_missing`` (codes declared missing in the file), ``base`` (the
    question's base label; "Ensemble" otherwise), ``n_base`` (respondents in
    it) and ``missing_share`` (share of the base with no valid answer: a
    missing value or a user-missing code; 0-1).
    """

    def __init__(self, frame, title=""):
        self.frame = frame
        self.title = title

    def to_frame(self):
        """The codebook as a DataFrame (a copy)."""
        return self.frame.copy()

    def __len__(self):
        return len(self.frame)

    def __repr__(self):
        return f"<Codebook {self.title}: {len(self.frame)} variables>"

    def _repr_html_(self):
        from ramlab.format import fmt_int, fmt_pct

        esc = html.escape
        head = "".join(f"<th>{esc(_HEADERS[c])}</th>" for c in COLUMNS)
        rows = []
        for r in self.frame.itertuples(index=False):
            cells = []
            for c in COLUMNS:
                v = getattr(r, c)
                if c == "n_base":
                    text = fmt_int(v)
                elif c == "missing_share":
                    text = fmt_pct(v, 1) if v else "0\u202f%"
                else:
                    text = str(v)
                cells.append(f"<td>{esc(text)}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        return (f"<div class='ramlab-codebook'><strong>Dictionnaire des variables : "
                f"{esc(self.title)}</strong><table><thead><tr>{head}</tr></thead><tbody>"
                + "".join(rows) + "</tbody></table></div>")


def _kind(series):
    if isinstance(series.dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return "date"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "numeric"
    return "text"


def _codes(labels, user_missing, ranges):
    """The categories "code = label" and the user-missing codes."""
    cats = " ; ".join(f"{_code(k)} = {v}" for k, v in labels.items())
    missing = [_code(k) for k, v in labels.items() if v in user_missing]
    for lo, hi in ranges:
        text = _code(lo) if lo == hi else f"{_code(lo)}–{_code(hi)}"
        if text not in missing:
            missing.append(text)
    return cats, ", ".join(missing)


def _code(value):
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def codebook(survey):
    """The codebook of a :class:`ramlab.io.survey.Survey` (see :class:`Codebook`)."""
    data, spec = survey.data, survey.spec
    attrs = data.attrs
    question_of = {col: q for q in spec.questions.values() for col in q.columns}
    bases = {}
    rows = []
    for name in data.columns:
        series = data[name]
        q = question_of.get(name)
        base = spec.bases.get(q.base) if q is not None else None
        if base is not None and base.id not in bases:
            bases[base.id] = base.mask(data).reindex(data.index).fillna(False).to_numpy(dtype=bool)
        in_base = bases[base.id] if base is not None else np.ones(len(data), dtype=bool)
        user_missing = list((attrs.get("user_missing") or {}).get(name, []))
        labels = (attrs.get("value_labels") or {}).get(name, {})
        cats, missing_codes = _codes(labels, user_missing,
                                     (attrs.get("missing_ranges") or {}).get(name, []))
        if not cats and isinstance(series.dtype, pd.CategoricalDtype):
            cats = " ; ".join(map(str, series.cat.categories))
        invalid = series.isna().to_numpy() | series.isin(user_missing).to_numpy()
        n_base = int(in_base.sum())
        rows.append({
            "name": name,
            "label": (q.text if q is not None and q.type not in ("grid", "multi")
                      else (attrs.get("variable_labels") or {}).get(name, "")),
            "type": q.type if q is not None else _kind(series),
            "question": q.id if q is not None else "",
            "categories": cats,
            "user_missing": missing_codes,
            "base": base.label if base is not None else "Ensemble",
            "n_base": n_base,
            "missing_share": float(invalid[in_base].sum() / n_base) if n_base else np.nan,
        })
    title = f"{spec.study.get('title', spec.survey)}"
    return Codebook(pd.DataFrame(rows, columns=COLUMNS), title)
