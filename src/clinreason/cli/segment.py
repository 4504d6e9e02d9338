"""`clinreason segment train | predict | evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from clinreason.cli.app import app, console, user_errors
from clinreason.cli.progress import RichObserver, progress_bars
from clinreason.cli.show import print_table
from clinreason.yaml_models import load_yaml_model, validate_model

segment_app = typer.Typer(help="Reasoning-guided semi-supervised segmentation (CERS).", no_args_is_help=True)
app.add_typer(segment_app, name="segment")


@segment_app.command("train")
@user_errors
def segment_train(
    data: Annotated[str, typer.Option(help="pyradiomics, nuclei, synthetic, or a nnU-Net/Decathlon folder.")] = (
        "pyradiomics"
    ),
    label_ratio: Annotated[float, typer.Option(min=0.01, max=1.0, help="Share of training slices with masks.")] = 0.25,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs per method.")] = 40,
    teacher: Annotated[str, typer.Option(help="'rules' or backend:model (e.g. gguf:qwen2.5-coder-1.5b).")] = "rules",
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server for --teacher openai:...")] = None,
    size: Annotated[int, typer.Option(min=32, help="Slices are resized to SIZE x SIZE.")] = 128,
    seed: Annotated[int, typer.Option(help="Seed of the split and the training.")] = 0,
    seeds: Annotated[
        int, typer.Option(min=1, help="Seeds 0 .. N-1, one run each in OUT/seed-N, with mean ± sd (1: OUT itself).")
    ] = 1,
    split_by: Annotated[
        Literal["case", "fold", "slice"],
        typer.Option(help="case: patients apart; fold: the same as cross-validation, seed k tests fold k; slice."),
    ] = "case",
    config: Annotated[Path | None, typer.Option(help="YAML with any SegmentConfig field (overrides flags).")] = None,
    out: Annotated[Path, typer.Option(help="Run folder.")] = Path("runs/segment"),
    export_reasoning: Annotated[
        Path | None,
        typer.Option(help="Afterwards, write the teacher's cached reasoning for these slices here (.jsonl.gz)."),
    ] = None,
) -> None:
    """Train CERS, DenseCLIP-guided CERS and both baselines (supervised only; semi-supervised without
    reasoning) and evaluate them."""
    from clinreason.pipeline.segment import export_reasoning as export
    from clinreason.pipeline.segment import run_segment, run_segment_seeds
    from clinreason.vision.config import SegmentConfig
    from clinreason.vision.train import TrainSettings

    values: dict[str, object] = {
        "data": data,
        "label_ratio": label_ratio,
        "teacher": teacher,
        "base_url": base_url,
        "size": size,
        "seed": seed,
        "split_by": split_by,
        "out": out,
        "train": TrainSettings(epochs=epochs, seed=seed).model_dump(),
    }
    if config is not None:
        settings = load_yaml_model(config, SegmentConfig, "segmentation config", defaults=values)
    else:
        settings = validate_model(values, SegmentConfig, "segmentation config", "segment train")
    if seeds > 1:
        with progress_bars() as bars:
            observer = RichObserver(bars)
            _, combined = run_segment_seeds(settings, list(range(seeds)), observer)
            observer.finish()
        print_table(combined.table())
        console.print(f"Written to {settings.out / 'segment-seeds.json'} and segment-seeds.md (runs in seed-N)")
    else:
        with progress_bars() as bars:
            observer = RichObserver(bars)
            summary = run_segment(settings, observer)
            observer.finish()
        print_table(summary.table())
        console.print(f"Written to {settings.out} (metrics.json, metrics.md, report.html, checkpoints)")
    if export_reasoning is not None:
        count = export(settings, export_reasoning)
        console.print(f"Exported {count} cached reasoning generation(s) to {export_reasoning}")


@segment_app.command("evaluate")
@user_errors
def segment_evaluate(run: Annotated[Path, typer.Argument(help="A run folder of `segment train`.")]) -> None:
    """Recompute metrics and the report from a run's saved predictions."""
    from clinreason.pipeline.segment import evaluate_run

    print_table(evaluate_run(run).table())


@segment_app.command("predict")
@user_errors
def segment_predict(
    run: Annotated[Path, typer.Argument(help="A run folder of `segment train`.")],
    images: Annotated[Path, typer.Option(help="Folder of NIfTI / NRRD / PNG images (no masks needed).")],
    method: Annotated[
        Literal["supervised", "ssl", "cers", "dense"], typer.Option(help="Which trained method.")
    ] = "cers",
    out: Annotated[Path, typer.Option(help="Where the PNG masks go.")] = Path("runs/segment-predictions"),
) -> None:
    """Masks for new images with a trained method."""
    from clinreason.vision.inference import predict_images

    written = predict_images(run, images, method, out)
    console.print(f"{len(written)} mask(s) written to {out}")
