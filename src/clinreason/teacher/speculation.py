"""Speculative decoding for the embedded teacher: cheap drafts of the next tokens, verified by the
teacher in one batched step, so greedy answers come out the same, faster.

Rationales restate the record's values and the fact sheet, so most of their tokens can be copied from
the prompt: a draft that looks up the last few tokens in the text so far and proposes what followed
them (`ngram`) needs no second model. `draft` uses a smaller model with the same tokenizer (the 0.5B
Qwen2.5-Coder for the 1.5B). The settings are not part of the cache key: they change how fast the
answer comes, not which tokens the teacher picks (see docs/teacher.md for what was measured).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Speculation", "configure_speculation"]


class Speculation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["none", "ngram", "ngram_map", "draft"] = Field(
        default="ngram",
        description="none; ngram: copy what followed the last `ngram` tokens earlier in the text (llama.cpp "
        "ngram_simple); ngram_map: the same from a map of all n-grams (ngram_map_k); draft: a draft model.",
    )
    draft_tokens: int = Field(default=6, ge=1, le=64, description="Tokens proposed per step.")
    ngram: int = Field(default=3, ge=1, le=16, description="ngram kinds: tokens matched to find a draft.")
    draft_model: str | None = Field(
        default=None, description="draft: a packaged GGUF name or a .gguf path sharing the teacher's tokenizer."
    )

    def label(self) -> str:
        if self.kind == "none":
            return "no speculation"
        if self.kind == "draft":
            return f"draft model {self.draft_model}, {self.draft_tokens} tokens"
        return f"{self.kind} {self.draft_tokens} tokens on {self.ngram}-grams"


def configure_speculation(xlc: Any, params: Any, spec: Speculation, threads: int, draft: Path | None = None) -> None:
    """Set xllamacpp `CommonParams` for `spec` (`draft`: the resolved draft model file for kind 'draft');
    used by the embedded teacher and by students served on llama.cpp."""
    kinds = xlc.common_speculative_type
    if spec.kind == "none":
        return
    if spec.kind in ("ngram", "ngram_map"):
        simple = spec.kind == "ngram"
        params.speculative.types = [
            kinds.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE if simple else kinds.COMMON_SPECULATIVE_TYPE_NGRAM_MAP_K
        ]
        settings = params.speculative.ngram_simple if simple else params.speculative.ngram_map_k
        settings.size_m, settings.size_n = spec.draft_tokens, spec.ngram
        return
    if draft is None:
        raise ValueError("speculation kind 'draft' needs the draft model's file")
    params.speculative.types = [kinds.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
    settings = params.speculative.draft
    settings.mparams.path = str(draft)
    settings.n_max = spec.draft_tokens
    settings.cpuparams.n_threads = threads
    settings.cpuparams_batch.n_threads = threads
