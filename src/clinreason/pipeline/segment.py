"""`clinreason segment train`: CERS and its two baselines on one dataset and label ratio, one folder.

1. slices (bundled pyradiomics tumours, the stardist nuclei tiles, the synthetic lesions, or a
   nnU-Net / Decathlon folder) and a labelled / unlabelled / test split saved with its seed;
2. the supervised baseline on the labelled slices (it also provides the predictions from which the
   unlabelled and test slices are described: their masks are never used);
3. lesion descriptors and reasoning text per slice (teacher, cached; or the descriptor rules);
4. the semi-supervised scheme without reasoning, and CERS;
5. Dice / IoU / HD95 / ASD per test slice and their means, `metrics.json`, `metrics.md`, `report.html`
   with overlays of each method's prediction on the test images.

The folder is claimed by its config (a changed label ratio or epoch count is refused, not mixed with
the old split and checkpoints); every method checkpoints each epoch, so a rerun continues.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clinreason.embeddings import embed
from clinreason.errors import ConfigError
from clinreason.evaluate.paired import paired_difference, spread
from clinreason.pipeline.shipped import seed_file, segment_seed_name
from clinreason.progress import Observer
from clinreason.run_folder import claim_folder
from clinreason.vision.config import SegmentConfig
from clinreason.vision.data import Slice2D, SliceSplit, split_slices
from clinreason.vision.descriptors import describe
from clinreason.vision.inference import load_run, read_reasoning
from clinreason.vision.reasoning import REASONING_PROMPT, teacher_reasoning
from clinreason.vision.report import render_report
from clinreason.vision.results import TITLES, ReasoningCounts, SegmentSeeds, SegmentSummary, score_method
from clinreason.vision.sources import load_slices
from clinreason.vision.train import Method, TrainedModel, predict, train_method

__all__ = ["evaluate_run", "export_reasoning", "run_segment", "run_segment_seeds"]


def _reasoning(
    config: SegmentConfig, slices: list[Slice2D], masks: dict[str, np.ndarray], observer: Observer
) -> tuple[dict[str, str], ReasoningCounts]:
    descriptors = {s.id: describe(s.image, masks[s.id], s.spacing) for s in slices}
    observer.phase(f"reasoning ({config.teacher})", len(slices))
    run = teacher_reasoning(
        config.teacher,
        slices,
        descriptors,
        base_url=config.base_url,
        with_image=config.teacher_sees_image,
        on_result=observer.counter(len(slices), "images"),
        seed=seed_file(segment_seed_name(config.data)) if config.use_seed else None,
    )
    if run.imported:
        observer.note(f"imported {run.imported} shipped teacher generation(s) for {config.data}")
    with (config.out / "reasoning.jsonl").open("w") as handle:
        for s in slices:
            row = {"id": s.id, "source": run.source[s.id], "text": run.texts[s.id], **descriptors[s.id].as_dict()}
            handle.write(json.dumps(row) + "\n")
    counts = ReasoningCounts(teacher=config.teacher, generated=run.generated, cached=run.cached, fallback=run.fallback)
    return run.texts, counts


def export_reasoning(config: SegmentConfig, path: Path, cache_path: Path | None = None) -> int:
    """The teacher's cached reasoning for this data set's slices, as a seed file for `import_jsonl`
    (how `pipeline/seeds/segment-pyradiomics.jsonl.gz` is made); returns the number of generations."""
    from clinreason.paths import teacher_cache_path
    from clinreason.teacher import TeacherCache, load_prompt

    ids = {s.id for s in load_slices(config)}
    with TeacherCache(cache_path or teacher_cache_path()) as cache:
        return cache.export_jsonl(path, prompt=load_prompt(REASONING_PROMPT).id, record_ids=ids)


def _split(config: SegmentConfig, slices: list[Slice2D]) -> SliceSplit:
    path = config.out / "split.json"
    if path.is_file():
        split = SliceSplit.load(path)
    else:
        try:
            split = split_slices(
                slices,
                config.label_ratio,
                test_fraction=config.test_fraction,
                seed=config.seed,
                by_case=config.split_by == "case",
                folds=config.folds,
            )
        except ValueError as exc:  # e.g. more folds than cases with a lesion
            raise ConfigError(f"{config.data}: cannot split (split_by {config.split_by}): {exc}") from exc
    split.save(path)
    known = {s.id for s in slices}
    missing = [i for i in split.labelled + split.unlabelled + split.test if i not in known]
    if missing:
        raise ConfigError(f"{path} names slices this data does not have (e.g. {missing[0]}); delete it")
    return split


def _write(
    folder: Path,
    summary: SegmentSummary,
    test: list[Slice2D],
    probabilities: Mapping[Method, Mapping[str, np.ndarray]],
    texts: Mapping[str, str],
    histories: Mapping[Method, Sequence[Mapping[str, float]]],
) -> None:
    (folder / "metrics.json").write_text(summary.model_dump_json(indent=2) + "\n")
    (folder / "metrics.md").write_text(summary.table().markdown())
    (folder / "report.html").write_text(render_report(summary, test, probabilities, texts, histories))


def run_segment(config: SegmentConfig, observer: Observer | None = None) -> SegmentSummary:
    observer = observer or Observer()
    started = time.perf_counter()
    claim_folder(config.out, config)
    observer.phase("loading images", None)
    slices = load_slices(config)
    split = _split(config, slices)
    by_id = {s.id: s for s in slices}
    labelled = [by_id[i] for i in split.labelled]
    unlabelled = [by_id[i] for i in split.unlabelled]
    test = [by_id[i] for i in split.test]

    def train(method: Method, texts: dict[str, np.ndarray] | None) -> TrainedModel:
        observer.phase(f"training {TITLES[method]}", config.train.epochs)
        return train_method(
            method,
            labelled,
            unlabelled,
            config.train,
            config.out / method,
            text_embeddings=texts,
            on_epoch=lambda e, n, loss: observer.advance(e, n, f"loss {loss:.3f}"),
        )

    models: dict[Method, TrainedModel] = {}
    supervised = train("supervised", None)
    if "supervised" in config.methods:
        models["supervised"] = supervised
    # describe unlabelled and test slices from the supervised predictions, never from their masks
    guessed = predict(supervised, unlabelled + test)
    masks = {**{s.id: s.mask for s in labelled}, **{i: p > 0.5 for i, p in guessed.items()}}
    texts, reasoning_counts = _reasoning(config, slices, masks, observer)
    embeddings = dict(zip([s.id for s in slices], embed([texts[s.id] for s in slices]), strict=True))
    if "ssl" in config.methods:
        models["ssl"] = train("ssl", None)
    for method in ("cers", "dense"):
        if method in config.methods:
            models[method] = train(method, embeddings)
    observer.phase("evaluating", len(models))
    probabilities: dict[Method, dict[str, np.ndarray]] = {}
    (config.out / "predictions").mkdir(exist_ok=True)
    results = {}
    for number, (method, model) in enumerate(models.items(), start=1):
        probabilities[method] = predict(
            model,
            test,
            text_embeddings=embeddings,
            pool_images=by_id,
            cache_references=config.train.cache_references,
        )
        arrays: dict[str, Any] = probabilities[method]  # by slice id (numpy types **kwds like its own flags)
        np.savez_compressed(config.out / "predictions" / f"{method}.npz", **arrays)
        results[method] = score_method(probabilities[method], test, model.seconds)
        observer.advance(number, len(models), method)
    summary = SegmentSummary(
        data=config.data,
        slices=len(slices),
        labelled=len(labelled),
        unlabelled=len(unlabelled),
        test=len(test),
        label_ratio=config.label_ratio,
        seed=config.seed,
        reasoning=reasoning_counts,
        train=config.train,
        methods=results,
        seconds=time.perf_counter() - started,
    )
    histories = {method: model.history for method, model in models.items()}
    _write(config.out, summary, test, probabilities, texts, histories)
    return summary


def evaluate_run(folder: Path) -> SegmentSummary:
    """Metrics and report again from the saved predictions (e.g. after a metric changed)."""
    _, split, slices = load_run(folder)
    summary_path = folder / "metrics.json"
    if not summary_path.is_file():
        raise ConfigError(f"{folder} has no metrics.json yet: `clinreason segment train` has not finished there")
    summary = SegmentSummary.model_validate_json(summary_path.read_text())
    by_id = {s.id: s for s in slices}
    test = [by_id[i] for i in split.test]
    probabilities: dict[Method, dict[str, np.ndarray]] = {}
    for method, previous in summary.methods.items():
        with np.load(folder / "predictions" / f"{method}.npz") as saved:
            probabilities[method] = {key: saved[key] for key in saved.files}
        summary.methods[method] = score_method(probabilities[method], test, previous.train_seconds)
    # the training curves come from each method's history.json: no network needs loading to redraw them
    histories = {m: json.loads((folder / m / "history.json").read_text()) for m in summary.methods}
    _write(folder, summary, test, probabilities, read_reasoning(folder), histories)
    return summary


def run_segment_seeds(
    config: SegmentConfig, seeds: list[int], observer: Observer | None = None
) -> tuple[list[SegmentSummary], SegmentSeeds]:
    """`run_segment` once per seed in `<out>/seed-<n>` (split and training seeded alike; each resumable),
    then mean ± sd per method and each method's Dice minus the supervised U-Net's with a 95% interval
    (corrected resampled t, `evaluate.paired`)."""
    observer = observer or Observer()
    started = time.perf_counter()
    summaries: list[SegmentSummary] = []
    for seed in seeds:
        observer.note(f"segmentation seed {seed} ({len(summaries) + 1} of {len(seeds)})")
        one = config.model_copy(
            update={
                "seed": seed,
                "out": config.out / f"seed-{seed}",
                "train": config.train.model_copy(update={"seed": seed}),
            }
        )
        summaries.append(run_segment(one, observer))
    names = list(dict.fromkeys(m for s in summaries for m in s.methods))

    def values(method: str, field: str) -> list[float | None]:
        return [getattr(s.methods[method], field) if method in s.methods else None for s in summaries]

    ratio = sum(s.test for s in summaries) / max(sum(s.labelled + s.unlabelled for s in summaries), 1)
    differences = []
    for method in names:
        if method != "supervised" and "supervised" in names:
            diff = paired_difference(
                method, "supervised", "dice", values(method, "dice"), values("supervised", "dice"), ratio
            )
            if diff is not None:
                differences.append(diff)
    result = SegmentSeeds(
        data=config.data,
        seeds=seeds,
        folders=[str(config.out / f"seed-{seed}") for seed in seeds],
        methods={m: {f: spread(values(m, f)) for f in ("dice", "iou", "hd95", "asd")} for m in names},
        differences=differences,
        seconds=time.perf_counter() - started,
    )
    config.out.mkdir(parents=True, exist_ok=True)
    (config.out / "segment-seeds.json").write_text(result.model_dump_json(indent=2) + "\n")
    (config.out / "segment-seeds.md").write_text(result.table().markdown())
    return summaries, result
