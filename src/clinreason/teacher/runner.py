"""Run the teacher over a cohort: rationalize (gold label given), diagnose (teacher's own answer) or
clinragen (ClinRaGen's note and lab rationales for the diagnosed diseases).

Each record is tried up to `max_attempts` times. In rationalization a rationale is kept only when
its stated diagnosis equals the gold label; retries sample at a higher temperature with a new seed,
and a record that never agrees is rejected, not kept. Every generation goes to the cache first, so
stopping at any point loses nothing, and running again repeats no generation.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from clinreason.knowledge import fact_sheet
from clinreason.records.schema import Cohort, PatientRecord
from clinreason.teacher.backend import (
    BackendError,
    Message,
    Sampling,
    TeacherAnswersRejected,
    TeacherBackend,
    TeacherUnavailable,
)
from clinreason.teacher.cache import TeacherCache, cache_key, cached_chat, retry_sampling
from clinreason.teacher.clinragen import build_clinragen_messages, parse_clinragen_answer
from clinreason.teacher.config import TeacherConfig
from clinreason.teacher.exemplars import Exemplar
from clinreason.teacher.parsing import parse_answer, repeated_line
from clinreason.teacher.prompts import PromptTemplate, build_messages, options
from clinreason.teacher.results import RunSummary, TeacherResult, TeacherRun

log = logging.getLogger(__name__)


class _State:
    def __init__(self, stop_after: int, config: TeacherConfig) -> None:
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.stop_after = stop_after
        self.consecutive_failures = 0
        self.fatal: BaseException | None = None
        self.early_after, self.early_share = config.early_stop_after, config.early_stop_rejected
        self.first_problems: list[str | None] = []  # of each patient's first answer (None: usable)
        self.abandoned: str | None = None

    def first_answer(self, problem: str | None) -> None:
        """Stop the run when most of the first `early_after` first answers were unusable."""
        with self.lock:
            self.first_problems.append(problem)
            if not self.early_after or len(self.first_problems) != self.early_after:
                return
            problems = [p for p in self.first_problems if p is not None]
            if len(problems) >= self.early_share * self.early_after:
                common = Counter(_problem_kind(p) for p in problems).most_common(3)
                self.abandoned = (
                    f"{len(problems)} of the teacher's first {self.early_after} answers were rejected ("
                    + ", ".join(f"{kind}: {count}" for kind, count in common)
                    + "); stopped early. Check the cohort spec's task and question, give exemplars "
                    "(teacher.exemplars or --exemplars), or use a stronger teacher; the answers so far are cached"
                )
                self.stop.set()

    def success(self) -> None:
        with self.lock:
            self.consecutive_failures = 0

    def failure(self, exc: BackendError) -> None:
        with self.lock:
            self.consecutive_failures += 1
            if isinstance(exc, TeacherUnavailable) or self.consecutive_failures >= self.stop_after:
                self.fatal = self.fatal or exc
                self.stop.set()


def run_teacher(
    cohort: Cohort,
    records: Sequence[PatientRecord],
    backend: TeacherBackend,
    cache: TeacherCache,
    template: PromptTemplate,
    *,
    exemplars: Sequence[Exemplar] = (),
    config: TeacherConfig | None = None,
    stop_after_failures: int = 5,
    on_result: Callable[[TeacherResult], None] | None = None,
) -> TeacherRun:
    """`config` gives the sampling, attempts, retry temperature and slots (its backend fields are not
    used: `backend` is already built). Raises TeacherUnavailable, with the run so far as `partial`
    (all finished work is in the cache), when the teacher stops answering."""
    task = template.task
    if task not in ("rationalize", "diagnose", "clinragen"):
        raise ValueError(f"prompt {template.id} is for task '{task}', not rationalize/diagnose/clinragen")
    config = config or TeacherConfig()
    sampling, max_attempts, retry_temperature = config.sampling, config.max_attempts, config.retry_temperature
    if task in ("rationalize", "diagnose"):
        sampling = length_budget(sampling, cohort, config.tokens_per_finding)
    render, judge = _task(template, cohort, exemplars)
    summary = RunSummary(
        task=task,
        cohort=cohort.name,
        teacher=f"{backend.kind}:{backend.model_id}",
        prompt=template.id,
        total=len(records),
        correct=0 if task == "diagnose" else None,
    )
    state = _State(stop_after_failures, config)
    counter_lock = threading.Lock()

    def one(record: PatientRecord) -> TeacherResult:
        result = TeacherResult(record_id=record.id, gold=list(record.labels), task=task, status="not_run")
        if state.stop.is_set():
            result.error = "not run: the run stopped early"
            return result
        messages = render(record)
        for attempt in range(1, max_attempts + 1):
            settings = retry_sampling(sampling, attempt, retry_temperature)
            if (
                state.stop.is_set()
                and cache.get(cache_key(backend.kind, backend.model_id, template.id, messages, settings)) is None
            ):
                result.error = result.error or "not finished: the run stopped early"
                break
            try:
                completion, key, from_cache = cached_chat(
                    backend,
                    cache,
                    template.id,
                    messages,
                    settings,
                    cohort=cohort.name,
                    record_id=record.id,
                    attempt=attempt,
                )
            except BackendError as exc:
                log.warning("patient %s, attempt %d: %s", record.id, attempt, exc)
                state.failure(exc)
                result.status, result.error = "failed", str(exc)
                return result
            with counter_lock:
                if from_cache:
                    summary.cached += 1
                else:
                    summary.generated += 1
                    summary.completion_tokens += completion.completion_tokens or 0
                    summary.prompt_tokens += completion.prompt_tokens or 0
                    summary.cached_prompt_tokens += completion.cached_prompt_tokens or 0
                    summary.drafted_tokens += completion.drafted_tokens or 0
                    summary.accepted_tokens += completion.accepted_tokens or 0
            if not from_cache:
                state.success()
            result.attempts, result.keys = attempt, [*result.keys, key]
            rationale, stated, problem = judge(completion.text, record)
            if problem is not None and (loop := repeated_line(completion.text)) is not None:
                problem += f"; the answer loops ('{loop[0][:60]}' {loop[1]} times)"
            if attempt == 1:
                state.first_answer(problem)
            if problem is None:
                result.status, result.rationale, result.stated = "kept", rationale, stated
                return result
            result.problems.append(problem)
            result.stated = stated
        if result.attempts:
            result.status = "rejected"
        return result

    started = time.perf_counter()
    results: dict[str, TeacherResult] = {}
    workers = max(1, min(config.slots, backend.max_concurrency))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="teacher") as pool:
        futures = [pool.submit(one, record) for record in records]
        try:
            for future in as_completed(futures):
                result = future.result()
                results[result.record_id] = result
                _count(summary, result)
                if on_result is not None:
                    on_result(result)
        except BaseException:
            state.stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    summary.seconds = time.perf_counter() - started
    run = TeacherRun(results=[results[record.id] for record in records], summary=summary)
    if state.abandoned is not None:
        raise TeacherAnswersRejected(state.abandoned, partial=run)
    if state.fatal is not None:
        done = summary.kept + summary.rejected
        raise TeacherUnavailable(
            f"the teacher stopped answering ({state.fatal}); {done} finished patient(s) are cached in "
            f"{cache.path}, run the same command again to resume",
            partial=run,
        ) from state.fatal
    return run


def length_budget(sampling: Sampling, cohort: Cohort, per_finding: int) -> Sampling:
    """More tokens for cohorts with many findings (one numbered point each), never fewer than configured;
    the bundled cohorts stay within the default 384, so their cache keys do not change."""
    findings = len({key for record in cohort.records for key in record.findings})
    budget = 96 + per_finding * (findings + 1)
    return (
        sampling.model_copy(update={"max_tokens": budget}) if per_finding and budget > sampling.max_tokens else sampling
    )


def _problem_kind(problem: str) -> str:
    """A problem without its patient-specific part, for counting ("stated 'x', gold 'y'" -> "another label")."""
    if problem.startswith("stated "):
        return "another label than the gold one"
    kind = problem.split(";")[0]
    kind = re.sub(r"^'.*' matches no option$", "the final line matches no option", kind)
    kind = re.sub(r" in '.*' disagree$", " disagree", kind)
    return re.sub(r"\(\w\)", "(x)", kind).strip()


Judge = Callable[[str, PatientRecord], tuple[str, str | None, str | None]]  # -> rationale, stated, problem


def _task(
    template: PromptTemplate, cohort: Cohort, exemplars: Sequence[Exemplar]
) -> tuple[Callable[[PatientRecord], list[Message]], Judge]:
    """How a record becomes messages for this task, and how an answer is judged usable."""
    if template.task == "clinragen":

        def judge_clinragen(text: str, record: PatientRecord) -> tuple[str, str | None, str | None]:
            answer = parse_clinragen_answer(text)
            return answer.text(), None, answer.problem

        return (lambda record: build_clinragen_messages(template, record)), judge_clinragen
    sheet = fact_sheet(cohort)
    choices = options(cohort)

    def judge(text: str, record: PatientRecord) -> tuple[str, str | None, str | None]:
        parsed = parse_answer(text, choices)
        problem = parsed.problem
        if template.task == "rationalize" and problem is None and parsed.label != record.labels[0]:
            problem = f"stated '{parsed.label}', gold '{record.labels[0]}'"
        return parsed.rationale, parsed.label, problem

    return (lambda record: build_messages(template, cohort, record, list(exemplars), sheet)), judge


def _count(summary: RunSummary, result: TeacherResult) -> None:
    if result.status == "kept":
        summary.kept += 1
    elif result.status == "rejected":
        summary.rejected += 1
    elif result.status == "failed":
        summary.failed += 1
    else:
        summary.not_run += 1
    if result.attempts > 1:
        summary.retried += 1
    if summary.correct is not None and result.status == "kept" and result.stated in result.gold:
        summary.correct += 1
