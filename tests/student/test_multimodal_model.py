from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from clinreason.student.multimodal_model import TS_TOKEN, MultimodalStudent


def _student(tokenizer: Any, tiny_llama: Callable[..., Any], knowledge: bool = True) -> tuple[MultimodalStudent, Any]:
    tok = copy.deepcopy(tokenizer)
    lm = tiny_llama(tok, max_position_embeddings=512)
    kb = torch.randn(40, 32) if knowledge else None
    model = MultimodalStudent(
        lm, tok, n_variables=3, length=16, d_model=16, layers=1, heads=2, knowledge=kb, prototypes=6
    )
    return model, tok


def _batch(tok: Any, placeholders: int = 3) -> dict[str, torch.Tensor]:
    text = "Note: fever. Labs: " + TS_TOKEN * placeholders + " Diagnosis:"
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
    return {"input_ids": ids, "values": torch.randn(1, 16, 3), "observed": torch.ones(1, 16, 3)}


def test_placeholders_are_replaced_by_series_tokens(tokenizer: Any, tiny_llama: Callable[..., Any]) -> None:
    model, tok = _student(tokenizer, tiny_llama)
    batch = _batch(tok)
    where = batch["input_ids"][0] == model.ts_token_id
    assert int(where.sum()) == 3
    model.eval()
    embedded = model.embed(batch["input_ids"], batch["values"], batch["observed"])
    expected = model.series_tokens(batch["values"], batch["observed"])
    assert torch.allclose(embedded[0, where], expected[0], atol=1e-6)
    plain = model.lm.get_input_embeddings()(batch["input_ids"])
    assert torch.equal(embedded[0, ~where], plain[0, ~where])
    with pytest.raises(ValueError, match="needs 3 of them"):
        model.embed(_batch(tok, placeholders=2)["input_ids"], batch["values"])


def test_a_second_student_on_a_tokenizer_in_use_gets_room_for_the_series_token(
    tokenizer: Any, tiny_llama: Callable[..., Any]
) -> None:
    first, tok = _student(tokenizer, tiny_llama)  # adds the placeholder token to `tok`
    fresh = tiny_llama(tok, max_position_embeddings=512)
    fresh.resize_token_embeddings(len(tok) - 1)  # a base model loaded again: no row for the added token
    second = MultimodalStudent(fresh, tok, n_variables=3, length=16, d_model=16, layers=1, heads=2, prototypes=6)
    assert second.ts_token_id == first.ts_token_id
    assert second.lm.get_input_embeddings().num_embeddings >= len(tok)
    batch = _batch(tok)
    assert second(**batch).logits.shape[:2] == batch["input_ids"].shape


@pytest.mark.parametrize("knowledge", [True, False])
def test_each_stage_freezes_exactly_its_parts(tokenizer: Any, tiny_llama: Callable[..., Any], knowledge: bool) -> None:
    model, tok = _student(tokenizer, tiny_llama, knowledge)
    bridge = model.knowledge if knowledge else model.project
    expected = {1: (True, False, False), 2: (False, True, True), 3: (True, False, True)}
    for stage, (lm, encoder, mapped) in expected.items():
        model.set_stage(stage)  # type: ignore[arg-type]
        assert all(p.requires_grad == lm for p in model.lm.parameters()), stage
        assert all(p.requires_grad == encoder for p in model.encoder.parameters()), stage
        assert all(p.requires_grad == mapped for p in bridge.parameters()), stage  # type: ignore[union-attr]
        model.zero_grad(set_to_none=True)
        batch = _batch(tok)
        out = model(**batch, labels=batch["input_ids"])
        if any(p.requires_grad for p in model.parameters()):
            out.loss.backward()
        grads = lambda module: [p.grad is not None and bool(p.grad.abs().sum() > 0) for p in module.parameters()]  # noqa: E731
        assert any(grads(model.lm)) == lm and not (not lm and any(grads(model.lm))), stage
        assert any(grads(model.encoder)) == encoder, stage
        assert any(grads(bridge)) == mapped, stage  # type: ignore[arg-type]


def test_save_and_load_give_the_same_outputs(tokenizer: Any, tiny_llama: Callable[..., Any], tmp_path: Path) -> None:
    model, tok = _student(tokenizer, tiny_llama)
    model.eval()
    batch = _batch(tok)
    before = model(**batch).logits
    model.save_pretrained(tmp_path / "ckpt")
    tok.save_pretrained(tmp_path / "ckpt")
    again = MultimodalStudent.from_pretrained(tmp_path / "ckpt", tok).eval()
    assert torch.allclose(again(**batch).logits, before, atol=1e-5)


def test_a_damaged_checkpoint_is_a_checkpoint_error(
    tokenizer: Any, tiny_llama: Callable[..., Any], tmp_path: Path
) -> None:
    from clinreason.errors import CheckpointError

    model, tok = _student(tokenizer, tiny_llama)
    model.save_pretrained(tmp_path / "best")
    assert MultimodalStudent.from_pretrained(tmp_path / "best", tok).n_variables == 3
    (tmp_path / "best" / "multimodal.pt").write_bytes(b"truncated")
    with pytest.raises(CheckpointError, match="corrupt multimodal checkpoint"):
        MultimodalStudent.from_pretrained(tmp_path / "best", tok)
    with pytest.raises(CheckpointError, match="no multimodal.json"):
        MultimodalStudent.from_pretrained(tmp_path, tok)
