"""What the cohorts that are queried rather than read as a table (OMOP, FHIR) share: the fields of their
YAML beyond where the data is, and the column spec through which their rows become records.

Their loaders build one row per patient (`patient id, label, age, sex, findings`) and hand it to
`cohort_from_table` with the column spec `column_spec` derives here, so plausibility limits, error
messages and texts are those of a CSV cohort.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from clinreason.records.plausibility import DEFAULT_AGE_LIMITS
from clinreason.records.schema import Cohort, CohortSource, SkipReport, TaskSpec
from clinreason.records.spec import AgeSpec, CohortSpec, FieldSpec, FindingSpec, LabelSpec
from clinreason.records.table import Row, Table
from clinreason.records.tabular import cohort_from_table

__all__ = ["LabelClass", "QueryAge", "QuerySpec", "column_spec", "query_cohort"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LabelClass(_Spec):
    """One label of a queried cohort; its loader adds how patients are found (concepts, codes)."""

    name: str
    description: str | None = Field(default=None, description="Longer name for prompts.")


class QueryAge(_Spec):
    valid: tuple[float | None, float | None] | None = (DEFAULT_AGE_LIMITS.low, DEFAULT_AGE_LIMITS.high)


class QuerySpec(_Spec):
    name: str
    title: str | None = None
    description: str = ""
    source: CohortSource
    age: QueryAge = Field(default_factory=QueryAge)
    on_invalid: Literal["error", "skip"] = "error"
    text_style: Literal["generic", "dementia", "clinical"] = "generic"
    task: TaskSpec = Field(default_factory=TaskSpec)


ID, LABEL, AGE, SEX = "patient_id", "label", "age", "sex"  # the columns of a queried cohort's rows


def column_spec(
    spec: QuerySpec, classes: Sequence[LabelClass], otherwise: str | None, findings: Sequence[FindingSpec]
) -> CohortSpec:
    """The column spec of the rows a loader builds: one column per finding, named by its key."""
    return CohortSpec(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        source=spec.source,
        id_column=ID,
        label=LabelSpec(
            column=LABEL,
            classes=[c.name for c in classes] + ([otherwise] if otherwise else []),
            descriptions={c.name: c.description for c in classes if c.description},
        ),
        age=AgeSpec(column=AGE, valid=spec.age.valid),
        sex=FieldSpec(column=SEX),
        findings=list(findings),
        on_invalid=spec.on_invalid,
        text_style=spec.text_style,
        task=spec.task,
    )


def query_cohort(
    columns: CohortSpec,
    source: str,
    rows: Iterable[Row],
    skipped: Iterable[SkipReport],
    metadata: dict[str, Any],
) -> Cohort:
    """The cohort of a loader's rows; `skipped` (patients left out before the rows, read once the rows
    have been consumed) and `metadata` (under the loader's own key) are added to what the rows give."""
    cohort = cohort_from_table(Table(source, columns.required_columns(), rows), columns)
    left_out = [report for report in skipped if report.count]
    return cohort.model_copy(
        update={"skipped": [*left_out, *cohort.skipped], "metadata": {**cohort.metadata, **metadata}}
    )
