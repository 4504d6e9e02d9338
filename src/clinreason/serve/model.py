"""The model a server holds: a trained student, the cohort spec it was trained on, its decision rule.

`load_run_student` takes a run folder (the first student of its config, or `variant`), or a student's
checkpoint folder inside one (`runs/X/students/<variant>/best`); the run's config names the cohort
spec (units, normal ranges and labels: the text a request becomes is exactly what the student saw in
training) and its `metrics.json` holds the decision rule fitted on the validation split.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from clinreason import __version__
from clinreason.errors import CheckpointError, ConfigError
from clinreason.evaluate.claims import cohort_categories
from clinreason.evaluate.decision import DecisionRule
from clinreason.knowledge import fact_sheet
from clinreason.knowledge.facts import representative_findings
from clinreason.pipeline.card import StudentCard
from clinreason.records.plausibility import DEFAULT_AGE_LIMITS, Limits
from clinreason.records.schema import Cohort, Finding

__all__ = ["Engine", "ModelCard", "ServedModel", "load_run_student"]

log = logging.getLogger(__name__)


class ModelCard(BaseModel):
    """What `GET /v1/model` answers: which model this is and how it was measured."""

    model_id: str
    clinreason_version: str
    base_model: str
    objective: str
    cohort: str
    cohort_source: str
    cohort_licence: str
    labels: list[str]
    findings: list[str] = Field(description="Finding names a flat-form request may give.")
    decision_rule: DecisionRule | None = Field(description="Fitted on the validation split (None: argmax).")
    metrics: dict[str, float | None] = Field(
        default_factory=dict, description="On the run's test split: accuracy, macro-F1, AUROC (argmax and fitted)."
    )
    intended_use: str = (
        "Research and evaluation of explainable diagnosis models on data like the training cohort. Not a "
        "medical device; not for clinical decisions."
    )


@dataclass
class ServedModel:
    student: Any  # clinreason.student.model.Student
    objective: str
    variant: str
    cohort: Cohort
    rule: DecisionRule | None
    card: StudentCard | ModelCard  # the run's card.json (MODEL_CARD.md beside it), else a minimal one
    templates: dict[str, Finding] = field(default_factory=dict)  # finding name -> unit, range, label
    categories: dict[str, set[str]] = field(default_factory=dict)
    sheet: str = ""

    @property
    def codes(self) -> dict[str, str]:
        """LOINC code -> finding name, from the cohort spec's `loinc:` fields."""
        return dict(self.cohort.metadata.get("loinc", {}))

    @property
    def limits(self) -> dict[str, Limits]:
        """Finding name -> hard limits, from the cohort spec's `valid:` fields and their defaults."""
        raw = self.cohort.metadata.get("limits", {})
        return {key: Limits(low=low, high=high) for key, (low, high) in raw.items()}

    @property
    def age_limits(self) -> Limits:
        low, high = self.cohort.metadata.get("age_limits", (DEFAULT_AGE_LIMITS.low, DEFAULT_AGE_LIMITS.high))
        return Limits(low=low, high=high)


def _run_folder(path: Path) -> tuple[Path, str | None]:
    """(run folder, student variant named by the path or None)."""
    if (path / "config.yaml").is_file():
        return path, None
    if (path / "student.json").is_file() and len(path.parents) >= 3 and path.parents[1].name == "students":
        return path.parents[2], path.parent.name
    raise ConfigError(
        f"{path}: not a run folder (no config.yaml) nor a student checkpoint inside one (…/students/<variant>/best)"
    )


Engine = Literal["torch", "llamacpp"]


def load_run_student(path: str | Path, variant: str | None = None, precision: str = "fp32") -> ServedModel:
    """The student of a run (`variant` e.g. 'label' or 'rationale_then_label'; default: the path's or the
    run's first), ready to answer."""
    from clinreason.pipeline.config import RunConfig
    from clinreason.pipeline.results import RunMetrics
    from clinreason.records import load_cohort
    from clinreason.run_folder import read_folder_config
    from clinreason.student.checkpoint import load_checkpoint

    folder, named = _run_folder(Path(path))
    config = read_folder_config(folder, RunConfig)
    variants = config.student.variant_names()
    chosen = variant or named or variants[0]
    if chosen not in variants:
        raise ConfigError(f"{folder} has no student '{chosen}'; it trained {', '.join(variants)}")
    checkpoint = folder / "students" / chosen / "best"
    if not (checkpoint / "student.json").is_file():
        raise CheckpointError(f"{checkpoint}: no trained student here yet (run `clinreason run` to the end first)")
    cohort = load_cohort(config.data.cohort)
    student, meta = load_checkpoint(checkpoint)
    rule, metrics = None, {}
    metrics_path = folder / "metrics.json"
    if metrics_path.is_file():
        run = RunMetrics.model_validate_json(metrics_path.read_text())
        scored = run.models.get(f"student:{chosen}")
        if scored is not None:
            rule = scored.fitted.rule if scored.fitted else None
            metrics = {
                "accuracy": scored.diagnosis.accuracy,
                "macro_f1": scored.diagnosis.macro_f1,
                "auroc": scored.diagnosis.auroc,
                "fitted_accuracy": scored.fitted.diagnosis.accuracy if scored.fitted else None,
                "fitted_macro_f1": scored.fitted.diagnosis.macro_f1 if scored.fitted else None,
            }
    else:
        log.warning("%s has no metrics.json: answers use argmax (no fitted decision rule)", folder)
    templates = {f.name: f.model_copy(update={"value": None}) for f in representative_findings(cohort)}
    card = ModelCard(
        model_id=f"{config.name}/{chosen}",
        clinreason_version=__version__,
        base_model=config.student.model,
        objective=meta.objective,
        cohort=cohort.name,
        cohort_source=cohort.source.name,
        cohort_licence=cohort.source.licence,
        labels=cohort.labels,
        findings=list(templates),
        decision_rule=rule,
        metrics=metrics,
    )
    card_path = checkpoint.parent / "card.json"
    served_card: StudentCard | ModelCard = (
        StudentCard.model_validate_json(card_path.read_text()) if card_path.is_file() else card
    )
    return ServedModel(
        student=student,
        objective=meta.objective,
        variant=chosen,
        cohort=cohort,
        rule=rule,
        card=served_card,
        templates=templates,
        categories=cohort_categories(cohort),
        sheet=fact_sheet(cohort),
    )
