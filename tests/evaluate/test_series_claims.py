from __future__ import annotations

from clinreason.evaluate.series_claims import check_series_claims
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
