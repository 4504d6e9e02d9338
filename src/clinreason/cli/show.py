"""Rich renderings of cohorts, splits, patients and teacher runs, shared by the commands."""

from __future__ import annotations

from rich import box
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from clinreason.cli.app import console
from clinreason.evaluate.tables import ResultTable
from clinreason.records import Cohort, Splits, record_to_text
from clinreason.records.splits import SPLIT_NAMES
from clinreason.records.summary import CohortSummary


def _line(label: str, text: str) -> None:
    """'Label: text' with the text printed as is (it comes from a cohort spec)."""
    console.print(Text.assemble((f"{label}: ", "bold"), text))


def print_summary(summary: CohortSummary) -> None:
    console.print(Text(f"{summary.name}: {summary.title}", style="bold"))
    console.print(Text(summary.description or summary.title))
    console.print()
    console.print(
        f"Patients: {summary.patients}  (age known for {summary.has_age}, sex for {summary.has_sex})"
        + ("  (multi-label)" if summary.multilabel else ""),
        markup=False,
    )
    total = max(summary.patients, 1)
    print_table(
        ResultTable(
            title="Labels",
            columns=["label", "patients", "share"],
            rows=[[label, str(count), f"{count / total:.1%}"] for label, count in summary.labels.items()],
        )
    )
    print_table(
        ResultTable(
            title="Features",
            columns=["name", "plain-language name", "kind", "unit", "normal range", "missing", "below", "above"],
            rows=[
                [
                    f.name,
                    f.label,
                    f.kind,
                    f.unit or "–",
                    f.normal or "–",
                    str(f.missing),
                    str(f.low) if f.normal else "–",
                    str(f.high) if f.normal else "–",
                ]
                for f in summary.features
            ],
            notes=["below / above: patients whose value lies below / above the normal range."],
        )
    )
    source = summary.source
    _line("Source", source.name)
    _line("Citation", source.citation)
    _line("Licence", source.licence)
    if source.url:
        _line("URL", source.url)
    for report in summary.skipped:
        rows = ", ".join(map(str, report.rows)) + (" ..." if report.count > len(report.rows) else "")
        console.print(Text.assemble((f"Skipped {report.count} row(s): ", "yellow"), f"{report.reason} (rows {rows})"))


def print_splits(cohort: Cohort, splits: Splits) -> None:
    table = Table(title=f"Splits (seed {splits.seed}, {'stratified' if splits.stratified else 'not stratified'})")
    table.add_column("split")
    table.add_column("patients", justify="right")
    for label in cohort.labels:
        table.add_column(label, justify="right")
    for name in SPLIT_NAMES:
        part = cohort.subset(splits.ids(name))
        table.add_row(name, str(len(part)), *(str(c) for c in part.label_counts().values()))
    console.print(table)


def print_patient(cohort: Cohort, record_id: str) -> None:
    record = cohort.get(record_id)
    title = f"patient {record.id} - gold label: {', '.join(record.labels) or 'none'}"
    console.print(Panel(record_to_text(record, cohort.text_style), title=title, title_align="left"))


def _numeric(cell: str) -> bool:
    return cell in ("–", "") or cell.replace(".", "", 1).replace("-", "").replace("%", "").strip().isdigit()


def print_table(table: ResultTable) -> None:
    """A result table for the terminal, never cutting a name or a number: as a table where it fits the
    terminal's width, else one block per row (name, then `column value` pairs that wrap at spaces).
    The same table is written as Markdown beside the results."""
    widths = [max([len(column), *(len(row[i]) for row in table.rows)]) for i, column in enumerate(table.columns)]
    console.print(Text(table.title, style="bold"))
    if sum(widths) + 2 * (len(widths) - 1) <= console.width:
        rendered = Table(box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False, pad_edge=False)
        for index, column in enumerate(table.columns):
            numeric = index > 0 and all(_numeric(row[index]) for row in table.rows)
            rendered.add_column(Text(column), no_wrap=True, justify="right" if numeric else "left")
        for row in table.rows:
            rendered.add_row(*(Text(cell) for cell in row))
        console.print(rendered)
    else:
        for row in table.rows:
            console.print(Text(row[0], style="bold"))
            pairs = [f"{column} {cell}" for column, cell in zip(table.columns[1:], row[1:], strict=True)]
            line = ""
            for pair in pairs:  # break between pairs, never inside one; a continued line starts with "·"
                if line.strip(" ·") and len(line) + 3 + len(pair) + 2 > console.width:
                    console.print(Text("  " + line))  # a single pair longer than a line wraps at its spaces
                    line = "· "
                line = f"{line} · {pair}" if line.strip(" ·") else f"{line}{pair}"
            console.print(Text("  " + line))
    for note in table.notes:
        console.print(note, markup=False, highlight=False)
