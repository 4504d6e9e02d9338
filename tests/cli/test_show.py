from __future__ import annotations

import io

import pytest
from rich.console import Console

from clinreason.cli import show
from clinreason.evaluate.tables import ResultTable

NAMES = ["student:rationale_then_label", "student:label", "baseline:logistic_regression", "baseline:gradient_boosting"]
TABLE = ResultTable(
    title="pima-diabetes, test split (n = 80)",
    columns=["model", "accuracy", "95% CI", "macro-F1", "AUROC", "ECE", "claims verified", "label consistent"],
    rows=[[name, "0.662", "0.56-0.76", "0.542", "0.735", "0.092", "0.989", "1.000"] for name in NAMES],
)


def rendered(table: ResultTable, width: int, monkeypatch: pytest.MonkeyPatch) -> str:
    buffer = io.StringIO()
    monkeypatch.setattr(show, "console", Console(file=buffer, width=width))
    show.print_table(table)
    return buffer.getvalue()


@pytest.mark.parametrize("width", [60, 80, 200])
def test_no_name_or_number_is_cut_at_any_width(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    text = rendered(TABLE, width, monkeypatch)
    lines = text.splitlines()
    assert all(len(line.rstrip()) <= width for line in lines)
    for name in NAMES:
        assert any(line.strip().split(" ")[0] == name for line in lines), (name, text)
    assert "…" not in text
    assert text.count("0.56-0.76") == len(NAMES) and text.count("label consistent") >= 1


def test_a_wide_terminal_gets_one_row_per_model(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = rendered(TABLE, 200, monkeypatch).splitlines()
    rows = [line for line in lines if line.split(" ")[0] in NAMES]
    assert len(rows) == len(NAMES) and all("0.542" in row and "1.000" in row for row in rows)


def test_user_text_in_a_table_is_not_read_as_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    table = ResultTable(title="[bold]t[/]", columns=["model", "note"], rows=[["student:label:", "[red]x[/]"]])
    text = rendered(table, 80, monkeypatch)
    assert "[bold]t[/]" in text and "student:label:" in text and "[red]x[/]" in text and "🏷" not in text
