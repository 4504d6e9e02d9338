"""Data-to-text: the exact paragraph a teacher or student model reads for a patient.

The text is a pure function of the record (no randomness, no dict-order surprises, fixed number
formatting), because the teacher's cache is keyed by it: the same record must always give the same
prompt.
"""

from __future__ import annotations

from typing import Literal

from clinreason.records.schema import Finding, PatientRecord, ReferenceRange

TextStyle = Literal["generic", "dementia", "clinical"]


def format_number(value: float, decimals: int | None = None) -> str:
    """Integers without a point; otherwise `decimals` digits, or up to 4 significant ones."""
    if decimals is not None:
        text = f"{value:.{decimals}f}"
        return "0" if text in {"-0", "-0.0"} else text
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


def format_range(normal: ReferenceRange, unit: str | None, decimals: int | None = None) -> str:
    """'90 to 119 mm Hg', 'up to 199 mg/dL', '60 mL/min or more'; scores ('/30') are shown bare."""
    suffix = f" {unit}" if unit and not unit.startswith("/") else ""
    low = format_number(normal.low, decimals) if normal.low is not None else None
    high = format_number(normal.high, decimals) if normal.high is not None else None
    if low is not None and high is not None:
        return f"{low}{suffix}" if low == high else f"{low} to {high}{suffix}"
    if high is not None:
        return f"up to {high}{suffix}"
    return f"{low}{suffix} or more"


def format_value(finding: Finding) -> str:
    value = finding.value
    if value is None:
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        number = format_number(value, finding.decimals)
        if finding.unit and finding.unit.startswith("/"):
            return f"{number}{finding.unit}"
        return f"{number} {finding.unit}" if finding.unit else number
    return value


def describe_finding(finding: Finding) -> str:
    """'Resting blood pressure: 145 mm Hg (high; reference 90 to 120 mm Hg).'"""
    text = f"{capitalise(finding.label)}: {format_value(finding)}"
    status = finding.status
    if status is not None and finding.normal is not None:
        text += f" ({status}; reference {format_range(finding.normal, finding.unit, finding.decimals)})"
    return text + "."


def describe_demographics(record: PatientRecord) -> str:
    sex = record.sex
    if record.age is not None:
        age = format_number(record.age, None if record.age.is_integer() else 1)
        return f"This patient is {_article(age)} {age}-year-old {sex or 'patient'}"
    if sex:
        return f"This patient is a {sex} of unrecorded age"
    return "This patient's age and sex are not recorded"


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
    from clinreason.records.timeseries import load_points, timeseries_text

    return timeseries_text(load_points(record))


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
    education = _number(f.get("education"))
    if education is not None:
        first += f" who has completed {format_number(education)} years of education"
    marital = _text(f.get("marital_status"))
    if marital is not None:
        phrase = _MARITAL_PHRASES.get(marital.lower(), f"whose marital status is {marital}")
        first += f" and {phrase}" if education is not None else f" who {phrase}"
    sentences = [first + "."]

    mmse = _number(f.get("mmse"))
    apoe4 = _number(f.get("apoe4"))
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
    sentences.append(f"The patient {mmse_part} and has {apoe_part}.")
    cdrsb = _number(f.get("cdrsb"))
    if cdrsb is not None:
        sentences.append(f"The Clinical Dementia Rating sum of boxes is {format_number(cdrsb, 1)}/18.")

    grades = [finding for finding in f.values() if finding.group == "mri_grade"]
    if grades:
        sentences.append("Also, based on their MRI scans:")
        for finding in grades:
            if finding.value is None:
                sentences.append(f"- {capitalise(finding.label)} could not be assessed (no MRI volume).")
            else:
                sentences.append(f"- This patient has {finding.value} {finding.label}.")
    return "\n".join(sentences)


def record_to_text(record: PatientRecord, style: TextStyle = "generic") -> str:
    if style == "generic":
        return generic_text(record)
    if style == "dementia":
        return dementia_text(record)
    if style == "clinical":
        return clinical_text(record)
    raise ValueError(f"unknown text style '{style}'; expected 'generic', 'dementia' or 'clinical'")


def _number(finding: Finding | None) -> float | None:
    if finding is None or isinstance(finding.value, bool) or not isinstance(finding.value, float):
        return None
    return finding.value


def _text(finding: Finding | None) -> str | None:
    return finding.value if finding is not None and isinstance(finding.value, str) else None


def _article(number: str) -> str:
    """'an' for numbers read with a vowel sound: 8, 80-89, 11, 18 (and their decimals)."""
    whole = number.split(".")[0]
    return "an" if whole.startswith("8") or whole in {"11", "18"} else "a"


def capitalise(text: str) -> str:
    """Upper-case the first letter, but leave names like 'pH' and 'eGFR' alone."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].upper() + text[1:]
