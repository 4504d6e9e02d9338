"""The HTTP API for real: a uvicorn server on 127.0.0.1 (a free port) with a tiny student trained here,
called over HTTP with httpx; both input forms, the model card, health, the token, micro-batching and
every bad input."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clinreason.serve import ServeSettings, create_app, load_served
from doubles import Server

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def label_server(run_folder: Path) -> Iterator[str]:
    model = load_served(run_folder, "label")
    with Server(create_app(model, ServeSettings(max_batch=8, max_wait_ms=200))) as url:
        yield url


FLAT = {"age": 50, "sex": "female", "findings": {"glucose_2h": 171, "bmi": 35.1, "pregnancies": 2}}


@pytest.mark.slow
def test_health_card_and_a_flat_patient(label_server: str) -> None:
    assert httpx.get(f"{label_server}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{label_server}/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    card = httpx.get(f"{label_server}/v1/model").json()
    assert card["model_id"] == "served/label" and card["labels"] == ["diabetes", "no diabetes"]
    assert "glucose_2h" in card["findings"] and "Not a medical device" in card["intended_use"]
    assert card["evaluated_on"] == "test split, 8 patients"  # the run's card.json, written by the run
    answer = httpx.post(f"{label_server}/v1/diagnose", json={"patient": FLAT}, timeout=60)
    assert answer.status_code == 200, answer.text
    (result,) = answer.json()["results"]
    assert result["id"] == "patient-1" and result["label"] in card["labels"]
    assert sum(result["probabilities"].values()) == pytest.approx(1.0)
    assert result["rationale"] is None  # a label student writes none
    assert result["rationale_agrees"] is None
    schema = httpx.get(f"{label_server}/openapi.json").json()
    assert "/v1/diagnose" in schema["paths"]


@pytest.mark.slow
def test_the_gated_numeric_student_answers_over_http_as_the_run_predicted(run_folder: Path) -> None:
    """The demo's diagnosis student: its values are read from the request as in the run, so a test patient
    posted over HTTP gets the probabilities the run wrote for that patient."""
    import json

    from clinreason.records import load_cohort

    variant = "label+values+linear-lr-gated"
    predicted = [
        json.loads(line) for line in (run_folder / "predictions" / f"student-{variant}.jsonl").read_text().splitlines()
    ]
    records = {r.id: r for r in load_cohort("pima-diabetes").records}
    patients = [records[p["record_id"]].model_dump(mode="json") for p in predicted[:3]]
    with Server(create_app(load_served(run_folder, variant), ServeSettings(max_batch=4))) as url:
        card = httpx.get(f"{url}/v1/model").json()
        answer = httpx.post(f"{url}/v1/diagnose", json={"patients": patients}, timeout=60)
    assert card["model_id"] == f"served/{variant}"
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert len(results) == 3
    for result, expected in zip(results, predicted[:3], strict=True):
        assert result["id"] == expected["record_id"]
        assert result["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-5)


@pytest.mark.slow
def test_a_patient_record_is_read_in_the_specs_terms(label_server: str, run_folder: Path) -> None:
    from clinreason.records import load_cohort

    record = load_cohort("pima-diabetes").records[0]
    body = record.model_dump(mode="json")
    body["findings"]["glucose_2h"]["unit"] = "mmol/L"  # ignored: units and ranges come from the spec
    flat = {
        "id": record.id,
        "age": record.age,
        "sex": record.sex,
        "findings": {k: f.value for k, f in record.findings.items()},
    }
    both = httpx.post(f"{label_server}/v1/diagnose", json={"patients": [body, flat]}, timeout=60).json()["results"]
    assert [r["id"] for r in both] == [record.id, record.id]
    assert both[0]["probabilities"] == pytest.approx(both[1]["probabilities"], abs=1e-5)  # the same text


@pytest.mark.slow
def test_concurrent_requests_are_answered_from_one_batch(label_server: str) -> None:
    async def many() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=60) as client:
            replies = await asyncio.gather(
                *(
                    client.post(f"{label_server}/v1/diagnose", json={"patient": {**FLAT, "id": f"p{i}"}})
                    for i in range(4)
                )
            )
        return [r.json()["results"][0] for r in replies]

    results = asyncio.run(many())
    assert [r["id"] for r in results] == ["p0", "p1", "p2", "p3"]
    assert max(r["batch_size"] for r in results) > 1  # waited 200 ms for each other: batched together


@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ({"patient": {"findings": {"hba1c": 7.0}}}, ["body", "patient", "findings", "hba1c"], "unknown finding"),
        ({"patient": {"findings": {"bmi": "heavy"}}}, ["body", "patient", "findings", "bmi"], "expected a number"),
        (
            {"patient": {"age": 300}},
            ["body", "patient", "age"],
            "implausible age 300 years: outside its valid range [0, 120]",
        ),
        ({"patient": {"age": -4}}, ["body", "patient", "age"], "implausible age -4"),
        (
            {"patient": {"findings": {"bmi": 1e12}}},
            ["body", "patient", "findings", "bmi"],
            "implausible bmi 1e+12 kg/m2: outside its valid range [5, 200]",
        ),
        ({"patients": []}, ["body", "patients"], "no patient"),
        ({}, ["body"], "exactly one of"),
        ({"patients": [FLAT, {"findings": {"bmi": True}}]}, ["body", "patients", 1, "findings", "bmi"], "number"),
        ({"patient": "not an object"}, ["body", "patient"], "valid dictionary"),
    ],
)
def test_bad_input_is_422_with_the_field_path(
    label_server: str, body: dict[str, Any], where: list[Any], message: str
) -> None:
    reply = httpx.post(f"{label_server}/v1/diagnose", json=body, timeout=30)
    assert reply.status_code == 422, reply.text
    problems = reply.json()["detail"]
    assert any(p["loc"] == where and message in p["msg"] for p in problems), problems


@pytest.mark.slow
def test_size_limit_token_and_internal_errors(run_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = load_served(run_folder, "rationale_then_label")
    monkeypatch.setenv("TEST_SERVE_TOKEN", TOKEN)
    settings = ServeSettings(max_body_bytes=2048, token_env="TEST_SERVE_TOKEN", max_new_tokens=12)
    with Server(create_app(model, settings)) as url:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{url}/v1/model").status_code == 401
        assert httpx.get(f"{url}/v1/model", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(f"{url}/healthz").status_code == 200  # health needs no token
        big = {"patients": [FLAT] * 60}
        assert httpx.post(f"{url}/v1/diagnose", json=big, headers=auth).status_code == 413
        reply = httpx.post(f"{url}/v1/diagnose", json={"patient": FLAT}, headers=auth, timeout=60)
        assert reply.status_code == 200, reply.text
        result = reply.json()["results"][0]
        assert isinstance(result["rationale"], str) and isinstance(result["claims"], list)  # a rationale student
        agrees = None if result["stated"] is None else result["stated"] == result["label"]
        assert result["rationale_agrees"] is agrees
        for claim in result["claims"]:
            assert claim["verdict"] in {"supported", "wrong", "unsupported"}

        def broken(*_: object, **__: object) -> None:
            raise RuntimeError("the model fell over (patient glucose 171)")

        import importlib

        monkeypatch.setattr(importlib.import_module("clinreason.student.predict"), "predict", broken)
        failed = httpx.post(f"{url}/v1/diagnose", json={"patient": FLAT}, headers=auth, timeout=60)
        assert failed.status_code == 500
        assert "internal error" in failed.json()["detail"] and "171" not in failed.text  # no trace, no data
        monkeypatch.undo()
        monkeypatch.setenv("TEST_SERVE_TOKEN", TOKEN)
        again = httpx.post(f"{url}/v1/diagnose", json={"patient": FLAT}, headers=auth, timeout=60)
        assert again.status_code == 200  # the server lived on


@pytest.mark.slow
def test_every_trained_student_has_a_model_card(run_folder: Path) -> None:
    import json

    import yaml

    for variant in ("label", "rationale_then_label"):
        text = (run_folder / "students" / variant / "MODEL_CARD.md").read_text()
        front = yaml.safe_load(text.split("---")[1])  # Hugging Face front matter
        assert front["base_model"].endswith("tiny-student") and front["datasets"] == ["pima-diabetes"]
        assert front["model-index"][0]["results"][0]["metrics"], "metrics from metrics.json"
        for section in ("## Intended use", "## Out-of-scope use", "## Training data", "## Evaluation",
                        "## How rationales are verified", "## Limitations"):  # fmt: skip
            assert section in text, (variant, section)
        card = json.loads((run_folder / "students" / variant / "card.json").read_text())
        assert card["cohort_licence"] and card["train_patients"] == 12
    assert "verified-claim rate" in (run_folder / "students" / "rationale_then_label" / "MODEL_CARD.md").read_text()


def _bundle(*observations: dict[str, Any]) -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": "fhir-1", "gender": "female", "birthDate": "1975-06-01"}
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": patient}, *({"resource": o} for o in observations)],
    }


def _observation(code: str, value: float, unit: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "valueQuantity": {"value": value, "unit": unit},
    }


@pytest.mark.slow
def test_a_fhir_bundle_is_read_by_the_specs_loinc_codes(label_server: str) -> None:
    bundle = _bundle(_observation("39156-5", 35.1, "kg/m2"), _observation("8462-4", 80, "mm[Hg]"))
    reply = httpx.post(f"{label_server}/v1/diagnose", json={"patient": bundle}, timeout=60)
    assert reply.status_code == 200, reply.text
    (result,) = reply.json()["results"]
    flat = {
        "patient": {"id": "fhir-1", "age": result_age(), "sex": "female", "findings": {"bmi": 35.1, "diastolic_bp": 80}}
    }
    same = httpx.post(f"{label_server}/v1/diagnose", json=flat, timeout=60).json()["results"][0]
    assert result["id"] == "fhir-1" and result["probabilities"] == pytest.approx(same["probabilities"], abs=1e-5)


def result_age() -> float:
    from datetime import date

    today = date.today()
    return float(today.year - 1975 - ((today.month, today.day) < (6, 1)))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("bundle", "where", "message"),
    [
        (
            _bundle(_observation("4548-4", 7.1, "%")),
            ["body", "patient", "entry", 1, "resource", "code"],
            "no LOINC code",
        ),
        ({"resourceType": "Bundle", "type": "collection", "entry": []}, ["body", "patient", "entry"], "no entries"),
        (
            _bundle(_observation("39156-5", 35.1, "lb/in2")),
            ["body", "patient", "entry", 1, "resource", "valueQuantity", "unit"],
            "this model reads kg/m2",
        ),
        ({"resourceType": "Bundle", "entry": "not a list"}, ["body", "patient"], "not a valid FHIR R4 Bundle"),
    ],
)
def test_bad_fhir_is_422_with_the_path(
    label_server: str, bundle: dict[str, Any], where: list[Any], message: str
) -> None:
    reply = httpx.post(f"{label_server}/v1/diagnose", json={"patient": bundle}, timeout=30)
    assert reply.status_code == 422, reply.text
    assert any(p["loc"] == where and message in p["msg"] for p in reply.json()["detail"]), reply.json()


@pytest.mark.slow
def test_rationale_agreement_with_the_ruled_label(run_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule may move the answer away from what the rationale argues; the answer says so."""
    import importlib

    from clinreason.records.schema import PatientRecord
    from clinreason.student.predict import Prediction

    model = load_served(run_folder, "rationale_then_label")
    labels = model.cohort.labels
    model.rule = None  # argmax: the ruled label is the most probable one

    def scripted(_student: object, _cohort: object, records: list[PatientRecord], *_: object, **__: object) -> list:
        stated = {"agree": labels[0], "disagree": labels[1], "none": None}
        return [
            Prediction(
                record_id=r.id,
                gold=[],
                probabilities={labels[0]: 0.9, labels[1]: 0.1},
                predicted=labels[0],
                rationale=f"Glucose: 171 mg/dL, high. ({r.id})",
                stated=stated[r.id],
            )
            for r in records
        ]

    monkeypatch.setattr(importlib.import_module("clinreason.student.predict"), "predict", scripted)
    with Server(create_app(model, ServeSettings(max_batch=4))) as url:
        patients = [{**FLAT, "id": name} for name in ("agree", "disagree", "none")]
        reply = httpx.post(f"{url}/v1/diagnose", json={"patients": patients}, timeout=60)
    assert reply.status_code == 200, reply.text
    answers = {r["id"]: r for r in reply.json()["results"]}
    assert answers["agree"]["rationale_agrees"] is True and answers["agree"]["label"] == labels[0]
    assert answers["disagree"]["rationale_agrees"] is False and answers["disagree"]["stated"] == labels[1]
    assert answers["none"]["rationale_agrees"] is None
