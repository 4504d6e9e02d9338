"""Multi-label diagnosis metrics (ClinRaGen's 25 phenotypes), and matching generated disease names
to the label set.

A generative student writes "Disease Diagnosed: septicemia, acute renal failure"; as in ClinRaGen,
the string is split on commas and each piece is mapped to the label whose name it matches exactly
(or through an alias), else to the label whose all-MiniLM-L6-v2 embedding is closest, if the cosine
similarity reaches the threshold (0.9 in ClinRaGen's code).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from pydantic import BaseModel
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from sklearn.preprocessing import MultiLabelBinarizer

from clinreason.embeddings import embed


class MultiLabelMetrics(BaseModel):
    n: int
    labels: list[str]
    micro_precision: float
    micro_recall: float
    micro_f1: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    subset_accuracy: float
    per_label_f1: dict[str, float]
    support: dict[str, int]


def multilabel_metrics(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], labels: Sequence[str]
) -> MultiLabelMetrics:
    """Micro and macro precision/recall/F1 over labels; subset accuracy is exact set equality."""
    if len(gold) != len(predicted) or not gold:
        raise ValueError(f"need as many predictions as gold label sets (got {len(predicted)} and {len(gold)})")
    labels = list(labels)
    unknown = sorted({x for row in list(gold) + list(predicted) for x in row} - set(labels))
    if unknown:
        raise ValueError(f"labels {unknown} are not in the label set")
    binarizer = MultiLabelBinarizer(classes=labels)
    y_true = binarizer.fit_transform(gold)
    y_pred = binarizer.transform(predicted)
    micro = precision_recall_fscore_support(y_true, y_pred, average="micro", zero_division=0)
    macro = precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    per_label = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    return MultiLabelMetrics(
        n=len(gold),
        labels=labels,
        micro_precision=float(micro[0]),
        micro_recall=float(micro[1]),
        micro_f1=float(micro[2]),
        macro_precision=float(macro[0]),
        macro_recall=float(macro[1]),
        macro_f1=float(macro[2]),
        subset_accuracy=float(accuracy_score(y_true, y_pred)),
        per_label_f1={label: float(v) for label, v in zip(labels, per_label[2], strict=True)},
        support={label: int(v) for label, v in zip(labels, y_true.sum(axis=0), strict=True)},
    )


NO_DISEASE = {"none", "no disease", "no disease is diagnosed", "no diseases", "nothing"}


def split_diseases(text: str) -> list[str]:
    pieces = re.split(r"[,;\n]|\band\b", text)
    return [p.strip(" .:-*").strip() for p in pieces if p.strip(" .:-*").strip()]


def match_diseases(
    text: str,
    labels: Sequence[str],
    *,
    aliases: Mapping[str, Sequence[str]] | None = None,
    threshold: float = 0.9,
    use_embeddings: bool = True,
) -> list[str]:
    """Labels named in `text` (in label order, each once)."""
    names = {label.lower(): label for label in labels}
    for label, other in (aliases or {}).items():
        names.update({alias.lower(): label for alias in other})
    found: set[str] = set()
    unmatched: list[str] = []
    for piece in split_diseases(text):
        key = piece.lower()
        if key in NO_DISEASE:
            continue
        if key in names:
            found.add(names[key])
        else:
            unmatched.append(piece)
    if unmatched and use_embeddings:
        candidates = list(names)
        similarity = embed(unmatched) @ embed(candidates).T
        for row in similarity:
            best = int(row.argmax())
            if row[best] >= threshold:
                found.add(names[candidates[best]])
    return [label for label in labels if label in found]
