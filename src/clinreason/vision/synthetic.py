"""Synthetic lesions that look alike but differ in context, so that segmenting them needs reasoning
about where a blob sits and how its margin looks, not only about its intensity.

Each image (numpy only, deterministic for a seed; image `i` depends only on `(seed, i)`, so a longer
run starts with the same images as a shorter one; `size` at least 64) follows these rules, with
lengths as fractions of the image size:

- background: smooth low-intensity tissue texture (level 0.14-0.20, smooth variation sd 0.04);
- organ: a brighter axis-aligned ellipse (level 0.42-0.52, its own texture, an edge about a pixel
  wide), centre 0.38-0.62 and semi-axes 0.26-0.34 on each axis;
- blobs: roundish discs of nominal radius 0.04-0.07 with a slightly irregular outline (harmonics 2-4,
  at most 12 % of the radius), all with the same plateau intensity (0.78-0.90, drawn once per image)
  and the same fine texture, so that intensity alone cannot tell them apart;
- the target lesion, the only thing in the mask, is a blob INSIDE the organ with a SHARP margin
  (an anti-aliased one-pixel step); the mask is its outline, filled;
- a distractor is a blob OUTSIDE the organ with a sharp or a blurred margin, or INSIDE it with a
  BLURRED margin, the three kinds equally likely; a blurred margin is a cosine ramp 0.05-0.08 wide
  (of 80 pixels in smaller images) outside the outline, so the interior matches a lesion's but the
  blob looks larger; a distractor is never in the mask;
- about `empty_fraction` (20 %) of the images have no lesion, only one or two distractors (80 / 20 %),
  and an empty mask; images with a lesion have one distractor (70 %), none (15 %) or two (15 %);
- every blob keeps a clearance of 0.03 (at least 2 pixels) beyond its ramp from the organ's edge,
  the other blobs and the image border, so its context is unambiguous; where a drawn layout cannot
  fit (a few percent, small organs), the widest distractor becomes a sharp one outside the organ;
- Gaussian noise (sd 0.02) on top, clipped to [0, 1]; spacing 1 mm a pixel.

`Slice2D.extra` records the ground truth, in pixels (row `y` then column `x`, pixel centres at
integer indices): `organ` (cy, cx, ry, rx); `lesion` (cy, cx, r) or None, r being the nominal
radius; `lesion_margin` "sharp" or None; `distractors`, one dict each with `center` (cy, cx),
`radius`, `inside_organ`, `margin` ("sharp" or "blurred") and `ramp_px` (0 for sharp); `intensity`
with the `background`, `organ` and `blob` levels; and `rule`, the sentence that defines the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from clinreason.vision.data import Slice2D

RULE = "the target lesion is a sharp-margined blob inside the organ; blobs outside it or with a blurred margin are not"

_ORGAN_CENTER = (0.38, 0.62)  # fraction of the image size, each axis
_ORGAN_RADIUS = (0.26, 0.34)  # semi-axes, fraction of the image size
_RADIUS = (0.04, 0.07)  # nominal lesion radius, fraction of the image size
_IRREGULARITY = 0.04  # largest amplitude of each of the harmonics 2, 3 and 4
_RAMP = (0.05, 0.08)  # width of a blurred margin, fraction of the image size (of 80 pixels in smaller images)
_CLEARANCE = 0.03  # fraction of the image size (at least 2 pixels) between a blob, ramp included, and anything else
_NOISE_SD = 0.02
_KINDS = ((False, "sharp"), (False, "blurred"), (True, "blurred"))  # distractors: (inside organ, margin)


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """Zero-mean, unit-sd noise low-passed by a Gaussian of `sigma` pixels (in Fourier space: numpy only)."""
    white = rng.standard_normal((size, size))
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    field = np.fft.irfft2(np.fft.rfft2(white) * np.exp(-2.0 * math.pi**2 * sigma**2 * (fy**2 + fx**2)), s=white.shape)
    field -= field.mean()
    return field / (field.std() + 1e-12)


def _ellipse_value(
    y: np.ndarray | float, x: np.ndarray | float, organ: tuple[float, float, float, float]
) -> np.ndarray:
    cy, cx, ry, rx = organ
    return np.asarray(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2)


def _fits(
    center: tuple[float, float],
    reach: float,
    inside: bool,
    organ: tuple[float, float, float, float],
    placed: list[tuple[float, float, float]],
    size: int,
) -> bool:
    """Whether a disc of radius `reach` lies wholly inside (or wholly outside) the organ, in the image,
    and clear of the discs already placed; checked on the circle, which suffices for a convex organ."""
    cy, cx = center
    if not (reach <= cy <= size - 1 - reach and reach <= cx <= size - 1 - reach):
        return False
    if any(math.hypot(cy - py, cx - px) < reach + pr for py, px, pr in placed):
        return False
    angles = np.linspace(0.0, 2.0 * math.pi, 90, endpoint=False)
    values = _ellipse_value(cy + reach * np.sin(angles), cx + reach * np.cos(angles), organ)
    if inside:
        return bool(np.all(values < 1.0))
    # Outside: the circle misses the ellipse and the disc is too small to contain it.
    return bool(np.all(values > 1.0) and reach < min(organ[2], organ[3]) and _ellipse_value(cy, cx, organ) > 1.0)


def _place(
    rng: np.random.Generator,
    reach: float,
    inside: bool,
    organ: tuple[float, float, float, float],
    placed: list[tuple[float, float, float]],
    size: int,
    tries: int = 400,
) -> tuple[float, float] | None:
    cy, cx, ry, rx = organ
    for _ in range(tries):
        if inside:  # sample within the organ's bounding box, the rest is rejected anyway
            center = (float(rng.uniform(cy - ry, cy + ry)), float(rng.uniform(cx - rx, cx + rx)))
        else:
            center = (float(rng.uniform(0, size - 1)), float(rng.uniform(0, size - 1)))
        if _fits(center, reach, inside, organ, placed, size):
            return center
    return None


def _outline_distance(
    yy: np.ndarray, xx: np.ndarray, center: tuple[float, float], radius: float, rng: np.random.Generator
) -> np.ndarray:
    """Signed distance (approximately, in pixels) to an outline of `radius` with harmonics 2-4 added."""
    dy, dx = yy - center[0], xx - center[1]
    rho, theta = np.hypot(dy, dx), np.arctan2(dy, dx)
    amplitudes = rng.uniform(0.0, _IRREGULARITY, 3)
    phases = rng.uniform(0.0, 2.0 * math.pi, 3)
    modulation = sum(a * np.cos(k * theta + p) for k, a, p in zip((2, 3, 4), amplitudes, phases, strict=True))
    return rho - radius * (1.0 + modulation)


@dataclass
class _Blob:
    inside: bool
    margin: str  # "sharp" or "blurred"
    radius: float
    ramp: float  # width of the blurred margin in pixels, 0 for a sharp one
    clearance: float  # pixels
    center: tuple[float, float] = (0.0, 0.0)

    @property
    def reach(self) -> float:
        """Radius that must stay clear: the outline's largest radius, the ramp and the clearance."""
        return self.radius * (1.0 + 3 * _IRREGULARITY) + self.ramp + self.clearance


def _layout(rng: np.random.Generator, blobs: list[_Blob], organ: tuple[float, float, float, float], size: int) -> bool:
    """Place all blobs, largest first, restarting the whole layout when one no longer fits."""
    for _ in range(20):
        placed: list[tuple[float, float, float]] = []
        for blob in sorted(blobs, key=lambda b: -b.reach):
            center = _place(rng, blob.reach, blob.inside, organ, placed, size, tries=100)
            if center is None:
                break
            blob.center = center
            placed.append((*center, blob.reach))
        else:
            return True
    return False


def _one_image(index: int, size: int, seed: int, empty_fraction: float) -> Slice2D:
    rng = np.random.default_rng([seed, index])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)

    background = float(rng.uniform(0.14, 0.2))
    organ_level = float(rng.uniform(0.42, 0.52))
    blob_level = float(rng.uniform(0.78, 0.9))
    image = background + 0.04 * _smooth_noise(rng, size, size / 12) + 0.015 * _smooth_noise(rng, size, 2.0)

    organ = (
        float(rng.uniform(*_ORGAN_CENTER) * size),
        float(rng.uniform(*_ORGAN_CENTER) * size),
        float(rng.uniform(*_ORGAN_RADIUS) * size),
        float(rng.uniform(*_ORGAN_RADIUS) * size),
    )
    # Edge of about one pixel: sqrt(ellipse value) - 1 grows by about 1 / radius a pixel.
    edge = (np.sqrt(_ellipse_value(yy, xx, organ)) - 1.0) * min(organ[2], organ[3])
    organ_weight = 1.0 / (1.0 + np.exp(np.clip(2.0 * edge, -50, 50)))
    organ_texture = organ_level + 0.03 * _smooth_noise(rng, size, 3.0)
    image = image * (1.0 - organ_weight) + organ_texture * organ_weight

    has_lesion = bool(rng.random() >= empty_fraction)
    counts, odds = ([0, 1, 2], [0.15, 0.7, 0.15]) if has_lesion else ([1, 2], [0.8, 0.2])
    clearance = max(2.0, _CLEARANCE * size)
    blobs = [_Blob(True, "sharp", float(rng.uniform(*_RADIUS) * size), 0.0, clearance)] if has_lesion else []
    for _ in range(int(rng.choice(counts, p=odds))):
        inside, margin = _KINDS[int(rng.integers(len(_KINDS)))]
        ramp = float(rng.uniform(*_RAMP) * max(size, 80)) if margin == "blurred" else 0.0
        blobs.append(_Blob(inside, margin, float(rng.uniform(*_RADIUS) * size), ramp, clearance))
    # Where the drawn layout cannot fit (rare: a small organ), the widest distractor becomes a sharp
    # one outside the organ, then distractors are dropped, last first.
    while not _layout(rng, blobs, organ, size):
        distractors = blobs[1:] if has_lesion else blobs
        movable = [blob for blob in distractors if blob.inside or blob.margin != "sharp"]
        if movable:
            widest = max(movable, key=lambda b: b.reach)
            widest.inside, widest.margin, widest.ramp = False, "sharp", 0.0
        elif distractors:
            blobs.pop()
        else:  # a lesion alone always fits: the organ is far wider than any lesion
            raise RuntimeError("no room for the lesion")

    blob_texture = blob_level + 0.02 * _smooth_noise(rng, size, 1.0)
    mask = np.zeros((size, size), dtype=bool)
    for number, blob in enumerate(blobs):
        distance = _outline_distance(yy, xx, blob.center, blob.radius, rng)
        if blob.margin == "sharp":
            weight = np.clip(0.5 - distance, 0.0, 1.0)  # anti-aliased one-pixel step
        else:  # full intensity inside the outline, a cosine ramp down to 0 outside it
            weight = 0.5 * (1.0 + np.cos(math.pi * np.clip(distance / blob.ramp, 0.0, 1.0)))
        image = image * (1.0 - weight) + blob_texture * weight
        if has_lesion and number == 0:
            mask = distance <= 0.0
    lesion = (blobs[0].center[0], blobs[0].center[1], blobs[0].radius) if has_lesion else None
    described = [
        {"center": b.center, "radius": b.radius, "inside_organ": b.inside, "margin": b.margin, "ramp_px": b.ramp}
        for b in (blobs[1:] if has_lesion else blobs)
    ]

    image = np.clip(image + rng.normal(0.0, _NOISE_SD, image.shape), 0.0, 1.0).astype(np.float32)
    name = f"syn-{index:04d}"
    return Slice2D(
        id=name,
        case_id=name,
        image=image,
        mask=mask,
        spacing=(1.0, 1.0),
        modality="synthetic MRI",
        anatomy="abdomen",
        target="lesion",
        extra={
            "organ": organ,
            "lesion": lesion,
            "lesion_margin": "sharp" if lesion is not None else None,
            "distractors": described,
            "intensity": {"background": background, "organ": organ_level, "blob": blob_level},
            "rule": RULE,
        },
    )


def make_lesion_images(n: int, size: int = 96, seed: int = 0, *, empty_fraction: float = 0.2) -> list[Slice2D]:
    """`n` synthetic slices where only context (inside the organ, sharp margin) separates the lesion
    from look-alike distractors; the rules are in the module docstring."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if size < 64:  # below that lesions are a few pixels wide and blurred distractors rarely fit
        raise ValueError(f"size must be >= 64 pixels, got {size}")
    if not 0.0 <= empty_fraction <= 1.0:
        raise ValueError(f"empty_fraction must be in [0, 1], got {empty_fraction}")
    return [_one_image(index, size, seed, empty_fraction) for index in range(n)]
