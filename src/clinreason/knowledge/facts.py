"""Short, sourced reference facts about clinical findings, and the fact sheet built from them.

The 1.5B teacher misreads CDR as a "Cognitive Decline Rate" unless told what it is; a few grounded
sentences about each finding in the system prompt fix that. The sheet is built per cohort (not per
patient), so it is identical for every prompt of a run and its KV cache can be reused.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

import yaml
from pydantic import BaseModel

from clinreason.records.format import capitalise, format_range
from clinreason.records.schema import Cohort, Finding


class Fact(BaseModel):
    keys: list[str]
    text: str
    source: str


@lru_cache(maxsize=1)
def load_facts() -> tuple[Fact, ...]:
    raw = yaml.safe_load(resources.files("clinreason.knowledge").joinpath("facts.yaml").read_text())
    return tuple(Fact.model_validate(item) for item in raw["facts"])


def facts_for(keys: Iterable[str]) -> list[Fact]:
    """Facts that apply to any of `keys`, each once, in the order of the first key that needs it."""
    chosen: list[Fact] = []
    for key in keys:
        for fact in load_facts():
            if key in fact.keys and fact not in chosen:
                chosen.append(fact)
    return chosen


def representative_findings(cohort: Cohort) -> list[Finding]:
    """One finding per key (the first recorded one), in the cohort's order."""
    found: dict[str, Finding] = {}
    for record in cohort.records:
        for key, finding in record.findings.items():
            if key not in found or (found[key].value is None and finding.value is not None):
                found[key] = finding
    return list(found.values())


def fact_sheet(cohort: Cohort) -> str:
    """Reference ranges of the cohort's findings, then the background facts that apply to them."""
    findings = representative_findings(cohort)
    ranges = [
        f"- {capitalise(finding.label)}: {format_range(finding.normal, finding.unit, finding.decimals)}"
        for finding in findings
        if finding.normal is not None
    ]
    facts = facts_for(finding.name for finding in findings)
    parts: list[str] = []
    if ranges:
        parts.append("Reference ranges:\n" + "\n".join(ranges))
    if facts:
        parts.append("Background:\n" + "\n".join(f"- {fact.text}" for fact in facts))
    return "\n".join(parts)
