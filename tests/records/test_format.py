from __future__ import annotations

import pytest

from clinreason.records import ReferenceRange
from clinreason.records.format import capitalise, format_number, format_range


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (148.0, None, "148"),
        (2.3, None, "2.3"),
        (0.3641, None, "0.3641"),
        (1 / 3, None, "0.3333"),
        (30.25, 1, "30.2"),
        (5.0, 1, "5.0"),
        (-0.01, 1, "0"),
        (7.0, 0, "7"),
    ],
)
def test_format_number(value: float, decimals: int | None, expected: str) -> None:
    assert format_number(value, decimals) == expected


@pytest.mark.parametrize(
    ("low", "high", "unit", "expected"),
    [
        (90, 119, "mm Hg", "90 to 119 mm Hg"),
        (None, 199, "mg/dL", "up to 199 mg/dL"),
        (60, None, "mL/min", "60 mL/min or more"),
        (24, 30, "/30", "24 to 30"),
        (0, 0, "/18", "0"),
    ],
)
def test_format_range(low: float | None, high: float | None, unit: str, expected: str) -> None:
    assert format_range(ReferenceRange(low=low, high=high), unit) == expected


def test_capitalise_leaves_names_with_a_capital_second_letter() -> None:
    assert capitalise("resting heart rate") == "Resting heart rate"
    assert capitalise("eGFR") == "eGFR" and capitalise("pH") == "pH"
