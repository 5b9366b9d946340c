"""read_sav: labels in code order, user-missing codes, variable labels, errors.

The input files are written here with pyreadstat, so every expected value is
stated by the test itself.
"""

import inspect

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from ramlab.errors import DataFileError
from ramlab.io.sav import SYNTHETIC_LABEL, SYNTHETIC_NOTE, read_sav, require_columns


def _write(path, df, **meta):
    pyreadstat.write_sav(df, str(path), **meta)
    return path


@pytest.fixture
def labelled(tmp_path):
    df = pd.DataFrame(
        {
            "q1": [3.0, 1.0, 9.0, np.nan, 2.0, 1.0],
            "q2": [1.0, 2.0, 2.0, 1.0, 3.0, 2.0],
            "age": [34.0, 51.0, np.nan, 28.0, 60.0, 45.0],
            "q3": [1.0, 5.0, 2.0, 1.0, 1.0, 2.0],
        }
    )
    return _write(
        tmp_path / "labelled.sav",
        df,
        column_labels={"q1": "Q1. Êtes-vous satisfait ?", "q2": "Q2. Secteur", "age": "Âge"},
        # Labels given out of code order, and alphabetical order differs from code order.
        variable_value_labels={
            "q1": {9: "Ne sait pas", 2: "Oui, plutôt", 1: "Oui, tout à fait", 3: "Non"},
            "q2": {3: "Action sociale", 1: "Sport", 2: "Culture"},
            "q3": {1: "Oui", 2: "Non"},
        },
        missing_ranges={"q1": [9]},
        variable_measure={"q1": "ordinal", "q2": "nominal", "age": "scale"},
    )


def test_categories_in_code_order_not_alphabetical(labelled):
    df = read_sav(labelled)
    assert list(df["q1"].cat.categories) == ["Oui, tout à fait", "Oui, plutôt", "Non", "Ne sait pas"]
    assert list(df["q2"].cat.categories) == ["Sport", "Culture", "Action sociale"]
    assert list(df["q2"]) == ["Sport", "Culture", "Culture", "Sport", "Action sociale", "Culture"]


def test_ordinal_scale_is_ordered_nominal_is_not(labelled):
    df = read_sav(labelled)
    assert df["q1"].cat.ordered
    assert not df["q2"].cat.ordered


def test_user_missing_stays_distinct_from_system_missing(labelled):
    df = read_sav(labelled)
    assert df.loc[2, "q1"] == "Ne sait pas"  # user-missing code 9 kept as a category
    assert pd.isna(df.loc[3, "q1"])  # system missing stays NaN
    assert df.attrs["user_missing"] == {"q1": ["Ne sait pas"]}
    assert df["q1"].isna().sum() == 1


def test_variable_and_value_labels_kept(labelled):
    df = read_sav(labelled)
    assert df.attrs["variable_labels"]["q1"] == "Q1. Êtes-vous satisfait ?"
    assert df.attrs["variable_labels"]["age"] == "Âge"
    assert df.attrs["value_labels"]["q1"] == {
        1: "Oui, tout à fait", 2: "Oui, plutôt", 3: "Non", 9: "Ne sait pas"
    }
    assert df.attrs["file"] == str(labelled)


def test_unlabelled_numeric_stays_numeric(labelled):
    df = read_sav(labelled)
    assert df["age"].dtype == np.float64
    assert df["age"].isna().sum() == 1


def test_unlabelled_code_keeps_its_code_as_category(labelled):
    df = read_sav(labelled)
    assert list(df["q3"].cat.categories) == ["Oui", "Non", "5"]
    assert df.loc[1, "q3"] == "5"


def test_synthetic_mark_from_file_label(tmp_path):
    df = pd.DataFrame({"x": [1.0, 2.0]})
    path = _write(tmp_path / "s.sav", df, file_label=SYNTHETIC_LABEL)
    assert read_sav(path).attrs["synthetic"] is True


def test_synthetic_mark_from_note(tmp_path):
    df = pd.DataFrame({"x": [1.0, 2.0]})
    path = _write(tmp_path / "s.sav", df, note=["autre note", SYNTHETIC_NOTE])
    assert read_sav(path).attrs["synthetic"] is True


def test_real_file_is_not_synthetic(tmp_path):
    df = pd.DataFrame({"x": [1.0, 2.0]})
    path = _write(tmp_path / "r.sav", df, file_label="IMPACT 2021 - fichier client")
    assert read_sav(path).attrs["synthetic"] is False


def test_no_parameter_can_turn_off_the_synthetic_mark():
    assert list(inspect.signature(read_sav).parameters) == ["path", "encoding"]


def test_delivered_weight_found_by_note_or_name(tmp_path):
    df = pd.DataFrame({"x": [1.0, 2.0], "coefpond": [1.5, 0.5]})
    path = _write(tmp_path / "w.sav", df, note=["ramlab:weight=coefpond"])
    assert read_sav(path).attrs["weight"] == "coefpond"
    df = pd.DataFrame({"x": [1.0, 2.0], "POIDS": [1.5, 0.5]})
    assert read_sav(_write(tmp_path / "p.sav", df)).attrs["weight"] == "POIDS"
    df = pd.DataFrame({"x": [1.0, 2.0]})
    assert read_sav(_write(tmp_path / "n.sav", df)).attrs["weight"] is None


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "absent.sav"
    with pytest.raises(DataFileError, match="absent.sav") as info:
        read_sav(path)
    assert info.value.path == str(path)


def test_damaged_file_names_the_file(tmp_path):
    path = tmp_path / "garbage.sav"
    path.write_bytes(b"this is not an SPSS file\n" * 20)
    with pytest.raises(DataFileError, match="garbage.sav") as info:
        read_sav(path)
    assert info.value.path == str(path)


def test_truncated_file_names_the_file(labelled, tmp_path):
    content = labelled.read_bytes()
    path = tmp_path / "truncated.sav"
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(DataFileError, match="truncated.sav"):
        read_sav(path)


def test_duplicate_labels_name_the_variable(tmp_path):
    df = pd.DataFrame({"q9": [1.0, 2.0]})
    path = _write(tmp_path / "dup.sav", df, variable_value_labels={"q9": {1: "Oui", 2: "Oui"}})
    with pytest.raises(DataFileError, match="q9") as info:
        read_sav(path)
    assert info.value.variable == "q9"


def test_required_variable_absent_names_file_and_variable(labelled):
    df = read_sav(labelled)
    require_columns(df, ["q1", "q2"])
    with pytest.raises(DataFileError, match=r"labelled\.sav.*'q8_2'") as info:
        require_columns(df, ["q1", "q8_2"])
    assert info.value.variable == "q8_2"
    assert info.value.path == str(labelled)
