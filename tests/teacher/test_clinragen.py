from __future__ import annotations

from pathlib import Path

import pytest

from clinreason.errors import ConfigError
from clinreason.records import Note, PatientRecord, TimeSeriesPoint
from clinreason.records.synthetic import make_multimodal_cohort
from clinreason.teacher import Completion, Sampling, TeacherCache, load_prompt, run_teacher
from clinreason.teacher.backend import Message
from clinreason.teacher.clinragen import (
    build_clinragen_messages,
    knowledge_sheet,
    parse_clinragen_answer,
    split_rationale,
)


def _stay() -> PatientRecord:
    heart = [80, 120, 125]  # 2 high
    temp = [36.8, 37.0]  # normal
    points = [TimeSeriesPoint(variable="heart_rate", time=float(t), value=v) for t, v in enumerate(heart)]
    points += [TimeSeriesPoint(variable="temperature", time=float(t), value=v) for t, v in enumerate(temp)]
    return PatientRecord(
        id="s1",
        labels=["Shock"],
        time_series=points,
        notes=[Note(category="brief hospital course", text="Started on norepinephrine for hypotension.")],
    )


def test_messages_carry_note_series_diseases_and_retrieved_knowledge() -> None:
    template = load_prompt("clinragen-rationalize")
    system, user = build_clinragen_messages(template, _stay())
    assert "Started on norepinephrine for hypotension." in user["content"]
    assert "Heart rate is higher than normal twice" in user["content"]
    assert "Diagnosed diseases: Shock" in user["content"]
    # the knowledge of the diagnosed disease and of the out-of-range variable, not of normal ones
    assert "Shock: Circulatory failure" in system["content"]
    assert "heart rate: A heart rate above 100" in system["content"]
    assert "temperature:" not in knowledge_sheet(_stay())


def test_no_disease_and_wrong_template() -> None:
    record = _stay().model_copy(update={"labels": []})
    _, user = build_clinragen_messages(load_prompt("clinragen-rationalize"), record)
    assert "Diagnosed diseases: No disease is diagnosed" in user["content"]
    with pytest.raises(ConfigError, match="not 'clinragen'"):
        build_clinragen_messages(load_prompt("kwon-rationalize"), record)


@pytest.mark.parametrize(
    ("text", "note", "lab", "problem"),
    [
        (
            "Note rationale: Pressors were needed for low pressure.\nLab rationale: Heart rate was high twice here.",
            "Pressors were needed for low pressure.",
            "Heart rate was high twice here.",
            None,
        ),
        (  # reversed order and markdown
            "**Lab rationale:** Heart rate was high twice here.\n\n**Note rationale:** Pressors were needed today.",
            "Pressors were needed today.",
            "Heart rate was high twice here.",
            None,
        ),
        ("Note rationale: Pressors were needed for low pressure.", "", "", "no 'Lab rationale:' section"),
        ("Note rationale: ok.\nLab rationale: Heart rate was high twice.", "ok.", None, "the note rationale"),
    ],
)
def test_parse_answer(text: str, note: str, lab: str | None, problem: str | None) -> None:
    answer = parse_clinragen_answer(text)
    assert answer.note == note
    if lab is not None:
        assert answer.lab == lab
    assert (answer.problem is None) if problem is None else (problem in (answer.problem or ""))


class Scripted:
    kind, model_id, max_concurrency = "scripted", "clinragen-v1", 1

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.calls = 0

    def check(self) -> None: ...

    def close(self) -> None: ...

    def chat(self, messages: list[Message], sampling: Sampling) -> Completion:
        self.calls += 1
        return Completion(text=self.answers[min(self.calls - 1, len(self.answers) - 1)], completion_tokens=10)


def test_runner_retries_an_unparseable_answer_and_keeps_the_canonical_text(tmp_path: Path) -> None:
    cohort = make_multimodal_cohort(3, seed=1)
    good = "Lab rationale: The heart rate was elevated for hours.\nNote rationale: The note reports a clear infection."
    backend = Scripted(["I think it is sepsis.", good])
    with TeacherCache(tmp_path / "c.sqlite") as cache:
        run = run_teacher(cohort, cohort.records[:1], backend, cache, load_prompt("clinragen-rationalize"))
        again = run_teacher(cohort, cohort.records[:1], backend, cache, load_prompt("clinragen-rationalize"))
    result = run.results[0]
    assert (result.status, result.attempts, run.summary.task) == ("kept", 2, "clinragen")
    assert result.problems == ["no 'Note rationale:' and 'Lab rationale:' section"]
    assert result.rationale == (
        "Note rationale: The note reports a clear infection.\nLab rationale: The heart rate was elevated for hours."
    )
    assert split_rationale(result.rationale) == (
        "The note reports a clear infection.",
        "The heart rate was elevated for hours.",
    )
    assert backend.calls == 2 and again.summary.cached == 2 and again.results[0].rationale == result.rationale
