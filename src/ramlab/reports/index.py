"""``reports/index.html``: the landing page of the reports.

The programme report first, then per survey each edition with its study card
(who, how many, when, how, by whom) and the first three sentences of its
"L'essentiel" (:mod:`ramlab.reports.findings`), each with its figure and
base, and the links to the edition and the trends. No question code and no
list of figures: the sentences are what a partner can quote. The page is the
Jinja template ``templates/index/index.html.j2`` (its stylesheet,
``index.css``, is inlined); this module gives it the entries, grouped by
survey and ordered.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import quote

from ramlab.files import write_atomic
from ramlab.format import fmt_date
from ramlab.reports.findings import mark

__all__ = ["write_index"]

#: The template of the index page, and its stylesheet beside it.
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / "index"


def _edition(entry) -> str:
    """French heading of an index entry: ``Édition 2021``, ``Évolution 2015-2021``."""
    years = [int(year) for year in entry.get("years") or ()]
    if entry.get("kind") == "trends" and years:
        return f"Évolution {years[0]}–{years[-1]}"
    if entry.get("kind") == "programme" and years:
        period = f"{years[0]}–{years[-1]}" if years[0] != years[-1] else str(years[0])
        return f"Les trois enquêtes côte à côte, {period}"
    if years:
        return f"Édition {years[0]}"
    return str(entry.get("title") or entry.get("label") or Path(entry["output"]).stem)


def _survey_heading(survey: str) -> str:
    if survey == "programme":
        return "Programme d'études IMPACT"
    return survey.replace("-", " ").capitalize()


#: Sentences of an edition's "L'essentiel" shown on the index.
KEY_SENTENCES = 3


def write_index(reports_dir, entries) -> Path:
    """Write ``<reports_dir>/index.html``: every report, linked, with its key figures.

    Parameters
    ----------
    reports_dir : path
    entries : iterable of mapping
        One per report: ``survey``, ``output`` (path of the HTML report),
        ``kind`` ("report", "trends" or "programme"), ``years``, and
        optionally ``title`` (French), ``essentiel`` (``{"card": {label:
        text}, "sentences": [{text, figure, base, synthetic, published}]}``:
        published sentences first; on synthetic data each is marked as
        :func:`ramlab.reports.findings.mark` marks it in the report),
        ``built_at`` (ISO date) and ``synthetic`` (True: a "Données
        synthétiques" badge on the entry, and a notice at the top of the
        page). A report is headed "Édition 2021", a trend "Évolution
        2015–2021"; the programme comes first.

    Returns
    -------
    Path of the index. The page is French (``lang="fr"``), self-contained (no
    script, no request to any server: styles inline), links are relative,
    every label is HTML-escaped, and it is written atomically, only when its
    content changed.
    """
    reports_dir = Path(reports_dir)
    by_survey: dict[str, list] = {}
    for entry in entries:
        by_survey.setdefault(str(entry["survey"]), []).append(entry)

    def order(entry):
        years = tuple(entry.get("years") or ())
        return (entry.get("kind", "report") == "trends", years, str(entry.get("title", "")))

    def report(entry):
        href = Path(os.path.relpath(Path(entry["output"]), reports_dir)).as_posix()
        essentiel = entry.get("essentiel") or {}
        pairs = essentiel.get("card") or []
        pairs = pairs.items() if isinstance(pairs, dict) else pairs  # (label, text) pairs, in order
        card = {str(k): str(v) for k, v in pairs if k != "Enquête"}
        published_first = sorted(essentiel.get("sentences") or [], key=lambda s: not s.get("published", True))
        sentences = [
            {"text": str(s.get("text", "")), "figure": str(s.get("figure", "")),
             "base": str(s.get("base", "")), "mark": mark(s)}
            for s in published_first[:KEY_SENTENCES]
        ]
        return {
            "href": quote(href), "edition": _edition(entry), "title": str(entry.get("title") or ""),
            "kind": str(entry.get("kind", "report")), "card": card, "sentences": sentences,
            "synthetic": bool(entry.get("synthetic")),
            "built": fmt_date(entry.get("built_at"), long=True),
        }

    surveys = [
        {"anchor": quote(survey), "heading": _survey_heading(survey),
         "reports": [report(entry) for entry in sorted(by_survey[survey], key=order)]}
        for survey in sorted(by_survey, key=lambda s: (s != "programme", s))
    ]
    dates = [entry.get("built_at") for group in by_survey.values() for entry in group]
    latest = max((d for d in dates if d), default=None)
    footer = "Page produite par ramlab"
    if latest:
        footer += f", mise à jour le {fmt_date(latest, long=True)}"
    text = _template().render(
        surveys=surveys,
        synthetic=any(r["synthetic"] for survey in surveys for r in survey["reports"]),
        footer=footer,
    )
    path = reports_dir / "index.html"
    try:
        if path.read_text(encoding="utf-8") == text:
            return path
    except OSError:
        pass
    return write_atomic(path, text)


def _template():
    """The index template (jinja2 is imported here: an unchanged build plans without it)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # every text is escaped explicitly, by html.escape (filter "e")
    )
    environment.filters["e"] = lambda value: html.escape(str(value))
    return environment.get_template("index.html.j2")
