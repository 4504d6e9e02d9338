"""A model card for every trained student: `MODEL_CARD.md` (Hugging Face front matter and the sections
clinicians expect) and `card.json`, written beside the checkpoint when a run is evaluated and shown by
`clinreason serve` at `GET /v1/model`.

Everything in it comes from the run's config and `metrics.json`: nothing is typed in by hand, so the
card says what was measured, on which split, and what was not.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from clinreason import __version__
from clinreason.evaluate.decision import DecisionRule
from clinreason.pipeline.config import RunConfig
from clinreason.pipeline.results import RunMetrics
from clinreason.records.schema import Cohort

__all__ = ["StudentCard", "student_card", "write_cards"]

INTENDED = (
    "Research and evaluation of explainable diagnosis models on patients like those of the training cohort; "
    "a second reader for clinicians studying how such a model reasons. Not a medical device."
)
OUT_OF_SCOPE = [
    "Clinical decisions about individual patients, alone or as the deciding input.",
    "Populations, settings or measurement protocols unlike the training cohort's (see Training data).",
    "Findings the cohort spec does not name; values outside the ranges seen in training.",
]


class MetricValue(BaseModel):
    name: str
    value: float | None
    low: float | None = None
    high: float | None = None


class StudentCard(BaseModel):
    """card.json: what `GET /v1/model` answers."""

    model_id: str
    clinreason_version: str
    base_model: str
    objective: str
    cohort: str
    cohort_title: str
    cohort_source: str
    cohort_citation: str
    cohort_licence: str
    labels: list[str]
    findings: list[str] = Field(description="Finding names a request may give (the cohort spec's).")
    train_patients: int
    evaluated_on: str = Field(description="The split and its size.")
    metrics: list[MetricValue]
    per_class_f1: dict[str, float]
    ece: float | None = Field(description="Expected calibration error of the top-class probability (10 bins).")
    decision_rule: DecisionRule | None
    teacher: str
    teacher_prompt: str
    rationale_verification: dict[str, float | int | None] = Field(default_factory=dict)
    intended_use: str = INTENDED
    out_of_scope: list[str] = Field(default_factory=lambda: list(OUT_OF_SCOPE))
    limitations: list[str] = Field(default_factory=list)


def student_card(config: RunConfig, metrics: RunMetrics, variant: str, cohort: Cohort) -> StudentCard | None:
    """The card of one student of a run (None when metrics.json has no such student)."""
    from clinreason.knowledge.facts import representative_findings

    scored = metrics.models.get(f"student:{variant}")
    if scored is None:
        return None
    d, fitted, r = scored.diagnosis, scored.fitted, scored.rationale
    values = [
        MetricValue(
            name="accuracy (argmax)",
            value=d.accuracy,
            low=scored.accuracy_ci.low if scored.accuracy_ci else None,
            high=scored.accuracy_ci.high if scored.accuracy_ci else None,
        ),
        MetricValue(
            name="macro-F1 (argmax)",
            value=d.macro_f1,
            low=scored.macro_f1_ci.low if scored.macro_f1_ci else None,
            high=scored.macro_f1_ci.high if scored.macro_f1_ci else None,
        ),
        MetricValue(name="AUROC", value=d.auroc),
    ]
    if fitted is not None:
        values += [
            MetricValue(
                name="accuracy (fitted rule)",
                value=fitted.diagnosis.accuracy,
                low=fitted.accuracy_ci.low if fitted.accuracy_ci else None,
                high=fitted.accuracy_ci.high if fitted.accuracy_ci else None,
            ),
            MetricValue(
                name="macro-F1 (fitted rule)",
                value=fitted.diagnosis.macro_f1,
                low=fitted.macro_f1_ci.low if fitted.macro_f1_ci else None,
                high=fitted.macro_f1_ci.high if fitted.macro_f1_ci else None,
            ),
        ]
    limitations = [
        f"Evaluated once on {metrics.n} {metrics.split} patients of one split (seed {config.data.seed}); "
        "the intervals are 95% bootstrap intervals over those patients, not over training runs.",
        f"Trained on {metrics.train_patients} patients of {cohort.title}; the cohort's selection, era and "
        "measurement methods bound where it applies.",
        "The verified-claim rate checks values, statuses and categories a rationale states against the "
        "record; it cannot judge whether the reasoning is sound.",
    ]
    if fitted is None or d.accuracy < (fitted.diagnosis.accuracy if fitted else 0):
        limitations.append("Its argmax answers are worse than its fitted decision rule's: use the rule.")
    return StudentCard(
        model_id=f"{config.name}/{variant}",
        clinreason_version=__version__,
        base_model=config.student.model,
        objective=variant,
        cohort=cohort.name,
        cohort_title=cohort.title,
        cohort_source=cohort.source.name,
        cohort_citation=cohort.source.citation,
        cohort_licence=cohort.source.licence,
        labels=cohort.labels,
        findings=[f.name for f in representative_findings(cohort)],
        train_patients=metrics.train_patients,
        evaluated_on=f"{metrics.split} split, {metrics.n} patients",
        metrics=values,
        per_class_f1=d.per_class_f1,
        ece=d.ece,
        decision_rule=fitted.rule if fitted else None,
        teacher=f"{config.teacher.backend}:{config.teacher.model}",
        teacher_prompt=config.teacher.prompt,
        rationale_verification={
            "verified_claim_rate": r.verified_claim_rate,
            "claims_checked": r.claims_checked,
            "wrong_or_unsupported_per_rationale": r.hallucinations_per_rationale,
            "label_consistency": r.label_consistency,
        }
        if r
        else {},
        limitations=limitations,
    )


def _fmt(value: MetricValue) -> str:
    if value.value is None:
        return "–"
    interval = f" [{value.low:.3f}, {value.high:.3f}]" if value.low is not None and value.high is not None else ""
    return f"{value.value:.3f}{interval}"


def card_markdown(card: StudentCard) -> str:
    front = {
        "base_model": card.base_model,
        "library_name": "transformers",
        "license": "other",
        "license_name": f"see the training data ({card.cohort_licence})",
        "datasets": [card.cohort],
        "tags": ["clinreason", "clinical", "rationale-distillation", card.objective],
        "model-index": [
            {
                "name": card.model_id,
                "results": [
                    {
                        "task": {"type": "text-classification", "name": "diagnosis"},
                        "dataset": {"name": card.cohort_title, "type": card.cohort, "split": card.evaluated_on},
                        "metrics": [
                            {"type": m.name, "value": round(m.value, 4)} for m in card.metrics if m.value is not None
                        ],
                    }
                ],
            }
        ],
    }
    verification = card.rationale_verification
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False).strip(),
        "---",
        "",
        f"# {card.model_id}",
        "",
        f"A {card.base_model} student distilled by clinreason {card.clinreason_version} ({card.objective}) to "
        f"answer: {' / '.join(card.labels)}. Teacher: {card.teacher}, prompt `{card.teacher_prompt}`.",
        "",
        "## Intended use",
        "",
        card.intended_use,
        "",
        "## Out-of-scope use",
        "",
        *(f"- {line}" for line in card.out_of_scope),
        "",
        "## Training data",
        "",
        f"{card.train_patients} patients of {card.cohort_title} ({card.cohort}). Source: {card.cohort_source}. "
        f"Licence: {card.cohort_licence}. Citation: {card.cohort_citation}",
        "",
        f"Findings it reads: {', '.join(card.findings)}.",
        "",
        "## Evaluation",
        "",
        f"On the {card.evaluated_on} (95% bootstrap intervals in brackets):",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {m.name} | {_fmt(m)} |" for m in card.metrics),
        f"| expected calibration error | {card.ece:.3f} |" if card.ece is not None else "| ECE | – |",
        "",
        "Per class F1: " + ", ".join(f"{label} {value:.3f}" for label, value in card.per_class_f1.items()) + ".",
        "",
        f"Decision rule: {card.decision_rule.describe()}." if card.decision_rule else "Decision rule: argmax.",
        "",
        "## How rationales are verified",
        "",
        "Every value, status (low / normal / high) and category a rationale states next to one of the "
        "patient's findings is checked against the record; numbers with a clinical unit that belong to no "
        "finding count as unsupported. "
        + (
            f"On the evaluation split: verified-claim rate {verification.get('verified_claim_rate') or 0:.3f} of "
            f"{verification.get('claims_checked')} claims, label consistency {verification.get('label_consistency')}."
            if verification
            else "This student writes no rationale (label only)."
        ),
        "",
        "## Limitations",
        "",
        *(f"- {line}" for line in card.limitations),
        "",
    ]
    return "\n".join(lines)


def write_cards(config: RunConfig, metrics: RunMetrics, cohort: Cohort, folder: Path) -> list[Path]:
    """MODEL_CARD.md and card.json of every student of the run, in `students/<variant>/`."""
    written = []
    for variant in config.student.variant_names():
        card = student_card(config, metrics, variant, cohort)
        if card is None:
            continue
        target = folder / "students" / variant
        target.mkdir(parents=True, exist_ok=True)
        (target / "card.json").write_text(card.model_dump_json(indent=2) + "\n")
        (target / "MODEL_CARD.md").write_text(card_markdown(card))
        written.append(target / "MODEL_CARD.md")
    return written
