"""FHIR R4: cohorts from Bundles or NDJSON bulk exports (`kind: fhir`), and the mapping of Observations to
findings that the server's FHIR input uses too, so a patient read from an export and one posted to
`/v1/diagnose` get the same findings (age differs by design: the server takes it today, a cohort on its
index date).

A cohort: `Patient`, `Observation` and `Condition` resources (parsed with `fhir.resources`), findings by
their LOINC codes (the latest value per patient on or before the index date), the label from
Condition codes (SNOMED CT, ICD-10, any system) in priority order. Rows go through the same
row-to-record code as a CSV (`cohort_from_table`): plausibility limits, error messages, text.

Example (docs/datasets.md has every field)::

    kind: fhir
    name: diabetes-fhir
    source: {name: our FHIR export 2024-06, citation: internal, licence: internal use only}
    path: export/                 # *.json Bundles and/or *.ndjson files, relative to this YAML
    label:
      classes: [{name: diabetes, codes: ["http://snomed.info/sct|44054006", "http://hl7.org/fhir/sid/icd-10-cm|E11*"]}]
      otherwise: no diabetes
    findings:
      - {name: glucose, label: fasting glucose, loinc: ["1558-6"], unit: mg/dL, normal: [70, 99]}
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from clinreason.errors import DataError
from clinreason.records.query_spec import AGE, ID, LABEL, SEX, LabelClass, QuerySpec, column_spec, query_cohort
from clinreason.records.schema import Cohort, SkipReport
from clinreason.records.spec import CohortSpec, FindingSpec
from clinreason.records.table import Row
from clinreason.yaml_models import load_yaml_model, repeated

__all__ = [
    "LOINC",
    "FhirSpec",
    "age_on",
    "is_fhir_spec",
    "load_fhir",
    "load_fhir_spec",
    "loinc_codes",
    "observation_value",
    "same_unit",
]

log = logging.getLogger(__name__)

LOINC = "http://loinc.org"
_NOT_A_DIAGNOSIS = {"refuted", "entered-in-error"}


# ---------------------------------------------------------------------------------------------------
# The mapping shared with the server (clinreason.serve.inputs)


def loinc_codes(observation: Any) -> list[str]:
    """The LOINC codes of an Observation's `code`."""
    return [c.code for c in (observation.code.coding or []) if c.system == LOINC and c.code]


def observation_value(observation: Any) -> tuple[object, str | None]:
    """(value, unit) of an Observation: a quantity, integer, boolean, string or coded concept."""
    if observation.valueQuantity is not None:
        quantity = observation.valueQuantity
        value = quantity.value
        return (float(value) if value is not None else None), (quantity.unit or quantity.code)
    for name in ("valueInteger", "valueBoolean", "valueString"):
        value = getattr(observation, name, None)
        if value is not None:
            return value, None
    concept = observation.valueCodeableConcept
    if concept is not None:
        return concept.text or next((c.display or c.code for c in concept.coding or []), None), None
    return None, None


def same_unit(given: str, expected: str) -> bool:
    """Two spellings of one unit ('kg/m2', 'kg/m^2' aside): UCUM brackets, spaces and case ignored."""

    def norm(unit: str) -> str:
        return unit.replace(" ", "").replace("[", "").replace("]", "").replace("²", "2").lower()

    return norm(given) == norm(expected)


def age_on(birth: Any, on: dt.date | None = None) -> float | None:
    """Full years from a FHIR birthDate (a date or an ISO string, possibly only a year) to `on` (today)."""
    if birth is None:
        return None
    text = birth.isoformat() if isinstance(birth, dt.date) else str(birth)
    parts = [int(p) for p in text[:10].split("-")]
    year, month, day = (parts + [7, 1])[:3] if len(parts) == 1 else (parts + [15])[:3]  # mid-period when partial
    on = on or dt.date.today()
    return float(on.year - year - ((on.month, on.day) < (month, day)))


# ---------------------------------------------------------------------------------------------------
# The cohort spec


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FhirFinding(FindingSpec):
    """A finding as in a column spec, read from Observations by its LOINC codes instead of a column."""

    column: str | None = None  # type: ignore[assignment]  # no column: the name is the key
    name: str
    loinc: list[str] = Field(min_length=1, description="LOINC codes of this finding; the first code found wins.")


class CodeClass(LabelClass):
    codes: list[str] = Field(
        min_length=1,
        description="'system|code' (e.g. 'http://snomed.info/sct|44054006'); a code ending in '*' is a prefix "
        "('http://hl7.org/fhir/sid/icd-10-cm|E11*'); a bare code matches any system.",
    )

    def matches(self, codings: list[tuple[str, str]]) -> bool:
        for wanted in self.codes:
            system, _, code = wanted.rpartition("|")
            for have_system, have_code in codings:
                if system and system != have_system:
                    continue
                if (code.endswith("*") and have_code.startswith(code[:-1])) or have_code == code:
                    return True
        return False


class FhirLabel(_Spec):
    classes: list[CodeClass] = Field(min_length=1, description="In priority order: the first class found wins.")
    otherwise: str | None = Field(default=None, description="The label of a patient in no class; null: leave out.")


class FhirSpec(QuerySpec):
    kind: Literal["fhir"]
    path: Path = Field(description="A folder (or one file) of *.json Bundles/resources and *.ndjson exports.")
    index_date: dt.date | None = Field(
        default=None,
        description="Only resources dated on or before it count, and age is taken on it; default: every "
        "resource, age on the patient's latest dated Observation or Condition.",
    )
    label: FhirLabel
    sex: dict[str, str] | None = Field(default=None, description="Patient.gender -> word; default: as written.")
    findings: list[FhirFinding] = Field(default_factory=list)

    @field_validator("findings")
    @classmethod
    def _unique(cls, findings: list[FhirFinding]) -> list[FhirFinding]:
        if twice := repeated(f.name for f in findings):
            raise ValueError(f"finding names must be unique; repeated: {twice}")
        if shared := repeated(c for f in findings for c in f.loinc):
            raise ValueError(f"a LOINC code maps to one finding; used twice: {shared}")
        return findings


def is_fhir_spec(raw: object) -> bool:
    return isinstance(raw, dict) and raw.get("kind") == "fhir"


def load_fhir_spec(path: str | Path) -> Cohort:
    """Read a `kind: fhir` YAML and load its cohort; a relative `path` is relative to the YAML."""
    path = Path(path)
    spec = load_yaml_model(path, FhirSpec, "FHIR cohort specification")
    if not spec.path.is_absolute():
        spec = spec.model_copy(update={"path": (path.parent / spec.path).resolve()})
    return load_fhir(spec)


# ---------------------------------------------------------------------------------------------------
# Reading resources


@dataclass
class _Where:
    file: str
    line: int | None = None  # NDJSON line
    entry: int | None = None  # Bundle entry

    def error(self, message: str, column: str | None = None) -> DataError:
        where = f" entry {self.entry}" if self.entry is not None else ""
        return DataError(message + where, file=self.file, line=self.line, column=column)


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError("FHIR export not found", file=path)
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in {".json", ".ndjson"})
    if not files:
        raise DataError("no *.json or *.ndjson files in the FHIR export folder", file=path)
    return files


def _raw_resources(path: Path) -> Iterator[tuple[dict[str, Any], _Where, str | None]]:
    """(resource as JSON, where it is, its Bundle fullUrl) for every resource, streamed file by file."""
    for file in _files(path):
        if file.suffix.lower() == ".ndjson":
            with file.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        where = _Where(str(file), line=number)
                        yield _json(line, where), where, None
            continue
        where = _Where(str(file))
        try:
            content = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise where.error(f"not valid JSON: {exc}") from None
        if isinstance(content, dict) and content.get("resourceType") == "Bundle":
            for index, entry in enumerate(content.get("entry") or []):
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    yield entry["resource"], _Where(str(file), entry=index), entry.get("fullUrl")
        elif isinstance(content, dict):
            yield content, where, None
        else:
            raise where.error("expected a FHIR Bundle or resource (a JSON object)")


def _json(line: str, where: _Where) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise where.error(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise where.error("expected a FHIR resource (a JSON object)")
    return value


def _parse(raw: dict[str, Any], where: _Where) -> Any:
    from fhir.resources.R4B.condition import Condition
    from fhir.resources.R4B.observation import Observation
    from fhir.resources.R4B.patient import Patient

    model: Any = {"Patient": Patient, "Observation": Observation, "Condition": Condition}[raw["resourceType"]]
    try:
        return model.model_validate(raw)
    except ValueError as exc:
        first = " ".join(str(exc).splitlines()[:3])
        raise where.error(f"not a valid FHIR R4 {raw['resourceType']}: {first}") from None


def _period(value: Any) -> tuple[dt.date, dt.date] | None:
    """The first and last day a FHIR date or dateTime can mean: fhir.resources keeps a partial date
    ('2021', '2021-05') as text, which is a whole year or month."""
    if isinstance(value, dt.datetime):
        return value.date(), value.date()
    if isinstance(value, dt.date):
        return value, value
    if not isinstance(value, str) or not value[:4].isdigit():
        return None
    parts = [int(p) for p in value[:10].split("-") if p.isdigit()]
    if len(parts) == 1:
        return dt.date(parts[0], 1, 1), dt.date(parts[0], 12, 31)
    if len(parts) == 2:
        following = dt.date(parts[0] + parts[1] // 12, parts[1] % 12 + 1, 1)
        return dt.date(parts[0], parts[1], 1), following - dt.timedelta(days=1)
    return dt.date(*parts[:3]), dt.date(*parts[:3])


def _day(value: Any) -> dt.date | None:
    period = _period(value)
    return None if period is None else period[0]


def _moment(value: Any) -> tuple[dt.date, str]:
    """A sortable (date, ISO text) of a FHIR date or dateTime."""
    day = _day(value) or dt.date.min
    return day, value.isoformat() if isinstance(value, dt.date) else str(value or "")


@dataclass
class _Patient:
    birth: Any = None
    gender: str | None = None
    latest: dt.date | None = None  # the latest dated Observation or Condition
    values: dict[str, tuple[tuple[dt.date, str], object]] = field(default_factory=dict)
    codings: list[tuple[str, str]] = field(default_factory=list)

    def saw(self, day: dt.date | None) -> None:
        if day is not None and (self.latest is None or day > self.latest):
            self.latest = day


class _Export:
    """Everything the cohort needs, gathered in one pass; references resolved at the end (an NDJSON export
    lists Conditions and Observations before the Patients they refer to)."""

    def __init__(self, spec: FhirSpec) -> None:
        self.spec = spec
        self.codes = {code: finding for finding in spec.findings for code in finding.loinc}
        self.patients: dict[str, _Patient] = {}  # by Patient id, in first-seen order
        self.by_reference: dict[str, _Patient] = {}
        self.aliases: dict[str, str] = {}  # Bundle fullUrl -> "Patient/id"
        self.unreferenced = 0
        self.undated = 0  # resources without a date, left out because of index_date

    def _for(self, reference: str) -> _Patient:
        if "Patient/" in reference:  # a server's absolute URL reads as Patient/id
            reference = reference[reference.rindex("Patient/") :]
        return self.by_reference.setdefault(reference, _Patient())

    def add(self, raw: dict[str, Any], where: _Where, full_url: str | None) -> None:
        kind = raw.get("resourceType")
        if kind not in {"Patient", "Observation", "Condition"}:
            return
        resource = _parse(raw, where)
        if kind == "Patient":
            if not resource.id:
                raise where.error("a Patient without an id")
            if resource.id in self.patients:
                raise where.error(f"Patient '{resource.id}' appears twice")
            patient = self._for(f"Patient/{resource.id}")
            patient.birth, patient.gender = resource.birthDate, resource.gender
            self.patients[resource.id] = patient
            if full_url:
                self.aliases[full_url] = f"Patient/{resource.id}"
            return
        reference = resource.subject.reference if resource.subject is not None else None
        if not reference:
            raise where.error(f"a {kind} without subject.reference")
        target = self._for(reference)
        if kind == "Condition":
            status = resource.verificationStatus
            statuses = {c.code for c in (status.coding or [])} if status is not None else set()
            if statuses & _NOT_A_DIAGNOSIS:
                return
            period = _period(resource.onsetDateTime) or _period(resource.recordedDate)
            if not self._before_index(period):
                return
            target.saw(period[0] if period else None)
            codings = (resource.code.coding if resource.code is not None else None) or []
            target.codings.extend((c.system or "", c.code) for c in codings if c.code)
            return
        codes = [c for c in loinc_codes(resource) if c in self.codes]
        when = resource.effectiveDateTime or (resource.effectivePeriod.start if resource.effectivePeriod else None)
        period = _period(when) or _period(resource.issued)
        if not self._before_index(period):
            return
        target.saw(period[0] if period else None)
        if not codes:
            return
        finding = self.codes[codes[0]]
        value, unit = observation_value(resource)
        if unit and finding.unit and not same_unit(unit, finding.unit):
            raise where.error(
                f"Observation {resource.id or ''} ({codes[0]}) is in {unit!r}; the spec reads {finding.key} in "
                f"{finding.unit} (convert it, or map this code to another finding)",
                column=finding.key,
            )
        moment = _moment(when or resource.issued)
        previous = target.values.get(finding.key)
        if value is not None and (previous is None or moment >= previous[0]):
            target.values[finding.key] = (moment, value)

    def _before_index(self, period: tuple[dt.date, dt.date] | None) -> bool:
        """Whether a resource counts under `index_date`: all of its (possibly partial) date on or before
        it; an undated one cannot be placed, so it is left out (and counted) when there is an index."""
        index = self.spec.index_date
        if index is None:
            return True
        if period is None:
            self.undated += 1
            return False
        return period[1] <= index

    def _sex(self, gender: str | None) -> str | None:
        if gender is None or gender == "unknown":
            return None
        return (self.spec.sex or {}).get(gender, gender)

    def rows(self, source: str) -> tuple[list[Row], SkipReport]:
        for reference, data in self.by_reference.items():
            target = self.aliases.get(reference, reference).removeprefix("Patient/")
            if target not in self.patients:
                self.unreferenced += 1
                continue
            patient = self.patients[target]
            if data is not patient:  # resources that referred to the Patient by its Bundle fullUrl
                patient.codings.extend(data.codings)
                patient.saw(data.latest)
                for key, (moment, value) in data.values.items():
                    if key not in patient.values or moment >= patient.values[key][0]:
                        patient.values[key] = (moment, value)
        unlabelled = SkipReport(reason="in no label class")
        rows: list[Row] = []
        for patient_id, patient in self.patients.items():
            label = next((c.name for c in self.spec.label.classes if c.matches(patient.codings)), None)
            label = label or self.spec.label.otherwise
            if label is None:
                unlabelled.count += 1
                continue
            on = self.spec.index_date or patient.latest
            values: dict[str, Any] = {
                ID: patient_id,
                LABEL: label,
                AGE: age_on(patient.birth, on) if on is not None else None,
                SEX: self._sex(patient.gender),
            }
            for finding in self.spec.findings:
                found = patient.values.get(finding.key)
                values[finding.key] = _cell(found[1] if found else None)
            rows.append(Row(f"{source} (Patient/{patient_id})", len(rows) + 1, None, values))
        return rows, unlabelled


def _cell(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _column_spec(spec: FhirSpec) -> CohortSpec:
    findings = [
        FindingSpec.model_validate({**f.model_dump(exclude={"column", "name"}), "column": f.name})
        for f in spec.findings
    ]
    return column_spec(spec, spec.label.classes, spec.label.otherwise, findings)


def load_fhir(spec: FhirSpec) -> Cohort:
    """The cohort of a FHIR export, one record per Patient."""
    export = _Export(spec)
    for raw, where, full_url in _raw_resources(spec.path):
        export.add(raw, where, full_url)
    if not export.patients:
        raise DataError("the FHIR export has no Patient resources", file=spec.path)
    source = f"fhir {spec.path}"
    rows, unlabelled = export.rows(source)
    if export.unreferenced:
        log.warning("%d resource reference(s) point to no Patient in the export; not read", export.unreferenced)
    if export.undated:
        log.warning("%d Observation(s) or Condition(s) without a date are not read (index_date is set)", export.undated)
    metadata = {
        "fhir": {"path": str(spec.path), "undated_left_out": export.undated, "unreferenced": export.unreferenced}
    }
    return query_cohort(_column_spec(spec), source, rows, [unlabelled], metadata)
