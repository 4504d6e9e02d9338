"""Cohorts from an OMOP CDM database (`kind: omop`): DuckDB files, PostgreSQL or any SQLAlchemy URL.

One query, run in the database, gives one row per person: age at the index date, sex, the label (the
first class whose condition concept set, descendants included through `concept_ancestor`, occurs at
or before the index date) and each finding (the latest `measurement` / `observation` value in its
window, or whether a condition, drug or procedure is recorded in it). Rows are streamed from the
cursor into the same row-to-record code a CSV goes through (`cohort_from_table`), so plausibility
limits, error messages and text rendering are those of every other cohort. Persons left out are
counted with their reason.

Example (docs/datasets.md has every field)::

    kind: omop
    name: gi-bleed
    source: {name: my warehouse, citation: "...", licence: internal use only}
    connection:
      url: postgresql://${OMOP_USER}:${OMOP_PASSWORD}@db.example.org/cdm   # or file: cdm.duckdb
      schema: cdm
    index: {kind: observation_end}
    label:
      classes: [{name: gastrointestinal bleeding, concepts: [192671]}]
      otherwise: no gastrointestinal bleeding
    findings:
      - {name: hemoglobin, table: measurement, concepts: [3000963], window_days: 365}
      - {name: celecoxib, label: celecoxib use, table: drug, concepts: [1118084], type: boolean}
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from clinreason.errors import ConfigError, DataError
from clinreason.records.query_spec import AGE, ID, LABEL, SEX, LabelClass, QuerySpec, column_spec, query_cohort
from clinreason.records.schema import Cohort, SkipReport
from clinreason.records.spec import CohortSpec, FindingSpec
from clinreason.records.table import Row
from clinreason.yaml_models import load_yaml_model, repeated, validate_model

__all__ = ["OmopSpec", "is_omop_spec", "load_omop", "load_omop_spec", "parse_omop_spec"]

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
FETCH_ROWS = 10_000

# OMOP table -> (concept id column, date column, id column for a stable order).
_EVENTS: dict[str, tuple[str, str, str]] = {
    "condition": ("condition_concept_id", "condition_start_date", "condition_occurrence_id"),
    "drug": ("drug_concept_id", "drug_exposure_start_date", "drug_exposure_id"),
    "procedure": ("procedure_concept_id", "procedure_date", "procedure_occurrence_id"),
    "measurement": ("measurement_concept_id", "measurement_date", "measurement_id"),
    "observation": ("observation_concept_id", "observation_date", "observation_id"),
}
_TABLES = {
    "condition": "condition_occurrence",
    "drug": "drug_exposure",
    "procedure": "procedure_occurrence",
    "measurement": "measurement",
    "observation": "observation",
}
GENDER_CONCEPTS = {8507: "male", 8532: "female"}


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OmopConnection(_Spec):
    """Where the CDM is: exactly one of a DuckDB `file`, a DuckDB file inside an installed `package`, or
    a SQLAlchemy `url` (`${VAR}` is replaced by the environment variable VAR, so credentials stay out of
    the YAML; messages show the URL with its password hidden and the variables' values as ***)."""

    file: Path | None = Field(default=None, description="A DuckDB file, relative to the YAML file; opened read-only.")
    package: str | None = Field(default=None, description="With `file`: the file is inside this installed package.")
    url: str | None = Field(default=None, description="A SQLAlchemy URL, e.g. postgresql://${USER}:${PW}@host/db.")
    cdm_schema: str = Field(default="main", alias="schema", description="The schema holding the CDM tables.")
    vocabulary_schema: str | None = Field(default=None, description="Where `concept_ancestor` is; default: `schema`.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _one_source(self) -> OmopConnection:
        if (self.file is None) == (self.url is None):
            raise ValueError("connection needs exactly one of 'file' (a DuckDB file) or 'url' (a SQLAlchemy URL)")
        if self.package is not None and self.file is None:
            raise ValueError("connection: 'package' names where 'file' is; set 'file' too")
        for name in (self.cdm_schema, self.vocabulary_schema):
            if name is not None and not _IDENTIFIER.match(name):
                raise ValueError(f"connection: schema {name!r} is not a plain SQL identifier")
        return self


class ConceptSet(_Spec):
    concepts: list[int] = Field(min_length=1, description="OMOP concept ids.")
    descendants: bool = Field(default=True, description="Include every descendant through concept_ancestor.")


class ConditionClass(ConceptSet, LabelClass):
    within_days: int | None = Field(
        default=None, ge=0, description="Only conditions this many days before the index date count; default: any."
    )


class OmopLabel(_Spec):
    classes: list[ConditionClass] = Field(
        min_length=1, description="In priority order: a person is given the first class whose conditions occur."
    )
    otherwise: str | None = Field(
        default=None, description="The label of a person in no class (e.g. 'no GI bleeding'); null: leave them out."
    )

    @model_validator(mode="after")
    def _unique(self) -> OmopLabel:
        names = [c.name for c in self.classes] + ([self.otherwise] if self.otherwise else [])
        if len(set(names)) != len(names):
            raise ValueError(f"label names must be unique: {names}")
        return self


class OmopIndex(_Spec):
    kind: Literal["observation_end", "date"] = Field(
        default="observation_end",
        description="The index date: the end of the person's last observation period, or one fixed `date`.",
    )
    date: dt.date | None = None
    require_observation: bool = Field(
        default=True, description="With a fixed date: leave out (and count) persons not observed on it."
    )

    @model_validator(mode="after")
    def _date(self) -> OmopIndex:
        if (self.kind == "date") != (self.date is not None):
            raise ValueError("index: set 'date' exactly when kind is 'date'")
        return self


class OmopFinding(ConceptSet):
    name: str
    label: str | None = Field(default=None, description="Plain-language name; defaults to the name.")
    table: Literal["measurement", "observation", "condition", "drug", "procedure"]
    type: Literal["numeric", "categorical", "boolean"] = Field(
        default="numeric",
        description="numeric: the latest value_as_number; categorical: the latest value_as_concept_id's name; "
        "boolean: whether any record is in the window (absent means no).",
    )
    window_days: int | None = Field(default=None, ge=0, description="Days before the index date; default: any.")
    unit: str | None = Field(default=None, description="Shown unit; default: the chosen unit concept's code.")
    unit_concepts: list[int] | None = Field(
        default=None, description="Values in these unit concepts are read; default: the most frequent one."
    )
    normal: tuple[float | None, float | None] | None = Field(
        default=None, description="[low, high]; default: the most frequent range_low / range_high of its rows."
    )
    valid: tuple[float | None, float | None] | None = None
    decimals: int | None = Field(default=None, ge=0)
    group: str | None = None
    aliases: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fits_table(self) -> OmopFinding:
        if self.type != "boolean" and self.table not in {"measurement", "observation"}:
            raise ValueError(f"finding '{self.name}': a {self.table} finding is boolean (was it recorded?)")
        return self


class OmopSpec(QuerySpec):
    """A cohort over an OMOP CDM; age is in years at the index date (from year of birth)."""

    kind: Literal["omop"]
    connection: OmopConnection
    index: OmopIndex = Field(default_factory=OmopIndex)
    label: OmopLabel
    sex: dict[int, str] = Field(
        default_factory=lambda: dict(GENDER_CONCEPTS), description="gender_concept_id -> word; others: unknown."
    )
    findings: list[OmopFinding] = Field(default_factory=list)

    @field_validator("findings")
    @classmethod
    def _unique_names(cls, findings: list[OmopFinding]) -> list[OmopFinding]:
        if twice := repeated(f.name for f in findings):
            raise ValueError(f"finding names must be unique; repeated: {twice}")
        return findings


def is_omop_spec(raw: object) -> bool:
    return isinstance(raw, dict) and raw.get("kind") == "omop"


def parse_omop_spec(raw: object, origin: str = "<omop spec>", base: Path | None = None) -> OmopSpec:
    spec = validate_model(raw, OmopSpec, "OMOP cohort specification", origin)
    return _resolve_file(spec, base)


def load_omop_spec(path: str | Path) -> Cohort:
    """Read a `kind: omop` YAML and load its cohort; a relative `file` is relative to the YAML."""
    path = Path(path)
    spec = load_yaml_model(path, OmopSpec, "OMOP cohort specification")
    return load_omop(_resolve_file(spec, path.parent))


def _resolve_file(spec: OmopSpec, base: Path | None) -> OmopSpec:
    connection = spec.connection
    if connection.file is None or connection.file.is_absolute():
        return spec
    if connection.package is not None:
        try:
            root = Path(str(resources.files(connection.package)))
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"cohort '{spec.name}' reads its database from the package {connection.package}: "
                f"pip install {connection.package}"
            ) from exc
        resolved = root / connection.file
    elif base is not None:
        resolved = (base / connection.file).resolve()
    else:
        return spec
    return spec.model_copy(update={"connection": connection.model_copy(update={"file": resolved})})


# ---------------------------------------------------------------------------------------------------
# The database


def _expand(url: str) -> tuple[str, list[str]]:
    """The URL with each `${VAR}` replaced, and the values put in (to keep them out of messages)."""
    secrets: list[str] = []

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"the OMOP connection URL uses ${{{name}}}, but the environment variable {name} is unset")
        secrets.append(os.environ[name])
        return os.environ[name]

    return _ENV.sub(value, url), secrets


def _shown(url: str) -> str:
    """The URL as messages show it: `${VAR}` placeholders as written, a literal password hidden."""
    try:
        from sqlalchemy.engine import make_url

        return str(make_url(url).render_as_string(hide_password=True))
    except Exception:  # not parseable as a URL: show only its scheme
        return url.split("://", 1)[0] + "://..."


class _Database:
    """One read-only connection; `rows` streams a query's result in chunks."""

    def __init__(self, connection: OmopConnection) -> None:
        self.shown = str(connection.file) if connection.file is not None else _shown(str(connection.url))
        self._secrets: list[str] = []
        self._duckdb: Any = None
        self._engine: Any = None
        if connection.file is not None:
            self._open_duckdb(connection.file)
        else:
            url, self._secrets = _expand(str(connection.url))
            if url.startswith("duckdb:///"):
                self._open_duckdb(Path(url.removeprefix("duckdb:///")))
            else:
                self._open_sqlalchemy(url)

    def _open_duckdb(self, path: Path) -> None:
        import duckdb

        if not path.is_file():
            raise DataError("OMOP database file not found", file=path)
        try:
            self._duckdb = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as exc:
            raise DataError(f"cannot open as a DuckDB database: {exc}", file=path) from exc

    def _open_sqlalchemy(self, url: str) -> None:
        import sqlalchemy

        try:
            self._engine = sqlalchemy.create_engine(url)
            with self._engine.connect():
                pass
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"the database driver for {self.shown} is not installed ({exc}); e.g. for PostgreSQL: "
                "pip install 'psycopg[binary]'"
            ) from None
        except Exception as exc:  # driver errors differ by database; all mean "cannot connect"
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"cannot connect to the OMOP database {self.shown}: {self.redact(first)}") from None

    def redact(self, message: str) -> str:
        """A driver message without the values the URL's `${VAR}`s expanded to."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if len(secret) >= 3:
                message = message.replace(secret, "***")
        return message

    def close(self) -> None:
        if self._duckdb is not None:
            self._duckdb.close()
        if self._engine is not None:
            self._engine.dispose()

    def rows(self, sql: str) -> Iterator[Sequence[Any]]:
        try:
            if self._duckdb is not None:
                cursor = self._duckdb.execute(sql)
                while chunk := cursor.fetchmany(FETCH_ROWS):
                    yield from chunk
                return
            import sqlalchemy

            with self._engine.connect() as connection:
                result = connection.execution_options(stream_results=True, yield_per=FETCH_ROWS).execute(
                    sqlalchemy.text(sql)
                )
                yield from result
        except DataError:
            raise
        except Exception as exc:  # a missing table or column, a permission error, ...
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"query failed: {self.redact(first)}", file=self.shown) from None


@contextmanager
def _connect(connection: OmopConnection) -> Iterator[_Database]:
    database = _Database(connection)
    try:
        yield database
    finally:
        database.close()


# ---------------------------------------------------------------------------------------------------
# The queries


def _ids(values: Sequence[int]) -> str:
    return ", ".join(str(int(v)) for v in values)


def _in_set(column: str, concept_set: ConceptSet, vocabulary: str) -> str:
    direct = f"{column} IN ({_ids(concept_set.concepts)})"
    if not concept_set.descendants:
        return direct
    return (
        f"({direct} OR {column} IN (SELECT descendant_concept_id FROM {vocabulary}.concept_ancestor "
        f"WHERE ancestor_concept_id IN ({_ids(concept_set.concepts)})))"
    )


def _window(column: str, days: int | None) -> str:
    condition = f"{column} <= idx.index_date"
    if days is not None:
        condition += f" AND {column} >= idx.index_date - INTERVAL '{int(days)} days'"
    return condition


def _index_cte(spec: OmopSpec, schema: str) -> str:
    periods = (
        f"SELECT person_id, MIN(observation_period_start_date) AS start_date, "
        f"MAX(observation_period_end_date) AS end_date FROM {schema}.observation_period GROUP BY person_id"
    )
    if spec.index.kind == "observation_end":
        index_date, observed = "op.end_date", "op.person_id IS NOT NULL"
    else:
        assert spec.index.date is not None
        literal = f"DATE '{spec.index.date.isoformat()}'"
        index_date = literal
        observed = (
            f"EXISTS (SELECT 1 FROM {schema}.observation_period o WHERE o.person_id = p.person_id "
            f"AND o.observation_period_start_date <= {literal} AND o.observation_period_end_date >= {literal})"
            if spec.index.require_observation
            else "TRUE"
        )
    return (
        f"idx AS (SELECT p.person_id, p.year_of_birth, p.gender_concept_id, {index_date} AS index_date, "
        f"CASE WHEN {observed} THEN 1 ELSE 0 END AS observed "
        f"FROM {schema}.person p LEFT JOIN ({periods}) op ON op.person_id = p.person_id)"
    )


def _presence_cte(alias: str, table: str, concept_set: ConceptSet, days: int | None, s: str, v: str) -> str:
    concept, when, _ = _EVENTS[table]
    return (
        f"{alias} AS (SELECT DISTINCT e.person_id FROM {s}.{_TABLES[table]} e JOIN idx ON idx.person_id = e.person_id "
        f"WHERE {_in_set('e.' + concept, concept_set, v)} AND {_window('e.' + when, days)})"
    )


def _latest_cte(alias: str, finding: OmopFinding, units: list[int] | None, s: str, v: str) -> str:
    concept, when, order = _EVENTS[finding.table]
    if finding.type == "numeric":
        value = "CAST(e.value_as_number AS DOUBLE PRECISION)"
        present = "e.value_as_number IS NOT NULL"
    else:  # the latest coded value; its name is looked up after ranking, so an unnamed code stays the latest
        value = "e.value_as_concept_id"
        present = "e.value_as_concept_id IS NOT NULL AND e.value_as_concept_id <> 0"
    # a NULL unit is read as unit concept 0 ("no matching concept"), as `_resolve_numeric` counts it
    unit = f" AND COALESCE(e.unit_concept_id, 0) IN ({_ids(units)})" if units else ""
    ranked = (
        f"SELECT e.person_id, {value} AS value, ROW_NUMBER() OVER "
        f"(PARTITION BY e.person_id ORDER BY e.{when} DESC, e.{order} DESC) AS rn "
        f"FROM {s}.{_TABLES[finding.table]} e JOIN idx ON idx.person_id = e.person_id "
        f"WHERE {_in_set('e.' + concept, finding, v)} AND {present}{unit} "
        f"AND {_window('e.' + when, finding.window_days)}"
    )
    if finding.type == "numeric":
        return f"{alias} AS (SELECT person_id, value FROM ({ranked}) ranked WHERE rn = 1)"
    return (
        f"{alias} AS (SELECT ranked.person_id, vc.concept_name AS value FROM ({ranked}) ranked "
        f"LEFT JOIN {v}.concept vc ON vc.concept_id = ranked.value WHERE ranked.rn = 1)"
    )


class _Resolved(BaseModel):
    """What the database says about a numeric finding: the unit concepts read, its unit and normal range."""

    units: list[int] | None = None
    unit: str | None = None
    normal: tuple[float | None, float | None] | None = None
    other_units: int = 0


def _resolve_numeric(db: _Database, spec: OmopSpec, finding: OmopFinding) -> _Resolved:
    s = spec.connection.cdm_schema
    v = spec.connection.vocabulary_schema or s
    concept, _, _ = _EVENTS[finding.table]
    ranges = "e.range_low, e.range_high" if finding.table == "measurement" else "NULL, NULL"
    sql = (
        f"SELECT e.unit_concept_id, {ranges}, COUNT(*) FROM {s}.{_TABLES[finding.table]} e "
        f"WHERE {_in_set('e.' + concept, finding, v)} AND e.value_as_number IS NOT NULL GROUP BY 1, 2, 3"
    )
    by_unit: Counter[int] = Counter()
    by_range: dict[int, Counter[tuple[float | None, float | None]]] = {}
    for unit_id, low, high, count in db.rows(sql):
        unit_key = int(unit_id or 0)
        by_unit[unit_key] += int(count)
        by_range.setdefault(unit_key, Counter())[(_float(low), _float(high))] += int(count)
    if not by_unit:
        log.warning("finding '%s': no %s rows with a value for its concepts", finding.name, finding.table)
        return _Resolved(units=finding.unit_concepts, unit=finding.unit, normal=finding.normal)
    units = finding.unit_concepts or [by_unit.most_common(1)[0][0]]
    other = sum(n for u, n in by_unit.items() if u not in units)
    unit = finding.unit
    if unit is None and units[0] != 0:
        codes = list(db.rows(f"SELECT concept_code FROM {v}.concept WHERE concept_id = {int(units[0])}"))
        unit = str(codes[0][0]) if codes else None
    normal = finding.normal
    if normal is None:
        ranges_seen = Counter[tuple[float | None, float | None]]()
        for u in units:
            ranges_seen.update(by_range.get(u, Counter()))
        known = [(r, n) for r, n in ranges_seen.most_common() if r != (None, None)]
        if known:
            normal = known[0][0]
    return _Resolved(units=units, unit=unit, normal=normal, other_units=other)


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def cohort_query(spec: OmopSpec, units: dict[str, list[int] | None]) -> str:
    """The one query that gives a row per person (exposed for `describe` and for users to read)."""
    s = spec.connection.cdm_schema
    v = spec.connection.vocabulary_schema or s
    ctes = [_index_cte(spec, s)]
    for k, label_class in enumerate(spec.label.classes):
        ctes.append(_presence_cte(f"l{k}", "condition", label_class, label_class.within_days, s, v))
    for k, finding in enumerate(spec.findings):
        if finding.type == "boolean":
            ctes.append(_presence_cte(f"f{k}", finding.table, finding, finding.window_days, s, v))
        else:
            ctes.append(_latest_cte(f"f{k}", finding, units.get(finding.name), s, v))
    label = " ".join(f"WHEN l{k}.person_id IS NOT NULL THEN {k}" for k in range(len(spec.label.classes)))
    columns = [
        "idx.person_id",
        "idx.observed",
        "CAST(EXTRACT(YEAR FROM idx.index_date) AS INTEGER) - idx.year_of_birth AS age",
        "idx.gender_concept_id",
        f"CASE {label} ELSE -1 END AS label",
    ]
    joins = [f"LEFT JOIN l{k} ON l{k}.person_id = idx.person_id" for k in range(len(spec.label.classes))]
    for k, finding in enumerate(spec.findings):
        if finding.type == "boolean":
            columns.append(f"CASE WHEN f{k}.person_id IS NULL THEN 0 ELSE 1 END AS f{k}")
        else:
            columns.append(f"f{k}.value AS f{k}")
        joins.append(f"LEFT JOIN f{k} ON f{k}.person_id = idx.person_id")
    return f"WITH {', '.join(ctes)} SELECT {', '.join(columns)} FROM idx {' '.join(joins)} ORDER BY idx.person_id"


class _PersonRows:
    """The query's rows as table rows, counting the persons left out before any record is built."""

    def __init__(self, db: _Database, spec: OmopSpec, sql: str, source: str) -> None:
        self.db, self.spec, self.sql, self.source = db, spec, sql, source
        self.unobserved = SkipReport(
            reason="no observation period" if spec.index.kind == "observation_end" else "not observed on the index date"
        )
        self.unlabelled = SkipReport(reason="in no label class")

    def __iter__(self) -> Iterator[Row]:
        names = [c.name for c in self.spec.label.classes]
        number = 0
        for person_id, observed, age, gender, label, *values in self.db.rows(self.sql):
            if not observed:
                self.unobserved.count += 1
                continue
            if int(label) < 0 and self.spec.label.otherwise is None:
                self.unlabelled.count += 1
                continue
            number += 1
            row: dict[str, Any] = {
                ID: str(person_id),
                LABEL: names[int(label)] if int(label) >= 0 else self.spec.label.otherwise,
                AGE: None if age is None else float(age),
                SEX: self.spec.sex.get(int(gender)) if gender is not None else None,
            }
            for finding, value in zip(self.spec.findings, values, strict=True):
                row[finding.name] = _cell(finding, value)
            yield Row(f"{self.source} (person_id {person_id})", number, None, row)


def _cell(finding: OmopFinding, value: Any) -> Any:
    if finding.type == "boolean":
        return "true" if value else "false"
    if value is None:
        return None
    return float(value) if finding.type == "numeric" else str(value)


def _column_spec(spec: OmopSpec, resolved: dict[str, _Resolved]) -> CohortSpec:
    findings = []
    for finding in spec.findings:
        info = resolved.get(finding.name, _Resolved(unit=finding.unit, normal=finding.normal))
        findings.append(
            FindingSpec(
                column=finding.name,
                label=finding.label,
                type=finding.type,
                unit=info.unit,
                normal=info.normal if finding.type == "numeric" else None,
                decimals=finding.decimals,
                group=finding.group,
                aliases=finding.aliases,
                valid=finding.valid,
            )
        )
    return column_spec(spec, spec.label.classes, spec.label.otherwise, findings)


def load_omop(spec: OmopSpec) -> Cohort:
    """The cohort the spec defines, read from its database."""
    with _connect(spec.connection) as db:
        resolved = {f.name: _resolve_numeric(db, spec, f) for f in spec.findings if f.type == "numeric"}
        for name, info in resolved.items():
            if info.other_units:
                log.warning("finding '%s': %d value(s) in other unit concepts are not read", name, info.other_units)
        sql = cohort_query(spec, {name: info.units for name, info in resolved.items()})
        source = f"omop {db.shown}"
        rows = _PersonRows(db, spec, sql, source)
        columns = _column_spec(spec, resolved)
        cohort = query_cohort(
            columns,
            source,
            rows,
            [rows.unobserved, rows.unlabelled],
            {
                "omop": {
                    "database": db.shown,
                    "index": spec.index.model_dump(mode="json"),
                    "other_unit_values": {n: i.other_units for n, i in resolved.items() if i.other_units},
                }
            },
        )
    return cohort
