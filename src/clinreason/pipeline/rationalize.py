"""Teacher runs that save what the teacher wrote: `rationalize` (what `clinreason rationalize` does, as
one function) and `run_and_save`, the step with which every runner (pipeline, ablation) runs the
teacher on some records.

Results go to a JSONL file (one object per patient) with `<name>.summary.json` beside it. When the
teacher stops answering mid-run, the patients it finished are written first and the error is raised
after: nothing is lost (the generations themselves are in the cache already), and running again
resumes from the cache.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from clinreason.errors import ConfigError
from clinreason.evaluate.series_claims import verified_claims
from clinreason.progress import Observer
from clinreason.records.schema import Cohort, PatientRecord
from clinreason.teacher import (
    Exemplar,
    PromptTemplate,
    TeacherConfig,
    TeacherResult,
    TeacherRun,
    TeacherSession,
    TeacherTask,
    TeacherUnavailable,
    connect,
    load_exemplars,
    load_prompt,
    run_teacher,
    write_results,
)

__all__ = ["DEFAULT_PROMPTS", "rationalize", "run_and_save", "series_claim_counts"]

DEFAULT_PROMPTS: dict[TeacherTask, str] = {
    "rationalize": "kwon-rationalize",
    "diagnose": "diagnose",
    "clinragen": "clinragen-rationalize",
}


def run_and_save(
    session: TeacherSession,
    cohort: Cohort,
    records: Sequence[PatientRecord],
    template: PromptTemplate,
    out: str | Path,
    *,
    exemplars: Sequence[Exemplar] = (),
    observer: Observer | None = None,
    label: str | None = None,
) -> TeacherRun:
    """Run the teacher on `records` and write the results to `out` (the partial results too, when the
    teacher becomes unavailable, before the error is raised)."""
    observer = observer or Observer()
    observer.phase(label or f"teacher: {template.task} ({len(records)} patients)", len(records))
    counts: Counter[str] = Counter()

    def update(result: TeacherResult) -> None:
        counts[result.status] += 1
        info = f"{counts['kept']} kept, {counts['rejected']} rejected" + (
            f", {counts['failed']} failed" if counts["failed"] else ""
        )
        observer.advance(counts.total(), len(records), info)

    try:
        run = run_teacher(
            cohort,
            records,
            session.backend,
            session.cache,
            template,
            exemplars=exemplars,
            config=session.config,
            on_result=update,
        )
    except TeacherUnavailable as exc:
        if exc.partial is not None:
            write_results(exc.partial, out)
        raise
    write_results(run, out)
    return run


def rationalize(
    cohort: Cohort,
    records: Sequence[PatientRecord],
    teacher: TeacherConfig,
    out: str | Path,
    *,
    task: TeacherTask = "rationalize",
    prompt: str | None = None,
    exemplars: str | Path | None = None,
    zero_shot: bool = False,
    cache: str | Path | None = None,
    observer: Observer | None = None,
) -> TeacherRun:
    """Teacher rationales (or diagnoses, or ClinRaGen note and lab rationales) for `records`, cached and
    resumable; the teacher is checked before the first patient, so a wrong server fails at once.

    `prompt` defaults to the task's bundled template, `exemplars` to the cohort's bundled few-shot
    examples (none for clinragen, or with `zero_shot`); `cache` to the shared teacher cache."""
    observer = observer or Observer()
    template = load_prompt(prompt or DEFAULT_PROMPTS[task])
    if template.task != task:
        raise ConfigError(f"prompt {template.id} is for task '{template.task}', not '{task}'")
    shots = [] if zero_shot or task == "clinragen" else load_exemplars(cohort, exemplars)
    observer.note(
        f"{task} {len(records)} patient(s) of {cohort.name} with {teacher.backend}:{teacher.model}, "
        f"prompt {template.id}, {len(shots)} exemplar(s), {teacher.slots} slot(s)"
    )
    with connect(teacher, cache) as session:
        session.backend.check()
        return run_and_save(session, cohort, records, template, out, exemplars=shots, observer=observer, label=task)


def series_claim_counts(run: TeacherRun, records: Sequence[PatientRecord]) -> tuple[int, int]:
    """(supported, checked) claims about the time series and quotes of the note in the kept rationales."""
    by_id = {record.id: record for record in records}
    kept = [(r.rationale or "", by_id[r.record_id]) for r in run.results if r.status == "kept"]
    return verified_claims(kept)
