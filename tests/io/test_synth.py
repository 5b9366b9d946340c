"""The synthetic-data generator: determinism, the shipped file, atomic writes."""

import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ramlab.io import synth
from ramlab.errors import SpecError
from ramlab.format import round_half_up
from ramlab.io.sav import SYNTHETIC_LABEL, read_sav
from ramlab.io.survey import load_survey

DATA = Path(__file__).resolve().parents[2] / "data"


def _generate(tmp, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rounded margins rescaled
        return synth.generate("associations", 2021, **kwargs)


def _same(a, b):
    pd.testing.assert_frame_equal(a, b)
    keys = set(a.attrs) | set(b.attrs)
    for key in keys - {"file"}:
        assert a.attrs[key] == b.attrs[key], key


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out1 = tmp_path_factory.mktemp("run1") / "associations_2021.sav"
    out2 = tmp_path_factory.mktemp("run2") / "associations_2021.sav"
    return _generate(None, data_dir=DATA, output=out1), _generate(None, data_dir=DATA, output=out2)


def test_generator_is_deterministic(generated):
    a, b = (read_sav(p) for p in generated)
    _same(a, b)


def test_generated_file_reproduces_the_published_2021_figures(generated, tmp_path):
    # Published figures of IMPACT-Associations 2021 (../shared/domain/IMPACT.md),
    # on a freshly generated file rather than on the shipped one.
    for sub in ("specs", "population"):
        shutil.copytree(DATA / sub, tmp_path / sub)
    (tmp_path / "raw").mkdir()
    shutil.copy(generated[0], tmp_path / "raw" / "associations_2021.sav")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        s = load_survey("associations", 2021, data_dir=tmp_path)
    assert round_half_up(s.design.weights.sum()) == 148429
    assert round_half_up(s.domain("partenaires").weights.sum()) == 147511
    q6_1 = 100 * s.domain("ensemble").mean("q6_1")["estimate"]["Oui"]
    assert abs(q6_1 - 89) <= 1 and round_half_up(q6_1) == 89
    q8_1 = 100 * s.domain("partenaires").mean("q8_1")["estimate"]["Oui"]
    assert abs(q8_1 - 59) <= 1 and round_half_up(q8_1) == 59


def test_generated_file_is_marked_synthetic(generated):
    df = read_sav(generated[0])
    assert df.attrs["synthetic"] is True
    assert df.attrs["file_label"] == SYNTHETIC_LABEL
    assert df.attrs["weight"] == "poids"


def test_generated_file_has_french_labels_and_user_missing(generated):
    df = read_sav(generated[0])
    assert len(df) == 1206
    assert list(df["q8_1"].cat.categories) == [
        "Oui", "Non, mais je pense le faire dans les 6 mois", "Non, je n'en ai pas l'intention"
    ]
    assert df.attrs["value_labels"]["innovation"][9] == "Ne sait pas"
    assert df.attrs["user_missing"] == {"innovation": ["Ne sait pas"]}
    assert (df["innovation"] == "Ne sait pas").sum() > 0
    assert df["innovation"].cat.ordered
    assert df.attrs["variable_labels"]["q7_1"].startswith(
        "Q7. A quel niveau territorial travaillez-vous avec vos partenaires ?"
    )
    assert df.attrs["value_labels"]["q7_1"] == {0: "Non cité", 1: "Cité"}
    # Q7 and Q8 are asked of the sub-base only: system missing elsewhere.
    outside = df["q7_1"].isna()
    assert 0 < outside.sum() < 20
    assert df.loc[outside, "q8_1"].isna().all()
    assert (df.loc[outside, [f"q6_{i}" for i in range(1, 8)]] == "Non, je n'en ai pas l'intention").all().all()


def test_selection_is_unequal_by_size_and_sector(generated):
    df = read_sav(generated[0])
    sample = df["taille"].value_counts(normalize=True)
    # Population: 5 % of employer associations have 50+ employees (the margin file).
    assert sample["50 salariés et plus"] > 0.15
    assert sample["Moins de 10 salariés"] < 0.6
    sector = df["secteur"].value_counts(normalize=True)
    assert sector["Santé"] > 0.04  # 2.1 % in the population
    assert (df["region"] == "Corse").sum() >= 3


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    out = tmp_path / "associations_2021.sav"
    out.write_bytes(b"previous good file")

    def broken(*args, **kwargs):
        Path(args[1]).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr("pyreadstat.write_sav", broken)
    with pytest.raises(OSError, match="disk full"):
        _generate(None, data_dir=DATA, output=out)
    assert out.read_bytes() == b"previous good file"
    assert [p.name for p in tmp_path.iterdir()] == ["associations_2021.sav"]


def test_default_output_is_the_spec_data_file(generated, tmp_path):
    for sub in ("specs", "population", "synth"):
        shutil.copytree(DATA / sub, tmp_path / sub)
    path = _generate(None, data_dir=tmp_path)
    assert path == tmp_path / "raw" / "associations_2021.sav"
    _same(read_sav(path), read_sav(generated[0]))


def test_bad_generator_configuration_names_file_and_key(tmp_path):
    for sub in ("specs", "population", "synth"):
        shutil.copytree(DATA / sub, tmp_path / sub)
    cfg = tmp_path / "synth" / "associations_2021.yaml"
    doc = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    doc["questions"]["q8"]["items"]["q8_1"]["targets"]["Peut-être"] = 0.1
    cfg.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SpecError, match="Peut-être") as info:
        _generate(None, data_dir=tmp_path)
    assert info.value.key == "questions.q8.items.q8_1.targets"
    assert not (tmp_path / "raw" / "associations_2021.sav").exists()


def test_generated_file_is_byte_for_byte_reproducible(generated, tmp_path, monkeypatch):
    # issue 11, 18: pyreadstat stamps the write time in the header (bytes 92-108);
    # a second run, seconds later, must still give the same bytes
    import time

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first = generated[0].read_bytes()
    time.sleep(1.1)
    again = _generate(None, data_dir=DATA, output=tmp_path / "again.sav").read_bytes()
    assert again == first
    assert first[92:109] == b"01 Jan 7000:00:00"  # the fixed date: 1 January 1970


def test_source_date_epoch_sets_the_header_creation_stamp(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14 22:13:20 UTC
    written = _generate(None, data_dir=DATA, output=tmp_path / "dated.sav").read_bytes()
    assert written[92:109] == b"14 Nov 2322:13:20"
    assert written[:4] == b"$FL2"
    read_sav(tmp_path / "dated.sav")  # still a valid file
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "demain")
    with pytest.raises(SpecError, match="SOURCE_DATE_EPOCH"):
        _generate(None, data_dir=DATA, output=tmp_path / "bad.sav")
