"""The review store, the next-patient rule and the agreement summary by hand; the API over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from clinreason.judge import JudgeItem, load_rubric
from clinreason.judge.review import (
    ReviewError,
    ReviewStore,
    next_patient,
    record_ratings,
    review_patients,
    shown_order,
    summarise_reviews,
)
from clinreason.judge.review_app import create_review_app
from doubles import Server

RUBRIC = load_rubric("kwon")


def items(patients: int = 3) -> list[JudgeItem]:
    return [
        JudgeItem(record_id=f"p{i}", model=model, patient=f"Patient {i} text.", rationale=f"{model} on p{i}.")
        for i in range(patients)
        for model in ("student:a", "teacher:few-shot")
    ] + [JudgeItem(record_id="lonely", model="student:a", patient="x", rationale="only one model")]


def scores(value: int) -> dict[str, int]:
    return {name: value for name in RUBRIC.names}


def test_patients_need_two_models_and_the_order_is_fixed_per_rater(tmp_path: Path) -> None:
    patients = review_patients(items())
    assert [p.record_id for p in patients] == ["p0", "p1", "p2"]  # 'lonely' has one model only
    first = [i.model for i in shown_order("ann", patients[0])]
    assert first == [i.model for i in shown_order("ann", patients[0])]  # the same after a restart
    orders = {tuple(i.model for i in shown_order(rater, p)) for rater in ("ann", "bob", "cy", "dee") for p in patients}
    assert len(orders) == 2  # shuffled: both orders occur


def test_ratings_are_kept_the_rater_resumes_and_bad_ratings_are_refused(tmp_path: Path) -> None:
    patients = review_patients(items())
    store = ReviewStore(tmp_path / "review.sqlite")
    assert (tmp_path / "review.sqlite").stat().st_mode & 0o777 == 0o600
    assert next_patient(store, "ann", patients) == 0
    record_ratings(store, RUBRIC, "ann", patients[0], {"A": scores(4), "B": scores(2)}, {"A": " clear "})
    record_ratings(store, RUBRIC, "ann", patients[1], {"A": scores(3)}, {})  # half of patient 1
    store.close()
    again = ReviewStore(tmp_path / "review.sqlite")  # as after a killed server
    assert next_patient(again, "ann", patients) == 1 and next_patient(again, "bob", patients) == 0
    comment = next(r["comment"] for r in again.rows() if r["slot"] == "A" and r["record_id"] == "p0")
    assert comment == "clear"
    with pytest.raises(ReviewError, match="no rationale 'C'"):
        record_ratings(again, RUBRIC, "ann", patients[1], {"C": scores(3)}, {})
    with pytest.raises(ReviewError, match="missing"):
        record_ratings(again, RUBRIC, "ann", patients[1], {"A": {"consistency": 9}}, {})


def test_summary_means_and_agreement_by_hand(tmp_path: Path) -> None:
    patients = review_patients(items())
    store = ReviewStore(tmp_path / "review.sqlite")

    def rate(rater: str, patient: int, by_model: dict[str, int]) -> None:
        shown = shown_order(rater, patients[patient])
        record_ratings(
            store,
            RUBRIC,
            rater,
            patients[patient],
            {"AB"[i]: scores(by_model[item.model]) for i, item in enumerate(shown)},
            {},
        )

    for patient, (a, t) in enumerate([(5, 1), (4, 2), (3, 3)]):  # both raters agree exactly
        rate("ann", patient, {"student:a": a, "teacher:few-shot": t})
        rate("bob", patient, {"student:a": a, "teacher:few-shot": t})
    judged = [
        {"record_id": f"p{p}", "model": "student:a", "scores": {c: {"score": s} for c in RUBRIC.names}}
        for p, s in enumerate([5, 4, 3])
    ]
    summary = summarise_reviews(store, RUBRIC, judged)
    assert summary.raters == ["ann", "bob"] and summary.patients_rated == 3
    assert summary.means["student:a"]["consistency"] == pytest.approx(4.0)  # (5 + 4 + 3) / 3
    assert summary.means["teacher:few-shot"]["consistency"] == pytest.approx(2.0)
    between = summary.between_raters["consistency"]
    assert (
        between.statistic == "quadratic-weighted kappa" and between.value == pytest.approx(1.0) and between.units == 6
    )
    assert summary.judge_vs_humans["consistency"].value == pytest.approx(1.0)  # the judge matches them too
    assert summary.judge_vs_humans["consistency"].units == 3


def test_the_review_api_over_http(tmp_path: Path) -> None:
    patients = review_patients(items(2))
    store = ReviewStore(tmp_path / "review.sqlite")
    with Server(create_review_app(store, RUBRIC, patients)) as url:
        page = httpx.get(url).text
        assert "Rationale review" in page and "human_likeness" in page
        first = httpx.get(f"{url}/api/next", params={"rater": "ann"}).json()
        assert first["record_id"] == "p0" and [r["slot"] for r in first["rationales"]] == ["A", "B"]
        assert "student:a" not in json.dumps(first["rationales"][0]["slot"])  # slots, not names
        body = {"rater": "ann", "record_id": "p0", "ratings": {"A": scores(4), "B": scores(3)}}
        assert httpx.post(f"{url}/api/rate", json=body).status_code == 200
        assert httpx.get(f"{url}/api/next", params={"rater": "ann"}).json()["record_id"] == "p1"
        bad = httpx.post(f"{url}/api/rate", json={**body, "ratings": {"A": {"consistency": 6}}})
        assert bad.status_code == 422 and "each criterion 1-5" in bad.json()["detail"]
        assert httpx.post(f"{url}/api/rate", json={**body, "record_id": "nope"}).status_code == 422
        csv_text = httpx.get(f"{url}/api/export.csv").text
        assert (
            csv_text.splitlines()[0].startswith("rater,record_id,model,slot,consistency") and csv_text.count("\n") == 3
        )
        assert len(httpx.get(f"{url}/api/export.json").json()) == 2
