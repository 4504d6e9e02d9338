from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clinreason.judge.controls import CONTROL
from clinreason.pipeline.judge import REFERENCE, collect_items, judge_run
from clinreason.teacher import TeacherConfig
from clinreason.teacher.backend import Completion, Message, Sampling


class Steady:
    """Scores every rationale 4 on every criterion of the kwon rubric, 2 when the patient is p-odd."""

    kind, model_id, max_concurrency = "scripted", "steady-judge", 1

    def __init__(self) -> None:
        self.calls = 0

    def check(self) -> None: ...

    def close(self) -> None: ...

    def chat(self, messages: list[Message], sampling: Sampling) -> Completion:
        from clinreason.judge import load_rubric

        self.calls += 1
        score = 4 if self.calls % 2 else 2
        return Completion(text=json.dumps({n: {"score": score, "why": "ok"} for n in load_rubric("kwon").names}))


@pytest.mark.slow
def test_judge_run_writes_summaries_into_the_run(run_folder: Path, tmp_path: Path) -> None:
    items, split = collect_items(run_folder)
    models = {item.model for item in items}
    assert split == "test" and {REFERENCE, "teacher:few-shot"} <= models
    assert "student:label" not in models  # a label student writes no rationale
    # the doubles' references state no value, so there is no control copy to make (tests/judge/test_controls.py
    # alters real ones)
    with_control, _ = collect_items(run_folder, control=True)
    assert with_control == items and not any(item.model == CONTROL for item in with_control)
    written = [json.loads(line) for line in (run_folder / "predictions" / "student-rationale_then_label.jsonl").open()]
    expected = sum(1 for row in written if row["rationale"])  # the tiny student often writes none
    assert sum(item.model == "student:rationale_then_label" for item in items) == expected
    backend = Steady()
    summary = judge_run(
        run_folder, "kwon", TeacherConfig.from_spec("gguf:smollm2-135m"), cache=tmp_path / "c.sqlite", backend=backend
    )
    # blind: the same text about the same patient is the same prompt, judged once (here the doubles'
    # few-shot and reference rationales are word for word the same)
    assert backend.calls == len({(item.record_id, item.rationale) for item in items}) < len(items)
    assert sum(m.scored for m in summary.models.values()) == len(items)
    out = run_folder / "judge" / "kwon-gguf-smollm2-135m-blind.json"
    assert out.is_file() and out.stat().st_mode & 0o777 == 0o600
    assert len((run_folder / "judge" / "kwon-gguf-smollm2-135m-blind.jsonl").read_text().splitlines()) == len(items)
    metrics = json.loads((run_folder / "metrics.json").read_text())
    assert metrics["judged"]["kwon-gguf-smollm2-135m-blind"]["rubric"] == "kwon"
    page = (run_folder / "report.html").read_text()
    assert page.count("<!-- judge:kwon-gguf-smollm2-135m-blind -->") == 1 and "LLM judge: kwon v1" in page
    judge_run(
        run_folder, "kwon", TeacherConfig.from_spec("gguf:smollm2-135m"), cache=tmp_path / "c.sqlite", backend=Steady()
    )
    assert (run_folder / "report.html").read_text().count("<!-- judge:kwon-gguf-smollm2-135m-blind -->") == 1


@pytest.mark.slow
def test_the_judge_runs_for_real_with_the_packaged_smollm2(run_folder: Path, tmp_path: Path) -> None:
    """Whatever the 135M model answers: every rationale ends scored or marked unscored with the reason."""
    from clinreason.cli import app

    result = CliRunner().invoke(
        app,
        [
            "judge",
            str(run_folder),
            "--rubric",
            "clinragen",
            "--judge",
            "gguf:smollm2-135m",
            "--limit",
            "2",
            "--cache",
            str(tmp_path / "real.sqlite"),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = (run_folder / "judge" / "clinragen-gguf-smollm2-135m-blind.jsonl").read_text().splitlines()
    judged = [json.loads(line) for line in lines]
    assert judged and all(j["scores"] or j["problem"] for j in judged)
    assert "| model | judged | unscored |" in result.output
