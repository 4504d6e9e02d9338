"""Which slices a segmentation config names: a bundled set, the synthetic lesions, or a dataset folder."""

from __future__ import annotations

from pathlib import Path

from clinreason.errors import ConfigError
from clinreason.vision.config import SegmentConfig
from clinreason.vision.data import Slice2D, load_folder, volume_slices

__all__ = ["load_slices"]


def load_slices(config: SegmentConfig) -> list[Slice2D]:
    if config.data == "pyradiomics":
        from clinreason.vision.bundled import pyradiomics_slices

        return pyradiomics_slices(size=config.size, context=config.context)
    if config.data == "nuclei":
        from clinreason.vision.bundled import nuclei_tiles

        return nuclei_tiles(size=config.size)
    if config.data == "synthetic":
        from clinreason.vision.synthetic import make_lesion_images

        return make_lesion_images(config.synthetic_images, size=config.size, seed=config.seed)
    folder = Path(config.data)
    if not folder.is_dir():
        raise ConfigError(f"data: '{config.data}' is not pyradiomics, nuclei, synthetic or a dataset folder")
    volumes = load_folder(folder, modality=config.modality, anatomy=config.anatomy)
    return [s for v in volumes for s in volume_slices(v, size=config.size, context=config.context)]
