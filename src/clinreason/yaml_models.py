"""YAML files read into pydantic models, with every problem reported as one `ConfigError` line.

Every YAML a user writes (run config, column spec, MIMIC spec, segmentation config, ablation config)
goes through here, so a missing file, a YAML syntax error and a wrong field all read the same way:
"run.yaml: invalid run config: student.train.epochs: Input should be greater than or equal to 1".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from clinreason.errors import ConfigError

__all__ = ["load_named_model", "load_yaml_model", "read_yaml", "repeated", "validate_model"]

M = TypeVar("M", bound=BaseModel)


def repeated(values: Iterable[str]) -> list[str]:
    """The values that occur more than once, sorted: for the "names must be unique" checks of configs."""
    return sorted(value for value, count in Counter(values).items() if count > 1)


def read_yaml(path: str | Path, what: str) -> object:
    """The parsed content of a YAML file (None for an empty one)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found")
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def validate_model(raw: object, model: type[M], what: str, origin: str) -> M:
    """`raw` (a mapping; None counts as empty) as a `model`; field errors name their dotted path."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{origin}: a {what} is a mapping of fields, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(top level)'}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(f"{origin}: invalid {what}: {problems}") from exc


def load_yaml_model(
    path: str | Path,
    model: type[M],
    what: str,
    *,
    defaults: Mapping[str, object] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> M:
    """Read `path` and validate it as a `model`: top-level fields of the file replace `defaults`, and
    `overrides` replace the file's."""
    raw = read_yaml(path, what)
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: a {what} is a mapping of fields, got {type(raw).__name__}")
    return validate_model({**(defaults or {}), **(raw or {}), **(overrides or {})}, model, what, str(path))


def load_named_model(key: str | Path, shipped: Mapping[str, str], model: type[M], noun: str, what: str) -> M:
    """A YAML shipped with clinreason by name (`shipped`: name -> text), or a user's YAML file of the same
    shape (prompts, rubrics): one way to find, parse and report them."""
    name = str(key)
    if name in shipped:
        text, origin = shipped[name], f"{noun} '{name}'"
    else:
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"unknown {noun} '{name}'; shipped {noun}s: {', '.join(sorted(shipped))}, or a YAML file")
        text, origin = path.read_text(), str(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from exc
    return validate_model(raw, model, what, origin)
