from __future__ import annotations

from pathlib import Path

import pytest

from clinreason.errors import ClinreasonError, DataError
from clinreason.records import bundled_names, load_cohort, make_splits, record_to_text

EXPECTED = {
    # name: (patients, label counts) as published by each source
    "heart-disease": (920, {"heart disease": 509, "no heart disease": 411}),
    "pima-diabetes": (532, {"diabetes": 177, "no diabetes": 355}),
    "breast-cytology": (699, {"malignant": 241, "benign": 458}),
    "apoe-alzheimer": (353, {"Alzheimer's disease": 111, "control": 242}),
}


def test_at_least_three_bundled_real_cohorts() -> None:
    assert set(EXPECTED) <= set(bundled_names())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bundled_cohort_loads_with_source_and_licence(name: str) -> None:
    cohort = load_cohort(name)
    patients, labels = EXPECTED[name]
    assert len(cohort) == patients
    assert cohort.label_counts() == labels
    assert cohort.source.citation and cohort.source.licence and cohort.source.url
    assert cohort.skipped == []
    text = record_to_text(cohort.records[0], cohort.text_style)
    assert text.startswith("This patient") and "Findings:" in text
    splits = make_splits(cohort, seed=0)
    assert len(splits.train) + len(splits.validation) + len(splits.test) == patients


def test_heart_disease_zero_cholesterol_means_missing() -> None:
    cohort = load_cohort("heart-disease")
    values = [r.findings["cholesterol"].value for r in cohort]
    assert 0.0 not in values
    assert sum(v is None for v in values) == 172 + 30  # 172 coded 0, 30 empty in the source


def test_unknown_cohort_lists_the_bundled_ones() -> None:
    with pytest.raises(ClinreasonError, match="unknown cohort 'nope'; bundled cohorts: heart-disease"):
        load_cohort("nope")


def test_csv_without_spec_asks_for_one(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="needs a YAML column specification"):
        load_cohort(str(tmp_path / "x.csv"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        load_cohort(str(tmp_path / "nothing.csv"))


def test_the_generated_multimodal_cohort_loads_by_name() -> None:
    cohort = load_cohort("synthetic-multimodal")
    assert cohort.name == "synthetic-multimodal" and len(cohort) == 400 and cohort.multilabel
    assert cohort.records[0].notes and cohort.records[0].time_series
