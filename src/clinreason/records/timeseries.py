"""Vital-sign and lab time series: reference ranges, text summaries and fixed-size model inputs.

The 11 variables are those ClinRaGen takes from the MIMIC-III benchmark episodes. The text follows
ClinRaGen's "lab test anomaly description" (each reading marked low / normal / high and counted),
with the range of values and a simple trend added, so that claims about values and trends can be
checked. Reference ranges are ordinary adult clinical ranges (sources in `VARIABLES`); ClinRaGen's
own thresholds are wider outlier cut-offs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from clinreason.records.format import format_number, format_range
from clinreason.records.schema import PatientRecord, ReferenceRange, TimeSeriesPoint

Trend = Literal["rising", "falling", "stable"]


@dataclass(frozen=True)
class Variable:
    key: str
    label: str
    unit: str | None
    normal: ReferenceRange | None
    decimals: int
    source: str
    aliases: tuple[str, ...] = ()


VARIABLES: dict[str, Variable] = {
    v.key: v
    for v in (
        Variable(
            "diastolic_bp",
            "diastolic blood pressure",
            "mm Hg",
            ReferenceRange(low=60, high=89),
            0,
            "Whelton PK et al., 2017 ACC/AHA guideline (diastolic 90 or more: stage 2)",
            ("diastolic",),
        ),
        Variable(
            "systolic_bp",
            "systolic blood pressure",
            "mm Hg",
            ReferenceRange(low=90, high=139),
            0,
            "Whelton PK et al., 2017 ACC/AHA guideline; hypotension below 90",
            ("systolic",),
        ),
        Variable(
            "mean_bp",
            "mean arterial pressure",
            "mm Hg",
            ReferenceRange(low=65, high=110),
            0,
            "Surviving Sepsis Campaign 2021 (target MAP 65 or more)",
            ("mean blood pressure", "MAP"),
        ),
        Variable(
            "fio2",
            "fraction of inspired oxygen",
            None,
            ReferenceRange(low=0.21, high=0.4),
            2,
            "room air is 0.21; above 0.4 is substantial supplemental oxygen",
            ("FiO2", "inspired oxygen"),
        ),
        Variable(
            "glucose",
            "glucose",
            "mg/dL",
            ReferenceRange(low=70, high=180),
            0,
            "ADA Standards of Care 2024, inpatient target 140-180 mg/dL; hypoglycaemia below 70",
            (),
        ),
        Variable(
            "heart_rate",
            "heart rate",
            "beats/min",
            ReferenceRange(low=60, high=100),
            0,
            "adult resting heart rate 60-100 beats/min",
            ("pulse",),
        ),
        Variable(
            "spo2",
            "oxygen saturation",
            "%",
            ReferenceRange(low=94, high=100),
            0,
            "O'Driscoll BR et al., BTS oxygen guideline 2017 (target 94-98%)",
            ("SpO2", "saturation"),
        ),
        Variable(
            "respiratory_rate",
            "respiratory rate",
            "breaths/min",
            ReferenceRange(low=12, high=20),
            0,
            "adult respiratory rate 12-20 breaths/min",
            ("respiration",),
        ),
        Variable(
            "temperature",
            "temperature",
            "°C",
            ReferenceRange(low=36.0, high=38.0),
            1,
            "fever above 38.0 °C, hypothermia below 36.0 °C (SIRS criteria)",
            ("fever",),
        ),
        Variable("weight", "weight", "kg", None, 1, "no reference range", ()),
        Variable(
            "ph",
            "pH",
            None,
            ReferenceRange(low=7.35, high=7.45),
            2,
            "arterial pH 7.35-7.45; below is acidaemia, above alkalaemia",
            ("acidosis", "alkalosis"),
        ),
    )
}
VARIABLE_ORDER = list(VARIABLES)

NUMBER_WORDS = ["no", "once", "twice"]


def times(count: int) -> str:
    """ClinRaGen spells counts out: 'once', 'twice', '7 times'."""
    return NUMBER_WORDS[count] if count < len(NUMBER_WORDS) else f"{count} times"


@dataclass(frozen=True)
class SeriesSummary:
    variable: str
    readings: int
    low: int
    high: int
    minimum: float
    maximum: float
    first: float
    last: float
    trend: Trend


def trend_of(values: Sequence[float], normal: ReferenceRange | None) -> Trend:
    """Rising or falling when the mean of the last third differs from the first third's by more than
    10% of the reference span (or of the observed span without a range)."""
    if len(values) < 3:
        return "stable"
    third = max(len(values) // 3, 1)
    change = sum(values[-third:]) / third - sum(values[:third]) / third
    if normal is not None and normal.low is not None and normal.high is not None:
        scale = normal.high - normal.low
    else:
        scale = max(values) - min(values)
    if scale <= 0 or abs(change) <= 0.1 * scale:
        return "stable"
    return "rising" if change > 0 else "falling"


def summarise(points: Iterable[TimeSeriesPoint]) -> dict[str, SeriesSummary]:
    by_variable: dict[str, list[TimeSeriesPoint]] = {}
    for point in points:
        by_variable.setdefault(point.variable, []).append(point)
    summaries = {}
    for key in sorted(by_variable, key=lambda k: VARIABLE_ORDER.index(k) if k in VARIABLES else len(VARIABLES)):
        series = sorted(by_variable[key], key=lambda p: p.time)
        values = [p.value for p in series]
        normal = VARIABLES[key].normal if key in VARIABLES else None
        statuses = [normal.status(v) for v in values] if normal else []
        summaries[key] = SeriesSummary(
            variable=key,
            readings=len(values),
            low=statuses.count("low"),
            high=statuses.count("high"),
            minimum=min(values),
            maximum=max(values),
            first=values[0],
            last=values[-1],
            trend=trend_of(values, normal),
        )
    return summaries


def describe_series(summary: SeriesSummary) -> str:
    """'Heart rate is higher than normal 7 times (readings 52 to 131 beats/min, 48 readings; rising).'"""
    variable = VARIABLES.get(summary.variable)
    label = variable.label if variable else summary.variable.replace("_", " ")
    unit = variable.unit if variable else None
    decimals = variable.decimals if variable else None
    name = label[:1].upper() + label[1:] if not (len(label) > 1 and label[1].isupper()) else label
    if variable is None or variable.normal is None:
        state = f"{name} is recorded"
    elif summary.low == 0 and summary.high == 0:
        state = f"{name} is normal all the time"
    else:
        parts = []
        if summary.high:
            parts.append(f"higher than normal {times(summary.high)}")
        if summary.low:
            parts.append(f"lower than normal {times(summary.low)}")
        state = f"{name} is " + " and ".join(parts)
    span = f"{format_number(summary.minimum, decimals)} to {format_number(summary.maximum, decimals)}"
    unit_text = f" {unit}" if unit else ""
    reference = f"; reference {format_range(variable.normal, unit, decimals)}" if variable and variable.normal else ""
    return f"{state} (readings {span}{unit_text}, {summary.readings} readings, {summary.trend}{reference})."


def timeseries_text(points: Iterable[TimeSeriesPoint]) -> str:
    """One sentence per variable, in the fixed variable order; deterministic for a given record."""
    return "\n".join(describe_series(s) for s in summarise(points).values())


def to_matrix(
    points: Iterable[TimeSeriesPoint], variables: Sequence[str] = VARIABLE_ORDER, length: int = 48
) -> tuple[list[list[float]], list[list[bool]]]:
    """A (length x variables) grid for the encoder: readings are ordered in time, the last `length` are
    kept; a variable's gaps are filled with its previous reading (or its normal mid-point, as ClinRaGen
    fills missing episodes with normal values). The mask says which cells were observed."""
    series: dict[str, list[float]] = {v: [] for v in variables}
    for point in sorted(points, key=lambda p: p.time):
        if point.variable in series:
            series[point.variable].append(point.value)
    values = [[0.0] * len(variables) for _ in range(length)]
    observed = [[False] * len(variables) for _ in range(length)]
    for column, variable in enumerate(variables):
        readings = series[variable][-length:]
        default = _midpoint(variable)
        previous = readings[0] if readings else default
        start = length - len(readings)
        for row in range(length):
            if row >= start:
                previous = readings[row - start]
                observed[row][column] = True
            values[row][column] = previous
    return values, observed


def _midpoint(variable: str) -> float:
    info = VARIABLES.get(variable)
    if info is None or info.normal is None or info.normal.low is None or info.normal.high is None:
        return 0.0
    return (info.normal.low + info.normal.high) / 2


def standardise(value: float, variable: str) -> float:
    """Centre on the reference mid-point and scale by half the reference span (0 = mid-normal, +/-1 = edge)."""
    info = VARIABLES.get(variable)
    if info is None or info.normal is None or info.normal.low is None or info.normal.high is None:
        return math.copysign(math.log1p(abs(value)), value) / 5
    half = (info.normal.high - info.normal.low) / 2
    return (value - (info.normal.high + info.normal.low) / 2) / half


# Column names of the MIMIC-III benchmark episode files (mimic3-benchmarks) for the 11 variables.
BENCHMARK_COLUMNS = {
    "Diastolic blood pressure": "diastolic_bp",
    "Fraction inspired oxygen": "fio2",
    "Glucose": "glucose",
    "Heart Rate": "heart_rate",
    "Mean blood pressure": "mean_bp",
    "Oxygen saturation": "spo2",
    "Respiratory rate": "respiratory_rate",
    "Systolic blood pressure": "systolic_bp",
    "Temperature": "temperature",
    "Weight": "weight",
    "pH": "ph",
}


def read_episode(path: str | Path) -> list[TimeSeriesPoint]:
    """A mimic3-benchmarks `*_timeseries.csv` (Hours plus one column per variable, mostly empty)."""
    import csv

    from clinreason.errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError("time-series file not found", file=path)
    points: list[TimeSeriesPoint] = []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "Hours" not in reader.fieldnames:
            raise DataError("not a benchmark episode file (no 'Hours' column)", file=path, line=1)
        columns = [c for c in reader.fieldnames if c in BENCHMARK_COLUMNS]
        for number, row in enumerate(reader, start=1):
            try:
                hours = float(row["Hours"])
            except (TypeError, ValueError):
                raise DataError(
                    f"expected hours, got {row['Hours']!r}", file=path, row=number, line=number + 1, column="Hours"
                ) from None
            for column in columns:
                raw = (row.get(column) or "").strip()
                if not raw:
                    continue
                try:
                    value = float(raw)
                except ValueError:
                    raise DataError(
                        f"expected a number, got {raw!r}", file=path, row=number, line=number + 1, column=column
                    ) from None
                if math.isfinite(value):
                    points.append(TimeSeriesPoint(variable=BENCHMARK_COLUMNS[column], time=hours, value=value))
    return points


def load_points(record: PatientRecord) -> list[TimeSeriesPoint]:
    """The record's readings: inline, or read from its episode file."""
    if record.time_series or not record.time_series_file:
        return list(record.time_series)
    return read_episode(record.time_series_file)
