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
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from clinreason.errors import ConfigError
from clinreason.evaluate.baselines import fit_predict_baseline
from clinreason.evaluate.claims import cohort_categories
from clinreason.evaluate.diagnosis import NO_ANSWER
from clinreason.evaluate.report import ReportInput, render_report
from clinreason.evaluate.summary import ModelMetrics, model_metrics, rationale_metrics
from clinreason.knowledge import fact_sheet
from clinreason.paths import cache_home
from clinreason.pipeline.config import RunConfig, dump_run_config
from clinreason.records import Splits, load_cohort, make_splits
from clinreason.records.schema import Cohort, PatientRecord
from clinreason.student.data import build_examples
from clinreason.student.model import load_student
from clinreason.student.predict import Prediction, load_checkpoint, predict
from clinreason.student.train import EvalPoint, TrainResult, train
from clinreason.teacher import (
    TeacherCache,
    TeacherRun,
    load_exemplars,
    load_prompt,
    read_results,
    run_teacher,
    write_results,
)
from clinreason.teacher.config import LazyBackend

log = logging.getLogger(__name__)


class Observer:
    """Receives progress; the CLI draws progress bars from it. All methods are optional no-ops."""

    def phase(self, name: str, total: int | None = None) -> None: ...

    def advance(self, done: int, total: int | None = None, info: str = "") -> None: ...

    def note(self, message: str) -> None: ...


@dataclass
class RunOutput:
    folder: Path
    metrics: dict[str, Any]
    report: Path | None
    timings: dict[str, float] = field(default_factory=dict)


def seed_file(cohort_name: str) -> Path | None:
    """Generations shipped with clinreason for a bundled cohort (made by `clinreason rationalize`)."""
    item = resources.files("clinreason.pipeline").joinpath(f"seeds/{cohort_name}.jsonl.gz")
    return Path(str(item)) if item.is_file() else None


def _check_folder(config: RunConfig) -> Path:
    folder = config.folder
    folder.mkdir(parents=True, exist_ok=True)
    saved = folder / "config.yaml"
    text = dump_run_config(config)
    if saved.is_file() and saved.read_text() != text:
        raise ConfigError(
            f"{folder} holds a run made with a different config ({saved}); give another --out, or delete the "
            "folder to start again"
        )
    saved.write_text(text)
    return folder


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
    config: RunConfig,
    cohort: Cohort,
    records: list[PatientRecord],
    task: str,
    out: Path,
    cache: TeacherCache,
    backend: LazyBackend,
    observer: Observer,
    label: str,
) -> TeacherRun:
    if out.is_file() and out.with_suffix(".summary.json").is_file():
        from clinreason.teacher.runner import RunSummary

        summary = RunSummary.model_validate_json(out.with_suffix(".summary.json").read_text())
        return TeacherRun(results=read_results(out), summary=summary)
    settings = config.teacher
    template = load_prompt(settings.prompt if task == "rationalize" else settings.diagnose_prompt)
    shots = [] if settings.zero_shot else load_exemplars(cohort, settings.exemplars)
    observer.phase(label, len(records))
    done = 0

    def tick(_: object) -> None:
        nonlocal done
        done += 1
        observer.advance(done, len(records))

    run = run_teacher(
        cohort,
        records,
        backend,
        cache,
        template,
        exemplars=shots,
        sampling=settings.sampling,
        max_attempts=settings.max_attempts,
        retry_temperature=settings.retry_temperature,
        slots=settings.slots,
        on_result=tick,
    )
    write_results(run, out)
    return run


def _kept(run: TeacherRun) -> dict[str, str]:
    return {r.record_id: r.rationale for r in run.results if r.status == "kept" and r.rationale}


def _write_predictions(path: Path, predictions: list[Prediction]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(p.model_dump_json() + "\n" for p in predictions))
    tmp.replace(path)


def _read_predictions(path: Path) -> list[Prediction]:
    return [Prediction.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]


def run_pipeline(
    config: RunConfig, observer: Observer | None = None, until: Literal["train", "evaluate"] = "evaluate"
) -> RunOutput:
    """`until="train"` stops after training the students (no test predictions, metrics or report)."""
    observer = observer or Observer()
    timings: dict[str, float] = {}
    folder = _check_folder(config)
    cohort = load_cohort(config.data.cohort)
    splits = _splits(config, cohort, folder)
    train_records = splits.apply(cohort, "train").records[: config.data.train_limit]
    val_records = splits.apply(cohort, "validation").records[: config.data.validation_limit]
    test_records = splits.apply(cohort, config.evaluation.split).records[: config.data.test_limit]  # type: ignore[arg-type]
    observer.note(
        f"{cohort.name}: {len(train_records)} training, {len(val_records)} validation and {len(test_records)} "
        f"{config.evaluation.split} patients"
    )

    # 1. Teacher: rationales for training and validation (and test, as references); its own accuracy.
    # Under `accelerate launch` the main process asks the teacher; the others then read its files.
    from accelerate import PartialState

    processes = PartialState()
    started = time.perf_counter()
    cache_path = config.teacher.cache or cache_home() / "teacher-cache.sqlite"
    teacher = LazyBackend(config.teacher)
    runs: dict[str, TeacherRun] = {}
    with processes.main_process_first(), TeacherCache(cache_path) as cache:
        seed = seed_file(cohort.name) if config.teacher.use_seed else None
        if seed is not None:
            added = cache.import_jsonl(seed)
            if added:
                observer.note(f"imported {added} shipped teacher generation(s) for {cohort.name} into {cache_path}")
        wanted = [("train", train_records), ("validation", val_records)]
        if config.evaluation.teacher_references and until == "evaluate":
            wanted.append((config.evaluation.split, test_records))
        try:
            for split, records in wanted:
                runs[split] = _teacher_step(
                    config,
                    cohort,
                    records,
                    "rationalize",
                    folder / "rationales" / f"{split}.jsonl",
                    cache,
                    teacher,
                    observer,
                    f"teacher: rationales for {split}",
                )
            if config.evaluation.teacher_accuracy and until == "evaluate":
                runs["diagnose"] = _teacher_step(
                    config,
                    cohort,
                    test_records,
                    "diagnose",
                    folder / "teacher" / f"{config.evaluation.split}-diagnose.jsonl",
                    cache,
                    teacher,
                    observer,
                    "teacher: diagnosis without the label",
                )
        finally:
            teacher.close()
    timings["teacher_s"] = time.perf_counter() - started
    train_rationales = _kept(runs["train"])
    val_rationales = _kept(runs["validation"])
    references = _kept(runs[config.evaluation.split]) if config.evaluation.split in runs else {}
    trained_ids = [r.id for r in train_records if r.id in train_rationales]
    if not trained_ids:
        raise ConfigError("the teacher kept no rationale for the training patients; see rationales/train.jsonl")
    same_patients = [r for r in train_records if r.id in train_rationales]

    # 2. Students.
    predictions: dict[str, list[Prediction]] = {}
    histories: dict[str, list[EvalPoint]] = {}
    train_results: dict[str, TrainResult] = {}
    for objective in config.student.objectives:
        name = f"student:{objective}"
        out = folder / "students" / objective
        prediction_file = folder / "predictions" / f"student-{objective}.jsonl"
        train_config = config.student.train.model_copy(update={"objective": objective})
        train_examples = build_examples(cohort, same_patients, objective, train_rationales)
        val_examples = build_examples(cohort, val_records, objective, val_rationales)
        started = time.perf_counter()
        student = load_student(config.student.model)
        observer.phase(f"{name}: training", None)

        def on_step(step: int, steps: int, loss: float) -> None:
            observer.advance(step, steps, f"loss {loss:.3f}")

        result = train(student, train_examples, val_examples, train_config, out, on_step=on_step)
        train_results[objective] = result
        histories[name] = result.state.history
        (out / "history.json").write_text(result.model_dump_json(indent=2))
        timings[f"{objective}_train_s"] = time.perf_counter() - started
        if until == "train" or not processes.is_main_process:
            continue
        started = time.perf_counter()
        if prediction_file.is_file():
            predictions[name] = _read_predictions(prediction_file)
        else:
            del student
            best, _ = load_checkpoint(result.best_checkpoint)
            observer.phase(f"{name}: predicting {config.evaluation.split}", None)
            predicted = predict(
                best,
                cohort,
                test_records,
                objective,
                max_new_tokens=config.evaluation.max_new_tokens,
                batch_size=config.evaluation.batch_size,
                on_progress=lambda d, t: observer.advance(d, t),
            )
            _write_predictions(prediction_file, predicted)
            predictions[name] = predicted
        timings[f"{objective}_predict_s"] = time.perf_counter() - started

    if until == "train" or not processes.is_main_process:
        return RunOutput(folder=folder, metrics={}, report=None, timings=timings)

    # 3. Metrics.
    observer.phase("evaluating", None)
    started = time.perf_counter()
    labels = cohort.labels
    gold = [r.labels[0] for r in test_records]
    by_id = {r.id: r for r in cohort.records}
    categories = cohort_categories(cohort)
    sheet = fact_sheet(cohort)
    ev = config.evaluation
    models: dict[str, ModelMetrics] = {}
    report_rationales: dict[str, dict[str, str]] = {}
    report_predictions: dict[str, dict[str, str]] = {}
    import numpy as np

    for name, items in predictions.items():
        ordered = {p.record_id: p for p in items}
        rows = [ordered[r.id] for r in test_records]
        probs = np.array([[p.probabilities[label] for label in labels] for p in rows])
        rationales = {p.record_id: p.rationale for p in rows if p.rationale}
        rationale = (
            rationale_metrics(
                rationales,
                by_id,
                predicted={p.record_id: p.predicted for p in rows},
                stated={p.record_id: p.stated for p in rows},
                references=references,
                categories=categories,
                reference_text=sheet,
                bertscore=ev.bertscore,
            )
            if rationales
            else None
        )
        result = train_results[name.split(":", 1)[1]]
        models[name] = model_metrics(
            "student",
            gold,
            [p.predicted for p in rows],
            labels,
            probs,
            bootstrap=ev.bootstrap,
            rationale=rationale,
            notes=[
                f"trained on {result.train_examples} examples from "
                f"{len(same_patients)} patients; best step {result.state.best_step}"
            ],
        )
        report_rationales[name] = rationales
        report_predictions[name] = {
            p.record_id: f"{p.predicted} (P = {max(p.probabilities.values()):.2f})" for p in rows
        }
    if ev.baselines:
        for baseline in ("logistic_regression", "gradient_boosting"):
            predicted_labels, probs = fit_predict_baseline(
                baseline,
                same_patients,
                test_records,
                labels,  # type: ignore[arg-type]
                seed=config.data.seed,
            )
            models[f"baseline:{baseline}"] = model_metrics(
                "baseline",
                gold,
                predicted_labels,
                labels,
                probs,
                bootstrap=ev.bootstrap,
                notes=[f"trained on the same {len(same_patients)} patients' raw features"],
            )
    if "diagnose" in runs:
        answers = {r.record_id: r for r in runs["diagnose"].results}
        stated = [
            answers[r.id].stated if answers[r.id].status == "kept" and answers[r.id].stated else NO_ANSWER
            for r in test_records
        ]
        rationales = {r.id: answers[r.id].rationale for r in test_records if answers[r.id].rationale}
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
                predicted=dict(zip([r.id for r in test_records], stated, strict=True)),
                stated={k: answers[k].stated for k in rationales},
                references=references,
                categories=categories,
                reference_text=sheet,
                bertscore=ev.bertscore,
            ),
            notes=[f"{config.teacher.backend}:{config.teacher.model} without the gold label"],
        )
        report_rationales["teacher:few-shot"] = rationales
        report_predictions["teacher:few-shot"] = dict(zip([r.id for r in test_records], stated, strict=True))
    teacher_reference_metrics = (
        rationale_metrics(references, by_id, categories=categories, reference_text=sheet, bertscore=False)
        if references
        else None
    )
    timings["evaluate_s"] = time.perf_counter() - started

    metrics: dict[str, Any] = {
        "cohort": cohort.name,
        "split": ev.split,
        "n": len(test_records),
        "labels": labels,
        "train_patients": len(same_patients),
        "teacher": {
            "backend": config.teacher.backend,
            "model": config.teacher.model,
            "runs": {split: run.summary.model_dump() for split, run in runs.items()},
            "reference_rationales": teacher_reference_metrics.model_dump() if teacher_reference_metrics else None,
        },
        "models": {name: m.model_dump() for name, m in models.items()},
        "timings_s": timings,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")

    report_rationales = {"teacher (reference, sees the gold label)": references, **report_rationales}
    report_predictions = {
        "teacher (reference, sees the gold label)": {k: "gold label given" for k in references},
        **report_predictions,
    }
    patients = _report_patients(test_records, predictions, ev.report_patients)
    teacher_lines = [
        f"{split}: {run.summary.kept} kept, {run.summary.rejected} rejected, {run.summary.failed} failed, "
        f"{run.summary.retried} needed a retry ({run.summary.generated} generated now, {run.summary.cached} cached)"
        for split, run in runs.items()
    ]
    if teacher_reference_metrics is not None:
        teacher_lines.append(
            f"teacher's reference rationales on {ev.split}: verified-claim rate "
            f"{teacher_reference_metrics.verified_claim_rate or 0:.3f} "
            f"({teacher_reference_metrics.claims_supported}/{teacher_reference_metrics.claims_checked})"
        )
    html = render_report(
        ReportInput(
            title=f"clinreason run '{config.name}'",
            cohort=cohort,
            split=ev.split,
            metrics=models,
            summary_lines=[
                f"{len(same_patients)} training patients with a kept teacher rationale (of {len(train_records)}), "
                f"{len(val_records)} validation, {len(test_records)} {ev.split} patients (seed {splits.seed})",
                f"teacher: {config.teacher.backend}:{config.teacher.model}; student: {config.student.model}, "
                f"{config.student.train.epochs} epoch(s), objectives {', '.join(config.student.objectives)}",
                "time: " + ", ".join(f"{k.removesuffix('_s')} {v / 60:.1f} min" for k, v in timings.items()),
            ],
            teacher_lines=teacher_lines,
            histories=histories,
            patients=patients,
            rationales=report_rationales,
            predictions=report_predictions,
            categories=categories,
            reference_text=sheet,
            notes=[
                "Models are selected on the validation split (lowest validation loss); the test split is used once.",
                "Confidence intervals: 95% percentile bootstrap over test patients.",
                "The teacher's reference rationales are written knowing the gold label (Kwon et al.'s rationalization);"
                " they are references for the text metrics, not predictions.",
                "The verified-claim rate is a heuristic check of values, statuses and categories named next to a "
                "finding; it cannot judge reasoning.",
            ],
        )
    )
    report = folder / "report.html"
    report.write_text(html)
    return RunOutput(folder=folder, metrics=metrics, report=report, timings=timings)


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
