"""One layout for every result table (pipeline metrics, ablation, segmentation): Markdown, which reads
in a terminal, is written beside the JSON results (`metrics.md`, `ablation.md`) and pastes into docs."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["ResultTable", "fmt"]


def fmt(value: float | None, digits: int = 3) -> str:
    """A metric for a table: fixed digits, and '–' for a value that does not exist (not 0, not NaN)."""
    return "–" if value is None else f"{value:.{digits}f}"


class ResultTable(BaseModel):
    title: str
    columns: list[str]
    rows: list[list[str]] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="Lines printed under the table.")

    def markdown(self) -> str:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"table '{self.title}': a row has {len(row)} cells for {len(self.columns)} columns")
        lines = [
            self.title,
            "",
            "| " + " | ".join(self.columns) + " |",
            "|" + "---|" * len(self.columns),
            *("| " + " | ".join(row) + " |" for row in self.rows),
        ]
        if self.notes:
            lines += ["", *self.notes]
        return "\n".join(lines) + "\n"
