from __future__ import annotations

import pytest

from clinreason.evaluate.tables import ResultTable, fmt


def test_markdown_layout_and_missing_values() -> None:
    table = ResultTable(title="T", columns=["model", "F1"], rows=[["a", fmt(0.12345)], ["b", fmt(None)]], notes=["n"])
    assert table.markdown() == "T\n\n| model | F1 |\n|---|---|\n| a | 0.123 |\n| b | – |\n\nn\n"
    assert fmt(212.94, 1) == "212.9"


def test_a_row_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="a row has 1 cells for 2 columns"):
        ResultTable(title="T", columns=["model", "F1"], rows=[["a"]]).markdown()
