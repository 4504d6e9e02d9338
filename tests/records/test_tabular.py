from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from clinreason.errors import ConfigError, DataError
from clinreason.records import load_cohort, load_tabular_cohort, record_to_text
from clinreason.records.spec import parse_spec

HEADER = "pid,age,sex,glucose,smoker,chest_pain,note,outcome"
ROWS = [
    "p1,54,F,180,yes,typical,Thirsty for weeks.,1",
    "p2,61,M,92,no,none,,0",
    "p3,47,F,NA,no,atypical,,0",
    "p4,70,M,65,1,none,Fell at home.,1",
]
SPEC = {
    "name": "clinic",
    "title": "My clinic",
    "source": {"name": "internal", "citation": "our own records", "licence": "internal use only"},
    "file": "clinic.csv",
    "id_column": "pid",
    "label": {"column": "outcome", "map": {"1": "diabetes", "0": "no diabetes"}},
    "age": {"column": "age"},
    "sex": {"column": "sex", "map": {"F": "female", "M": "male"}},
    "findings": [
        {"column": "glucose", "label": "fasting glucose", "unit": "mg/dL", "normal": [70, 99]},
        {"column": "smoker", "label": "current smoker", "type": "boolean"},
        {
            "column": "chest_pain",
            "label": "chest pain",
            "type": "categorical",
            "values": {"typical": "typical angina", "atypical": "atypical angina", "none": "none"},
        },
    ],
    "notes": ["note"],
}


def write(folder: Path, rows: list[str] | None = None, header: str = HEADER, spec: dict | None = None) -> Path:
    (folder / "clinic.csv").write_text("\n".join([header, *(ROWS if rows is None else rows)]) + "\n")
    spec_path = folder / "clinic.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC if spec is None else spec, sort_keys=False))
    return spec_path


def test_csv_with_spec_loads_values_labels_and_notes(tmp_path: Path) -> None:
    cohort = load_tabular_cohort(write(tmp_path))
    assert [r.id for r in cohort] == ["p1", "p2", "p3", "p4"]
    assert cohort.labels == ["diabetes", "no diabetes"]
    assert [r.label for r in cohort] == ["diabetes", "no diabetes", "no diabetes", "diabetes"]
    p1 = cohort.get("p1")
    assert (p1.age, p1.sex) == (54.0, "female")
    assert p1.findings["glucose"].value == 180.0
    assert p1.findings["glucose"].status == "high"
    assert p1.findings["smoker"].value is True
    assert p1.findings["chest_pain"].value == "typical angina"
    assert p1.notes[0].text == "Thirsty for weeks."
    assert cohort.get("p3").findings["glucose"].value is None
    assert cohort.get("p4").findings["smoker"].value is True
    assert cohort.get("p4").findings["glucose"].status == "low"
    assert record_to_text(cohort.get("p3")) == (
        "This patient is a 47-year-old female.\nFindings:\n- Fasting glucose: not recorded.\n"
        "- Current smoker: no.\n- Chest pain: atypical angina."
    )


def test_parquet_gives_the_same_cohort_as_csv(tmp_path: Path) -> None:
    spec_path = write(tmp_path)
    frame = pd.read_csv(tmp_path / "clinic.csv", dtype={"pid": str})
    frame.to_parquet(tmp_path / "clinic.parquet")
    from_csv = load_tabular_cohort(spec_path)
    from_parquet = load_tabular_cohort(spec_path, file=tmp_path / "clinic.parquet")
    assert [record_to_text(r) for r in from_parquet] == [record_to_text(r) for r in from_csv]
    assert [r.labels for r in from_parquet] == [r.labels for r in from_csv]


def test_load_cohort_accepts_a_spec_path(tmp_path: Path) -> None:
    assert len(load_cohort(str(write(tmp_path)))) == 4


def test_rows_without_label_are_skipped_and_counted(tmp_path: Path) -> None:
    rows = [*ROWS, "p5,50,F,100,no,none,,", "p6,50,F,100,no,none,,NA"]
    cohort = load_tabular_cohort(write(tmp_path, rows))
    assert len(cohort) == 4
    assert [(s.reason, s.count, s.rows) for s in cohort.skipped] == [("missing label", 2, [5, 6])]


def test_missing_label_can_be_an_error(tmp_path: Path) -> None:
    spec = {**SPEC, "label": {**SPEC["label"], "on_missing": "error"}}
    with pytest.raises(DataError, match=r"clinic\.csv, row 5 \(line 6\), column 'outcome': missing label"):
        load_tabular_cohort(write(tmp_path, [*ROWS, "p5,50,F,100,no,none,,"], spec=spec))


def _error(tmp_path: Path, **kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        load_tabular_cohort(write(tmp_path, **kwargs))  # type: ignore[arg-type]
    return str(info.value)


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    message = _error(tmp_path, header=HEADER.replace("glucose", "glu"))
    assert "clinic.csv" in message and "missing column(s) ['glucose']" in message


def test_non_numeric_value_names_file_row_line_and_column(tmp_path: Path) -> None:
    rows = [*ROWS[:2], "p3,47,F,high,no,atypical,,0"]
    message = _error(tmp_path, rows=rows)
    assert re.search(r"clinic\.csv, row 3 \(line 4\), column 'glucose': expected a number, got 'high'", message)


def test_unknown_label_names_the_value_and_allowed_codes(tmp_path: Path) -> None:
    message = _error(tmp_path, rows=[*ROWS, "p5,50,F,100,no,none,,2"])
    assert "row 5 (line 6), column 'outcome': unknown label '2'; expected one of ['0', '1']" in message


def test_empty_file(tmp_path: Path) -> None:
    spec_path = write(tmp_path)
    (tmp_path / "clinic.csv").write_text("")
    with pytest.raises(DataError, match=r"clinic\.csv: the file is empty"):
        load_tabular_cohort(spec_path)


def test_header_without_rows(tmp_path: Path) -> None:
    assert "the file has a header but no data rows" in _error(tmp_path, rows=[])


def test_duplicate_patient_id_names_both_rows(tmp_path: Path) -> None:
    message = _error(tmp_path, rows=[*ROWS, "p2,61,M,92,no,none,,0"])
    assert "row 5 (line 6), column 'pid': duplicate patient id 'p2' (first seen on row 2)" in message


def test_malformed_row_with_too_many_fields(tmp_path: Path) -> None:
    message = _error(tmp_path, rows=[*ROWS[:1], "p2,61,M,92,no,none,,0,extra"])
    assert "row 2 (line 3): malformed row: 9 fields where the header has 8" in message


def test_unknown_category(tmp_path: Path) -> None:
    message = _error(tmp_path, rows=["p1,54,F,180,yes,crushing,,1"])
    assert "column 'chest_pain': unknown category 'crushing'" in message


def test_bad_boolean(tmp_path: Path) -> None:
    assert "column 'smoker': expected yes/no" in _error(tmp_path, rows=["p1,54,F,180,sometimes,none,,1"])


def test_unknown_sex_code(tmp_path: Path) -> None:
    assert "column 'sex': unknown sex code 'X'" in _error(tmp_path, rows=["p1,54,X,180,yes,none,,1"])


def test_blank_lines_are_ignored(tmp_path: Path) -> None:
    cohort = load_tabular_cohort(write(tmp_path, rows=[ROWS[0], "", ROWS[1]]))
    assert [r.id for r in cohort] == ["p1", "p2"]


def test_per_column_missing_codes(tmp_path: Path) -> None:
    spec = {**SPEC, "findings": [{**SPEC["findings"][0], "missing_values": [0]}]}
    cohort = load_tabular_cohort(write(tmp_path, rows=["p1,54,F,0,yes,none,,1"], spec=spec))
    assert cohort.get("p1").findings["glucose"].value is None


def test_rows_are_numbered_when_there_is_no_id_column(tmp_path: Path) -> None:
    spec = {k: v for k, v in SPEC.items() if k != "id_column"}
    assert [r.id for r in load_tabular_cohort(write(tmp_path, spec=spec))] == [
        "row-1",
        "row-2",
        "row-3",
        "row-4",
    ]


def test_multilabel_columns(tmp_path: Path) -> None:
    (tmp_path / "ml.csv").write_text("id,chf,copd\na,1,0\nb,1,1\nc,0,0\n")
    spec = {
        "name": "ml",
        "source": SPEC["source"],
        "file": "ml.csv",
        "id_column": "id",
        "label": {"columns": ["chf", "copd"], "map": {"chf": "heart failure"}},
    }
    (tmp_path / "ml.yaml").write_text(yaml.safe_dump(spec))
    cohort = load_tabular_cohort(tmp_path / "ml.yaml")
    assert cohort.multilabel and cohort.labels == ["heart failure", "copd"]
    assert [r.labels for r in cohort] == [["heart failure"], ["heart failure", "copd"], []]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"label": {"map": {"1": "a"}}}, "label: Value error, label needs exactly one of"),
        ({"findings": [{"column": "glucose", "normal": [100, 50]}]}, "findings.0"),
        (
            {"findings": [{"column": "smoker", "type": "boolean", "normal": [0, 1]}]},
            "only applies to numeric",
        ),
        ({"colour": "blue"}, "colour: Extra inputs are not permitted"),
        ({"findings": [{"column": "a"}, {"column": "a"}]}, "finding names must be unique"),
        ({"findings": [{"column": "glucose", "valid": [300, 5]}]}, "minimum above its maximum"),
        ({"findings": [{"column": "smoker", "type": "boolean", "valid": [0, 1]}]}, "valid range only applies"),
        (
            {"findings": [{"column": "smoker", "type": "boolean", "terms": {"smoker": [1, 1]}}]},
            "grading terms only apply to numeric findings",
        ),
        ({"findings": [{"column": "glucose", "terms": {"diabetic": [200, 126]}}]}, "findings.0"),
    ],
)
def test_invalid_spec_names_the_field(tmp_path: Path, change: dict, message: str) -> None:
    spec_path = write(tmp_path, spec={**SPEC, **change})
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_tabular_cohort(spec_path)


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ("p5,-4,F,100,no,none,,0", "age", "implausible age -4 years: outside its valid range [0, 120]"),
        (
            "p5,54,F,1e12,no,none,,0",
            "glucose",
            "implausible fasting glucose 1e+12 mg/dL: outside its valid range [5, 2500]",
        ),
        ("p5,54,F,\u0661\u0668\u0660,no,none,,0", "glucose", "expected a number written with the digits 0-9"),
        ("p5,54,F,1_000,no,none,,0", "glucose", "expected a number, got '1_000'"),
    ],
)
def test_implausible_values_name_the_cell(tmp_path: Path, row: str, column: str, message: str) -> None:
    text = _error(tmp_path, rows=[*ROWS, row.encode().decode("unicode_escape")])
    assert f"row 5 (line 6), column '{column}': {message}" in text


def test_implausible_rows_can_be_skipped_and_counted(tmp_path: Path) -> None:
    spec = {**SPEC, "on_invalid": "skip"}
    cohort = load_tabular_cohort(
        write(tmp_path, rows=[*ROWS, "p5,-4,F,100,no,none,,0", "p6,54,F,99999,no,none,,1"], spec=spec)
    )
    assert [r.id for r in cohort] == ["p1", "p2", "p3", "p4"]
    assert [(s.reason, s.count, s.rows) for s in cohort.skipped] == [("implausible value", 2, [5, 6])]


def test_a_specs_valid_range_replaces_the_default_and_null_turns_it_off(tmp_path: Path) -> None:
    findings = [{**SPEC["findings"][0], "valid": [50, 150]}, *SPEC["findings"][1:]]  # type: ignore[index]
    message = _error(tmp_path, spec={**SPEC, "findings": findings})  # p1 has 180 mg/dL
    assert (
        "row 1 (line 2), column 'glucose': implausible fasting glucose 180 mg/dL: outside its valid range [50, 150]"
        in message
    )
    off = [{**SPEC["findings"][0], "valid": [None, None]}, *SPEC["findings"][1:]]  # type: ignore[index]
    spec = {**SPEC, "findings": off, "age": {"column": "age", "valid": None}}
    cohort = load_tabular_cohort(write(tmp_path, rows=[*ROWS, "p5,-4,F,99999,no,none,,0"], spec=spec))
    assert cohort.records[-1].age == -4 and cohort.records[-1].findings["glucose"].value == 99999
    assert "limits" not in cohort.metadata and "age_limits" not in cohort.metadata


@pytest.mark.parametrize(
    ("key", "label", "unit", "expected"),
    [
        ("resting_bp", "resting systolic blood pressure", "mm Hg", (30, 300)),
        ("bp", "diastolic blood pressure", "mm Hg", (5, 200)),
        ("max_heart_rate", "maximum heart rate during the exercise test", "beats/min", (10, 350)),
        ("bmi", "body mass index", "kg/m²", (5, 200)),
        ("mmse", "Mini-Mental State Examination score", "of 30", (0, 30)),
        ("glucose", "glucose", "mmol/L", (0.3, 140)),
        ("glucose", "glucose", "g/L", None),  # an unknown unit gets no default
        ("ph", "arterial pH", None, (6.3, 8.0)),
        ("phosphate", "phosphate", None, None),  # 'ph' only as a word
        ("nwbv", "normalised whole-brain volume", None, None),
    ],
)
def test_default_limits_match_name_and_unit(key: str, label: str, unit: str | None, expected: tuple | None) -> None:
    from clinreason.records.plausibility import default_limits

    limits = default_limits(key, label, [], unit)
    assert (None if limits is None else (limits.low, limits.high)) == expected


def test_spec_keys_written_as_yaml_numbers_and_booleans_are_codes() -> None:
    spec = parse_spec({**SPEC, "label": {"column": "outcome", "map": {1: "yes", 0: "no"}}})
    assert spec.label.map == {"1": "yes", "0": "no"}


def test_missing_data_file_is_reported(tmp_path: Path) -> None:
    spec_path = write(tmp_path)
    (tmp_path / "clinic.csv").unlink()
    with pytest.raises(DataError, match=r"clinic\.csv: file not found"):
        load_tabular_cohort(spec_path)
