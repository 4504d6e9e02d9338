"""Row-by-row reading of CSV and Parquet files that remembers where each value came from.

pandas would silently pad a short CSV row with NaN and guess column types; here every row keeps its
file, row and line so that a bad value can be reported exactly, rows are streamed (large EHR tables
never sit in memory twice), and typing is left to the caller.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clinreason.errors import DataError

TRUE_WORDS = {"1", "true", "yes", "y", "t"}
FALSE_WORDS = {"0", "false", "no", "n", "f"}


@dataclass(frozen=True)
class Cell:
    """Where a value sits, for error messages."""

    file: str
    row: int
    line: int | None
    column: str

    def error(self, message: str) -> DataError:
        return DataError(message, file=self.file, row=self.row, line=self.line, column=self.column)


@dataclass(frozen=True)
class Row:
    file: str
    number: int
    line: int | None
    values: dict[str, Any]

    def cell(self, column: str) -> Cell:
        return Cell(self.file, self.number, self.line, column)

    def error(self, message: str, column: str | None = None) -> DataError:
        return DataError(message, file=self.file, row=self.number, line=self.line, column=column)


class Table:
    """A header plus a re-iterable stream of rows."""

    def __init__(self, source: str, columns: list[str], rows: Iterable[Row] | None = None) -> None:
        self.source = source
        self.columns = columns
        self._rows = rows

    def __iter__(self) -> Iterator[Row]:
        if self._rows is None:
            return iter(())
        return iter(self._rows)

    def require(self, columns: Iterable[str], what: str = "the column specification") -> None:
        missing = [column for column in columns if column not in self.columns]
        if missing:
            raise DataError(
                f"missing column(s) {missing} required by {what}; the file has {self.columns}",
                file=self.source,
            )


def read_table(path: str | Path, fmt: str | None = None, delimiter: str = ",") -> Table:
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", file=path)
    fmt = fmt or ("parquet" if path.suffix.lower() in {".parquet", ".pq"} else "csv")
    if fmt == "parquet":
        return _read_parquet(path)
    if fmt == "csv":
        return _read_csv(path, delimiter)
    raise DataError(f"unknown table format '{fmt}'; expected csv or parquet", file=path)


def table_from_records(source: str, records: list[dict[str, Any]]) -> Table:
    """Rows already in memory (e.g. a packaged data frame), numbered from 1."""
    if not records:
        raise DataError("has no data rows", file=source)
    columns = list(records[0])
    rows = [Row(source, number, None, values) for number, values in enumerate(records, start=1)]
    return Table(source, columns, rows)


class _CsvRows:
    def __init__(self, path: Path, delimiter: str, columns: list[str]) -> None:
        self.path, self.delimiter, self.columns = path, delimiter, columns

    def __iter__(self) -> Iterator[Row]:
        name = str(self.path)
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            try:
                next(reader)
                number = 0
                start = reader.line_num + 1
                for fields in reader:
                    line, start = start, reader.line_num + 1
                    if not fields or all(not field.strip() for field in fields):
                        continue
                    number += 1
                    if len(fields) != len(self.columns):
                        raise DataError(
                            f"malformed row: {len(fields)} fields where the header has {len(self.columns)}",
                            file=name,
                            row=number,
                            line=line,
                        )
                    yield Row(name, number, line, dict(zip(self.columns, fields, strict=True)))
            except csv.Error as exc:
                raise DataError(f"malformed CSV: {exc}", file=name, line=reader.line_num) from exc
            except UnicodeDecodeError as exc:
                raise DataError(f"not UTF-8 text: {exc}", file=name) from exc


def _read_csv(path: Path, delimiter: str) -> Table:
    name = str(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            header = next(reader, None)
            has_row = any(any(field.strip() for field in fields) for fields in reader)
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text: {exc}", file=name) from exc
    except csv.Error as exc:
        raise DataError(f"malformed CSV: {exc}", file=name) from exc
    if not header or all(not field.strip() for field in header):
        raise DataError("the file is empty (no header row)", file=name)
    columns = [field.strip() for field in header]
    _check_header(name, columns)
    if not has_row:
        raise DataError("the file has a header but no data rows", file=name)
    return Table(name, columns, _CsvRows(path, delimiter, columns))


class _ParquetRows:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[Row]:
        import pyarrow.parquet as pq

        number = 0
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=65536):
            for values in batch.to_pylist():
                number += 1
                yield Row(str(self.path), number, None, values)


def _read_parquet(path: Path) -> Table:
    import pyarrow.parquet as pq

    name = str(path)
    if path.stat().st_size == 0:
        raise DataError("the file is empty", file=name)
    try:
        meta = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataError(f"not a readable Parquet file: {exc}", file=name) from exc
    columns = list(meta.schema_arrow.names)
    _check_header(name, columns)
    if meta.metadata.num_rows == 0:
        raise DataError("the file has a header but no data rows", file=name)
    return Table(name, columns, _ParquetRows(path))


def _check_header(name: str, columns: list[str]) -> None:
    seen: set[str] = set()
    for index, column in enumerate(columns, start=1):
        if not column:
            raise DataError(f"header field {index} is empty", file=name, line=1)
        if column in seen:
            raise DataError(f"header repeats column '{column}'", file=name, line=1, column=column)
        seen.add(column)


def is_missing(value: Any, missing: Iterable[str]) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() in set(missing)


def as_code(value: Any) -> str:
    """A raw value as the string a user would write in a YAML map (1.0 -> '1', True -> 'true')."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_number(value: Any, cell: Cell, missing: Iterable[str] = ()) -> float | None:
    if is_missing(value, missing):
        return None
    if isinstance(value, bool):
        raise cell.error(f"expected a number, got the boolean {value}")
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip()
        if not text.isascii():
            raise cell.error(f"expected a number written with the digits 0-9, got {text!r}")
        if "_" in text:  # float() reads "1_000" as 1000; in a data file it is more likely a typo
            raise cell.error(f"expected a number, got {text!r}")
        try:
            number = float(text)
        except ValueError:
            raise cell.error(f"expected a number, got {text!r}") from None
    if not math.isfinite(number):
        raise cell.error(f"expected a finite number, got {value!r}")
    return number


def parse_bool(value: Any, cell: Cell, missing: Iterable[str] = ()) -> bool | None:
    if is_missing(value, missing):
        return None
    if isinstance(value, bool):
        return value
    word = as_code(value).lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise cell.error(f"expected yes/no, true/false or 1/0, got {str(value)!r}")
