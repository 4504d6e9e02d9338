"""A finished segmentation run folder put to use: its config, split and slices read back, a trained
method loaded from its checkpoint, and masks predicted for new images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from clinreason.embeddings import embed
from clinreason.errors import CheckpointError, ConfigError
from clinreason.run_folder import read_folder_config
from clinreason.teacher import TeacherBackend
from clinreason.vision.config import SegmentConfig
from clinreason.vision.data import Slice2D, SliceSplit, volume_slices
from clinreason.vision.descriptors import describe
from clinreason.vision.sources import load_slices
from clinreason.vision.train import Method, TrainedModel, predict

__all__ = ["load_run", "load_trained", "predict_images", "read_reasoning", "saved_text_embeddings"]


def load_run(folder: Path) -> tuple[SegmentConfig, SliceSplit, list[Slice2D]]:
    """The config a run was made with, its split, and the slices that config names."""
    config = read_folder_config(folder, SegmentConfig)
    return config, SliceSplit.load(folder / "split.json"), load_slices(config)


def read_reasoning(folder: Path) -> dict[str, str]:
    """The reasoning text of every slice of the run (`reasoning.jsonl`), by slice id."""
    path = folder / "reasoning.jsonl"
    if not path.is_file():
        raise ConfigError(f"{folder} has no reasoning.jsonl; run `clinreason segment train` to the end first")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {row["id"]: row["text"] for row in rows}


def saved_text_embeddings(folder: Path) -> dict[str, np.ndarray]:
    texts = read_reasoning(folder)
    return dict(zip(texts, embed(list(texts.values())), strict=True))


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
        net = CersNet(channels=config.train.channels, guidance="dense" if method == "dense" else "cross")
        net.load_state_dict(state["net"])
    except Exception as exc:  # truncated file, other network shape: whatever torch raises
        raise CheckpointError(f"{path}: corrupt checkpoint ({exc})") from exc
    pool = None
    if method != "supervised":
        texts = saved_text_embeddings(folder) if method in ("cers", "dense") else None
        pool = KnowledgePool(
            [s.id for s in labelled],
            np.stack([texts[s.id] for s in labelled]) if texts else np.zeros((len(labelled), 1)),
            np.stack([state["embeddings"][s.id] for s in labelled]),
            shortlist=config.train.shortlist,
            k=config.train.k,
            momentum=config.train.momentum,
        )
    return TrainedModel(method, net, pool, dict(state["embeddings"]), state["history"], state.get("seconds", 0.0))


def predict_images(
    folder: Path, images: Path, method: Method, out: Path, *, backend: TeacherBackend | None = None
) -> list[Path]:
    """Masks (PNG, 0/255) for every slice of the images in a folder (NIfTI, NRRD or PNG, no masks needed).
    The reasoning of a new image is written as in training: described from the run's supervised
    prediction, by the run's own teacher (cached; `backend` replaces it, e.g. a test double), and saved
    beside the masks in `reasoning.jsonl`."""
    from PIL import Image

    from clinreason.vision.data import SUFFIXES, Volume, is_image, read_image
    from clinreason.vision.reasoning import teacher_reasoning

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
    out.mkdir(parents=True, exist_ok=True)
    if method in ("cers", "dense"):
        descriptors = {s.id: describe(s.image, guessed[s.id] > 0.5, s.spacing) for s in new}
        run = teacher_reasoning(
            config.teacher,
            new,
            descriptors,
            base_url=config.base_url,
            with_image=config.teacher_sees_image,
            backend=backend,
        )
        written = [run.texts[s.id] for s in new]
        texts = {**saved_text_embeddings(folder), **dict(zip([s.id for s in new], embed(written), strict=True))}
        with (out / "reasoning.jsonl").open("w") as handle:
            for s in new:
                handle.write(json.dumps({"id": s.id, "source": run.source[s.id], "text": run.texts[s.id]}) + "\n")
    model = supervised if method == "supervised" else load_trained(folder, method, config, labelled)
    probabilities = predict(
        model, new, text_embeddings=texts, pool_images=by_id, cache_references=config.train.cache_references
    )
    written_paths = []
    for s in new:
        path = out / f"{s.id}.png"
        Image.fromarray(((probabilities[s.id] > 0.5).T * 255).astype(np.uint8)).save(path)
        written_paths.append(path)
    return written_paths
