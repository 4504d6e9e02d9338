"""`clinreason run`, `demo`, `distill`, `predict` and `evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from clinreason.cli.app import app, console, err_console, user_errors
from clinreason.cli.progress import RichObserver, progress_bars
from clinreason.cli.show import print_table
from clinreason.errors import ConfigError
from clinreason.pipeline.config import RunConfig, demo_students, dump_run_config, load_run_config, parse_run_config
from clinreason.pipeline.results import RunMetrics
from clinreason.pipeline.run import run_pipeline
from clinreason.student.config import Precision
from clinreason.student.data import Objective

SplitChoice = Literal["train", "validation", "test"]


def execute(config: RunConfig, until: Literal["train", "evaluate"] = "evaluate") -> None:
    with progress_bars() as bars:
        observer = RichObserver(bars)
        output = run_pipeline(config, observer, until=until)
        observer.finish()
    if output.report is None:
        console.print(f"Trained students are in {output.folder / 'students'}")
        return
    if output.metrics is not None:
        print_table(output.metrics.table())
    console.print(f"Run folder: {output.folder}\nMetrics: {output.folder / 'metrics.json'}\nReport: {output.report}")


@app.command("run")
@user_errors
def run_command(
    config_file: Annotated[Path, typer.Argument(help="Run config (YAML); see docs/student.md.")],
    out: Annotated[Path | None, typer.Option(help="Run folder (overrides the config's).")] = None,
) -> None:
    """Run a whole job from one YAML config: rationalize, distill, predict, evaluate, report."""
    config = load_run_config(config_file)
    if out is not None:
        config = config.model_copy(update={"out": out})
    execute(config)


def demo_config(quick: bool, cohort: str, out: Path) -> RunConfig:
    raw: dict[str, Any] = {
        "name": "demo",
        "out": str(out),
        "data": {"cohort": cohort},
        "student": demo_students(),
    }
    if quick:
        raw["data"].update(train_limit=24, validation_limit=12, test_limit=16)
        raw["student"]["train"].update(max_steps=6, batch_size=4)
        raw["evaluation"] = {"max_new_tokens": 64, "bootstrap": 200, "report_patients": 2}
    return parse_run_config(raw, "demo")


@app.command()
@user_errors
def demo(
    quick: Annotated[
        bool, typer.Option("--quick", help="A small run for a smoke test (minutes, not a result).")
    ] = False,
    cohort_name: Annotated[str, typer.Option("--cohort", help="Cohort to run on.")] = "pima-diabetes",
    out: Annotated[Path | None, typer.Option(help="Run folder (default: runs/demo or runs/demo-quick).")] = None,
    show_config: Annotated[bool, typer.Option("--show-config", help="Print the config and exit.")] = False,
) -> None:
    """The end-to-end job on a bundled real cohort, offline: teacher rationales (cached), two distilled
    students (rationale-then-label and label-only), baselines, metrics.json and report.html."""
    config = demo_config(quick, cohort_name, out or Path("runs") / ("demo-quick" if quick else "demo"))
    if show_config:
        console.print(dump_run_config(config), highlight=False)
        return
    execute(config)


@app.command()
@user_errors
def distill(
    config_file: Annotated[
        Path | None, typer.Argument(help="Run config (YAML), as for `run`; without one, the demo's defaults.")
    ] = None,
    cohort_name: Annotated[str | None, typer.Option("--cohort", help="Overrides the config's cohort.")] = None,
    objective: Annotated[Objective | None, typer.Option(help="Train only this objective.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder.")] = None,
) -> None:
    """Train the student(s) of a run (teacher rationales first, from the cache when present); no evaluation."""
    if config_file is None:
        err_console.print(
            "No run config given: training with the default config (the demo's; `clinreason demo --show-config`)."
        )
        config = RunConfig()
    else:
        config = load_run_config(config_file)
    updates: dict[str, Any] = {}
    if cohort_name:
        updates["data"] = config.data.model_copy(update={"cohort": cohort_name})
    if objective:
        updates["student"] = config.student.model_copy(update={"objectives": [objective]})
    config = config.model_copy(update={**updates, "out": out or config.out})
    execute(config, until="train")


@app.command("predict")
@user_errors
def predict_command(
    checkpoint: Annotated[
        Path, typer.Option(help="A student checkpoint folder (…/students/OBJECTIVE/best) or an export.")
    ],
    cohort_name: Annotated[str, typer.Option("--cohort", help="Bundled cohort, YAML spec or ADNIMERGE.csv.")],
    split: Annotated[Literal["train", "validation", "test", "all"], typer.Option(help="Which patients.")] = "test",
    splits_file: Annotated[Path | None, typer.Option("--splits", help="Saved splits (default: seed 0).")] = None,
    patient: Annotated[list[str] | None, typer.Option("--id", help="Only these patient ids.")] = None,
    out: Annotated[Path, typer.Option(help="Predictions JSONL.")] = Path("predictions.jsonl"),
    max_new_tokens: Annotated[int, typer.Option(help="Longest rationale.")] = 256,
    precision: Annotated[
        Precision,
        typer.Option(
            help="Rationale writing: fp32, auto (bf16 where the device computes it natively: faster, but the "
            "stated diagnosis may then differ from the scored one), bf16."
        ),
    ] = "fp32",
    candidates: Annotated[
        int,
        typer.Option(min=1, max=16, help="Rationales per patient; the one whose claims verify is kept."),
    ] = 1,
) -> None:
    """Diagnosis, class probabilities and rationale from a trained student, for a split or some patients."""
    from clinreason.records import load_cohort, select_records
    from clinreason.student.checkpoint import load_checkpoint, read_meta
    from clinreason.student.predict import predict

    cohort = load_cohort(cohort_name)
    records = [cohort.get(i) for i in patient] if patient else select_records(cohort, split, splits_file, 0)
    if (checkpoint / "export.json").is_file():  # an export: refused if any file changed
        from clinreason.serve.export import verify_export

        verify_export(checkpoint)
        checkpoint = checkpoint / "model"
    read_meta(checkpoint)  # a wrong path fails here, before any progress bar
    with progress_bars() as bars:
        observer = RichObserver(bars)
        observer.phase(f"loading the student from {checkpoint}", None)
        student, meta = load_checkpoint(checkpoint)
        predictions = predict(
            student,
            cohort,
            records,
            meta.objective,
            max_new_tokens=max_new_tokens,
            precision=precision,
            candidates=candidates,
            observer=observer,
        )
        observer.finish()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(p.model_dump_json() + "\n" for p in predictions))
    for p in predictions[:5]:
        mark = "right" if p.predicted in p.gold else "wrong"
        console.print(
            f"{p.record_id}: predicted {p.predicted} (probability {p.probabilities[p.predicted]:.2f}), "
            f"gold {', '.join(p.gold)}: {mark}",
            markup=False,
            highlight=False,
        )
        if p.rationale and len(predictions) <= 3:
            console.print(f"  rationale: {p.rationale}", markup=False, highlight=False)
    console.print(f"{len(predictions)} prediction(s) written to {out}")


@app.command("evaluate")
@user_errors
def evaluate_command(
    run_folder: Annotated[Path, typer.Argument(help="A run folder made by `run`, `demo` or `distill`.")],
    show_only: Annotated[bool, typer.Option("--show", help="Only print the metrics already computed.")] = False,
) -> None:
    """Predict with the run's trained students, score every model on the evaluation split, write
    metrics.json and report.html (finished steps are reused)."""
    if not run_folder.is_dir():
        raise ConfigError(f"{run_folder}: no such run folder (`clinreason run CONFIG` or `clinreason demo` makes one)")
    if show_only:
        path = run_folder / "metrics.json"
        if not path.is_file():
            raise ConfigError(f"{path} not found: run `clinreason evaluate {run_folder}` first")
        print_table(RunMetrics.model_validate_json(path.read_text()).table())
        return
    if not (run_folder / "config.yaml").is_file():
        raise ConfigError(f"{run_folder}: not a run folder (no config.yaml)")
    config = load_run_config(run_folder / "config.yaml")
    execute(config.model_copy(update={"out": run_folder}))


@app.command()
@user_errors
def ablation(
    cohort: Annotated[
        str, typer.Option(help="synthetic-multimodal, or a MIMIC YAML (kind: mimic3-phenotyping; needs --teacher).")
    ] = "synthetic-multimodal",
    test_cohort: Annotated[
        str | None, typer.Option(help="Test stays from this cohort, e.g. a MIMIC YAML with split: test.")
    ] = None,
    teacher: Annotated[
        str | None,
        typer.Option(help="LLM teacher for the rationales (backend:model); default: the synthetic cohort's rules."),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible server for --teacher or --teacher-row openai:...")
    ] = None,
    teacher_row: Annotated[
        str | None,
        typer.Option(
            help="Add a row: the full student trained on this LLM teacher's rationales (backend:model) beside "
            "the rows trained on the rules, e.g. gguf:qwen2.5-coder-1.5b."
        ),
    ] = None,
    patients: Annotated[int, typer.Option(min=20, help="Synthetic ICU stays to generate.")] = 400,
    student: Annotated[str, typer.Option(help="Student model (packaged name, folder or hub id).")] = "smollm2-135m",
    epochs: Annotated[int, typer.Option(min=1, help="Epochs per stage.")] = 2,
    max_steps: Annotated[int | None, typer.Option(help="Cap on optimizer steps per stage.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="60 patients, 6 steps per stage (a smoke test).")] = False,
    faithfulness: Annotated[
        bool,
        typer.Option(
            help="Add the faithfulness rows (anomaly text in the prompt; several candidates, verified kept; "
            "claim tokens weighted in the loss)."
        ),
    ] = True,
    claim_weight: Annotated[
        float, typer.Option(min=1.0, max=20.0, help="Loss weight of claim tokens in the claim-weight row.")
    ] = 3.0,
    candidates: Annotated[int, typer.Option(min=2, max=16, help="Answers per stay in the candidates rows.")] = 4,
    seeds: Annotated[
        int, typer.Option(min=1, help="Seeds 0 .. N-1 (a split of the same stays each, in OUT/seed-N; 1: OUT itself).")
    ] = 1,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/ablation"),
) -> None:
    """ClinRaGen's ablation on the synthetic multimodal cohort: note only, time series only, joint without
    knowledge attention, full; multi-label micro/macro-F1 and verified-claim rate."""
    from clinreason.pipeline.ablation import FAITHFULNESS, AblationConfig, run_ablation
    from clinreason.student.config import TrainConfig
    from clinreason.teacher import TeacherConfig

    train_config = TrainConfig(epochs=epochs, learning_rate=1e-4, batch_size=8, max_steps=6 if quick else max_steps)
    config = AblationConfig(
        cohort=cohort,
        test_cohort=test_cohort,
        teacher=TeacherConfig.from_spec(teacher, base_url=base_url) if teacher else None,
        teacher_row=TeacherConfig.from_spec(teacher_row, base_url=base_url) if teacher_row else None,
        patients=60 if quick else patients,
        student=student,
        train=train_config,
        out=out,
        max_new_tokens=64 if quick else 160,
        faithfulness=list(FAITHFULNESS) if faithfulness else [],
        candidates=candidates,
        claim_weight=claim_weight,
    )
    if seeds > 1:
        from clinreason.pipeline.ablation import run_ablation_seeds

        with progress_bars(eta=False) as bars:
            observer = RichObserver(bars)
            _, combined = run_ablation_seeds(config, list(range(seeds)), observer)
            observer.finish()
        print_table(combined.table())
        console.print(
            f"Written to {out / 'ablation-seeds.json'} and {out / 'ablation-seeds.md'} (runs in {out}/seed-N)"
        )
        return
    with progress_bars(eta=False) as bars:
        observer = RichObserver(bars)
        summary = run_ablation(config, observer)
        observer.finish()
    print_table(summary.table())
    console.print(f"Written to {out / 'ablation.json'} and {out / 'ablation.md'}")
