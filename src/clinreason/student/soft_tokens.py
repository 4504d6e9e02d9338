"""A language model whose placeholder tokens are replaced by embeddings computed from other inputs.

The multimodal student (time-series tokens) and the numeric-aware student (value tokens) differ only
in how they compute the embeddings (`embed`); running the language model on them, generating, and
delegating to the wrapped model is shared here.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["SoftTokenLM"]


class SoftTokenLM(nn.Module):
    """Subclasses set `placeholder_id`, `n_placeholders` and `missing_inputs` (the error when a prompt's
    placeholders and its inputs do not match) and compute the embeddings in `soft_tokens`."""

    lm: Any
    config: Any
    placeholder_id: int
    n_placeholders: int
    missing_inputs: str

    def soft_tokens(self, values: torch.Tensor, observed: torch.Tensor | None) -> torch.Tensor:
        """(rows, ...) inputs of the prompts that have placeholders -> (rows, n_placeholders, d_llm)."""
        raise NotImplementedError

    def embed(
        self, input_ids: torch.Tensor, values: torch.Tensor | None = None, observed: torch.Tensor | None = None
    ) -> torch.Tensor:
        embeddings = self.lm.get_input_embeddings()(input_ids)
        where = input_ids == self.placeholder_id
        rows = where.any(dim=1)
        if not rows.any():
            return embeddings
        if values is None or bool((where.sum(dim=1)[rows] != self.n_placeholders).any()):
            raise ValueError(self.missing_inputs)
        tokens = self.soft_tokens(values[rows], None if observed is None else observed[rows])
        embeddings = embeddings.clone()
        embeddings[where] = tokens.reshape(-1, tokens.shape[-1]).to(embeddings.dtype)
        return embeddings

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        values: torch.Tensor | None = None,
        observed: torch.Tensor | None = None,
        logits_to_keep: int = 0,
        **kwargs: Any,
    ) -> Any:
        inputs_embeds = self.embed(input_ids, values, observed)
        if getattr(self.config, "is_encoder_decoder", False):
            out = self.lm(inputs_embeds=inputs_embeds, attention_mask=attention_mask, **kwargs)
        else:
            out = self.lm(
                inputs_embeds=inputs_embeds, attention_mask=attention_mask, logits_to_keep=logits_to_keep, **kwargs
            )
        return self.adjust_output(out, values, observed)

    def adjust_output(self, out: Any, values: torch.Tensor | None, observed: torch.Tensor | None) -> Any:
        """The language model's output, changed by what the inputs say beyond the soft tokens (none here)."""
        return out

    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        values: torch.Tensor | None = None,
        observed: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        """New tokens only (generation from embeddings returns no prompt)."""
        inputs_embeds = self.embed(input_ids, values, observed)
        return self.lm.generate(inputs_embeds=inputs_embeds, attention_mask=attention_mask, **kwargs)

    @property
    def dtype(self) -> torch.dtype:
        return self.lm.dtype

    def get_input_embeddings(self) -> nn.Module:
        return self.lm.get_input_embeddings()

    def get_output_embeddings(self) -> nn.Module:
        return self.lm.get_output_embeddings()

    def gradient_checkpointing_enable(self, **kwargs: Any) -> None:
        switch = getattr(self.lm, "activation_checkpointing_enable", None)
        if switch is not None:  # transformers 5
            switch(activation_checkpointing_kwargs=kwargs.get("gradient_checkpointing_kwargs"))
        else:
            self.lm.gradient_checkpointing_enable(**kwargs)
