"""MIMIC-III for ClinRaGen: the mimic3-benchmarks phenotyping task (25 phenotypes, per-stay time
series) joined with the brief hospital course of each admission's discharge summary (NOTEEVENTS).

MIMIC is credentialed (https://physionet.org/content/mimiciii/); this module reads the files a user
has. Memory stays bounded on the full tables: NOTEEVENTS (about 2 million notes, 4 GB) is streamed in
chunks and only the brief hospital course of the wanted admissions is kept; time series stay in
their per-stay files and are read when a record's text or tensor is needed.

Layout expected (mimic3-benchmarks, https://github.com/YerevaNN/mimic3-benchmarks):

    <benchmark>/phenotyping/{train,test}/listfile.csv        stay, period_length, 25 phenotype columns
    <benchmark>/phenotyping/{train,test}/<subject>_episode<N>_timeseries.csv
    <root>/<subject>/stays.csv                                 SUBJECT_ID, HADM_ID, ICUSTAY_ID, INTIME, ...
    NOTEEVENTS.csv[.gz]                                        from MIMIC-III v1.4
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from clinreason.errors import ConfigError, DataError
from clinreason.records.schema import Cohort, CohortSource, Note, PatientRecord, SkipReport
from clinreason.records.table import read_table
from clinreason.yaml_models import load_yaml_model

log = logging.getLogger(__name__)

PHENOTYPES = [
    "Acute and unspecified renal failure",
    "Acute cerebrovascular disease",
    "Acute myocardial infarction",
    "Cardiac dysrhythmias",
    "Chronic kidney disease",
    "Chronic obstructive pulmonary disease and bronchiectasis",
    "Complications of surgical procedures or medical care",
    "Conduction disorders",
    "Congestive heart failure; nonhypertensive",
    "Coronary atherosclerosis and other heart disease",
    "Diabetes mellitus with complications",
    "Diabetes mellitus without complication",
    "Disorders of lipid metabolism",
    "Essential hypertension",
    "Fluid and electrolyte disorders",
    "Gastrointestinal hemorrhage",
    "Hypertension with complications and secondary hypertension",
    "Other liver diseases",
    "Other lower respiratory disease",
    "Other upper respiratory disease",
    "Pleurisy; pneumothorax; pulmonary collapse",
    "Pneumonia (except that caused by tuberculosis or sexually transmitted disease)",
    "Respiratory failure; insufficiency; arrest (adult)",
    "Septicemia (except in labor)",
    "Shock",
]
NOTE_COLUMNS = ["HADM_ID", "CATEGORY", "DESCRIPTION", "ISERROR", "TEXT"]
STAY = re.compile(r"^(?P<subject>\d+)_episode(?P<episode>\d+)_timeseries\.csv$")
COURSE = re.compile(r"brief\s+hospital\s+course\s*:?", re.IGNORECASE)
NEXT_SECTION = re.compile(
    r"\n\s*(?:medications on admission|discharge medications|discharge disposition|discharge diagnos[ie]s|"
    r"discharge condition|discharge instructions|follow-?up instructions|condition at discharge|"
    r"discharge status|pertinent results|[A-Z][A-Za-z /&-]{2,40}:)\s",
    re.IGNORECASE,
)

MIMIC_SOURCE = CohortSource(
    name="MIMIC-III v1.4 (user-supplied, credentialed): mimic3-benchmarks phenotyping + NOTEEVENTS",
    citation=(
        "Johnson AEW et al. MIMIC-III, a freely accessible critical care database. Sci Data 2016;3:160035. "
        "Harutyunyan H et al. Multitask learning and benchmarking with clinical time series data. "
        "Sci Data 2019;6:96. Niu S et al. ClinRaGen, ACL 2025."
    ),
    licence="PhysioNet Credentialed Health Data License 1.5.0 (not redistributable)",
    url="https://physionet.org/content/mimiciii/1.4/",
)


def brief_hospital_course(text: str) -> str | None:
    """The 'Brief Hospital Course' section of a discharge summary, or None when there is none."""
    start = COURSE.search(text)
    if start is None:
        return None
    rest = text[start.end() :]
    end = NEXT_SECTION.search(rest)
    course = " ".join((rest[: end.start()] if end else rest).split())
    return course or None


def read_courses(noteevents: str | Path, hadm_ids: set[int] | None = None, chunksize: int = 50_000) -> dict[int, str]:
    """Brief hospital course per admission from the discharge summaries, streamed in chunks.

    Notes marked ISERROR are skipped; an admission's main report is preferred to its addenda."""
    path = Path(noteevents)
    if not path.is_file():
        raise DataError("NOTEEVENTS file not found", file=path)
    header = pd.read_csv(path, nrows=0).columns
    missing = [c for c in NOTE_COLUMNS if c not in header]
    if missing:
        raise DataError(f"missing column(s) {missing} of MIMIC-III NOTEEVENTS; the file has {list(header)}", file=path)
    courses: dict[int, tuple[int, str]] = {}  # hadm -> (priority, course); report 0 beats addendum 1
    reader = pd.read_csv(
        path, usecols=NOTE_COLUMNS, chunksize=chunksize, dtype={"TEXT": str, "CATEGORY": str, "DESCRIPTION": str}
    )
    for chunk in reader:
        chunk = chunk[chunk["CATEGORY"].str.strip().str.lower() == "discharge summary"]
        chunk = chunk[chunk["ISERROR"].isna() & chunk["HADM_ID"].notna()]
        for hadm, description, text in zip(chunk["HADM_ID"], chunk["DESCRIPTION"], chunk["TEXT"], strict=True):
            hadm = int(hadm)
            if hadm_ids is not None and hadm not in hadm_ids:
                continue
            course = brief_hospital_course(str(text))
            if course is None:
                continue
            priority = 0 if str(description).strip().lower() == "report" else 1
            if hadm not in courses or priority < courses[hadm][0]:
                courses[hadm] = (priority, course)
    return {hadm: course for hadm, (_, course) in courses.items()}


def _stays(root: Path, subject: str) -> list[dict[str, str]]:
    path = root / subject / "stays.csv"
    table = read_table(path)
    table.require(["HADM_ID", "ICUSTAY_ID", "INTIME"], what="the mimic3-benchmarks stays.csv layout")
    rows = [dict(row.values) for row in table]
    return sorted(rows, key=lambda r: r["INTIME"])


def _episodes(listfile: Path) -> Iterator[tuple[int, str, dict[str, str]]]:
    table = read_table(listfile)
    table.require(["stay", *PHENOTYPES], what="the mimic3-benchmarks phenotyping listfile")
    for row in table:
        yield row.number, str(row.values["stay"]).strip(), row.values


def load_mimic3_phenotyping(
    benchmark: str | Path,
    root: str | Path,
    noteevents: str | Path,
    *,
    split: str = "train",
    limit: int | None = None,
    require_note: bool = True,
    name: str = "mimic3-phenotyping",
) -> Cohort:
    """One record per ICU stay: 25 phenotype labels, the admission's brief hospital course and the
    stay's time series (read on demand)."""
    folder = Path(benchmark) / "phenotyping" / split
    listfile = folder / "listfile.csv"
    root = Path(root)
    stays: list[tuple[int, str, list[str], int]] = []  # row, stay file, labels, hadm
    no_stay = SkipReport(reason="no matching ICU stay in <root>/<subject>/stays.csv")
    for number, stay, values in _episodes(listfile):
        match = STAY.match(stay)
        if match is None:
            raise DataError(
                f"unexpected stay name {stay!r} (expected <subject>_episode<N>_timeseries.csv)",
                file=listfile,
                row=number,
                line=number + 1,
                column="stay",
            )
        labels = []
        for phenotype in PHENOTYPES:
            flag = str(values[phenotype]).strip()
            if flag not in {"0", "1"}:
                raise DataError(
                    f"expected 0 or 1, got {flag!r}", file=listfile, row=number, line=number + 1, column=phenotype
                )
            if flag == "1":
                labels.append(phenotype)
        subject, episode = match["subject"], int(match["episode"])
        subject_stays = _stays(root, subject)
        if episode > len(subject_stays):
            no_stay.add(number)
            continue
        stays.append((number, stay, labels, int(float(subject_stays[episode - 1]["HADM_ID"]))))
        if limit is not None and len(stays) >= limit:
            break
    courses = read_courses(noteevents, {hadm for *_, hadm in stays})
    no_note = SkipReport(reason="no brief hospital course in the admission's discharge summary")
    records = []
    for number, stay, labels, hadm in stays:
        course = courses.get(hadm)
        if course is None and require_note:
            no_note.add(number)
            continue
        episode_file = folder / stay
        if not episode_file.is_file():
            raise DataError("time-series file named by the listfile not found", file=episode_file)
        records.append(
            PatientRecord(
                id=stay.removesuffix("_timeseries.csv"),
                labels=labels,
                time_series_file=str(episode_file),
                notes=[Note(category="brief hospital course", text=course)] if course else [],
            )
        )
    if not records:
        raise DataError("no usable ICU stay (none with a time series and a brief hospital course)", file=listfile)
    return Cohort(
        name=name,
        title=f"MIMIC-III phenotyping ({split})",
        source=MIMIC_SOURCE,
        labels=list(PHENOTYPES),
        multilabel=True,
        text_style="clinical",
        records=records,
        skipped=[r for r in (no_stay, no_note) if r.count],
        description="One record per ICU stay: 25 CCS phenotypes, brief hospital course, 11 vital signs and labs.",
    )


class MimicSpec(BaseModel):
    """A YAML file that points clinreason at a user's MIMIC-III files (`kind: mimic3-phenotyping`).

    Relative paths are taken from the YAML file's folder. `split: test` reads the mimic3-benchmarks
    test stays, so a model trained on `train` is scored on the benchmark's own held-out stays.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["mimic3-phenotyping"]
    benchmark: Path = Field(description="mimic3-benchmarks output folder (holds phenotyping/{train,test}).")
    root: Path = Field(description="mimic3-benchmarks root folder (holds <subject>/stays.csv).")
    noteevents: Path = Field(description="NOTEEVENTS.csv or NOTEEVENTS.csv.gz of MIMIC-III v1.4.")
    split: Literal["train", "test"] = "train"
    limit: int | None = Field(default=None, ge=1, description="Only the first N stays of the listfile.")
    require_note: bool = True
    name: str | None = None


def is_mimic_spec(raw: object) -> bool:
    return isinstance(raw, dict) and raw.get("kind") == "mimic3-phenotyping"


def load_mimic_spec(path: str | Path, **overrides: object) -> Cohort:
    """Load the cohort a MIMIC YAML names; `overrides` (e.g. split='test') replace its fields."""
    path = Path(path)
    spec = load_yaml_model(path, MimicSpec, "MIMIC specification", overrides=overrides)
    located = {}
    for field in ("benchmark", "root", "noteevents"):
        value = getattr(spec, field)
        value = value if value.is_absolute() else (path.parent / value).resolve()
        if not value.exists():
            raise ConfigError(f"{path}: '{field}' points to {value}, which does not exist")
        located[field] = value
    return load_mimic3_phenotyping(
        located["benchmark"],
        located["root"],
        located["noteevents"],
        split=spec.split,
        limit=spec.limit,
        require_note=spec.require_note,
        name=spec.name or f"mimic3-phenotyping-{spec.split}",
    )
