"""One YAML file describes a whole run: data, teacher, students, evaluation.

Every field has a default, so `{}` is a valid config (the demo); a typo or a wrong type is reported
with the field's path, e.g. "student.train.learning_rate: Input should be greater than 0".
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from clinreason.student.config import Precision, TrainConfig
from clinreason.student.data import Objective
from clinreason.student.model import DEFAULT_STUDENT
from clinreason.teacher.config import TeacherConfig
from clinreason.yaml_models import load_yaml_model, validate_model

SplitName = Literal["train", "validation", "test"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSettings(_Section):
    cohort: str = Field(default="pima-diabetes", description="Bundled cohort, YAML column spec or ADNIMERGE.csv.")
    seed: int = 0
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    splits: Path | None = Field(default=None, description="A saved splits file to use instead of making one.")
    train_limit: int | None = Field(default=None, ge=1, description="Use only the first N training patients.")
    validation_limit: int | None = Field(default=None, ge=1, description="Only the first N validation patients.")
    test_limit: int | None = Field(default=None, ge=1, description="Only the first N evaluation patients.")

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(value) < 0 or value[0] <= 0 or abs(sum(value) - 1.0) > 1e-6:
            raise ValueError(f"train, validation, test fractions must be >= 0, train > 0, and sum to 1; got {value}")
        return value


class TeacherSettings(TeacherConfig):
    exemplars: Path | None = None
    zero_shot: bool = False
    bootstrap_exemplars: int = Field(
        default=1,
        ge=0,
        description="For a cohort without exemplars (none bundled, none given): this many per class, written "
        "by the teacher for training patients and kept when every claim verifies (saved as exemplars.yaml in "
        "the run folder); 0: zero-shot.",
    )
    prompt: str = "kwon-rationalize"
    diagnose_prompt: str = "diagnose"
    use_seed: bool = Field(
        default=True,
        description="Import the generations shipped with clinreason for bundled cohorts into the cache first "
        "(made by this same teacher and prompt; only identical requests are reused).",
    )
    cache: Path | None = Field(default=None, description="SQLite cache (default: ~/.cache/clinreason).")


DEFAULT_OBJECTIVES: tuple[Objective, ...] = ("rationale_then_label", "label")
# The rationale student costs several times the label student per epoch: one epoch, chosen on the
# validation loss (a diagnosis metric would need generated rationales at every evaluation), so that the
# demo stays within 30 minutes on a 2-core CPU. The benchmark trains the same students.
DEMO_PER_OBJECTIVE: dict[str, dict[str, Any]] = {
    "rationale_then_label": {"epochs": 1, "learning_rate": 5e-5, "select_on": "loss"}
}
# The diagnosis student of the demo and the benchmark: a numeric-aware label student whose linear path starts
# at the training patients' logistic regression, with the language model gated (closed at the start) and the
# starting point a candidate for the kept checkpoint (docs/student.md, "A gated language model beside the path").
GATED_LINEAR_STUDENT: dict[str, Any] = {
    "value_tokens": ["label"],
    "value_linear": True,
    "value_linear_init": "logistic",
    "value_linear_gate": True,
    "train": {"eval_on_start": True},
}


class StudentSettings(_Section):
    model: str = Field(default=DEFAULT_STUDENT, description="Packaged name, folder or hub id.")
    objectives: list[Objective] = Field(default_factory=lambda: list(DEFAULT_OBJECTIVES))
    train: TrainConfig = Field(default_factory=TrainConfig)
    value_tokens: Literal["off", "on", "both"] | list[Objective] = Field(
        default="off",
        description="Numeric-aware students: each finding's value also as a learned embedding (one token a "
        "finding). on: every objective with value tokens (student:<objective>+values); both: each objective "
        "twice, with and without, for a side-by-side comparison; a list of objectives: those twice (or only with "
        "value tokens, text_twins: false), the others text-only.",
    )
    text_twins: bool = Field(
        default=True,
        description="With value_tokens as a list of objectives: also train each of them text-only, side by side "
        "(true), or only with value tokens (false; e.g. a text rationale student beside a numeric-aware label "
        "student, as the demo trains).",
    )
    value_linear: bool = Field(
        default=False,
        description="Numeric-aware students also get a linear path from the standardised values to the "
        "diagnosis options' logits (wide and deep: a logistic regression inside the student over the values and "
        "the categorical findings one-hot); their variant is named <objective>+values+linear.",
    )
    value_linear_init: Literal["zero", "logistic"] = Field(
        default="zero",
        description="Where the linear path starts: zero (the student is the language model's at first), or "
        "logistic: the logistic regression of the diagnosis on the path's inputs in the training patients "
        "(class-balanced when the loss is), so the student begins at the classical baseline; its variant is "
        "named <objective>+values+linear-lr.",
    )
    value_linear_learning_rate: float = Field(
        default=0.1,
        gt=0,
        description="The linear path's learning rate (the language model's would leave its weights near zero; "
        "0.1 was chosen over 0.01 on OASIS-2's validation AUROC, docs/student.md).",
    )
    value_linear_gate: bool = Field(
        default=False,
        description="With value_linear: the language model's preference between the options enters through a "
        "learned weight that starts at 0, and the language model also learns the answer on its own; with "
        "value_linear_init: logistic the student then starts as exactly the logistic regression, and training "
        "opens the gate as far as the language model helps (variant <objective>+values+linear-lr-gated).",
    )
    rationales: Literal["kept", "verified"] = Field(
        default="kept",
        description="Which teacher rationales the rationale students learn from: kept (every one whose stated "
        "diagnosis is the label) or verified (only those of them with no wrong or unsupported claim by the "
        "claim checker, so the student does not learn the teacher's mistakes; fewer training patients).",
    )
    per_objective: dict[Objective, dict[str, Any]] = Field(
        default_factory=dict,
        description="Training settings for one objective on top of `train`, e.g. "
        "`{rationale_then_label: {epochs: 1}}` (rationale students cost several times more per epoch).",
    )

    def variants(self) -> list[tuple[Objective, bool]]:
        """(objective, with value tokens) for every student the run trains, in order."""
        if isinstance(self.value_tokens, list):
            numeric = set(self.value_tokens)
            listed = [False, True] if self.text_twins else [True]
            return [(o, flag) for o in self.objectives for flag in (listed if o in numeric else [False])]
        flags = {"off": [False], "on": [True], "both": [False, True]}[self.value_tokens]
        return [(objective, flag) for objective in self.objectives for flag in flags]

    def variant(self, objective: Objective, numeric: bool) -> str:
        """The student's name in the run: its folder under students/ and its row in the tables."""
        linear = ""
        if self.value_linear:
            linear = "+linear" + ("-lr" if self.value_linear_init == "logistic" else "")
            linear += "-gated" if self.value_linear_gate else ""
        return objective + ("+values" + linear if numeric else "")

    def variant_names(self) -> list[str]:
        return [self.variant(objective, numeric) for objective, numeric in self.variants()]

    def train_config(self, objective: Objective) -> TrainConfig:
        """`train` with this objective's overrides, validated as a whole."""
        merged = {**self.train.model_dump(), **self.per_objective.get(objective, {}), "objective": objective}
        return TrainConfig.model_validate(merged)

    @field_validator("per_objective")
    @classmethod
    def _valid_overrides(cls, value: dict[Objective, dict[str, Any]]) -> dict[Objective, dict[str, Any]]:
        for objective, overrides in value.items():
            TrainConfig.model_validate({**overrides, "objective": objective})  # names the bad field
        return value

    @model_validator(mode="after")
    def _gate_needs_a_path(self) -> StudentSettings:
        if self.value_linear_gate and not self.value_linear:
            raise ValueError("value_linear_gate gates the language model beside a linear path: set value_linear: true")
        if not self.text_twins and not isinstance(self.value_tokens, list):
            raise ValueError(
                "text_twins: false applies to value_tokens given as a list of objectives; with value_tokens: "
                f"{self.value_tokens!r} use 'on' (numeric-aware only) or 'both' (side by side)"
            )
        for objective, numeric in self.variants():
            if numeric and self.train_config(objective).lora is not None:
                raise ValueError(
                    f"lora is set for the {objective} student, which has value tokens: numeric-aware students "
                    "train fully (a 135M one fits a CPU); drop lora for it (per_objective) or its value tokens"
                )
        return self

    @field_validator("objectives")
    @classmethod
    def _unique(cls, value: list[Objective]) -> list[Objective]:
        if len(set(value)) != len(value) or not value:
            raise ValueError(f"objectives must be a non-empty list without repeats, got {value}")
        return value


class EvaluationSettings(_Section):
    split: SplitName = "test"
    max_new_tokens: int = Field(default=256, ge=8)
    batch_size: int = Field(default=8, ge=1)
    candidates: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Rationales a rationale student writes per patient (the greedy one and sampled ones); the "
        "one whose claims verify against the record and whose stated diagnosis it scores highest is kept.",
    )
    generation_precision: Precision = Field(
        default="fp32",
        description="Precision the rationale students write their rationales in (at evaluation and when they are "
        "validated during training): fp32, or auto (bf16 where the device computes it natively; about 1.5x faster "
        "on a 2-core CPU). The diagnosis is scored in fp32 either way. On Pima a student writing in bf16 stated a "
        "diagnosis other than the one it then scored for 15 of 80 patients (label consistency 0.81, 1.0 in fp32) "
        "and made 0.48 wrong claims per rationale (0.26 in fp32); docs/results.md.",
    )
    baselines: bool = True
    teacher_accuracy: bool = Field(default=True, description="Run the teacher without the label on the test split.")
    teacher_references: bool = Field(
        default=True, description="Rationalize the test split too, as references for ROUGE/BLEU/BERTScore."
    )
    bertscore: bool = True
    bootstrap: int = Field(default=1000, ge=0, description="Resamples for 95% confidence intervals (0: none).")
    report_patients: int = Field(default=4, ge=0)


def demo_students() -> dict[str, Any]:
    """The demo's students: the rationale student (Kwon et al.'s method, text) and the numeric-aware label
    student, for 2 epochs with a patience of 2 evaluations so that the demo stays within 30 minutes on a
    2-core CPU (it trains eagerly, about 7.7 s a step there)."""
    settings = copy.deepcopy(GATED_LINEAR_STUDENT)
    return {
        **settings,
        "text_twins": False,
        "per_objective": {**copy.deepcopy(DEMO_PER_OBJECTIVE), "label": {"epochs": 2, "patience": 2}},
    }


class RunConfig(_Section):
    name: str = "run"
    out: Path | None = Field(default=None, description="Run folder (default: runs/<name>).")
    data: DataSettings = Field(default_factory=DataSettings)
    teacher: TeacherSettings = Field(default_factory=TeacherSettings)
    student: StudentSettings = Field(default_factory=StudentSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)

    @property
    def folder(self) -> Path:
        return self.out or Path("runs") / self.name


def parse_run_config(raw: object, origin: str = "<config>") -> RunConfig:
    return validate_model(raw, RunConfig, "run config", origin)


def load_run_config(path: str | Path) -> RunConfig:
    return load_yaml_model(path, RunConfig, "run config")


def dump_run_config(config: RunConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
