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


def test_claim_tokens_are_the_numbers_and_the_words_grading_them(tokenizer: Any) -> None:
    from clinreason.student.data import claim_token_mask

    text = "Heart rate was high in 5 of 12 hours; temperature stayed normal."
    ids, flags = claim_token_mask(tokenizer, text)
    claimed = [tokenizer.decode([t]).strip() for t, flag in zip(ids, flags, strict=True) if flag]
    assert ids == tokenizer(text, add_special_tokens=False)["input_ids"]
    assert "".join(claimed) == "high512normal"  # SmolLM2 writes each digit as its own token


def test_claim_weight_weighs_the_claim_positions_of_the_answer(toy_cohort: Cohort, tokenizer: Any) -> None:
    from clinreason.student.data import Example

    example = Example("p0", "Explain.", "Glucose is high at 180 mg/dL.\n\nFinal Diagnosis: (A) Diabetes", "rationale")
    plain = encode(tokenizer, example, "causal", max_length=512)
    weighted = encode(tokenizer, example, "causal", max_length=512, claim_weight=3.0)
    assert plain.token_weights is None and weighted.labels == plain.labels
    assert weighted.token_weights is not None and len(weighted.token_weights) == len(weighted.labels)
    heavy = [t for t, w in zip(weighted.labels, weighted.token_weights, strict=True) if w == 3.0]
    assert all(t != -100 for t in heavy)  # only answer tokens carry a claim weight
    assert "".join(tokenizer.decode([t]).strip() for t in heavy) == "high180"
    short = encode(tokenizer, example, "causal", max_length=20, claim_weight=3.0)  # cut prompt: still aligned
    assert short.token_weights is not None and len(short.token_weights) == len(short.labels) == 20
