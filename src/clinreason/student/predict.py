"""Student predictions: a diagnosis with class probabilities, and a rationale where the objective has one.

Probabilities come from the model's scores of the option letters after "Final Diagnosis: (" (for
`rationale_then_label`, after the rationale the student generated), normalised over the options, so
AUROC and calibration can be measured on generative students too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from clinreason.progress import Observer
from clinreason.records.schema import Cohort, PatientRecord
from clinreason.student.config import Precision
from clinreason.student.data import FINAL, Objective, TaskKind, prompt_ids, student_prompt
from clinreason.student.model import Student, keeps_logits, resolve_precision
from clinreason.teacher.parsing import parse_answer
from clinreason.teacher.prompts import options


class Prediction(BaseModel):
    record_id: str
    gold: list[str]
    probabilities: dict[str, float]
    predicted: str
    rationale: str | None = None
    stated: str | None = None
    text: str | None = None


def _for_generation(student: Student, precision: str) -> Student:
    """A bf16 copy for writing rationales where the device computes bf16 natively (about 2x faster on
    such CPUs). Option scoring keeps the model's own weights: in bf16 the nearly tied class scores of a
    weak student round together, which in the demo turned an AUROC of 0.72 into 0.33."""
    import copy

    import torch

    if resolve_precision(precision) != "bf16" or student.model.dtype != torch.float32:
        return student
    copied = copy.deepcopy(student.model).to(torch.bfloat16).eval()
    return Student(copied, student.tokenizer, student.kind, student.name)


def _sequences(student: Student, prompt: str, prefix: str, letters: Sequence[str]) -> tuple[list[int], list[list[int]]]:
    """Encoder/prompt ids, and for each option the answer tokens `prefix(X)`."""
    tokenizer = student.tokenizer
    start = prompt_ids(tokenizer, prompt, student.kind)
    answers = [list(tokenizer(f"{prefix}({letter})", add_special_tokens=False)["input_ids"]) for letter in letters]
    return start, answers


def option_probabilities(student: Student, prompt: str, prefix: str, letters: Sequence[str]) -> list[float]:
    """P(option) for one patient (see `option_probabilities_batch`)."""
    return option_probabilities_batch(student, [prompt], [prefix], letters)[0]


def option_probabilities_batch(
    student: Student,
    prompts: Sequence[str],
    prefixes: Sequence[str],
    letters: Sequence[str],
    batch_size: int = 16,
    values: Sequence[ValueInput] | None = None,
) -> list[list[float]]:
    """P(option) per patient: the model's probabilities of the first token where the options' answers
    `prefix(X)` differ (the letter), normalised over the options. Causal students score a batch of
    patients in one left-padded forward pass (one row per patient, only the last position projected to
    the vocabulary); seq2seq students, and tokenizers whose options share their first differing token,
    take the summed log-probabilities of each option's answer, one patient at a time. `values`: each
    patient's (values, observed) for a numeric-aware student."""
    import torch

    if len(prompts) != len(prefixes):
        raise ValueError("one prefix per prompt")
    rows: list[tuple[list[int], list[int]]] = []  # (the tokens before the letter, each option's letter token)
    for prompt, prefix in zip(prompts, prefixes, strict=True):
        start, answers = _sequences(student, prompt, prefix, letters)
        common = _common_length(answers)
        firsts = [a[common] if len(a) > common else -1 for a in answers]
        if student.kind != "causal" or len(set(firsts)) != len(firsts) or -1 in firsts:
            if values is not None:
                raise ValueError("value tokens need a tokenizer whose option letters are single distinct tokens")
            pairs = zip(prompts, prefixes, strict=True)
            return [_summed_option_probabilities(student, p, f, letters) for p, f in pairs]
        rows.append((start + answers[0][:common], firsts))
    model, device, pad = student.model, student.device, student.tokenizer.pad_token_id
    results: list[list[float]] = []
    for begin in range(0, len(rows), batch_size):
        chunk = rows[begin : begin + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.tensor([[pad] * (width - len(r)) + r for r, _ in chunk], device=device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r, _ in chunk], device=device)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        with torch.inference_mode():
            kwargs: dict[str, Any] = {"logits_to_keep": 1} if keeps_logits(model) else {}
            if values is not None:
                kwargs.update(_value_tensors(values[begin : begin + batch_size], device))
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, **kwargs).logits[:, -1, :]
            logprobs = torch.log_softmax(logits.float(), dim=-1)
        for row, (_, firsts) in enumerate(chunk):
            results.append(_normalised([float(logprobs[row, token]) for token in firsts]))
    return results


ValueInput = tuple[list[float], list[bool]]  # a numeric-aware student's standardised values and mask


def _value_tensors(values: Sequence[ValueInput], device: Any) -> dict[str, Any]:
    import torch

    return {
        "values": torch.tensor([v for v, _ in values], dtype=torch.float32, device=device),
        "observed": torch.tensor([o for _, o in values], dtype=torch.float32, device=device),
    }


def _value_inputs(student: Student, records: Sequence[PatientRecord]) -> list[ValueInput] | None:
    plan = getattr(student.model, "plan", None)
    return None if plan is None else [plan.values(record) for record in records]


def _prompt(student: Student, cohort: Cohort, record: PatientRecord, objective: Objective, task: TaskKind) -> str:
    """The prompt the student was trained on: with the value-token block for a numeric-aware student."""
    from clinreason.student.numeric import numeric_block

    plan = getattr(student.model, "plan", None)
    text = student_prompt(cohort, record, objective, task)
    return text if plan is None else text + numeric_block(plan)


def _common_length(answers: Sequence[Sequence[int]]) -> int:
    common = 0
    while all(len(a) > common for a in answers) and len({a[common] for a in answers}) == 1:
        common += 1
    return common


def _normalised(scores: Sequence[float]) -> list[float]:
    top = max(scores)
    weights = [math.exp(s - top) for s in scores]
    return [w / sum(weights) for w in weights]


def _summed_option_probabilities(student: Student, prompt: str, prefix: str, letters: Sequence[str]) -> list[float]:
    """P(option) from the summed log-probabilities of the tokens where the options' answers differ."""
    import torch

    start, answers = _sequences(student, prompt, prefix, letters)
    common = _common_length(answers)
    model, device = student.model, student.device
    pad = student.tokenizer.pad_token_id
    with torch.inference_mode():
        if student.kind == "seq2seq":
            width = max(len(a) for a in answers)
            encoder = torch.tensor([start] * len(answers), device=device)
            labels = torch.tensor([a + [-100] * (width - len(a)) for a in answers], device=device)
            logits = model(input_ids=encoder, labels=labels).logits
            offsets = [0] * len(answers)
        else:
            rows = [start + a for a in answers]
            width = max(len(r) for r in rows)
            ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=device)
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
            # Only the positions that predict the differing answer tokens need the vocabulary projection.
            keep = width - (len(start) + common - 1)
            if keeps_logits(model):
                logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits
            else:
                logits = model(input_ids=ids, attention_mask=mask).logits[:, -keep:, :]
            offsets = [len(start) - (width - keep)] * len(answers)
        logprobs = torch.log_softmax(logits.float(), dim=-1)
    scores = []
    for row, answer in enumerate(answers):
        total = 0.0
        for position in range(common, len(answer)):
            at = offsets[row] + position - (0 if student.kind == "seq2seq" else 1)
            total += float(logprobs[row, at, answer[position]])
        scores.append(total)
    return _normalised(scores)


def generate(
    student: Student,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    values: Sequence[ValueInput] | None = None,
) -> list[str]:
    """Greedy answers, batched (left padding for causal models)."""
    import torch

    tokenizer, model, device = student.tokenizer, student.model, student.device
    pad = tokenizer.pad_token_id
    texts: list[str] = []
    for begin in range(0, len(prompts), batch_size):
        rows = [prompt_ids(tokenizer, p, student.kind) for p in prompts[begin : begin + batch_size]]
        width = max(len(r) for r in rows)
        if student.kind == "seq2seq":
            ids = [r + [pad] * (width - len(r)) for r in rows]
            mask = [[1] * len(r) + [0] * (width - len(r)) for r in rows]
        else:
            ids = [[pad] * (width - len(r)) + r for r in rows]
            mask = [[0] * (width - len(r)) + [1] * len(r) for r in rows]
        extra = {} if values is None else _value_tensors(values[begin : begin + batch_size], device)
        with torch.inference_mode():
            output = model.generate(
                input_ids=torch.tensor(ids, device=device),
                attention_mask=torch.tensor(mask, device=device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=pad,
                eos_token_id=tokenizer.eos_token_id,
                **extra,
            )
        # generation from embeddings (value tokens) returns the new tokens only
        new = output if student.kind == "seq2seq" or values is not None else output[:, width:]
        texts.extend(tokenizer.decode(row, skip_special_tokens=True).strip() for row in new)
    return texts


def predict(
    student: Student,
    cohort: Cohort,
    records: Sequence[PatientRecord],
    objective: Objective,
    *,
    with_rationale: bool = True,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    precision: Precision = "fp32",
    observer: Observer | None = None,
) -> list[Prediction]:
    """Diagnosis + probabilities for every record; a rationale too when the objective produces one.

    `precision` applies to rationale generation only ("auto": bf16 where the device computes it natively);
    class probabilities are always scored with the model's own weights. `observer` sees two phases:
    writing the rationales (when there are any), then scoring the diagnosis options, each per patient."""
    observer = observer or Observer()
    choices = options(cohort)
    letters = [letter for letter, _, _ in choices]
    labels = [label for _, label, _ in choices]
    student.model.eval()
    value_inputs = _value_inputs(student, records)
    texts: dict[str, str] = {}
    if objective != "label" and with_rationale:
        task: TaskKind = "rationale" if objective == "multitask" else "label"
        prompts = [_prompt(student, cohort, r, objective, task) for r in records]
        writer = _for_generation(student, precision)
        observer.phase(f"writing {len(records)} rationale(s)", len(records))
        for begin in range(0, len(records), batch_size):
            chunk = records[begin : begin + batch_size]
            outputs = generate(
                writer,
                prompts[begin : begin + batch_size],
                max_new_tokens=max_new_tokens,
                batch_size=batch_size,
                values=None if value_inputs is None else value_inputs[begin : begin + batch_size],
            )
            for record, text in zip(chunk, outputs, strict=True):
                texts[record.id] = text
            observer.advance(min(begin + batch_size, len(records)), len(records))
    predictions: list[Prediction] = []
    observer.phase(f"scoring the diagnosis of {len(records)} patient(s)", len(records))
    parsed_rows: list[tuple[str | None, str | None]] = []
    prefixes: list[str] = []
    for record in records:
        prefix = FINAL
        stated = rationale = None
        if record.id in texts:
            parsed = parse_answer(texts[record.id], choices)
            rationale, stated = parsed.rationale, parsed.label
            if objective == "rationale_then_label":
                prefix = f"{rationale}\n\n{FINAL}" if rationale else FINAL
            elif objective == "multitask":
                rationale = texts[record.id].strip()
        parsed_rows.append((rationale, stated))
        prefixes.append(prefix)
    prompts = [_prompt(student, cohort, record, objective, "label") for record in records]
    for begin in range(0, len(records), batch_size):
        scored = option_probabilities_batch(
            student,
            prompts[begin : begin + batch_size],
            prefixes[begin : begin + batch_size],
            letters,
            batch_size,
            values=None if value_inputs is None else value_inputs[begin : begin + batch_size],
        )
        for offset, probabilities in enumerate(scored):
            record = records[begin + offset]
            rationale, stated = parsed_rows[begin + offset]
            best = max(range(len(labels)), key=probabilities.__getitem__)
            predictions.append(
                Prediction(
                    record_id=record.id,
                    gold=list(record.labels),
                    probabilities=dict(zip(labels, probabilities, strict=True)),
                    predicted=labels[best],
                    rationale=rationale,
                    stated=stated,
                    text=texts.get(record.id),
                )
            )
        observer.advance(min(begin + batch_size, len(records)), len(records))
    return predictions
