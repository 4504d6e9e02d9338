"""Request bodies to patient records, checked against the cohort spec the student was trained on.

Two forms (mixable in one list): a flat form `{"age": 50, "sex": "female", "findings": {"glucose_2h":
171, ...}}` keyed by the spec's finding names, and a clinreason `PatientRecord` (findings as objects).
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
    age: float | None = Field(default=None, ge=0, le=130)
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


def to_record(
    body: Mapping[str, Any],
    templates: Mapping[str, Finding],
    categories: Mapping[str, set[str]],
    at: Path,
    default_id: str,
) -> PatientRecord:
    """One patient of a request (flat form or PatientRecord) as a record in the spec's terms."""
    if not isinstance(body, Mapping):
        raise InputError([Problem(loc=at, msg="expected a patient object", type="type_error")])
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
    values: dict[str, Finding] = {}
    for key, raw in patient.findings.items():
        where: Path = [*at, "findings", key]
        template = templates.get(key)
        if template is None:
            problems.append(Problem(loc=where, msg=f"unknown finding; this model reads {sorted(templates)}"))
            continue
        try:
            values[key] = template.model_copy(update={"value": _value(key, raw, template, categories.get(key), where)})
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return PatientRecord(id=patient.id or default_id, age=patient.age, sex=patient.sex, findings=values)
