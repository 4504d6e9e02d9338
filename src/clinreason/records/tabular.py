"""Build a cohort from any table and a YAML column specification (see `clinreason.records.spec`)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clinreason.errors import ConfigError, DataError
from clinreason.records.plausibility import Limits, outside
from clinreason.records.schema import Cohort, Finding, FindingValue, Note, PatientRecord, SkipReport
from clinreason.records.spec import CohortSpec, FindingSpec, load_spec
from clinreason.records.table import Cell, Row, Table, as_code, is_missing, parse_bool, parse_number, read_table


def load_tabular_cohort(spec: CohortSpec | str | Path, file: str | Path | None = None) -> Cohort:
    """Load the table named by the spec (or `file`, which overrides it) into a cohort."""
    if not isinstance(spec, CohortSpec):
        spec = load_spec(spec)
    path = Path(file) if file is not None else spec.file
    if path is None:
        raise ConfigError(f"cohort spec '{spec.name}' names no data file; set 'file:' or pass one")
    return cohort_from_table(read_table(path, spec.format, spec.delimiter), spec)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Records hold no reference cycles; Python's cyclic collector, run again and again while hundreds of
    thousands of them are built, took a third of a large cohort's load time (bench/scale.py)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def cohort_from_table(table: Table, spec: CohortSpec) -> Cohort:
    with _no_cycle_collection():
        return _cohort_from_table(table, spec)


def _cohort_from_table(table: Table, spec: CohortSpec) -> Cohort:
    table.require(spec.required_columns(), what=f"the spec of cohort '{spec.name}'")
    missing_label = SkipReport(reason="missing label")
    implausible = SkipReport(reason="implausible value")
    records: list[PatientRecord] = []
    first_row_of: dict[str, int] = {}
    observed: list[str] = []
    for row in table:
        labels = _labels(row, spec)
        if labels is None:
            missing_label.add(row.number)
            continue
        record_id = _record_id(row, spec)
        if record_id in first_row_of:
            raise row.error(
                f"duplicate patient id '{record_id}' (first seen on row {first_row_of[record_id]})",
                column=spec.id_column,
            )
        try:
            record = _record(row, spec, record_id, labels)
        except ImplausibleValue:
            if spec.on_invalid == "error":
                raise
            implausible.add(row.number)
            continue
        first_row_of[record_id] = row.number
        observed.extend(label for label in labels if label not in observed)
        records.append(record)
    if not records:
        raise DataError(
            f"no usable rows: {missing_label.count} row(s) have no label, {implausible.count} an implausible value",
            file=table.source,
        )
    return Cohort(
        name=spec.name,
        title=spec.title or spec.name,
        description=spec.description,
        source=spec.source,
        labels=_label_set(spec, observed),
        label_descriptions=dict(spec.label.descriptions),
        multilabel=spec.label.columns is not None,
        text_style=spec.text_style,
        task=spec.task,
        records=records,
        skipped=[report for report in (missing_label, implausible) if report.count],
        metadata=_metadata(spec),
    )


def _metadata(spec: CohortSpec) -> dict[str, object]:
    """What a server needs beyond the records: LOINC codes and the hard limits of each value."""
    metadata: dict[str, object] = {}
    if any(f.loinc for f in spec.findings):
        metadata["loinc"] = {code: f.key for f in spec.findings for code in f.loinc}
    limits = {f.key: [limit.low, limit.high] for f in spec.findings if (limit := f.limits) is not None}
    if spec.age is not None and (age := spec.age.limits) is not None:
        metadata["age_limits"] = [age.low, age.high]
    if limits:
        metadata["limits"] = limits
    return metadata


class ImplausibleValue(DataError):
    """A value outside its hard limits (`valid:`); skipped rather than raised with `on_invalid: skip`."""


def _check(value: float | None, limits: Limits | None, cell: Cell, what: str, unit: str | None) -> None:
    if value is not None and (message := outside(value, limits, what, unit)) is not None:
        raise ImplausibleValue(
            f"{message} (a typo or another unit? Set `valid:` in the spec to change the range, or "
            "`on_invalid: skip` to leave such rows out)",
            file=cell.file,
            row=cell.row,
            line=cell.line,
            column=cell.column,
        )


def _label_set(spec: CohortSpec, observed: list[str]) -> list[str]:
    if spec.label.classes is not None:
        return list(spec.label.classes)
    if spec.label.columns is not None:
        return [spec.label.map.get(column, column) for column in spec.label.columns]
    if spec.label.map:
        return list(dict.fromkeys(spec.label.map.values()))
    return sorted(observed)


def _record_id(row: Row, spec: CohortSpec) -> str:
    if spec.id_column is None:
        return f"row-{row.number}"
    value = row.values[spec.id_column]
    if is_missing(value, spec.missing_values):
        raise row.error("missing patient id", column=spec.id_column)
    return as_code(value)


def _labels(row: Row, spec: CohortSpec) -> list[str] | None:
    """The row's labels; None when the label is missing and the spec says to skip such rows."""
    label = spec.label
    if label.columns is not None:
        chosen: list[str] = []
        for column in label.columns:
            flag = parse_bool(row.values[column], row.cell(column), spec.missing_values)
            if flag is None:
                if label.on_missing == "skip":
                    return None
                raise row.error("missing label value", column=column)
            if flag:
                chosen.append(label.map.get(column, column))
        return chosen
    assert label.column is not None
    raw = row.values[label.column]
    if is_missing(raw, spec.missing_values):
        if label.on_missing == "skip":
            return None
        raise row.error("missing label", column=label.column)
    code = as_code(raw)
    value = label.map.get(code, code)
    known = label.classes if label.classes is not None else (list(label.map.values()) if label.map else None)
    if known is not None and value not in known:
        expected = sorted(label.map) if label.map else known
        raise row.error(f"unknown label {code!r}; expected one of {expected}", column=label.column)
    return [value]


def _record(row: Row, spec: CohortSpec, record_id: str, labels: list[str]) -> PatientRecord:
    missing = spec.missing_values
    age = None
    if spec.age is not None:
        cell = row.cell(spec.age.column)
        age = parse_number(row.values[spec.age.column], cell, missing)
        _check(age, spec.age.limits, cell, "age", "years")
    sex = None
    if spec.sex is not None:
        raw = row.values[spec.sex.column]
        if not is_missing(raw, missing):
            code = as_code(raw)
            if spec.sex.map is not None and code not in spec.sex.map:
                raise row.error(f"unknown sex code {code!r}; expected one of {sorted(spec.sex.map)}", spec.sex.column)
            sex = spec.sex.map[code] if spec.sex.map is not None else code.lower()
    findings = {finding.key: _finding(row, finding, missing) for finding in spec.findings}
    notes = [
        Note(category=column, text=str(row.values[column]))
        for column in spec.notes
        if not is_missing(row.values[column], missing)
    ]
    return PatientRecord(id=record_id, age=age, sex=sex, findings=findings, notes=notes, labels=labels)


def _finding(row: Row, spec: FindingSpec, missing: list[str]) -> Finding:
    raw = row.values[spec.column]
    cell = row.cell(spec.column)
    missing = [*missing, *spec.missing_values]
    value: FindingValue
    if spec.type == "numeric":
        value = parse_number(raw, cell, missing)
        _check(value, spec.limits, cell, spec.label or spec.key, spec.unit)
    elif spec.type == "boolean":
        value = parse_bool(raw, cell, missing)
    elif is_missing(raw, missing):
        value = None
    else:
        code = as_code(raw)
        if spec.values is not None and code not in spec.values:
            raise cell.error(f"unknown category {code!r}; expected one of {sorted(spec.values)}")
        value = spec.values[code] if spec.values is not None else code
    return Finding(
        name=spec.key,
        label=spec.label or spec.column,
        value=value,
        unit=spec.unit,
        normal=spec.reference,
        decimals=spec.decimals,
        group=spec.group,
        aliases=tuple(spec.aliases),
        inverse_aliases=tuple(spec.inverse_aliases),
        terms=spec.grade_terms,
    )
