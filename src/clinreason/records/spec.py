"""The YAML column specification that turns any CSV/Parquet table into a cohort without Python.

Example (see docs/datasets.md for every field)::

    name: my-clinic
    title: Diabetes screening, my clinic 2024
    source: {name: "internal", citation: "...", licence: "internal use only"}
    file: screening.csv            # relative to this YAML file
    id_column: patient_id
    label: {column: outcome, map: {"1": diabetes, "0": no diabetes}}
    age: {column: age}
    sex: {column: sex, map: {F: female, M: male}}
    findings:
      - {column: glucose, label: fasting plasma glucose, unit: mg/dL, normal: [70, 99], valid: [5, 2500]}
      - {column: smoker, label: current smoker, type: boolean}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from clinreason.records.plausibility import DEFAULT_AGE_LIMITS, Limits, default_limits
from clinreason.records.schema import CohortSource, GradeTerm, ReferenceRange, TaskSpec
from clinreason.yaml_models import load_yaml_model, repeated, validate_model

DEFAULT_MISSING = ["", "NA", "N/A", "na", "NaN", "nan", "null", "NULL", "None", "?"]


def _string_keys(value: Any) -> Any:
    """YAML reads `1: yes` with an int key and `yes` as True; codes in a CSV are strings."""
    if isinstance(value, dict):
        return {_code(k): (_code(v) if isinstance(v, bool) else v) for k, v in value.items()}
    return value


def _code(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldSpec(_Spec):
    column: str
    map: dict[str, str] | None = None

    @field_validator("map", mode="before")
    @classmethod
    def _map_keys(cls, value: Any) -> Any:
        return _string_keys(value)


def _ordered(bounds: tuple[float | None, float | None], what: str) -> None:
    low, high = bounds
    if low is not None and high is not None and low > high:
        raise ValueError(f"{what}: [{low:g}, {high:g}] has its minimum above its maximum")


class AgeSpec(FieldSpec):
    valid: tuple[float | None, float | None] | None = Field(
        default=(DEFAULT_AGE_LIMITS.low, DEFAULT_AGE_LIMITS.high),
        description="[min, max] age in years; outside is an error or, with `on_invalid: skip`, a counted skip.",
    )

    @model_validator(mode="after")
    def _check(self) -> AgeSpec:
        if self.valid is not None:
            _ordered(self.valid, "age: valid")
        return self

    @property
    def limits(self) -> Limits | None:
        if self.valid is None or self.valid == (None, None):
            return None
        return Limits(low=self.valid[0], high=self.valid[1])


class FindingSpec(_Spec):
    column: str
    name: str | None = Field(default=None, description="Key of the finding; defaults to the column.")
    label: str | None = Field(default=None, description="Plain-language name; defaults to the column.")
    type: Literal["numeric", "categorical", "boolean"] = "numeric"
    unit: str | None = None
    normal: tuple[float | None, float | None] | None = Field(
        default=None, description="[low, high] of the normal range; null for an open end."
    )
    decimals: int | None = Field(default=None, ge=0)
    values: dict[str, str] | None = Field(
        default=None, description="Categorical codes to words; a code not listed is an error."
    )
    missing_values: list[str] = Field(default_factory=list, description="Extra codes meaning 'missing'.")
    group: str | None = None
    aliases: list[str] = Field(default_factory=list, description="Other names (used to check rationales).")
    inverse_aliases: list[str] = Field(
        default_factory=list,
        description="Names of a quantity that moves against the value ('glucose tolerance' of a 2-hour glucose): "
        "'high glucose tolerance' is checked as a glucose that is not high.",
    )
    terms: dict[str, tuple[float | None, float | None]] = Field(
        default_factory=dict,
        description="Words that grade the value by themselves, each with the [low, high] of values it is true "
        "for (null for an open end), e.g. {normal weight: [18.5, 24.9], obesity: [30, null]} for a BMI: a "
        "rationale concluding 'normal weight' for a BMI of 35.8 makes a wrong claim.",
    )
    loinc: list[str] = Field(
        default_factory=list, description="LOINC codes of this finding (FHIR Observations are read by them)."
    )
    valid: tuple[float | None, float | None] | None = Field(
        default=None,
        description="[min, max] a value can possibly take (hard limits, not the normal range): outside is an "
        "error naming the cell, or a counted skip with `on_invalid: skip`. Default: the knowledge base's "
        "limits for a finding it knows by name and unit (e.g. systolic pressure 30-300 mm Hg), else none; "
        "[null, null] turns the default off.",
    )

    @field_validator("values", mode="before")
    @classmethod
    def _value_keys(cls, value: Any) -> Any:
        return _string_keys(value)

    @field_validator("missing_values", mode="before")
    @classmethod
    def _codes(cls, value: Any) -> Any:
        return [_code(v) for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _check(self) -> FindingSpec:
        if self.normal is not None:
            if self.type != "numeric":
                raise ValueError(f"'{self.column}': a normal range only applies to numeric findings")
            ReferenceRange(low=self.normal[0], high=self.normal[1])
        if self.valid is not None:
            if self.type != "numeric":
                raise ValueError(f"'{self.column}': a valid range only applies to numeric findings")
            _ordered(self.valid, f"'{self.column}': valid")
        if self.terms and self.type != "numeric":
            raise ValueError(f"'{self.column}': grading terms only apply to numeric findings")
        for term, bounds in self.terms.items():
            ReferenceRange(low=bounds[0], high=bounds[1])
            if not term.strip():
                raise ValueError(f"'{self.column}': a grading term is empty")
        return self

    @property
    def limits(self) -> Limits | None:
        """The hard limits in force: the spec's `valid`, else the default for a known finding."""
        if self.valid is not None:
            low, high = self.valid
            return None if low is None and high is None else Limits(low=low, high=high)
        if self.type != "numeric":
            return None
        return default_limits(self.key, self.label, self.aliases, self.unit)

    @property
    def key(self) -> str:
        return self.name or self.column

    @property
    def reference(self) -> ReferenceRange | None:
        return None if self.normal is None else ReferenceRange(low=self.normal[0], high=self.normal[1])

    @property
    def grade_terms(self) -> tuple[GradeTerm, ...]:
        return tuple(
            GradeTerm(term=term, range=ReferenceRange(low=low, high=high)) for term, (low, high) in self.terms.items()
        )


class LabelSpec(_Spec):
    column: str | None = Field(default=None, description="One column holding the label (single-label).")
    columns: list[str] | None = Field(
        default=None, description="Multi-label: one 0/1 column per label; the column is the label name."
    )
    map: dict[str, str] = Field(default_factory=dict, description="Raw values (or column names) to labels.")
    classes: list[str] | None = Field(
        default=None, description="The allowed labels in a fixed order; any other value is an error."
    )
    descriptions: dict[str, str] = Field(default_factory=dict, description="Longer names for prompts.")
    on_missing: Literal["skip", "error"] = "skip"

    @field_validator("map", mode="before")
    @classmethod
    def _map_keys(cls, value: Any) -> Any:
        return _string_keys(value)

    @model_validator(mode="after")
    def _one_kind(self) -> LabelSpec:
        if (self.column is None) == (self.columns is None):
            raise ValueError("label needs exactly one of 'column' (single-label) or 'columns' (multi-label)")
        return self


class CohortSpec(_Spec):
    name: str
    title: str | None = None
    description: str = ""
    source: CohortSource
    file: Path | None = Field(default=None, description="CSV or Parquet file, relative to the spec file.")
    format: Literal["csv", "parquet"] | None = None
    delimiter: str = ","
    id_column: str | None = Field(default=None, description="Unique patient id; default: the row number.")
    label: LabelSpec
    age: AgeSpec | None = None
    sex: FieldSpec | None = None
    findings: list[FindingSpec] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="Columns of free text.")
    missing_values: list[str] = Field(default_factory=lambda: list(DEFAULT_MISSING))
    on_invalid: Literal["error", "skip"] = Field(
        default="error",
        description="A value outside its valid range: stop with an error naming the cell, or skip the row "
        "(counted and reported as 'implausible value').",
    )
    text_style: Literal["generic", "dementia", "clinical"] = "generic"
    task: TaskSpec = Field(
        default_factory=TaskSpec,
        description="What the label answers, for the teacher's wording: {kind: diagnosis | outcome | risk, "
        "question: ...}.",
    )

    @model_validator(mode="after")
    def _unique_keys(self) -> CohortSpec:
        if twice := repeated(finding.key for finding in self.findings):
            raise ValueError(f"finding names must be unique; repeated: {twice}")
        return self

    def required_columns(self) -> list[str]:
        columns: list[str] = []
        if self.id_column:
            columns.append(self.id_column)
        columns += [self.label.column] if self.label.column else list(self.label.columns or [])
        columns += [field.column for field in (self.age, self.sex) if field is not None]
        columns += [finding.column for finding in self.findings]
        columns += self.notes
        return list(dict.fromkeys(columns))


def load_spec(path: str | Path) -> CohortSpec:
    """Read and validate a YAML spec; `file` is made absolute relative to the spec's folder."""
    path = Path(path)
    spec = load_yaml_model(path, CohortSpec, "column specification")
    if spec.file is not None and not spec.file.is_absolute():
        spec = spec.model_copy(update={"file": (path.parent / spec.file).resolve()})
    return spec


def parse_spec(raw: object, origin: str = "<spec>") -> CohortSpec:
    return validate_model(raw, CohortSpec, "column specification", origin)
