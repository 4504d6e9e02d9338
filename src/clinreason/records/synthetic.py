"""A synthetic multimodal cohort with known ground truth: diseases drive notes and vital-sign / lab
trajectories by the documented rules below, so the whole ClinRaGen path runs offline and whether a
model learned the right evidence can be checked.

Rules (per patient, all draws from one seeded generator):

1. Each disease in `DISEASES` is present independently with its prevalence.
2. Time series: 48 hourly readings of the 11 MIMIC variables around a normal baseline with noise and
   20% of readings missing; each present disease shifts its variables by its `effects`, ramping in
   linearly over the stay (so the trend rises or falls).
3. Note: a brief hospital course starts with a neutral sentence; each present disease adds its note
   phrase with probability `note_rate`, and an absent disease adds a distractor that denies it with
   probability 0.15. Diseases with a low `note_rate` are evidenced mainly in the time series, those with
   a high rate mainly in the note, so each modality alone misses something.
4. The reference rationale of each modality states exactly the evidence the rules put there.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from clinreason.records.schema import Cohort, CohortSource, Note, PatientRecord, TimeSeriesPoint
from clinreason.records.timeseries import VARIABLES, SeriesSummary, summarise, times


@dataclass(frozen=True)
class Disease:
    name: str
    prevalence: float
    effects: dict[str, float]  # variable -> shift reached at the end of the stay
    note: str  # the sentence the note gets when the disease is present
    denial: str  # a sentence that mentions the disease but denies it
    note_rate: float  # probability that the note mentions the disease
    reasoning: str  # why the evidence supports it, for reference rationales
    series_reasoning: str = ""
    aliases: tuple[str, ...] = field(default=())


DISEASES = [
    Disease(
        "Septicemia (except in labor)",
        0.30,
        {"temperature": 1.8, "heart_rate": 30, "respiratory_rate": 9, "mean_bp": -18, "systolic_bp": -22},
        "Blood cultures grew gram-negative rods and he was started on broad-spectrum antibiotics for sepsis.",
        "Blood cultures were negative and there was no concern for sepsis.",
        0.6,
        "positive blood cultures treated with antibiotics indicate sepsis",
        "fever, tachycardia, tachypnoea and falling blood pressure fit sepsis",
        ("sepsis",),
    ),
    Disease(
        "Pneumonia (except that caused by tuberculosis or sexually transmitted disease)",
        0.25,
        {"spo2": -7, "fio2": 0.25, "respiratory_rate": 7, "temperature": 1.0},
        "Chest x-ray showed a right lower lobe consolidation treated as pneumonia.",
        "Chest x-ray showed no infiltrate.",
        0.8,
        "a consolidation on chest x-ray treated as pneumonia indicates pneumonia",
        "low oxygen saturation despite more inspired oxygen and fast breathing fit pneumonia",
        ("pneumonia",),
    ),
    Disease(
        "Congestive heart failure; nonhypertensive",
        0.20,
        {"spo2": -4, "respiratory_rate": 5, "weight": 5},
        "He was diuresed with IV furosemide for volume overload from heart failure.",
        "Echocardiogram showed a normal ejection fraction.",
        0.7,
        "diuresis for volume overload indicates heart failure",
        "rising weight with lower oxygen saturation and faster breathing fit fluid overload",
        ("heart failure",),
    ),
    Disease(
        "Diabetes mellitus without complication",
        0.25,
        {"glucose": 120},
        "Home metformin was held and he was covered with an insulin sliding scale.",
        "Hemoglobin A1c was normal.",
        0.5,
        "insulin cover for a patient on metformin indicates diabetes",
        "glucose far above the target range fits diabetes",
        ("diabetes",),
    ),
    Disease(
        "Acute and unspecified renal failure",
        0.20,
        {"ph": -0.12},
        "Creatinine rose to 3.1 from a baseline of 1.0 and improved with fluids.",
        "Creatinine remained at baseline.",
        0.4,
        "a tripling of creatinine indicates acute kidney injury",
        "a falling pH (acidaemia) fits acute kidney injury",
        ("acute kidney injury",),
    ),
    Disease(
        "Essential hypertension",
        0.30,
        {"systolic_bp": 35, "diastolic_bp": 15},
        "Blood pressure was poorly controlled and lisinopril was uptitrated.",
        "Blood pressure was well controlled.",
        0.3,
        "poorly controlled blood pressure needing more lisinopril indicates hypertension",
        "high systolic and diastolic pressures fit hypertension",
        ("hypertension",),
    ),
]
BASELINE = {
    "diastolic_bp": (72, 6),
    "systolic_bp": (118, 9),
    "mean_bp": (85, 6),
    "fio2": (0.21, 0.0),
    "glucose": (110, 15),
    "heart_rate": (80, 8),
    "spo2": (97, 1.2),
    "respiratory_rate": (16, 2),
    "temperature": (36.9, 0.3),
    "weight": (80, 12),
    "ph": (7.40, 0.02),
}
OPENERS = [
    "Patient admitted to the medical ICU for monitoring.",
    "Patient transferred from the floor for closer care.",
    "Patient admitted from the emergency department.",
]
SYNTHETIC_SOURCE = CohortSource(
    name="clinreason synthetic multimodal cohort (generated; not real patients)",
    citation="Generated by clinreason.records.synthetic with documented rules; see its module docstring.",
    licence="CC0 (generated data)",
)


def _clip(variable: str, value: float) -> float:
    limits = {"spo2": (60, 100), "fio2": (0.21, 1.0), "ph": (6.8, 7.7), "glucose": (30, 600)}
    low, high = limits.get(variable, (-1e9, 1e9))
    return min(max(value, low), high)


def make_patient(rng: random.Random, index: int, length: int = 48) -> PatientRecord:
    present = [d for d in DISEASES if rng.random() < d.prevalence]
    points: list[TimeSeriesPoint] = []
    baseline = {variable: rng.gauss(mean, sd) for variable, (mean, sd) in BASELINE.items()}
    for hour in range(length):
        ramp = (hour + 1) / length
        for variable, (_, sd) in BASELINE.items():
            if rng.random() < 0.2:
                continue
            noise = 0.0 if variable in ("fio2", "weight") else rng.gauss(0, max(sd, 1e-3) * 0.6)
            value = baseline[variable] + noise + sum(d.effects.get(variable, 0.0) for d in present) * ramp
            decimals = VARIABLES[variable].decimals
            points.append(
                TimeSeriesPoint(variable=variable, time=float(hour), value=round(_clip(variable, value), decimals))
            )
    sentences = [rng.choice(OPENERS)]
    for disease in DISEASES:
        if disease in present and rng.random() < disease.note_rate:
            sentences.append(disease.note)
        elif disease not in present and rng.random() < 0.15:
            sentences.append(disease.denial)
    sentences.append("Discharged in stable condition.")
    return PatientRecord(
        id=f"syn-{index:04d}",
        age=float(rng.randint(40, 90)),
        sex=rng.choice(["male", "female"]),
        labels=[d.name for d in present],
        time_series=points,
        notes=[Note(category="brief hospital course", text=" ".join(sentences))],
    )


def make_multimodal_cohort(n: int = 400, seed: int = 0) -> Cohort:
    rng = random.Random(seed)
    return Cohort(
        name="synthetic-multimodal",
        title="Synthetic ICU stays: notes + vital signs and labs",
        source=SYNTHETIC_SOURCE,
        labels=[d.name for d in DISEASES],
        multilabel=True,
        text_style="clinical",
        records=[make_patient(rng, i) for i in range(n)],
        description="Generated ICU stays whose diseases drive the note and the time series by documented rules.",
    )


def reference_rationales(record: PatientRecord) -> tuple[str, str]:
    """(note rationale, time-series rationale) stating the evidence the rules put in each modality."""
    note = record.notes[0].text if record.notes else ""
    summaries = summarise(record.time_series)
    note_parts, series_parts = [], []
    for disease in DISEASES:
        if disease.name not in record.labels:
            continue
        if disease.note in note:
            note_parts.append(f'The note says: "{disease.note}" This {disease.reasoning}.')
        changed = [v for v, shift in disease.effects.items() if v in summaries and _shows(summaries[v], shift)]
        if changed:
            described = ", ".join(_evidence(summaries[v]) for v in changed)
            series_parts.append(f"{described}: {disease.series_reasoning}.")
    note_rationale = " ".join(note_parts) or "The note gives no specific evidence of a disease."
    series_rationale = " ".join(series_parts) or "The vital signs and lab tests stay within their normal ranges."
    return note_rationale, series_rationale


def _shows(summary: SeriesSummary, shift: float) -> bool:
    if shift > 0:
        return summary.high > 0 or summary.trend == "rising"
    return summary.low > 0 or summary.trend == "falling"


def _evidence(summary: SeriesSummary) -> str:
    parts = []
    if summary.high:
        parts.append(f"higher than normal {times(summary.high)}")
    if summary.low:
        parts.append(f"lower than normal {times(summary.low)}")
    state = " and ".join(parts) if parts else "within the normal range"
    return f"{VARIABLES[summary.variable].label} {state} and {summary.trend}"
