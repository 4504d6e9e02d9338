"""How numbers, ranges, values and demographics are written in every text a model reads.

Fixed formatting (no locale, no float noise) matters because the teacher's cache is keyed by the
rendered prompt: the same record must always give the same characters.
"""

from __future__ import annotations

from clinreason.records.schema import Finding, PatientRecord, ReferenceRange

__all__ = ["capitalise", "describe_demographics", "format_number", "format_range", "format_value"]


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


def describe_demographics(record: PatientRecord) -> str:
    """'This patient is a 50-year-old female' (no full stop: callers go on or end the sentence)."""
    sex = record.sex
    if record.age is not None:
        age = format_number(record.age, None if record.age.is_integer() else 1)
        return f"This patient is {_article(age)} {age}-year-old {sex or 'patient'}"
    if sex:
        return f"This patient is a {sex} of unrecorded age"
    return "This patient's age and sex are not recorded"


def _article(number: str) -> str:
    """'an' for numbers read with a vowel sound: 8, 80-89, 11, 18 (and their decimals)."""
    whole = number.split(".")[0]
    return "an" if whole.startswith("8") or whole in {"11", "18"} else "a"


def capitalise(text: str) -> str:
    """Upper-case the first letter, but leave names like 'pH' and 'eGFR' alone."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].upper() + text[1:]
