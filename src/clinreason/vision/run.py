"""`clinreason segment train`: CERS and its two baselines on one dataset and label ratio, one folder.

1. slices (bundled pyradiomics tumours, the stardist nuclei tiles, the synthetic lesions, or a
   nnU-Net / Decathlon folder) and a labelled / unlabelled / test split saved with its seed;
2. the supervised baseline on the labelled slices (it also provides the predictions from which the
   unlabelled and test slices are described: their masks are never used);
3. lesion descriptors and reasoning text per slice (teacher, cached; or the descriptor rules);
4. the semi-supervised scheme without reasoning, and CERS;
5. Dice / IoU / HD95 / ASD per test slice and their means, `metrics.json`, `metrics.md`, `report.html`
   with overlays of each method's prediction on the test images.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from clinreason.errors import CheckpointError, ConfigError
from clinreason.evaluate.segmentation import SegmentationMetrics
from clinreason.progress import Observer
from clinreason.vision.data import Slice2D, SliceSplit, load_folder, split_slices, volume_slices
from clinreason.vision.descriptors import describe
from clinreason.vision.train import Method, TrainedModel, TrainSettings, predict, train_method

METHODS: tuple[Method, ...] = ("supervised", "ssl", "cers")
TITLES = {"supervised": "supervised only (U-Net)", "ssl": "semi-supervised, no reasoning", "cers": "CERS"}


class SegmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: str = Field(default="pyradiomics", description="pyradiomics, nuclei, synthetic, or a dataset folder.")
    modality: str = Field(default="unknown", description="A dataset folder's modality (for the reasoning).")
    anatomy: str = Field(default="unknown")
    size: int = Field(default=128, ge=32, description="Slices are resized to size x size.")
    context: int = Field(default=2, ge=0, description="Lesion-free slices kept on each side of a lesion.")
    synthetic_images: int = Field(default=160, ge=10)
    label_ratio: float = Field(default=0.25, gt=0, le=1)
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    seed: int = 0
    teacher: str = Field(default="rules", description="'rules' (descriptor sentences) or backend:model.")
    base_url: str | None = None
    teacher_sees_image: bool = Field(
        default=False, description="openai teachers only: send each slice as an image next to its descriptors."
    )
    methods: list[Literal["supervised", "ssl", "cers"]] = Field(default_factory=lambda: list(METHODS))
    train: TrainSettings = Field(default_factory=TrainSettings)
    out: Path = Path("runs/segment")

    @model_validator(mode="after")
    def _vision_teacher(self) -> SegmentConfig:
        if self.teacher_sees_image and not self.teacher.startswith("openai:"):
            raise ValueError("teacher_sees_image needs an OpenAI-compatible vision model (teacher: openai:MODEL)")
        return self


def load_slices(config: SegmentConfig) -> list[Slice2D]:
    if config.data == "pyradiomics":
        from clinreason.vision.bundled import pyradiomics_slices

        return pyradiomics_slices(size=config.size, context=config.context)
    if config.data == "nuclei":
        from clinreason.vision.bundled import nuclei_tiles

        return nuclei_tiles(size=config.size)
    if config.data == "synthetic":
        from clinreason.vision.synthetic import make_lesion_images

        return make_lesion_images(config.synthetic_images, size=config.size, seed=config.seed)
    folder = Path(config.data)
    if not folder.is_dir():
        raise ConfigError(f"data: '{config.data}' is not pyradiomics, nuclei, synthetic or a dataset folder")
    volumes = load_folder(folder, modality=config.modality, anatomy=config.anatomy)
    return [s for v in volumes for s in volume_slices(v, size=config.size, context=config.context)]


def _reasoning(
    config: SegmentConfig, slices: list[Slice2D], masks: dict[str, np.ndarray], observer: Observer
) -> tuple[dict[str, str], dict[str, Any]]:
    from clinreason.teacher import TeacherConfig, connect, load_prompt
    from clinreason.vision.reasoning import generate_reasoning

    descriptors = {s.id: describe(s.image, masks[s.id], s.spacing) for s in slices}
    template = load_prompt("cers-reasoning")
    observer.phase(f"reasoning ({config.teacher})", len(slices))
    advance = observer.counter(len(slices), "images")

    if config.teacher == "rules":
        run = generate_reasoning(slices, descriptors, template, None, None, on_result=advance)
    else:
        with connect(TeacherConfig.from_spec(config.teacher, base_url=config.base_url)) as session:
            run = generate_reasoning(
                slices,
                descriptors,
                template,
                session.backend,
                session.cache,
                with_image=config.teacher_sees_image,
                on_result=advance,
            )
    with (config.out / "reasoning.jsonl").open("w") as handle:
        for s in slices:
            row = {"id": s.id, "source": run.source[s.id], "text": run.texts[s.id], **descriptors[s.id].as_dict()}
            handle.write(json.dumps(row) + "\n")
    counts = {"teacher": config.teacher, "generated": run.generated, "cached": run.cached, "fallback": run.fallback}
    return run.texts, counts


def run_segment(config: SegmentConfig, observer: Observer | None = None) -> dict[str, Any]:
    observer = observer or Observer()
    started = time.perf_counter()
    config.out.mkdir(parents=True, exist_ok=True)
    (config.out / "config.json").write_text(config.model_dump_json(indent=2) + "\n")
    observer.phase("loading images", None)
    slices = load_slices(config)
    split_path = config.out / "split.json"
    split = (
        SliceSplit.load(split_path)
        if split_path.is_file()
        else split_slices(slices, config.label_ratio, test_fraction=config.test_fraction, seed=config.seed)
    )
    split.save(split_path)
    by_id = {s.id: s for s in slices}
    missing = [i for i in split.labelled + split.unlabelled + split.test if i not in by_id]
    if missing:
        raise ConfigError(f"{split_path} names slices this data does not have (e.g. {missing[0]}); delete it")
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

    models: dict[str, TrainedModel] = {}
    supervised = train("supervised", None)
    if "supervised" in config.methods:
        models["supervised"] = supervised
    # describe unlabelled and test slices from the supervised predictions, never from their masks
    guessed = predict(supervised, unlabelled + test)
    masks = {**{s.id: s.mask for s in labelled}, **{i: p > 0.5 for i, p in guessed.items()}}
    texts, reasoning_counts = _reasoning(config, slices, masks, observer)
    from clinreason.embeddings import embed

    embeddings = dict(zip([s.id for s in slices], embed([texts[s.id] for s in slices]), strict=True))
    if "ssl" in config.methods:
        models["ssl"] = train("ssl", None)
    if "cers" in config.methods:
        models["cers"] = train("cers", embeddings)
    observer.phase("evaluating", len(models))
    results: dict[str, Any] = {}
    probabilities: dict[str, dict[str, np.ndarray]] = {}
    (config.out / "predictions").mkdir(exist_ok=True)
    for number, (method, model) in enumerate(models.items(), start=1):
        probabilities[method] = predict(model, test, text_embeddings=embeddings, pool_images=by_id)
        np.savez_compressed(config.out / "predictions" / f"{method}.npz", **probabilities[method])
        metric = SegmentationMetrics()
        for s in test:
            metric(probabilities[method][s.id] > 0.5, s.mask, s.spacing, s.id)
        results[method] = {
            **metric.aggregate(),
            "train_seconds": model.seconds,
            "per_case": metric.rows(),
        }
        observer.advance(number, len(models), method)
    summary = {
        "data": config.data,
        "slices": len(slices),
        "labelled": len(labelled),
        "unlabelled": len(unlabelled),
        "test": len(test),
        "label_ratio": config.label_ratio,
        "seed": config.seed,
        "reasoning": reasoning_counts,
        "train": config.train.model_dump(),
        "methods": results,
        "seconds": time.perf_counter() - started,
    }
    (config.out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    (config.out / "metrics.md").write_text(metrics_table(summary))
    histories = {method: model.history for method, model in models.items()}
    (config.out / "report.html").write_text(render_report(summary, test, probabilities, texts, histories))
    return summary


def metrics_table(summary: dict[str, Any]) -> str:
    def fmt(value: float | None, digits: int = 3) -> str:
        return "–" if value is None else f"{value:.{digits}f}"

    lines = [
        f"Segmentation on {summary['data']}: {summary['labelled']} labelled, {summary['unlabelled']} unlabelled, "
        f"{summary['test']} test slices (label ratio {summary['label_ratio']}, seed {summary['seed']})",
        "",
        "| method | Dice | IoU | HD95 (mm) | ASD (mm) | missed | false positive | both empty |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method, m in summary["methods"].items():
        lines.append(
            f"| {TITLES[method]} | {fmt(m['dice'])} | {fmt(m['iou'])} | {fmt(m['hd95'], 1)} | {fmt(m['asd'], 1)} | "
            f"{m['missed']} | {m['false_positive']} | {m['both_empty']} |"
        )
    return "\n".join(lines) + "\n"


def _overlay_png(image: np.ndarray, truth: np.ndarray, predictions: dict[str, np.ndarray]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 1 + len(predictions), figsize=(2.2 * (1 + len(predictions)), 2.4))
    axes = np.atleast_1d(axes)
    panels = [("ground truth", truth), *[(TITLES[m], p > 0.5) for m, p in predictions.items()]]
    for axis, (title, mask) in zip(axes, panels, strict=True):
        axis.imshow(image.T, cmap="gray")
        if mask.any():
            axis.contour(
                mask.T.astype(float), levels=[0.5], colors=["#00d000" if title == "ground truth" else "#ff3030"]
            )
        axis.set_title(title, fontsize=7)
        axis.axis("off")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return f'<img alt="overlay" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _curves_png(histories: dict[str, list[dict[str, float]]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3))
    for method, history in histories.items():
        axis.plot([h["epoch"] for h in history], [h["supervised"] for h in history], label=TITLES[method])
    axis.set_xlabel("epoch")
    axis.set_ylabel("supervised loss")
    axis.legend(fontsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return f'<img alt="curves" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def render_report(
    summary: dict[str, Any],
    test: list[Slice2D],
    probabilities: dict[str, dict[str, np.ndarray]],
    texts: dict[str, str],
    histories: dict[str, list[dict[str, float]]],
) -> str:
    from clinreason.evaluate.report import CSS

    rows = []
    for method, m in summary["methods"].items():
        rows.append(
            f"<tr><td>{TITLES[method]}</td><td>{m['dice']:.3f} ± {m['dice_std']:.3f}</td><td>{m['iou']:.3f}</td>"
            f"<td>{m['hd95']:.1f}</td><td>{m['asd']:.1f}</td><td>{m['missed']}</td><td>{m['false_positive']}</td>"
            f"<td>{m['both_empty']}</td><td>{m['train_seconds']:.0f}</td></tr>"
        )
    table = (
        "<table><tr><th>method</th><th>Dice ± sd</th><th>IoU</th><th>HD95 (mm)</th><th>ASD (mm)</th><th>missed</th>"
        "<th>false positive</th><th>both empty</th><th>training s</th></tr>" + "".join(rows) + "</table>"
    )
    cases = []
    for s in test:
        overlay = _overlay_png(s.image, s.mask, {m: p[s.id] for m, p in probabilities.items()})
        cases.append(
            f"<div class=patient><b>{html.escape(s.id)}</b> ({html.escape(s.modality)}, {html.escape(s.anatomy)})"
            f"<br>{overlay}<div class=rationale>{html.escape(texts.get(s.id, ''))}</div></div>"
        )
    notes = (
        "Missed lesions and false positives count in every mean (Dice 0, distances = the image diagonal); "
        "the reasoning of test slices comes from the supervised model's prediction, never from their masks."
    )
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>clinreason segment</title><style>{CSS}</style>"
        f"</head><body><h1>Segmentation: {html.escape(str(summary['data']))}</h1>"
        f"<p class=muted>{summary['labelled']} labelled, {summary['unlabelled']} unlabelled, {summary['test']} test "
        f"slices; label ratio {summary['label_ratio']}; seed {summary['seed']}; reasoning by "
        f"{html.escape(str(summary['reasoning']['teacher']))}</p>{table}<p class=muted>{notes}</p>"
        f"<h2>Training</h2>{_curves_png(histories)}<h2>Test slices</h2>"
        "<p class=muted>green: ground truth; red: prediction. The text is the slice's reasoning.</p>"
        + "".join(cases)
        + "</body></html>"
    )


def load_run(folder: Path) -> tuple[SegmentConfig, SliceSplit, list[Slice2D]]:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ConfigError(f"{folder} is not a segmentation run folder (no config.json); run `segment train` first")
    config = SegmentConfig.model_validate_json(config_path.read_text())
    return config, SliceSplit.load(folder / "split.json"), load_slices(config)


def load_trained(folder: Path, method: Method, config: SegmentConfig, labelled: list[Slice2D]) -> TrainedModel:
    """A trained method from its checkpoint (weights, the EMA embeddings and the knowledge pool)."""
    import torch

    from clinreason.vision.network import CersNet
    from clinreason.vision.pool import KnowledgePool

    path = folder / method / "last.pt"
    if not path.is_file():
        raise CheckpointError(f"no checkpoint for '{method}' in {folder} (expected {path})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        net = CersNet(channels=config.train.channels)
        net.load_state_dict(state["net"])
    except Exception as exc:
        raise CheckpointError(f"{path}: corrupt checkpoint ({exc})") from exc
    pool = None
    if method != "supervised":
        texts = _saved_text_embeddings(folder) if method == "cers" else None
        pool = KnowledgePool(
            [s.id for s in labelled],
            np.stack([texts[s.id] for s in labelled]) if texts else np.zeros((len(labelled), 1)),
            np.stack([state["embeddings"][s.id] for s in labelled]),
            shortlist=config.train.shortlist,
            k=config.train.k,
            momentum=config.train.momentum,
        )
    return TrainedModel(method, net, pool, dict(state["embeddings"]), state["history"], state.get("seconds", 0.0))


def _saved_text_embeddings(folder: Path) -> dict[str, np.ndarray]:
    from clinreason.embeddings import embed

    rows = [json.loads(line) for line in (folder / "reasoning.jsonl").read_text().splitlines() if line.strip()]
    return dict(zip([r["id"] for r in rows], embed([r["text"] for r in rows]), strict=True))


def evaluate_run(folder: Path) -> dict[str, Any]:
    """Metrics and report again from the saved predictions (e.g. after a metric changed)."""
    summary_path = folder / "metrics.json"
    if not summary_path.is_file():
        raise ConfigError(f"{folder} has no metrics.json; train first")
    summary = json.loads(summary_path.read_text())
    _, split, slices = load_run(folder)
    by_id = {s.id: s for s in slices}
    test = [by_id[i] for i in split.test]
    probabilities = {}
    for method in summary["methods"]:
        with np.load(folder / "predictions" / f"{method}.npz") as saved:
            probabilities[method] = {key: saved[key] for key in saved.files}
        metric = SegmentationMetrics()
        for s in test:
            metric(probabilities[method][s.id] > 0.5, s.mask, s.spacing, s.id)
        seconds = summary["methods"][method].get("train_seconds")
        summary["methods"][method] = {**metric.aggregate(), "train_seconds": seconds, "per_case": metric.rows()}
    texts = {}
    for line in (folder / "reasoning.jsonl").read_text().splitlines():
        row = json.loads(line)
        texts[row["id"]] = row["text"]
    # the training curves come from each method's history.json: no network needs loading to redraw them
    histories = {m: json.loads((folder / m / "history.json").read_text()) for m in summary["methods"]}
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    (folder / "metrics.md").write_text(metrics_table(summary))
    (folder / "report.html").write_text(render_report(summary, test, probabilities, texts, histories))
    return summary


def predict_images(folder: Path, images: Path, method: Method, out: Path) -> list[Path]:
    """Masks (PNG, 0/255) for every slice of the images in a folder (NIfTI, NRRD or PNG, no masks needed).
    The reasoning of a new image is written from the run's supervised prediction, as in training."""
    from PIL import Image

    from clinreason.embeddings import embed
    from clinreason.vision.data import SUFFIXES, Volume, is_image, read_image
    from clinreason.vision.reasoning import rule_reasoning

    config, split, slices = load_run(folder)
    by_id = {s.id: s for s in slices}
    labelled = [by_id[i] for i in split.labelled]
    files = sorted(p for p in Path(images).glob("*") if is_image(p))
    if not files:
        raise ConfigError(f"no images ({', '.join(SUFFIXES)}) in {images}")
    new: list[Slice2D] = []
    for path in files:
        array, spacing = read_image(path)
        name = path.name.split(".")[0]
        volume = Volume(f"new-{name}", array, None, spacing, config.modality, config.anatomy)
        new.extend(volume_slices(volume, size=config.size, context=0))
    supervised = load_trained(folder, "supervised", config, labelled)
    guessed = predict(supervised, new)
    texts = None
    if method == "cers":
        written = [rule_reasoning(s, describe(s.image, guessed[s.id] > 0.5, s.spacing)) for s in new]
        texts = {**_saved_text_embeddings(folder), **dict(zip([s.id for s in new], embed(written), strict=True))}
    model = supervised if method == "supervised" else load_trained(folder, method, config, labelled)
    probabilities = predict(model, new, text_embeddings=texts, pool_images=by_id)
    out.mkdir(parents=True, exist_ok=True)
    written_paths = []
    for s in new:
        path = out / f"{s.id}.png"
        Image.fromarray(((probabilities[s.id] > 0.5).T * 255).astype(np.uint8)).save(path)
        written_paths.append(path)
    return written_paths
