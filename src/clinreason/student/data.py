"""Training examples for the three objectives, and their tokenisation for causal and seq2seq models.

- `label`: patient -> "Final Diagnosis: (A) ..." (the baseline the papers beat).
- `rationale_then_label`: patient -> rationale, then the final diagnosis line (Kwon et al.).
- `multitask`: distilling step-by-step; "[diagnose]" patient -> diagnosis and "[explain]" patient ->
  rationale, trained together as alpha * label loss + (1 - alpha) * rationale loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from clinreason.records.schema import Cohort, PatientRecord
from clinreason.records.text import record_to_text
from clinreason.teacher.prompts import options

Objective = Literal["label", "rationale_then_label", "multitask"]
TaskKind = Literal["label", "rationale"]
LABEL_PREFIX = "[diagnose] "
RATIONALE_PREFIX = "[explain] "
FINAL = "Final Diagnosis: "
STUDENT_SYSTEM = "You are a clinical assistant. Give the diagnosis and explain it."


@dataclass(frozen=True)
class Example:
    record_id: str
    prompt: str  # the user message the student reads
    target: str  # what it learns to write
    task: TaskKind
    series: tuple[list[list[float]], list[list[bool]]] | None = None  # (values, observed) for multimodal students
    label: str | None = None  # the gold diagnosis (for class-balanced weighting)


def question(cohort: Cohort, record: PatientRecord) -> str:
    lines = "\n".join(f"({letter}) {shown}" for letter, _, shown in options(cohort))
    return f"{record_to_text(record, cohort.text_style)}\n\nWhat is the diagnosis of this patient?\n{lines}"


def answer_line(cohort: Cohort, label: str) -> str:
    for letter, known, shown in options(cohort):
        if known == label:
            return f"{FINAL}({letter}) {shown}"
    raise ValueError(f"label '{label}' is not in cohort {cohort.name}'s labels {cohort.labels}")


def student_prompt(cohort: Cohort, record: PatientRecord, objective: Objective, task: TaskKind = "label") -> str:
    text = question(cohort, record)
    if objective == "multitask":
        return (LABEL_PREFIX if task == "label" else RATIONALE_PREFIX) + text
    return text


def build_examples(
    cohort: Cohort,
    records: Sequence[PatientRecord],
    objective: Objective,
    rationales: Mapping[str, str] | None = None,
) -> list[Example]:
    """Examples for `records`; objectives that need a rationale skip patients without one."""
    rationales = rationales or {}
    examples: list[Example] = []
    for record in records:
        if len(record.labels) != 1:
            raise ValueError(f"patient {record.id} has {len(record.labels)} labels; the student needs exactly one")
        gold = record.labels[0]
        final = answer_line(cohort, gold)
        rationale = rationales.get(record.id)
        if objective == "label":
            examples.append(Example(record.id, student_prompt(cohort, record, objective), final, "label", label=gold))
        elif rationale is None:
            continue
        elif objective == "rationale_then_label":
            target = f"{rationale.strip()}\n\n{final}"
            examples.append(
                Example(record.id, student_prompt(cohort, record, objective), target, "rationale", label=gold)
            )
        else:
            examples.append(
                Example(record.id, student_prompt(cohort, record, objective, "label"), final, "label", label=gold)
            )
            examples.append(
                Example(
                    record.id,
                    student_prompt(cohort, record, objective, "rationale"),
                    rationale.strip(),
                    "rationale",
                    label=gold,
                )
            )
    return examples


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]  # -100 where no loss is taken (causal: the prompt)
    task: TaskKind
    truncated: bool
    series: tuple[list[list[float]], list[list[bool]]] | None = None
    weight: float = 1.0  # of this example's tokens in the loss (class-balanced weighting)


def prompt_ids(tokenizer: Any, prompt: str, kind: str) -> list[int]:
    """The tokens that come before the answer: the chat template where the model has one."""
    if kind == "causal" and getattr(tokenizer, "chat_template", None):
        messages = [{"role": "system", "content": STUDENT_SYSTEM}, {"role": "user", "content": prompt}]
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        return list(ids["input_ids"] if isinstance(ids, Mapping) else ids)
    if kind == "causal":
        return list(tokenizer(prompt + "\n\nAnswer:\n", add_special_tokens=True)["input_ids"])
    return list(tokenizer(prompt, add_special_tokens=True)["input_ids"])


def encode(tokenizer: Any, example: Example, kind: str, max_length: int) -> Encoded:
    """Causal: prompt + target + EOS with the loss on the target; seq2seq: encoder input and decoder labels."""
    prompt = prompt_ids(tokenizer, example.prompt, kind)
    target = list(tokenizer(example.target, add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id]
    if kind == "seq2seq":
        truncated = len(prompt) > max_length or len(target) > max_length
        return Encoded(prompt[-max_length:], target[:max_length], example.task, truncated, example.series)
    truncated = len(prompt) + len(target) > max_length
    if truncated:  # keep the whole answer; cut the start of the prompt
        keep = max(max_length - len(target), 8)
        prompt = prompt[-keep:]
        target = target[: max_length - len(prompt)]
    return Encoded(prompt + target, [-100] * len(prompt) + target, example.task, truncated, example.series)
