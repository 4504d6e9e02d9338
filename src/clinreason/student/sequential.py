"""ClinRaGen's sequential rationale distillation on records with a note and time series.

Prompts and targets per input mode:

- note:   "Brief hospital course: ..."                 -> "Diseases: ...\\nNote rationale: ..."
- series: "Vital signs and lab tests: <|ts|> x 11"      -> "Diseases: ...\\nLab rationale: ..."
- joint:  both                                          -> "Diseases: ...\\nNote rationale: ...\\nLab rationale: ..."

Stage 1 trains on the note mode, stage 2 on the series mode with the language model frozen, stage 3
on the joint mode with the encoder frozen (see `MultimodalStudent.set_stage`). Each stage keeps its
best checkpoint on the validation split and the next stage starts from it.

Two options make the lab rationale checkable and true. `anomaly_text` puts the series' anomaly
description (what the teacher saw: each variable's out-of-range counts, readings and trend) in the
prompt beside the series tokens, so the student can state the stay's own counts instead of a pattern
learned from other stays. `candidates` > 1 writes the greedy answer and sampled ones and keeps the one
whose claims about the series and quotes of the note verify against the stay's record (no wrong or
unsupported claim first, then the most supported), which needs only the input record.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from clinreason.records.schema import Cohort, PatientRecord
from clinreason.records.timeseries import VARIABLE_ORDER, load_points, standardise, timeseries_text, to_matrix
from clinreason.student.config import TrainConfig
from clinreason.student.data import Example
from clinreason.student.model import Kind, Student
from clinreason.student.multimodal_model import TS_TOKEN, MultimodalStudent, Stage
from clinreason.student.train import TrainResult, train

Mode = Literal["note", "series", "joint"]
STAGE_MODES: dict[int, Mode] = {1: "note", 2: "series", 3: "joint"}
NO_DISEASE = "No disease is diagnosed"
DISEASES = re.compile(r"diseases?\s*(?:diagnosed)?\s*:\s*(.*)", re.IGNORECASE)


@dataclass(frozen=True)
class Rationales:
    note: str
    series: str


def series_input(record: PatientRecord, length: int = 48) -> tuple[list[list[float]], list[list[bool]]]:
    """Standardised values (0 = mid-normal, +/-1 = edge of the reference range) and the observed mask."""
    values, observed = to_matrix(load_points(record), VARIABLE_ORDER, length)
    scaled = [[standardise(v, variable) for v, variable in zip(row, VARIABLE_ORDER, strict=True)] for row in values]
    return scaled, observed


def prompt(record: PatientRecord, mode: Mode, anomaly_text: bool = False) -> str:
    parts = ["Diagnose the diseases of this ICU stay and explain the evidence."]
    if mode in ("note", "joint"):
        note = " ".join(n.text.strip() for n in record.notes) or "(no note)"
        parts.append(f"Brief hospital course: {note}")
    if mode in ("series", "joint"):
        parts.append("Vital signs and lab tests: " + TS_TOKEN * len(VARIABLE_ORDER))
        if anomaly_text:
            parts.append("Lab test anomalies:\n" + (timeseries_text(load_points(record)) or "(no readings)"))
    return "\n".join(parts)


def target(labels: Sequence[str], rationales: Rationales, mode: Mode) -> str:
    lines = [f"Diseases: {', '.join(labels) if labels else NO_DISEASE}"]
    if mode in ("note", "joint"):
        lines.append(f"Note rationale: {rationales.note}")
    if mode in ("series", "joint"):
        lines.append(f"Lab rationale: {rationales.series}")
    return "\n".join(lines)


def examples(
    records: Sequence[PatientRecord],
    rationales: Mapping[str, Rationales],
    mode: Mode,
    length: int = 48,
    anomaly_text: bool = False,
) -> list[Example]:
    out = []
    for record in records:
        if record.id not in rationales:
            continue
        series = series_input(record, length) if mode != "note" else None
        text = prompt(record, mode, anomaly_text)
        out.append(Example(record.id, text, target(record.labels, rationales[record.id], mode), "rationale", series))
    return out


def stated_diseases(text: str) -> str:
    """The disease list a generated answer states (the text after 'Diseases:' on its line)."""
    match = DISEASES.search(text)
    return match.group(1).split("\n")[0].strip() if match else ""


def train_stage(
    model: MultimodalStudent,
    tokenizer: Any,  # a transformers tokenizer
    stage: Stage,
    train_records: Sequence[PatientRecord],
    val_records: Sequence[PatientRecord],
    rationales: Mapping[str, Rationales],
    config: TrainConfig,
    out_dir: Path,
    on_step: Callable[[int, int, float], None] | None = None,
    anomaly_text: bool = False,
) -> tuple[MultimodalStudent, TrainResult]:
    """Train one stage and return the stage's best model (reloaded from its checkpoint)."""
    mode = STAGE_MODES[stage]
    model.set_stage(stage)
    kind: Kind = "seq2seq" if getattr(model.config, "is_encoder_decoder", False) else "causal"
    student = Student(model=model, tokenizer=tokenizer, kind=kind, name=f"multimodal-stage{stage}")
    result = train(
        student,
        examples(train_records, rationales, mode, model.length, anomaly_text),
        examples(val_records, rationales, mode, model.length, anomaly_text),
        config.model_copy(update={"objective": "rationale_then_label", "lora": None}),
        out_dir,
        on_step=on_step,
    )
    best = MultimodalStudent.from_pretrained(result.best_checkpoint, tokenizer)
    best.to(next(model.parameters()).device)
    return best, result


def cohort_rationales(cohort: Cohort, make: Callable[[PatientRecord], tuple[str, str]]) -> dict[str, Rationales]:
    return {record.id: Rationales(*make(record)) for record in cohort.records}


@dataclass(frozen=True)
class MultimodalPrediction:
    record_id: str
    gold: list[str]
    predicted: list[str]
    text: str
    candidates: int = 1
    chosen: int = 0


def choose_verified(texts: Sequence[str], record: PatientRecord) -> int:
    """The candidate with no wrong or unsupported claim about the stay, then the most supported ones
    (ties keep the earliest, i.e. the greedy answer)."""
    from clinreason.evaluate.series_claims import check_series_claims

    def rank(index: int) -> tuple[int, int, int]:
        report = check_series_claims(texts[index], record)
        doubtful = report.count("wrong") + report.count("unsupported")
        return (-doubtful, report.count("supported"), -index)

    return max(range(len(texts)), key=rank)


def predict_multimodal(
    model: MultimodalStudent,
    tokenizer: Any,  # a transformers tokenizer
    records: Sequence[PatientRecord],
    mode: Mode,
    labels: Sequence[str],
    *,
    max_new_tokens: int = 160,
    batch_size: int = 8,
    match: Callable[[str, Sequence[str]], list[str]] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    anomaly_text: bool = False,
    candidates: int = 1,
    seed: int = 0,
) -> list[MultimodalPrediction]:
    """Greedy answers (or the verified one of `candidates`, see the module docstring); the stated
    diseases are matched to `labels` (exact names, else MiniLM similarity)."""
    import torch

    from clinreason.evaluate.multilabel import match_diseases
    from clinreason.student.data import prompt_ids

    match = match or (lambda text, names: match_diseases(text, names))
    kind = "seq2seq" if getattr(model.config, "is_encoder_decoder", False) else "causal"
    pad = tokenizer.pad_token_id
    device = next(model.parameters()).device
    model.eval()
    if candidates > 1:
        torch.manual_seed(seed)
    out: list[MultimodalPrediction] = []
    for begin in range(0, len(records), batch_size):
        chunk = records[begin : begin + batch_size]
        rows = [prompt_ids(tokenizer, prompt(r, mode, anomaly_text), kind) for r in chunk]
        width = max(len(r) for r in rows)
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
        kwargs = {}
        if mode != "note":
            series = [series_input(r, model.length) for r in chunk]
            kwargs = {
                "values": torch.tensor([s[0] for s in series], device=device),
                "observed": torch.tensor([s[1] for s in series], dtype=torch.float32, device=device),
            }
        common = {"max_new_tokens": max_new_tokens, "pad_token_id": pad, "eos_token_id": tokenizer.eos_token_id}
        with torch.inference_mode():
            greedy = model.generate(ids, mask, do_sample=False, **common, **kwargs)
            sampled = (
                model.generate(
                    ids,
                    mask,
                    do_sample=True,
                    temperature=0.7,
                    top_p=0.95,
                    num_return_sequences=candidates - 1,
                    **common,
                    **kwargs,
                )
                if candidates > 1
                else []
            )
        for index, (record, row) in enumerate(zip(chunk, greedy, strict=True)):
            texts = [tokenizer.decode(row, skip_special_tokens=True).strip()]
            for extra in sampled[index * (candidates - 1) : (index + 1) * (candidates - 1)]:
                texts.append(tokenizer.decode(extra, skip_special_tokens=True).strip())
            chosen = choose_verified(texts, record) if len(texts) > 1 else 0
            text = texts[chosen]
            out.append(
                MultimodalPrediction(
                    record.id, list(record.labels), match(stated_diseases(text), labels), text, len(texts), chosen
                )
            )
        if on_batch:
            on_batch(len(out), len(records))
    return out
