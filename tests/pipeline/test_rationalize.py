from __future__ import annotations

from pathlib import Path

import pytest

from clinreason.errors import ConfigError
from clinreason.pipeline.rationalize import rationalize, run_and_save
from clinreason.teacher import TeacherConfig, TeacherUnavailable, connect, load_prompt, read_results
from doubles import ScriptedBackend, right, toy_cohort

UNREACHABLE = TeacherConfig(backend="openai", model="m", base_url="http://127.0.0.1:9/v1", timeout_s=2, max_retries=0)


def test_run_and_save_writes_the_finished_patients_before_a_teacher_outage_is_raised(tmp_path: Path) -> None:
    cohort = toy_cohort(4)
    script: dict[str, list[str | Exception]] = {"p0": [right("diabetes")], "p1": [right("no diabetes")]}
    script.update({f"p{i}": [TeacherUnavailable("the server went away")] for i in (2, 3)})
    out = tmp_path / "run" / "rationales.jsonl"
    config = UNREACHABLE.model_copy(update={"slots": 1})
    backend = ScriptedBackend(script, concurrency=1)
    with (
        connect(config, tmp_path / "c.sqlite", backend=backend) as session,
        pytest.raises(TeacherUnavailable, match="the server went away"),
    ):
        run_and_save(session, cohort, cohort.records, load_prompt("kwon-rationalize"), out)
    saved = read_results(out)
    assert [r.status for r in saved] == ["kept", "kept", "failed", "not_run"]
    assert out.with_suffix(".summary.json").is_file()


def test_rationalize_checks_the_teacher_before_the_first_patient(tmp_path: Path) -> None:
    cohort = toy_cohort(2)
    with pytest.raises(TeacherUnavailable, match="cannot reach"):
        rationalize(cohort, cohort.records, UNREACHABLE, tmp_path / "r.jsonl", cache=tmp_path / "c.sqlite")
    assert not (tmp_path / "r.jsonl").exists()


def test_rationalize_refuses_a_prompt_of_another_task(tmp_path: Path) -> None:
    cohort = toy_cohort(2)
    with pytest.raises(ConfigError, match="is for task 'diagnose', not 'rationalize'"):
        rationalize(cohort, cohort.records, UNREACHABLE, tmp_path / "r.jsonl", prompt="diagnose")
