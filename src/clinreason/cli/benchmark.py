"""`clinreason benchmark`: every model over repeated splits of several cohorts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from clinreason.cli.app import app, console, user_errors
from clinreason.cli.progress import RichObserver, progress_bars
from clinreason.pipeline.benchmark import BenchmarkConfig
from clinreason.yaml_models import load_yaml_model, validate_model


def benchmark_config(
    config_file: Path | None, quick: bool, cohorts: list[str] | None, seeds: int | None, out: Path | None
) -> BenchmarkConfig:
    config = load_yaml_model(config_file, BenchmarkConfig, "benchmark config") if config_file else BenchmarkConfig()
    raw: dict[str, Any] = config.model_dump(mode="json")
    if quick:  # a smoke test: small splits, a few steps, two seeds; by default the cohorts with shipped seeds
        if raw["name"] == "benchmark":
            raw["name"] = "benchmark-quick"
        if config_file is None:
            raw["cohorts"] = ["pima-diabetes", "oasis-2"]
        raw["seeds"] = [0, 1]
        raw["data"].update(train_limit=24, validation_limit=12, test_limit=16)
        raw["student"]["train"].update(max_steps=6, batch_size=4)
        for overrides in raw["student"]["per_objective"].values():
            overrides["max_steps"] = 6
        raw["evaluation"].update(max_new_tokens=64, bootstrap=50)
    if cohorts:
        raw["cohorts"] = cohorts
    if seeds is not None:
        raw["seeds"] = list(range(seeds))
    if out is not None:
        raw["out"] = str(out)
    return validate_model(raw, BenchmarkConfig, "benchmark config", str(config_file or "benchmark"))


@app.command()
@user_errors
def benchmark(
    config_file: Annotated[
        Path | None, typer.Argument(help="Benchmark config (YAML); without one, the defaults (docs/results.md).")
    ] = None,
    cohort: Annotated[list[str] | None, typer.Option("--cohort", help="Cohorts to use (repeat the option).")] = None,
    seeds: Annotated[int | None, typer.Option(min=1, help="Split seeds 0 .. N-1.")] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Small splits, a few steps, two seeds (a smoke test, not a result).")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Benchmark folder (default: runs/benchmark).")] = None,
    show_config: Annotated[bool, typer.Option("--show-config", help="Print the config and exit.")] = False,
) -> None:
    """Every model (students, baselines, the teacher) on the same repeated splits of several real cohorts:
    mean ± sd over seeds and paired differences with 95% intervals. Resumable: run it again to continue."""
    import yaml
    from rich.markdown import Markdown

    from clinreason.pipeline.benchmark import run_benchmark

    config = benchmark_config(config_file, quick, cohort, seeds, out)
    if show_config:
        console.print(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), highlight=False)
        return
    with progress_bars() as bars:
        observer = RichObserver(bars)
        summary = run_benchmark(config, observer)
        observer.finish()
    console.print(Markdown(summary.markdown()))
    console.print(f"Written to {config.folder / 'benchmark.md'}, benchmark.json and benchmark.png")
