from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from clinreason.errors import ConfigError
from clinreason.yaml_models import load_yaml_model


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate: float = Field(default=0.1, gt=0)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "x"
    inner: Inner = Field(default_factory=Inner)


def test_fields_of_the_file_sit_between_defaults_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: from-file\ninner: {rate: 0.5}\n")
    assert load_yaml_model(path, Settings, "settings").name == "from-file"
    assert load_yaml_model(path, Settings, "settings", defaults={"name": "d"}).name == "from-file"
    assert load_yaml_model(path, Settings, "settings", overrides={"name": "o"}).name == "o"
    path.write_text("")
    assert load_yaml_model(path, Settings, "settings", defaults={"name": "d"}).name == "d"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "settings not found"),
        ("name: [oops", "not valid YAML"),
        ("- a\n- b\n", "a settings is a mapping of fields, got list"),
        ("inner: {rate: 0}\n", "invalid settings: inner.rate: Input should be greater than 0"),
        ("colour: red\n", "invalid settings: colour: Extra inputs are not permitted"),
    ],
)
def test_every_problem_is_one_config_error_naming_the_file(tmp_path: Path, text: str | None, message: str) -> None:
    path = tmp_path / "s.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_yaml_model(path, Settings, "settings")
    assert str(caught.value).startswith(str(path))
