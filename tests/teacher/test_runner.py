from __future__ import annotations

from pathlib import Path

import pytest

from clinreason.teacher import (
    BackendError,
    Sampling,
    TeacherCache,
    TeacherConfig,
    TeacherUnavailable,
    load_prompt,
    read_results,
    run_teacher,
    write_results,
)
from doubles import RATIONALE, ScriptedBackend, right, toy_cohort


def test_kept_retried_rejected_and_failed(tmp_path: Path) -> None:
    cohort = toy_cohort(4)
    script: dict[str, list[str | Exception]] = {
        "p0": [right("diabetes")],
        "p1": ["no final line here at all", right("no diabetes")],
        "p2": [right("no diabetes")],  # always contradicts the gold label (diabetes)
        "p3": [BackendError("boom")],
    }
    backend = ScriptedBackend(script)
    with TeacherCache(tmp_path / "c.sqlite") as cache:
        run = run_teacher(
            cohort,
            cohort.records,
            backend,
            cache,
            load_prompt("kwon-rationalize"),
            config=TeacherConfig(max_attempts=3),
        )
    by_id = {r.record_id: r for r in run.results}
    assert [r.record_id for r in run.results] == ["p0", "p1", "p2", "p3"]
    assert (by_id["p0"].status, by_id["p0"].attempts, by_id["p0"].rationale) == ("kept", 1, RATIONALE)
    assert (by_id["p1"].status, by_id["p1"].attempts) == ("kept", 2)
    assert by_id["p1"].problems == ["no 'Final Diagnosis' line"]
    assert (by_id["p2"].status, by_id["p2"].attempts, by_id["p2"].rationale) == ("rejected", 3, None)
    assert by_id["p2"].problems == ["stated 'no diabetes', gold 'diabetes'"] * 3
    assert (by_id["p3"].status, by_id["p3"].error) == ("failed", "boom")
    s = run.summary
    assert (s.kept, s.rejected, s.failed, s.retried, s.generated, s.cached) == (2, 1, 1, 2, 6, 0)
    # Retries sample at the retry temperature; first attempts at the configured one.
    assert sorted(t for rid, t in backend.calls if rid == "p2") == [0.0, 0.7, 0.7]


def test_second_run_is_served_from_the_cache(tmp_path: Path) -> None:
    cohort = toy_cohort(4)
    script = {r.id: [right(r.label)] for r in cohort.records}
    template = load_prompt("kwon-rationalize")
    with TeacherCache(tmp_path / "c.sqlite") as cache:
        first = run_teacher(cohort, cohort.records, ScriptedBackend(script), cache, template)
        backend = ScriptedBackend(script)
        second = run_teacher(cohort, cohort.records, backend, cache, template)
    assert first.summary.generated == 4 and second.summary.generated == 0 and second.summary.cached == 4
    assert backend.calls == []
    assert [r.rationale for r in second.results] == [r.rationale for r in first.results]


def test_changed_sampling_means_new_generations(tmp_path: Path) -> None:
    cohort = toy_cohort(2)
    script = {r.id: [right(r.label)] for r in cohort.records}
    template = load_prompt("kwon-rationalize")
    with TeacherCache(tmp_path / "c.sqlite") as cache:
        run_teacher(cohort, cohort.records, ScriptedBackend(script), cache, template)
        again = run_teacher(
            cohort,
            cohort.records,
            ScriptedBackend(script),
            cache,
            template,
            config=TeacherConfig(sampling=Sampling(max_tokens=100)),
        )
    assert again.summary.generated == 2


def test_consecutive_failures_stop_the_run_and_keep_finished_work(tmp_path: Path) -> None:
    cohort = toy_cohort(6)
    script: dict[str, list[str | Exception]] = {"p0": [right("diabetes")], "p1": [right("no diabetes")]}
    script.update({f"p{i}": [BackendError("connection refused", retryable=True)] for i in range(2, 6)})
    with TeacherCache(tmp_path / "c.sqlite") as cache:
        with pytest.raises(TeacherUnavailable, match="run the same command again to resume") as info:
            run_teacher(
                cohort,
                cohort.records,
                ScriptedBackend(script, concurrency=1),
                cache,
                load_prompt("kwon-rationalize"),
                stop_after_failures=2,
            )
        assert len(cache) == 2  # the finished generations are kept
    partial = info.value.partial
    assert partial is not None
    assert [r.status for r in partial.results] == ["kept", "kept", "failed", "failed", "not_run", "not_run"]


def test_unavailable_teacher_stops_at_once(tmp_path: Path) -> None:
    cohort = toy_cohort(3)
    script: dict[str, list[str | Exception]] = {r.id: [TeacherUnavailable("bad key")] for r in cohort.records}
    with TeacherCache(tmp_path / "c.sqlite") as cache, pytest.raises(TeacherUnavailable, match="bad key"):
        run_teacher(
            cohort,
            cohort.records,
            ScriptedBackend(script, concurrency=1),
            cache,
            load_prompt("kwon-rationalize"),
        )


def test_diagnose_task_reports_accuracy(tmp_path: Path) -> None:
    cohort = toy_cohort(4)
    script = {"p0": [right("diabetes")], "p1": [right("diabetes")], "p2": [right("diabetes")], "p3": ["?"]}
    with TeacherCache(tmp_path / "c.sqlite") as cache:
        run = run_teacher(
            cohort,
            cohort.records,
            ScriptedBackend(script),
            cache,
            load_prompt("diagnose"),
            config=TeacherConfig(max_attempts=1),
        )
    assert [r.stated for r in run.results] == ["diabetes", "diabetes", "diabetes", None]
    assert run.summary.correct == 2 and run.summary.accuracy == 0.5
    assert run.results[1].status == "kept"  # a wrong answer is still an answer in diagnosis mode


def test_results_round_trip(tmp_path: Path) -> None:
    cohort = toy_cohort(2)
    script = {r.id: [right(r.label)] for r in cohort.records}
    with TeacherCache(tmp_path / "c.sqlite") as cache:
        run = run_teacher(cohort, cohort.records, ScriptedBackend(script), cache, load_prompt("kwon-rationalize"))
    path = write_results(run, tmp_path / "out" / "r.jsonl")
    assert read_results(path) == run.results
    assert '"kept": 2' in path.with_suffix(".summary.json").read_text()


def test_most_first_answers_rejected_stops_the_run_early(tmp_path: Path) -> None:
    from clinreason.teacher import TeacherAnswersRejected

    cohort = toy_cohort(8)
    loop = "1. The glucose is not relevant to the diagnosis here.\n" * 4
    script: dict[str, list[str | Exception]] = {r.id: [loop] for r in cohort.records}
    script["p0"] = [right("diabetes")]
    backend = ScriptedBackend(script, concurrency=1)
    config = TeacherConfig(max_attempts=3, early_stop_after=4, early_stop_rejected=0.75)
    with TeacherCache(tmp_path / "c.sqlite") as cache, pytest.raises(TeacherAnswersRejected) as caught:
        run_teacher(cohort, cohort.records, backend, cache, load_prompt("kwon-rationalize"), config=config)
    message = str(caught.value)
    assert "3 of the teacher's first 4 answers were rejected" in message
    assert "no 'Final Diagnosis' line: 3" in message and "task and question" in message
    partial = caught.value.partial
    assert partial is not None and partial.summary.kept == 1  # the finished work is handed back
    assert any("the answer loops" in p for r in partial.results for p in r.problems)
    assert len(backend.calls) < 8 * 3  # far fewer than every patient's every attempt


def test_early_stop_can_be_turned_off(tmp_path: Path) -> None:
    cohort = toy_cohort(4)
    script: dict[str, list[str | Exception]] = {r.id: ["no final line here at all"] for r in cohort.records}
    config = TeacherConfig(max_attempts=1, early_stop_after=0)
    with TeacherCache(tmp_path / "c.sqlite") as cache:
        run = run_teacher(
            cohort, cohort.records, ScriptedBackend(script), cache, load_prompt("diagnose"), config=config
        )
    assert run.summary.rejected == 4


def test_length_budget_grows_with_the_findings() -> None:
    from clinreason.records import Finding, load_cohort
    from clinreason.teacher.runner import length_budget

    pima = load_cohort("pima-diabetes")
    assert length_budget(Sampling(), pima, 24) == Sampling()  # bundled cohorts keep their cache keys
    wide = toy_cohort(2)
    for record in wide.records:
        record.findings.update(
            {f"f{i}": Finding(name=f"f{i}", label=f"finding {i}", value=float(i)) for i in range(16)}
        )
    assert length_budget(Sampling(), wide, 24).max_tokens == 96 + 24 * 18  # 17 findings and the age line
    assert length_budget(Sampling(), wide, 0).max_tokens == Sampling().max_tokens
