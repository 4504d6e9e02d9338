from __future__ import annotations

from pathlib import Path

import pytest

from clinreason.errors import CheckpointError
from clinreason.student.checkpoint import CheckpointMeta, load_checkpoint, read_meta, write_meta
from clinreason.student.config import TrainConfig


def test_metadata_round_trips(tmp_path: Path) -> None:
    meta = CheckpointMeta(objective="label", base="smollm2-135m", step=7, val_loss=0.25, config=TrainConfig())
    write_meta(tmp_path, meta)
    assert read_meta(tmp_path) == meta


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "no such checkpoint folder"),
        ("empty", r"not a clinreason student checkpoint \(no student.json\)"),
        ("bad json", "corrupt checkpoint metadata"),
        ("no objective", "corrupt checkpoint metadata"),
        ("no weights", "corrupt checkpoint"),
    ],
)
def test_a_broken_checkpoint_is_one_checkpoint_error_naming_it(tmp_path: Path, setup: str, message: str) -> None:
    folder = tmp_path / "best"
    if setup != "missing":
        folder.mkdir()
    if setup == "bad json":
        (folder / "student.json").write_text("{not json")
    if setup == "no objective":
        (folder / "student.json").write_text('{"base": "x"}')
    if setup == "no weights":
        write_meta(folder, CheckpointMeta(objective="label", base="x"))
    with pytest.raises(CheckpointError, match=message) as caught:
        load_checkpoint(folder)
    assert str(folder) in str(caught.value)
