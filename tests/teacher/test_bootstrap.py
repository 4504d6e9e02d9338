"""Exemplars bootstrapped from training patients for a cohort without any (scripted teacher)."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml

from clinreason.teacher import TeacherCache, TeacherConfig, load_prompt
from clinreason.teacher.bootstrap import bootstrap_exemplars
from doubles import ScriptedBackend, toy_cohort


def _answer(glucose: int, letter: str, shown: str) -> str:
    return f"1. The glucose of {glucose} mg/dL is what this patient has.\nFinal Diagnosis: ({letter}) {shown}"


def test_only_verified_answers_become_exemplars_and_the_file_is_reused(tmp_path: Path) -> None:
    cohort = toy_cohort(6)  # p0, p2, p4 diabetes (glucose 100, 140, 180); p1, p3, p5 not (120, 160, 200)
    script: dict[str, list[str | Exception]] = {
        "p0": [_answer(999, "A", "Diabetes")],  # a wrong value: never an exemplar
        "p2": [_answer(140, "A", "Diabetes")],
        "p4": ["no final line at all, just words and more words"],
        "p1": [_answer(120, "B", "No diabetes")],
        "p3": [_answer(160, "A", "Diabetes")],  # another label than the gold one: rejected by the teacher run
        "p5": [_answer(200, "B", "No diabetes")],
    }
    backend = ScriptedBackend(script)
    out = tmp_path / "run" / "exemplars.yaml"
    with TeacherCache(tmp_path / "c.sqlite") as cache:
        shots = bootstrap_exemplars(
            cohort,
            cohort.records,
            backend,
            cache,
            load_prompt("kwon-rationalize"),
            out,
            config=TeacherConfig(max_attempts=1, early_stop_after=0),
            per_class=1,
            tries_per_class=3,
        )
        assert [(s.record.id, s.label) for s in shots] == [("p2", "diabetes"), ("p1", "no diabetes")] or [
            (s.record.id, s.label) for s in shots
        ] == [("p2", "diabetes"), ("p5", "no diabetes")]
        assert {s.label for s in shots} == {"diabetes", "no diabetes"}
        assert shots[0].record.findings["glucose"].value == 140.0 and "140 mg/dL" in shots[0].rationale
        assert all(call[1] == 0.0 for call in backend.calls)  # zero-shot, greedy
        assert stat.S_IMODE(out.stat().st_mode) == 0o600  # real training patients: owner-only
        saved = yaml.safe_load(out.read_text())
        assert saved["cohort"] == "toy" and "delete this file" in saved["note"]

        # the user edits the file: the edited rationale is used and the teacher is not asked again
        saved["exemplars"][0]["rationale"] = "1. Glucose 140 mg/dL, edited by a clinician.\nConclusion: diabetes."
        out.write_text(yaml.safe_dump(saved))
        calls = len(backend.calls)
        again = bootstrap_exemplars(cohort, cohort.records, backend, cache, load_prompt("kwon-rationalize"), out)
        assert "edited by a clinician" in again[0].rationale and len(backend.calls) == calls
