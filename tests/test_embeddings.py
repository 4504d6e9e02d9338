from __future__ import annotations

import numpy as np

from clinreason.embeddings import embed


def test_embeddings_are_unit_length_and_closer_for_related_texts() -> None:
    vectors = embed(["high blood sugar", "elevated plasma glucose", "a broken wrist"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2
