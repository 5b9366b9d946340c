"""The programme report: populations side by side, differences tested as independent samples."""

import math
import re
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from ramlab import tables
from ramlab.format import french_spaces
from ramlab.io.survey import load_survey
from ramlab.reports import build, jobs, programme
from ramlab.reports.findings import field as findings_field

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
EDITIONS = {"associations": 2021, "entreprises": 2021, "maires": 2020}


@pytest.fixture(scope="module")
def surveys():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return {s: load_survey(s, y, data_dir=DATA) for s, y in EDITIONS.items()}


def test_concepts_shared_by_two_surveys_or_more(surveys):
    found = programme.concepts({s: v.spec for s, v in surveys.items()})
    assert set(found["innovation"]) == {"associations", "entreprises", "maires"}
    assert set(found["territorialite"]) == set(found["modes_partenariat"]) == {"associations", "entreprises"}
    assert set(found["co_construction"]) == {"associations", "maires"}
    # q2 is worded differently for the mayors: the spec says so
    assert any(q.concept_note for q in found["co_construction"].values())


def test_differences_have_the_sum_of_the_two_variances(surveys):
    """The stacked surveys' figures are each survey's own; a difference is tested on the sum of
    the two variances, with the stacked design's df (the sum of the surveys'), Holm over the row."""
    comparison = programme.compare(surveys, "innovation")
    own = {programme.SURVEY_LABELS[s]: tables.crosstab(v, "innovation", letters=False)
           for s, v in surveys.items()}
    key = ("innovation", "", "Total Oui")
    total = ("Total", "Ensemble")
    for label, t in own.items():
        assert comparison.estimates.loc[("", "Total Oui"), label] == pytest.approx(
            t.frame.loc[key, total], rel=1e-10)
        assert comparison.se.loc[("", "Total Oui"), label] == pytest.approx(t.se.loc[key, total], rel=1e-8)
        n, base, unit, _ = comparison.bases[label]
        assert n == t.frame.loc[("innovation", "", "Base brute (effectif)"), total]
        assert base == pytest.approx(t.frame.loc[("innovation", "", "Base pondérée"), total], rel=1e-10)
    df = sum(float(findings_field(t.options, "df")) for t in own.values())
    tested = comparison.tests[(comparison.tests["item"] == "") & (comparison.tests["row"] == "Total Oui")]
    assert len(tested) == 3
    p_values = []
    for _, t in tested.iterrows():
        ta, tb = own[t["column"]], own[t["versus"]]
        ea, eb = ta.frame.loc[key, total], tb.frame.loc[key, total]
        va, vb = ta.se.loc[key, total] ** 2, tb.se.loc[key, total] ** 2
        t_stat = (ea - eb) / math.sqrt(va + vb)
        assert t["estimate"] == pytest.approx(ea - eb, rel=1e-9)
        assert t["se"] == pytest.approx(math.sqrt(va + vb), rel=1e-8)
        assert t["df"] == df
        assert t["p_value"] == pytest.approx(2 * stats.t.sf(abs(t_stat), df), rel=1e-6)
        p_values.append(t["p_value"])
    # Holm over the three pairs of the row (R p.adjust(method = "holm"))
    order = sorted(range(3), key=lambda i: p_values[i])
    holm, running = [0.0] * 3, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * p_values[i]))
        holm[i] = running
    assert list(tested["p_adjusted"]) == pytest.approx(holm, rel=1e-12)
    # a letter exactly where the corrected test is under 5 %
    for (_, t), q in zip(tested.iterrows(), holm):
        assert bool(t["mark"]) == (q < 0.05)
    assert comparison.shown.loc[("", "Total Oui")].str.contains(r"\d+\s?%").all()
    # each population on its own base: the partners for the associations, every mayor
    assert comparison.bases["Associations"][3].startswith("Ont mis en place")
    assert comparison.bases["Maires"][3] == "Ensemble"


def test_a_concept_worded_differently_is_shown_but_not_tested(surveys):
    pair = {s: surveys[s] for s in ("associations", "maires")}
    comparison = programme.compare(pair, "q2", testable=False)
    assert comparison.tests.empty
    assert not comparison.shown.apply(lambda col: col.str.contains(r"[A-Za-z]$")).any().any()
    found = programme.concepts({s: v.spec for s, v in surveys.items()})
    text = programme.wordings_html(found["co_construction"], {"associations": "Associations", "maires": "Maires"})
    assert "Formulations différentes" in text and "ne sont pas testés" in text


def test_markup_is_escaped(surveys):
    question = replace(surveys["maires"].spec.questions["q2"], text="<b>Utile</b> ?", concept_note="<i>x</i>")
    text = programme.wordings_html({"maires": question}, {"maires": "<Maires>"})
    assert "<b>" not in text and "<i>" not in text and "&lt;Maires&gt;" in text
    cards = programme.studies_html({"<A>": {"Enquête": "<script>"}})
    assert "<script>" not in cards and "&lt;A&gt;" in cards


def test_the_build_plans_the_programme_after_the_reports():
    planned = jobs.plan(ROOT)
    last = planned[-1]
    assert last.kind == "programme" and last.key == "programme/2020-2021"
    assert last.output == ROOT / "reports" / "programme" / "2020-2021.html"
    assert last.parameters["editions"] == EDITIONS
    assert len(last.data) == 3 and len(last.specs) == 3
    # a build limited to some surveys or years does not overwrite the programme
    assert all(j.kind != "programme" for j in jobs.plan(ROOT, surveys="maires"))
    assert all(j.kind != "programme" for j in jobs.plan(ROOT, years=2021))


@pytest.fixture(scope="module")
def programme_html(tmp_path_factory):
    work = tmp_path_factory.mktemp("programme")
    job = next(j for j in jobs.plan(ROOT) if j.kind == "programme")
    job = replace(job, output=work / "programme.html", executed=work / "programme.ipynb")
    assert build.build_report(job) == job.output
    return job.output.read_text(encoding="utf-8")


def test_programme_report_shows_the_populations_with_their_bases(programme_html):
    text = re.sub(r"<[^>]+>", " ", programme_html)
    text = re.sub(r"\s+", " ", text)
    for population in ("Associations (A)", "Entreprises (B)", "Maires (C)"):
        assert population in text
    assert "Une source d'innovation" in text and "Formulations différentes" in text
    assert "la variance de l'écart entre deux populations est la somme des variances" in text
    assert "Base : Ont mis en place au moins un partenariat" in text or "base : Ont mis en place" in text
    assert "Données synthétiques" in text
    # "L'essentiel" first, then a chart per shared question, with its alt text
    assert text.index("L'essentiel") < text.index("Les enquêtes comparées")
    assert "les associations répondent plus souvent" in text
    charts = re.findall(r'<img [^>]*alt="Comparaison des populations : [^>]*src="data:image/svg\+xml', programme_html)
    assert len(charts) == 4


@pytest.fixture(scope="module")
def comparisons(surveys):
    labels = {s: programme.SURVEY_LABELS[s] for s in surveys}
    out = {}
    for concept, questions in programme.concepts({s: v.spec for s, v in surveys.items()}).items():
        first = next(iter(questions.values()))
        testable = not any(q.concept_note for q in questions.values())
        out[concept] = (programme.compare({s: surveys[s] for s in questions}, first.id, labels=labels,
                                          testable=testable), questions)
    return out


def test_programme_chart_draws_each_population_of_the_comparison(comparisons):
    comparison, _ = comparisons["modes_partenariat"]
    rows = programme.chart_rows(comparison)
    # the headline answer the spec's message cites ("[q8_1 Oui]"), on every item
    assert [r for _, r in rows] == ["Oui"] * 4
    chart = programme.chart(comparison, title="Nature de vos pratiques partenariales")
    try:
        bars = [p.get_width() for p in chart.figure.axes[0].patches if p.get_gid() == "ramlab-bar"]
        expected = comparison.estimates.loc[rows, ["Associations", "Entreprises"]].to_numpy()
        np.testing.assert_allclose(bars, 100 * expected.ravel(), rtol=1e-12)
        texts = [t.get_text() for t in chart.figure.axes[0].texts]
        # each figure with the comparison's letters (the associations' 59 % is above the companies')
        for (key, label) in [(r, lab) for r in rows for lab in ("Associations", "Entreprises")]:
            assert comparison.shown.loc[key, label].replace(" %", "\u202f%") in texts
        assert "Comparaison des populations" in chart.alt
        assert all(label in chart.alt for label in comparison.bases)
        assert "Base : Entreprises : Ont des partenariats" in chart.alt
    finally:
        import matplotlib.pyplot as plt

        plt.close(chart.figure)
    # a multi-response question draws its answers; a scale, the net its message cites
    assert [r for _, r in programme.chart_rows(comparisons["territorialite"][0])][:1] == [
        "Au niveau local ou micro local (ville, quartier)"]
    assert programme.chart_rows(comparisons["innovation"][0]) == [("", "Total Oui")]


def test_programme_essentiel_states_only_significant_differences_and_published_figures(
        surveys, comparisons):
    labels = {s: programme.SURVEY_LABELS[s] for s in surveys}
    sentences = programme.essentiel(surveys, comparisons, labels=labels)
    assert 3 <= len(sentences) <= 8
    differences = [s for s in sentences if s.kind == "difference"]
    assert differences and len({s.question for s in differences}) >= 2  # not all from one question
    by_question = {c.table.frame.index[0][0]: c for c, _ in comparisons.values()}
    for s in differences:
        comparison = by_question[s.question]
        assert comparison.testable  # never on the differently worded q2
        (key, hi), (_, lo) = s.cells
        test = comparison.tests[(comparison.tests["item"] == key[1]) & (comparison.tests["row"] == key[2])
                                & comparison.tests["column"].isin([hi[1], lo[1]])
                                & comparison.tests["versus"].isin([hi[1], lo[1]])]
        assert len(test) == 1 and test["p_adjusted"].iloc[0] < 0.05  # Holm over the row
        high = comparison.shown.loc[key[1:], hi[1]]
        assert high.startswith(s.figure)  # the cell as shown, before its letters
        assert f"les {hi[1].lower()}" in s.text.lower() and f"que les {lo[1].lower()}" in s.text
        assert s.synthetic
        # its base line names the two populations compared, each with its own base, and no other
        named = [lab for lab in comparison.bases if f"{lab}\u00a0:" in s.base]
        assert sorted(named) == sorted([hi[1], lo[1]]), s.base
        for lab in named:
            assert f"{lab}\u00a0: {french_spaces(comparison.bases[lab][3])}," in s.base, s.base
    # the differences are the largest eligible ones of their question
    messages = [s for s in sentences if s.kind == "message"]
    assert messages
    for s in messages:  # synthetic data: only figures the spec marks published
        owners = [q for _, qs in comparisons.values() for q in qs.values() if q.id == s.question]
        assert any(q.published for q in owners)
        assert s.synthetic
    assert "92 % des maires jugent la co-construction utile" in " ".join(
        s.text.replace("\u202f", " ") for s in messages)
