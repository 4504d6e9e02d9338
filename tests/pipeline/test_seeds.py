"""The teacher generations shipped for the demo must answer every request the demo makes, or
`make demo` would fall back to hours of CPU generation. Any change to the prompts, exemplars, fact
sheets or patient texts breaks this test until the seed is regenerated (docs/teacher.md, "The shipped
demo seed")."""

from __future__ import annotations

from pathlib import Path

import pytest

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
