from __future__ import annotations

import pytest

from clinreason.evaluate.text import bleu, rouge_l, text_metrics


def test_rouge_l_hand_computed() -> None:
    assert rouge_l(["the cat sat"], ["the cat sat"]) == pytest.approx(1.0)
    # LCS "the cat" = 2 of 3 tokens each way: P = R = F = 2/3
    assert rouge_l(["the cat sat"], ["the cat ran"]) == pytest.approx(2 / 3)
    assert rouge_l(["glucose high"], ["blood pressure normal"]) == 0.0


def test_bleu_bounds() -> None:
    text = "the glucose of 180 mg/dL is high and supports diabetes"
    assert bleu([text], [text]) == pytest.approx(100.0)
    assert bleu(["completely different words here"], [text]) < 5


def test_bertscore_is_rescaled_against_mismatched_pairs() -> None:
    references = [
        "Glucose is 180 mg/dL, which is high.",
        "Blood pressure of 118 mm Hg is normal.",
        "Thallium scintigraphy shows a reversible defect.",
    ]
    same = text_metrics(references, references)
    assert same.bertscore_f1 == pytest.approx(1.0, abs=1e-4)
    assert same.bertscore_f1_rescaled == pytest.approx(1.0, abs=1e-4)
    assert same.bertscore_baseline is not None and 0.05 < same.bertscore_baseline < 0.9  # unrelated pairs score > 0
    swapped = text_metrics(references[1:] + references[:1], references)
    assert swapped.bertscore_f1_rescaled is not None and swapped.bertscore_f1_rescaled < 0.2


def test_bleu_hand_computed() -> None:
    # precisions 4/5, 3/4, 2/3, 1/2 and no brevity penalty: BLEU = (0.8 * 0.75 * 2/3 * 0.5) ** 0.25 = 0.2 ** 0.25
    assert bleu(["a b c d e"], ["a b c d f"]) == pytest.approx(100 * 0.2**0.25, abs=1e-6)


def test_rescaling_formula() -> None:
    refs = ["Glucose is 180 mg/dL, which is high.", "Blood pressure of 118 mm Hg is normal."]
    cands = ["Glucose of 180 mg/dL is high.", "Blood pressure is normal at 118 mm Hg."]
    m = text_metrics(cands, refs)
    assert m.bertscore_f1 is not None and m.bertscore_baseline is not None
    assert m.bertscore_f1_rescaled == pytest.approx(
        (m.bertscore_f1 - m.bertscore_baseline) / (1 - m.bertscore_baseline)
    )
    assert m.bertscore_f1_rescaled > 0.5  # paraphrases are much closer than mismatched pairs
