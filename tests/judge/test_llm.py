from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinreason.judge import JudgeItem, JudgeParseError, judge_rationales, load_rubric, parse_judgement
from clinreason.judge.summary import summarise_judgements
from clinreason.teacher import TeacherConfig, connect
from clinreason.teacher.backend import Completion, Message, Sampling

RUBRIC = load_rubric("kwon")


def answer(score: int = 4, **override: object) -> str:
    scores = {name: {"score": score, "why": f"{name} is fine."} for name in RUBRIC.names}
    scores.update(override)  # type: ignore[arg-type]
    return json.dumps(scores)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("The rationale is good.", "no JSON object"),
        ('{"consistency": {"score": 4}', "invalid JSON"),
        (answer(human_likeness={"score": 6}), "criterion 'human_likeness': expected an integer score 1-5, got 6"),
        (answer(correctness={"score": "4"}), "criterion 'correctness': expected an integer score 1-5, got '4'"),
        (answer(helpfulness={"score": True}), "got True"),
        (json.dumps({"consistency": {"score": 3}}), "criterion 'correctness'"),
    ],
)
def test_the_parser_is_strict(text: str, message: str) -> None:
    with pytest.raises(JudgeParseError, match=message):
        parse_judgement(text, RUBRIC)


def test_the_parser_reads_a_fenced_object_and_bare_scores() -> None:
    scores = parse_judgement("Here you go:\n```json\n" + answer(3, specificity=2) + "\n```", RUBRIC)
    assert scores["consistency"].score == 3 and scores["specificity"].score == 2 and scores["specificity"].why == ""


class Judge:
    """Answers from a list in call order; records what it was shown."""

    kind, model_id, max_concurrency = "scripted", "judge-v1", 1

    def __init__(self, answers: list[str]) -> None:
        self.answers, self.seen = answers, []  # type: ignore[var-annotated]

    def check(self) -> None: ...

    def close(self) -> None: ...

    def chat(self, messages: list[Message], sampling: Sampling) -> Completion:
        self.seen.append((str(messages[-1]["content"]), sampling))
        return Completion(text=self.answers[len(self.seen) - 1])


ITEMS = [
    JudgeItem(
        record_id="p1", model="student:a", patient="A 50-year-old woman.", rationale="Glucose is high.", gold="diabetes"
    ),
    JudgeItem(
        record_id="p1", model="student:b", patient="A 50-year-old woman.", rationale="BMI is 35.", gold="diabetes"
    ),
]


def test_the_judge_is_blind_retries_then_marks_unscored_and_caches(tmp_path: Path) -> None:
    config = TeacherConfig.from_spec("gguf:smollm2-135m")
    cache = tmp_path / "cache.sqlite"
    # shuffled with seed 0 the order is fixed; whichever comes first gets a good answer, the other
    # two unparseable answers and then a good one, so both end scored; a third call round is not needed
    backend = Judge([answer(4), "no json", "still none", answer(2)])
    with connect(config, cache, backend=backend) as session:
        first = judge_rationales(session, RUBRIC, ITEMS, seed=0)
    assert [j.model for j in first] == ["student:a", "student:b"]  # results in the items' order
    assert sorted(j.attempts for j in first) == [1, 3] and all(j.scored for j in first)
    assert all("student:" not in prompt for prompt, _ in backend.seen)  # blind to who wrote it
    assert all("gold label" not in prompt for prompt, _ in backend.seen)
    assert backend.seen[2][1].temperature > 0 and backend.seen[2][1].seed != backend.seen[1][1].seed  # retried warmer
    again = Judge([])  # every answer from the cache: no call at all
    with connect(config, cache, backend=again) as session:
        assert judge_rationales(session, RUBRIC, ITEMS, seed=0) == first
    assert again.seen == []
    never = Judge(["no", "no", "no"] * 2)
    with connect(config, tmp_path / "other.sqlite", backend=never) as session:
        unscored = judge_rationales(session, RUBRIC, ITEMS[:1], seed=0, with_gold=True)
    assert (
        not unscored[0].scored and unscored[0].problem == "no JSON object in the answer" and unscored[0].attempts == 3
    )
    assert "Confirmed diagnosis (gold label): diabetes" in never.seen[0][0]


def test_per_model_means_and_intervals_by_hand() -> None:
    from clinreason.judge import CriterionScore, Judgement

    def judged(model: str, score: int) -> Judgement:
        return Judgement(
            record_id="p",
            model=model,
            attempts=1,
            with_gold=False,
            scores={name: CriterionScore(score=score) for name in RUBRIC.names},
        )

    summary = summarise_judgements([judged("a", 2), judged("a", 4), judged("b", 5)], RUBRIC, resamples=200)
    assert summary["a"].criteria["consistency"].mean == 3.0 and summary["a"].scored == 2
    interval = summary["a"].criteria["consistency"].interval
    assert interval is not None and 2.0 <= interval.low <= 3.0 <= interval.high <= 4.0
    assert summary["b"].criteria["consistency"].interval is None  # one rationale: no interval
    assert summary["b"].overall is not None and summary["b"].overall.mean == 5.0
