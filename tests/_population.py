"""Population margins and respondent categories read straight from the shipped files.

Independent of ramlab's own reading: the specs and population margins are
parsed with ``yaml``, the respondent files with ``pyreadstat``, so that tests
of the weighting compare ramlab's weights with references ramlab did not build.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyreadstat
import yaml

DATA = Path(__file__).resolve().parents[1] / "data"


def survey_years(data=DATA):
    """(survey, year) of every respondent file that has a spec."""
    out = []
    for p in sorted((data / "raw").glob("*.sav")):
        survey, year = p.stem.rsplit("_", 1)
        if (data / "specs" / f"{p.stem}.yaml").is_file() or (data / "specs" / f"{survey}.yaml").is_file():
            out.append((survey, year))
    return out


def spec_doc(survey, year, data=DATA):
    path = data / "specs" / f"{survey}_{year}.yaml"
    if not path.is_file():
        path = data / "specs" / f"{survey}.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def population_shares(margin, data=DATA):
    """{category as raked: population share} of a spec margin, its groups merged."""
    doc = yaml.safe_load((data / "population" / margin["file"]).read_text(encoding="utf-8"))
    counts = {str(k): float(v) for k, v in doc["categories"].items()}
    for group, members in (margin.get("groups") or {}).items():
        counts[group] = sum(counts.pop(m) for m in members)
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()}


def read_raw(path):
    """(DataFrame of codes, pyreadstat metadata) of a .sav file."""
    return pyreadstat.read_sav(str(path))


def categories(df, meta, margin):
    """The margin variable of every respondent as labels, groups merged."""
    labels = meta.variable_value_labels[margin["variable"]]
    values = np.array([labels.get(v) for v in df[margin["variable"]]], dtype=object)
    for group, members in (margin.get("groups") or {}).items():
        values[np.isin(values, members)] = group
    return values


def margin_errors(weights, df, meta, doc, data=DATA):
    """Largest relative error of the weighted shares against the population shares,
    per margin variable."""
    w = np.asarray(weights, dtype=float)
    out = {}
    for margin in doc["weighting"]["margins"]:
        cats = categories(df, meta, margin)
        shares = population_shares(margin, data)
        if not set(cats) <= set(shares):
            out[margin["variable"]] = np.inf
            continue
        out[margin["variable"]] = max(abs(w[cats == c].sum() / w.sum() - s) / s for c, s in shares.items())
    return out
