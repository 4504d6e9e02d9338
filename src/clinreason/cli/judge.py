"""`clinreason judge`: a run's rationales judged on a rubric by an LLM."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clinreason.cli.app import app, console, err_console, user_errors
from clinreason.cli.progress import RichObserver, progress_bars


@app.command()
@user_errors
def judge(
    run: Annotated[Path, typer.Argument(help="A finished run folder.")],
    rubric: Annotated[str, typer.Option(help="kwon, clinragen, or a rubric YAML file.")] = "kwon",
    judge_model: Annotated[
        str, typer.Option("--judge", help="backend:model of the judge, e.g. gguf:qwen2.5-coder-1.5b, openai:gpt-4o.")
    ] = "gguf:qwen2.5-coder-1.5b",
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server for --judge openai:...")] = None,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Let patient records go to a judge that is not on this machine.")
    ] = False,
    trusted_host: Annotated[
        list[str] | None, typer.Option("--trusted-host", help="A host name of your own server (repeatable).")
    ] = None,
    with_gold: Annotated[
        bool, typer.Option("--with-gold", help="Show the judge the gold label (default: it judges blind).")
    ] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N patients of the split.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the judging order and the intervals.")] = 0,
    cache: Annotated[Path | None, typer.Option(help="SQLite cache (default: the teacher cache).")] = None,
    control: Annotated[
        bool,
        typer.Option(
            "--control", help="Also judge the teacher's references with their stated values made wrong (a check)."
        ),
    ] = False,
) -> None:
    """Score every rationale of RUN's evaluation split on a rubric (1-5 per criterion, with reasons); per-model
    means with 95% intervals go to RUN/judge/, metrics.json and report.html. Cached and resumable."""
    from clinreason.pipeline.judge import judge_run, judge_table
    from clinreason.teacher import TeacherConfig

    config = TeacherConfig.from_spec(
        judge_model, base_url=base_url, allow_remote=allow_remote, trusted_hosts=trusted_host or []
    )
    with progress_bars(rate=True) as bars:
        observer = RichObserver(bars)
        summary = judge_run(
            run,
            rubric,
            config,
            with_gold=with_gold,
            limit=limit,
            seed=seed,
            cache=cache,
            observer=observer,
            control=control,
        )
        observer.finish()
    console.print(judge_table(summary), highlight=False, soft_wrap=True)
    err_console.print(f"written to {run / 'judge'} (and metrics.json, report.html)", highlight=False)


@app.command()
@user_errors
def review(
    run: Annotated[Path, typer.Argument(help="A finished run folder.")],
    rubric: Annotated[str, typer.Option(help="kwon, clinragen, or a rubric YAML file.")] = "kwon",
    host: Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps it on this machine.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8010,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N patients of the split.")] = None,
    summary: Annotated[
        bool, typer.Option("--summary", help="Print per-model means and agreement instead of serving the page.")
    ] = False,
    export: Annotated[Path | None, typer.Option(help="Write every rating to this .csv or .json file and exit.")] = None,
) -> None:
    """A local web page where clinicians rate the run's rationales (blind, shuffled, saved at once in
    RUN/review.sqlite, resumable, several raters); --summary for means and inter-rater agreement."""
    from clinreason.pipeline.judge import review_summary, review_table, serve_review, write_review_export

    if summary:
        console.print(review_table(review_summary(run, rubric)), highlight=False, soft_wrap=True)
        return
    if export is not None:
        count = write_review_export(run, rubric, export)
        err_console.print(f"{count} rating(s) written to {export}", highlight=False)
        return
    err_console.print(f"review page on http://{host}:{port} (ratings in {run / 'review.sqlite'})", highlight=False)
    serve_review(run, rubric, host=host, port=port, limit=limit)
