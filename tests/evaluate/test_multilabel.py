from __future__ import annotations

import pytest

from clinreason.evaluate.multilabel import match_diseases, multilabel_metrics, split_diseases

LABELS = ["sepsis", "shock", "pneumonia"]


def test_hand_computed_multilabel_metrics() -> None:
    gold = [["sepsis", "shock"], ["pneumonia"], [], ["sepsis"]]
    predicted = [["sepsis"], ["pneumonia", "shock"], [], ["pneumonia"]]
    m = multilabel_metrics(gold, predicted, LABELS)
    # TP: sepsis 1, shock 0, pneumonia 1 -> 2; FP: shock 1, pneumonia 1 -> 2; FN: sepsis 1, shock 1 -> 2
    assert (m.micro_precision, m.micro_recall, m.micro_f1) == pytest.approx((0.5, 0.5, 0.5))
    # per label: sepsis P 1 R .5 F 2/3; shock P 0 R 0 F 0; pneumonia P .5 R 1 F 2/3
    assert m.macro_precision == pytest.approx((1 + 0 + 0.5) / 3)
    assert m.macro_recall == pytest.approx((0.5 + 0 + 1) / 3)
    assert m.macro_f1 == pytest.approx((2 / 3 + 0 + 2 / 3) / 3)
    assert m.subset_accuracy == pytest.approx(0.25)  # only the empty set matches exactly
    assert m.support == {"sepsis": 2, "shock": 1, "pneumonia": 1}


def test_unknown_labels_are_an_error() -> None:
    with pytest.raises(ValueError, match="not in the label set"):
        multilabel_metrics([["flu"]], [[]], LABELS)


def test_split_and_exact_matching() -> None:
    assert split_diseases("Sepsis, shock and pneumonia.") == ["Sepsis", "shock", "pneumonia"]
    assert match_diseases("Pneumonia, SEPSIS", LABELS, use_embeddings=False) == ["sepsis", "pneumonia"]
    assert match_diseases("No disease is diagnosed", LABELS, use_embeddings=False) == []
    assert match_diseases("septic shock", LABELS, aliases={"shock": ["septic shock"]}, use_embeddings=False) == [
        "shock"
    ]


def test_embedding_matching_uses_the_threshold() -> None:
    labels = ["Acute and unspecified renal failure", "Essential hypertension"]
    assert match_diseases("acute renal failure", labels, threshold=0.8) == ["Acute and unspecified renal failure"]
    assert match_diseases("fractured wrist", labels, threshold=0.8) == []
