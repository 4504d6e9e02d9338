"""Judging rationales beyond claim checks: shipped rubrics and an LLM judge (`clinreason judge`)."""

from clinreason.judge.llm import (
    CriterionScore,
    JudgeItem,
    Judgement,
    JudgeParseError,
    judge_rationales,
    parse_judgement,
)
from clinreason.judge.rubric import Criterion, Rubric, load_rubric, rubric_names
from clinreason.judge.summary import JudgeSummary, ModelJudgement, summarise_judgements

__all__ = [
    "Criterion",
    "CriterionScore",
    "JudgeItem",
    "JudgeParseError",
    "JudgeSummary",
    "Judgement",
    "ModelJudgement",
    "Rubric",
    "judge_rationales",
    "load_rubric",
    "parse_judgement",
    "rubric_names",
    "summarise_judgements",
]
