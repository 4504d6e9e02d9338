"""How a student is trained: one validated object, saved with every checkpoint (`student.json`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from clinreason.student.data import Objective

__all__ = ["LoraSettings", "Precision", "TrainConfig"]

Precision = Literal["auto", "fp32", "bf16"]


class LoraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = Field(default=16, ge=1)
    alpha: int = 32
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    objective: Objective = "rationale_then_label"
    alpha: float = Field(default=0.5, ge=0, le=1, description="multitask: weight of the label loss.")
    epochs: int = Field(default=3, ge=1)
    max_steps: int | None = Field(default=None, ge=1, description="Stop after this many optimizer steps.")
    learning_rate: float = Field(default=2e-4, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_ratio: float = Field(default=0.05, ge=0, lt=1)
    batch_size: int = Field(default=8, ge=1)
    gradient_accumulation: int = Field(default=1, ge=1)
    max_length: int = Field(default=768, ge=16)
    eval_every: int | None = Field(
        default=None, ge=1, description="Steps between evaluations (default: `evals_per_epoch` a epoch)."
    )
    evals_per_epoch: int = Field(default=2, ge=1, description="Evaluations a epoch when `eval_every` is not set.")
    select_on: Literal["auroc", "macro_f1", "loss"] = Field(
        default="auroc",
        description="Validation metric that picks the best checkpoint and drives early stopping: the diagnosis "
        "AUROC (macro one-vs-rest for several classes; threshold-free, the decision rule is fitted afterwards), "
        "argmax macro-F1, or the loss. Diagnosis metrics need a validator (the pipeline passes one); without "
        "one, or where the metric is undefined, the loss decides.",
    )
    selection_patients: int | None = Field(
        default=24,
        ge=2,
        description="Validation patients scored at each evaluation for objectives that write a rationale first "
        "(each needs a generated rationale); label students score all. None: all.",
    )
    class_weighting: Literal["balanced", "none"] = Field(
        default="balanced",
        description="balanced: each example's loss weighted by n / (classes x n_class), so a minority class is "
        "not drowned by the majority; none: every example alike.",
    )
    claim_weight: float = Field(
        default=1.0,
        ge=1.0,
        le=20.0,
        description="Loss weight of the rationale's claim tokens (its numbers and the words grading them, "
        "clinreason.student.data.CLAIM_PATTERN) against 1 for the other tokens; 1: plain token average. The "
        "validation loss stays unweighted.",
    )
    eval_on_start: bool = Field(
        default=False,
        description="Evaluate the model before its first step too, as a candidate for the best checkpoint: a "
        "warm-started student (`value_linear_init: logistic`) is then kept when training only makes it worse "
        "on validation. Costs one evaluation.",
    )
    min_delta: float = Field(
        default=0.0,
        ge=0.0,
        description="Smallest gain in the selection metric that counts as an improvement (an AUROC or macro-F1 "
        "up by more, a loss down by more). Validation splits of 20-80 patients move AUROC by 0.005 from "
        "noise; with a warm-started student and `eval_on_start`, a margin keeps the logistic-regression "
        "start unless training beats it clearly. 0: any gain.",
    )
    eval_batch_size: int = Field(default=16, ge=1)
    patience: int = Field(default=3, ge=1, description="Evaluations without improvement before stopping.")
    seed: int = 0
    precision: Precision = Field(default="auto", description="auto: bf16 autocast where the hardware supports it.")
    lora: LoraSettings | None = None
    chunked_loss: bool = Field(
        default=True, description="Causal models: the loss without full-vocabulary logits in memory (same loss)."
    )
    gradient_checkpointing: bool = Field(
        default=True,
        description="Recompute activations in the backward pass: half the memory, and on a memory-bound CPU no "
        "slower (measured faster, bench/student_training.py).",
    )
    compile: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="torch.compile the training steps; auto: when at least 150k tokens remain to train, in one "
        "process, for plain language models (not soft-token students); compiling takes about a minute on a "
        "2-core CPU; falls back to eager if compiling fails.",
    )
    group_by_length: bool = Field(
        default=True, description="Batch examples of similar length together (less padding, same loss)."
    )
