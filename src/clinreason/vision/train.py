"""Training and prediction of the three segmentation methods compared by `clinreason segment train`:

| method | labelled | unlabelled | references | reasoning |
|---|---|---|---|---|
| `supervised` | Dice + BCE | – | – | – |
| `ssl` (no reasoning) | Dice + BCE, 2 decoders | decoders teach each other | top-k by image | – |
| `cers` | Dice + BCE, 2 decoders | decoders teach each other | top-50 by image, re-ranked by text | bottleneck tokens |

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
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from clinreason.errors import CheckpointError, DataError
from clinreason.vision.data import Slice2D
from clinreason.vision.losses import SupervisedLoss, mutual_loss, ramp_weight
from clinreason.vision.network import CersNet
from clinreason.vision.pool import KnowledgePool

log = logging.getLogger(__name__)
Method = Literal["supervised", "ssl", "cers"]


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
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(B, K, 1, H, W) reference images and, with reasoning, (B, 1+K, D) text embeddings."""
    assert model.pool is not None
    use_text = model.method == "cers"
    refs, texts = [], []
    for image in batch:
        query_text = text_embeddings[image.id] if (use_text and text_embeddings) else None
        chosen = model.pool.select(model.embeddings[image.id], query_text, exclude=image.id, use_text=use_text)
        refs.append(np.stack([by_id[c].image for c in chosen]))
        if use_text and text_embeddings:
            texts.append(np.stack([text_embeddings[image.id], *[text_embeddings[c] for c in chosen]]))
    ref_tensor = torch.from_numpy(np.stack(refs))[:, :, None].float()
    return ref_tensor, (torch.from_numpy(np.stack(texts)).float() if texts else None)


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
    if method == "cers" and text_embeddings is None:
        raise ValueError("cers needs the reasoning text embeddings")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    net = CersNet(channels=settings.channels).to(device)
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
        for step in range(steps_per_epoch):
            batch = order[step * settings.batch_size : (step + 1) * settings.batch_size] or order[: settings.batch_size]
            images, masks = _stack(batch).to(device), _masks(batch).to(device)
            if method == "supervised":
                loss = criterion(net(images, plain_only=True).plain, masks)
                totals["supervised"] += loss.item()
            else:
                refs, texts = _references(model, batch, by_id, text_embeddings)
                out = net(images, refs.to(device), None if texts is None else texts.to(device))
                supervised = criterion(out.plain, masks) + criterion(out.mcam, masks)
                loss = supervised
                totals["supervised"] += supervised.item()
                if pool_order:
                    chunk = [pool_order[(step * settings.batch_size + i) % len(pool_order)] for i in range(len(batch))]
                    refs_u, texts_u = _references(model, chunk, by_id, text_embeddings)
                    out_u = net(
                        _stack(chunk).to(device), refs_u.to(device), None if texts_u is None else texts_u.to(device)
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
) -> dict[str, np.ndarray]:
    """Probabilities (H, W) per image: the plain decoder for `supervised`, the MCAM decoder otherwise."""
    net = model.net
    net.eval()
    device = next(net.parameters()).device
    fresh = _embed_all(net, images)
    model.embeddings.update({i: e for i, e in fresh.items() if i not in model.embeddings})
    by_id = {**(pool_images or {}), **{s.id: s for s in images}}
    out: dict[str, np.ndarray] = {}
    for begin in range(0, len(images), batch_size):
        chunk = images[begin : begin + batch_size]
        x = _stack(chunk).to(device)
        if model.method == "supervised":
            logits = net(x, plain_only=True).plain
        else:
            refs, texts = _references(model, chunk, by_id, text_embeddings)
            logits = net(x, refs.to(device), None if texts is None else texts.to(device)).mcam
        for image, probability in zip(chunk, torch.sigmoid(logits)[:, 0].cpu().numpy(), strict=True):
            out[image.id] = probability
    return out
