"""Findings in words: authored messages and computed findings against the tables' own tests."""

import re
import warnings
from pathlib import Path

import pytest

from ramlab import tables
from ramlab.format import NNBSP, french_spaces

NBSP = "\u00a0"  # before ":" and inside « » (French typography)
from ramlab.io.survey import load_survey
from ramlab.reports import blocks, findings

DATA = Path(__file__).resolve().parents[2] / "data"
TOTAL = ("Total", "Ensemble")


@pytest.fixture(scope="module")
def survey():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load_survey("associations", 2021, data_dir=DATA)


@pytest.fixture(scope="module")
def options(survey):
    return blocks.table_options("partner", survey.spec)


@pytest.fixture(scope="module")
def totals(survey, options):
    return {q: tables.crosstab(survey, q, **options) for q in survey.spec.questions}


@pytest.fixture(scope="module")
def by_size(survey, options):
    return tables.banner(survey, list(survey.spec.questions), ["taille"], **options)


def _number(text):
    return re.sub(r"\s+[A-Za-z]+$", "", text).rstrip("*")


def test_reports_use_holm_for_letters_and_findings_alike(options, by_size):
    assert options["adjust"] == "holm"
    assert findings.field(by_size.options, "adjust") == "holm"
    tested = by_size.tests
    assert (tested["p_adjusted"] >= tested["p_value"] - 1e-15).all()
    assert (tested["p_adjusted"] > tested["p_value"]).any()


def test_a_message_quotes_the_cells_of_the_table(survey, totals):
    text, cited = findings.fill("[q7_1 Cité] local, [q7 moyenne] échelon, [innovation Total Oui]",
                                totals, survey.spec)
    # the published figures (seed deck): 73 %, 1,6 levels, 90 %
    assert text == f"73{NNBSP}% local, 1,6 échelon, 90{NNBSP}%"
    for key, shown in cited:
        assert _number(totals[key[0]].display_frame().loc[key, TOTAL]) == shown


def test_unpublished_figures_are_marked_on_synthetic_data_and_come_after_published_ones(survey, totals):
    sentences = findings.authored(survey.spec, totals, synthetic=True)
    published = {q.id for q in survey.spec.questions.values() if q.published}
    assert "q2" not in published and survey.spec.questions["q2"].message
    by_question = {s.question: s for s in sentences}
    assert not by_question["q2"].published  # q2 is not published: its figure is the generator's
    assert all(s.published == (s.question in published) for s in sentences)
    flags = [s.published for s in sentences]
    assert flags == sorted(flags, reverse=True)  # published first: the index quotes the first ones
    assert all(s.synthetic for s in sentences)
    # two distinct marks, and a note saying what the non-published mark means
    page = findings.essentiel_html(findings.study_card(survey), sentences, adjust="holm")
    published_mark, unpublished_mark = findings.MARKS[True][1], findings.MARKS[False][1]
    assert published_mark != unpublished_mark and "non publié" in unpublished_mark
    assert page.count(f"ramlab-mark-published\">{published_mark}<") == flags.count(True)
    assert page.count(f"ramlab-mark-unpublished\">{unpublished_mark}<") == flags.count(False) == 1
    q2 = page[page.index(by_question["q2"].text):]
    assert q2.index(unpublished_mark) < q2.index("</li>")
    assert "ne doit pas être cité" in page
    # a computed finding is never a published figure
    by_size = tables.banner(survey, ["q8"], ["taille"], **blocks.table_options("partner", survey.spec))
    assert all(not f.published for f in findings.computed(by_size, survey.spec, synthetic=True))
    # on real data there is no mark: an unpublished figure is simply a figure of that survey
    real = findings.authored(survey.spec, totals, synthetic=False)
    assert [s.text for s in real] == [s.text for s in sentences]
    assert all(findings.mark(s) is None for s in real)
    assert "donnée synthétique" not in findings.essentiel_html({}, real, adjust="holm")


def test_a_difference_is_eligible_exactly_when_its_corrected_test_is_significant(survey, by_size):
    found = findings.computed(by_size, survey.spec)
    assert found, "associations 2021 by size has significant differences"
    cells = {(s.cells[0][0], s.cells[0][1][1], s.cells[1][1][1]) for s in found}
    tests = by_size.tests
    headline = {("q6", "Oui"), ("q6", "Oui ou dans les 6 mois"), ("q8", "Oui"),
                ("q8", "Oui ou dans les 6 mois"), ("q2", "Oui, tout à fait"), ("q2", "Total Oui"),
                ("q7", None), ("innovation", "Total Oui")}
    for _, t in tests.iterrows():
        is_headline = (t["question"], t["row"]) in headline or (
            t["question"] == "q7" and t["row"] != "Échelon en moyenne")
        if not is_headline:
            continue
        key = (t["question"], t["item"], t["row"])
        hi, lo = (t["column"], t["versus"]) if t["estimate"] > 0 else (t["versus"], t["column"])
        assert ((key, hi, lo) in cells) == bool(t["p_adjusted"] < 0.05), (key, hi, lo)
    # the largest first, each quoting the cells of the table, each with a letter behind it
    assert [s.size for s in found] == sorted((s.size for s in found), reverse=True)
    shown = by_size.display_frame()
    letters = {c.label: c.letter for c in by_size.columns}
    for s in found:
        (key, hi), (_, lo) = s.cells
        figures = re.findall(rf"\d+{NNBSP}%", s.text)
        assert figures == [_number(shown.loc[key, hi]), _number(shown.loc[key, lo])]
        assert letters[lo[1]] in shown.loc[key, hi].split()[-1].upper()
        assert "Holm" in s.base


def test_a_finding_uses_the_spec_phrase_of_its_row_and_quotes_the_table_cells(survey, by_size):
    found = findings.computed(by_size, survey.spec)
    shown = by_size.display_frame()
    phrased = 0
    for s in found:
        (key, hi), (_, lo) = s.cells
        words = findings.phrase(survey.spec.questions[key[0]], key[1], key[2])
        assert words, f"every headline row of associations 2021 has a phrase: {key}"
        match = re.fullmatch(rf"Les associations «{NBSP}{re.escape(hi[1])}{NBSP}» sont plus nombreuses {re.escape(words)} "
                             rf"\((\d+){NNBSP}%\) que celles «{NBSP}{re.escape(lo[1])}{NBSP}» \((\d+){NNBSP}%\)\.", s.text)
        assert match, s.text
        assert int(match.group(1)) > int(match.group(2))
        assert [f"{match.group(1)}{NNBSP}%", f"{match.group(2)}{NNBSP}%"] == [
            _number(shown.loc[key, hi]), _number(shown.loc[key, lo])]
        # the gap is the difference of the figures quoted, as a reader subtracts them
        assert f"Écart de {int(match.group(1)) - int(match.group(2))} points" in s.base
        phrased += 1
    assert phrased == len(found) > 0
    # the issue's example: innovation sociale, 50 salariés et plus against moins de 10 salariés
    example = next(s for s in found if s.cells[0][0] == ("q8", "Innovation sociale", "Oui")
                   and {s.cells[0][1][1], s.cells[1][1][1]} == {"50 salariés et plus", "Moins de 10 salariés"})
    assert "sont plus nombreuses à pratiquer l'innovation sociale (" in example.text


def test_a_masculine_unit_agrees(by_size):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        companies = load_survey("entreprises", 2021, data_dir=DATA)
    assert companies.spec.study["unit_gender"] == "masculine"
    table = tables.banner(companies, ["q7"], ["taille"], **blocks.table_options("partner", companies.spec))
    found = findings.computed(table, companies.spec)
    assert found
    for s in found:
        assert s.text.startswith(f"Les établissements «{NBSP}") and " sont plus nombreux à " in s.text
        assert f" que ceux «{NBSP}" in s.text and "nombreuses" not in s.text and "celles" not in s.text


def test_without_a_phrase_a_finding_reads_as_a_generic_comparison(survey, by_size):
    import dataclasses

    bare = dataclasses.replace(survey.spec, questions={
        q: dataclasses.replace(question, finding={}) for q, question in survey.spec.questions.items()})
    found = findings.computed(by_size, bare)
    assert found and [s.cells for s in found] == [s.cells for s in findings.computed(by_size, survey.spec)]
    for s in found:
        (key, hi), (_, lo) = s.cells
        match = re.search(rf"«{NBSP}{re.escape(hi[1])}{NBSP}» (citent|répondent) plus souvent «{NBSP}{re.escape(key[2])}{NBSP}» "
                          rf"\((\d+){NNBSP}%\) que les associations «{NBSP}{re.escape(lo[1])}{NBSP}» \((\d+){NNBSP}%\)\.$",
                          s.text)
        assert match, s.text
        assert int(match.group(2)) > int(match.group(3))
        assert "Oui » pour" not in s.text and "contre" not in s.text  # not the old generic wording


def test_a_yes_no_question_gives_no_mirror_finding():
    # "Non" on a two-answer question restates the "Oui" finding with the groups swapped
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        earlier = load_survey("associations", 2015, data_dir=DATA)
    table = tables.banner(earlier, ["partenariat"], ["taille"], **blocks.table_options("partner", earlier.spec))
    tests = table.tests
    assert (tests[(tests["row"] == "Non")]["p_adjusted"] < 0.05).any()  # the mirror is significant too
    found = findings.computed(table, earlier.spec)
    assert found and {s.cells[0][0][2] for s in found} == {"Oui"}


def test_the_cap_keeps_the_largest_one_per_item_and_breakdown(survey, by_size):
    found = findings.computed(by_size, survey.spec)
    kept = findings.select(found, cap=3)
    assert len(kept) == 3
    topics = [(s.cells[0][0][0], s.cells[0][0][1] or s.cells[0][0][2]) for s in kept]
    assert len(set(topics)) == 3
    smallest = min(s.size for s in kept)
    for s in found:
        topic = (s.cells[0][0][0], s.cells[0][0][1] or s.cells[0][0][2])
        if s.size > smallest:
            assert s in kept or topic in topics


def test_no_finding_without_a_significant_test(survey, options):
    # maires 2016: 304 respondents; whatever is said is backed by a test under 5 % after Holm
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        maires = load_survey("maires", 2016, data_dir=DATA)
    table = tables.banner(maires, list(maires.spec.questions), ["region"],
                          **blocks.table_options("partner", maires.spec))
    for s in findings.computed(table, maires.spec):
        (key, hi), (_, lo) = s.cells
        t = table.tests
        hit = t[(t["question"] == key[0]) & (t["item"] == key[1]) & (t["row"] == key[2])
                & (t["column"].isin([hi[1], lo[1]])) & (t["versus"].isin([hi[1], lo[1]]))]
        assert len(hit) == 1 and hit["p_adjusted"].iloc[0] < 0.05


def test_the_net_across_items_is_the_published_98_percent_and_its_table_cell(survey, totals):
    # published (IMPACT.md): 98 % of employer associations have at least one partnership
    key = ("q6", "Au moins un partenariat", "Au moins un partenariat")
    cell = _number(totals["q6"].display_frame().loc[key, TOTAL])
    assert cell == f"98{NNBSP}%"
    sentence = next(s for s in findings.authored(survey.spec, totals, synthetic=True)
                    if "au moins un partenariat" in s.text)
    assert sentence.text.startswith(cell) and sentence.figure == cell
    assert sentence.cells[0][0] == key
    assert sentence.base.startswith(f"Base{NBSP}: Ensemble (148")


SHIPPED = sorted(p.stem for p in (DATA / "specs").glob("*.yaml"))


@pytest.mark.parametrize("edition", SHIPPED)
def test_every_edition_opens_with_the_sentences_the_issue_requires(edition):
    name, year = edition.rsplit("_", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        loaded, _ = blocks.load(name, int(year), data_dir=DATA)
    spec = loaded.spec
    options = blocks.table_options("partner", spec)
    columns = blocks.table_breakdowns(loaded)
    totals = {q: tables.crosstab(loaded, q, **options) for q in spec.questions}
    crosstabs = [tables.crosstab(loaded, q, columns[b], **options)
                 for b in spec.breakdowns for q in spec.questions]
    sentences = findings.essentiel(spec, totals, crosstabs, synthetic=loaded.synthetic)
    # filler (a sentence restating the study card) would not count: none quotes n or the population
    card = findings.study_card(loaded)
    for s in sentences:
        assert s.figure not in (card["Répondants"], card["Population"])
        assert re.search(rf"\d+(,\d)?{NNBSP}%|\d,\d", s.figure)
    assert findings.required(spec) <= len(sentences) <= 8, [s.text for s in sentences]
    # French typography: a full stop, no-break spaces before ":" and inside « », one pair of brackets
    for s in sentences:
        assert s.text.endswith("."), s.text
        for text in (s.text, s.base):
            assert not re.search(r" [:;?!»]|« ", text), text
    assert "(" not in card["Population"].split("(", 1)[1]
    # on synthetic data every sentence says whether its figure is a published one
    assert loaded.synthetic
    assert all(findings.mark(s) == findings.MARKS[s.published] for s in sentences)
    published = {q.id for q in spec.questions.values() if q.published}
    assert all(s.published == (s.kind == "message" and s.question in published) for s in sentences)


def test_working_notes_of_the_spec_reach_the_internal_audience_only():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        earlier = load_survey("associations", 2015, data_dir=DATA)
    note = earlier.spec.questions["partenariat"].note
    assert "reconstitué" in note
    table = tables.crosstab(earlier, "partenariat", **blocks.table_options("partner", earlier.spec))
    partner = blocks.table_html(table, earlier.spec, audience="partner", data=earlier.data)
    internal = blocks.table_html(table, earlier.spec, audience="internal", data=earlier.data)
    assert "reconstitué" not in partner and "Libellé" not in partner
    assert "reconstitué" in internal
    assert french_spaces("Source : PHARE-Associations 2015") in partner  # the other notes stay
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        editions = {y: load_survey("entreprises", y, data_dir=DATA) for y in (2015, 2021)}
    trend, comparable = blocks.trend_table(editions, "partenariat")
    assert "reconstitué" in trend.questions["partenariat"].note
    assert "reconstitué" not in blocks.trend_html(trend, comparable=comparable)
    assert "reconstitué" in blocks.trend_html(trend, comparable=comparable, audience="internal")


def test_partner_tables_carry_no_question_code_and_explain_the_mean(survey, totals):
    partner = blocks.table_html(totals["innovation"], survey.spec, audience="partner", data=survey.data)
    internal = blocks.table_html(totals["innovation"], survey.spec, audience="internal", data=survey.data)
    assert 'class="ramlab-qid"' not in partner and 'class="ramlab-qid"' in internal
    assert "Moyenne (de 1 = « Oui, tout à fait » à 4 = « Non, pas du tout »)" in partner


def test_groups_under_75_are_marked_base_faible(survey, options):
    table = tables.crosstab(survey, "innovation", "region_redressement", **options)
    html = blocks.table_html(table, survey.spec, audience="partner", data=survey.data, max_columns=20)
    n = table.frame.loc[("innovation", "", "Base brute (effectif)")]
    low = [c.label for c, v in zip(table.columns[1:], n.iloc[1:]) if 30 <= v < 75]
    assert low, "some regions have 30-74 respondents"
    for label in low:
        assert re.search(rf"{re.escape(label)} \([A-Z]+\) <span class=\"ramlab-low\">base faible", html)
    assert french_spaces("Base faible : groupe de 30 à 74 répondants") in html


def test_corse_is_grouped_in_the_tables_as_in_the_weighting(survey):
    columns = blocks.table_breakdowns(survey)
    assert columns["region"] == "region_redressement"
    table = tables.crosstab(survey, "innovation", columns["region"])
    labels = [c.label for c in table.columns]
    assert "Corse" not in labels and "Provence-Alpes-Côte d'Azur et Corse" in labels


def test_wide_tables_are_turned(survey, options):
    table = tables.crosstab(survey, "q8", "region_redressement", **options)
    html = blocks.table_html(table, survey.spec, audience="partner", data=survey.data)
    assert 'class="ramlab-tables ramlab-turned"' in html
    body = html.split("<tbody>")[1]
    assert body.count("<tr>") == len(table.columns)  # one row per group, Ensemble first
    assert "(réponse « Oui »)" in html


def test_markup_in_spec_texts_is_escaped_everywhere(survey, totals):
    card = dict(findings.study_card(survey), Population="<script>alert(1)</script>")
    sentence = findings.Sentence(text="<b>73 %</b>", figure="<i>73</i>", base="<u>Base</u>",
                                 kind="message", question="q7", synthetic=True)
    out = findings.essentiel_html(card, [sentence], adjust="holm")
    assert "<script>" not in out and "<b>" not in out and "<i>" not in out and "<u>" not in out
    assert "&lt;script&gt;" in out and "&lt;b&gt;73 %&lt;/b&gt;" in out
    assert blocks.paragraph("<img src=x>") == "<p>&lt;img src=x&gt;</p>"
    assert "<em>" not in blocks.details("<em>x</em>", "")


def _edition(name, year):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        loaded, _ = blocks.load(name, year, data_dir=DATA)
    options = blocks.table_options("partner", loaded.spec)
    totals = {q: tables.crosstab(loaded, q, **options) for q in loaded.spec.questions}
    return loaded, totals


def test_messages_come_published_first_then_in_questionnaire_order():
    loaded, totals = _edition("maires", 2016)
    cited = [(s.published, s.cells[0][0][:2]) for s in findings.authored(loaded.spec, totals, synthetic=True)]
    assert cited == [(True, ("innovation", "")), (False, ("q2", "Pour réduire les fragilités")),
                     (False, ("q2", "Pour faire émerger de nouveaux moteurs de développement économique durable"))]
    loaded, totals = _edition("maires", 2020)
    cited = [(s.published, s.cells[0][0][1]) for s in findings.authored(loaded.spec, totals, synthetic=True)]
    assert [c[1] for c in cited] == ["Pour réduire les fragilités",
                                     "Pour faire émerger de nouveaux moteurs de développement économique durable",
                                     "Utile sur les deux plans", ""]  # the net across items after its items
    assert [c[0] for c in cited] == [True, True, True, False]


def test_a_finding_on_a_group_of_30_to_74_says_base_faible():
    loaded, _ = _edition("entreprises", 2021)
    table = tables.crosstab(loaded, "q8", blocks.table_breakdowns(loaded)["region"],
                            **blocks.table_options("partner", loaded.spec))
    n = table.frame.xs("Base brute (effectif)", level=2)
    found = findings.computed(table, loaded.spec)
    assert found
    for s in found:
        (key, hi), (_, lo) = s.cells
        for column in (hi, lo):
            count = int(n.loc[("q8", key[1]), column])
            says = f"{column[1]}{NBSP}: {count} répondants, base faible" in s.base
            assert says == (30 <= count < 75), (s.base, count)
    assert any("base faible" in s.base for s in found)


def test_the_gap_is_the_difference_of_the_figures_quoted_and_labels_keep_their_thousands():
    # entreprises 2015: 96 % against 50 % (unrounded 46.8 points) reads "Écart de 46 points"
    loaded, _ = _edition("entreprises", 2015)
    table = tables.crosstab(loaded, "q7", blocks.table_breakdowns(loaded)["taille"],
                            **blocks.table_options("partner", loaded.spec))
    found = findings.computed(table, loaded.spec)
    assert found
    rounded_apart = 0
    for s in found:
        hi, lo = (int(x) for x in re.findall(rf"\((\d+){NNBSP}%\)", s.text))
        assert f"Écart de {hi - lo} points" in s.base, (s.text, s.base)
        rounded_apart += round(100 * s.size) != hi - lo
        assert not re.search(r"\d \d{3}\b", s.text + s.base), s.text  # "5 000": a narrow no-break space
    assert rounded_apart, "a gap whose unrounded value rounds apart from the quoted figures"
    assert any(f"(5{NNBSP}000 salariés et plus)" in s.text for s in found)


def test_a_population_size_that_is_an_inference_is_stated_as_an_estimate():
    # IMPACT.md: the 343,000 establishments are "an inference, to be stated as such";
    # the 148,429 associations are a published count
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        companies = load_survey("entreprises", 2021, data_dir=DATA)
        associations = load_survey("associations", 2021, data_dir=DATA)
    card = findings.study_card(companies)["Population"]
    assert f"environ 343{NNBSP}000 établissements, estimation" in card
    assert f"environ 343{NNBSP}000 établissements, estimation" in blocks.methodology(companies, audience="partner")
    assert "estimation" not in findings.study_card(associations)["Population"]
    assert f"(148{NNBSP}429 associations)" in findings.study_card(associations)["Population"]
