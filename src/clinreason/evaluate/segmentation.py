"""Segmentation metrics through MONAI, with the empty-mask cases decided here, explicitly.

MONAI returns NaN (or inf) for the surface distances of an empty prediction or an empty ground truth,
and a mean that skips NaN silently drops every missed lesion: a model that finds nothing on the hard
cases then looks better. Here each case gets a value and a kind:

| kind | ground truth | prediction | Dice, IoU | HD95, ASD |
|---|---|---|---|---|
| `both_present` | lesion | lesion | MONAI | MONAI (mm) |
| `missed` | lesion | empty | 0 | the image diagonal (mm), the worst possible distance |
| `false_positive` | empty | lesion | 0 | the image diagonal |
| `both_empty` | empty | empty | 1 | 0 |

`aggregate()` reports the means over all cases and the count of each kind, so a missed lesion stays
in the mean and is also visible on its own.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel

CaseKind = Literal["both_present", "missed", "false_positive", "both_empty"]


@dataclass(frozen=True)
class CaseMetrics:
    case_id: str
    kind: CaseKind
    dice: float
    iou: float
    hd95: float
    asd: float


def _diagonal(shape: Sequence[int], spacing: Sequence[float]) -> float:
    return math.sqrt(sum((n * s) ** 2 for n, s in zip(shape, spacing, strict=True)))


def case_metrics(
    prediction: np.ndarray, truth: np.ndarray, spacing: Sequence[float] | None = None, case_id: str = ""
) -> CaseMetrics:
    """Binary masks of the same shape (2-D or 3-D); `spacing` in mm per axis (default 1)."""
    import torch
    from monai.metrics import (
        compute_average_surface_distance,
        compute_dice,
        compute_hausdorff_distance,
        compute_iou,
    )

    pred, gt = np.asarray(prediction).astype(bool), np.asarray(truth).astype(bool)
    if pred.shape != gt.shape:
        raise ValueError(f"case {case_id or '?'}: prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    spacing = tuple(float(s) for s in (spacing or (1.0,) * gt.ndim))
    worst = _diagonal(gt.shape, spacing)
    if not gt.any() and not pred.any():
        return CaseMetrics(case_id, "both_empty", 1.0, 1.0, 0.0, 0.0)
    if not pred.any():
        return CaseMetrics(case_id, "missed", 0.0, 0.0, worst, worst)
    if not gt.any():
        return CaseMetrics(case_id, "false_positive", 0.0, 0.0, worst, worst)
    p = torch.from_numpy(pred[None, None].astype(np.float32))
    g = torch.from_numpy(gt[None, None].astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # MONAI 1.5 deprecation inside get_mask_edges
        hd95 = float(compute_hausdorff_distance(p, g, include_background=True, percentile=95, spacing=list(spacing)))
        asd = float(
            compute_average_surface_distance(p, g, include_background=True, symmetric=True, spacing=list(spacing))
        )
    return CaseMetrics(
        case_id,
        "both_present",
        float(compute_dice(p, g, include_background=True)),
        float(compute_iou(p, g, include_background=True)),
        hd95,
        asd,
    )


class SegmentationScores(BaseModel):
    """Means and standard deviations over every case (None without cases), and the count of each kind."""

    cases: int
    dice: float | None
    dice_std: float | None
    iou: float | None
    iou_std: float | None
    hd95: float | None
    hd95_std: float | None
    asd: float | None
    asd_std: float | None
    both_present: int
    missed: int
    false_positive: int
    both_empty: int


class SegmentationMetrics:
    """Accumulates cases (MONAI's `__call__` / `aggregate` / `reset` shape)."""

    def __init__(self) -> None:
        self.cases: list[CaseMetrics] = []

    def __call__(
        self, prediction: np.ndarray, truth: np.ndarray, spacing: Sequence[float] | None = None, case_id: str = ""
    ) -> CaseMetrics:
        result = case_metrics(prediction, truth, spacing, case_id)
        self.cases.append(result)
        return result

    def reset(self) -> None:
        self.cases = []

    def aggregate(self) -> SegmentationScores:
        """Means (and standard deviations) over every case, and how many cases were of each kind."""
        out: dict[str, float | int | None] = {"cases": len(self.cases)}
        for name in ("dice", "iou", "hd95", "asd"):
            values = np.array([getattr(c, name) for c in self.cases], dtype=float)
            out[name] = float(values.mean()) if len(values) else None
            out[f"{name}_std"] = float(values.std()) if len(values) else None
        for kind in ("both_present", "missed", "false_positive", "both_empty"):
            out[kind] = sum(c.kind == kind for c in self.cases)
        return SegmentationScores.model_validate(out)
