"""Exemplars for a cohort that has none: Kwon et al.'s demonstration-candidate step.

The teacher rationalizes a few training patients of each class without exemplars; the answers that
pass the format and label checks and whose claims all verify against the record (at least one claim
checked, none wrong) become the exemplars, the most verified first. They are written to a YAML file
in the run folder, in the format of `--exemplars`, for the user to read or edit: an existing file is
used as it is, so an edited file wins and deleting it makes new ones. The file holds training
patients' values, so it is owner-only.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from pathlib import Path

import yaml

from clinreason.evaluate.claims import check_claims, cohort_categories
from clinreason.knowledge import fact_sheet
from clinreason.records.schema import Cohort, PatientRecord
from clinreason.teacher.backend import TeacherBackend
from clinreason.teacher.cache import TeacherCache
from clinreason.teacher.config import TeacherConfig
from clinreason.teacher.exemplars import Exemplar, ExemplarFile, ExemplarSpec, load_exemplars
from clinreason.teacher.prompts import PromptTemplate
from clinreason.teacher.runner import run_teacher

__all__ = ["bootstrap_exemplars"]

log = logging.getLogger(__name__)


def _candidates(records: Sequence[PatientRecord], labels: list[str], tries: int, seed: int) -> list[PatientRecord]:
    rng = random.Random(seed)
    chosen: list[PatientRecord] = []
    for label in labels:
        pool = [r for r in records if r.labels and r.labels[0] == label]
        rng.shuffle(pool)
        chosen += pool[:tries]
    return chosen


def bootstrap_exemplars(
    cohort: Cohort,
    records: Sequence[PatientRecord],
    backend: TeacherBackend,
    cache: TeacherCache,
    template: PromptTemplate,
    out: str | Path,
    *,
    config: TeacherConfig | None = None,
    per_class: int = 1,
    tries_per_class: int = 4,
    seed: int = 0,
) -> list[Exemplar]:
    """`per_class` exemplars per label from up to `tries_per_class` training patients each; fewer (or
    none: zero-shot) where the teacher wrote no verified rationale. `out` is read instead when present."""
    out = Path(out)
    if out.is_file():
        return load_exemplars(cohort, out)
    candidates = _candidates(records, cohort.labels, tries_per_class, seed)
    run = run_teacher(cohort, candidates, backend, cache, template, exemplars=(), config=config)
    by_id = {r.id: r for r in candidates}
    categories, sheet = cohort_categories(cohort), fact_sheet(cohort)
    ranked: dict[str, list[tuple[int, PatientRecord, str]]] = {label: [] for label in cohort.labels}
    for result in run.results:
        if result.status != "kept" or not result.rationale:
            continue
        record = by_id[result.record_id]
        report = check_claims(result.rationale, record, categories=categories, reference_text=sheet)
        if report.checked and not report.count("wrong") and not report.count("unsupported"):
            ranked[record.labels[0]].append((report.count("supported"), record, result.rationale))
    specs: list[ExemplarSpec] = []
    for label, items in ranked.items():
        items.sort(key=lambda item: (-item[0], item[1].id))
        if not items:
            log.warning(
                "no verified teacher rationale for class '%s' among %d training patients", label, tries_per_class
            )
        for _, record, rationale in items[:per_class]:
            specs.append(
                ExemplarSpec(
                    id=record.id,
                    label=label,
                    age=record.age,
                    sex=record.sex,
                    values={
                        key: finding.value for key, finding in record.findings.items() if finding.value is not None
                    },
                    rationale=rationale,
                )
            )
    document = ExemplarFile(
        cohort=cohort.name,
        note=(
            f"Bootstrapped by {backend.kind}:{backend.model_id} from {len(candidates)} training patients "
            f"({run.summary.kept} kept, {len(specs)} with every claim verified); real training patients. Read "
            "and edit them; delete this file to make new ones."
        ),
        exemplars=specs,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.touch(mode=0o600)
    out.chmod(0o600)
    out.write_text(yaml.safe_dump(document.model_dump(mode="json"), sort_keys=False, allow_unicode=True))
    return load_exemplars(cohort, out)
