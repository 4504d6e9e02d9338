"""FHIR cohorts: Bundles and NDJSON exports written with fhir.resources by the test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from clinreason.errors import ConfigError, DataError
from clinreason.records import load_cohort
from clinreason.records.fhir import FhirSpec, age_on, load_fhir
from clinreason.serve.inputs import to_record

SNOMED, ICD10 = "http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm"
GLUCOSE, BMI, SMOKER = "1558-6", "39156-5", "72166-2"


def patient(pid: str, birth: str, gender: str) -> Patient:
    return Patient.model_validate({"resourceType": "Patient", "id": pid, "birthDate": birth, "gender": gender})


def observation(subject: str, code: str, when: str, value: Any, unit: str | None = None) -> Observation:
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
    }
    if isinstance(value, bool):
        body["valueBoolean"] = value
    elif isinstance(value, str):
        body["valueCodeableConcept"] = {"text": value}
    else:
        body["valueQuantity"] = {"value": value, "unit": unit}
    return Observation.model_validate(body)


def condition(subject: str, system: str, code: str, onset: str, status: str = "confirmed") -> Condition:
    return Condition.model_validate(
        {
            "resourceType": "Condition",
            "subject": {"reference": subject},
            "code": {"coding": [{"system": system, "code": code}]},
            "onsetDateTime": onset,
            "verificationStatus": {"coding": [{"code": status}]},
        }
    )


def bundle(*resources: Any, full_urls: list[str] | None = None) -> str:
    entries = [
        BundleEntry.model_validate({"resource": r, **({"fullUrl": full_urls[i]} if full_urls else {})})
        for i, r in enumerate(resources)
    ]
    return Bundle.model_validate({"resourceType": "Bundle", "type": "collection", "entry": entries}).model_dump_json()


@pytest.fixture
def export(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    (folder / "bundles").mkdir(parents=True)
    # p1 refers to itself by a Bundle fullUrl (a transaction-style Bundle), two glucose values
    (folder / "bundles" / "p1.json").write_text(
        bundle(
            patient("p1", "1950-06-15", "female"),
            observation("urn:uuid:aaaa", GLUCOSE, "2020-01-01T08:00:00Z", 110, "mg/dL"),
            observation("urn:uuid:aaaa", GLUCOSE, "2021-03-01T08:00:00Z", 150, "mg/dL"),  # the latest
            observation("urn:uuid:aaaa", BMI, "2020-01-01", 31.5, "kg/m2"),
            observation("urn:uuid:aaaa", "8867-4", "2020-01-01", 70, "/min"),  # a code the spec does not read
            condition("urn:uuid:aaaa", SNOMED, "44054006", "2019-05-01"),
            full_urls=["urn:uuid:aaaa", "urn:uuid:o1", "urn:uuid:o2", "urn:uuid:o3", "urn:uuid:o4", "urn:uuid:c1"],
        )
    )
    # p2: an ICD-10 code under the E11 prefix, a coded smoking status
    (folder / "bundles" / "p2.json").write_text(
        bundle(
            patient("p2", "1970-01-01", "male"),
            observation("Patient/p2", GLUCOSE, "2022-01-01", 95, "mg/dL"),
            observation("Patient/p2", SMOKER, "2022-01-01", "Former smoker"),
            condition("Patient/p2", ICD10, "E11.9", "2021-06-01"),
        )
    )
    # an NDJSON bulk export: Conditions and Observations come before their Patients (alphabetical files)
    ndjson = folder / "bulk"
    ndjson.mkdir()
    (ndjson / "Condition.ndjson").write_text(
        condition("Patient/p3", SNOMED, "44054006", "2018-01-01", status="refuted").model_dump_json() + "\n"
    )
    (ndjson / "Observation.ndjson").write_text(
        "\n".join(
            o.model_dump_json()
            for o in (
                observation("Patient/p3", GLUCOSE, "2019-01-01", 88, "mg/dL"),
                observation("https://fhir.example.org/r4/Patient/p4", BMI, "2019-02-01", 22.0, "kg/m2"),
                observation("Patient/ghost", BMI, "2019-02-01", 22.0, "kg/m2"),  # no such Patient
            )
        )
        + "\n"
    )
    (ndjson / "Patient.ndjson").write_text(
        patient("p3", "1980-12-31", "female").model_dump_json()
        + "\n\n"
        + patient("p4", "1990", "unknown").model_dump_json()
        + "\n"
    )
    return folder


def spec(path: Path, **changes: Any) -> FhirSpec:
    raw: dict[str, Any] = {
        "kind": "fhir",
        "name": "fhir-test",
        "source": {"name": "test", "citation": "written by the test", "licence": "CC0"},
        "path": str(path),
        "label": {
            "classes": [{"name": "diabetes", "codes": [f"{SNOMED}|44054006", f"{ICD10}|E11*"]}],
            "otherwise": "no diabetes",
        },
        "findings": [
            {"name": "glucose", "label": "fasting glucose", "loinc": [GLUCOSE], "unit": "mg/dL", "normal": [70, 99]},
            {"name": "bmi", "label": "body mass index", "loinc": [BMI], "unit": "kg/m2"},
            {"name": "smoking", "label": "smoking status", "loinc": [SMOKER], "type": "categorical"},
        ],
    }
    raw.update(changes)
    return FhirSpec.model_validate(raw)


def test_bundles_and_ndjson_give_one_record_per_patient(export: Path) -> None:
    cohort = load_fhir(spec(export))
    by_id = {r.id: r for r in cohort.records}
    assert list(by_id) == ["p3", "p4", "p1", "p2"]  # in file order: bulk/*.ndjson sorts before bundles/
    assert [by_id[i].label for i in ("p1", "p2", "p3", "p4")] == ["diabetes", "diabetes", "no diabetes", "no diabetes"]
    p1 = by_id["p1"]
    assert p1.findings["glucose"].value == 150 and p1.findings["glucose"].status == "high"
    assert p1.findings["bmi"].value == 31.5 and p1.findings["smoking"].value is None
    assert p1.age == 70  # on its latest dated resource, 2021-03-01
    assert p1.sex == "female"
    assert by_id["p2"].findings["smoking"].value == "Former smoker"
    assert by_id["p4"].findings["bmi"].value == 22.0  # referred to by an absolute URL
    assert by_id["p4"].sex is None and by_id["p4"].age == 28  # born "1990" (taken as 1 July), seen 2019-02-01


def test_the_index_date_limits_resources_and_fixes_age(export: Path) -> None:
    cohort = load_fhir(spec(export, index_date="2020-06-30"))
    by_id = {r.id: r for r in cohort.records}
    assert by_id["p1"].findings["glucose"].value == 110  # the 2021 value is after the index date
    assert by_id["p1"].age == 70
    assert by_id["p2"].label == "no diabetes"  # diagnosed 2021
    assert by_id["p2"].findings["glucose"].value is None


def test_partial_and_missing_dates_do_not_pass_the_index_date(export: Path) -> None:
    late = Condition.model_validate(
        {"resourceType": "Condition", "subject": {"reference": "Patient/p6"}, "onsetDateTime": "2021",
         "code": {"coding": [{"system": SNOMED, "code": "44054006"}]}}
    )  # fmt: skip
    month = observation("Patient/p6", GLUCOSE, "2020-01-01", 150, "mg/dL").model_copy(
        update={"effectiveDateTime": "2021-05"}
    )
    undated = observation("Patient/p6", BMI, "2020-01-01", 30.0, "kg/m2").model_copy(update={"effectiveDateTime": None})
    codeless = {"resourceType": "Condition", "subject": {"reference": "Patient/p6"}, "onsetDateTime": "2019-01-01"}
    (export / "bundles" / "p6.json").write_text(
        bundle(patient("p6", "1960-01-01", "male"), late, month, undated, Condition.model_validate(codeless))
    )
    cohort = load_fhir(spec(export, index_date="2020-12-31"))
    p6 = cohort.get("p6")
    assert p6.label == "no diabetes"  # diagnosed some time in 2021: after the index date
    assert p6.findings["glucose"].value is None and p6.findings["bmi"].value is None
    assert cohort.metadata["fhir"]["undated_left_out"] == 1
    everything = load_fhir(spec(export)).get("p6")  # without an index date all of it counts
    assert everything.label == "diabetes" and everything.findings["glucose"].value == 150


def test_without_otherwise_patients_in_no_class_are_counted(export: Path) -> None:
    s = spec(export)
    cohort = load_fhir(s.model_copy(update={"label": s.label.model_copy(update={"otherwise": None})}))
    assert [r.id for r in cohort.records] == ["p1", "p2"]
    assert [(r.reason, r.count) for r in cohort.skipped] == [("in no label class", 2)]


def test_the_server_reads_a_posted_bundle_into_the_same_record(export: Path) -> None:
    cohort = load_fhir(spec(export))
    record = cohort.get("p2")
    templates = {k: f.model_copy(update={"value": None}) for k, f in record.findings.items()}
    posted = json.loads((export / "bundles" / "p2.json").read_text())
    served = to_record(
        posted,
        templates,
        {"smoking": {"Former smoker", "Never smoker"}},
        ["body"],
        "x",
        codes={GLUCOSE: "glucose", BMI: "bmi", SMOKER: "smoking"},
    )
    assert {k: f.value for k, f in served.findings.items()} == {
        k: f.value for k, f in record.findings.items() if f.value is not None
    }
    assert served.findings["glucose"] == record.findings["glucose"]


def test_a_wrong_unit_or_an_implausible_value_names_the_resource(export: Path) -> None:
    (export / "bundles" / "p5.json").write_text(
        bundle(patient("p5", "1960-01-01", "male"), observation("Patient/p5", GLUCOSE, "2020-01-01", 6.1, "mmol/L"))
    )
    with pytest.raises(DataError, match=r"p5.json, column 'glucose': .*'mmol/L'; the spec reads glucose in mg/dL"):
        load_fhir(spec(export))
    (export / "bundles" / "p5.json").write_text(
        bundle(patient("p5", "1960-01-01", "male"), observation("Patient/p5", GLUCOSE, "2020-01-01", 9000, "mg/dL"))
    )
    with pytest.raises(DataError, match=r"Patient/p5\).*column 'glucose': implausible fasting glucose 9000"):
        load_fhir(spec(export))
    cohort = load_fhir(spec(export, on_invalid="skip"))
    assert "p5" not in [r.id for r in cohort.records]
    assert {r.reason: r.count for r in cohort.skipped} == {"implausible value": 1}


def test_malformed_exports_name_the_file_and_line(export: Path, tmp_path: Path) -> None:
    bad = export / "bulk" / "Observation.ndjson"
    bad.write_text(bad.read_text() + "{not json\n")
    with pytest.raises(DataError, match=r"Observation.ndjson, line 4: not valid JSON"):
        load_fhir(spec(export))
    bad.write_text(json.dumps({"resourceType": "Observation", "status": "final"}) + "\n")
    with pytest.raises(DataError, match=r"Observation.ndjson, line 1: not a valid FHIR R4 Observation"):
        load_fhir(spec(export))
    with pytest.raises(DataError, match="FHIR export not found"):
        load_fhir(spec(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \*.json or \*.ndjson files"):
        load_fhir(spec(tmp_path / "empty"))
    with pytest.raises(ValueError, match="a LOINC code maps to one finding"):
        spec(export, findings=[{"name": "a", "loinc": [BMI]}, {"name": "b", "loinc": [BMI]}])


def test_a_yaml_spec_relative_path_through_load_cohort(export: Path) -> None:
    raw = spec(Path("export")).model_dump(mode="json", exclude_none=True)
    (export.parent / "cohort.yaml").write_text(yaml.safe_dump(raw))
    assert sorted(r.id for r in load_cohort(export.parent / "cohort.yaml")) == ["p1", "p2", "p3", "p4"]
    (export.parent / "broken.yaml").write_text(yaml.safe_dump({**raw, "path": 3, "extra": 1}))
    with pytest.raises(ConfigError, match="invalid FHIR cohort specification"):
        load_cohort(export.parent / "broken.yaml")


@pytest.mark.parametrize(
    ("birth", "on", "age"),
    [
        ("1950-06-15", "2020-06-14", 69),
        ("1950-06-15", "2020-06-15", 70),
        ("1950-06", "2020-06-14", 69),
        ("1950", "2020-07-01", 70),
    ],
)
def test_age_in_full_years_from_partial_birth_dates(birth: str, on: str, age: int) -> None:
    import datetime as dt

    assert age_on(birth, dt.date.fromisoformat(on)) == age
