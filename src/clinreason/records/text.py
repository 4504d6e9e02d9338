"""Data-to-text: the exact paragraph a teacher or student model reads for a patient.

The text is a pure function of the record (no randomness, no dict-order surprises, fixed number
formatting), because the teacher's cache is keyed by it: the same record must always give the same
prompt.
"""

from __future__ import annotations

from typing import Literal

from clinreason.records.dementia import dementia_text
from clinreason.records.format import capitalise, describe_demographics, format_range, format_value
from clinreason.records.schema import Finding, PatientRecord
from clinreason.records.timeseries import load_points, timeseries_text

__all__ = ["TextStyle", "clinical_text", "describe_finding", "generic_text", "record_to_text"]

TextStyle = Literal["generic", "dementia", "clinical"]


def describe_finding(finding: Finding) -> str:
    """'Resting blood pressure: 145 mm Hg (high; reference 90 to 120 mm Hg).'"""
    text = f"{capitalise(finding.label)}: {format_value(finding)}"
    status = finding.status
    if status is not None and finding.normal is not None:
        text += f" ({status}; reference {format_range(finding.normal, finding.unit, finding.decimals)})"
    return text + "."


def generic_text(record: PatientRecord) -> str:
    """Demographics, then one line per finding with unit and low/normal/high status, then notes."""
    lines = [describe_demographics(record) + "."]
    findings = list(record.findings.values())
    if findings:
        lines.append("Findings:")
        lines.extend(f"- {describe_finding(finding)}" for finding in findings)
    series = _series_text(record)
    if series:
        lines.append("Vital signs and lab tests:\n" + series)
    for note in record.notes:
        lines.append(f"{capitalise(note.category)}: {note.text.strip()}")
    return "\n".join(lines)


def clinical_text(record: PatientRecord) -> str:
    """ClinRaGen's input: the clinical note(s), then the vital-sign and lab anomaly description."""
    parts = [f"{capitalise(note.category)}:\n{note.text.strip()}" for note in record.notes]
    series = _series_text(record)
    if series:
        parts.append("Vital signs and lab tests:\n" + series)
    return "\n\n".join(parts) if parts else describe_demographics(record) + "."


def _series_text(record: PatientRecord) -> str:
    if not record.time_series and not record.time_series_file:
        return ""
    return timeseries_text(load_points(record))


def record_to_text(record: PatientRecord, style: TextStyle = "generic") -> str:
    if style == "generic":
        return generic_text(record)
    if style == "dementia":
        return dementia_text(record)
    if style == "clinical":
        return clinical_text(record)
    raise ValueError(f"unknown text style '{style}'; expected 'generic', 'dementia' or 'clinical'")
