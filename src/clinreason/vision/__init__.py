"""CERS: reasoning-guided semi-supervised segmentation (slices and their loaders, lesion descriptors,
reasoning text, the knowledge pool, the network with MCAM, training, inference, the run's report).

Names load on first use (torch and MONAI are imported only then)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinreason._lazy import lazy_exports

_EXPORTS = {
    "METHODS": "clinreason.vision.config",
    "SegmentConfig": "clinreason.vision.config",
    "Slice2D": "clinreason.vision.data",
    "SliceSplit": "clinreason.vision.data",
    "Volume": "clinreason.vision.data",
    "load_folder": "clinreason.vision.data",
    "split_slices": "clinreason.vision.data",
    "volume_slices": "clinreason.vision.data",
    "load_slices": "clinreason.vision.sources",
    "nuclei_tiles": "clinreason.vision.bundled",
    "pyradiomics_slices": "clinreason.vision.bundled",
    "make_lesion_images": "clinreason.vision.synthetic",
    "LesionDescriptors": "clinreason.vision.descriptors",
    "describe": "clinreason.vision.descriptors",
    "generate_reasoning": "clinreason.vision.reasoning",
    "rule_reasoning": "clinreason.vision.reasoning",
    "KnowledgePool": "clinreason.vision.pool",
    "CersNet": "clinreason.vision.network",
    "TrainSettings": "clinreason.vision.train",
    "TrainedModel": "clinreason.vision.train",
    "train_method": "clinreason.vision.train",
    "SegmentSummary": "clinreason.vision.results",
    "score_method": "clinreason.vision.results",
    "load_run": "clinreason.vision.inference",
    "predict_images": "clinreason.vision.inference",
}

__all__ = [
    "CersNet",
    "KnowledgePool",
    "LesionDescriptors",
    "METHODS",
    "SegmentConfig",
    "SegmentSummary",
    "Slice2D",
    "SliceSplit",
    "TrainSettings",
    "TrainedModel",
    "Volume",
    "describe",
    "generate_reasoning",
    "load_folder",
    "load_run",
    "load_slices",
    "make_lesion_images",
    "nuclei_tiles",
    "predict_images",
    "pyradiomics_slices",
    "rule_reasoning",
    "score_method",
    "split_slices",
    "train_method",
    "volume_slices",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from clinreason.vision.bundled import nuclei_tiles, pyradiomics_slices
    from clinreason.vision.config import METHODS, SegmentConfig
    from clinreason.vision.data import Slice2D, SliceSplit, Volume, load_folder, split_slices, volume_slices
    from clinreason.vision.descriptors import LesionDescriptors, describe
    from clinreason.vision.inference import load_run, predict_images
    from clinreason.vision.network import CersNet
    from clinreason.vision.pool import KnowledgePool
    from clinreason.vision.reasoning import generate_reasoning, rule_reasoning
    from clinreason.vision.results import SegmentSummary, score_method
    from clinreason.vision.sources import load_slices
    from clinreason.vision.synthetic import make_lesion_images
    from clinreason.vision.train import TrainedModel, TrainSettings, train_method
