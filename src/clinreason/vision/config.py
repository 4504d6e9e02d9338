"""What `clinreason segment train` runs: one validated config per run folder (saved as config.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from clinreason.vision.train import Method, TrainSettings

__all__ = ["METHODS", "SegmentConfig"]

METHODS: tuple[Method, ...] = ("supervised", "ssl", "cers", "dense")


class SegmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: str = Field(default="pyradiomics", description="pyradiomics, nuclei, synthetic, or a dataset folder.")
    modality: str = Field(default="unknown", description="A dataset folder's modality (for the reasoning).")
    anatomy: str = Field(default="unknown")
    size: int = Field(default=128, ge=32, description="Slices are resized to size x size.")
    context: int = Field(default=2, ge=0, description="Lesion-free slices kept on each side of a lesion.")
    synthetic_images: int = Field(default=160, ge=10)
    label_ratio: float = Field(default=0.25, gt=0, le=1)
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    split_by: Literal["case", "slice", "fold"] = Field(
        default="case",
        description="case: a patient's (or a microscopy region's) slices all go to one split, no leakage; "
        "fold: the same, as cross-validation: cases dealt into round(1 / test_fraction) folds in one fixed "
        "order and seed k tests fold k, so --seeds N holds out a different case set each time (on the 5 "
        "pyradiomics patients, leave one patient out); slice: each slice on its own (slices of one patient "
        "may land in training and test).",
    )
    seed: int = 0
    teacher: str = Field(default="rules", description="'rules' (descriptor sentences) or backend:model.")
    base_url: str | None = None
    teacher_sees_image: bool = Field(
        default=False, description="openai teachers only: send each slice as an image next to its descriptors."
    )
    use_seed: bool = Field(
        default=True,
        description="Import the teacher reasoning shipped for a bundled data set (pyradiomics) into the teacher "
        "cache first; slices described the same way are then not asked again.",
    )
    methods: list[Method] = Field(
        default_factory=lambda: list(METHODS),
        description="supervised, ssl, cers (gated cross-attention) and dense (DenseCLIP pixel-text guidance).",
    )
    train: TrainSettings = Field(default_factory=TrainSettings)
    out: Path = Path("runs/segment")

    @property
    def folds(self) -> int | None:
        """The number of cross-validation folds (split_by: fold), else None."""
        return max(2, round(1 / self.test_fraction)) if self.split_by == "fold" else None

    @model_validator(mode="after")
    def _vision_teacher(self) -> SegmentConfig:
        if self.teacher_sees_image and not self.teacher.startswith("openai:"):
            raise ValueError("teacher_sees_image needs an OpenAI-compatible vision model (teacher: openai:MODEL)")
        return self
