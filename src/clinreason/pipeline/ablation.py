"""ClinRaGen's ablation on the synthetic multimodal cohort, from one call:

| variant | trained | evaluated on |
|---|---|---|
| note only | stage 1 | the note |
| time series only | stages 1-2 (knowledge attention) | the time series |
| joint without knowledge attention | stages 1, 2', 3' (linear projection instead) | both |
| full (ClinRaGen) | stages 1-3 (knowledge attention) | both |

The teacher here is the cohort's generating rules (`reference_rationales`: the evidence each modality
really holds), so differences come from the student, not from teacher noise. Each variant reports
multi-label micro/macro precision, recall and F1 (diseases matched to the labels) and the
verified-claim rate of its rationales against the record's note and time series.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from clinreason.evaluate.multilabel import multilabel_metrics
from clinreason.evaluate.series_claims import check_series_claims
from clinreason.knowledge.base import knowledge_text
from clinreason.pipeline.run import Observer
from clinreason.records import make_splits
from clinreason.records.synthetic import make_multimodal_cohort, reference_rationales
from clinreason.student.model import load_student
from clinreason.student.multimodal import knowledge_token_embeddings
from clinreason.student.multimodal_model import MultimodalStudent
from clinreason.student.sequential import Mode, MultimodalPrediction, cohort_rationales, predict_multimodal, train_stage
from clinreason.student.train import TrainConfig


class AblationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patients: int = Field(default=400, ge=20)
    seed: int = 0
    student: str = "smollm2-135m"
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(epochs=2, learning_rate=1e-4, batch_size=8))
    d_model: int = 128
    layers: int = 2
    heads: int = 4
    prototypes: int = 24
    max_new_tokens: int = 160
    out: Path = Path("runs/ablation")


def _score(predictions: list[MultimodalPrediction], records: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    metrics = multilabel_metrics([p.gold for p in predictions], [p.predicted for p in predictions], labels)
    supported = checked = 0
    for p in predictions:
        report = check_series_claims(p.text, records[p.record_id])
        supported += report.count("supported")
        checked += report.checked
    return {
        "micro_f1": metrics.micro_f1,
        "macro_f1": metrics.macro_f1,
        "micro_precision": metrics.micro_precision,
        "micro_recall": metrics.micro_recall,
        "subset_accuracy": metrics.subset_accuracy,
        "verified_claim_rate": supported / checked if checked else None,
        "claims_checked": checked,
        "per_label_f1": metrics.per_label_f1,
    }


def run_ablation(config: AblationConfig, observer: Observer | None = None) -> dict[str, Any]:
    observer = observer or Observer()
    started = time.perf_counter()
    config.out.mkdir(parents=True, exist_ok=True)
    cohort = make_multimodal_cohort(config.patients, config.seed)
    splits = make_splits(cohort, seed=config.seed)
    splits.save(config.out / "splits.json")
    train_records, val_records = splits.apply(cohort, "train").records, splits.apply(cohort, "validation").records
    test_records = splits.apply(cohort, "test").records
    rationales = cohort_rationales(cohort, reference_rationales)
    base = load_student(config.student)
    tokenizer = base.tokenizer
    knowledge = knowledge_token_embeddings(knowledge_text(), tokenizer, base.model.get_input_embeddings())
    shape = {"d_model": config.d_model, "layers": config.layers, "heads": config.heads, "prototypes": config.prototypes}

    def stage(model: MultimodalStudent, number: int, folder: str) -> MultimodalStudent:
        observer.phase(f"{folder}: stage {number}", None)
        trained, _ = train_stage(
            model,
            tokenizer,
            number,
            train_records,
            val_records,
            rationales,  # type: ignore[arg-type]
            config.train,
            config.out / folder,
            on_step=lambda s, t, loss: observer.advance(s, t, f"loss {loss:.3f}"),
        )
        return trained

    full = MultimodalStudent(base.model, tokenizer, knowledge=knowledge, **shape)
    stage1 = stage(full, 1, "stage1")
    stage2 = stage(stage1, 2, "full-stage2")
    stage3 = stage(stage2, 3, "full-stage3")
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    lm_folder = config.out / "stage1" / "best" / "lm"
    loader = AutoModelForSeq2SeqLM if getattr(stage1.config, "is_encoder_decoder", False) else AutoModelForCausalLM
    plain = MultimodalStudent(loader.from_pretrained(lm_folder), tokenizer, knowledge=None, **shape)
    plain.to(next(stage1.parameters()).device)
    plain2 = stage(plain, 2, "plain-stage2")
    plain3 = stage(plain2, 3, "plain-stage3")

    # Each variant is evaluated from its own best checkpoint (training later stages changes models in place).
    device = next(stage3.parameters()).device
    del full, stage1, stage2, stage3, plain, plain2, plain3
    variants: list[tuple[str, str, Mode]] = [
        ("note only", "stage1", "note"),
        ("time series only", "full-stage2", "series"),
        ("joint without knowledge attention", "plain-stage3", "joint"),
        ("full (ClinRaGen)", "full-stage3", "joint"),
    ]
    by_id = {r.id: r for r in cohort.records}
    results: dict[str, Any] = {}
    for name, folder, mode in variants:
        observer.phase(f"evaluating {name}", None)
        model = MultimodalStudent.from_pretrained(config.out / folder / "best", tokenizer).to(device)
        predictions = predict_multimodal(
            model, tokenizer, test_records, mode, cohort.labels, max_new_tokens=config.max_new_tokens
        )
        (config.out / "predictions").mkdir(exist_ok=True)
        (config.out / "predictions" / f"{name.replace(' ', '-')}.jsonl").write_text(
            "".join(json.dumps(p.__dict__) + "\n" for p in predictions)
        )
        results[name] = _score(predictions, by_id, cohort.labels)
    summary = {
        "cohort": cohort.name,
        "patients": len(cohort),
        "test": len(test_records),
        "seed": config.seed,
        "student": config.student,
        "train": config.train.model_dump(),
        "variants": results,
        "seconds": time.perf_counter() - started,
    }
    (config.out / "ablation.json").write_text(json.dumps(summary, indent=2) + "\n")
    (config.out / "ablation.md").write_text(ablation_table(summary))
    return summary


def ablation_table(summary: dict[str, Any]) -> str:
    def fmt(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    lines = [
        f"Ablation on {summary['cohort']} ({summary['patients']} patients, test {summary['test']}), "
        f"student {summary['student']}",
        "",
        "| variant | micro-F1 | macro-F1 | subset accuracy | verified-claim rate |",
        "|---|---|---|---|---|",
    ]
    for name, m in summary["variants"].items():
        lines.append(
            f"| {name} | {fmt(m['micro_f1'])} | {fmt(m['macro_f1'])} | {fmt(m['subset_accuracy'])} | "
            f"{fmt(m['verified_claim_rate'])} ({m['claims_checked']} claims) |"
        )
    return "\n".join(lines) + "\n"
