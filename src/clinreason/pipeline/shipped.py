"""Teacher generations shipped with clinreason (`pipeline/seeds/NAME.jsonl.gz`), imported into the
teacher cache before a run asks the teacher, so that a bundled cohort or image set is reproduced
offline in seconds instead of hours of generation."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["seed_file", "segment_seed_name"]


def seed_file(name: str) -> Path | None:
    """The shipped seed called `name` (a bundled cohort's name, or `segment_seed_name(data)`), if any."""
    item = resources.files("clinreason.pipeline").joinpath(f"seeds/{name}.jsonl.gz")
    return Path(str(item)) if item.is_file() else None


def segment_seed_name(data: str) -> str:
    """The seed of a bundled segmentation data set's reasoning (e.g. `segment-pyradiomics`)."""
    return f"segment-{data}"
