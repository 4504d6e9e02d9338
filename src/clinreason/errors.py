"""Errors that tell the user exactly where their input is wrong.

Every error a user can cause with their own data or config is a `ClinreasonError`; the CLI prints
its message without a traceback. A `DataError` carries the file, row and column so that the message
points at the cell to fix.
"""

from __future__ import annotations

from pathlib import Path


class ClinreasonError(Exception):
    """Base class for errors caused by the user's input, configuration or environment."""


class ConfigError(ClinreasonError):
    """A configuration or column specification is invalid."""


class CheckpointError(ClinreasonError):
    """A saved model (student checkpoint, segmentation network) is missing, incomplete or corrupt; the
    message names its path and what to do (usually: delete it to train again)."""


class DataError(ClinreasonError):
    """A data file is malformed; the message names the file, row and column.

    `row` is the 1-based data row (the header is not counted). For CSV files `line` is the physical
    line in the file, which is what an editor shows.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.reason = message
        self.file = str(file) if file is not None else None
        self.row = row
        self.line = line
        self.column = column
        super().__init__(self._format())

    def _format(self) -> str:
        where: list[str] = []
        if self.file is not None:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}" + (f" (line {self.line})" if self.line is not None else ""))
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return (", ".join(where) + ": " if where else "") + self.reason
