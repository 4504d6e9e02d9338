from __future__ import annotations

import pytest

from clinreason.evaluate.series_claims import ClaimTally, check_series_claims, claim_tally, verified_claims
from clinreason.records import Note, PatientRecord, TimeSeriesPoint


def _record() -> PatientRecord:
    heart = [80, 110, 120, 55, 90, 130, 140]  # 4 high, 1 low, rising, 55 to 140
    temp = [36.8, 37.0, 36.9]  # normal throughout, stable
    points = [TimeSeriesPoint(variable="heart_rate", time=float(t), value=v) for t, v in enumerate(heart)]
    points += [TimeSeriesPoint(variable="temperature", time=float(t), value=v) for t, v in enumerate(temp)]
    return PatientRecord(
        id="s",
        labels=["Shock"],
        time_series=points,
        notes=[Note(category="brief hospital course", text="Started on norepinephrine for shock.")],
    )


def test_hand_checked_series_rationale() -> None:
    text = (
        "Heart rate is higher than normal 4 times and lower than normal twice, rising (readings 55 to 140). "
        "Temperature is normal all the time. "
        "Oxygen saturation is lower than normal 3 times. "
        'The note says: "Started on norepinephrine for shock." '
        'It also says "the patient was intubated overnight".'
    )
    report = check_series_claims(text, _record())
    verdicts = sorted((c.finding or "", c.stated, c.verdict) for c in report.claims)
    assert verdicts == sorted(
        [
            ("heart_rate", "higher than normal 4", "supported"),
            ("heart_rate", "lower than normal twice", "wrong"),  # it was once
            ("heart_rate", "rising", "supported"),
            ("heart_rate", "55 to 140", "supported"),
            ("temperature", "normal throughout", "supported"),
            ("spo2", "lower than normal 3", "unsupported"),  # never measured
            ("note", "Started on norepinephrine for shock.", "supported"),
            ("note", "the patient was intubated overnight", "unsupported"),
        ]
    )
    assert report.rate == 5 / 8


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The elevated heart rate fits sepsis.", [("heart_rate", "high", "supported")]),
        ("Heart rate was low at night.", [("heart_rate", "low", "supported")]),  # one reading of 55
        ("The temperature was markedly elevated.", [("temperature", "high", "wrong")]),
        ("Temperature remained normal.", [("temperature", "normal", "supported")]),
        ("Heart rate was not elevated.", []),  # negated: no claim read
        (  # one word before a list applies to each variable in it
            "The high heart rate and temperature fit sepsis.",
            [("heart_rate", "high", "supported"), ("temperature", "high", "wrong")],
        ),
        (  # and one after it
            "Heart rate and oxygen saturation are elevated.",
            [("heart_rate", "high", "supported"), ("spo2", "high", "unsupported")],
        ),
        (  # a direction word that belongs to the next noun is not read as the variable's
            "Heart rate with lower blood pressure fits shock.",
            [],
        ),
        (  # the count is the claim; the direction in it is not counted twice
            "Heart rate is higher than normal 4 times.",
            [("heart_rate", "higher than normal 4", "supported")],
        ),
        (  # a trend used as an adjective of the next noun is not the variable's trend
            "Fever, then falling blood pressure.",
            [],
        ),
    ],
)
def test_direction_words(text: str, expected: list[tuple[str, str, str]]) -> None:
    report = check_series_claims(text, _record())
    assert sorted((c.finding or "", c.stated, c.verdict) for c in report.claims) == sorted(expected)


def test_verified_claims_sums_over_records() -> None:
    texts = ["Heart rate is higher than normal 4 times.", "Temperature was elevated. Heart rate was low."]
    assert verified_claims((text, _record()) for text in texts) == (2, 3)


def test_invented_counts_are_the_count_claims_that_are_not_the_stays_own() -> None:
    texts = [
        # the first text of test_hand_checked_series_rationale: a wrong count and one of a variable never measured
        "Heart rate is higher than normal 4 times and lower than normal twice, rising (readings 55 to 140). "
        "Oxygen saturation is lower than normal 3 times.",
        "Temperature was elevated, rising.",  # wrong, but neither is a count
    ]
    assert claim_tally((text, _record()) for text in texts) == ClaimTally(supported=3, checked=7, invented_counts=2)
