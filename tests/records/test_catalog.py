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
    "oasis-2": (150, {"demented": 64, "converted": 14, "nondemented": 72}),  # Marcus et al. 2010, first visits
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
    assert text.startswith("This patient") and ("Findings:" in text or cohort.text_style == "dementia")
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


def test_oasis2_is_one_first_visit_per_subject_without_the_cdr() -> None:
    cohort = load_cohort("oasis-2")
    assert len({r.id for r in cohort.records}) == 150 and cohort.text_style == "dementia"
    first = cohort.records[0]  # OAS2_0001, first visit: 87-year-old man, MMSE 27, nWBV 0.696
    assert (first.id, first.age, first.sex, first.findings["mmse"].value) == ("OAS2_0001", 87, "male", 27.0)
    assert not any("cdr" in name.lower() for r in cohort.records for name in r.findings)  # it defines the groups
    assert "APOE4" not in record_to_text(first, "dementia")


def test_oasis2_grades_brain_volume_against_nondemented_subjects_of_the_same_age() -> None:
    """Three nondemented subjects on the line nWBV = 1.4 - 0.01 age, residuals -0.01, 0.02, -0.01 (SD 0.01732):
    a subject 0.02 below the line is 1.15 SD below (mild), one 0.04 below 2.31 SD (marked)."""
    from clinreason.records.catalog import oasis2_rows

    def row(subject: str, group: str, age: int, volume: float) -> dict[str, str]:
        return {"Subject.ID": subject, "Group": group, "Age": str(age), "nWBV": f"{volume:.3f}"}

    rows = oasis2_rows(
        [
            row("n1", "Nondemented", 60, 0.79),
            row("n2", "Nondemented", 70, 0.72),
            row("n3", "Nondemented", 80, 0.59),
            row("d1", "Demented", 70, 0.68),
            row("d2", "Demented", 70, 0.66),
        ]
    )
    assert [r["nWBV_grade"] for r in rows] == ["no notable", "no notable", "no notable", "mild", "marked"]
