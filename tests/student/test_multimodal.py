from __future__ import annotations

import pytest
import torch

from clinreason.student.multimodal import KnowledgeAttention, PatchTSTEncoder


def test_patch_encoder_shapes_one_token_per_variable() -> None:
    encoder = PatchTSTEncoder(n_variables=11, length=48, patch=8, d_model=32, layers=1, heads=4)
    assert encoder.n_patches == 6
    tokens = encoder(torch.randn(3, 48, 11), torch.ones(3, 48, 11))
    assert tokens.shape == (3, 11, 32)
    with pytest.raises(ValueError, match="not a multiple of the patch length"):
        PatchTSTEncoder(n_variables=2, length=50, patch=8)
    with pytest.raises(ValueError, match="expected series of shape"):
        encoder(torch.randn(3, 40, 11))


def test_patch_encoder_is_channel_independent_up_to_the_variable_embedding() -> None:
    torch.manual_seed(0)
    encoder = PatchTSTEncoder(n_variables=3, length=16, patch=8, d_model=16, layers=1, heads=2, dropout=0.0).eval()
    x = torch.randn(1, 16, 3)
    base = encoder(x) - encoder.variable
    changed = x.clone()
    changed[:, :, 2] += 5.0  # only variable 2 changes
    after = encoder(changed) - encoder.variable
    assert torch.allclose(base[:, :2], after[:, :2], atol=1e-6)
    assert not torch.allclose(base[:, 2], after[:, 2])


def _attention(prototypes: int = 24) -> KnowledgeAttention:
    torch.manual_seed(0)
    knowledge = torch.randn(50, 64)  # 50 knowledge tokens in a 64-d LM embedding space
    return KnowledgeAttention(d_query=32, knowledge=knowledge, prototypes=prototypes, heads=4, d_head=8, dropout=0.0)


def test_knowledge_attention_shapes_and_prototypes() -> None:
    attention = _attention()
    assert attention.prototypes().shape == (24, 64)
    out, weights = attention(torch.randn(2, 11, 32), return_weights=True)
    assert out.shape == (2, 11, 64) and weights.shape == (2, 4, 11, 24)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 4, 11), atol=1e-5)


def test_knowledge_embeddings_stay_frozen_and_the_rest_learns() -> None:
    attention = _attention()
    out = attention(torch.randn(2, 5, 32))
    out.pow(2).mean().backward()
    assert not attention.knowledge.requires_grad and attention.knowledge.grad is None
    assert "knowledge" not in dict(attention.named_parameters())
    for name in ("mapping.weight", "query.weight", "key.weight", "value.weight", "out.weight"):
        grad = dict(attention.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_masked_queries_give_zero_and_no_gradient() -> None:
    attention = _attention()
    queries = torch.randn(1, 4, 32, requires_grad=True)
    mask = torch.tensor([[True, True, False, False]])
    out = attention(queries, mask)
    assert torch.all(out[0, 2:] == 0)
    out.sum().backward()
    assert torch.all(queries.grad[0, 2:] == 0) and queries.grad[0, :2].abs().sum() > 0
