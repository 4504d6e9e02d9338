from __future__ import annotations

import pytest

from clinreason.records import Finding, PatientRecord, ReferenceRange, record_to_text
from clinreason.records.text import describe_finding


@pytest.mark.parametrize(
    ("finding", "expected"),
    [
        (
            Finding(
                name="bp",
                label="resting blood pressure",
                value=145,
                unit="mm Hg",
                normal=ReferenceRange(low=90, high=119),
            ),
            "Resting blood pressure: 145 mm Hg (high; reference 90 to 119 mm Hg).",
        ),
        (
            Finding(name="glu", label="glucose", value=65, unit="mg/dL", normal=ReferenceRange(low=70, high=99)),
            "Glucose: 65 mg/dL (low; reference 70 to 99 mg/dL).",
        ),
        (
            Finding(name="chol", label="cholesterol", value=180, unit="mg/dL", normal=ReferenceRange(high=199)),
            "Cholesterol: 180 mg/dL (normal; reference up to 199 mg/dL).",
        ),
        (
            Finding(name="egfr", label="eGFR", value=45, unit="mL/min", normal=ReferenceRange(low=60)),
            "eGFR: 45 mL/min (low; reference 60 mL/min or more).",
        ),
        (Finding(name="mmse", label="MMSE", value=22, unit="/30"), "MMSE: 22/30."),
        (
            Finding(name="fbs", label="fasting blood sugar above 120 mg/dL", value=True),
            "Fasting blood sugar above 120 mg/dL: yes.",
        ),
        (
            Finding(name="cp", label="chest pain type", value="typical angina"),
            "Chest pain type: typical angina.",
        ),
        (
            Finding(name="chol", label="cholesterol", value=None, unit="mg/dL", normal=ReferenceRange(high=199)),
            "Cholesterol: not recorded.",
        ),
        (
            Finding(
                name="bmi",
                label="body mass index",
                value=30.25,
                unit="kg/m2",
                decimals=1,
                normal=ReferenceRange(low=18.5, high=24.9),
            ),
            "Body mass index: 30.2 kg/m2 (high; reference 18.5 to 24.9 kg/m2).",
        ),
    ],
)
def test_describe_finding(finding: Finding, expected: str) -> None:
    assert describe_finding(finding) == expected


def _heart_patient(age: float = 63) -> PatientRecord:
    findings = [
        Finding(name="cp", label="chest pain type", value="typical angina"),
        Finding(
            name="bp",
            label="resting blood pressure",
            value=145,
            unit="mm Hg",
            normal=ReferenceRange(low=90, high=119),
        ),
        Finding(name="exang", label="exercise-induced angina", value=False),
    ]
    return PatientRecord(id="p1", age=age, sex="male", labels=["x"], findings={f.name: f for f in findings})


def test_generic_text_is_exact() -> None:
    assert record_to_text(_heart_patient()) == (
        "This patient is a 63-year-old male.\n"
        "Findings:\n"
        "- Chest pain type: typical angina.\n"
        "- Resting blood pressure: 145 mm Hg (high; reference 90 to 119 mm Hg).\n"
        "- Exercise-induced angina: no."
    )


@pytest.mark.parametrize(
    ("age", "opening"),
    [(80, "an 80-year-old"), (18, "an 18-year-old"), (68.8, "a 68.8-year-old"), (8, "an 8-year-old")],
)
def test_article_before_age(age: float, opening: str) -> None:
    assert record_to_text(_heart_patient(age)).startswith(f"This patient is {opening} male.")


def test_missing_demographics() -> None:
    assert record_to_text(PatientRecord(id="p")) == "This patient's age and sex are not recorded."
    assert record_to_text(PatientRecord(id="p", sex="female")) == "This patient is a female of unrecorded age."


def test_text_is_deterministic_across_serialisation() -> None:
    record = _heart_patient()
    again = PatientRecord.model_validate_json(record.model_dump_json())
    assert record_to_text(again) == record_to_text(record)


def _dementia_patient() -> PatientRecord:
    findings = [
        Finding(name="education", label="education", value=16, unit="years"),
        Finding(name="marital_status", label="marital status", value="married"),
        Finding(name="mmse", label="MMSE", value=22, unit="/30"),
        Finding(name="apoe4", label="APOE4 alleles", value=0),
        Finding(name="hippocampus_grade", label="hippocampal atrophy", value="Severe", group="mri_grade"),
        Finding(name="ventricles_grade", label="ventricle enlargement", value="No", group="mri_grade"),
        Finding(name="entorhinal_grade", label="entorhinal atrophy", value=None, group="mri_grade"),
    ]
    return PatientRecord(id="d1", age=74, sex="female", labels=["AD"], findings={f.name: f for f in findings})


def test_dementia_text_follows_kwon_et_al() -> None:
    assert record_to_text(_dementia_patient(), "dementia") == (
        "This patient is a 74-year-old female who has completed 16 years of education and is married.\n"
        "The patient has a Mini-mental State Examination score of 22/30 and has no APOE4 gene.\n"
        "Also, based on their MRI scans:\n"
        "- This patient has Severe hippocampal atrophy.\n"
        "- This patient has No ventricle enlargement.\n"
        "- Entorhinal atrophy could not be assessed (no MRI volume)."
    )


def test_unknown_style_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown text style"):
        record_to_text(_heart_patient(), "poetry")  # type: ignore[arg-type]


def test_dementia_text_lists_other_measurements_and_omits_apoe_where_no_cohort_has_it() -> None:
    findings = [
        Finding(name="education", label="years of education", value=12.0),
        Finding(name="mmse", label="MMSE", value=23.0),
        Finding(name="etiv", label="estimated total intracranial volume", value=1678.0, unit="cm3", decimals=0),
        Finding(name="brain_atrophy", label="whole-brain atrophy for age", value="mild", group="mri_grade"),
    ]
    record = PatientRecord(id="o1", age=75, sex="male", labels=["demented"], findings={f.name: f for f in findings})
    assert record_to_text(record, "dementia") == (
        "This patient is a 75-year-old male who has completed 12 years of education.\n"
        "The patient has a Mini-mental State Examination score of 23/30.\n"
        "The estimated total intracranial volume is 1678 cm3.\n"
        "Also, based on their MRI scans:\n"
        "- This patient has mild whole-brain atrophy for age."
    )
