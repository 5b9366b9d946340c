"""read_sav on files as other writers make them (issue 11, items 1 to 6).

Every file is written here with pyreadstat, and every expected value comes from
pyreadstat's own reads of the same file: ``read_sav(path, user_missing=True)``
(codes as stored, user-missing codes kept) and its default read (user-missing
codes as NaN). Nothing expected is computed by ramlab.
"""

import datetime as dt
import math
import unicodedata
import warnings

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from ramlab.errors import DataFileError
from ramlab.io.sav import read_sav


def _write(path, df, **meta):
    pyreadstat.write_sav(df, str(path), **meta)
    return path


def _labelled_as_pyreadstat(path, var, **options):
    """The column as pyreadstat's codes mapped through the file's own labels."""
    raw, meta = pyreadstat.read_sav(str(path), user_missing=True, **options)
    labels = meta.variable_value_labels[var]
    out = []
    for value in raw[var]:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out.append(None)
        elif value in labels:
            out.append(unicodedata.normalize("NFC", labels[value]).strip())
        elif isinstance(value, float) and value.is_integer():
            out.append(str(int(value)))
        else:
            out.append(str(value))
    return out


def _as_list(series):
    return [None if pd.isna(v) else v for v in series.astype(object)]


# ------------------------------------------------------------------ item 1: labelled strings


@pytest.fixture
def strings(tmp_path):
    df = pd.DataFrame(
        {
            "region": ["NO", "IDF", "SUD", "XX", "IDF", "", "NSP", "NO"],
            "code_postal": ["75001", "13001", "NSP", "69001", "", "75001", "RF", "NSP"],
        }
    )
    return _write(
        tmp_path / "strings.sav", df,
        variable_value_labels={
            # Labels out of code order; code order (sorted codes) is IDF, NO, NSP, SUD.
            "region": {"SUD": "Sud", "NO": "Nord-Ouest", "IDF": "Île-de-France", "NSP": "Ne sait pas"},
        },
        missing_ranges={"region": ["NSP"], "code_postal": ["NSP", "RF"]},
        variable_measure={"region": "nominal"},
    )


def test_labelled_string_becomes_a_categorical_in_code_order(strings):
    df = read_sav(strings)
    col = df["region"]
    assert isinstance(col.dtype, pd.CategoricalDtype)
    assert list(col.cat.categories) == ["Île-de-France", "Nord-Ouest", "Ne sait pas", "Sud", "XX"]
    expected = _labelled_as_pyreadstat(strings, "region")
    expected = [None if v == "" else v for v in expected]  # a blank string is no answer
    assert _as_list(col) == expected


def test_string_user_missing_is_recorded_apart_from_valid_values(strings):
    df = read_sav(strings)
    assert df.attrs["user_missing"]["region"] == ["Ne sait pas"]
    assert df.attrs["missing_ranges"]["region"] == [("NSP", "NSP")]
    assert (df["region"] == "Ne sait pas").sum() == 1


def test_unlabelled_string_user_missing_is_missing_as_in_pyreadstat_default(strings):
    df = read_sav(strings)
    default, _ = pyreadstat.read_sav(str(strings))
    assert _as_list(df["code_postal"]) == _as_list(default["code_postal"])
    raw, _ = pyreadstat.read_sav(str(strings), user_missing=True)
    counts = raw["code_postal"].value_counts()
    assert df.attrs["missing_codes"]["code_postal"] == {"NSP": counts["NSP"], "RF": counts["RF"]}


def test_long_strings_and_labels_in_hebrew_and_telugu(tmp_path):
    long_text = "x" * 300 + "é" * 200  # beyond 255 bytes: a "very long string"
    df = pd.DataFrame(
        {
            "commentaire": [long_text, "court", ""],
            "langue": ["he", "te", "he"],
        }
    )
    path = _write(
        tmp_path / "langues.sav", df,
        variable_value_labels={"langue": {"he": "עברית", "te": "తెలుగు"}},
    )
    out = read_sav(path)
    raw, _ = pyreadstat.read_sav(str(path), user_missing=True)
    assert _as_list(out["commentaire"]) == _as_list(raw["commentaire"])
    assert _as_list(out["langue"]) == _labelled_as_pyreadstat(path, "langue")


# ------------------------------------------------------------------ item 2: numeric user-missing


@pytest.fixture
def numeric_missing(tmp_path):
    df = pd.DataFrame(
        {
            "age": [34.0, -1.0, 51.0, np.nan, 28.0, -1.0, 60.0],
            "revenu": [1500.0, 2500.0, 1800.0, 3000.0, 99999.0, 2000.0, 2200.0],
            "q1": [1.0, 2.0, 9.0, 1.0, np.nan, 2.0, 9.0],
        }
    )
    return _write(
        tmp_path / "missing.sav", df,
        variable_value_labels={"q1": {1: "Oui", 2: "Non", 9: "Ne sait pas"}},
        missing_ranges={
            "age": [-1],
            "revenu": [{"lo": 2000, "hi": 3000}, 99999],
            "q1": [9],
        },
    )


def test_unlabelled_user_missing_codes_are_missing_as_in_pyreadstat_default(numeric_missing):
    df = read_sav(numeric_missing)
    default, _ = pyreadstat.read_sav(str(numeric_missing))
    for var in ("age", "revenu"):
        assert df[var].dtype == np.float64
        np.testing.assert_array_equal(df[var].to_numpy(), default[var].to_numpy())
        assert df[var].mean() == pytest.approx(default[var].mean())


def test_unlabelled_user_missing_codes_are_recorded(numeric_missing):
    df = read_sav(numeric_missing)
    raw, meta = pyreadstat.read_sav(str(numeric_missing), user_missing=True)
    default, _ = pyreadstat.read_sav(str(numeric_missing))
    for var in ("age", "revenu"):
        masked = raw[var][default[var].isna() & raw[var].notna()]
        expected = {int(k): int(v) for k, v in masked.value_counts().items()}
        assert df.attrs["missing_codes"][var] == expected
    assert df.attrs["missing_ranges"]["revenu"] == [(2000, 3000), (99999, 99999)]


def test_labelled_categorical_keeps_its_user_missing_category(numeric_missing):
    df = read_sav(numeric_missing)
    assert _as_list(df["q1"]) == _labelled_as_pyreadstat(numeric_missing, "q1")
    assert df.attrs["user_missing"]["q1"] == ["Ne sait pas"]
    assert "q1" not in df.attrs["missing_codes"]


# ------------------------------------------------------------------ item 3: dates beyond Python


@pytest.fixture
def far_date(tmp_path):
    seconds_2020 = (dt.datetime(2020, 1, 1) - dt.datetime(1582, 10, 14)).total_seconds()
    df = pd.DataFrame(
        {
            "naissance": [seconds_2020, seconds_2020 + 86400 * 40, np.nan],
            "echeance": [seconds_2020, 1e14, seconds_2020],  # year ~3.2 million
            "horodatage": [seconds_2020 + 3661, np.nan, seconds_2020],
            "x": [1.0, 2.0, 3.0],
        }
    )
    path = _write(
        tmp_path / "dates.sav", df,
        variable_format={"naissance": "DATE11", "echeance": "DATE11", "horodatage": "DATETIME20"},
    )
    with pytest.raises(OverflowError):  # the file is valid, but pyreadstat cannot convert it
        pyreadstat.read_sav(str(path))
    return path


def test_date_beyond_python_range_is_read_with_a_warning(far_date):
    with pytest.warns(UserWarning, match="'echeance'"):
        df = read_sav(far_date)
    numbers, _ = pyreadstat.read_sav(str(far_date), disable_datetime_conversion=True)
    np.testing.assert_array_equal(df["echeance"].to_numpy(), numbers["echeance"].to_numpy())
    assert df.attrs["raw_dates"] == {"echeance": "DATE11"}


@pytest.mark.caller_line
def test_that_warning_points_at_the_callers_line(far_date):
    with pytest.warns(UserWarning, match="'echeance'") as record:
        read_sav(far_date)
    assert [w.filename for w in record] == [__file__]


def test_other_dates_of_that_file_read_as_pyreadstat_reads_them(far_date):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        df = read_sav(far_date)
    ref, _ = pyreadstat.read_sav(str(far_date), usecols=["naissance", "horodatage", "x"])
    for var in ("naissance", "horodatage", "x"):
        assert df[var].dtype == ref[var].dtype
        assert _as_list(df[var]) == _as_list(ref[var])


# ------------------------------------------------------------------ item 4: measures with a few labels


@pytest.fixture
def salary(tmp_path):
    rng = np.random.default_rng(11)
    values = np.round(rng.uniform(1200, 6000, 400), 0)
    values[::20] = 0.0
    df = pd.DataFrame({"salaire": values, "prime": values / 10, "q1": np.tile([1.0, 2.0], 200)})
    return _write(
        tmp_path / "salary.sav", df,
        # pyreadstat leaves the measure "unknown", as many writers do.
        variable_value_labels={
            "salaire": {0: "manquant"}, "prime": {0: "aucune"}, "q1": {1: "Oui", 2: "Non"},
        },
        missing_ranges={"prime": [0]},
    )


def test_numeric_with_a_few_labelled_codes_stays_numeric(salary):
    df = read_sav(salary)
    raw, meta = pyreadstat.read_sav(str(salary), user_missing=True)
    assert meta.variable_measure["salaire"] == "unknown"
    assert df["salaire"].dtype == np.float64
    # 0 = "manquant" is not declared user-missing: the file says it is a value.
    assert df["salaire"].mean() == pytest.approx(raw["salaire"].mean())
    assert df.attrs["value_labels"]["salaire"] == {0: "manquant"}


def test_labelled_special_code_declared_user_missing_is_missing(salary):
    df = read_sav(salary)
    default, _ = pyreadstat.read_sav(str(salary))
    assert df["prime"].dtype == np.float64
    assert df["prime"].mean() == pytest.approx(default["prime"].mean())
    assert df.attrs["value_labels"]["prime"] == {0: "aucune"}
    assert df.attrs["missing_codes"]["prime"] == {0: 20}
    assert isinstance(df["q1"].dtype, pd.CategoricalDtype)


# ------------------------------------------------------------------ item 5: encoding


@pytest.fixture
def wrong_encoding(tmp_path):
    """A UTF-8 file whose encoding record says ASCII (same length, so the file stays valid)."""
    df = pd.DataFrame({"caté": [1.0, 2.0, 1.0], "poids": [1.0, 2.0, 1.5], "ville": ["Sète", "Nîmes", "Agde"]})
    good = _write(
        tmp_path / "good.sav", df,
        variable_value_labels={"caté": {1: "Données", 2: "Réponse"}},
    )
    content = good.read_bytes()
    assert content.count(b"UTF-8") == 1
    path = tmp_path / "declared_ascii.sav"
    path.write_bytes(content.replace(b"UTF-8", b"ASCII"))
    return path


def test_wrong_encoding_record_suggests_the_encoding_argument(wrong_encoding):
    with pytest.raises(DataFileError, match=r"encoding=") as info:
        read_sav(wrong_encoding)
    assert info.value.path == str(wrong_encoding)
    assert "damaged" not in str(info.value)


def test_encoding_argument_reads_the_file(wrong_encoding):
    df = read_sav(wrong_encoding, encoding="utf-8")
    ref, _ = pyreadstat.read_sav(str(wrong_encoding), encoding="utf-8", user_missing=True)
    assert list(df.columns) == list(ref.columns) == ["caté", "poids", "ville"]
    assert _as_list(df["caté"]) == _labelled_as_pyreadstat(wrong_encoding, "caté", encoding="utf-8")
    assert _as_list(df["ville"]) == _as_list(ref["ville"])
    assert df.attrs["weight"] == "poids"


def test_unknown_encoding_is_named(wrong_encoding):
    with pytest.raises(DataFileError, match="'klingon'"):
        read_sav(wrong_encoding, encoding="klingon")


@pytest.mark.parametrize("name", [None, "", "ca\x01t"])
def test_column_names_that_are_not_text_are_a_named_error(tmp_path, monkeypatch, name):
    # pyreadstat gives None (or control bytes) for names it could not decode;
    # such a file cannot be crafted with pyreadstat's writer, so its answer is simulated.
    path = _write(tmp_path / "names.sav", pd.DataFrame({"a": [1.0], "b": [2.0]}))
    real = pyreadstat.read_sav

    def garbled(*args, **kwargs):
        df, meta = real(*args, **kwargs)
        return df.set_axis(["a", name], axis=1), meta

    monkeypatch.setattr(pyreadstat, "read_sav", garbled)
    with pytest.raises(DataFileError, match=r"variable 2 .*encoding=") as info:
        read_sav(path)
    assert info.value.path == str(path)


# ------------------------------------------------------------------ item 6: a directory


def test_directory_is_reported_as_a_directory(tmp_path):
    folder = tmp_path / "enquete.sav"
    folder.mkdir()
    with pytest.raises(DataFileError, match="is a directory") as info:
        read_sav(folder)
    assert info.value.path == str(folder)
    assert "not found" not in str(info.value)


# ------------------------------------------------------------------ zsav, and a general check


def test_zsav_reads_as_pyreadstat_reads_it(tmp_path, numeric_missing):
    df = pd.DataFrame({"q1": [1.0, 2.0, 2.0, 3.0], "x": [0.5, 1.5, np.nan, 2.0]})
    path = _write(tmp_path / "c.zsav", df, compress=True, variable_value_labels={"q1": {1: "A", 2: "B", 3: "C"}})
    out = read_sav(path)
    assert _as_list(out["q1"]) == _labelled_as_pyreadstat(path, "q1")
    ref, _ = pyreadstat.read_sav(str(path))
    np.testing.assert_array_equal(out["x"].to_numpy(), ref["x"].to_numpy())


def test_random_labelled_file_matches_pyreadstat(tmp_path):
    rng = np.random.default_rng(2024)
    n = 500
    cols, labels, missing = {}, {}, {}
    for j in range(12):
        k = int(rng.integers(2, 9))
        values = rng.integers(1, k + 1, n).astype(float)
        values[rng.random(n) < 0.1] = np.nan
        values[rng.random(n) < 0.05] = 99.0
        cols[f"v{j}"] = values
        # Every answer code labelled but, now and then, one; 99 never labelled.
        skip = int(rng.integers(1, k + 1)) if k >= 4 and j % 2 else None
        labels[f"v{j}"] = {float(c): f"Modalité {c} — {j}" for c in range(1, k + 1) if c != skip}
        if j % 3 == 0:
            missing[f"v{j}"] = [99]
    path = _write(tmp_path / "random.sav", pd.DataFrame(cols),
                  variable_value_labels=labels, missing_ranges=missing)
    df = read_sav(path)
    for var in cols:
        assert isinstance(df[var].dtype, pd.CategoricalDtype), var
        assert _as_list(df[var]) == _labelled_as_pyreadstat(path, var), var
        if var in missing:
            assert df.attrs["user_missing"][var] == ["99"]


def test_spec_question_on_a_mostly_unlabelled_column_is_named(tmp_path):
    from ramlab.errors import SpecError
    from ramlab.io.spec import load_spec

    data_dir = tmp_path / "data"
    for sub in ("specs", "population", "raw"):
        (data_dir / sub).mkdir(parents=True)
    df = pd.DataFrame({"note": [0.0, 3.0, 5.0, 7.0, 10.0, 4.0], "t": [1.0, 2.0] * 3})
    pyreadstat.write_sav(df, str(data_dir / "raw" / "mini_2024.sav"), variable_value_labels={
        "note": {0: "Pas du tout", 10: "Tout à fait"}, "t": {1: "A", 2: "B"}})
    (data_dir / "population" / "t.yaml").write_text(
        "variable: t\nlabel: T\nyear: 2024\nsource: S\nstatus: published\nunit: count\n"
        "categories: {A: 50, B: 50}\n", encoding="utf-8")
    (data_dir / "specs" / "mini_2024.yaml").write_text(
        "survey: mini\nyear: 2024\n"
        "study: {title: T, population: P, population_size: 100, unit: u, mode: m,\n"
        "        fieldwork_start: 2024-01-01, fieldwork_end: 2024-01-31, sample_size: 6,\n"
        "        institute: I, source: S}\n"
        "questions:\n  note: {text: Q, type: scale, categories: [Pas du tout, Tout à fait]}\n"
        "weighting: {mode: rake, tolerance: 0.001, margins: [{variable: t, file: t.yaml}]}\n",
        encoding="utf-8")
    spec = load_spec("mini", year=2024, data_dir=data_dir)
    with pytest.raises(SpecError, match="'note'.*read as numbers") as info:
        spec.check_data(read_sav(spec.data_file))
    assert info.value.key == "questions.note.type"


def test_ordinary_dates_read_as_pyreadstat_reads_them(tmp_path):
    seconds_2020 = (dt.datetime(2020, 1, 1) - dt.datetime(1582, 10, 14)).total_seconds()
    df = pd.DataFrame({"jour": [seconds_2020, np.nan, seconds_2020 + 86400],
                       "heure": [3600.0, 7200.0, np.nan]})
    path = _write(tmp_path / "d.sav", df, variable_format={"jour": "DATE11", "heure": "TIME8"},
                  missing_ranges={"jour": [0]})
    out = read_sav(path)
    ref, _ = pyreadstat.read_sav(str(path))
    for var in ("jour", "heure"):
        assert out[var].dtype == ref[var].dtype
        assert _as_list(out[var]) == _as_list(ref[var])


def test_codes_of_every_shape_match_pyreadstat(tmp_path):
    # Negative, non-integral, widely spread (beyond a lookup table) and all-missing codes.
    df = pd.DataFrame({
        "neg": [-2.0, -1.0, 0.0, np.nan, -2.0],
        "half": [0.5, 1.5, 0.5, np.nan, 1.5],
        "wide": [1.0, 5e7, 1.0, 5e7, np.nan],
        "empty": [np.nan] * 5,
    })
    path = _write(tmp_path / "shapes.sav", df, variable_value_labels={
        "neg": {-2: "Moins deux", -1: "Moins un", 0: "Zéro"},
        "half": {0.5: "Demi", 1.5: "Un et demi"},
        "wide": {1: "Un", 5e7: "Cinquante millions"},
        "empty": {1: "Un", 2: "Deux"},
    })
    out = read_sav(path)
    for var in df.columns:
        assert isinstance(out[var].dtype, pd.CategoricalDtype), var
        assert _as_list(out[var]) == _labelled_as_pyreadstat(path, var), var
    assert list(out["empty"].cat.categories) == ["Un", "Deux"]
    assert list(out["neg"].cat.categories) == ["Moins deux", "Moins un", "Zéro"]
