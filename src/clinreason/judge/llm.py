"""An LLM judge: scores each rationale on a rubric's criteria with a short justification.

The judge reads the patient's record (the text the models saw), the rationale and the rubric; it never
learns which model wrote the rationale, and the rationales are judged in an order shuffled with a seed,
one per prompt (absolute scoring, as in G-Eval-style judging). `with_gold` shows the gold label too: a
judge that knows the answer can rate correctness of the conclusion, one that does not judges the
reasoning alone; both are labelled in the results. Answers are parsed strictly (a JSON object with an
integer 1-5 and a reason for every criterion); an answer that does not parse is retried warmer with a
new seed, then the rationale is marked unscored with the reason. Every answer goes through the teacher
cache (keyed by rubric name and version, judge model and prompt), so a rerun or a resumed run costs
nothing for what was judged already.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel, Field

from clinreason.errors import ClinreasonError
from clinreason.judge.rubric import Rubric
from clinreason.progress import Observer
from clinreason.teacher.backend import BackendError, Message, Sampling
from clinreason.teacher.cache import cached_chat, retry_sampling
from clinreason.teacher.session import TeacherSession

__all__ = [
    "CriterionScore",
    "JudgeItem",
    "JudgeParseError",
    "Judgement",
    "judge_messages",
    "judge_rationales",
    "parse_judgement",
]

SYSTEM = (
    "You are a senior clinician reviewing clinical reasoning written about a patient. Rate the rationale on "
    "each criterion of the rubric with an integer from 1 to 5, using the anchors, and give a one-sentence "
    "reason for each score. Judge only what the rationale says against the patient record; you are not told "
    "who wrote it. Answer with one JSON object and nothing else, of the form "
    '{"<criterion>": {"score": <1-5>, "why": "<one sentence>"}, ...} with every criterion of the rubric.'
)


class JudgeItem(BaseModel):
    """One rationale to judge. `model` is kept for the results and never shown to the judge."""

    record_id: str
    model: str
    patient: str = Field(description="The record's text, as the models read it.")
    rationale: str
    gold: str | None = None


class CriterionScore(BaseModel):
    score: int = Field(ge=1, le=5)
    why: str = ""


class Judgement(BaseModel):
    record_id: str
    model: str
    scores: dict[str, CriterionScore] = Field(default_factory=dict, description="Empty when unscored.")
    attempts: int
    problem: str | None = Field(default=None, description="Why it is unscored (the last parse failure).")
    with_gold: bool

    @property
    def scored(self) -> bool:
        return bool(self.scores)


class JudgeParseError(ClinreasonError):
    """The judge's answer is not a JSON object with a 1-5 score for every criterion."""


def judge_messages(rubric: Rubric, item: JudgeItem, with_gold: bool) -> list[Message]:
    gold = f"\n\nConfirmed diagnosis (gold label): {item.gold}" if with_gold and item.gold else ""
    user = (
        f"Rubric '{rubric.name}' (version {rubric.version}):\n\n{rubric.text()}\n\n"
        f"Patient record:\n{item.patient}{gold}\n\nRationale to judge:\n{item.rationale}\n\n"
        f"Answer with the JSON object for the criteria {', '.join(rubric.names)}."
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def parse_judgement(text: str, rubric: Rubric) -> dict[str, CriterionScore]:
    """Scores from the judge's answer: the first JSON object in it (a ```json fence allowed); every
    criterion present with an integer 1-5; nothing else accepted."""
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    start = body.find("{")
    if start < 0:
        raise JudgeParseError("no JSON object in the answer")
    try:
        raw, _ = json.JSONDecoder().raw_decode(body[start:])
    except json.JSONDecodeError as exc:
        raise JudgeParseError(f"invalid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(raw, dict):
        raise JudgeParseError("the answer is not a JSON object")
    scores: dict[str, CriterionScore] = {}
    for name in rubric.names:
        entry = raw.get(name)
        if isinstance(entry, dict):
            score, why = entry.get("score"), entry.get("why", "")
        else:
            score, why = entry, ""
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise JudgeParseError(f"criterion '{name}': expected an integer score 1-5, got {score!r}")
        scores[name] = CriterionScore(score=score, why=str(why).strip())
    return scores


def judge_rationales(
    session: TeacherSession,
    rubric: Rubric,
    items: Sequence[JudgeItem],
    *,
    with_gold: bool = False,
    seed: int = 0,
    max_attempts: int = 3,
    max_tokens: int = 400,
    observer: Observer | None = None,
) -> list[Judgement]:
    """One judgement per item, in the items' order (judged in a seeded shuffled order)."""
    observer = observer or Observer()
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    sampling = Sampling(temperature=0.0, max_tokens=max_tokens, seed=seed)
    prompt_id = f"judge:{rubric.name}:v{rubric.version}:{'gold' if with_gold else 'blind'}"
    observer.phase(f"judging {len(items)} rationale(s) on rubric '{rubric.name}'", len(items))

    def one(index: int) -> Judgement:
        item = items[index]
        messages = judge_messages(rubric, item, with_gold)
        problem: str | None = None
        scores: dict[str, CriterionScore] = {}
        attempt = 0
        for attempt in range(1, max_attempts + 1):
            try:
                completion, _, _ = cached_chat(
                    session.backend,
                    session.cache,
                    prompt_id,
                    messages,
                    retry_sampling(sampling, attempt, 0.7),
                    record_id=item.record_id,
                    attempt=attempt,
                )
                scores = parse_judgement(completion.text, rubric)
                problem = None
                break
            except JudgeParseError as exc:
                problem = str(exc)
            except BackendError as exc:
                if not exc.retryable:
                    raise
                problem = f"judge call failed: {exc}"
        return Judgement(
            record_id=item.record_id,
            model=item.model,
            scores=scores,
            attempts=attempt,
            problem=problem,
            with_gold=with_gold,
        )

    results: dict[int, Judgement] = {}
    workers = max(1, int(getattr(session.backend, "max_concurrency", 1) or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:  # the backend's slots answer in parallel
        for done, (index, judgement) in enumerate(zip(order, pool.map(one, order), strict=True), start=1):
            results[index] = judgement
            observer.advance(done, len(items))
    return [results[i] for i in range(len(items))]
