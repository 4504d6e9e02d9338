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


def test_the_candidate_kept_agrees_with_its_score_then_verifies_best() -> None:
    from clinreason.student.predict import _Candidate, choose_candidate

    labels = ["diabetes", "no diabetes"]
    high, low = [0.8, 0.2], [0.3, 0.7]
    inconsistent = _Candidate("", "r", "diabetes", low, supported=6, doubtful=0)  # says diabetes, scores no
    one_wrong = _Candidate("", "r", "diabetes", high, supported=5, doubtful=1)
    verified = _Candidate("", "r", "diabetes", high, supported=2, doubtful=0)
    assert choose_candidate([inconsistent, one_wrong, verified], labels) == 2
    assert choose_candidate([verified, verified], labels) == 0  # ties keep the greedy (first) one
    assert choose_candidate([inconsistent, one_wrong], labels) == 1  # consistency first


def test_predict_keeps_the_candidate_whose_claims_verify(
    tiny_causal: Callable[[], Student], toy_cohort: Cohort, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    module = importlib.import_module("clinreason.student.predict")

    record = toy_cohort.records[0]  # glucose 180 mg/dL, diabetes
    value = record.findings["glucose"].value
    wrong = "1. Glucose: 999 mg/dL, high, for diabetes.\nConclusion: diabetes.\n\nFinal Diagnosis: (A) Diabetes"
    right = f"1. Glucose: {value:g} mg/dL, high, for diabetes.\nConclusion: diabetes.\n\nFinal Diagnosis: (A) Diabetes"

    def scripted(student: Student, prompts: list[str], *, samples: int = 0, **_: object) -> list[str]:
        return [wrong] * len(prompts) if not samples else [wrong, right][:samples] * len(prompts)

    scored: list[str] = []

    def score(student: Student, prompts: list[str], prefixes: list[str], *_: object, **__: object) -> list[list[float]]:
        scored.extend(prefixes)
        return [[0.9, 0.1] if "999" in p else [0.6, 0.4] for p in prefixes]

    monkeypatch.setattr(module, "generate", scripted)
    monkeypatch.setattr(module, "option_probabilities_batch", score)
    one = predict(tiny_causal(), toy_cohort, [record], "rationale_then_label", candidates=1)[0]
    assert one.candidates == 1 and "999" in (one.rationale or "")
    three = predict(tiny_causal(), toy_cohort, [record], "rationale_then_label", candidates=3)[0]
    assert three.candidates == 3 and three.chosen == 2 and f"{value:g} mg/dL" in (three.rationale or "")
    assert three.probabilities == {"diabetes": 0.6, "no diabetes": 0.4}  # the kept candidate's own scores
    assert three.stated == "diabetes" and len(scored) == 1 + 3  # every candidate was scored


def test_sampled_candidates_with_a_real_tiny_model(tiny_causal: Callable[[], Student], toy_cohort: Cohort) -> None:
    student = tiny_causal()
    records = toy_cohort.records[:3]
    greedy = predict(student, toy_cohort, records, "rationale_then_label", max_new_tokens=6)
    several = predict(student, toy_cohort, records, "rationale_then_label", max_new_tokens=6, candidates=3, seed=1)
    again = predict(student, toy_cohort, records, "rationale_then_label", max_new_tokens=6, candidates=3, seed=1)
    assert [p.model_dump() for p in several] == [p.model_dump() for p in again]  # seeded: repeatable
    for first, chosen in zip(greedy, several, strict=True):
        assert chosen.candidates == 3 and 0 <= chosen.chosen < 3
        if chosen.chosen == 0:  # the greedy candidate kept: the same text and scores as candidates=1
            assert chosen.text == first.text
            assert chosen.probabilities == pytest.approx(first.probabilities, abs=1e-6)
