"""Length-grouped batches: deterministic, a partition of the examples, less padding, and the loss of a
padded batch is the token-weighted loss of its examples computed one by one (so grouping changes the
padding, not what is learned from a batch)."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable

import pytest
import torch

from clinreason.records import Cohort
from clinreason.student.data import build_examples, encode
from clinreason.student.model import Student, keeps_logits
from clinreason.student.train import batch_loss, collate, make_batches


def _padding(lengths: list[int], batches: list[list[int]]) -> int:
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


@pytest.mark.parametrize("group", [False, True])
def test_batches_are_a_seeded_partition(group: bool) -> None:
    lengths = [random.Random(i).randint(50, 700) for i in range(203)]
    batches = make_batches(lengths, 8, seed=3, epoch=1, group_by_length=group)
    assert sorted(i for b in batches for i in b) == list(range(203))
    assert all(len(b) <= 8 for b in batches)
    assert batches == make_batches(lengths, 8, seed=3, epoch=1, group_by_length=group)  # resumable
    assert batches != make_batches(lengths, 8, seed=3, epoch=2, group_by_length=group)


def test_grouping_pads_far_less() -> None:
    lengths = [random.Random(i).randint(50, 700) for i in range(400)]
    plain = _padding(lengths, make_batches(lengths, 8, 0, 0, group_by_length=False))
    grouped = _padding(lengths, make_batches(lengths, 8, 0, 0, group_by_length=True))
    assert grouped < 0.2 * plain


@pytest.mark.parametrize("objective", ["rationale_then_label"])
def test_padding_does_not_change_the_loss(
    tiny_causal: Callable[[], Student], toy_cohort: Cohort, toy_rationales: dict[str, str], objective: str
) -> None:
    student = tiny_causal()
    examples = build_examples(toy_cohort, toy_cohort.records[:4], objective, toy_rationales)  # type: ignore[arg-type]
    encoded = [encode(student.tokenizer, e, student.kind, 512) for e in examples]
    assert len({len(e.input_ids) for e in encoded}) > 1  # the batch really is padded
    pad, keep = student.tokenizer.pad_token_id, keeps_logits(student.model)
    student.model.eval()

    def loss(items: list) -> tuple[float, int]:
        batch = collate(items, pad, student.kind)
        with torch.no_grad():
            value = batch_loss(student.model, batch, student.kind, objective, 0.5, keep)
        return float(value), int((batch["labels"] != -100).sum())

    together, _ = loss(encoded)
    alone = [loss([e]) for e in encoded]
    weighted = sum(value * count for value, count in alone) / sum(count for _, count in alone)
    assert together == pytest.approx(weighted, rel=1e-4)


@pytest.mark.parametrize("objective", ["rationale_then_label", "multitask"])
def test_the_chunked_loss_equals_the_full_one_with_its_gradients(
    tiny_causal: Callable[[], Student],
    toy_cohort: Cohort,
    toy_rationales: dict[str, str],
    objective: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        sys.modules["clinreason.student.train"], "LOSS_CHUNK", 8
    )  # several chunks even for the toy answers
    student = tiny_causal()
    examples = build_examples(toy_cohort, toy_cohort.records[:6], objective, toy_rationales)  # type: ignore[arg-type]
    encoded = [encode(student.tokenizer, e, student.kind, 512) for e in examples]
    pad, keep = student.tokenizer.pad_token_id, keeps_logits(student.model)
    batch = collate(encoded, pad, student.kind)
    results = []
    for chunked in (False, True):
        student.model.zero_grad()
        value = batch_loss(student.model, batch, student.kind, objective, 0.5, keep, chunked=chunked)
        value.backward()
        grads = [p.grad.clone() for p in student.model.parameters() if p.grad is not None]
        results.append((float(value), grads))
    (full, full_grads), (chunked_loss, chunked_grads) = results
    assert chunked_loss == pytest.approx(full, rel=1e-5)
    assert len(full_grads) == len(chunked_grads)
    for a, b in zip(full_grads, chunked_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)
