"""The MIMIC-IV loader on fixture files in the real MIMIC-IV 2.x / MIMIC-IV-Note layout, written here."""

from __future__ import annotations

import stat
from pathlib import Path

import pandas as pd
import pytest
import yaml

from clinreason.errors import ConfigError, DataError
from clinreason.records import load_cohort
from clinreason.records.mimic4 import icd_phenotypes, load_mimic4_phenotyping
from clinreason.records.timeseries import read_episode

IN = pd.Timestamp("2150-01-01 08:00:00")


def _at(hours: float) -> str:
    return str(IN + pd.Timedelta(hours=hours))


def _write(path: Path, rows: list[dict[str, object]], columns: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False, compression="gzip")


def _mimic(tmp_path: Path) -> tuple[Path, Path]:
    root, notes = tmp_path / "mimiciv" / "2.2", tmp_path / "mimic-iv-note" / "2.2"
    stay_columns = ["subject_id", "hadm_id", "stay_id", "first_careunit", "last_careunit", "intime", "outtime", "los"]
    stays = [
        (1, 201, 30001, 0),  # ICD-9 codes, a note, most variables
        (2, 202, 30002, 0),  # ICD-10 codes, no note, SpO2 only
        (3, 203, 30003, 0),  # two ICU stays in one admission: left out
        (3, 203, 30004, 30),
        (4, 204, 30005, 0),  # 16 years old: left out
    ]
    _write(
        root / "icu" / "icustays.csv.gz",
        [
            dict(zip(stay_columns, [s, h, i, "MICU", "MICU", _at(start), _at(start + 48), 2.0], strict=True))
            for s, h, i, start in stays
        ],
        stay_columns,
    )
    _write(
        root / "hosp" / "patients.csv.gz",
        [
            {"subject_id": s, "gender": "F", "anchor_age": 16 if s == 4 else 60, "anchor_year": 2150}
            for s in (1, 2, 3, 4)
        ],
        ["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"],
    )
    chart_columns = [
        "subject_id", "hadm_id", "stay_id", "caregiver_id", "charttime", "storetime", "itemid", "value", "valuenum",
        "valueuom", "warning",
    ]  # fmt: skip
    chart = [
        (1, 201, 30001, 1.0, 220045, 90.0),  # heart rate
        (1, 201, 30001, 2.0, 223761, 100.4),  # temperature in °F -> 38.0 °C
        (1, 201, 30001, 2.5, 223835, 50.0),  # FiO2 50% -> 0.5
        (1, 201, 30001, 3.0, 220179, 135.0),  # non-invasive systolic
        (1, 201, 30001, 60.0, 220045, 140.0),  # after outtime: not this stay's
        (1, 201, 30001, 4.0, 999999, 1.0),  # an item clinreason does not use
        (2, 202, 30002, 1.0, 220277, 93.0),  # SpO2
        (2, 202, 30002, 2.0, 220045, None),  # no numeric value
    ]
    _write(
        root / "icu" / "chartevents.csv.gz",
        [
            dict(zip(chart_columns, [s, h, i, 7, _at(t), _at(t), item, str(v), v, "", 0], strict=True))
            for s, h, i, t, item, v in chart
        ],
        chart_columns,
    )
    lab_columns = [
        "labevent_id", "subject_id", "hadm_id", "specimen_id", "itemid", "order_provider_id", "charttime", "storetime",
        "value", "valuenum", "valueuom", "ref_range_lower", "ref_range_upper", "flag", "priority", "comments",
    ]  # fmt: skip
    labs = [(1, 201, 3.0, 50931, 150.0), (1, 201, 5.0, 50820, 7.31), (1, None, 5.0, 50931, 99.0)]  # an outpatient lab
    _write(
        root / "hosp" / "labevents.csv.gz",
        [
            dict(
                zip(lab_columns, [n, s, h, n, item, "", _at(t), _at(t), str(v), v, "", "", "", "", "", ""], strict=True)
            )
            for n, (s, h, t, item, v) in enumerate(labs, start=1)
        ],
        lab_columns,
    )
    _write(
        root / "hosp" / "diagnoses_icd.csv.gz",
        [
            {"subject_id": 1, "hadm_id": 201, "seq_num": 1, "icd_code": "0389", "icd_version": 9},
            {"subject_id": 1, "hadm_id": 201, "seq_num": 2, "icd_code": "4019", "icd_version": 9},
            {"subject_id": 1, "hadm_id": 201, "seq_num": 3, "icd_code": "V1582", "icd_version": 9},  # no phenotype
            {"subject_id": 2, "hadm_id": 202, "seq_num": 1, "icd_code": "R6521", "icd_version": 10},
            {"subject_id": 2, "hadm_id": 202, "seq_num": 2, "icd_code": "I10", "icd_version": 10},
        ],
        ["subject_id", "hadm_id", "seq_num", "icd_code", "icd_version"],
    )
    course = "Admitted with urosepsis, treated with antibiotics."
    text = f"Name: ___\nBrief Hospital Course:\n{course}\nMedications on Admission:\nnone\n"
    _write(
        notes / "note" / "discharge.csv.gz",
        [{"note_id": "1-DS-1", "subject_id": 1, "hadm_id": 201, "note_type": "DS", "note_seq": 1, "text": text}],
        ["note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text"],
    )
    return root, notes


def test_icd9_and_icd10_codes_map_to_the_benchmark_phenotypes() -> None:
    assert icd_phenotypes("038.9", 9) == {"Septicemia (except in labor)"}
    assert icd_phenotypes("I10", 10) == {"Essential hypertension"}  # 2 of the GEM's 3 alternatives
    assert icd_phenotypes("R6521", 10) == {"Septicemia (except in labor)", "Shock"}  # a combination code
    assert icd_phenotypes("Z0000", 10) == set()
    with pytest.raises(DataError, match="neither 9 nor 10"):
        icd_phenotypes("A419", 11)


def test_stays_series_labels_and_notes(tmp_path: Path) -> None:
    root, notes = _mimic(tmp_path)
    episodes = tmp_path / "episodes"
    cohort = load_mimic4_phenotyping(root, note_root=notes, episodes=episodes, require_note=False, chunksize=2)
    assert [r.id for r in cohort.records] == ["30001", "30002"]
    first, second = cohort.records
    assert first.labels == ["Essential hypertension", "Septicemia (except in labor)"]
    assert second.labels == ["Essential hypertension", "Septicemia (except in labor)", "Shock"]
    assert first.notes[0].text == "Admitted with urosepsis, treated with antibiotics."
    assert second.notes == []  # a stay without a note is kept when notes are not required
    points = {(p.variable, round(p.time, 2)): p.value for p in read_episode(first.time_series_file)}  # type: ignore[arg-type]
    assert points == {
        ("heart_rate", 1.0): 90.0,
        ("temperature", 2.0): pytest.approx(38.0),
        ("fio2", 2.5): 0.5,
        ("systolic_bp", 3.0): 135.0,
        ("glucose", 3.0): 150.0,  # from labevents, by admission and time
        ("ph", 5.0): 7.31,
    }
    assert [p.variable for p in read_episode(second.time_series_file)] == ["spo2"]  # the others are missing  # type: ignore[arg-type]
    reasons = {s.reason: s.count for s in cohort.skipped}
    assert reasons["admission with more than one ICU stay (left out, as in mimic3-benchmarks)"] == 2
    assert reasons["patient younger than 18 (anchor_age)"] == 1
    assert stat.S_IMODE(episodes.stat().st_mode) == 0o700
    assert stat.S_IMODE(Path(first.time_series_file).stat().st_mode) == 0o600  # type: ignore[arg-type]

    # a second load reuses the finished extraction; notes required: the stay without one is counted
    before = Path(first.time_series_file).stat().st_mtime_ns  # type: ignore[arg-type]
    again = load_mimic4_phenotyping(root, note_root=notes, episodes=episodes, chunksize=2)
    assert [r.id for r in again.records] == ["30001"]
    assert Path(first.time_series_file).stat().st_mtime_ns == before  # type: ignore[arg-type]
    assert any(s.reason.startswith("no brief hospital course") and s.count == 1 for s in again.skipped)


def test_a_yaml_file_selects_mimic4_and_errors_name_the_file(tmp_path: Path) -> None:
    root, notes = _mimic(tmp_path)
    spec = tmp_path / "mimic4.yaml"
    spec.write_text(
        yaml.safe_dump(
            {"kind": "mimic4-phenotyping", "root": "mimiciv/2.2", "note_root": "mimic-iv-note/2.2", "episodes": "ep"}
        )
    )
    cohort = load_cohort(str(spec))
    assert cohort.name == "mimic4-phenotyping" and cohort.multilabel and len(cohort.labels) == 25
    assert (tmp_path / "ep" / "30001_timeseries.csv").is_file()
    with pytest.raises(ConfigError, match="require_note needs MIMIC-IV-Note"):
        load_mimic4_phenotyping(root)
    (root / "hosp" / "diagnoses_icd.csv.gz").unlink()
    with pytest.raises(DataError, match="diagnoses_icd not found"):
        load_mimic4_phenotyping(root, require_note=False, episodes=tmp_path / "ep2")
