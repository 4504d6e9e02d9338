"""The numeric-aware student: a language model whose `<|num|>` placeholders become value embeddings.

Each value token is `scale * MLP(sin, cos of 2 pi c_k z) + e_feature` for the finding's standardised
value z, learned frequencies c_k per finding and a learned embedding of the finding itself; a missing
value gets a learned per-finding vector instead. `scale` starts at the language model's own
embedding spread, so the new tokens enter at the magnitude the model is used to.

With `plan.option_tokens`, a linear path from the standardised values (and which are present) adds to
the logits of the option letters (wide and deep, Cheng et al. 2016): a logistic regression inside the
student over what the classical baseline reads (the values, which are present, and the categorical
findings one-hot), zero at the start or warm-started from that logistic regression (`fit_linear_path`),
trained with its own learning rate (`linear_learning_rate`) because at the language model's 2e-4 its
weights would hardly move in a few hundred steps. A 135M model fine-tuned on
a few hundred patients ranks them worse than logistic regression does; the linear path is meant to
give the diagnosis that floor (docs/results.md measures how far it does).

With `plan.lm_gate`, the language model's preference between the options (its option logits minus their
mean) enters through a learned weight that starts at 0, so a warm-started student begins as exactly the
logistic regression, not that regression plus an untrained model's arbitrary letter preferences; the
language model also learns the answer on its own (`out.lm_logits`, an auxiliary loss in training), so it
has something to offer once the weight opens.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from clinreason.errors import CheckpointError
from clinreason.records.schema import PatientRecord
from clinreason.student.numeric import NUM_TOKEN, NumericPlan
from clinreason.student.soft_tokens import SoftTokenLM

__all__ = ["NumericStudent"]

FREQUENCIES = 16
HIDDEN = 64


class NumericStudent(SoftTokenLM):
    def __init__(
        self, lm: Any, tokenizer: Any, plan: NumericPlan, *, seed: int = 0, linear_learning_rate: float = 0.1
    ) -> None:
        super().__init__()
        if NUM_TOKEN not in tokenizer.get_vocab():
            tokenizer.add_special_tokens({"additional_special_tokens": [NUM_TOKEN]})
            lm.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        self.placeholder_id = int(tokenizer.convert_tokens_to_ids(NUM_TOKEN))
        self.lm = lm
        self.config = lm.config
        self.plan = plan
        self.n_placeholders = len(plan.features)
        self.missing_inputs = f"every prompt with value tokens needs {self.n_placeholders} of them and their values"
        n, d_llm = len(plan.features), lm.get_input_embeddings().embedding_dim
        generator = torch.Generator().manual_seed(seed)
        self.frequencies = nn.Parameter(torch.randn(n, FREQUENCIES, generator=generator))
        self.mlp = nn.Sequential(nn.Linear(2 * FREQUENCIES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, d_llm))
        spread = float(lm.get_input_embeddings().weight.detach().float().std())
        self.scale = nn.Parameter(torch.tensor(spread))
        self.feature = nn.Parameter(torch.randn(n, d_llm, generator=generator) * spread)
        self.missing = nn.Parameter(torch.randn(n, d_llm, generator=generator) * spread)
        self.linear: nn.Linear | None = None
        self.linear_learning_rate = linear_learning_rate
        self.n_indicators = sum(len(levels) for levels in plan.levels)
        self.lm_gate: nn.Parameter | None = None
        if plan.option_tokens:
            self.linear = nn.Linear(2 * n + self.n_indicators, len(plan.option_tokens))
            nn.init.zeros_(self.linear.weight)
            nn.init.zeros_(self.linear.bias)
            self.register_buffer("option_ids", torch.tensor(plan.option_tokens), persistent=False)
            if plan.lm_gate:
                self.lm_gate = nn.Parameter(torch.zeros(()))

    def parameter_groups(self, learning_rate: float, weight_decay: float) -> list[dict[str, Any]]:
        """The optimizer's groups: the linear path (and the gate) at its own rate, the rest at the run's.
        The gate has no weight decay: decay would pull it towards the closed gate for no reason."""
        linear = list(self.linear.parameters()) if self.linear is not None else []
        gate = [self.lm_gate] if self.lm_gate is not None else []
        ids = {id(p) for p in linear + gate}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in ids]
        groups: list[dict[str, Any]] = [{"params": rest, "lr": learning_rate, "weight_decay": weight_decay}]
        if linear:
            groups.append({"params": linear, "lr": self.linear_learning_rate, "weight_decay": weight_decay})
        if gate:
            groups.append({"params": gate, "lr": self.linear_learning_rate, "weight_decay": 0.0})
        return groups

    def adjust_output(self, out: Any, values: torch.Tensor | None, observed: torch.Tensor | None) -> Any:
        """The linear path's term added to the option letters' logits; with a gate, the language model's
        preference between them (its option logits minus their mean) scaled by the gate's weight."""
        if self.linear is None or values is None or getattr(out, "logits", None) is None:
            return out
        term = self.linear(self.linear_inputs(values, observed).to(self.linear.weight.dtype))  # (batch, options)
        logits = out.logits
        source = term[:, None, :].expand(-1, logits.shape[1], -1).to(logits.dtype)
        if self.lm_gate is not None:
            chosen = logits[..., self.option_ids]
            preference = chosen - chosen.mean(dim=-1, keepdim=True)
            source = source + (self.lm_gate.to(logits.dtype) - 1) * preference
            if self.training:  # the language model's own answer, for its auxiliary loss (train.batch_loss)
                out.lm_logits = logits
        out.logits = logits.index_add(-1, self.option_ids, source)
        return out

    def linear_inputs(self, values: torch.Tensor, observed: torch.Tensor | None) -> torch.Tensor:
        """What the linear path reads: the standardised values, which are present, the categorical one-hots."""
        flat, mask = _flat(values, observed)
        n = self.n_placeholders
        return torch.cat([flat[:, :n], mask[:, :n], flat[:, n:]], dim=-1)

    @torch.no_grad()
    def fit_linear_path(self, records: Sequence[PatientRecord], labels: Sequence[str], *, balanced: bool) -> None:
        """Start the linear path at the logistic regression of the diagnosis on its inputs in `records` (the
        training patients; `labels` in option order), instead of at zero: the student then begins where the
        classical baseline ends and the language model learns what the values leave unexplained."""
        from sklearn.linear_model import LogisticRegression

        if self.linear is None:
            raise ValueError("this student has no linear path (plan.option_tokens is empty)")
        rows = [self.plan.values(record) for record in records]
        inputs = self.linear_inputs(torch.tensor([v for v, _ in rows]), torch.tensor([o for _, o in rows]))
        index = {label: i for i, label in enumerate(labels)}
        y = [index[record.labels[0]] for record in records]
        if len(set(y)) < 2:
            raise ValueError("the linear path's logistic regression needs training patients of two classes")
        model = LogisticRegression(max_iter=2000, class_weight="balanced" if balanced else None)
        model.fit(inputs.numpy(), y)
        weight = torch.zeros_like(self.linear.weight)
        bias = torch.zeros_like(self.linear.bias)
        coef = torch.as_tensor(model.coef_, dtype=weight.dtype)
        intercept = torch.as_tensor(model.intercept_, dtype=bias.dtype)
        classes = [int(c) for c in model.classes_]
        if len(classes) == 2:  # one decision function: split it between the two options' logits
            weight[classes[1]], weight[classes[0]] = coef[0] / 2, -coef[0] / 2
            bias[classes[1]], bias[classes[0]] = intercept[0] / 2, -intercept[0] / 2
        else:
            for row, c in enumerate(classes):
                weight[c], bias[c] = coef[row], intercept[row]
        self.linear.weight.copy_(weight)
        self.linear.bias.copy_(bias)

    def value_tokens(self, values: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """(batch, features) standardised values and a 0/1 mask -> (batch, features, d_llm)."""
        angles = 2 * math.pi * self.frequencies.float()[None] * values.float()[..., None]
        features = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1).to(self.mlp[0].weight.dtype)  # type: ignore[arg-type]
        encoded = self.mlp(features) * self.scale
        present = observed[..., None].to(encoded.dtype)
        return present * encoded + (1 - present) * self.missing[None] + self.feature[None]

    def soft_tokens(self, values: torch.Tensor, observed: torch.Tensor | None) -> torch.Tensor:
        flat, mask = _flat(values, observed)
        n = self.n_placeholders  # the categorical one-hots after them feed the linear path only
        return self.value_tokens(flat[:, :n], mask[:, :n])

    # -- checkpoints ----------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path, **kwargs: Any) -> None:
        folder = Path(folder)
        self.lm.save_pretrained(folder / "lm", **kwargs)
        parts = {k: v for k, v in self.state_dict().items() if not k.startswith("lm.")}
        torch.save(parts, folder / "numeric.pt")
        (folder / "numeric.json").write_text(self.plan.model_dump_json(indent=2))

    @classmethod
    def from_pretrained(cls, folder: str | Path, tokenizer: Any) -> NumericStudent:
        from transformers import AutoModelForCausalLM

        folder = Path(folder)
        if not (folder / "numeric.json").is_file():
            raise CheckpointError(f"{folder}: not a numeric-aware student checkpoint (no numeric.json)")
        try:
            plan = NumericPlan.model_validate(json.loads((folder / "numeric.json").read_text()))
            lm = AutoModelForCausalLM.from_pretrained(folder / "lm", dtype=torch.float32)
            model = cls(lm, tokenizer, plan)
            parts = torch.load(folder / "numeric.pt", map_location="cpu", weights_only=True)
            missing = model.load_state_dict(parts, strict=False)
            if missing.unexpected_keys or any(not k.startswith("lm.") for k in missing.missing_keys):
                raise ValueError(f"unexpected parts {missing.unexpected_keys} / missing {missing.missing_keys}")
        except Exception as exc:  # truncated files, missing keys, changed shapes: whatever torch raises
            raise CheckpointError(f"{folder}: corrupt numeric-aware checkpoint ({exc}); train again") from exc
        return model


def _flat(values: torch.Tensor, observed: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, features) float values and 0/1 mask: the collator stacks them as a one-step series."""
    flat = values.reshape(values.shape[0], -1).float()
    return flat, torch.ones_like(flat) if observed is None else observed.reshape(flat.shape).float()
