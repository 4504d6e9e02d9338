"""Per-model means of judged scores with seeded percentile-bootstrap 95% intervals over rationales."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

from clinreason.evaluate.summary import Interval
from clinreason.judge.llm import Judgement
from clinreason.judge.rubric import Rubric

__all__ = ["CriterionSummary", "JudgeSummary", "ModelJudgement", "summarise_judgements"]


class CriterionSummary(BaseModel):
    mean: float
    interval: Interval | None = Field(description="Percentile bootstrap over the scored rationales.")
    n: int


class ModelJudgement(BaseModel):
    scored: int
    unscored: int
    criteria: dict[str, CriterionSummary]
    overall: CriterionSummary | None = Field(description="The mean of a rationale's criterion scores.")


class JudgeSummary(BaseModel):
    rubric: str
    rubric_version: int
    judge: str = Field(description="backend:model of the judge.")
    with_gold: bool = Field(description="Whether the judge saw the gold label.")
    seed: int
    split: str
    created: str
    models: dict[str, ModelJudgement]

    @property
    def label(self) -> str:
        sees = "sees" if self.with_gold else "blind to"
        return f"{self.rubric} v{self.rubric_version}, judge {self.judge}, {sees} the gold label"


def _summary(values: Sequence[float], resamples: int, rng: np.random.Generator) -> CriterionSummary:
    array = np.asarray(values, dtype=float)
    interval = None
    if resamples > 0 and len(array) >= 2:
        means = array[rng.integers(0, len(array), (resamples, len(array)))].mean(axis=1)
        interval = Interval(low=float(np.percentile(means, 2.5)), high=float(np.percentile(means, 97.5)))
    return CriterionSummary(mean=float(array.mean()), interval=interval, n=len(array))


def summarise_judgements(
    judgements: Sequence[Judgement], rubric: Rubric, resamples: int = 1000, seed: int = 0
) -> dict[str, ModelJudgement]:
    rng = np.random.default_rng(seed)
    out: dict[str, ModelJudgement] = {}
    for model in dict.fromkeys(j.model for j in judgements):
        own = [j for j in judgements if j.model == model]
        scored = [j for j in own if j.scored]
        criteria = {
            name: _summary([j.scores[name].score for j in scored], resamples, rng) for name in rubric.names if scored
        }
        overall = (
            _summary([float(np.mean([s.score for s in j.scores.values()])) for j in scored], resamples, rng)
            if scored
            else None
        )
        out[model] = ModelJudgement(
            scored=len(scored), unscored=len(own) - len(scored), criteria=criteria, overall=overall
        )
    return out
