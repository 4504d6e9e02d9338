from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from clinreason.records import Cohort
from clinreason.student.checkpoint import load_checkpoint
from clinreason.student.config import TrainConfig
from clinreason.student.data import FINAL, prompt_ids, student_prompt
from clinreason.student.model import Student
from clinreason.student.predict import option_probabilities, option_probabilities_batch, predict
from clinreason.student.train import train


def _full_logit_probabilities(student: Student, prompt: str, letters: list[str]) -> list[float]:
    """P(option) by hand: the whole unpadded sequence's logits, the log-probability of the first answer
    token where the options differ (the letter)."""
    tokenizer = student.tokenizer
    start = prompt_ids(tokenizer, prompt, student.kind)
    answers = [tokenizer(f"{FINAL}({x})", add_special_tokens=False)["input_ids"] for x in letters]
    common = 0
    while all(len(a) > common for a in answers) and len({a[common] for a in answers}) == 1:
        common += 1
    scores = []
    with torch.inference_mode():
        for answer in answers:
            logits = student.model(input_ids=torch.tensor([start + answer])).logits[0].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            scores.append(float(logprobs[len(start) + common - 1, answer[common]]))
    weights = [math.exp(s - max(scores)) for s in scores]
    return [w / sum(weights) for w in weights]


def test_option_probabilities_match_the_full_computation(
    tiny_causal: Callable[[], Student], toy_cohort: Cohort
) -> None:
    student = tiny_causal()
    student.model.eval()
    for record in toy_cohort.records[:3]:
        prompt = student_prompt(toy_cohort, record, "label")
        fast = option_probabilities(student, prompt, FINAL, ["A", "B"])
        assert fast == pytest.approx(_full_logit_probabilities(student, prompt, ["A", "B"]), abs=1e-5)
        assert sum(fast) == pytest.approx(1.0)


def test_a_left_padded_batch_scores_like_one_patient_at_a_time(
    tiny_causal: Callable[[], Student], toy_cohort: Cohort
) -> None:
    student = tiny_causal()
    student.model.eval()
    records = toy_cohort.records[:5]
    prompts = [student_prompt(toy_cohort, r, "label") for r in records]
    # prefixes of different lengths, as rationale_then_label's generated rationales are
    prefixes = [FINAL, "Glucose is high.\n\n" + FINAL, FINAL, "A much longer rationale. " * 6 + FINAL, FINAL]
    batched = option_probabilities_batch(student, prompts, prefixes, ["A", "B"], batch_size=5)
    for prompt, prefix, together in zip(prompts, prefixes, batched, strict=True):
        assert together == pytest.approx(option_probabilities(student, prompt, prefix, ["A", "B"]), abs=1e-5)


def test_bf16_writes_rationales_but_scores_with_the_models_own_weights(
    tiny_causal: Callable[[], Student], toy_cohort: Cohort, toy_rationales: dict[str, str], tmp_path: Path
) -> None:
    from clinreason.student.data import build_examples

    examples = build_examples(toy_cohort, toy_cohort.records[:8], "rationale_then_label", toy_rationales)
    config = TrainConfig(objective="rationale_then_label", epochs=1, max_steps=1, batch_size=4, precision="fp32")
    train(tiny_causal(), examples, examples[:2], config, tmp_path)
    student, _ = load_checkpoint(tmp_path / "best", device="cpu")
    records = toy_cohort.records[16:19]
    fp32 = predict(student, toy_cohort, records, "rationale_then_label", max_new_tokens=8, precision="fp32")
    bf16 = predict(student, toy_cohort, records, "rationale_then_label", max_new_tokens=8, precision="bf16")
    assert {p.dtype for p in student.model.parameters()} == {torch.float32}  # the caller's model is untouched
    same = [(a, b) for a, b in zip(fp32, bf16, strict=True) if a.text == b.text]
    assert same, "bf16 greedy decoding should reproduce at least one fp32 rationale of this tiny model"
    for a, b in same:  # same rationale: the probabilities come from the same fp32 weights
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-6)
