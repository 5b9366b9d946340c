"""Weights and breakdowns that used to fail with the wrong error (issue 11, item 12)."""

import warnings

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from ramlab import load_survey
from ramlab.design import Design
from ramlab.errors import WeightError
from ramlab.io.sav import read_sav
from ramlab.tables import banner


def _delivered_survey(tmp_path, weights):
    """A one-question survey weighted as delivered, with the given weight column."""
    data_dir = tmp_path / "data"
    for sub in ("specs", "population", "raw"):
        (data_dir / sub).mkdir(parents=True)
    n = len(weights)
    df = pd.DataFrame({"q1": np.tile([1.0, 2.0], n // 2), "poids": weights})
    pyreadstat.write_sav(df, str(data_dir / "raw" / "mini_2024.sav"),
                         variable_value_labels={"q1": {1: "Oui", 2: "Non"}})
    (data_dir / "specs" / "mini_2024.yaml").write_text(
        "survey: mini\nyear: 2024\n"
        "study: {title: T, population: P, population_size: 100, unit: u, mode: m,\n"
        "        fieldwork_start: 2024-01-01, fieldwork_end: 2024-01-31,\n"
        f"        sample_size: {n}, institute: I, source: S}}\n"
        "questions:\n  q2: {text: Q, type: single, column: q1, categories: [Oui, Non]}\n"
        "weighting: {mode: delivered, weight_variable: poids, tolerance: 0.001, margins: []}\n",
        encoding="utf-8",
    )
    return data_dir


def test_all_zero_weights_say_so(tmp_path):
    data_dir = _delivered_survey(tmp_path, [0.0] * 6)
    with pytest.raises(WeightError, match="'poids' is zero for every respondent") as info:
        load_survey("mini", 2024, data_dir=data_dir)
    assert info.value.variable == "poids"


def test_weight_too_large_to_sum_is_a_weight_error(tmp_path):
    data_dir = _delivered_survey(tmp_path, [1e308, 1.0, 2.0, 1.0, 1.0, 1.0])
    with pytest.raises(WeightError, match="'poids' is too large") as info:
        load_survey("mini", 2024, data_dir=data_dir)
    assert info.value.variable == "poids"


def test_weights_whose_sum_overflows(tmp_path):
    df = pd.DataFrame({"w": [1e308, 1e308, 1.0]})
    with pytest.raises(WeightError, match="too large"):
        Design(df, weights="w")


def test_ordinary_weights_still_accepted():
    df = pd.DataFrame({"w": [0.0, 1.5, 1e12]})
    assert Design(df, weights="w").weights.sum() == pytest.approx(1e12 + 1.5)


def test_labelled_breakdown_category_without_respondents_is_left_out_with_a_note(tmp_path):
    path = tmp_path / "b.sav"
    pyreadstat.write_sav(
        pd.DataFrame({"q1": [1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 1.0],
                      "taille": [1.0, 1.0, 2.0, 2.0, 1.0, 2.0, 1.0, 2.0]}),
        str(path),
        column_labels={"taille": "Taille"},
        variable_value_labels={
            "q1": {1: "Oui", 2: "Non"},
            "taille": {1: "Petite", 2: "Moyenne", 3: "Grande"},  # no "Grande" in the file
        },
    )
    data = read_sav(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = banner(Design(data), "q1", "taille", min_base=1)
    assert [c for _, c in table.frame.columns] == ["Ensemble", "Petite", "Moyenne"]
    notes = " ".join(table.notes("q1"))
    assert "Grande" in notes and "aucun répondant" in notes
    # The other columns are as they would be without the empty category.
    unweighted = data.groupby("taille", observed=True)["q1"].value_counts(normalize=True)
    assert table.frame.loc[("q1", "", "Oui"), ("taille", "Petite")] == pytest.approx(
        unweighted[("Petite", "Oui")]
    )


def test_breakdown_group_without_respondents_in_a_question_base_leaves_its_column_empty(tmp_path):
    rng = np.random.default_rng(5)
    n = 300
    data = pd.DataFrame({
        "q1": pd.Categorical(rng.choice(["Oui", "Non"], n), categories=["Oui", "Non"]),
        "q2": pd.Categorical(rng.choice(["Oui", "Non"], n), categories=["Oui", "Non"]),
        "taille": pd.Categorical(rng.choice(["Petite", "Moyenne", "Grande"], n),
                                 categories=["Petite", "Moyenne", "Grande"]),
    })
    base = (data["taille"] != "Grande").to_numpy()  # no "Grande" in this base
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = banner(Design(data), ["q1", "q2"], "taille", base=base, base_label="Sans les grandes")
        without = banner(Design(data.assign(taille=data["taille"].cat.remove_categories("Grande"))),
                         ["q1", "q2"], "taille", base=base, base_label="Sans les grandes")
    assert np.isnan(table.frame.loc[("q1", "", "Oui"), ("taille", "Grande")])
    assert table.frame.loc[("q1", "", "Base brute (effectif)"), ("taille", "Grande")] == 0
    assert any("« Grande »" in line for line in table.notes("q1"))
    assert "Grande" in table.to_html()
    assert table.display_frame().loc[("q1", "", "Oui"), ("taille", "Grande")] in ("", "–", "-")
    table.to_excel(tmp_path / "t.xlsx")
    # The other columns are what a table without that group gives.
    for col in [("Total", "Ensemble"), ("taille", "Petite"), ("taille", "Moyenne")]:
        np.testing.assert_allclose(table.frame[col].to_numpy(), without.frame[col].to_numpy())
        np.testing.assert_allclose(table.se[col].to_numpy(), without.se[col].to_numpy())
