"""Worked examples (few-shot exemplars) shown to the teacher before each patient.

An exemplar file gives each example patient's values by finding key, its label and a rationale.
The values are turned into a record with the cohort's own finding names, units and ranges and then
rendered by the same data-to-text code as real patients, so exemplars always match the format the
teacher sees. The bundled exemplars describe invented patients (no real patient can leak from them
into a test split) and were written by the clinreason developers, not reviewed by clinicians; bring
your own with `--exemplars`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clinreason.errors import ConfigError
from clinreason.knowledge.facts import representative_findings
from clinreason.records.schema import Cohort, Finding, FindingValue, PatientRecord

log = logging.getLogger(__name__)


class ExemplarSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    label: str
    age: float | None = None
    sex: str | None = None
    values: dict[str, FindingValue] = Field(default_factory=dict, description="Finding key -> value.")
    rationale: str


class ExemplarFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cohort: str
    note: str = ""
    exemplars: list[ExemplarSpec]


@dataclass(frozen=True)
class Exemplar:
    record: PatientRecord
    rationale: str

    @property
    def label(self) -> str:
        return self.record.labels[0]


def _kind(value: FindingValue) -> str:
    return {bool: "boolean", float: "number", int: "number", str: "text"}.get(type(value), "missing")


def to_exemplar(spec: ExemplarSpec, cohort: Cohort, origin: str) -> Exemplar:
    if spec.label not in cohort.labels:
        raise ConfigError(f"{origin}: exemplar {spec.id} has label '{spec.label}', not one of {cohort.labels}")
    templates = {finding.name: finding for finding in representative_findings(cohort)}
    unknown = sorted(set(spec.values) - set(templates))
    if unknown:
        log.warning("%s: exemplar %s: the cohort has no finding %s; left out", origin, spec.id, unknown)
    findings: dict[str, Finding] = {}
    for key, template in templates.items():
        value = spec.values.get(key)
        expected = _kind(template.value)
        if value is not None and expected != "missing" and _kind(value) != expected:
            raise ConfigError(f"{origin}: exemplar {spec.id}: '{key}' should be a {expected}, got {value!r}")
        if isinstance(value, int | float) and _kind(value) == "number":  # an int or a float, not a bool
            value = float(value)
        findings[key] = template.model_copy(update={"value": value})
    record = PatientRecord(id=spec.id, age=spec.age, sex=spec.sex, findings=findings, labels=[spec.label])
    return Exemplar(record=record, rationale=spec.rationale.strip())


def load_exemplars(cohort: Cohort, path: str | Path | None = None) -> list[Exemplar]:
    """Exemplars from `path`, else the bundled ones for this cohort, else none (zero-shot)."""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: exemplar file not found")
        text, origin = path.read_text(), str(path)
    else:
        bundled = resources.files("clinreason.teacher").joinpath(f"exemplars/{cohort.name}.yaml")
        if not bundled.is_file():
            return []
        text, origin = bundled.read_text(), f"bundled exemplars for {cohort.name}"
    try:
        parsed = ExemplarFile.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"{origin}: invalid exemplar file: {exc}") from exc
    return [to_exemplar(spec, cohort, origin) for spec in parsed.exemplars]
