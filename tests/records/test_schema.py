from __future__ import annotations

import pytest
from pydantic import ValidationError

from clinreason.errors import ClinreasonError, DataError
from clinreason.records import Cohort, CohortSource, Finding, PatientRecord, ReferenceRange

SOURCE = CohortSource(name="test", citation="none", licence="CC0")


@pytest.mark.parametrize(
    ("low", "high", "value", "expected"),
    [
        (70, 140, 69.9, "low"),
        (70, 140, 70, "normal"),
        (70, 140, 140, "normal"),
        (70, 140, 140.1, "high"),
        (None, 199, 250, "high"),
        (None, 199, -5, "normal"),
        (60, None, 59, "low"),
        (60, None, 1e6, "normal"),
    ],
)
def test_reference_range_status(low: float | None, high: float | None, value: float, expected: str) -> None:
    assert ReferenceRange(low=low, high=high).status(value) == expected


@pytest.mark.parametrize(("low", "high"), [(None, None), (5, 1)])
def test_reference_range_rejects_bad_bounds(low: float | None, high: float | None) -> None:
    with pytest.raises(ValidationError):
        ReferenceRange(low=low, high=high)


def test_finding_status_only_for_numbers_with_a_range() -> None:
    normal = ReferenceRange(low=1, high=2)
    assert Finding(name="a", label="a", value=3, normal=normal).status == "high"
    assert Finding(name="a", label="a", value=None, normal=normal).status is None
    assert Finding(name="a", label="a", value=True, normal=normal).status is None
    assert Finding(name="a", label="a", value="x", normal=normal).status is None
    assert Finding(name="a", label="a", value=3).status is None
    assert Finding(name="a", label="a", value=float("nan")).value is None


def _record(record_id: str, *labels: str) -> PatientRecord:
    return PatientRecord(id=record_id, labels=list(labels))


def test_cohort_rejects_duplicate_ids() -> None:
    with pytest.raises(DataError, match="duplicate patient id 'p1'"):
        Cohort(
            name="c",
            title="c",
            source=SOURCE,
            labels=["a", "b"],
            records=[_record("p1", "a"), _record("p1", "b")],
        )


def test_cohort_rejects_labels_outside_the_label_set() -> None:
    with pytest.raises(DataError, match=r"label\(s\) \['z'\] outside"):
        Cohort(name="c", title="c", source=SOURCE, labels=["a"], records=[_record("p1", "z")])


def test_single_label_cohort_needs_exactly_one_label() -> None:
    with pytest.raises(DataError, match="2 labels in a single-label cohort"):
        Cohort(name="c", title="c", source=SOURCE, labels=["a", "b"], records=[_record("p1", "a", "b")])
    multi = Cohort(
        name="c",
        title="c",
        source=SOURCE,
        labels=["a", "b"],
        multilabel=True,
        records=[_record("p1", "a", "b"), _record("p2")],
    )
    assert multi.label_counts() == {"a": 1, "b": 1}


def test_finding_key_must_match_its_name() -> None:
    with pytest.raises(ValidationError, match="stored under 'x'"):
        PatientRecord(id="p", findings={"x": Finding(name="y", label="y")})


def test_subset_keeps_order_and_rejects_unknown_ids() -> None:
    cohort = Cohort(
        name="c",
        title="c",
        source=SOURCE,
        labels=["a", "b"],
        records=[_record("p1", "a"), _record("p2", "b"), _record("p3", "a")],
    )
    assert [r.id for r in cohort.subset(["p3", "p1"])] == ["p3", "p1"]
    with pytest.raises(DataError, match="not in cohort c"):
        cohort.subset(["p9"])


def test_get_names_the_unknown_id_and_the_cohort() -> None:
    cohort = Cohort(name="c", title="c", source=SOURCE, labels=["a"], records=[_record("p1", "a")])
    assert cohort.get("p1").id == "p1"
    with pytest.raises(ClinreasonError, match=r"no patient 'p9' in cohort c \(ids look like 'p1'\)"):
        cohort.get("p9")


def test_cohort_round_trips_through_json() -> None:
    record = PatientRecord(
        id="p1",
        age=63,
        sex="male",
        labels=["a"],
        findings={
            "bp": Finding(
                name="bp",
                label="blood pressure",
                value=145,
                unit="mm Hg",
                normal=ReferenceRange(low=90, high=119),
            )
        },
    )
    cohort = Cohort(name="c", title="c", source=SOURCE, labels=["a"], records=[record])
    again = Cohort.model_validate_json(cohort.model_dump_json())
    assert again == cohort
    assert again.records[0].findings["bp"].status == "high"
