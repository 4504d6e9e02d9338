"""Training and prediction of the three segmentation methods compared by `clinreason segment train`:

| method | labelled | unlabelled | references | reasoning |
|---|---|---|---|---|
| `supervised` | Dice + BCE | – | – | – |
| `ssl` (no reasoning) | Dice + BCE, 2 decoders | decoders teach each other | top-k by image | – |
| `cers` | Dice + BCE, 2 decoders | decoders teach each other | top-50 by image, re-ranked by text | bottleneck tokens |
| `dense` | as `cers`, + an auxiliary loss on the score maps | as `cers` | as `cers` | DenseCLIP pixel-text score maps |

Every epoch ends with a checkpoint (`<method>/last.pt`: weights, optimizer, pool, history); a rerun
continues from it, and a finished method is not trained again.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from clinreason.errors import CheckpointError, DataError
from clinreason.vision.data import Slice2D
from clinreason.vision.losses import SupervisedLoss, mutual_loss, ramp_weight
from clinreason.vision.network import CersNet
from clinreason.vision.pool import KnowledgePool

log = logging.getLogger(__name__)
Method = Literal["supervised", "ssl", "cers", "dense"]
TEXT_METHODS = ("cers", "dense")  # the methods that read the reasoning


class TrainSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(default=40, ge=1)
    batch_size: int = Field(default=4, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0)
    channels: tuple[int, int, int, int, int] = (16, 32, 64, 128, 256)
    k: int = Field(default=5, ge=1, description="References per image.")
    shortlist: int = Field(default=50, ge=1, description="Candidates by image embedding before the text re-rank.")
    momentum: float = Field(default=0.99, ge=0, lt=1, description="EMA of the pool's image embeddings.")
    ramp_epochs: int = Field(default=10, ge=0, description="Epochs to ramp the unsupervised weight in.")
    unsupervised_weight: float = Field(default=1.0, ge=0)
    temperature: float = Field(default=0.1, gt=0, le=1, description="Sharpening of the pseudo-labels.")
    cache_references: bool = Field(
        default=True,
        description="Keep the pool's encoder features, refreshed once an epoch with its embeddings, instead of "
        "encoding each image's K references at every step (false: the original, K+1 encoder passes a step).",
    )
    augment: bool = Field(
        default=True, description="MONAI flips, 90-degree rotations, small affine, intensity scale and noise."
    )
    dense_aux_weight: float = Field(
        default=0.4, ge=0, description="dense: weight of the auxiliary segmentation loss on the score maps."
    )
    seed: int = 0


@dataclass
class TrainedModel:
    method: Method
    net: CersNet
    pool: KnowledgePool | None
    embeddings: dict[str, np.ndarray]  # every image's current encoder embedding (EMA)
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def _stack(images: Sequence[Slice2D]) -> torch.Tensor:
    return torch.from_numpy(np.stack([s.image for s in images]))[:, None].float()


def _masks(images: Sequence[Slice2D]) -> torch.Tensor:
    return torch.from_numpy(np.stack([s.mask for s in images]))[:, None].float()


@torch.no_grad()
def _embed_all(net: CersNet, images: Sequence[Slice2D], batch_size: int = 16) -> dict[str, np.ndarray]:
    net.eval()
    out = {}
    for begin in range(0, len(images), batch_size):
        chunk = images[begin : begin + batch_size]
        embeddings = net.embed(_stack(chunk).to(next(net.parameters()).device)).cpu().numpy()
        out.update({s.id: e for s, e in zip(chunk, embeddings, strict=True)})
    net.train()
    return out


def _references(
    model: TrainedModel,
    batch: Sequence[Slice2D],
    by_id: dict[str, Slice2D],
    text_embeddings: dict[str, np.ndarray] | None,
    device: str | torch.device,
) -> dict[str, object]:
    """The network's reference inputs for a batch: the pool's cached features of the chosen references
    (`reference_features`, one (B, K, C, h, w) tensor per scale) or their images (`references`,
    (B, K, 1, H, W)), and with reasoning the (B, 1+K, D) text embeddings (`texts`)."""
    assert model.pool is not None
    use_text = model.method in TEXT_METHODS
    chosen, texts = [], []
    for image in batch:
        query_text = text_embeddings[image.id] if (use_text and text_embeddings) else None
        chosen.append(model.pool.select(model.embeddings[image.id], query_text, exclude=image.id, use_text=use_text))
        if model.method == "dense" and text_embeddings:  # the class prompts, then the image's own reasoning
            texts.append(np.stack([*class_prompts(image.target), text_embeddings[image.id]]))
        elif use_text and text_embeddings:
            texts.append(np.stack([text_embeddings[image.id], *[text_embeddings[c] for c in chosen[-1]]]))
    inputs: dict[str, object] = {"texts": torch.from_numpy(np.stack(texts)).float().to(device) if texts else None}
    if model.pool.features:
        inputs["reference_features"] = [f.to(device) for f in model.pool.gathered(chosen)]
    else:
        refs = np.stack([np.stack([by_id[c].image for c in row]) for row in chosen])
        inputs["references"] = torch.from_numpy(refs)[:, :, None].float().to(device)
    return inputs


@lru_cache(maxsize=64)
def class_prompts(target: str) -> tuple[np.ndarray, np.ndarray]:
    """DenseCLIP's class prompts for a binary task, embedded like the reasoning (MiniLM): background, target."""
    from clinreason.embeddings import embed

    background, lesion = embed([f"background of the image, no {target}", f"a {target}"])
    return background, lesion


def dense_aux_logits(scores: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The score maps' target-minus-background difference, upsampled: the auxiliary loss's logits (B, 1, H, W)."""
    difference = (scores[:, 1] - scores[:, 0])[:, None]
    return nn.functional.interpolate(difference, size=size, mode="bilinear", align_corners=False)


@torch.no_grad()
def cache_pool_features(net: CersNet, pool: KnowledgePool, images: Sequence[Slice2D], batch_size: int = 16) -> None:
    """Encode the pool's images once and keep their features in the pool (on the network's device)."""
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    features: dict[str, list[torch.Tensor]] = {}
    for begin in range(0, len(images), batch_size):
        chunk = images[begin : begin + batch_size]
        encoded = net.encode_references(_stack(chunk).to(device))
        for row, image in enumerate(chunk):
            features[image.id] = [f[row] for f in encoded]
    pool.cache_features(features)
    net.train(was_training)


def augmentation(seed: int, with_mask: bool) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Standard 2D augmentation through MONAI dictionary transforms, deterministic for a seed: flips,
    90-degree rotations, a small affine (rotation, scale), intensity scaling and Gaussian noise (the
    mask follows every geometric transform, by nearest neighbour)."""
    from monai.transforms import (
        Compose,
        RandAffined,
        RandFlipd,
        RandGaussianNoised,
        RandRotate90d,
        RandScaleIntensityd,
    )

    keys = ["image", "mask"] if with_mask else ["image"]
    modes = ["bilinear", "nearest"] if with_mask else ["bilinear"]
    pipeline = Compose(
        [
            RandFlipd(keys, prob=0.5, spatial_axis=0),
            RandFlipd(keys, prob=0.5, spatial_axis=1),
            RandRotate90d(keys, prob=0.5, max_k=3),
            RandAffined(
                keys, prob=0.3, rotate_range=0.26, scale_range=0.1, mode=modes, padding_mode="zeros"
            ),  # up to 15 degrees and 10%
            RandScaleIntensityd("image", factors=0.1, prob=0.5),
            RandGaussianNoised("image", prob=0.3, std=0.02),
        ]
    )
    pipeline.set_random_state(seed=seed)

    def apply(item: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = pipeline({k: item[k][None].astype(np.float32) for k in keys})
        return {k: np.asarray(out[k])[0] for k in keys}

    return apply


def _augmented(
    images: Sequence[Slice2D], transform: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A labelled batch's images and masks, augmented together when `transform` is given."""
    if transform is None:
        return _stack(images), _masks(images)
    pairs = [transform({"image": s.image, "mask": s.mask.astype(np.float32)}) for s in images]
    image = torch.from_numpy(np.stack([p["image"] for p in pairs]))[:, None].float()
    return image, torch.from_numpy(np.stack([p["mask"] > 0.5 for p in pairs]))[:, None].float()


def _augmented_images(
    images: Sequence[Slice2D], transform: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None
) -> torch.Tensor:
    """An unlabelled batch's images (their masks are never read), augmented when `transform` is given."""
    if transform is None:
        return _stack(images)
    return torch.from_numpy(np.stack([transform({"image": s.image})["image"] for s in images]))[:, None].float()


def _save(path: Path, payload: dict[str, object]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def train_method(
    method: Method,
    labelled: Sequence[Slice2D],
    unlabelled: Sequence[Slice2D],
    settings: TrainSettings,
    out_dir: Path,
    *,
    text_embeddings: dict[str, np.ndarray] | None = None,
    on_epoch: Callable[[int, int, float], None] | None = None,
    device: str | None = None,
) -> TrainedModel:
    if not any(s.mask.any() for s in labelled):
        raise DataError(f"{method}: no labelled image shows a lesion; raise the label ratio")
    if method in TEXT_METHODS and text_embeddings is None:
        raise ValueError(f"{method} needs the reasoning text embeddings")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    net = CersNet(channels=settings.channels, guidance="dense" if method == "dense" else "cross").to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=settings.learning_rate, weight_decay=1e-4)
    everything = [*labelled, *unlabelled]
    by_id = {s.id: s for s in everything}
    model = TrainedModel(method, net, None, {})
    start_epoch = 0
    checkpoint = out_dir / "last.pt"
    if checkpoint.is_file():
        try:
            state = torch.load(checkpoint, map_location=device, weights_only=False)
            net.load_state_dict(state["net"])
            optimizer.load_state_dict(state["optimizer"])
        except Exception as exc:
            raise CheckpointError(
                f"{checkpoint}: corrupt checkpoint ({exc}); delete it to train {method} again"
            ) from exc
        start_epoch, model.history, model.embeddings = state["epoch"], state["history"], state["embeddings"]
        model.seconds = state.get("seconds", 0.0)
    if not model.embeddings:
        model.embeddings = _embed_all(net, everything)
    if method != "supervised":
        text = np.stack([text_embeddings[s.id] for s in labelled]) if text_embeddings else np.zeros((len(labelled), 1))
        model.pool = KnowledgePool(
            [s.id for s in labelled],
            text,
            np.stack([model.embeddings[s.id] for s in labelled]),
            shortlist=settings.shortlist,
            k=settings.k,
            momentum=settings.momentum,
        )
        if settings.cache_references:
            cache_pool_features(net, model.pool, labelled)
    criterion = SupervisedLoss()
    steps_per_epoch = max(1, -(-len(labelled) // settings.batch_size))
    for epoch in range(start_epoch, settings.epochs):
        started = time.perf_counter()
        net.train()
        order = list(labelled)
        rng.shuffle(order)
        pool_order = list(unlabelled)
        rng.shuffle(pool_order)
        totals = {"supervised": 0.0, "unsupervised": 0.0}
        # a fresh, seeded random state per epoch: a resumed run augments exactly as an uninterrupted one
        labelled_aug = augmentation(settings.seed * 1000 + epoch, with_mask=True) if settings.augment else None
        unlabelled_aug = augmentation(settings.seed * 1000 + epoch + 500, with_mask=False) if settings.augment else None
        for step in range(steps_per_epoch):
            batch = order[step * settings.batch_size : (step + 1) * settings.batch_size] or order[: settings.batch_size]
            images, masks = _augmented(batch, labelled_aug)
            images, masks = images.to(device), masks.to(device)
            if method == "supervised":
                loss = criterion(net(images, plain_only=True).plain, masks)
                totals["supervised"] += loss.item()
            else:
                out = net(images, **_references(model, batch, by_id, text_embeddings, device))
                supervised = criterion(out.plain, masks) + criterion(out.mcam, masks)
                if out.scores is not None and settings.dense_aux_weight:
                    aux = criterion(dense_aux_logits(out.scores, (masks.shape[2], masks.shape[3])), masks)
                    supervised = supervised + settings.dense_aux_weight * aux
                loss = supervised
                totals["supervised"] += supervised.item()
                if pool_order:
                    chunk = [pool_order[(step * settings.batch_size + i) % len(pool_order)] for i in range(len(batch))]
                    unlabelled_images = _augmented_images(chunk, unlabelled_aug)
                    out_u = net(
                        unlabelled_images.to(device),
                        **_references(model, chunk, by_id, text_embeddings, device),
                    )
                    global_step = epoch * steps_per_epoch + step
                    weight = ramp_weight(
                        global_step, settings.ramp_epochs * steps_per_epoch, settings.unsupervised_weight
                    )
                    unsupervised = mutual_loss(out_u.plain, out_u.mcam, settings.temperature)
                    loss = loss + weight * unsupervised
                    totals["unsupervised"] += unsupervised.item()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        # EMA refresh of the embeddings used for selection (queries and pool alike)
        fresh = _embed_all(net, everything)
        m = settings.momentum
        model.embeddings = {i: m * model.embeddings[i] + (1 - m) * fresh[i] for i in fresh}
        if model.pool is not None:
            model.pool.refresh([s.id for s in labelled], np.stack([fresh[s.id] for s in labelled]))
            if settings.cache_references:
                cache_pool_features(net, model.pool, labelled)
        seconds = time.perf_counter() - started
        model.seconds += seconds
        model.history.append(
            {"epoch": epoch + 1, **{k: v / steps_per_epoch for k, v in totals.items()}, "seconds": seconds}
        )
        _save(
            checkpoint,
            {
                "net": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch + 1,
                "history": model.history,
                "embeddings": model.embeddings,
                "seconds": model.seconds,
                "method": method,
            },
        )
        if on_epoch is not None:
            on_epoch(epoch + 1, settings.epochs, totals["supervised"] / steps_per_epoch)
    (out_dir / "history.json").write_text(json.dumps(model.history, indent=2) + "\n")
    return model


@torch.no_grad()
def predict(
    model: TrainedModel,
    images: Sequence[Slice2D],
    *,
    text_embeddings: dict[str, np.ndarray] | None = None,
    pool_images: dict[str, Slice2D] | None = None,
    batch_size: int = 8,
    cache_references: bool = True,
) -> dict[str, np.ndarray]:
    """Probabilities (H, W) per image: the plain decoder for `supervised`, the MCAM decoder otherwise.
    With `cache_references` the pool's images are encoded once (when the pool holds no features yet)."""
    net = model.net
    net.eval()
    device = next(net.parameters()).device
    fresh = _embed_all(net, images)
    model.embeddings.update({i: e for i, e in fresh.items() if i not in model.embeddings})
    by_id = {**(pool_images or {}), **{s.id: s for s in images}}
    if model.pool is not None and cache_references and not model.pool.features:
        missing = [i for i in model.pool.ids if i not in by_id]
        if missing:
            raise DataError(f"the pool image {missing[0]} is not among the images given for the references")
        cache_pool_features(net, model.pool, [by_id[i] for i in model.pool.ids])
    out: dict[str, np.ndarray] = {}
    for begin in range(0, len(images), batch_size):
        chunk = images[begin : begin + batch_size]
        x = _stack(chunk).to(device)
        if model.method == "supervised":
            logits = net(x, plain_only=True).plain
        else:
            logits = net(x, mcam_only=True, **_references(model, chunk, by_id, text_embeddings, device)).mcam
        for image, probability in zip(chunk, torch.sigmoid(logits)[:, 0].cpu().numpy(), strict=True):
            out[image.id] = probability
    return out
