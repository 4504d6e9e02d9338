"""`clinreason rationalize` and `clinreason teacher list`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from clinreason.cli.app import app, console, err_console, teacher_app, user_errors
from clinreason.cli.progress import RichObserver, progress_bars
from clinreason.cli.show import print_table
from clinreason.evaluate.tables import ResultTable
from clinreason.paths import teacher_cache_path
from clinreason.pipeline.rationalize import rationalize, series_claim_counts
from clinreason.records import load_cohort, select_records
from clinreason.teacher import (
    PACKAGED_MODELS,
    RunSummary,
    Sampling,
    TeacherCache,
    TeacherConfig,
    TeacherTask,
    TeacherUnavailable,
)
from clinreason.teacher.prompts import list_prompts
from clinreason.teacher.speculation import Speculation

SplitChoice = Literal["train", "validation", "test", "all"]


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
    if summary.prompt_tokens:
        served = summary.cached_prompt_tokens / summary.prompt_tokens
        console.print(f"Prompt tokens served from the engine's prefix cache: {served:.0%} of {summary.prompt_tokens:,}")
    if summary.drafted_tokens:
        accepted = summary.accepted_tokens / summary.drafted_tokens
        console.print(f"Speculative drafts accepted: {accepted:.0%} of {summary.drafted_tokens:,} drafted tokens")
    if summary.accuracy is not None:
        console.print(f"Teacher accuracy: {summary.correct}/{summary.total} = {summary.accuracy:.1%}")


@app.command("rationalize")
@user_errors
def rationalize_command(
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
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote", help="Send patient records to a teacher outside this machine and private networks."
        ),
    ] = False,
    trusted_host: Annotated[
        list[str] | None, typer.Option("--trusted-host", help="A host name of your own server (repeatable).")
    ] = None,
    task: Annotated[
        TeacherTask,
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
    speculation: Annotated[
        Literal["none", "ngram", "ngram_map", "draft"],
        typer.Option(help="gguf: speculative decoding (docs/teacher.md, Speed)."),
    ] = "ngram",
    draft_model: Annotated[str | None, typer.Option(help="gguf, --speculation draft: e.g. qwen2.5-coder-0.5b.")] = None,
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
        sampling=Sampling(max_tokens=max_tokens, temperature=temperature),
        speculation=Speculation(kind=speculation, draft_model=draft_model),
        allow_remote=allow_remote,
        trusted_hosts=trusted_host or [],
    )
    cohort = load_cohort(cohort_name)
    records = select_records(cohort, split, splits_file, seed)[:limit]
    out = out or Path("runs") / "rationales" / f"{cohort.name}-{split}-{task}.jsonl"
    cache = cache or teacher_cache_path()
    try:
        with progress_bars(rate=True) as bars:
            observer = RichObserver(bars)
            run = rationalize(
                cohort,
                records,
                config,
                out,
                task=task,
                prompt=prompt,
                exemplars=exemplars,
                zero_shot=zero_shot,
                cache=cache,
                observer=observer,
            )
            observer.finish()
    except TeacherUnavailable as exc:
        if exc.partial is not None:
            print_run_summary(exc.partial.summary)
            console.print(f"Results so far: {out}")
        raise
    except KeyboardInterrupt:
        err_console.print(
            f"[yellow]Interrupted.[/] Finished generations are in {cache}; run the same command again to resume."
        )
        raise typer.Exit(code=130) from None
    print_run_summary(run.summary)
    if task == "clinragen":
        supported, checked = series_claim_counts(run, records)
        rate = f"{supported / checked:.3f}" if checked else "–"
        console.print(
            f"Verified-claim rate of the kept rationales: {rate} ({supported} of {checked} claims about the time "
            "series and quotes of the note are supported by the record)"
        )
    console.print(f"Results: {out} (summary: {out.with_suffix('.summary.json')}); cache: {cache}")
    if export_cache is not None:
        with TeacherCache(cache) as store:
            count = store.export_jsonl(export_cache, cohort=cohort.name)
        console.print(f"Exported {count} cached generation(s) of {cohort.name} to {export_cache}")


@teacher_app.command("list")
def teacher_list() -> None:
    """Packaged GGUF teacher models (and whether they are installed) and the prompt templates."""
    rows = []
    for model in PACKAGED_MODELS.values():
        installed = all(importlib.util.find_spec(module) is not None for module in model.modules)
        rows.append([model.name, model.title, "yes" if installed else "no", model.install])
    print_table(
        ResultTable(
            title="Packaged GGUF models (embedded backend: --teacher gguf:NAME)",
            columns=["name", "model", "installed", "install with"],
            rows=rows,
        )
    )
    console.print()
    print_table(
        ResultTable(
            title="Prompt templates (--prompt NAME)",
            columns=["name", "version", "task", "status", "description"],
            rows=[[t.name, str(t.version), t.task, t.status, t.description] for t in list_prompts()],
        )
    )
