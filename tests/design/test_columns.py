"""Reading a design's columns (``design/_columns.py``): what a user gives (a column name, a
Series of weights) and the checks R's svydesign makes, each refusal naming the column,
the role it was given and the values at fault."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import Design
from ramlab.errors import ColumnNotFoundError, DesignError, WeightError


def _data(n=6):
    return pd.DataFrame({"y": np.arange(1.0, n + 1), "g": [1, 2, 3] * (n // 3),
                         "w": np.linspace(1.0, 2.0, n)})


# ---------------------------------------------------------------- column names
def test_a_missing_column_lists_columns_starting_with_its_first_two_letters():
    d = Design(pd.DataFrame({"age": [1.0, 2.0], "Agglo": [3.0, 4.0], "taille": [1.0, 2.0]}))
    with pytest.raises(ColumnNotFoundError) as err:
        d.mean("agx")  # the first two letters, in any case: age, Agglo
    msg = str(err.value)
    assert "'age'" in msg and "'Agglo'" in msg and "'taille'" not in msg, msg
    assert re.search(r"'age', 'Agglo'", msg), msg  # listed as the names, comma-separated
    assert err.value.variable == "agx" and re.search(r"\bvariable column 'agx'", msg), msg
    with pytest.raises(ColumnNotFoundError) as err:
        d.mean("zz")
    assert re.search(r"'zz' is not in the data$", str(err.value)), str(err.value)  # nothing alike: no list


# ---------------------------------------------------------------- weights as a Series
def test_weights_on_a_data_index_with_repeated_labels_are_taken_as_they_are():
    data = _data()
    data.index = [0, 1, 2, 0, 1, 2]  # e.g. pd.concat without ignore_index
    by_series = Design(data, weights=data["w"]).total("y")
    by_name = Design(data, weights="w").total("y")
    np.testing.assert_array_equal(by_series.to_numpy(), by_name.to_numpy())


def test_weights_in_another_order_are_aligned_on_the_index():
    data = _data()
    shuffled = data["w"].iloc[[3, 0, 5, 1, 4, 2]]
    np.testing.assert_array_equal(Design(data, weights=shuffled).weights.to_numpy(), data["w"].to_numpy())


@pytest.mark.parametrize("labels, n_extra", [([0, 1, 2, 3, 4], 0), ([0, 1, 2, 3, 4, 4], 0),
                                             ([0, 1, 2, 3, 10, 11], 2)],
                         ids=["fewer", "repeated", "foreign"])
def test_weights_whose_index_does_not_match_are_refused_with_the_facts(labels, n_extra):
    data = _data()
    w = pd.Series(np.ones(len(labels)), index=labels, name="w")
    with pytest.raises(DesignError) as err:
        Design(data, weights=w)
    msg = str(err.value)
    assert re.search(r"\bweights\b", msg), msg
    assert re.search(rf"\b{len(labels)} labels\b", msg) and re.search(rf"\b{n_extra} not in the data\b", msg), msg
    assert re.search(r"\b6 rows\b", msg), msg
    if n_extra:
        assert "[10, 11]" in msg, msg  # the labels not in the data


# ---------------------------------------------------------------- categories
def test_integer_codes_with_value_labels_are_categories_and_without_are_refused():
    data = _data()
    data.attrs["value_labels"] = {"g": {1: "un", 2: "deux", 3: "trois"}}
    out = Design(data, weights="w").mean("y", by="g")
    assert len(out) == 3
    plain = _data()
    with pytest.raises(DesignError) as err:
        Design(plain, weights="w").mean("y", by="g")
    msg = str(err.value)
    assert err.value.variable == "g" and re.search(r"\bby variable 'g'", msg) and "int64" in msg, msg


# ---------------------------------------------------------------- weight values
@pytest.mark.parametrize("values, facts", [
    ([1.0, np.nan, 2.0, np.nan], [r"\b2 missing values\b"]),
    ([1.0, -0.5, 2.0, 3.0], [r"\bnegative\b", r"-0\.5\b"]),
    ([1.0, np.inf, 2.0, 3.0], [r"\binfinite\b"]),
    ([0.0, 0.0, 0.0, 0.0], [r"\bzero for every respondent\b", r"\b4 rows\b", r"no estimate can be made$"]),
    ([1e200, 1.0, 2.0, 3.0], [r"\btoo large\b", r"1e\+200"]),
    ([1e160, 1e160, 2.0, 3.0], [r"\btoo large\b", r"1e\+160"]),  # finite sum, infinite sum of squares
], ids=["missing", "negative", "infinite", "zero", "overflow", "overflow_of_squares"])
def test_weights_refused_name_the_column_and_the_values_at_fault_without_numpy_warnings(values, facts):
    data = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "poids": values})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(WeightError) as err:
            Design(data, weights="poids")
    msg = str(err.value)
    assert err.value.variable == "poids" and re.search(r"\bweight 'poids'", msg), msg
    for fact in facts:
        assert re.search(fact, msg), (fact, msg)


def test_weights_of_0_on_some_rows_are_accepted():
    data = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "poids": [0.0, 0.5, 0.0, 0.25]})
    assert Design(data, weights="poids").total("y")["estimate"].iloc[0] == 2.0
