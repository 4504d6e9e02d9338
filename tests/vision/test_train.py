from __future__ import annotations

from pathlib import Path

import pytest

from clinreason.errors import CheckpointError
from clinreason.vision.synthetic import make_lesion_images
from clinreason.vision.train import TrainSettings, train_method


def test_a_corrupt_checkpoint_is_a_checkpoint_error_naming_it(tmp_path: Path) -> None:
    slices = make_lesion_images(6, size=64, seed=0, empty_fraction=0.0)
    (tmp_path / "supervised").mkdir()
    (tmp_path / "supervised" / "last.pt").write_bytes(b"not a torch file")
    settings = TrainSettings(epochs=1, channels=(4, 8, 8, 16, 16))
    with pytest.raises(CheckpointError, match=r"last\.pt: corrupt checkpoint .*delete it to train supervised again"):
        train_method("supervised", slices[:3], slices[3:], settings, tmp_path / "supervised")
