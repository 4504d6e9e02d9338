from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from clinreason.errors import ConfigError
from clinreason.judge import load_rubric, rubric_names


@pytest.mark.parametrize(
    ("name", "criteria"),
    [
        ("kwon", ["consistency", "correctness", "specificity", "helpfulness", "human_likeness"]),
        ("clinragen", ["correctness", "readability", "soundness", "consistency", "persuasiveness"]),
    ],
)
def test_shipped_rubrics_load_with_anchors_for_every_score(name: str, criteria: list[str]) -> None:
    rubric = load_rubric(name)
    assert rubric.names == criteria and rubric.version >= 1 and rubric.source
    assert all(sorted(c.anchors) == [1, 2, 3, 4, 5] for c in rubric.criteria)
    assert f"{criteria[0]}: " in rubric.text() and "  5: " in rubric.text()
    assert name in rubric_names()


def test_a_users_rubric_file_and_its_errors(tmp_path: Path) -> None:
    good = {
        "name": "mine",
        "version": 2,
        "title": "Our ward's rubric",
        "criteria": [
            {
                "name": "brevity",
                "definition": "Short enough to read at the bedside.",
                "anchors": {i: f"level {i}" for i in range(1, 6)},
            }
        ],
    }
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(good))
    assert load_rubric(path).names == ["brevity"]
    bad = {**good, "criteria": [{**good["criteria"][0], "anchors": {1: "a", 5: "e"}}]}  # type: ignore[dict-item]
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match=re.escape("anchors must be given for exactly the scores 1-5, got [1, 5]")):
        load_rubric(path)
    with pytest.raises(ConfigError, match="unknown rubric 'nope'; shipped rubrics: clinragen, kwon"):
        load_rubric("nope")
