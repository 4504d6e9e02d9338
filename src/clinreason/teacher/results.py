"""What a teacher run produced: one result per patient and the run's counts, and their files
(`<name>.jsonl`, one object per patient, with `<name>.summary.json` beside it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["RunSummary", "Status", "TeacherResult", "TeacherRun", "TeacherTask", "read_results", "write_results"]

TeacherTask = Literal["rationalize", "diagnose", "clinragen"]
Status = Literal["kept", "rejected", "failed", "not_run"]


class TeacherResult(BaseModel):
    record_id: str
    gold: list[str]
    task: TeacherTask
    status: Status = Field(description="kept: usable answer; rejected: never agreed or parsed; failed: call error")
    rationale: str | None = None
    stated: str | None = Field(default=None, description="The diagnosis the teacher stated.")
    attempts: int = 0
    problems: list[str] = Field(default_factory=list, description="Why each unused attempt was not kept.")
    keys: list[str] = Field(default_factory=list, description="Cache keys of the attempts.")
    error: str | None = None


class RunSummary(BaseModel):
    task: TeacherTask
    cohort: str
    teacher: str
    prompt: str
    total: int = 0
    kept: int = 0
    rejected: int = 0
    failed: int = 0
    not_run: int = 0
    retried: int = Field(default=0, description="Records that needed more than one attempt.")
    generated: int = Field(default=0, description="New generations (calls to the teacher).")
    cached: int = Field(default=0, description="Attempts answered from the cache.")
    completion_tokens: int = 0
    prompt_tokens: int = Field(default=0, description="Prompt tokens of the new generations.")
    cached_prompt_tokens: int = Field(default=0, description="Of those, served from the engine's prefix cache.")
    drafted_tokens: int = Field(default=0, description="Tokens proposed by speculative decoding.")
    accepted_tokens: int = Field(default=0, description="Of those, accepted by the model.")
    seconds: float = 0.0
    correct: int | None = Field(default=None, description="diagnose: answers equal to the gold label.")

    @property
    def accuracy(self) -> float | None:
        return None if self.correct is None or self.total == 0 else self.correct / self.total


class TeacherRun(BaseModel):
    results: list[TeacherResult]
    summary: RunSummary


def write_results(run: TeacherRun, path: str | Path) -> Path:
    """One JSON object per patient, then the summary next to it (`<name>.summary.json`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w") as handle:
        for result in run.results:
            handle.write(result.model_dump_json() + "\n")
    tmp.replace(path)
    summary_path = path.with_suffix(".summary.json")
    summary_path.write_text(json.dumps(run.summary.model_dump(), indent=2) + "\n")
    return path


def read_results(path: str | Path) -> list[TeacherResult]:
    path = Path(path)
    return [TeacherResult.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]
