from __future__ import annotations

import numpy as np
import pytest
import torch

from clinreason.vision.losses import SupervisedLoss, mutual_loss, ramp_weight, sharpen
from clinreason.vision.pool import KnowledgePool


def _pool(k: int = 2, shortlist: int = 3) -> KnowledgePool:
    # image embeddings: a, b, c close to the query (in that order), d far; texts: c matches the query best
    image = np.array([[1.0, 0.0], [0.95, 0.3], [0.9, 0.45], [-1.0, 0.0]])
    text = np.array([[0.0, 1.0], [0.6, 0.8], [1.0, 0.0], [1.0, 0.0]])
    return KnowledgePool(["a", "b", "c", "d"], text, image, shortlist=shortlist, k=k, momentum=0.9)


def test_shortlist_by_image_then_rerank_by_text() -> None:
    pool = _pool()
    query_image, query_text = np.array([1.0, 0.0]), np.array([1.0, 0.0])
    assert pool.select(query_image, query_text, use_text=False) == ["a", "b"]  # image order only
    assert pool.select(query_image, query_text) == ["c", "b"]  # text re-rank within the shortlist
    assert "d" not in pool.select(query_image, np.array([1.0, 0.0]))  # d's text matches, but not its image
    # without c, the shortlist of 3 reaches d, whose text matches best
    assert pool.select(query_image, query_text, exclude="c") == ["d", "b"]


def test_small_pool_repeats_and_ema_refresh() -> None:
    pool = _pool(k=5, shortlist=50)
    assert len(pool.select(np.array([1.0, 0.0]), None)) == 5
    pool.refresh(["a"], np.array([[0.0, 1.0]]))
    assert np.allclose(pool.image[0], [0.9, 0.1])  # 0.9 * old + 0.1 * new
    with pytest.raises(ValueError, match="one row per pool entry"):
        KnowledgePool(["a"], np.zeros((2, 2)), np.zeros((1, 2)))


@pytest.mark.parametrize(
    ("p", "temperature", "expected"),
    [(0.5, 0.1, 0.5), (0.7, 1.0, 0.7), (0.6, 0.5, 0.36 / (0.36 + 0.16)), (0.9, 0.1, 1.0)],
)
def test_sharpen(p: float, temperature: float, expected: float) -> None:
    assert float(sharpen(torch.tensor(p), temperature)) == pytest.approx(expected, abs=1e-4)


def test_mutual_loss_targets_are_the_other_decoders_sharpened_output() -> None:
    plain = torch.tensor([[2.0, -2.0]], requires_grad=True)
    mcam = torch.tensor([[0.0, 0.0]], requires_grad=True)
    loss = mutual_loss(plain, mcam, temperature=0.1)
    p = torch.sigmoid(torch.tensor([2.0, -2.0]))
    target_for_mcam = sharpen(p, 0.1)  # ~[1, 0]
    expected = ((0.5 - target_for_mcam) ** 2).mean() + ((p - 0.5) ** 2).mean()  # sharpen(0.5) = 0.5
    assert loss.item() == pytest.approx(float(expected), rel=1e-5)
    loss.backward()
    assert plain.grad is not None and mcam.grad is not None  # each decoder learns; targets are detached


def test_ramp_and_supervised_loss() -> None:
    assert ramp_weight(0, 10) == pytest.approx(np.exp(-5))
    assert ramp_weight(10, 10) == pytest.approx(1.0) and ramp_weight(50, 10, 2.0) == pytest.approx(2.0)
    assert ramp_weight(3, 0) == 1.0
    target = torch.zeros(1, 1, 4, 4)
    target[..., :2, :2] = 1
    good, bad = SupervisedLoss()(target * 20 - 10, target), SupervisedLoss()(10 - target * 20, target)
    assert float(good) < 0.01 < 1.0 < float(bad)


def test_reference_batches_have_k_images_and_one_plus_k_texts() -> None:
    from clinreason.vision.data import Slice2D
    from clinreason.vision.network import CersNet
    from clinreason.vision.train import TrainedModel, _references

    rng = np.random.default_rng(0)
    slices = [
        Slice2D(f"s{i}", f"s{i}", rng.random((32, 32), dtype=np.float32), np.zeros((32, 32), bool), (1.0, 1.0))
        for i in range(6)
    ]
    by_id = {s.id: s for s in slices}
    texts = {s.id: rng.standard_normal(384).astype(np.float32) for s in slices}
    embeddings = {s.id: rng.standard_normal(8).astype(np.float32) for s in slices}
    pool = KnowledgePool(
        [s.id for s in slices[:4]],
        np.stack([texts[f"s{i}"] for i in range(4)]),
        np.stack([embeddings[f"s{i}"] for i in range(4)]),
        k=3,
    )
    net = CersNet(channels=(4, 8, 8, 16, 16))
    cers = TrainedModel("cers", net, pool, embeddings)
    inputs = _references(cers, slices[3:5], by_id, texts, "cpu")
    refs, text = inputs["references"], inputs["texts"]
    assert isinstance(refs, torch.Tensor) and isinstance(text, torch.Tensor)
    assert refs.shape == (2, 3, 1, 32, 32) and text.shape == (2, 4, 384)
    assert torch.equal(text[0, 0], torch.from_numpy(texts["s3"]))  # the query's own reasoning comes first
    chosen = pool.select(embeddings["s3"], texts["s3"], exclude="s3")
    assert torch.equal(refs[0, 0, 0], torch.from_numpy(by_id[chosen[0]].image))  # never itself
    ssl = TrainedModel("ssl", net, pool, embeddings)
    plain = _references(ssl, slices[3:5], by_id, texts, "cpu")
    assert plain["references"].shape == (2, 3, 1, 32, 32) and plain["texts"] is None  # type: ignore[union-attr]
    # with the pool's feature cache: the chosen references' features per scale instead of their images
    from clinreason.vision.train import cache_pool_features

    cache_pool_features(net, pool, slices[:4])
    cached = _references(cers, slices[3:5], by_id, texts, "cpu")
    features = cached["reference_features"]
    assert "references" not in cached and isinstance(features, list) and len(features) == 5
    assert features[0].shape == (2, 3, 4, 32, 32) and features[-1].shape == (2, 3, 16, 2, 2)
