"""Rubrics for judging rationales: versioned YAML files shipped like the prompts (`judge/rubrics/`), or a
user's own file of the same shape. Each criterion has a definition and an anchor for every score 1-5,
so that an LLM judge and a human rater read the same scale."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from clinreason.yaml_models import load_named_model, repeated

__all__ = ["Criterion", "Rubric", "load_rubric", "rubric_names"]

SCORES = (1, 2, 3, 4, 5)


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Key in scores (lower case, underscores).")
    definition: str = Field(min_length=10)
    anchors: dict[int, str] = Field(description="What each score 1-5 means.")

    @field_validator("anchors")
    @classmethod
    def _every_score(cls, anchors: dict[int, str]) -> dict[int, str]:
        if tuple(sorted(anchors)) != SCORES:
            raise ValueError(f"anchors must be given for exactly the scores 1-5, got {sorted(anchors)}")
        return anchors


class Rubric(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: int = Field(ge=1, description="Raised on any change; cached judgements are keyed by it.")
    title: str
    source: str = ""
    criteria: list[Criterion] = Field(min_length=1)

    @field_validator("criteria")
    @classmethod
    def _unique(cls, criteria: list[Criterion]) -> list[Criterion]:
        if twice := repeated(c.name for c in criteria):
            raise ValueError(f"criterion names must be unique; repeated: {twice}")
        return criteria

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.criteria]

    def text(self) -> str:
        """The rubric as a judge or a rater reads it."""
        blocks = []
        for criterion in self.criteria:
            anchors = "\n".join(f"  {score}: {criterion.anchors[score]}" for score in SCORES)
            blocks.append(f"{criterion.name}: {criterion.definition}\n{anchors}")
        return "\n\n".join(blocks)


def _bundled() -> dict[str, str]:
    folder = resources.files("clinreason.judge") / "rubrics"
    return {p.name.removesuffix(".yaml"): p.read_text() for p in folder.iterdir() if p.name.endswith(".yaml")}


def rubric_names() -> list[str]:
    return sorted(_bundled())


def load_rubric(name_or_path: str | Path) -> Rubric:
    """A shipped rubric by name ('kwon', 'clinragen') or a YAML file of the same shape."""
    return load_named_model(name_or_path, _bundled(), Rubric, "rubric", "rubric")
