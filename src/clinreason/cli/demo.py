"""`clinreason demo`: the end-to-end job on a bundled real cohort."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clinreason.cli.app import app, console, user_errors
from clinreason.cli.show import print_patient, print_splits, print_summary
from clinreason.records import load_cohort, make_splits
from clinreason.records.summary import summarize


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
    print_summary(summary)
    splits = make_splits(cohort, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    splits.save(out / "splits.json")
    (out / "cohort_summary.json").write_text(summary.model_dump_json(indent=2) + "\n")
    print_splits(cohort, splits)
    train = splits.apply(cohort, "train")
    shown: list[str] = []
    for label in cohort.labels:
        shown += [record.id for record in train.records if label in record.labels][:1]
    for record_id in (shown + [r.id for r in train.records if r.id not in shown])[:3]:
        print_patient(cohort, record_id)
    console.print(
        f"Wrote {out / 'splits.json'} and {out / 'cohort_summary.json'}.\n"
        "[bold]This demo stops here for now:[/] distillation (student) and evaluation arrive with the next "
        "releases (see README). Generate rationales with `clinreason rationalize`."
    )
