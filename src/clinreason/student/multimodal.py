"""Time-series inputs for the student (ClinRaGen): a PatchTST-style encoder and knowledge-augmented
attention.

- `PatchTSTEncoder`: each variable's series is cut into patches of 8 steps; every patch (values plus
  an observed-mask) is embedded, a transformer encodes each variable's patches independently with
  shared weights (channel independence), and the last patch's output stands for the variable: one
  token per variable.
- `KnowledgeAttention`: ClinRaGen's knowledge-augmented attention (Time-LLM's reprogramming layer).
  The frozen input embeddings of the tokens of a medical knowledge text are compressed by a learned
  linear map into P prototypes (default 24); queries from the time-series tokens attend over them,
  so every time-series token is rewritten as a mixture of knowledge prototypes, i.e. moved into the
  language model's word-embedding space.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


class PatchTSTEncoder(nn.Module):
    def __init__(
        self,
        n_variables: int,
        length: int = 48,
        patch: int = 8,
        d_model: int = 128,
        layers: int = 2,
        heads: int = 4,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if length % patch:
            raise ValueError(f"series length {length} is not a multiple of the patch length {patch}")
        self.n_variables, self.length, self.patch, self.d_model = n_variables, length, patch, d_model
        self.n_patches = length // patch
        self.embed = nn.Linear(2 * patch, d_model)  # values and observed-mask of one patch
        self.position = nn.Parameter(torch.zeros(1, self.n_patches, d_model))
        self.variable = nn.Parameter(torch.zeros(1, n_variables, d_model))
        nn.init.normal_(self.position, std=0.02)
        nn.init.normal_(self.variable, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=2 * d_model, dropout=dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, values: torch.Tensor, observed: torch.Tensor | None = None) -> torch.Tensor:
        """values, observed: (batch, length, variables) -> tokens: (batch, variables, d_model)."""
        batch, length, variables = values.shape
        if (length, variables) != (self.length, self.n_variables):
            raise ValueError(
                f"expected series of shape (*, {self.length}, {self.n_variables}), got {tuple(values.shape)}"
            )
        if observed is None:
            observed = torch.ones_like(values)
        # (batch, variables, patches, patch) for values and mask, concatenated per patch
        v = values.transpose(1, 2).reshape(batch, variables, self.n_patches, self.patch)
        m = observed.to(values.dtype).transpose(1, 2).reshape(batch, variables, self.n_patches, self.patch)
        x = self.embed(torch.cat([v, m], dim=-1)).reshape(batch * variables, self.n_patches, self.d_model)
        x = self.encoder(x + self.position)
        last = self.norm(x[:, -1, :]).reshape(batch, variables, self.d_model)
        return last + self.variable


class KnowledgeAttention(nn.Module):
    """Cross-attention from query tokens onto P prototypes compressed from frozen knowledge-token
    embeddings. `knowledge` is (V_k, d_llm): the language model's input embeddings of the unique token
    ids of the knowledge text, kept frozen (a buffer)."""

    knowledge: torch.Tensor  # a buffer (register_buffer), not a submodule

    def __init__(
        self,
        d_query: int,
        knowledge: torch.Tensor,
        prototypes: int = 24,
        heads: int = 8,
        d_head: int = 32,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        vocab, d_llm = knowledge.shape
        self.register_buffer("knowledge", knowledge.detach().clone())  # saved with the model, never trained
        self.heads, self.d_head = heads, d_head
        self.mapping = nn.Linear(vocab, prototypes)  # S = W_map E_k: compress V_k tokens into P prototypes
        self.query = nn.Linear(d_query, heads * d_head)
        self.key = nn.Linear(d_llm, heads * d_head)
        self.value = nn.Linear(d_llm, heads * d_head)
        self.out = nn.Linear(heads * d_head, d_llm)
        self.dropout = nn.Dropout(dropout)

    def prototypes(self) -> torch.Tensor:
        """(P, d_llm)."""
        return self.mapping(self.knowledge.transpose(0, 1)).transpose(0, 1)

    def forward(
        self, queries: torch.Tensor, mask: torch.Tensor | None = None, return_weights: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """queries: (batch, tokens, d_query); mask: (batch, tokens), False = padding (output 0).
        Returns (batch, tokens, d_llm) and optionally the attention weights (batch, heads, tokens, P)."""
        batch, tokens, _ = queries.shape
        source = self.prototypes()
        q = self.query(queries).reshape(batch, tokens, self.heads, self.d_head).transpose(1, 2)
        k = self.key(source).reshape(-1, self.heads, self.d_head).transpose(0, 1)  # (heads, P, d_head)
        v = self.value(source).reshape(-1, self.heads, self.d_head).transpose(0, 1)
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.d_head), dim=-1)  # (B, H, T, P)
        mixed = (self.dropout(weights) @ v).transpose(1, 2).reshape(batch, tokens, self.heads * self.d_head)
        output = self.out(mixed)
        if mask is not None:
            output = output * mask.to(output.dtype).unsqueeze(-1)
        return (output, weights) if return_weights else output


def knowledge_token_embeddings(text: str, tokenizer: Any, embeddings: nn.Embedding) -> torch.Tensor:
    """The frozen input embeddings of the unique token ids of a knowledge text (ClinRaGen's "puzzle
    tokens"), in first-seen order."""
    ids = list(dict.fromkeys(tokenizer(text, add_special_tokens=False)["input_ids"]))
    if not ids:
        raise ValueError("the knowledge text has no tokens")
    with torch.no_grad():
        return embeddings.weight[torch.tensor(ids, device=embeddings.weight.device)].detach().float().cpu()
