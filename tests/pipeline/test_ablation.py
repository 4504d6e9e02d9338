from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinreason.errors import ConfigError
from clinreason.pipeline.ablation import AblationConfig, run_ablation
from clinreason.student.config import TrainConfig
from clinreason.teacher import Completion, Sampling, TeacherConfig
from clinreason.teacher.backend import Message


def _tiny(tmp_path: Path, student: Path, **fields: object) -> AblationConfig:
    """An ablation small enough for a test: the tiny student and a tiny multimodal head."""
    return AblationConfig(
        student=str(student),
        d_model=16,
        layers=1,
        heads=2,
        prototypes=6,
        train=TrainConfig(epochs=1, batch_size=8, learning_rate=1e-3, precision="fp32", max_length=1024),
        out=tmp_path / "ablation",
        **fields,
    )


@pytest.mark.slow
def test_ablation_runs_all_four_variants(tmp_path: Path, tiny_student_dir: Path) -> None:
    config = _tiny(tmp_path, tiny_student_dir, patients=40, max_new_tokens=12)
    summary = run_ablation(config)
    assert list(summary.variants) == [
        "note only",
        "time series only",
        "joint without knowledge attention",
        "full (ClinRaGen)",
        "time series only + anomaly text",
        "full + anomaly text",
        "full + 4 candidates",
        "full + anomaly text + 4 candidates",
        "full + claim weight 3",
    ]
    saved = (tmp_path / "ablation" / "predictions" / "full-+-4-candidates.jsonl").read_text().splitlines()
    assert saved and all(json.loads(line)["candidates"] == 4 for line in saved)
    assert all(
        m.wrong_claims_per_rationale is not None and m.invented_counts is not None for m in summary.variants.values()
    )
    page = (tmp_path / "ablation" / "ablation.html").read_text()  # every variant's text, its claims marked
    assert "full + anomaly text" in page and "rationales learned from" in page and '<mark class="' in page
    for metrics in summary.variants.values():
        assert 0.0 <= metrics.micro_f1 <= 1.0 and 0.0 <= metrics.macro_f1 <= 1.0
    table = (tmp_path / "ablation" / "ablation.md").read_text()
    assert "| full (ClinRaGen) |" in table and "verified-claim rate" in table and "invented counts" in table
    assert json.loads((tmp_path / "ablation" / "ablation.json").read_text())["test"] == summary.test


class ScriptedTeacher:
    """Answers in the clinragen format for most stays and off-format for every fifth one."""

    kind, model_id, max_concurrency = "scripted", "clinragen-test", 1

    def __init__(self) -> None:
        self.calls = 0

    def check(self) -> None: ...

    def close(self) -> None: ...

    def chat(self, messages: list[Message], sampling: Sampling) -> Completion:
        self.calls += 1
        user = messages[-1]["content"]
        if "Diagnosed diseases: No disease" in user and self.calls % 5 == 0:
            return Completion(text="I cannot tell.", completion_tokens=3)
        return Completion(
            text="Note rationale: The course explains the diagnoses well.\n"
            "Lab rationale: The heart rate was elevated during the stay.",
            completion_tokens=20,
        )


@pytest.mark.slow
def test_ablation_with_a_teacher_scores_its_rationales_and_reruns_from_saved_answers(
    tmp_path: Path, tiny_student_dir: Path
) -> None:
    config = _tiny(
        tmp_path,
        tiny_student_dir,
        patients=30,
        max_new_tokens=8,
        teacher=TeacherConfig(backend="openai", model="scripted", base_url="http://127.0.0.1:9/v1", max_attempts=1),
        teacher_cache=tmp_path / "cache.sqlite",
    )
    teacher = ScriptedTeacher()
    summary = run_ablation(config, backend=teacher)
    assert summary.rationale_source == "teacher scripted:clinragen-test (clinragen-rationalize@v1)"
    run = summary.teacher_run
    assert run is not None
    assert run.kept == summary.train_stays + summary.validation_stays and run.rejected > 0
    assert summary.left_out_without_rationale == run.rejected
    on_test = summary.rationales_on_test
    # each kept test rationale makes one checkable claim: "heart rate was elevated"
    assert on_test.verified_claim_rate is not None
    assert on_test.claims_checked == on_test.stays and 0.0 <= on_test.verified_claim_rate <= 1.0
    assert (
        "| rationales learned from: teacher scripted:clinragen-test"
        in (tmp_path / "ablation" / "ablation.md").read_text()
    )
    calls = teacher.calls
    saved = {p: p.stat().st_mtime_ns for p in (tmp_path / "ablation" / "predictions").iterdir()}
    again = run_ablation(config, backend=teacher)
    assert teacher.calls == calls  # every answer came from the cache
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "ablation" / "predictions").iterdir()} == saved
    assert again.variants == summary.variants  # the saved answers were rescored, not generated again


class Unreachable(ScriptedTeacher):
    def chat(self, messages: list[Message], sampling: Sampling) -> Completion:
        raise AssertionError("the shipped seed should have answered every stay")


@pytest.mark.slow
def test_the_llm_rationales_row_learns_from_the_teacher_and_a_shipped_seed_answers_offline(
    tmp_path: Path, tiny_student_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clinreason.pipeline import ablation as module
    from clinreason.teacher.cache import TeacherCache

    scripted = TeacherConfig(backend="openai", model="scripted", base_url="http://127.0.0.1:9/v1", max_attempts=1)
    config = _tiny(
        tmp_path,
        tiny_student_dir,
        patients=30,
        max_new_tokens=8,
        faithfulness=[],
        teacher_row=scripted,
        teacher_cache=tmp_path / "cache.sqlite",
    )
    teacher = ScriptedTeacher()
    summary = run_ablation(config, backend=teacher)
    assert summary.rationale_source == "rules (reference_rationales)"
    assert list(summary.variants)[-1] == module.TEACHER_ROW == "full (LLM rationales)"
    row = summary.teacher_row
    assert row is not None and row.source == "teacher scripted:clinragen-test (clinragen-rationalize@v1)"
    assert row.teacher_run is not None and row.teacher_run.rejected > 0
    assert row.left_out_without_rationale == row.teacher_run.rejected
    assert summary.left_out_without_rationale == 0  # the rule rows keep every stay
    # each kept LLM rationale on a test stay makes one checkable claim ("heart rate was elevated")
    assert row.rationales_on_test.claims_checked == row.rationales_on_test.stays > 0
    assert teacher.calls == 30  # one answer a stay (max_attempts 1: no retry)
    assert "| rationales the LLM row learned from: teacher scripted" in (config.out / "ablation.md").read_text()
    assert "LLM rationales (the last row learned from)" in (config.out / "ablation.html").read_text()
    assert (config.out / "teacher-stage3" / "best").is_dir()

    # the generations exported as a shipped seed answer the same run with an empty cache and no teacher
    seed = tmp_path / "synthetic-multimodal.jsonl.gz"
    with TeacherCache(tmp_path / "cache.sqlite") as cache:
        assert cache.export_jsonl(seed, cohort="synthetic-multimodal") == teacher.calls
    (tmp_path / "cache.sqlite").unlink()
    monkeypatch.setattr(module, "seed_file", lambda name: seed if name == "synthetic-multimodal" else None)
    again = run_ablation(config, backend=Unreachable())
    assert again.variants == summary.variants
    offline = again.teacher_row
    assert offline is not None and offline.teacher_run is not None
    assert offline.teacher_run.generated == 0 and offline.teacher_run.cached == row.teacher_run.total
    counts = {"teacher_run": True, "rationales_on_test": {"teacher_run"}}  # generated / cached differ
    assert offline.model_dump(exclude=counts) == row.model_dump(exclude=counts)


def test_teacher_and_teacher_row_are_not_set_together(tmp_path: Path) -> None:
    llm = TeacherConfig(backend="openai", model="m", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ConfigError, match="set one of them"):
        run_ablation(AblationConfig(teacher=llm, teacher_row=llm, out=tmp_path / "a"))
    assert not (tmp_path / "a").exists()  # refused before the folder is claimed


def test_seeds_split_the_same_synthetic_stays() -> None:
    from clinreason.pipeline.ablation import _load

    first = _load("synthetic-multimodal", AblationConfig(patients=24, seed=0))
    second = _load("synthetic-multimodal", AblationConfig(patients=24, seed=1))
    other = _load("synthetic-multimodal", AblationConfig(patients=24, cohort_seed=1))
    assert [r.model_dump() for r in first.records] == [r.model_dump() for r in second.records]
    assert [r.model_dump() for r in first.records] != [r.model_dump() for r in other.records]


def test_a_cohort_without_rules_needs_a_teacher(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has no rule-based rationales"):
        run_ablation(AblationConfig(cohort="heart-disease", out=tmp_path / "a"))


def test_seeds_are_run_in_their_folders_and_compared_pairwise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clinreason.pipeline import ablation as module
    from clinreason.pipeline.results import AblationSummary, SourceScores, VariantScores

    scores = {0: (0.50, 0.40), 1: (0.60, 0.45)}  # seed -> (full micro-F1, joint-without micro-F1)
    seen: list[tuple[int, Path]] = []

    def fake(config: AblationConfig, observer: object = None) -> AblationSummary:
        seen.append((config.seed, config.out))
        full, plain = scores[config.seed]

        def variant(micro: float) -> VariantScores:
            return VariantScores(
                micro_f1=micro, macro_f1=micro, micro_precision=micro, micro_recall=micro, subset_accuracy=0.1,
                verified_claim_rate=0.9, claims_checked=10, wrong_claims_per_rationale=0.5, per_label_f1={},
            )  # fmt: skip

        return AblationSummary(
            cohort="synthetic-multimodal", patients=100, train_stays=70, validation_stays=15, test=15,
            seed=config.seed, student="s", train=config.train, rationale_source="rules",
            left_out_without_rationale=0, rationales_on_test=SourceScores(stays=15, verified_claim_rate=1.0,
            claims_checked=3), seconds=1.0,
            variants={"joint without knowledge attention": variant(plain), "full (ClinRaGen)": variant(full),
                      "full + anomaly text": variant(full + 0.1)},
        )  # fmt: skip

    monkeypatch.setattr(module, "run_ablation", fake)
    _, combined = module.run_ablation_seeds(AblationConfig(out=tmp_path / "a"), [0, 1])
    assert seen == [(0, tmp_path / "a" / "seed-0"), (1, tmp_path / "a" / "seed-1")]
    knowledge = next(d for d in combined.differences if d.reference == "joint without knowledge attention")
    assert knowledge.metric == "micro_f1" and knowledge.differences == pytest.approx([0.10, 0.15])
    assert knowledge.low is not None and knowledge.low < knowledge.mean < knowledge.high  # type: ignore[operator]
    anomaly = next(d for d in combined.differences if d.model == "full + anomaly text" and d.metric == "micro_f1")
    assert anomaly.mean == pytest.approx(0.1)
    assert combined.variants["full (ClinRaGen)"]["micro_f1"].mean == pytest.approx(0.55)
    assert "Ablation over seeds 0, 1" in (tmp_path / "a" / "ablation-seeds.md").read_text()
