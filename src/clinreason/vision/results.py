"""What a segmentation run writes as `metrics.json`, typed, how a method's test predictions are scored,
and the run's table (`metrics.md`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, Field

from clinreason.evaluate.paired import PairedDifference, Spread, describe_difference, format_spread
from clinreason.evaluate.segmentation import CaseMetrics, SegmentationMetrics, SegmentationScores
from clinreason.evaluate.tables import ResultTable, fmt
from clinreason.vision.data import Slice2D
from clinreason.vision.train import Method, TrainSettings

__all__ = ["TITLES", "MethodResult", "ReasoningCounts", "SegmentSeeds", "SegmentSummary", "score_method"]

TITLES: dict[Method, str] = {
    "supervised": "supervised only (U-Net)",
    "ssl": "semi-supervised, no reasoning",
    "cers": "CERS",
    "dense": "CERS with dense pixel-text guidance (DenseCLIP)",
}


class MethodResult(SegmentationScores):
    train_seconds: float | None = None
    per_case: list[CaseMetrics] = Field(default_factory=list)


class ReasoningCounts(BaseModel):
    teacher: str = Field(description="'rules' or the teacher's backend:model.")
    generated: int
    cached: int
    fallback: int = Field(description="Slices whose reasoning came from the descriptor rules after the teacher failed.")


class SegmentSummary(BaseModel):
    """`metrics.json` of a segmentation run."""

    data: str
    slices: int
    labelled: int
    unlabelled: int
    test: int
    label_ratio: float
    seed: int
    reasoning: ReasoningCounts
    train: TrainSettings
    methods: dict[Method, MethodResult]
    seconds: float

    def table(self) -> ResultTable:
        rows = [
            [
                TITLES[method],
                fmt(m.dice),
                fmt(m.iou),
                fmt(m.hd95, 1),
                fmt(m.asd, 1),
                str(m.missed),
                str(m.false_positive),
                str(m.both_empty),
            ]
            for method, m in self.methods.items()
        ]
        return ResultTable(
            title=f"Segmentation on {self.data}: {self.labelled} labelled, {self.unlabelled} unlabelled, "
            f"{self.test} test slices (label ratio {self.label_ratio}, seed {self.seed})",
            columns=["method", "Dice", "IoU", "HD95 (mm)", "ASD (mm)", "missed", "false positive", "both empty"],
            rows=rows,
        )


def score_method(
    probabilities: Mapping[str, np.ndarray], test: Sequence[Slice2D], train_seconds: float | None
) -> MethodResult:
    """Dice / IoU / HD95 / ASD of the thresholded (> 0.5) predictions on every test slice."""
    metric = SegmentationMetrics()
    for s in test:
        metric(probabilities[s.id] > 0.5, s.mask, s.spacing, s.id)
    return MethodResult(**metric.aggregate().model_dump(), train_seconds=train_seconds, per_case=metric.cases)


class SegmentSeeds(BaseModel):
    """`segment-seeds.json`: one config over several seeds (a split and a training each)."""

    data: str
    seeds: list[int]
    folders: list[str]
    methods: dict[str, dict[str, Spread]] = Field(description="Per method: dice, iou, hd95, asd over the seeds.")
    differences: list[PairedDifference] = Field(description="Each method's Dice minus the supervised U-Net's.")
    seconds: float

    def table(self) -> ResultTable:
        rows = [
            [
                TITLES.get(method, method),  # type: ignore[call-overload]
                format_spread(m["dice"]),
                format_spread(m["iou"]),
                format_spread(m["hd95"], 1),
                format_spread(m["asd"], 1),
            ]
            for method, m in self.methods.items()
        ]
        notes = [describe_difference(d, "Dice") for d in self.differences]
        return ResultTable(
            title=f"Segmentation on {self.data} over seeds {', '.join(map(str, self.seeds))} (mean ± sd)",
            columns=["method", "Dice", "IoU", "HD95 (mm)", "ASD (mm)"],
            rows=rows,
            notes=notes,
        )
