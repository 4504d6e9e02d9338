"""The CERS knowledge pool: labelled images with their reasoning texts, and reference selection.

Selection for a query image: the `shortlist` (50) pool entries nearest by image embedding (cosine),
re-ranked by the similarity of their reasoning text to the query's (MiniLM, cosine), keep `k` (5).
With `use_text=False` (the baseline without reasoning) the shortlist order is kept. Pool image
embeddings come from the network's encoder and are refreshed by EMA (momentum 0.99) once per epoch,
so references follow the encoder without jumping. The same refresh caches each entry's encoder
features at every scale, so a step does not encode its K references again (CERS's cost was 4.8x a
U-Net step before); between refreshes the cached features lag the encoder by at most an epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-8)


class KnowledgePool:
    def __init__(
        self,
        ids: Sequence[str],
        text_embeddings: np.ndarray,
        image_embeddings: np.ndarray,
        *,
        shortlist: int = 50,
        k: int = 5,
        momentum: float = 0.99,
    ) -> None:
        if not (len(ids) == len(text_embeddings) == len(image_embeddings)):
            raise ValueError("ids, text and image embeddings must have one row per pool entry")
        self.ids = list(ids)
        self.index = {i: n for n, i in enumerate(self.ids)}
        self.text = _unit(np.asarray(text_embeddings, dtype=np.float32))
        self.image = np.asarray(image_embeddings, dtype=np.float32).copy()
        self.shortlist, self.k, self.momentum = shortlist, k, momentum
        # each entry's encoder features at every scale, refreshed with the embeddings (see `cache_features`)
        self.features: dict[str, list[Any]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def select(
        self,
        image_embedding: np.ndarray,
        text_embedding: np.ndarray | None,
        *,
        exclude: str | None = None,
        use_text: bool = True,
    ) -> list[str]:
        """The ids of the k references for one query, best first."""
        image_scores = _unit(self.image) @ _unit(np.asarray(image_embedding, dtype=np.float32))
        order = [n for n in np.argsort(-image_scores, kind="stable") if self.ids[n] != exclude]
        candidates = order[: self.shortlist]
        if use_text and text_embedding is not None:
            text_scores = self.text[candidates] @ _unit(np.asarray(text_embedding, dtype=np.float32))
            candidates = [candidates[n] for n in np.argsort(-text_scores, kind="stable")]
        chosen = [self.ids[n] for n in candidates[: self.k]]
        while chosen and len(chosen) < self.k:  # a pool smaller than k: repeat the best ones
            chosen.append(chosen[len(chosen) % max(1, len(chosen))])
        return chosen

    def refresh(self, ids: Sequence[str], embeddings: np.ndarray) -> None:
        """EMA update of the pool's image embeddings with the encoder's current ones."""
        for entry, embedding in zip(ids, np.asarray(embeddings, dtype=np.float32), strict=True):
            n = self.index[entry]
            self.image[n] = self.momentum * self.image[n] + (1 - self.momentum) * embedding

    def cache_features(self, features: dict[str, list[Any]]) -> None:
        """Replace the cached encoder features (per entry, one tensor (C, h, w) per scale)."""
        unknown = set(features) - set(self.index)
        if unknown:
            raise ValueError(f"features for ids not in the pool: {sorted(unknown)[:3]}")
        self.features = dict(features)

    def gathered(self, chosen: Sequence[Sequence[str]]) -> list[Any]:
        """The cached features of each query's references: one (B, K, C, h, w) tensor per scale."""
        import torch

        scales = len(next(iter(self.features.values())))
        return [torch.stack([torch.stack([self.features[i][n] for i in row]) for row in chosen]) for n in range(scales)]

    def state(self) -> dict[str, object]:
        return {"ids": self.ids, "text": self.text, "image": self.image}
