"""Measured lesion descriptors: what the teacher is told about an image, since no vision model runs
offline. From the mask for labelled images, from the current prediction for unlabelled ones."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class LesionDescriptors:
    present: bool
    components: int = 0
    area_mm2: float = 0.0
    area_fraction: float = 0.0
    mean_intensity: float = 0.0  # image scaled to [0, 1]
    std_intensity: float = 0.0
    surround_intensity: float = 0.0  # a ring of 3 pixels around the lesion
    contrast: float = 0.0  # lesion minus surround
    boundary_sharpness: float = 0.0  # mean gradient magnitude on the boundary, relative to the image's
    circularity: float = 0.0  # 4 pi area / perimeter^2, 1 for a disc
    elongation: float = 0.0  # major / minor axis
    location: str = ""  # e.g. "upper left", "central"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def fact_sheet(self) -> str:
        """The lines given to the teacher (no coordinates: CERS keeps reasoning free of positions)."""
        if not self.present:
            return "- no lesion is segmented in this image"
        texture = "homogeneous" if self.std_intensity < 0.08 else "heterogeneous"
        relative = "brighter" if self.contrast > 0.03 else "darker" if self.contrast < -0.03 else "similar"
        edge = (
            "sharp" if self.boundary_sharpness >= 1.5 else "moderate" if self.boundary_sharpness >= 1.0 else "blurred"
        )
        shape = "round" if self.circularity >= 0.75 else "lobulated" if self.circularity >= 0.45 else "irregular"
        return "\n".join(
            [
                f"- lesions: {self.components}, total area {self.area_mm2:.0f} mm2 "
                f"({self.area_fraction:.1%} of the image)",
                f"- intensity: mean {self.mean_intensity:.2f}, spread {self.std_intensity:.2f} ({texture})",
                f"- surrounding tissue: mean {self.surround_intensity:.2f}; the lesion is {relative} "
                f"(contrast {self.contrast:+.2f})",
                f"- boundary: {edge} (edge strength {self.boundary_sharpness:.1f} times the image's average)",
                f"- shape: {shape} (circularity {self.circularity:.2f}, elongation {self.elongation:.1f})",
                f"- position: {self.location} part of the image",
            ]
        )


def _location(cy: float, cx: float, height: int, width: int) -> str:
    rows = "upper" if cy < height / 3 else "lower" if cy > 2 * height / 3 else ""
    cols = "left" if cx < width / 3 else "right" if cx > 2 * width / 3 else ""
    return " ".join(p for p in (rows, cols) if p) or "central"


def describe(image: np.ndarray, mask: np.ndarray, spacing: tuple[float, float] = (1.0, 1.0)) -> LesionDescriptors:
    mask = np.asarray(mask, dtype=bool)
    image = np.asarray(image, dtype=np.float32)
    if not mask.any():
        return LesionDescriptors(present=False)
    _, components = ndimage.label(mask)
    area = int(mask.sum())
    inside = image[mask]
    ring = ndimage.binary_dilation(mask, iterations=3) & ~mask
    surround = float(image[ring].mean()) if ring.any() else float(image[~mask].mean() if (~mask).any() else 0.0)
    gradient = np.hypot(ndimage.sobel(image, 0), ndimage.sobel(image, 1))
    boundary = mask & ~ndimage.binary_erosion(mask)
    sharpness = float(gradient[boundary].mean() / (gradient.mean() + 1e-6))
    perimeter = max(int(boundary.sum()), 1)
    rows, cols = np.nonzero(mask)
    if area > 2:
        eigen = np.linalg.eigvalsh(np.cov(np.stack([rows, cols]).astype(float)))
        elongation = float(math.sqrt(max(eigen[-1], 1e-6) / max(eigen[0], 1e-6)))
    else:
        elongation = 1.0
    return LesionDescriptors(
        present=True,
        components=int(components),
        area_mm2=float(area * spacing[0] * spacing[1]),
        area_fraction=area / mask.size,
        mean_intensity=float(inside.mean()),
        std_intensity=float(inside.std()),
        surround_intensity=surround,
        contrast=float(inside.mean()) - surround,
        boundary_sharpness=sharpness,
        circularity=float(min(1.0, 4 * math.pi * area / perimeter**2)),
        elongation=elongation,
        location=_location(float(rows.mean()), float(cols.mean()), *mask.shape),
    )
