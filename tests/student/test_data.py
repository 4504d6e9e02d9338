from __future__ import annotations

from typing import Any

from clinreason.records import Cohort
from clinreason.student.data import build_examples, encode


def test_examples_per_objective(toy_cohort: Cohort, toy_rationales: dict[str, str]) -> None:
    records = toy_cohort.records[:4]
    partial = {k: v for k, v in toy_rationales.items() if k != "p1"}
    label = build_examples(toy_cohort, records, "label")
    assert [e.target for e in label[:2]] == [
        "Final Diagnosis: (A) Diabetes",
        "Final Diagnosis: (B) No diabetes",
    ]
    chained = build_examples(toy_cohort, records, "rationale_then_label", partial)
    assert [e.record_id for e in chained] == ["p0", "p2", "p3"]  # p1 has no rationale
    assert chained[0].target == f"{toy_rationales['p0']}\n\nFinal Diagnosis: (A) Diabetes"
    multi = build_examples(toy_cohort, records, "multitask", partial)
    assert [(e.record_id, e.task) for e in multi[:2]] == [("p0", "label"), ("p0", "rationale")]
    assert multi[0].prompt.startswith("[diagnose] This patient") and multi[1].prompt.startswith("[explain] ")
    assert multi[1].target == toy_rationales["p0"]


def test_causal_encoding_masks_the_prompt(toy_cohort: Cohort, tokenizer: Any) -> None:
    example = build_examples(toy_cohort, toy_cohort.records[:1], "label")[0]
    encoded = encode(tokenizer, example, "causal", max_length=512)
    answer = [t for t in encoded.labels if t != -100]
    assert tokenizer.decode(answer) == "Final Diagnosis: (A) Diabetes<|im_end|>"
    assert encoded.labels[: len(encoded.labels) - len(answer)] == [-100] * (len(encoded.labels) - len(answer))
    text = tokenizer.decode(encoded.input_ids)
    assert text.startswith("<|im_start|>system\nYou are a clinical assistant. Give the diagnosis and explain it.")
    assert "<|im_start|>user\nThis patient is a 40-year-old female." in text


def test_truncation_keeps_the_whole_answer(toy_cohort: Cohort, tokenizer: Any) -> None:
    example = build_examples(toy_cohort, toy_cohort.records[:1], "label")[0]
    encoded = encode(tokenizer, example, "causal", max_length=24)
    assert encoded.truncated and len(encoded.input_ids) == 24
    assert tokenizer.decode([t for t in encoded.labels if t != -100]).startswith("Final Diagnosis: (A) Diabetes")


def test_seq2seq_encoding(toy_cohort: Cohort, tokenizer: Any) -> None:
    example = build_examples(toy_cohort, toy_cohort.records[:1], "label")[0]
    encoded = encode(tokenizer, example, "seq2seq", max_length=512)
    assert -100 not in encoded.labels
    assert tokenizer.decode(encoded.labels, skip_special_tokens=True) == "Final Diagnosis: (A) Diabetes"
