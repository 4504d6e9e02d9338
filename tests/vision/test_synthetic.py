"""The synthetic look-alike lesions: deterministic, and the context (organ, margin) decides the mask."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from clinreason.vision.data import Slice2D
from clinreason.vision.synthetic import make_lesion_images


@pytest.fixture(scope="module")
def images() -> list[Slice2D]:
    return make_lesion_images(200, size=96, seed=0)


def _disc(shape: tuple[int, ...], cy: float, cx: float, r_in: float, r_out: float | None = None) -> np.ndarray:
    """Pixels within `r_in` of the centre, or in the ring from `r_in` to `r_out`."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    rho = np.hypot(yy - cy, xx - cx)
    return rho <= r_in if r_out is None else (rho >= r_in) & (rho <= r_out)


def _core_mean(image: np.ndarray, cy: float, cx: float, radius: float) -> float:
    return float(image[_disc(image.shape, cy, cx, 0.5 * radius)].mean())


def _edge_sharpness(image: np.ndarray, cy: float, cx: float, radius: float, ramp: float) -> float:
    """Mean gradient magnitude on the blob's edge pixels (between 25 and 75 % of the way from the
    surround to the core), relative to that step, so that blobs on darker tissue are not favoured."""
    extent = radius * 1.12 + ramp  # largest outline radius plus the blurred ramp
    core = float(np.median(image[_disc(image.shape, cy, cx, 0.5 * radius)]))
    surround = float(np.median(image[_disc(image.shape, cy, cx, extent + 0.5, extent + 2.5)]))
    step = core - surround
    gy, gx = np.gradient(image.astype(np.float64))
    window = _disc(image.shape, cy, cx, extent + 0.5)
    edge = window & (image > surround + 0.25 * step) & (image < surround + 0.75 * step)
    assert edge.sum() >= 5
    return float(np.hypot(gy, gx)[edge].mean() / step)


def test_same_seed_same_images_and_other_seed_differs() -> None:
    first, again, other = make_lesion_images(4, seed=3), make_lesion_images(4, seed=3), make_lesion_images(4, seed=4)
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.image, b.image)
        assert np.array_equal(a.mask, b.mask)
        assert a.extra == b.extra
    assert not any(np.array_equal(a.image, b.image) for a, b in zip(first, other, strict=True))
    # image i depends only on (seed, i): a shorter run is a prefix of a longer one
    longer = make_lesion_images(6, seed=3)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(first, longer, strict=False))


def test_shapes_dtypes_ranges_and_names(images: list[Slice2D]) -> None:
    assert [item.id for item in images[:3]] == ["syn-0000", "syn-0001", "syn-0002"]
    for item in images:
        assert item.case_id == item.id
        assert item.image.shape == (96, 96) and item.image.dtype == np.float32
        assert item.image.min() >= 0.0 and item.image.max() <= 1.0
        assert item.mask.shape == (96, 96) and item.mask.dtype == np.bool_
        assert (item.modality, item.anatomy, item.target) == ("synthetic MRI", "abdomen", "lesion")
        assert item.spacing == (1.0, 1.0)
    small = make_lesion_images(2, size=64, seed=1)
    assert small[0].image.shape == small[0].mask.shape == (64, 64)


def test_mask_is_the_lesion_and_lies_inside_the_organ(images: list[Slice2D]) -> None:
    for item in images:
        lesion = item.extra["lesion"]
        assert item.mask.any() == (lesion is not None)
        if lesion is None:
            assert item.extra["lesion_margin"] is None
            continue
        assert item.extra["lesion_margin"] == "sharp"
        cy, cx, ry, rx = item.extra["organ"]
        ys, xs = np.nonzero(item.mask)
        assert np.all(((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 < 1.0), item.id
        ly, lx, radius = lesion
        assert abs(ys.mean() - ly) < 1.0 and abs(xs.mean() - lx) < 1.0
        assert 0.6 * np.pi * radius**2 < item.mask.sum() < 1.4 * np.pi * radius**2


def test_distractors_look_like_the_lesion_but_are_not_in_the_mask(images: list[Slice2D]) -> None:
    compared = 0
    for item in images:
        cy, cx, ry, rx = item.extra["organ"]
        organ_level = item.extra["intensity"]["organ"]
        lesion = item.extra["lesion"]
        lesion_mean = _core_mean(item.image, *lesion) if lesion is not None else None
        for blob in item.extra["distractors"]:
            (dy, dx), radius = blob["center"], blob["radius"]
            inside = ((dy - cy) / ry) ** 2 + ((dx - cx) / rx) ** 2 < 1.0
            assert inside == blob["inside_organ"]
            assert not (inside and blob["margin"] == "sharp")  # that would be a lesion
            assert not item.mask[_disc(item.image.shape, dy, dx, radius * 1.12 + blob["ramp_px"])].any()
            mean = _core_mean(item.image, dy, dx, radius)
            assert abs(mean - item.extra["intensity"]["blob"]) < 0.06
            assert mean - organ_level > 0.2
            if lesion_mean is not None:
                assert abs(mean - lesion_mean) < 0.08, item.id
                compared += 1
    assert compared > 100


def test_about_a_fifth_empty_and_most_with_one_distractor(images: list[Slice2D]) -> None:
    empty = [item for item in images if not item.mask.any()]
    assert 0.12 <= len(empty) / len(images) <= 0.28
    assert all(item.extra["distractors"] for item in empty)  # an empty image still shows a look-alike
    counts = Counter(len(item.extra["distractors"]) for item in images)
    assert counts[1] > 0.6 * len(images)
    kinds = Counter((b["inside_organ"], b["margin"]) for item in images for b in item.extra["distractors"])
    assert set(kinds) == {(False, "sharp"), (False, "blurred"), (True, "blurred")}
    assert min(kinds.values()) > 0.2 * sum(kinds.values())
    assert all(item.mask.any() for item in make_lesion_images(10, empty_fraction=0.0))
    assert not any(item.mask.any() for item in make_lesion_images(10, empty_fraction=1.0))


def test_lesion_margin_is_sharper_than_a_blurred_distractor(images: list[Slice2D]) -> None:
    ratios = []
    for item in images:
        if item.extra["lesion"] is None:
            continue
        lesion = _edge_sharpness(item.image, *item.extra["lesion"], ramp=0.0)
        for blob in item.extra["distractors"]:
            if blob["margin"] == "blurred":
                ratios.append(lesion / _edge_sharpness(item.image, *blob["center"], blob["radius"], blob["ramp_px"]))
    assert len(ratios) > 50
    assert min(ratios) > 1.5
    assert np.median(ratios) > 2.0


@pytest.mark.parametrize("kwargs", [{"n": -1}, {"n": 2, "size": 48}, {"n": 2, "empty_fraction": 1.5}])
def test_rejects_bad_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        make_lesion_images(**kwargs)  # type: ignore[arg-type]


def test_zero_images() -> None:
    assert make_lesion_images(0) == []
