from __future__ import annotations

import pytest

from clinreason.records.schema import TimeSeriesPoint
from clinreason.records.timeseries import describe_series, summarise, timeseries_text, to_matrix, trend_of


def _points(variable: str, values: list[float]) -> list[TimeSeriesPoint]:
    return [TimeSeriesPoint(variable=variable, time=float(t), value=v) for t, v in enumerate(values)]


def test_counts_of_abnormal_readings_are_spelled_out() -> None:
    summary = summarise(_points("heart_rate", [80, 110, 120, 55, 90, 130, 140]))["heart_rate"]
    assert (summary.readings, summary.high, summary.low) == (7, 4, 1)
    assert describe_series(summary) == (
        "Heart rate is higher than normal 4 times and lower than normal once (readings 55 to 140 beats/min, "
        "7 readings, rising; reference 60 to 100 beats/min)."
    )


def test_normal_all_the_time_and_unitless_variables() -> None:
    text = timeseries_text(_points("ph", [7.40, 7.41, 7.40]) + _points("glucose", [100, 250]))
    assert text.splitlines() == [
        "Glucose is higher than normal once (readings 100 to 250 mg/dL, 2 readings, stable; "
        "reference 70 to 180 mg/dL).",
        "pH is normal all the time (readings 7.40 to 7.41, 3 readings, stable; reference 7.35 to 7.45).",
    ]


@pytest.mark.parametrize(
    ("values", "trend"),
    [
        ([90, 92, 91, 120, 125, 130], "rising"),
        ([130, 125, 120, 91, 92, 90], "falling"),
        ([90, 91, 92, 90, 91, 93], "stable"),
    ],
)
def test_trend(values: list[float], trend: str) -> None:
    from clinreason.records.timeseries import VARIABLES

    assert trend_of(values, VARIABLES["heart_rate"].normal) == trend


def test_matrix_keeps_the_last_readings_and_fills_gaps() -> None:
    values, observed = to_matrix(_points("heart_rate", [70, 80, 90]), ["heart_rate", "ph"], length=4)
    assert [row[0] for row in values] == [70, 70, 80, 90]
    assert [row[0] for row in observed] == [False, True, True, True]
    assert [row[1] for row in values] == [7.4, 7.4, 7.4, 7.4] and not any(row[1] for row in observed)
