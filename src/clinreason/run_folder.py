"""A run folder belongs to one config: it is saved there as `config.yaml` on the first run, and a run
with a different config is refused instead of silently mixing its results with the folder's.

Every runner (pipeline, ablation, segmentation, benchmark) claims its folder this way, and the folder
is made owner-only (0700): whatever it holds about patients stays readable by its owner alone. The comparison is of the
validated configs (so a field added in a later version, with its default, is not a difference) and
leaves out `out`, so a folder that was moved or copied can be continued where it now lies.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from clinreason.errors import ConfigError

__all__ = ["CONFIG_FILE", "claim_folder", "config_differences", "config_hash", "read_folder_config"]

CONFIG_FILE = "config.yaml"
M = TypeVar("M", bound=BaseModel)


def read_folder_config(folder: str | Path, model: type[M]) -> M:
    """The config a run folder was made with."""
    path = Path(folder) / CONFIG_FILE
    if not Path(folder).is_dir():
        raise ConfigError(f"{folder}: no such run folder")
    if not path.is_file():
        raise ConfigError(f"{folder}: not a run folder (no {CONFIG_FILE})")
    try:
        return model.model_validate(yaml.safe_load(path.read_text()) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"{path}: not a valid saved config ({exc}); restore it, or use another folder") from exc


def config_hash(config: BaseModel, ignore: frozenset[str] = frozenset({"out"})) -> str:
    """sha256 of the config (without `out`): the same for every run of the same config, wherever it lies."""
    payload = json.dumps(config.model_dump(mode="json", exclude=set(ignore)), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def config_differences(saved: BaseModel, config: BaseModel, ignore: frozenset[str] = frozenset({"out"})) -> list[str]:
    """'field.path: saved value -> new value' for every field that differs (fields in `ignore` skipped)."""
    return _differences(
        saved.model_dump(mode="json", exclude=set(ignore)), config.model_dump(mode="json", exclude=set(ignore))
    )


def claim_folder(folder: str | Path, config: M) -> Path:
    """Create `folder` for `config`, or check that it was made with the same one; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)  # it holds patient data (rationales, predictions, checkpoints): the owner's only
    path = folder / CONFIG_FILE
    if path.is_file():
        differences = config_differences(read_folder_config(folder, type(config)), config)
        if differences:
            shown = "; ".join(differences[:4]) + (f"; and {len(differences) - 4} more" if len(differences) > 4 else "")
            raise ConfigError(
                f"{folder} holds a run made with a different config ({shown}); to run this config, give another --out"
            )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # processes of one DDP run write it at once
    tmp.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    tmp.replace(path)
    return folder


def _differences(saved: Any, new: Any, where: str = "") -> list[str]:
    if isinstance(saved, dict) and isinstance(new, dict):
        found: list[str] = []
        for key in dict.fromkeys([*saved, *new]):
            found += _differences(saved.get(key), new.get(key), f"{where}.{key}" if where else str(key))
        return found
    return [] if saved == new else [f"{where or '(config)'}: {saved!r} in the folder, {new!r} now"]
