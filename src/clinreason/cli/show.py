"""Rich renderings of cohorts, splits, patients and teacher runs, shared by the commands."""

from __future__ import annotations

from rich.panel import Panel
from rich.table import Table

from clinreason.cli.app import console
from clinreason.evaluate.tables import ResultTable
from clinreason.records import Cohort, Splits, record_to_text
from clinreason.records.splits import SPLIT_NAMES
from clinreason.records.summary import CohortSummary


def print_summary(summary: CohortSummary) -> None:
    console.print(Panel(summary.description or summary.title, title=f"{summary.name}: {summary.title}"))
    console.print(
        f"Patients: {summary.patients}  (age known for {summary.has_age}, sex for {summary.has_sex})"
        + ("  [multi-label]" if summary.multilabel else "")
    )
    labels = Table(title="Labels")
    labels.add_column("label")
    labels.add_column("patients", justify="right")
    labels.add_column("share", justify="right")
    for label, count in summary.labels.items():
        labels.add_row(label, str(count), f"{count / max(summary.patients, 1):.1%}")
    console.print(labels)
    features = Table(title="Features")
    for column in ("name", "plain-language name", "kind", "unit", "normal range", "missing", "low", "high"):
        features.add_column(column, overflow="fold")
    for f in summary.features:
        features.add_row(
            f.name,
            f.label,
            f.kind,
            f.unit or "",
            f.normal or "",
            str(f.missing),
            str(f.low) if f.normal else "",
            str(f.high) if f.normal else "",
        )
    console.print(features)
    source = summary.source
    console.print(f"[bold]Source:[/] {source.name}")
    console.print(f"[bold]Citation:[/] {source.citation}")
    console.print(f"[bold]Licence:[/] {source.licence}")
    if source.url:
        console.print(f"[bold]URL:[/] {source.url}")
    for report in summary.skipped:
        rows = ", ".join(map(str, report.rows)) + (" ..." if report.count > len(report.rows) else "")
        console.print(f"[yellow]Skipped {report.count} row(s):[/] {report.reason} (rows {rows})")


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


def print_table(table: ResultTable) -> None:
    """A result table as the Markdown written beside the results (user text is never read as markup)."""
    console.print(table.markdown(), markup=False, highlight=False, soft_wrap=True)
