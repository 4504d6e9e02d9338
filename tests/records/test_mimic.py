"""The MIMIC-III loader on small files in the real mimic3-benchmarks / NOTEEVENTS layout."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from clinreason.errors import ConfigError, DataError
from clinreason.records import load_cohort, record_to_text
from clinreason.records.mimic import (
    PHENOTYPES,
    brief_hospital_course,
    load_mimic3_phenotyping,
    load_mimic_spec,
    read_courses,
)
from clinreason.records.timeseries import load_points

EPISODE_HEADER = [
    "Hours",
    "Capillary refill rate",
    "Diastolic blood pressure",
    "Fraction inspired oxygen",
    "Glascow coma scale eye opening",
    "Glascow coma scale motor response",
    "Glascow coma scale total",
    "Glascow coma scale verbal response",
    "Glucose",
    "Heart Rate",
    "Height",
    "Mean blood pressure",
    "Oxygen saturation",
    "Respiratory rate",
    "Systolic blood pressure",
    "Temperature",
    "Weight",
    "pH",
]
SUMMARY = """Admission Date:  [**2101-10-20**]
Brief Hospital Course:
78M admitted with fever and hypotension, found to have
urosepsis. Started on vancomycin and zosyn.
Medications on Admission:
aspirin 81 mg daily
"""


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def mimic(tmp_path: Path) -> dict[str, Path]:
    bench, root = tmp_path / "benchmark", tmp_path / "root"
    split = bench / "phenotyping" / "train"
    flags = {"10": ["Septicemia (except in labor)", "Shock"], "20": ["Essential hypertension"], "30": []}
    listfile_rows = []
    for subject, labels in flags.items():
        stay = f"{subject}_episode1_timeseries.csv"
        listfile_rows.append([stay, 48.0] + [int(p in labels) for p in PHENOTYPES])
        _write(
            split / stay,
            EPISODE_HEADER,
            [
                [
                    0.5,
                    "",
                    60,
                    "",
                    "4 Spontaneously",
                    "6 Obeys Commands",
                    "15",
                    "5 Oriented",
                    140,
                    110,
                    "",
                    70,
                    95,
                    24,
                    90,
                    38.6,
                    80,
                    7.30,
                ],
                [1.5, "", "", "", "", "", "", "", "", 118, "", 62, "", 26, 85, 38.9, "", ""],
            ],
        )
        _write(
            root / subject / "stays.csv",
            ["SUBJECT_ID", "HADM_ID", "ICUSTAY_ID", "INTIME", "OUTTIME"],
            [[subject, 100 + int(subject), 200 + int(subject), "2101-10-20 10:00:00", "2101-10-22 10:00:00"]],
        )
    _write(split / "listfile.csv", ["stay", "period_length", *PHENOTYPES], listfile_rows)
    notes = tmp_path / "NOTEEVENTS.csv"
    _write(
        notes,
        ["ROW_ID", "SUBJECT_ID", "HADM_ID", "CHARTDATE", "CATEGORY", "DESCRIPTION", "ISERROR", "TEXT"],
        [
            [1, 10, 110, "2101-10-25", "Discharge summary", "Report", "", SUMMARY],
            [
                2,
                10,
                110,
                "2101-10-26",
                "Discharge summary",
                "Addendum",
                "",
                "Brief Hospital Course:\nAddendum text.\nDischarge Medications:\nnone",
            ],
            [3, 20, 120, "2101-10-25", "Nursing", "Note", "", "Brief Hospital Course: nursing, not a summary"],
            [4, 20, 120, "2101-10-25", "Discharge summary", "Report", "1", "Brief Hospital Course: marked as error"],
            [
                5,
                20,
                120,
                "2101-10-27",
                "Discharge summary",
                "Report",
                "",
                "Brief Hospital Course:\nBP poorly controlled, started lisinopril.\nDischarge Disposition:\nHome",
            ],
            [6, 30, 130, "2101-10-25", "Discharge summary", "Report", "", "No course section in this one."],
        ],
    )
    return {"benchmark": bench, "root": root, "notes": notes}


def test_brief_hospital_course_section() -> None:
    assert brief_hospital_course(SUMMARY) == (
        "78M admitted with fever and hypotension, found to have urosepsis. Started on vancomycin and zosyn."
    )
    assert brief_hospital_course("Discharge Diagnosis: sepsis") is None


def test_courses_prefer_reports_and_skip_errors_and_other_categories(mimic: dict[str, Path]) -> None:
    courses = read_courses(mimic["notes"], chunksize=2)
    assert courses == {110: brief_hospital_course(SUMMARY), 120: "BP poorly controlled, started lisinopril."}
    assert read_courses(mimic["notes"], {120}, chunksize=2).keys() == {120}


def test_loader_joins_labels_notes_and_time_series(mimic: dict[str, Path]) -> None:
    cohort = load_mimic3_phenotyping(mimic["benchmark"], mimic["root"], mimic["notes"])
    assert cohort.multilabel and cohort.labels == PHENOTYPES and cohort.text_style == "clinical"
    assert [r.id for r in cohort] == ["10_episode1", "20_episode1"]
    assert cohort.get("10_episode1").labels == ["Septicemia (except in labor)", "Shock"]
    assert [(s.reason, s.count) for s in cohort.skipped] == [
        ("no brief hospital course in the admission's discharge summary", 1)
    ]
    points = load_points(cohort.get("10_episode1"))
    assert {p.variable for p in points} == {
        "diastolic_bp",
        "glucose",
        "heart_rate",
        "mean_bp",
        "spo2",
        "respiratory_rate",
        "systolic_bp",
        "temperature",
        "weight",
        "ph",
    }
    text = record_to_text(cohort.get("10_episode1"), cohort.text_style)
    assert text.startswith("Brief hospital course:\n78M admitted with fever")
    assert "Heart rate is higher than normal twice (readings 110 to 118 beats/min, 2 readings" in text
    assert "Temperature is higher than normal twice" in text


def test_keep_stays_without_a_note_when_asked(mimic: dict[str, Path]) -> None:
    cohort = load_mimic3_phenotyping(mimic["benchmark"], mimic["root"], mimic["notes"], require_note=False)
    assert len(cohort) == 3 and cohort.get("30_episode1").notes == []


def test_bad_files_are_named(mimic: dict[str, Path], tmp_path: Path) -> None:
    listfile = mimic["benchmark"] / "phenotyping" / "train" / "listfile.csv"
    text = listfile.read_text().replace("10_episode1_timeseries.csv,48.0,0", "10_episode1_timeseries.csv,48.0,2", 1)
    listfile.write_text(text)
    with pytest.raises(
        DataError, match=r"listfile\.csv, row 1 \(line 2\), column 'Acute and unspecified renal failure'"
    ):
        load_mimic3_phenotyping(mimic["benchmark"], mimic["root"], mimic["notes"])
    bad_notes = tmp_path / "notes.csv"
    bad_notes.write_text("ROW_ID,HADM_ID,TEXT\n1,2,x\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['CATEGORY', 'DESCRIPTION', 'ISERROR'\]"):
        read_courses(bad_notes)


def _benchmark_test_split(mimic: dict[str, Path]) -> None:
    """The benchmark's test folder: here only subject 20's stay, in the same layout as train."""
    train, test = (mimic["benchmark"] / "phenotyping" / name for name in ("train", "test"))
    test.mkdir()
    lines = (train / "listfile.csv").read_text().splitlines()
    (test / "listfile.csv").write_text("\n".join([lines[0], *[x for x in lines[1:] if x.startswith("20_")]]) + "\n")
    shutil.copy(train / "20_episode1_timeseries.csv", test / "20_episode1_timeseries.csv")


def test_yaml_spec_loads_train_and_test_split_through_load_cohort(mimic: dict[str, Path], tmp_path: Path) -> None:
    _benchmark_test_split(mimic)
    spec = tmp_path / "mimic.yaml"
    relative = {k: v.relative_to(tmp_path) for k, v in mimic.items()}
    spec.write_text(
        "kind: mimic3-phenotyping\n"
        f"benchmark: {relative['benchmark']}\nroot: {relative['root']}\nnoteevents: {relative['notes']}\n"
    )
    train = load_cohort(spec)
    assert train.name == "mimic3-phenotyping-train" and [r.id for r in train] == ["10_episode1", "20_episode1"]
    test = load_mimic_spec(spec, split="test")
    assert test.name == "mimic3-phenotyping-test" and [r.id for r in test] == ["20_episode1"]
    assert test.get("20_episode1").labels == ["Essential hypertension"]
    assert "lisinopril" in test.get("20_episode1").notes[0].text


def test_yaml_spec_errors_name_the_field(mimic: dict[str, Path], tmp_path: Path) -> None:
    spec = tmp_path / "mimic.yaml"
    spec.write_text(f"kind: mimic3-phenotyping\nbenchmark: nowhere\nroot: {mimic['root']}\nnoteevents: x.csv\n")
    with pytest.raises(ConfigError, match=r"'benchmark' points to .*nowhere, which does not exist"):
        load_cohort(spec)
    spec.write_text(f"kind: mimic3-phenotyping\nbenchmark: {mimic['benchmark']}\nsplit: valid\n")
    with pytest.raises(ConfigError, match=r"invalid MIMIC specification: root: Field required.*split"):
        load_cohort(spec)
