"""The end-to-end job: rationalize -> distill -> predict -> evaluate -> report, into one run folder.

Every step writes its output before the next starts and is skipped when its output is already there,
the teacher resumes from its cache and training from its last checkpoint: a run stopped at any point
continues when started again with the same config. A run folder made with a different config is
refused rather than silently mixed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from clinreason import __version__
from clinreason.errors import ConfigError
from clinreason.evaluate.baselines import evaluate_baselines
from clinreason.evaluate.claims import cohort_categories, verified_only
from clinreason.evaluate.decision import fit_decision_rule
from clinreason.evaluate.diagnosis import NO_ANSWER
from clinreason.evaluate.report import Answer, ReportInput, render_report
from clinreason.evaluate.summary import ModelMetrics, RationaleMetrics, model_metrics, rationale_metrics, verdict
from clinreason.knowledge import fact_sheet
from clinreason.pipeline.card import write_cards
from clinreason.pipeline.config import RunConfig
from clinreason.pipeline.rationalize import run_and_save
from clinreason.pipeline.results import RunMetrics, TeacherReport
from clinreason.pipeline.shipped import seed_file
from clinreason.progress import Observer
from clinreason.records import Splits, load_cohort, make_splits
from clinreason.records.schema import Cohort, PatientRecord
from clinreason.run_folder import claim_folder, config_hash
from clinreason.student.checkpoint import load_checkpoint
from clinreason.student.data import build_examples
from clinreason.student.model import Student, load_student, prepare
from clinreason.student.numeric import add_value_tokens, fit_numeric_plan, option_token_ids
from clinreason.student.numeric_model import NumericStudent
from clinreason.student.predict import Prediction, predict
from clinreason.student.train import EvalPoint, TrainResult, train, training_finished
from clinreason.student.validation import diagnosis_validator
from clinreason.teacher import (
    Exemplar,
    RunSummary,
    TeacherResult,
    TeacherRun,
    TeacherSession,
    connect,
    load_exemplars,
    load_prompt,
    read_results,
)
from clinreason.teacher.bootstrap import bootstrap_exemplars
from clinreason.teacher.prompts import options

log = logging.getLogger(__name__)

TIMINGS_FILE = "timings.json"


@dataclass
class RunOutput:
    folder: Path
    metrics: RunMetrics | None  # None when the run stopped after training
    report: Path | None
    timings: dict[str, float] = field(default_factory=dict)


def _splits(config: RunConfig, cohort: Cohort, folder: Path) -> Splits:
    path = folder / "splits.json"
    if path.is_file():
        splits = Splits.load(path)
    elif config.data.splits is not None:
        splits = Splits.load(config.data.splits)
    else:
        splits = make_splits(cohort, seed=config.data.seed, fractions=config.data.fractions)
    splits.check(cohort)
    splits.save(path)
    return splits


def _teacher_step(
    session: TeacherSession,
    config: RunConfig,
    cohort: Cohort,
    records: list[PatientRecord],
    task: str,
    out: Path,
    observer: Observer,
    label: str,
    exemplars: Callable[[], list[Exemplar]],
) -> TeacherRun:
    """One teacher job of the run; a job whose results are already in the run folder is read back."""
    if _saved(out):
        summary = RunSummary.model_validate_json(out.with_suffix(".summary.json").read_text())
        return TeacherRun(results=read_results(out), summary=summary)
    settings = config.teacher
    template = load_prompt(settings.prompt if task == "rationalize" else settings.diagnose_prompt)
    return run_and_save(session, cohort, records, template, out, exemplars=exemplars(), observer=observer, label=label)


def _exemplars(ctx: _Context, session: TeacherSession) -> list[Exemplar]:
    """The configured or bundled exemplars; for a cohort without any, ones bootstrapped from training
    patients (saved as exemplars.yaml in the run folder, which is used as it is when present)."""
    settings = ctx.config.teacher
    if settings.zero_shot:
        return []
    shots = load_exemplars(ctx.cohort, settings.exemplars)
    if shots or settings.exemplars is not None or not settings.bootstrap_exemplars:
        return shots
    out = ctx.folder / "exemplars.yaml"
    if not out.is_file():
        ctx.observer.phase(f"teacher: exemplar candidates ({ctx.cohort.name} has no exemplars)", None)
    shots = bootstrap_exemplars(
        ctx.cohort,
        ctx.train_records,
        session.backend,
        session.cache,
        load_prompt(settings.prompt),
        out,
        config=session.config,
        per_class=settings.bootstrap_exemplars,
        seed=ctx.config.data.seed,
    )
    ctx.observer.note(
        f"{len(shots)} exemplar(s) for {ctx.cohort.name} from its training patients in {out} (read or edit them; "
        "delete the file to make new ones)"
    )
    return shots


def _saved(out: Path) -> bool:
    return out.is_file() and out.with_suffix(".summary.json").is_file()


def _teacher_answer(result: TeacherResult) -> str:
    """The diagnosis the teacher stated without the label, or NO_ANSWER when it gave none usable."""
    return result.stated if result.status == "kept" and result.stated else NO_ANSWER


def _kept(run: TeacherRun) -> dict[str, str]:
    return {r.record_id: r.rationale for r in run.results if r.status == "kept" and r.rationale}


def _write_predictions(path: Path, predictions: list[Prediction]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(p.model_dump_json() + "\n" for p in predictions))
    tmp.replace(path)


def _read_predictions(path: Path) -> list[Prediction]:
    return [Prediction.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class _Context:
    """What every stage of a run needs."""

    config: RunConfig
    observer: Observer
    folder: Path
    cohort: Cohort
    splits: Splits
    train_records: list[PatientRecord]
    val_records: list[PatientRecord]
    test_records: list[PatientRecord]
    timings: dict[str, float] = field(default_factory=dict)
    main_process: bool = True

    def record(self, stage: str, seconds: float) -> None:
        """A stage's time, kept in the folder: a rerun that reuses the stage keeps the recorded time."""
        self.timings[stage] = seconds
        if self.main_process:
            (self.folder / TIMINGS_FILE).write_text(json.dumps(self.timings, indent=2) + "\n")


def _recorded_timings(folder: Path) -> dict[str, float]:
    path = folder / TIMINGS_FILE
    try:
        return {str(k): float(v) for k, v in json.loads(path.read_text()).items()} if path.is_file() else {}
    except (ValueError, AttributeError):  # a damaged timings file only loses the old timings
        log.warning("%s is not readable; stage timings start afresh", path)
        return {}


@dataclass
class _TeacherOutput:
    runs: dict[str, TeacherRun]
    train: dict[str, str]  # kept rationales by patient
    validation: dict[str, str]
    references: dict[str, str]  # rationales of the evaluation patients (know the gold label)


@dataclass
class _StudentOutput:
    predictions: dict[str, list[Prediction]]
    histories: dict[str, list[EvalPoint]]
    results: dict[str, TrainResult]
    validation: dict[str, list[Prediction]] = field(default_factory=dict)  # for the fitted decision rule
    verified_rationales: int | None = None  # how many training rationales verify (student.rationales: verified)


def run_pipeline(
    config: RunConfig, observer: Observer | None = None, until: Literal["train", "evaluate"] = "evaluate"
) -> RunOutput:
    """`until="train"` stops after training the students (no test predictions, metrics or report)."""
    from accelerate import PartialState

    observer = observer or Observer()
    folder = claim_folder(config.folder, config)
    cohort = load_cohort(config.data.cohort)
    splits = _splits(config, cohort, folder)
    ctx = _Context(
        config=config,
        observer=observer,
        folder=folder,
        cohort=cohort,
        splits=splits,
        train_records=splits.apply(cohort, "train").records[: config.data.train_limit],
        val_records=splits.apply(cohort, "validation").records[: config.data.validation_limit],
        test_records=splits.apply(cohort, config.evaluation.split).records[: config.data.test_limit],
        timings=_recorded_timings(folder),
    )
    observer.note(
        f"{cohort.name}: {len(ctx.train_records)} training, {len(ctx.val_records)} validation and "
        f"{len(ctx.test_records)} {config.evaluation.split} patients"
    )
    # Under `accelerate launch` / torchrun the main process asks the teacher and evaluates; all train.
    import torch

    processes = PartialState(cpu=not torch.cuda.is_available())
    ctx.main_process = processes.is_main_process
    evaluate = until == "evaluate" and processes.is_main_process
    with processes.main_process_first():
        teacher = _teacher_stage(ctx, with_test=until == "evaluate")
    patients = [r for r in ctx.train_records if r.id in teacher.train or not needs_rationales(config)]
    if not patients:
        raise ConfigError("the teacher kept no rationale for the training patients; see rationales/train.jsonl")
    students = _student_stage(ctx, teacher, patients, predict_test=evaluate)
    if not evaluate:
        return RunOutput(folder=folder, metrics=None, report=None, timings=ctx.timings)
    models, extra = _evaluate_stage(ctx, teacher, students, patients)
    metrics = RunMetrics(
        cohort=cohort.name,
        split=config.evaluation.split,
        n=len(ctx.test_records),
        labels=cohort.labels,
        train_patients=len(patients),
        teacher=TeacherReport(
            backend=config.teacher.backend,
            model=config.teacher.model,
            runs={split: run.summary for split, run in teacher.runs.items()},
            reference_rationales=extra,
        ),
        models=models,
        timings_s=ctx.timings,
        clinreason_version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        config_sha256=config_hash(config),
    )
    (folder / "metrics.json").write_text(metrics.model_dump_json(indent=2) + "\n")
    (folder / "metrics.md").write_text(metrics.table().markdown())
    write_cards(config, metrics, cohort, folder)
    report = _report_stage(ctx, teacher, students, metrics, extra, patients)
    return RunOutput(folder=folder, metrics=metrics, report=report, timings=ctx.timings)


def needs_rationales(config: RunConfig) -> bool:
    """Whether any student learns from teacher rationales (a run of `label` students needs none)."""
    return any(objective != "label" for objective in config.student.objectives)


def _teacher_stage(ctx: _Context, with_test: bool) -> _TeacherOutput:
    """Rationales for training and validation (and the evaluation split, as references); the teacher's
    own answers without the label. Everything the cache (and the shipped seed) holds is reused."""
    config, started = ctx.config, time.perf_counter()
    split = config.evaluation.split
    runs: dict[str, TeacherRun] = {}
    with connect(config.teacher, config.teacher.cache) as session:
        seed = seed_file(ctx.cohort.name) if config.teacher.use_seed else None
        if seed is not None and (added := session.cache.import_jsonl(seed)):
            ctx.observer.note(
                f"imported {added} shipped teacher generation(s) for {ctx.cohort.name} into {session.cache.path}"
            )
        jobs: list[tuple[str, str, list[PatientRecord], Path, str]] = []
        if needs_rationales(config):  # label students learn from the labels alone
            jobs += [
                ("train", "rationalize", ctx.train_records, ctx.folder / "rationales" / "train.jsonl", "rationales"),
                (
                    "validation",
                    "rationalize",
                    ctx.val_records,
                    ctx.folder / "rationales" / "validation.jsonl",
                    "rationales",
                ),
            ]
        if with_test and config.evaluation.teacher_references:
            jobs.append(
                (
                    split,
                    "rationalize",
                    ctx.test_records,
                    ctx.folder / "rationales" / f"{split}.jsonl",
                    "reference rationales",
                )
            )
        if with_test and config.evaluation.teacher_accuracy:
            jobs.append(
                (
                    "diagnose",
                    "diagnose",
                    ctx.test_records,
                    ctx.folder / "teacher" / f"{split}-diagnose.jsonl",
                    "diagnosis without the label",
                )
            )
        reused = all(_saved(out) for _, _, _, out, _ in jobs)
        shots: list[Exemplar] | None = None

        def exemplars() -> list[Exemplar]:  # made once, and only when a job asks the teacher
            nonlocal shots
            if shots is None:
                shots = _exemplars(ctx, session)
            return shots

        for key, task, records, out, what in jobs:
            runs[key] = _teacher_step(
                session,
                config,
                ctx.cohort,
                records,
                task,
                out,
                ctx.observer,
                f"teacher: {what} ({len(records)} patients)",
                exemplars,
            )
    if not reused:  # a teacher stage read back entirely keeps its recorded time
        ctx.record("teacher_s", time.perf_counter() - started)
    return _TeacherOutput(
        runs=runs,
        train=_kept(runs["train"]) if "train" in runs else {},
        validation=_kept(runs["validation"]) if "validation" in runs else {},
        references=_kept(runs[split]) if split in runs else {},
    )


def _student_stage(
    ctx: _Context, teacher: _TeacherOutput, patients: list[PatientRecord], predict_test: bool
) -> _StudentOutput:
    """Train one student per objective on the same patients; predict the evaluation split with the best."""
    output = _StudentOutput(predictions={}, histories={}, results={})
    config = ctx.config
    rationales = teacher.train
    if config.student.rationales == "verified" and needs_rationales(config):
        rationales = verified_only(
            teacher.train, patients, categories=cohort_categories(ctx.cohort), reference_text=fact_sheet(ctx.cohort)
        )
        ctx.observer.note(
            f"rationale students learn from the {len(rationales)} of {len(teacher.train)} kept training "
            "rationales whose every checked claim verifies"
        )
        if not rationales:
            raise ConfigError("no training rationale verifies; use student.rationales: kept")
        output.verified_rationales = len(rationales)
    for objective, numeric in config.student.variants():
        variant = config.student.variant(objective, numeric)
        name, out = f"student:{variant}", ctx.folder / "students" / variant
        train_examples = build_examples(ctx.cohort, patients, objective, rationales)
        val_examples = build_examples(ctx.cohort, ctx.val_records, objective, teacher.validation)
        student = load_student(config.student.model)
        settings = config.student.train_config(objective)
        if numeric:  # value tokens, standardised on the training patients only
            plan = fit_numeric_plan(patients, categorical=config.student.value_linear)
            if config.student.value_linear:
                letters = [letter for letter, _, _ in options(ctx.cohort)]
                tokens = option_token_ids(student.tokenizer, letters)
                plan = plan.model_copy(update={"option_tokens": tokens, "lm_gate": config.student.value_linear_gate})
            numeric_student = NumericStudent(
                student.model,
                student.tokenizer,
                plan,
                seed=config.student.train.seed,
                linear_learning_rate=config.student.value_linear_learning_rate,
            )
            if config.student.value_linear and config.student.value_linear_init == "logistic":
                numeric_student.fit_linear_path(
                    patients, list(ctx.cohort.labels), balanced=settings.class_weighting == "balanced"
                )
            student = prepare(
                numeric_student,
                student.tokenizer,
                name=student.name,
            )
            train_examples = add_value_tokens(train_examples, patients, plan)
            val_examples = add_value_tokens(val_examples, ctx.val_records, plan)
        started, trained_before = time.perf_counter(), training_finished(out)
        ctx.observer.phase(f"{name}: training on {len(train_examples)} examples", None)
        result = train(
            student,
            train_examples,
            val_examples,
            settings,
            out,
            on_step=lambda step, steps, loss: ctx.observer.advance(step, steps, f"loss {loss:.3f}"),
            validator=diagnosis_validator(
                ctx.cohort,
                ctx.val_records,
                objective,
                limit=settings.selection_patients,
                max_new_tokens=config.evaluation.max_new_tokens,
                batch_size=config.evaluation.batch_size,
                precision=config.evaluation.generation_precision,
                seed=config.data.seed,
            ),
        )
        output.results[variant], output.histories[name] = result, result.state.history
        (out / "history.json").write_text(result.model_dump_json(indent=2))
        if not trained_before:
            ctx.record(f"{variant}_train_s", max(time.perf_counter() - started, result.state.train_seconds))
        if not predict_test:
            continue
        best: Student | None = None
        for split, records, stem in (
            ("validation", ctx.val_records, f"student-{variant}-validation"),
            (config.evaluation.split, ctx.test_records, f"student-{variant}"),
        ):
            started = time.perf_counter()
            prediction_file = ctx.folder / "predictions" / f"{stem}.jsonl"
            if not prediction_file.is_file():
                if best is None:
                    ctx.observer.phase(f"{name}: loading the best checkpoint", None)
                    best, _ = load_checkpoint(result.best_checkpoint)
                _write_predictions(
                    prediction_file,
                    predict(
                        best,
                        ctx.cohort,
                        records,
                        objective,
                        max_new_tokens=config.evaluation.max_new_tokens,
                        batch_size=config.evaluation.batch_size,
                        precision=config.evaluation.generation_precision,
                        candidates=config.evaluation.candidates,
                        seed=config.data.seed,
                        observer=ctx.observer.prefixed(f"{name} ({split}): "),
                    ),
                )
                suffix = "_validation" if split == "validation" else ""
                ctx.record(f"{variant}_predict{suffix}_s", time.perf_counter() - started)
            if split == "validation":
                output.validation[name] = _read_predictions(prediction_file)
            else:
                output.predictions[name] = _read_predictions(prediction_file)
    return output


def _evaluate_stage(
    ctx: _Context, teacher: _TeacherOutput, students: _StudentOutput, patients: list[PatientRecord]
) -> tuple[dict[str, ModelMetrics], RationaleMetrics | None]:
    """Metrics of every model on the evaluation split, and of the teacher's reference rationales."""
    import numpy as np

    ctx.observer.phase("evaluating", None)
    started, ev = time.perf_counter(), ctx.config.evaluation
    labels, records = ctx.cohort.labels, ctx.test_records
    ids = [r.id for r in records]
    gold = [r.labels[0] for r in records]
    by_id = {r.id: r for r in ctx.cohort.records}
    categories, sheet = cohort_categories(ctx.cohort), fact_sheet(ctx.cohort)
    classes = {label: ctx.cohort.describe_label(label) for label in labels}
    models: dict[str, ModelMetrics] = {}
    for name, items in students.predictions.items():
        rows = [{p.record_id: p for p in items}[i] for i in ids]
        rationales = {p.record_id: p.rationale for p in rows if p.rationale}
        result = students.results[name.split(":", 1)[1]]
        validation = students.validation.get(name) or []
        rule = (
            fit_decision_rule(
                [p.gold[0] for p in validation],
                np.array([[p.probabilities[label] for label in labels] for p in validation]),
                labels,
            )
            if validation
            else None
        )
        models[name] = model_metrics(
            "student",
            gold,
            [p.predicted for p in rows],
            labels,
            np.array([[p.probabilities[label] for label in labels] for p in rows]),
            bootstrap=ev.bootstrap,
            rationale=rationale_metrics(
                rationales,
                by_id,
                predicted={p.record_id: p.predicted for p in rows},
                stated={p.record_id: p.stated for p in rows},
                references=teacher.references,
                bertscore=ev.bertscore,
                categories=categories,
                reference_text=sheet,
                classes=classes,
            )
            if rationales
            else None,
            notes=[
                f"trained on {result.train_examples} examples from {len(patients)} patients; best validation "
                f"step {result.state.best_step} (selected on {result.state.selected_on})"
            ],
            rule=rule,
        )
    if ev.baselines:
        models.update(
            evaluate_baselines(
                patients, ctx.val_records, records, labels, seed=ctx.config.data.seed, bootstrap=ev.bootstrap
            )
        )
    if "diagnose" in teacher.runs:
        answers = {r.record_id: r for r in teacher.runs["diagnose"].results}
        stated = [_teacher_answer(answers[i]) for i in ids]
        rationales = {i: r.rationale for i in ids if (r := answers[i]).rationale}
        models["teacher:few-shot"] = model_metrics(
            "teacher",
            gold,
            stated,
            labels,
            None,
            bootstrap=ev.bootstrap,
            rationale=rationale_metrics(
                rationales,
                by_id,
                predicted=dict(zip(ids, stated, strict=True)),
                stated={i: answers[i].stated for i in rationales},
                references=teacher.references,
                bertscore=ev.bertscore,
                categories=categories,
                reference_text=sheet,
                classes=classes,
            ),
            notes=[f"{ctx.config.teacher.backend}:{ctx.config.teacher.model} without the gold label"],
        )
    reference = (
        rationale_metrics(teacher.references, by_id, bertscore=False, categories=categories, reference_text=sheet)
        if teacher.references
        else None
    )
    ctx.record("evaluate_s", time.perf_counter() - started)
    return models, reference


def _report_stage(
    ctx: _Context,
    teacher: _TeacherOutput,
    students: _StudentOutput,
    metrics: RunMetrics,
    reference: RationaleMetrics | None,
    patients: list[PatientRecord],
) -> Path:
    config, ev, ids = ctx.config, ctx.config.evaluation, [r.id for r in ctx.test_records]
    models = metrics.models
    gold_key = "teacher (reference, knows the gold label)"
    rationales: dict[str, dict[str, str]] = {gold_key: teacher.references}
    answers: dict[str, dict[str, Answer]] = {
        gold_key: {i: Answer(None, "written knowing the gold label") for i in teacher.references}
    }
    for name, items in students.predictions.items():
        rationales[name] = {p.record_id: p.rationale for p in items if p.rationale}
        answers[name] = {
            p.record_id: Answer(p.predicted, f"probability {p.probabilities[p.predicted]:.2f}") for p in items
        }
    if "diagnose" in teacher.runs:
        results = {r.record_id: r for r in teacher.runs["diagnose"].results}
        rationales["teacher:few-shot"] = {i: results[i].rationale or "" for i in ids if results[i].rationale}
        answers["teacher:few-shot"] = {
            i: Answer(stated, "") if (stated := _teacher_answer(results[i])) != NO_ANSWER else Answer(None) for i in ids
        }
    teacher_lines = [
        f"{split}: {run.summary.kept} kept, {run.summary.rejected} rejected, {run.summary.failed} failed, "
        f"{run.summary.retried} needed a retry ({run.summary.generated} generated now, {run.summary.cached} cached)"
        for split, run in teacher.runs.items()
    ]
    if reference is not None:
        teacher_lines.append(
            f"teacher's reference rationales on {ev.split}: verified-claim rate "
            f"{reference.verified_claim_rate or 0:.3f} ({reference.claims_supported}/{reference.claims_checked})"
        )
    html = render_report(
        ReportInput(
            title=f"clinreason run '{config.name}'",
            cohort=ctx.cohort,
            split=ev.split,
            metrics=models,
            summary_lines=[
                (
                    f"{len(patients)} training patients with a kept teacher rationale (of {len(ctx.train_records)}), "
                    if needs_rationales(config)
                    else f"{len(patients)} training patients (label students: no teacher rationales needed), "
                )
                + f"{len(ctx.val_records)} validation, {len(ctx.test_records)} {ev.split} patients "
                f"(seed {ctx.splits.seed})"
                + (
                    f"; the rationale students learn from the {students.verified_rationales} training rationales "
                    "with no wrong or unsupported claim"
                    if students.verified_rationales is not None
                    else ""
                ),
                f"teacher: {config.teacher.backend}:{config.teacher.model}; student: {config.student.model}; "
                + "; ".join(
                    f"{o}: {(t := config.student.train_config(o)).epochs} epoch(s) at learning rate "
                    f"{t.learning_rate:g}, selected on validation {t.select_on}"
                    for o in config.student.objectives
                ),
                "time: " + ", ".join(f"{k.removesuffix('_s')} {v / 60:.1f} min" for k, v in ctx.timings.items()),
            ],
            teacher_lines=teacher_lines,
            histories=students.histories,
            patients=_report_patients(ctx.test_records, students.predictions, ev.report_patients),
            rationales=rationales,
            predictions=answers,
            categories=cohort_categories(ctx.cohort),
            reference_text=fact_sheet(ctx.cohort),
            provenance=[
                f"computed {metrics.created}",
                f"clinreason {metrics.clinreason_version}",
                f"config sha256 {(metrics.config_sha256 or '')[:12]}",
                f"run folder {ctx.folder}",
            ],
            verdict=verdict(models),
            notes=[
                "Each student's checkpoint is selected on the validation split (by the metric named above); "
                "the test split is used once.",
                *(
                    [
                        f"Rationale students wrote {ev.candidates} candidate rationales per patient (greedy and "
                        "sampled) and kept the one whose claims verify and whose stated diagnosis they score highest."
                    ]
                    if ev.candidates > 1
                    else []
                ),
                "Confidence intervals: 95% percentile bootstrap over test patients.",
                "The teacher's reference rationales are written knowing the gold label (Kwon et al.'s "
                "rationalization); they are references for the text metrics, not predictions.",
                "The verified-claim rate is a heuristic check of values, statuses and categories named next to a "
                "finding; it cannot judge reasoning.",
            ],
        )
    )
    report = ctx.folder / "report.html"
    report.write_text(html)
    return report


def _report_patients(
    records: list[PatientRecord], predictions: dict[str, list[Prediction]], count: int
) -> list[PatientRecord]:
    """A few patients per gold label, preferring ones the students disagree on."""
    if count <= 0:
        return []
    votes: dict[str, set[str]] = {}
    for items in predictions.values():
        for p in items:
            votes.setdefault(p.record_id, set()).add(p.predicted)
    ranked = sorted(records, key=lambda r: (-len(votes.get(r.id, set())), r.id))
    chosen: list[PatientRecord] = []
    labels = list(dict.fromkeys(r.labels[0] for r in records))
    for label in labels * count:
        candidates = [r for r in ranked if r.labels[0] == label and r not in chosen]
        if candidates and len(chosen) < count:
            chosen.append(candidates[0])
    return chosen
