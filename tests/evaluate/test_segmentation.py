from __future__ import annotations

import numpy as np
import pytest

from clinreason.evaluate.segmentation import SegmentationMetrics, case_metrics


def _mask(shape: tuple[int, int], rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[rows, cols] = True
    return mask


@pytest.mark.parametrize(
    ("pred", "truth", "kind", "dice", "iou"),
    [
        # 3x2 prediction over a 2x2 lesion: overlap 4, sizes 6 and 4 -> Dice 8/10, IoU 4/6
        (_mask((8, 8), slice(2, 5), slice(2, 4)), _mask((8, 8), slice(2, 4), slice(2, 4)), "both_present", 0.8, 4 / 6),
        (_mask((8, 8), slice(0, 0), slice(0, 0)), _mask((8, 8), slice(2, 4), slice(2, 4)), "missed", 0.0, 0.0),
        (_mask((8, 8), slice(2, 4), slice(2, 4)), _mask((8, 8), slice(0, 0), slice(0, 0)), "false_positive", 0.0, 0.0),
        (np.zeros((8, 8), bool), np.zeros((8, 8), bool), "both_empty", 1.0, 1.0),
    ],
)
def test_overlap_and_kinds(pred: np.ndarray, truth: np.ndarray, kind: str, dice: float, iou: float) -> None:
    result = case_metrics(pred, truth)
    assert result.kind == kind
    assert result.dice == pytest.approx(dice) and result.iou == pytest.approx(iou)


def test_distances_in_mm_and_penalties() -> None:
    truth = _mask((10, 10), slice(2, 4), slice(2, 4))
    shifted = _mask((10, 10), slice(5, 7), slice(2, 4))  # 3 rows down
    hit = case_metrics(shifted, truth, spacing=(0.5, 2.0))
    assert hit.hd95 == pytest.approx(1.5)  # the far rows are 3 pixels of 0.5 mm apart
    assert hit.asd == pytest.approx(1.25)  # half the edge pixels are 2 rows away, half 3: (1.0 + 1.5) / 2
    missed = case_metrics(np.zeros_like(truth), truth, spacing=(0.5, 2.0))
    diagonal = float(np.hypot(10 * 0.5, 10 * 2.0))
    assert missed.hd95 == pytest.approx(diagonal) and missed.asd == pytest.approx(diagonal)
    with pytest.raises(ValueError, match="differ in shape"):
        case_metrics(np.zeros((4, 4)), np.zeros((5, 5)), case_id="c1")


def test_a_missed_lesion_stays_in_the_mean_and_is_counted() -> None:
    metric = SegmentationMetrics()
    truth = _mask((8, 8), slice(2, 4), slice(2, 4))
    metric(truth, truth, case_id="perfect")
    metric(np.zeros_like(truth), truth, case_id="missed")
    summary = metric.aggregate()
    assert summary.dice == pytest.approx(0.5)  # not 1.0: the miss counts as 0
    assert (summary.both_present, summary.missed, summary.false_positive, summary.both_empty) == (
        1,
        1,
        0,
        0,
    )
    assert summary.hd95 == pytest.approx(np.hypot(8, 8) / 2)
    metric.reset()
    assert metric.aggregate().cases == 0 and metric.aggregate().dice is None
