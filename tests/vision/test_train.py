from __future__ import annotations

from pathlib import Path

import pytest

from clinreason.errors import CheckpointError
from clinreason.vision.synthetic import make_lesion_images
from clinreason.vision.train import TrainSettings, train_method


def test_a_corrupt_checkpoint_is_a_checkpoint_error_naming_it(tmp_path: Path) -> None:
    slices = make_lesion_images(6, size=64, seed=0, empty_fraction=0.0)
    (tmp_path / "supervised").mkdir()
    (tmp_path / "supervised" / "last.pt").write_bytes(b"not a torch file")
    settings = TrainSettings(epochs=1, channels=(4, 8, 8, 16, 16))
    with pytest.raises(CheckpointError, match=r"last\.pt: corrupt checkpoint .*delete it to train supervised again"):
        train_method("supervised", slices[:3], slices[3:], settings, tmp_path / "supervised")


def test_cached_reference_features_give_the_same_output_as_encoding_the_references() -> None:
    import torch

    from clinreason.vision.network import CersNet

    torch.manual_seed(0)
    net = CersNet(channels=(4, 8, 8, 16, 16)).eval()
    images, refs = torch.rand(2, 1, 32, 32), torch.rand(2, 3, 1, 32, 32)
    texts = torch.rand(2, 4, 384)
    with torch.no_grad():
        net.cross.gate.fill_(0.5)  # open the cross-attention, so the references' bottleneck matters
        recomputed = net(images, refs, texts)
        encoded = net.encode_references(refs.flatten(0, 1))
        cached = net(images, texts=texts, reference_features=[f.reshape(2, 3, *f.shape[1:]) for f in encoded])
    assert torch.allclose(recomputed.mcam, cached.mcam, atol=1e-6)  # type: ignore[arg-type]
    assert torch.allclose(recomputed.plain, cached.plain, atol=1e-6)


def test_prediction_from_the_pools_cache_matches_encoding_each_images_references(tmp_path: Path) -> None:
    import numpy as np

    from clinreason.embeddings import embed
    from clinreason.vision.train import predict

    slices = make_lesion_images(10, size=64, seed=1, empty_fraction=0.0)
    labelled, unlabelled = slices[:5], slices[5:]
    texts = dict(zip([s.id for s in slices], embed([f"lesion {i}" for i in range(10)]), strict=True))
    settings = TrainSettings(epochs=1, batch_size=2, channels=(4, 8, 8, 16, 16), k=2, shortlist=4)
    model = train_method("cers", labelled, unlabelled, settings, tmp_path / "cers", text_embeddings=texts)
    assert model.pool is not None and set(model.pool.features) == {s.id for s in labelled}  # refreshed each epoch
    pool = {s.id: s for s in labelled}
    cached = predict(model, unlabelled, text_embeddings=texts, pool_images=pool)
    model.pool.features = {}
    recomputed = predict(model, unlabelled, text_embeddings=texts, pool_images=pool, cache_references=False)
    for key in cached:
        np.testing.assert_allclose(cached[key], recomputed[key], atol=1e-5)


def test_augmentation_is_seeded_and_keeps_the_mask_on_the_image() -> None:
    import numpy as np

    from clinreason.vision.train import augmentation

    mask = np.zeros((32, 32), np.float32)
    mask[4:12, 6:20] = 1.0  # off-centre, so every flip and rotation moves it
    item = {"image": mask.copy(), "mask": mask.copy()}
    first = augmentation(7, with_mask=True)(item)
    transform = augmentation(7, with_mask=True)
    again = transform(item)
    np.testing.assert_array_equal(first["image"], again["image"])  # the same seed, the same result
    outputs = [transform(item) for _ in range(8)]
    assert any(not np.array_equal(o["mask"], mask) for o in outputs)  # it does transform
    assert any(not np.array_equal(o["image"], outputs[0]["image"]) for o in outputs[1:])
    for out in outputs:  # geometry applied to both: the bright region is where the mask is
        agree = ((out["image"] > 0.5) == (out["mask"] > 0.5)).mean()
        assert agree > 0.97
    seven, eight = augmentation(7, with_mask=True), augmentation(8, with_mask=True)
    assert any(not np.array_equal(seven(item)["image"], eight(item)["image"]) for _ in range(4))  # another seed
