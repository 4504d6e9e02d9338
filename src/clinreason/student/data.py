"""Training examples for the three objectives, and their tokenisation for causal and seq2seq models.

- `label`: patient -> "Final Diagnosis: (A) ..." (the baseline the papers beat).
- `rationale_then_label`: patient -> rationale, then the final diagnosis line (Kwon et al.).
- `multitask`: distilling step-by-step; "[diagnose]" patient -> diagnosis and "[explain]" patient ->
  rationale, trained together as alpha * label loss + (1 - alpha) * rationale loss.
"""

from __future__ import annotations

import re
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


def common_length(answers: Sequence[Sequence[int]]) -> int:
    """How many leading tokens the options' answers share: the next one tells them apart."""
    common = 0
    while all(len(a) > common for a in answers) and len({a[common] for a in answers}) == 1:
        common += 1
    return common


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
    token_weights: list[float] | None = None  # per position of `labels` (claim-token weighting), or None


def prompt_ids(tokenizer: Any, prompt: str, kind: str) -> list[int]:
    """The tokens that come before the answer: the chat template where the model has one."""
    if kind == "causal" and getattr(tokenizer, "chat_template", None):
        messages = [{"role": "system", "content": STUDENT_SYSTEM}, {"role": "user", "content": prompt}]
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        return list(ids["input_ids"] if isinstance(ids, Mapping) else ids)
    if kind == "causal":
        return list(tokenizer(prompt + "\n\nAnswer:\n", add_special_tokens=True)["input_ids"])
    return list(tokenizer(prompt, add_special_tokens=True)["input_ids"])


# What a rationale claims about the record: its numbers (values, counts, hours) and the words that grade
# them. Claim-token weighting puts more of the loss on these tokens, where a wrong token is a false claim.
CLAIM_PATTERN = re.compile(
    r"\d+(?:[.,]\d+)?|\b(?:high|higher|low|lower|elevated|raised|reduced|normal|abnormal|above|below|"
    r"increased|decreased|rising|falling|stable|tachycardi\w*|bradycardi\w*|hypotensi\w*|hypertensi\w*|"
    r"hypox\w*|fever\w*|febrile|afebrile)\b",
    re.IGNORECASE,
)


def claim_token_mask(tokenizer: Any, text: str) -> tuple[list[int], list[bool]]:
    """(token ids of `text`, whether each token overlaps a claim span of CLAIM_PATTERN); fast tokenizers."""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    spans = [match.span() for match in CLAIM_PATTERN.finditer(text)]
    flags = [any(start < end_ and begin < end for begin, end_ in spans) for start, end in encoded["offset_mapping"]]
    return list(encoded["input_ids"]), flags


def encode(tokenizer: Any, example: Example, kind: str, max_length: int, claim_weight: float = 1.0) -> Encoded:
    """Causal: prompt + target + EOS with the loss on the target; seq2seq: encoder input and decoder labels.
    `claim_weight` != 1: the target's claim tokens (CLAIM_PATTERN) weigh that much in the loss."""
    prompt = prompt_ids(tokenizer, example.prompt, kind)
    weights: list[float] | None = None
    if claim_weight != 1.0:
        ids, claims = claim_token_mask(tokenizer, example.target)
        target = [*ids, tokenizer.eos_token_id]
        weights = [claim_weight if claim else 1.0 for claim in claims] + [1.0]
    else:
        target = list(tokenizer(example.target, add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id]
    if kind == "seq2seq":
        truncated = len(prompt) > max_length or len(target) > max_length
        cut = None if weights is None else weights[:max_length]
        return Encoded(prompt[-max_length:], target[:max_length], example.task, truncated, example.series, 1.0, cut)
    truncated = len(prompt) + len(target) > max_length
    if truncated:  # keep the whole answer; cut the start of the prompt
        keep = max(max_length - len(target), 8)
        prompt = prompt[-keep:]
        target = target[: max_length - len(prompt)]
    positions = None if weights is None else [1.0] * len(prompt) + weights[: len(target)]
    return Encoded(
        prompt + target, [-100] * len(prompt) + target, example.task, truncated, example.series, 1.0, positions
    )
