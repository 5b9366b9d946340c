"""What ``Design.ciprop`` accepts: a column, a Series, an array, a category; its errors and warnings.

References: the documented contract of ``Design.ciprop`` (missing answers
left out, categories named, a warning on a comparison that counts missing
answers as "no"), the proportion computed by hand from the data, and the
documented error messages.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from ramlab.design import Design, ReplicateDesign
from ramlab.errors import ColumnNotFoundError, DesignError

OUI_NON = ["Oui", "Non", "Oui", None, "Non", "Oui", "Oui", None]
WEIGHTS = [2.0, 1.0, 1.5, 0.75, 0.5, 1.0, 2.5, 0.0]  # a missing answer of weight below 1, one of weight 0


@pytest.fixture
def data():
    df = pd.DataFrame({
        "q": pd.Categorical(OUI_NON, categories=["Non", "Oui", "Peut-être"]),
        "q_text": np.array(OUI_NON, dtype=object),
        "y": [1.0, 0.0, 1.0, np.nan, 0.0, 1.0, 1.0, np.nan],
        "w": WEIGHTS,
    }, index=[10, 11, 12, 13, 14, 15, 16, 17])
    df["q_object"] = pd.Series(OUI_NON, dtype=object, index=df.index)  # text as Python objects
    return df


def _share_of_oui():
    w = np.array(WEIGHTS)
    known = np.array([a is not None for a in OUI_NON])
    oui = np.array([a == "Oui" for a in OUI_NON])
    return w[oui].sum() / w[known].sum()  # 7 / 8.5 (known answers only)


def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call()


def test_the_variable_given_as_a_column_a_series_or_an_array(data):
    d = Design(data, weights="w")
    expected = _share_of_oui()
    by_name = _quiet(lambda: d.ciprop("y", method="mean"))
    assert by_name.name == "y"
    assert by_name["estimate"] == pytest.approx(expected, rel=1e-14)
    unnamed = pd.Series(data["y"].to_numpy(), index=data.index)
    by_series = _quiet(lambda: d.ciprop(unnamed, method="mean"))
    by_array = _quiet(lambda: d.ciprop(data["y"].to_numpy(), method="mean"))
    by_list = _quiet(lambda: d.ciprop(list(data["y"]), method="mean"))
    for out in (by_series, by_array, by_list):
        assert out.name == "x"
        pd.testing.assert_series_equal(out.rename("y"), by_name)
    shuffled = data["y"].rename("oui").sample(frac=1.0, random_state=3)
    by_shuffled = _quiet(lambda: d.ciprop(shuffled, method="mean"))
    assert by_shuffled.name == "oui"
    pd.testing.assert_series_equal(by_shuffled.rename("y"), by_name)


@pytest.mark.parametrize("dtype", ["Int64", "Float64", "boolean"])
def test_nullable_pandas_columns_keep_their_missing_answers_out(data, dtype):
    d = Design(data.assign(z=data["y"].astype(dtype)), weights="w")
    out = _quiet(lambda: d.ciprop("z", method="mean"))
    assert out["estimate"] == pytest.approx(_share_of_oui(), rel=1e-14)
    pd.testing.assert_series_equal(out.rename("y"), d.ciprop("y", method="mean"))


@pytest.mark.parametrize("column", ["q", "q_text", "q_object"])
def test_a_category_of_a_categorical_or_text_column(data, column):
    d = Design(data, weights="w")
    out = _quiet(lambda: d.ciprop(column, category="Oui", method="mean"))
    assert out.name == f"{column} = Oui"
    assert out["estimate"] == pytest.approx(_share_of_oui(), rel=1e-14)
    assert _quiet(lambda: d.ciprop(column, category="Non", method="mean"))["estimate"] == pytest.approx(
        1 - _share_of_oui(), rel=1e-14)


def test_a_category_nobody_chose_is_a_share_of_zero(data):
    # "Peut-être" is one of the question's categories: 0 of the 6 respondents,
    # Wilson's closed form with n = 6 and t(0.975, 5)
    from scipy import stats

    out = _quiet(lambda: Design(data, weights="w").ciprop("q", category="Peut-être", method="wilson"))
    z2 = stats.t.ppf(0.975, 5) ** 2
    assert out["estimate"] == 0.0
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((0.0, z2 / (6 + z2)), abs=1e-15)


@pytest.mark.parametrize("column", ["q", "q_text", "q_object"])
def test_an_unknown_category_is_named(data, column):
    d = Design(data, weights="w")
    labels = "['Non', 'Oui', 'Peut-être']" if column == "q" else "['Oui', 'Non']"  # text: in order of appearance
    message = f"category 'Sans avis' is not one of '{column}': {labels}"
    with pytest.raises(DesignError, match=f"^{re.escape(message)}$") as info:
        d.ciprop(column, category="Sans avis")
    assert info.value.variable == column


@pytest.mark.parametrize("column, shown, first", [
    ("q", "['Non', 'Oui', 'Peut-être']", "Non"),
    ("q_text", "['Non', 'Oui']", "Non"),  # text: sorted
    ("q_object", "['Non', 'Oui']", "Non"),
])
def test_categories_without_a_category_say_how(data, column, shown, first):
    message = (f"'{column}' holds categories {shown}: name the one to estimate, "
               f"d.ciprop('{column}', category='{first}') (the rows where the answer is missing "
               f"are left out). Not d.data['{column}'] == ..., which counts a missing answer as no")
    with pytest.raises(DesignError, match=f"^{re.escape(message)}$") as info:
        Design(data, weights="w").ciprop(column)
    assert info.value.variable == column


def test_a_question_nobody_answered_suggests_oui(data):
    d = Design(data.assign(empty=pd.Series([None] * 8, dtype=object, index=data.index)), weights="w")
    with pytest.raises(DesignError, match=re.escape("holds categories []: name the one to estimate, "
                                                    "d.ciprop('empty', category='Oui')")):
        d.ciprop("empty")


def test_an_unknown_column_is_named(data):
    with pytest.raises(ColumnNotFoundError, match=r"^variable column 'oui' is not in the data") as info:
        Design(data, weights="w").ciprop("oui")
    assert info.value.variable == "oui"


def test_a_series_on_other_rows_is_refused(data):
    other = pd.Series(data["y"].to_numpy(), index=data.index + 100)
    with pytest.raises(DesignError, match=r"^the variable of ciprop is a Series whose index does not match"):
        Design(data, weights="w").ciprop(other)


@pytest.mark.parametrize("values, shape", [([1.0, 0.0, 1.0], "(3,)"), ([1.0, np.nan, 1.0], "(3,)"),
                                           (np.ones((8, 1)), "(8, 1)"), (np.ones(9), "(9,)")])
def test_an_array_of_another_length_is_refused(data, values, shape):
    with pytest.raises(DesignError, match=rf"^the variable of ciprop has shape {re.escape(shape)} for 8 rows") as info:
        Design(data, weights="w").ciprop(values)
    assert info.value.variable == "x"


def test_a_comparison_that_counts_missing_answers_warns(data):
    d = Design(data, weights="w")
    with pytest.warns(UserWarning) as record:
        d.ciprop(data["q"] == "Oui")  # the row of weight 0 is not counted
    (warning,) = record
    assert str(warning.message) == ("ciprop: 'q' has 1 missing answers, counted here as false; "
                                    "d.ciprop('q', category=...) leaves them out")


@pytest.mark.caller_line
def test_that_warning_points_at_the_callers_line(data):
    with pytest.warns(UserWarning) as record:
        Design(data, weights="w").ciprop(data["q"] == "Oui")
    assert [w.filename for w in record] == [__file__]


def test_no_warning_where_no_answer_is_counted_as_no(data):
    d = Design(data, weights="w")
    answered = data.assign(q=data["q"].fillna("Non"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d.ciprop(data["q"].map({"Oui": 1.0, "Non": 0.0}).astype(float))  # a float Series named q keeps NaN
        Design(answered, weights="w").ciprop(answered["q"] == "Oui")  # a comparison without missing answers
        d.ciprop((data["q"] == "Oui").rename("oui"))  # a name that is no column


def test_light_weights_do_not_hide_missing_answers():
    # every weight below 1: the missing answer is still left out
    data = pd.DataFrame({"y": [1.0, 0.0, np.nan, 1.0], "w": [0.25, 0.5, 0.5, 0.25]})
    out = Design(data, weights="w").ciprop("y", method="mean")
    assert out["estimate"] == pytest.approx(0.5 / 1.0, rel=1e-14)


def test_likelihood_at_the_edges_says_why_and_what_to_use():
    data = pd.DataFrame({"no": np.zeros(20), "yes": np.ones(20)})
    d = Design(data)
    for column, answer, p in (("no", "no", "0"), ("yes", "yes", "1")):
        message = (f'ciprop(method="likelihood"): no interval when every answer is {answer} '
                   f"(p = {p}; R's svyciprop errors too); use method=\"wilson\" or \"logit\"")
        with pytest.raises(DesignError, match=f"^{re.escape(message)}$"):
            d.ciprop(column, method="likelihood")


def test_likelihood_on_a_census_says_why_and_what_to_use():
    # fpc = the sample size: variance exactly 0, p = 0.6 is exact
    data = pd.DataFrame({"y": [1.0, 0.0, 0.0, 1.0, 1.0], "n": 5.0})
    with pytest.raises(DesignError) as err:
        Design(data, fpc="n").ciprop("y", method="likelihood")
    message = str(err.value)
    assert message.startswith('ciprop(method="likelihood"): no interval on a census design'), message
    assert "p = 0.6 is exact; R's svyciprop errors too" in message
    assert message.endswith('use method="logit" or "mean", which give (p, p)'), message


def test_likelihood_on_a_replicate_design_says_why_and_what_to_use():
    data = pd.DataFrame({"y": [1.0, 0.0, 1.0, 1.0], "r1": [0, 2, 2, 2], "r2": [2, 0, 2, 2]})
    d = ReplicateDesign(data, repweights=["r1", "r2"], type="JK1")
    message = ('ciprop(method="likelihood") needs a linearised design: on a replicate design '
               "R's svyciprop answers NA (the profile interval scales by svyglm's model-based "
               "covariance, which a replicate-weight svyglm does not have); use method=\"logit\", "
               '"beta", "xlogit", "asin", "mean" or "wilson"')
    with pytest.raises(DesignError, match=f"^{re.escape(message)}$"):
        d.ciprop("y", method="likelihood")


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1])
def test_a_level_outside_zero_one_is_refused(level):
    d = Design(pd.DataFrame({"y": [1.0, 0.0, 1.0]}))
    with pytest.raises(ValueError, match=r"^level must be between 0 and 1$"):
        d.ciprop("y", level=level)


def test_an_unknown_method_is_named():
    d = Design(pd.DataFrame({"y": [1.0, 0.0, 1.0]}))
    message = ("method must be one of ('logit', 'likelihood', 'beta', 'xlogit', 'mean', 'asin', 'wilson'), "
               "not 'exact'")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        d.ciprop("y", method="exact")
