"""A cohort's vital statistics: what `datasets show` prints and what run folders record."""

from __future__ import annotations

from pydantic import BaseModel

from clinreason.records.format import format_range
from clinreason.records.schema import Cohort, CohortSource, SkipReport


class FeatureSummary(BaseModel):
    name: str
    label: str
    kind: str
    unit: str | None = None
    normal: str | None = None
    missing: int = 0
    low: int = 0
    high: int = 0


class CohortSummary(BaseModel):
    name: str
    title: str
    description: str
    patients: int
    multilabel: bool
    labels: dict[str, int]
    features: list[FeatureSummary]
    has_age: int
    has_sex: int
    source: CohortSource
    skipped: list[SkipReport]


def summarize(cohort: Cohort) -> CohortSummary:
    features: dict[str, FeatureSummary] = {}
    for record in cohort.records:
        for key, finding in record.findings.items():
            feature = features.get(key)
            if feature is None:
                feature = features[key] = FeatureSummary(
                    name=key,
                    label=finding.label,
                    kind="unknown",
                    unit=finding.unit,
                    normal=format_range(finding.normal, finding.unit, finding.decimals) if finding.normal else None,
                )
            if finding.value is None:
                feature.missing += 1
                continue
            if feature.kind == "unknown":
                feature.kind = {bool: "boolean", float: "numeric", str: "categorical"}[type(finding.value)]
            feature.low += finding.status == "low"
            feature.high += finding.status == "high"
    return CohortSummary(
        name=cohort.name,
        title=cohort.title,
        description=cohort.description,
        patients=len(cohort),
        multilabel=cohort.multilabel,
        labels=cohort.label_counts(),
        features=list(features.values()),
        has_age=sum(record.age is not None for record in cohort.records),
        has_sex=sum(record.sex is not None for record in cohort.records),
        source=cohort.source,
        skipped=cohort.skipped,
    )
