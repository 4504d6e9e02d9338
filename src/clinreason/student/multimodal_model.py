"""A student that reads a clinical note and vital-sign / lab time series (ClinRaGen).

The prompt holds one placeholder token `<|ts|>` per time-series variable; their input embeddings are
replaced by the time-series tokens (PatchTST encoder, then knowledge-augmented attention onto
knowledge prototypes, or a plain linear projection in the "without knowledge" ablation). Training is
sequential (`set_stage`):

1. note -> diagnosis + note rationale: the language model learns; the time-series parts are unused.
2. time series -> diagnosis + time-series rationale: the language model is frozen; the encoder and
   the knowledge attention (or projection) learn to speak its embedding language.
3. both -> diagnosis + both rationales: the encoder is frozen; the language model and the knowledge
   attention (or projection) learn together.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from clinreason.errors import CheckpointError
from clinreason.student.multimodal import KnowledgeAttention, PatchTSTEncoder
from clinreason.student.soft_tokens import SoftTokenLM

TS_TOKEN = "<|ts|>"
Stage = Literal[1, 2, 3]


class MultimodalStudent(SoftTokenLM):
    def __init__(
        self,
        lm: Any,
        tokenizer: Any,
        *,
        n_variables: int = 11,
        length: int = 48,
        d_model: int = 128,
        layers: int = 2,
        heads: int = 4,
        knowledge: torch.Tensor | None = None,
        prototypes: int = 24,
    ) -> None:
        super().__init__()
        if TS_TOKEN not in tokenizer.get_vocab():
            tokenizer.add_special_tokens({"additional_special_tokens": [TS_TOKEN]})
        if lm.get_input_embeddings().num_embeddings < len(tokenizer):  # also a fresh LM beside a tokenizer in use
            lm.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        self.ts_token_id = self.placeholder_id = int(tokenizer.convert_tokens_to_ids(TS_TOKEN))
        self.lm = lm
        self.config = lm.config
        self.n_variables, self.length = n_variables, length
        self.n_placeholders = n_variables
        self.missing_inputs = f"every prompt with time-series tokens needs {n_variables} of them and a series"
        d_llm = lm.get_input_embeddings().embedding_dim
        self.encoder = PatchTSTEncoder(n_variables, length, 8, d_model, layers, heads)
        self.knowledge = KnowledgeAttention(d_model, knowledge, prototypes) if knowledge is not None else None
        self.project = nn.Linear(d_model, d_llm) if knowledge is None else None
        self.settings = {
            "n_variables": n_variables,
            "length": length,
            "d_model": d_model,
            "layers": layers,
            "heads": heads,
            "prototypes": prototypes,
            "knowledge": knowledge is not None,
        }
        self.stage: Stage | None = None

    # -- the time-series path -------------------------------------------------------------------
    def series_tokens(self, values: torch.Tensor, observed: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, length, variables) -> (batch, variables, d_llm) in the language model's embedding space."""
        tokens = self.encoder(values, observed)
        if self.knowledge is not None:
            return self.knowledge(tokens)
        assert self.project is not None
        return self.project(tokens)

    def soft_tokens(self, values: torch.Tensor, observed: torch.Tensor | None) -> torch.Tensor:
        return self.series_tokens(values, observed)

    # -- sequential training --------------------------------------------------------------------
    def set_stage(self, stage: Stage | None) -> None:
        """Freeze what the stage keeps fixed (None: everything trainable)."""
        trainable = {
            None: {"lm": True, "encoder": True, "bridge": True},
            1: {"lm": True, "encoder": False, "bridge": False},
            2: {"lm": False, "encoder": True, "bridge": True},
            3: {"lm": True, "encoder": False, "bridge": True},
        }[stage]
        bridge = self.knowledge if self.knowledge is not None else self.project
        assert bridge is not None  # __init__ sets exactly one of the two
        for part, flag in (("lm", self.lm), ("encoder", self.encoder), ("bridge", bridge)):
            for parameter in flag.parameters():
                parameter.requires_grad = trainable[part]
        self.stage = stage

    # -- checkpoints ----------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path, **kwargs: Any) -> None:
        folder = Path(folder)
        self.lm.save_pretrained(folder / "lm", **kwargs)
        parts = {"encoder": self.encoder.state_dict()}
        if self.knowledge is not None:
            parts["knowledge"] = self.knowledge.state_dict()
        if self.project is not None:
            parts["project"] = self.project.state_dict()
        torch.save(parts, folder / "multimodal.pt")
        (folder / "multimodal.json").write_text(json.dumps(self.settings, indent=2))

    @classmethod
    def from_pretrained(cls, folder: str | Path, tokenizer: Any) -> MultimodalStudent:
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

        folder = Path(folder)
        if not (folder / "multimodal.json").is_file():
            raise CheckpointError(f"{folder}: not a multimodal student checkpoint (no multimodal.json)")
        try:
            settings = json.loads((folder / "multimodal.json").read_text())
            config = AutoConfig.from_pretrained(folder / "lm")
            loader = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
            lm = loader.from_pretrained(folder / "lm")
            parts = torch.load(folder / "multimodal.pt", map_location="cpu", weights_only=True)
            knowledge = parts["knowledge"]["knowledge"] if settings["knowledge"] else None
            model = cls(lm, tokenizer, knowledge=knowledge, **{k: v for k, v in settings.items() if k != "knowledge"})
            model.encoder.load_state_dict(parts["encoder"])
            if model.knowledge is not None:
                model.knowledge.load_state_dict(parts["knowledge"])
            if model.project is not None:
                model.project.load_state_dict(parts["project"])
        except Exception as exc:  # truncated files, missing keys, changed shapes: whatever torch raises
            raise CheckpointError(f"{folder}: corrupt multimodal checkpoint ({exc}); delete it to train again") from exc
        return model
