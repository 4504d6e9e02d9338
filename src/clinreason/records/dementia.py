"""Kwon et al.'s patient paragraph for dementia cohorts (`text_style: dementia`), and the finding keys
it reads.

The keys are declared here once: the ADNI loader creates its findings under them, and a column spec of
one's own with `text_style: dementia` names its findings the same way (docs/datasets.md). Findings in
the group `mri_grade` are listed as graded MRI findings.
"""

from __future__ import annotations

from clinreason.records.format import capitalise, describe_demographics, format_number, format_value
from clinreason.records.schema import Finding, PatientRecord

__all__ = ["APOE4", "CDRSB", "EDUCATION", "MARITAL_STATUS", "MMSE", "MRI_GRADE_GROUP", "dementia_text"]

EDUCATION = "education"  # years of education
MARITAL_STATUS = "marital_status"  # free text: married, widowed, ...
MMSE = "mmse"  # Mini-Mental State Examination, /30
CDRSB = "cdrsb"  # Clinical Dementia Rating sum of boxes, /18 (optional: it defines the diagnosis)
APOE4 = "apoe4"  # number of APOE e4 alleles
MRI_GRADE_GROUP = "mri_grade"  # findings of this group hold graded MRI atrophy ("Mild", "Severe", ...)

_KNOWN = {EDUCATION, MARITAL_STATUS, MMSE, CDRSB, APOE4}
_HIDDEN_GROUPS = {MRI_GRADE_GROUP, "mri_volume"}  # grades are listed below; raw ADNI volumes are not shown

_MARITAL_PHRASES = {
    "married": "is married",
    "widowed": "is widowed",
    "divorced": "is divorced",
    "never married": "has never married",
}


def dementia_text(record: PatientRecord) -> str:
    """Kwon et al.'s patient paragraph (AAAI 2024): demographics, MMSE, APOE4, graded MRI findings."""
    f = record.findings
    first = describe_demographics(record)
    education = _number(f.get(EDUCATION))
    if education is not None:
        first += f" who has completed {format_number(education)} years of education"
    marital = _text(f.get(MARITAL_STATUS))
    if marital is not None:
        phrase = _MARITAL_PHRASES.get(marital.lower(), f"whose marital status is {marital}")
        first += f" and {phrase}" if education is not None else f" who {phrase}"
    sentences = [first + "."]

    mmse = _number(f.get(MMSE))
    apoe4 = _number(f.get(APOE4))
    mmse_part = (
        f"has a Mini-mental State Examination score of {format_number(mmse)}/30"
        if mmse is not None
        else "has no recorded Mini-mental State Examination score"
    )
    if apoe4 is None:
        apoe_part = "an unknown APOE4 status"
    elif apoe4 == 0:
        apoe_part = "no APOE4 gene"
    elif apoe4 == 1:
        apoe_part = "one APOE4 allele"
    elif apoe4 == 2:
        apoe_part = "two APOE4 alleles"
    else:
        apoe_part = f"{format_number(apoe4)} APOE4 alleles"
    if APOE4 in f:  # a cohort without APOE genotyping (OASIS-2) does not mention it
        sentences.append(f"The patient {mmse_part} and has {apoe_part}.")
    else:
        sentences.append(f"The patient {mmse_part}.")
    for finding in f.values():  # whatever else a cohort records (OASIS-2: SES, eTIV, nWBV)
        if finding.name not in _KNOWN and finding.group not in _HIDDEN_GROUPS and finding.value is not None:
            sentences.append(f"The {finding.label} is {format_value(finding)}.")
    cdrsb = _number(f.get(CDRSB))
    if cdrsb is not None:
        sentences.append(f"The Clinical Dementia Rating sum of boxes is {format_number(cdrsb, 1)}/18.")

    grades = [finding for finding in f.values() if finding.group == MRI_GRADE_GROUP]
    if grades:
        sentences.append("Also, based on their MRI scans:")
        for finding in grades:
            if finding.value is None:
                sentences.append(f"- {capitalise(finding.label)} could not be assessed (no MRI volume).")
            else:
                sentences.append(f"- This patient has {finding.value} {finding.label}.")
    return "\n".join(sentences)


def _number(finding: Finding | None) -> float | None:
    if finding is None or isinstance(finding.value, bool) or not isinstance(finding.value, float):
        return None
    return finding.value


def _text(finding: Finding | None) -> str | None:
    return finding.value if finding is not None and isinstance(finding.value, str) else None
