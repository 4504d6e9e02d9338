from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from clinreason.errors import DataError
from clinreason.records import Cohort, CohortSource, PatientRecord, Splits, load_cohort, make_splits

SOURCE = CohortSource(name="test", citation="none", licence="CC0")


def _cohort(counts: dict[str, int], name: str = "toy") -> Cohort:
    records = [PatientRecord(id=f"{label}-{i}", labels=[label]) for label, n in counts.items() for i in range(n)]
    return Cohort(name=name, title=name, source=SOURCE, labels=list(counts), records=records)


def test_splits_partition_the_cohort_with_the_requested_sizes() -> None:
    cohort = _cohort({"a": 60, "b": 40})
    splits = make_splits(cohort, seed=1, fractions=(0.6, 0.2, 0.2))
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (60, 20, 20)
    assert sorted(splits.train + splits.validation + splits.test) == sorted(r.id for r in cohort)
    assert splits.stratified


def test_splits_are_stratified_by_label() -> None:
    cohort = _cohort({"a": 60, "b": 40})
    splits = make_splits(cohort, seed=3, fractions=(0.6, 0.2, 0.2))
    for name, size in (("train", 60), ("validation", 20), ("test", 20)):
        counts = Counter(cohort.get(i).label for i in splits.ids(name))
        assert counts == {"a": size * 0.6, "b": size * 0.4}


def test_same_seed_same_splits_other_seed_other_splits() -> None:
    cohort = _cohort({"a": 30, "b": 30})
    assert make_splits(cohort, seed=7) == make_splits(cohort, seed=7)
    assert make_splits(cohort, seed=7).test != make_splits(cohort, seed=8).test


def test_split_ids_keep_cohort_order() -> None:
    cohort = _cohort({"a": 20, "b": 20})
    order = [r.id for r in cohort]
    for ids in (make_splits(cohort).train, make_splits(cohort).test):
        assert ids == sorted(ids, key=order.index)


def test_save_and_reload_identically(tmp_path: Path) -> None:
    cohort = load_cohort("pima-diabetes")
    splits = make_splits(cohort, seed=11)
    path = splits.save(tmp_path / "run" / "splits.json")
    again = Splits.load(path)
    assert again == splits
    assert [r.id for r in again.apply(cohort, "test")] == splits.test
    # Reloading the cohort itself and splitting again gives the same file contents.
    assert make_splits(load_cohort("pima-diabetes"), seed=11).model_dump_json(indent=2) == path.read_text().strip()


def test_splits_refuse_a_changed_cohort(tmp_path: Path) -> None:
    cohort = _cohort({"a": 10, "b": 10})
    splits = make_splits(cohort)
    changed = _cohort({"a": 10, "b": 11})
    with pytest.raises(DataError, match="its patients or labels changed"):
        splits.apply(changed, "train")


def test_loading_a_corrupt_splits_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "splits.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match=r"splits\.json: not a valid splits file"):
        Splits.load(bad)
    with pytest.raises(DataError, match="splits file not found"):
        Splits.load(tmp_path / "missing.json")


def test_rare_classes_do_not_break_splitting() -> None:
    cohort = _cohort({"a": 30, "b": 12, "rare": 1})
    splits = make_splits(cohort, seed=0)
    assert sorted(splits.train + splits.validation + splits.test) == sorted(r.id for r in cohort)


def test_tiny_cohort_falls_back_to_an_unstratified_split() -> None:
    cohort = _cohort({"a": 2, "b": 2, "c": 2})
    splits = make_splits(cohort, seed=0, fractions=(0.5, 0.25, 0.25))
    assert len(splits.train + splits.validation + splits.test) == 6


def test_zero_validation_fraction() -> None:
    splits = make_splits(_cohort({"a": 10, "b": 10}), fractions=(0.8, 0.0, 0.2))
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (16, 0, 4)


@pytest.mark.parametrize("fractions", [(0.5, 0.5, 0.5), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1)])
def test_bad_fractions_are_rejected(fractions: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError, match="fractions"):
        make_splits(_cohort({"a": 5, "b": 5}), fractions=fractions)


def test_multilabel_cohorts_split_by_label_combination() -> None:
    records = [PatientRecord(id=f"p{i}", labels=[["x"], ["y"], ["x", "y"], []][i % 4]) for i in range(40)]
    cohort = Cohort(name="m", title="m", source=SOURCE, labels=["x", "y"], multilabel=True, records=records)
    splits = make_splits(cohort, fractions=(0.5, 0.25, 0.25))
    combos = Counter(tuple(cohort.get(i).labels) for i in splits.test)
    assert sum(combos.values()) == 10
    assert len(combos) == 4
    assert all(2 <= count <= 3 for count in combos.values())
