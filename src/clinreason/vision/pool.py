"""The CERS knowledge pool: labelled images with their reasoning texts, and reference selection.

Selection for a query image: the `shortlist` (50) pool entries nearest by image embedding (cosine),
re-ranked by the similarity of their reasoning text to the query's (MiniLM, cosine), keep `k` (5).
With `use_text=False` (the baseline without reasoning) the shortlist order is kept. Pool image
embeddings come from the network's encoder and are refreshed by EMA (momentum 0.99) once per epoch,
so references follow the encoder without jumping.
"""

from __future__ import annotations

from collections.abc import Sequence

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

    def state(self) -> dict[str, object]:
        return {"ids": self.ids, "text": self.text, "image": self.image}
