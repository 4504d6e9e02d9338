from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from clinreason.errors import ConfigError, DataError
from clinreason.records import AtrophyNorms, load_adnimerge, load_cohort, record_to_text

Edit = Callable[[list[dict[str, object]]], None]


def test_one_record_per_subject_from_the_baseline_visit(adni_csv: Path) -> None:
    cohort = load_adnimerge(adni_csv)
    assert [r.id for r in cohort] == ["2", "3", "4", "5", "6", "7", "8"]
    assert cohort.labels == ["AD", "MCI", "CN"]
    assert cohort.label_counts() == {"AD": 2, "MCI": 2, "CN": 3}
    assert cohort.text_style == "dementia"
    assert cohort.get("2").findings["mmse"].value == 28  # the baseline MMSE, not the empty m06 one


def test_dx_is_preferred_and_dx_bl_fills_gaps(adni_csv: Path) -> None:
    cohort = load_adnimerge(adni_csv)
    assert cohort.get("4").label == "CN"  # DX_bl SMC, DX CN
    assert cohort.get("6").label == "MCI"  # DX empty, DX_bl EMCI
    assert cohort.get("7").label == "AD"  # DX Dementia


def test_skipped_rows_are_counted(adni_csv: Path) -> None:
    skipped = {s.reason: (s.count, s.rows) for s in load_adnimerge(adni_csv).skipped}
    assert skipped == {
        "not the baseline visit (VISCODE != 'bl'); only baseline is used": (7, [2, 4, 6, 8, 10, 12, 14]),
        "no diagnosis at baseline (DX and DX_bl empty)": (1, [15]),
    }


@pytest.mark.parametrize(
    ("rid", "hippocampus", "ventricles"),
    [("5", "No", "No"), ("6", "Mild", "Mild"), ("7", "Severe", "Severe"), ("8", None, None)],
)
def test_atrophy_grades_against_cn_norms(adni_csv: Path, rid: str, hippocampus: str, ventricles: str) -> None:
    # CN hippocampus shares 0.50/0.52/0.48 % -> mean 0.50, SD 0.02: 0.485 z=-0.75, 0.47 z=-1.5, 0.45 z=-2.5.
    # CN ventricle shares 1.9/2.0/2.1 % -> mean 2.0, SD 0.1: 2.05 z=0.5, 2.15 z=1.5, 2.25 z=2.5.
    record = load_adnimerge(adni_csv).get(rid)
    assert record.findings["hippocampus_grade"].value == hippocampus
    assert record.findings["ventricles_grade"].value == ventricles


def test_volumes_are_normalised_by_icv(adni_csv: Path) -> None:
    record = load_adnimerge(adni_csv).get("7")
    assert record.findings["hippocampus_volume"].value == pytest.approx(0.45)
    assert record.findings["ventricles_volume"].value == pytest.approx(2.25)


def test_norms_are_stored_and_reusable(adni_csv: Path) -> None:
    cohort = load_adnimerge(adni_csv)
    norms = AtrophyNorms.model_validate(cohort.metadata["atrophy_norms"])
    assert norms.regions["Hippocampus"].mean == pytest.approx(0.50)
    assert norms.regions["Hippocampus"].sd == pytest.approx(0.02)
    assert norms.regions["Hippocampus"].n == 3
    shifted = norms.model_copy(
        update={
            "regions": {
                **norms.regions,
                "Hippocampus": norms.regions["Hippocampus"].model_copy(update={"mean": 0.40}),
            }
        }
    )
    regraded = load_adnimerge(adni_csv, norms=shifted)
    assert regraded.get("7").findings["hippocampus_grade"].value == "No"  # 0.45 is above a 0.40 mean


def test_kwon_style_text(adni_csv: Path) -> None:
    cohort = load_adnimerge(adni_csv)
    assert record_to_text(cohort.get("7"), cohort.text_style) == (
        "This patient is a 74-year-old male who has completed 16 years of education and is married.\n"
        "The patient has a Mini-mental State Examination score of 22/30 and has two APOE4 alleles.\n"
        "The Clinical Dementia Rating sum of boxes is 4.5/18.\n"
        "Also, based on their MRI scans:\n"
        "- This patient has Severe hippocampal atrophy.\n"
        "- This patient has Severe entorhinal atrophy.\n"
        "- This patient has Severe fusiform atrophy.\n"
        "- This patient has Severe middle temporal lobe atrophy.\n"
        "- This patient has Severe overall brain atrophy.\n"
        "- This patient has Severe ventricle enlargement."
    )
    text = record_to_text(load_adnimerge(adni_csv, include_cdrsb=False).get("7"), "dementia")
    assert "Clinical Dementia Rating" not in text


def test_load_cohort_detects_adnimerge(adni_csv: Path) -> None:
    assert load_cohort(str(adni_csv)).name == "adni"


def _set(rid: int, visit: str, column: str, value: object) -> Edit:
    def edit(rows: list[dict[str, object]]) -> None:
        for row in rows:
            if row["RID"] == rid and row["VISCODE"] == visit:
                row[column] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set(5, "bl", "DX", "Alzheimer"), "row 7 (line 8), column 'DX': unknown diagnosis 'Alzheimer'"),
        (_set(3, "bl", "MMSE", "twenty"), "row 3 (line 4), column 'MMSE': expected a number, got 'twenty'"),
        (_set(3, "bl", "PTGENDER", "X"), "row 3 (line 4), column 'PTGENDER': unknown sex 'X'"),
        (_set(3, "m06", "VISCODE", "bl"), "row 4 (line 5), column 'RID': duplicate patient id '3'"),
        (_set(3, "bl", "ICV", "0"), "row 3 (line 4), column 'ICV': intracranial volume must be positive"),
    ],
)
def test_bad_values_name_file_row_and_column(make_adni_csv: Callable[[Edit], Path], edit: Edit, message: str) -> None:
    path = make_adni_csv(edit)
    with pytest.raises(DataError) as info:
        load_adnimerge(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def test_missing_column(make_adni_csv: Callable[[Edit], Path]) -> None:
    path = make_adni_csv(lambda rows: [row.pop("Hippocampus") for row in rows])
    with pytest.raises(DataError, match=r"missing column\(s\) \['Hippocampus'\] required by the ADNIMERGE layout"):
        load_adnimerge(path)


def test_too_few_cn_subjects_to_grade(make_adni_csv: Callable[[Edit], Path]) -> None:
    def only_one_cn(rows: list[dict[str, object]]) -> None:
        for row in rows:
            if row["RID"] in (3, 4):
                row["DX"], row["DX_bl"] = "MCI", "LMCI"

    with pytest.raises(ConfigError, match="cannot grade Hippocampus: 1 CN subject"):
        load_adnimerge(make_adni_csv(only_one_cn))
