"""What a design shows in JupyterLab (``design_facts``, ``facts_html``, ``SurveyDesign._repr_html_``).

Each fact of the card is checked against the design it describes: its
sampling structure (R ``svydesign``'s arguments), its rows, the sum of its
weights (apistrat's ``pw`` sum to the 6,194 schools of the population), the
weighting steps in order and Kish's (1965) design effect
n sum(w^2) / (sum w)^2, computed here from the weights.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab.design import Design, design_facts, facts_html, stack_designs
from ramlab.format import fmt_int, fmt_number
from ramlab.weighting import Reweighting

LABELS = ["Plan de sondage", "Répondants", "Total des poids", "Redressement", "Effet de plan (Kish)"]
STYPE = {"stype": {"E": 4421, "H": 755, "M": 1018}}  # apipop's schools by type (R survey's api data)


def _facts(design):
    facts = design_facts(design, design.weight_name)
    assert [label for label, _ in facts] == LABELS
    return dict(facts)


def _numbers(text):
    """The numbers of a French text, as written ("6 194", "1,19")."""
    return re.findall(r"\d[\d\u202f]*(?:,\d+)?", text)


@pytest.fixture(scope="module")
def apistrat():
    return R.load_data("apistrat")


def test_the_sampling_design_names_its_strata_clusters_and_fpc(apistrat):
    strat = Design(apistrat, strata="stype", weights="pw", fpc="fpc")
    assert _facts(strat)["Plan de sondage"].split(" ; ") == [
        "strates : stype", "correction de population finie : fpc"]
    clus2 = Design(R.load_data("apiclus2"), ids=["dnum", "snum"], fpc=["fpc1", "fpc2"])
    assert _facts(clus2)["Plan de sondage"].split(" ; ") == [
        "grappes : dnum, snum", "correction de population finie : fpc1, fpc2"]
    srs = Design(apistrat)
    assert _facts(srs)["Plan de sondage"] == "sondage aléatoire simple (chaque répondant est son unité)"
    # R as.svrepdesign(dclus1, type = "JK1"): one replicate per PSU, 15 districts
    rep = Design(R.load_data("apiclus1"), ids="dnum", weights="pw").replicate("JK1")
    assert _numbers(_facts(rep)["Plan de sondage"]) == ["15"]


def test_rows_weights_and_kish_design_effect_are_the_designs(apistrat):
    d = Design(apistrat, strata="stype", weights="pw", fpc="fpc")
    facts = _facts(d)
    assert _numbers(facts["Répondants"]) == ["200", "200"]
    assert facts["Total des poids"] == fmt_int(6194)
    assert facts["Redressement"] == "poids « pw » tel que livré"
    w = apistrat["pw"].to_numpy()
    kish = len(w) * (w**2).sum() / w.sum() ** 2
    assert 1.1 < kish < 1.3  # the strata's weights differ: 44.21, 15.1, 20.36
    assert _numbers(facts["Effet de plan (Kish)"]) == [fmt_number(kish, 2), fmt_int(len(w) / kish)]
    # a domain keeps its 200 rows, 100 of them (the elementary schools) of nonzero weight
    domain = _facts(d.subset("stype == 'E'"))
    assert _numbers(domain["Répondants"]) == ["200", "100"]
    assert domain["Total des poids"] == fmt_int(4421)
    assert domain["Redressement"] == "domaine"
    assert _numbers(domain["Effet de plan (Kish)"]) == ["1,00", "100"]  # one weight, 44.21


def test_the_weighting_steps_are_listed_in_order(apistrat):
    d = Design(apistrat, strata="stype", weights="pw", fpc="fpc")
    raked = d.rake({"sch.wide": {"No": 1072, "Yes": 5122}})
    assert _facts(raked)["Redressement"] == "calage sur marges (raking)"
    steps = _facts(raked.trim(upper=60.0).subset("stype == 'E'"))["Redressement"].split(", puis ")
    assert steps == ["calage sur marges (raking)", "écrêtage des poids", "domaine"]
    assert _facts(Design(apistrat))["Redressement"] == "aucun (poids égaux)"


def test_weights_given_by_apply_weighting_are_not_shown_as_delivered(apistrat):
    """A step of :meth:`apply_weighting` changes the weights: it is not "as delivered" nor "equal"."""
    d = Design(apistrat, strata="stype", weights="pw", fpc="fpc")
    given = d.apply_weighting(Reweighting(d.weight_values * 2, None))
    assert _facts(given)["Redressement"] == "poids donnés par apply_weighting"
    assert _facts(given)["Total des poids"] == fmt_int(2 * 6194)
    then = _facts(given.subset("stype == 'E'"))["Redressement"].split(", puis ")
    assert then == ["poids donnés par apply_weighting", "domaine"]


def test_weights_from_the_fpc_are_not_called_equal(apistrat):
    """R ``svydesign(strata = ~stype, fpc = ~fpc)`` without weights: N_h / n_h, which differ by stratum."""
    d = Design(apistrat, strata="stype", fpc="fpc")
    facts = _facts(d)
    assert facts["Total des poids"] == fmt_int(6194)
    assert facts["Redressement"] == "aucun (poids de sondage du plan, inégaux)"
    assert _numbers(facts["Effet de plan (Kish)"])[0] != "1,00"


def test_stacked_designs_show_the_calibrations_they_keep(apistrat):
    clus1 = R.load_data("apiclus1")
    designs = {2015: Design(apistrat, strata="stype", weights="pw", fpc="fpc").rake(STYPE),
               2021: Design(clus1, ids="dnum", weights="pw", fpc="fpc").rake(STYPE)}
    data = pd.concat([apistrat, clus1], ignore_index=True)
    stacked = stack_designs(designs, data)
    facts = _facts(stacked)
    assert facts["Redressement"] == "2 calage(s) conservé(s) de leurs échantillons"
    # not the stacked design's own columns of strata and units, which the data does not have
    assert facts["Plan de sondage"] == "échantillons indépendants empilés, chacun avec ses strates, grappes et fpc"
    assert _numbers(facts["Répondants"]) == [str(200 + 183), str(200 + 183)]
    assert facts["Total des poids"] == fmt_int(2 * 6194)
    domain = _facts(stacked.subset((data["stype"] == "E").to_numpy()))
    assert domain["Redressement"].split(", puis ") == [
        "2 calage(s) conservé(s) de leurs échantillons", "domaine"]
    # stacked samples that were not weighted by ramlab: their own weights, not equal ones
    plain = stack_designs({2015: Design(apistrat, strata="stype", weights="pw"),
                           2021: Design(clus1, ids="dnum", weights="pw")}, data)
    assert _facts(plain)["Redressement"] == "aucun (poids de sondage du plan, inégaux)"


def _card(text):
    """The card as an element tree; no text may stand outside its elements."""
    card = ET.fromstring(text)
    for element in card.iter():
        if element.tag in ("div", "table", "tr"):
            assert not (element.text or "").strip(), (element.tag, element.text)
        if element is not card:
            assert not (element.tail or "").strip(), (element.tag, element.tail)
    return card


def test_the_card_holds_the_title_the_facts_and_the_notes_escaped():
    facts = [("a & b", "x < y"), ("c", 2), ("d", "'q'")]
    card = _card(facts_html("Titre <1>", facts, ["note 1", "note & 2"]))
    assert card.find("strong").text == "Titre <1>"
    rows = [(tr.find("th").text, tr.find("td").text) for tr in card.find("table").findall("tr")]
    assert rows == [("a & b", "x < y"), ("c", "2"), ("d", "'q'")]
    assert [p.find("small").text for p in card.findall("p")] == ["note 1", "note & 2"]
    assert _card(facts_html("T", facts)).findall("p") == []


def test_a_designs_view_is_its_facts_under_its_class_name(apistrat):
    d = Design(apistrat, strata="stype", weights="pw", fpc="fpc")
    for design in (d, d.replicate("JKn")):
        card = _card(design._repr_html_())
        assert card.find("strong").text == type(design).__name__
        rows = [(tr.find("th").text, tr.find("td").text) for tr in card.find("table").findall("tr")]
        assert rows == design_facts(design, "pw")


def test_repr_names_the_clusters_strata_fpc_and_calibrations():
    data = R.load_data("apiclus1")
    clustered = Design(data, weights="pw", ids="dnum", fpc="fpc")
    assert repr(clustered) == "Design(n=183, ids=['dnum'], strata=None, fpc=['fpc'], calibrations=0)"
    raked = clustered.rake({"stype": {"E": 4421, "H": 755, "M": 1018}})
    assert repr(raked).endswith("calibrations=1)")
    assert repr(Design(data)) == "Design(n=183, ids=None, strata=None, fpc=None, calibrations=0)"
