from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from clinreason.errors import ConfigError
from clinreason.pipeline.ablation import AblationConfig, run_ablation
from clinreason.pipeline.config import RunConfig
from clinreason.run_folder import claim_folder, read_folder_config


def test_a_folder_keeps_its_config_and_refuses_another(tmp_path: Path) -> None:
    config = RunConfig(name="a", out=tmp_path / "run")
    claim_folder(tmp_path / "run", config)
    assert read_folder_config(tmp_path / "run", RunConfig) == config
    claim_folder(tmp_path / "run", config)  # the same config: fine
    changed = config.model_copy(update={"data": config.data.model_copy(update={"seed": 3})})
    with pytest.raises(ConfigError, match=r"made with a different config \(data.seed: 0 in the folder, 3 now\)"):
        claim_folder(tmp_path / "run", changed)


def test_a_moved_folder_and_a_field_added_later_are_no_difference(tmp_path: Path) -> None:
    config = RunConfig(name="a", out=tmp_path / "run")
    claim_folder(tmp_path / "run", config)
    claim_folder(tmp_path / "run", config.model_copy(update={"out": tmp_path / "elsewhere"}))
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    del saved["evaluation"]["bootstrap"]  # as written by a version without that field: it takes its default
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump(saved))
    claim_folder(tmp_path / "run", config)


def test_an_unreadable_saved_config_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("data: {colour: red}\n")
    with pytest.raises(ConfigError, match="not a valid saved config"):
        claim_folder(tmp_path, RunConfig())


def test_the_ablation_refuses_a_folder_made_with_another_config(tmp_path: Path) -> None:
    claim_folder(tmp_path / "a", AblationConfig(patients=40, out=tmp_path / "a"))
    with pytest.raises(ConfigError, match=r"patients: 40 in the folder, 60 now"):
        run_ablation(AblationConfig(patients=60, out=tmp_path / "a"))


def test_a_claimed_folder_is_owner_only(tmp_path: Path) -> None:
    import stat

    folder = claim_folder(tmp_path / "run", RunConfig(name="a"))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # rationales and predictions hold patient data
