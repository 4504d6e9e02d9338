"""Request bodies to patient records, checked against the cohort spec the student was trained on.

Three forms (mixable in one list): a flat form `{"age": 50, "sex": "female", "findings": {"glucose_2h":
171, ...}}` keyed by the spec's finding names, a clinreason `PatientRecord` (findings as objects), and a
FHIR R4 `Bundle` with a `Patient` and `Observation`s whose LOINC codes the spec maps to findings
(parsed with `fhir.resources`).
Either way the record is rebuilt from the spec's own finding templates (label, unit, normal range,
decimals) with only the values taken from the request, so the text the student reads is exactly the
text it saw in training. Every problem is reported with its path in the body, as FastAPI reports its
own validation errors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from clinreason.records.fhir import age_on, loinc_codes, observation_value, same_unit
from clinreason.records.plausibility import DEFAULT_AGE_LIMITS, Limits, outside
from clinreason.records.schema import Finding, PatientRecord

__all__ = ["InputError", "Problem", "to_record"]

Path = list[str | int]


class Problem(BaseModel):
    loc: Path
    msg: str
    type: str = "value_error"


class InputError(Exception):
    """One or more problems with a request body; answered as 422 with each problem's path."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, p.loc))}: {p.msg}" for p in problems))
        self.problems = problems


class FlatPatient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, description="Echoed back; default: its position in the request.")
    age: float | None = None
    sex: str | None = None
    findings: dict[str, float | int | bool | str | None] = Field(default_factory=dict)


def _kind(template: Finding, categories: set[str] | None) -> str:
    if categories:
        return "categorical"
    if isinstance(template.value, bool):
        return "boolean"
    return "numeric"


def _value(key: str, raw: object, template: Finding, categories: set[str] | None, at: Path) -> Any:
    kind = _kind(template, categories)
    if raw is None:
        return None
    if kind == "categorical":
        if not isinstance(raw, str) or raw not in (categories or set()):
            raise InputError([Problem(loc=at, msg=f"expected one of {sorted(categories or set())}, got {raw!r}")])
        return raw
    if kind == "boolean":
        if not isinstance(raw, bool):
            raise InputError([Problem(loc=at, msg=f"expected true or false, got {raw!r}")])
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        unit = f" in {template.unit}" if template.unit else ""
        raise InputError([Problem(loc=at, msg=f"expected a number{unit}, got {raw!r}", type="type_error")])
    if not math.isfinite(float(raw)):
        raise InputError([Problem(loc=at, msg=f"expected a finite number, got {raw!r}")])
    return float(raw)


def from_fhir(
    body: Mapping[str, Any],
    templates: Mapping[str, Finding],
    categories: Mapping[str, set[str]],
    codes: Mapping[str, str],
    at: Path,
    default_id: str,
    limits: Mapping[str, Limits] | None = None,
    age_limits: Limits | None = DEFAULT_AGE_LIMITS,
) -> PatientRecord:
    """A FHIR R4 Bundle (a Patient, Observations coded in LOINC) as a record in the spec's terms."""
    from fhir.resources.R4B.bundle import Bundle

    try:
        bundle = Bundle.model_validate(dict(body))
    except ValueError as exc:
        first = str(exc).splitlines()
        raise InputError([Problem(loc=at, msg=f"not a valid FHIR R4 Bundle: {' '.join(first[:3])}")]) from None
    if not bundle.entry:
        raise InputError([Problem(loc=[*at, "entry"], msg="the bundle has no entries")])
    age, sex, patient_id = None, None, None
    flat: dict[str, object] = {}
    problems: list[Problem] = []
    for index, entry in enumerate(bundle.entry):
        resource: Any = entry.resource  # fhir.resources' types: a Patient, an Observation, ...
        where: Path = [*at, "entry", index, "resource"]
        kind = resource.get_resource_type() if resource is not None else None
        if kind == "Patient":
            age, sex, patient_id = age_on(resource.birthDate), resource.gender, resource.id
        elif kind == "Observation":
            coded = loinc_codes(resource)
            mapped = [codes[c] for c in coded if c in codes]
            if not mapped:
                known = ", ".join(f"{c} ({k})" for c, k in sorted(codes.items())) or "none"
                problems.append(Problem(loc=[*where, "code"], msg=f"no LOINC code of this model; it reads {known}"))
                continue
            key = mapped[0]
            value, unit = observation_value(resource)
            expected = templates[key].unit
            if unit and expected and not same_unit(unit, expected):
                problems.append(
                    Problem(
                        loc=[*where, "valueQuantity", "unit"], msg=f"unit {unit!r} given, this model reads {expected}"
                    )
                )
                continue
            flat[key] = value
    if problems:
        raise InputError(problems)
    if not flat:
        raise InputError([Problem(loc=[*at, "entry"], msg="the bundle has no Observation this model reads")])
    return to_record(
        {"id": patient_id or default_id, "age": age, "sex": sex, "findings": flat},
        templates,
        categories,
        at,
        default_id,
        limits=limits,
        age_limits=age_limits,
    )


def to_record(
    body: Mapping[str, Any],
    templates: Mapping[str, Finding],
    categories: Mapping[str, set[str]],
    at: Path,
    default_id: str,
    codes: Mapping[str, str] | None = None,
    limits: Mapping[str, Limits] | None = None,
    age_limits: Limits | None = DEFAULT_AGE_LIMITS,
) -> PatientRecord:
    """One patient of a request (flat form, PatientRecord or FHIR Bundle) as a record in the spec's terms;
    `codes` maps LOINC codes to finding names (the spec's `loinc:` fields), `limits` finding names to the
    spec's hard limits (`valid:`)."""
    if not isinstance(body, Mapping):
        raise InputError([Problem(loc=at, msg="expected a patient object", type="type_error")])
    if body.get("resourceType") == "Bundle":
        return from_fhir(body, templates, categories, codes or {}, at, default_id, limits, age_limits)
    findings = body.get("findings") or {}
    if isinstance(findings, Mapping) and any(isinstance(v, Mapping) for v in findings.values()):
        try:  # the PatientRecord form: keep only what it says about the patient
            record = PatientRecord.model_validate({**body, "id": body.get("id") or default_id})
        except ValueError as exc:
            raise InputError([Problem(loc=at, msg=str(exc).splitlines()[0])]) from None
        flat: dict[str, Any] = {
            "id": record.id,
            "age": record.age,
            "sex": record.sex,
            "findings": {k: f.value for k, f in record.findings.items()},
        }
    else:
        flat = dict(body)
    try:
        patient = FlatPatient.model_validate(flat)
    except ValueError as exc:
        errors: list[dict[str, Any]] = list(getattr(exc, "errors", lambda: [])())
        raise InputError(
            [Problem(loc=[*at, *e["loc"]], msg=e["msg"], type=e.get("type", "value_error")) for e in errors]
            or [Problem(loc=at, msg=str(exc))]
        ) from None
    problems: list[Problem] = []
    if patient.age is not None and (message := outside(patient.age, age_limits, "age", "years")) is not None:
        problems.append(Problem(loc=[*at, "age"], msg=message))
    values: dict[str, Finding] = {}
    for key, raw in patient.findings.items():
        where: Path = [*at, "findings", key]
        template = templates.get(key)
        if template is None:
            problems.append(Problem(loc=where, msg=f"unknown finding; this model reads {sorted(templates)}"))
            continue
        try:
            value = _value(key, raw, template, categories.get(key), where)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        if isinstance(value, float) and (message := outside(value, (limits or {}).get(key), key, template.unit)):
            problems.append(Problem(loc=where, msg=message))
            continue
        values[key] = template.model_copy(update={"value": value})
    if problems:
        raise InputError(problems)
    return PatientRecord(id=patient.id or default_id, age=patient.age, sex=patient.sex, findings=values)
