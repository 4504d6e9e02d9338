"""Human review of rationales: what a rater sees next, where every rating is kept, and what they add up to.

A review set is the run's evaluation-split patients that have rationales from two or more models
(the same rationales the LLM judge scores). A rater sees one patient at a time: the record's text,
then its rationales in an order fixed per rater and patient by a seeded shuffle, labelled A, B, ...
without the models' names. Every rating is written to SQLite (owner-only, WAL) the moment it is sent,
so a closed tab or a killed server loses nothing, and a rater resumes at the first patient they have
not finished.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pydantic import BaseModel, Field

from clinreason.errors import ClinreasonError
from clinreason.judge.agreement import agreement
from clinreason.judge.llm import JudgeItem
from clinreason.judge.rubric import Rubric

__all__ = ["ReviewPatient", "ReviewStore", "ReviewSummary", "review_patients", "summarise_reviews"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS ratings (
    rater TEXT NOT NULL,
    record_id TEXT NOT NULL,
    model TEXT NOT NULL,
    slot TEXT NOT NULL,
    scores TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    PRIMARY KEY (rater, record_id, model)
)
"""


@dataclass(frozen=True)
class ReviewPatient:
    record_id: str
    patient: str
    items: tuple[JudgeItem, ...]  # one per model, in a fixed (model-name) order


def review_patients(items: Sequence[JudgeItem]) -> list[ReviewPatient]:
    """Patients with rationales from at least two models, in the order their first rationale appears."""
    grouped: dict[str, list[JudgeItem]] = {}
    for item in items:
        grouped.setdefault(item.record_id, []).append(item)
    patients = []
    for record_id, own in grouped.items():
        models = {i.model: i for i in own}
        if len(models) >= 2:
            ordered = tuple(models[m] for m in sorted(models))
            patients.append(ReviewPatient(record_id, ordered[0].patient, ordered))
    return patients


def shown_order(rater: str, patient: ReviewPatient, seed: int = 0) -> list[JudgeItem]:
    """The patient's rationales in the order this rater sees them (stable across restarts)."""
    digest = hashlib.sha256(f"{seed}|{rater}|{patient.record_id}".encode()).hexdigest()
    order = list(patient.items)
    random.Random(int(digest[:16], 16)).shuffle(order)
    return order


SLOTS = "ABCDEFGHIJ"


class ReviewError(ClinreasonError):
    """A rating that cannot be stored (unknown patient or slot, a score outside 1-5, a missing criterion)."""


class ReviewStore:
    """The ratings database of one run (`RUN/review.sqlite`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))  # raters' notes sit beside patient ids
        if self.path.stat().st_mode & 0o077:
            self.path.chmod(0o600)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ClinreasonError(
                f"{self.path}: not a readable review database ({exc}); move it away to start a new one"
            ) from exc

    def save(self, rater: str, record_id: str, model: str, slot: str, scores: dict[str, int], comment: str) -> None:
        row = (rater, record_id, model, slot, json.dumps(scores, sort_keys=True), comment, time.time())
        with self._lock:  # autocommit: on disk when this returns
            self._db.execute("INSERT OR REPLACE INTO ratings VALUES (?,?,?,?,?,?,?)", row)

    def rated(self, rater: str) -> dict[str, set[str]]:
        """record id -> models this rater has rated."""
        with self._lock:
            rows = self._db.execute("SELECT record_id, model FROM ratings WHERE rater = ?", (rater,)).fetchall()
        out: dict[str, set[str]] = {}
        for record_id, model in rows:
            out.setdefault(record_id, set()).add(model)
        return out

    def rows(self) -> list[dict[str, object]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT rater, record_id, model, slot, scores, comment, created FROM ratings "
                "ORDER BY rater, record_id, slot"
            ).fetchall()
        keys = ("rater", "record_id", "model", "slot", "scores", "comment", "created")
        return [{**dict(zip(keys, row, strict=True)), "scores": json.loads(row[4])} for row in rows]

    def raters(self) -> list[str]:
        with self._lock:
            return [r for (r,) in self._db.execute("SELECT DISTINCT rater FROM ratings ORDER BY rater")]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def next_patient(store: ReviewStore, rater: str, patients: Sequence[ReviewPatient]) -> int | None:
    """Index of the first patient the rater has not rated every rationale of; None when done."""
    rated = store.rated(rater)
    for index, patient in enumerate(patients):
        if not {i.model for i in patient.items} <= rated.get(patient.record_id, set()):
            return index
    return None


def record_ratings(
    store: ReviewStore,
    rubric: Rubric,
    rater: str,
    patient: ReviewPatient,
    ratings: dict[str, dict[str, int]],
    comments: dict[str, str],
    seed: int = 0,
) -> None:
    """Store one patient's ratings, given by slot letter (A, B, ...) as the rater saw them."""
    shown = shown_order(rater, patient, seed)
    by_slot = {SLOTS[i]: item for i, item in enumerate(shown)}
    for slot, scores in ratings.items():
        if slot not in by_slot:
            raise ReviewError(f"patient {patient.record_id} has no rationale {slot!r}")
        missing = [c for c in rubric.names if c not in scores]
        bad = {c: s for c, s in scores.items() if c not in rubric.names or not isinstance(s, int) or not 1 <= s <= 5}
        if missing or bad:
            raise ReviewError(f"rationale {slot}: missing {missing} or invalid {bad} (each criterion 1-5)")
    for slot, scores in ratings.items():
        item = by_slot[slot]
        store.save(rater, patient.record_id, item.model, slot, scores, comments.get(slot, "").strip())


def write_ratings_csv(rows: Sequence[dict[str, object]], rubric: Rubric, handle: TextIO) -> None:
    """The ratings (`ReviewStore.rows`) as CSV: one row per rating, one column per criterion."""
    writer = csv.writer(handle)
    writer.writerow(["rater", "record_id", "model", "slot", *rubric.names, "comment", "created"])
    for row in rows:
        scores: dict[str, int] = row["scores"]  # type: ignore[assignment]
        writer.writerow(
            [
                row["rater"],
                row["record_id"],
                row["model"],
                row["slot"],
                *(scores.get(c) for c in rubric.names),
                row["comment"],
                row["created"],
            ]
        )


class CriterionAgreement(BaseModel):
    statistic: str
    value: float | None = Field(description="None where it is undefined (fewer than two raters of a unit).")
    units: int


class ReviewSummary(BaseModel):
    rubric: str
    raters: list[str]
    patients_rated: int
    means: dict[str, dict[str, float]] = Field(description="model -> criterion -> mean over raters and patients.")
    between_raters: dict[str, CriterionAgreement]
    judge_vs_humans: dict[str, CriterionAgreement] = Field(
        default_factory=dict, description="The judge's score against the raters' mean (rounded) per rationale."
    )


def summarise_reviews(
    store: ReviewStore, rubric: Rubric, judged: Sequence[dict[str, object]] | None = None
) -> ReviewSummary:
    """Per-model means, agreement between raters per criterion, and the LLM judge against the raters."""
    import math

    rows = store.rows()
    raters = sorted({str(r["rater"]) for r in rows})
    units = sorted({(str(r["record_id"]), str(r["model"])) for r in rows})
    score: dict[tuple[str, str, str], dict[str, int]] = {}
    for row in rows:
        given: dict[str, int] = row["scores"]  # type: ignore[assignment]
        score[(str(row["rater"]), str(row["record_id"]), str(row["model"]))] = dict(given)
    means: dict[str, dict[str, float]] = {}
    for model in sorted({m for _, m in units}):
        own = [s for (_, _, m), s in score.items() if m == model]
        means[model] = {c: sum(s[c] for s in own) / len(own) for c in rubric.names if own}
    between: dict[str, CriterionAgreement] = {}
    against: dict[str, CriterionAgreement] = {}
    judge_scores = {(str(j["record_id"]), str(j["model"])): j["scores"] for j in judged or [] if j.get("scores")}
    for criterion in rubric.names:
        table = [[score.get((r, u, m), {}).get(criterion) for u, m in units] for r in raters]
        if len(raters) >= 2:
            name, value = agreement(table)
            between[criterion] = CriterionAgreement(
                statistic=name, value=None if math.isnan(value) else value, units=len(units)
            )
        if judge_scores:
            pairs = []
            for u, m in units:
                humans = [s[criterion] for (_, uu, mm), s in score.items() if (uu, mm) == (u, m) and criterion in s]
                judge = judge_scores.get((u, m))
                if humans and isinstance(judge, dict) and criterion in judge:
                    pairs.append((int(judge[criterion]["score"]), round(sum(humans) / len(humans))))
            if pairs:
                name, value = agreement([[a for a, _ in pairs], [b for _, b in pairs]])
                against[criterion] = CriterionAgreement(
                    statistic=name, value=None if math.isnan(value) else value, units=len(pairs)
                )
    return ReviewSummary(
        rubric=rubric.name,
        raters=raters,
        patients_rated=len({u for u, _ in units}),
        means=means,
        between_raters=between,
        judge_vs_humans=against,
    )
