"""ClinRaGen's ablation on the synthetic multimodal cohort, from one call:

| variant | trained | evaluated on |
|---|---|---|
| note only | stage 1 | the note |
| time series only | stages 1-2 (knowledge attention) | the time series |
| joint without knowledge attention | stages 1, 2', 3' (linear projection instead) | both |
| full (ClinRaGen) | stages 1-3 (knowledge attention) | both |
| time series only + anomaly text | stages 1, 2'' (the anomaly description in the prompt) | the time series |
| full + anomaly text | stages 1, 2'', 3'' | both |
| full + k candidates | stages 1-3 | both; k answers, the verified one kept |
| full + anomaly text + k candidates | stages 1, 2'', 3'' | both; k answers, the verified one kept |
| full + claim weight w | stages 1, 2''', 3''' (claim tokens weigh w in the loss) | both |
| full (LLM rationales) | stages 1-3 from the base model, on an LLM teacher's rationales (`teacher_row`) | both |

The last five rows are the faithfulness options (`faithfulness`, default all three), which aim at lab
rationales whose counts are this stay's own.

By default the teacher of the synthetic cohort is its generating rules (`reference_rationales`: the
evidence each modality really holds), so differences come from the student, not from teacher noise.
With `teacher` set, an LLM writes the rationales instead (the `clinragen-rationalize` prompt, cached
and resumable like every teacher run); that is the only way on MIMIC, which has no rules. Stays whose
rationale the teacher never produced are left out of training and counted. With `teacher_row` set
instead, the rule-trained rows stay and one row learns from the LLM, so the table compares the two
sources on the same split.

Seeds are repeated splits of the same synthetic stays (`cohort_seed`), as the benchmark's seeds are of a
cohort: the paired intervals' correction assumes it, and one teacher run answers every seed.

The cohort is a name or a YAML file (`synthetic-multimodal`, a MIMIC YAML); with `test_cohort` (e.g.
the same MIMIC YAML with `split: test`) the cohort is split into training and validation only and the
test stays come from the benchmark's own test folder.

Each variant reports multi-label micro/macro precision, recall and F1 (diseases matched to the labels)
and the verified-claim rate of its rationales against the record's note and time series; the
rationales the students learned from (rules or teacher) are scored the same way on the test stays.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from clinreason.errors import ConfigError
from clinreason.evaluate.multilabel import multilabel_metrics
from clinreason.evaluate.paired import paired_difference, spread
from clinreason.evaluate.report import render_claims_report
from clinreason.evaluate.series_claims import check_series_claims, claim_tally, verified_claims
from clinreason.knowledge.base import knowledge_text
from clinreason.pipeline.rationalize import run_and_save
from clinreason.pipeline.results import (
    ABLATION_METRICS,
    AblationSeeds,
    AblationSummary,
    SourceScores,
    TeacherCounts,
    TeacherRow,
    VariantScores,
)
from clinreason.pipeline.shipped import seed_file
from clinreason.progress import Observer
from clinreason.records import load_cohort, make_splits
from clinreason.records.schema import Cohort, PatientRecord
from clinreason.records.synthetic import SYNTHETIC_SOURCE, make_multimodal_cohort, reference_rationales
from clinreason.run_folder import claim_folder
from clinreason.student.config import TrainConfig
from clinreason.student.model import load_student
from clinreason.student.multimodal import knowledge_token_embeddings
from clinreason.student.multimodal_model import MultimodalStudent, Stage
from clinreason.student.sequential import (
    Mode,
    MultimodalPrediction,
    Rationales,
    cohort_rationales,
    predict_multimodal,
    train_stage,
)
from clinreason.teacher import TeacherBackend, TeacherConfig, TeacherSession, connect, load_prompt
from clinreason.teacher.clinragen import split_rationale

Faithfulness = Literal["anomaly_text", "candidates", "claim_weight"]
FAITHFULNESS: tuple[Faithfulness, ...] = ("anomaly_text", "candidates", "claim_weight")


class AblationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cohort: str = Field(default="synthetic-multimodal", description="A cohort name or YAML (e.g. a MIMIC YAML).")
    test_cohort: str | None = Field(default=None, description="Test stays from here (e.g. MIMIC with split: test).")
    patients: int = Field(default=400, ge=20, description="synthetic-multimodal: stays to generate.")
    cohort_seed: int = Field(
        default=0,
        description="synthetic-multimodal: the seed that generates the stays. The same stays for every split "
        "`seed`, so that seeds are repeated splits of one cohort (what the paired intervals' correction assumes) "
        "and one teacher run answers them all.",
    )
    seed: int = Field(default=0, description="The split and the students' initialisation.")
    teacher: TeacherConfig | None = Field(default=None, description="None: the synthetic cohort's rules.")
    teacher_row: TeacherConfig | None = Field(
        default=None,
        description="An extra row, 'full (LLM rationales)': the full student trained (stages 1-3) on "
        "this LLM's rationales, beside the rows trained on the synthetic cohort's rules; its rationales are "
        "scored on the test stays too. Only without `teacher` (then every row learns from the LLM).",
    )
    use_seed: bool = Field(
        default=True,
        description="Import the teacher generations shipped for the cohort (pipeline/seeds/<cohort>.jsonl.gz) "
        "into the cache before asking the teacher; only identical requests are reused.",
    )
    teacher_cache: Path | None = None
    student: str = "smollm2-135m"
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(epochs=2, learning_rate=1e-4, batch_size=8))
    d_model: int = 128
    layers: int = 2
    heads: int = 4
    prototypes: int = 24
    max_new_tokens: int = 160
    faithfulness: list[Faithfulness] = Field(
        default_factory=lambda: list(FAITHFULNESS),
        description="Extra rows: anomaly_text (the series' anomaly description in the prompt, stages 2-3 trained "
        "again with it), candidates (several answers, the verified one kept; with anomaly_text also the two "
        "together), claim_weight (stages 2-3 trained again with the claim tokens weighted in the loss).",
    )
    candidates: int = Field(default=4, ge=2, le=16, description="Answers per stay for the candidates rows.")
    claim_weight: float = Field(
        default=3.0, gt=1.0, le=20.0, description="Loss weight of claim tokens in the claim_weight row."
    )
    report_stays: int = Field(default=6, ge=0, description="Test stays shown in ablation.html with their claims.")
    out: Path = Path("runs/ablation")


TEACHER_ROW = "full (LLM rationales)"


def _load(name: str, config: AblationConfig) -> Cohort:
    if name == "synthetic-multimodal":
        return make_multimodal_cohort(config.patients, config.cohort_seed)
    return load_cohort(name)


def _connect(
    stack: ExitStack,
    teacher: TeacherConfig | None,
    config: AblationConfig,
    cohorts: list[Cohort],
    observer: Observer,
    backend: TeacherBackend | None,
) -> TeacherSession | None:
    """A session with `teacher`, its cache holding the generations shipped for these cohorts."""
    if teacher is None:
        return None
    session = stack.enter_context(connect(teacher, config.teacher_cache, backend=backend))
    for cohort in {c.name: c for c in cohorts}.values():
        seed = seed_file(cohort.name) if config.use_seed else None
        if seed is not None and (added := session.cache.import_jsonl(seed)):
            observer.note(f"imported {added} shipped teacher generation(s) for {cohort.name} into {session.cache.path}")
    return session


def _rationales(
    config: AblationConfig,
    cohort: Cohort,
    records: list[PatientRecord],
    observer: Observer,
    session: TeacherSession | None,
    part: str,
) -> tuple[dict[str, Rationales], str, TeacherCounts | None]:
    """The rationales the students learn from, by stay id, their source, and the teacher run's counts."""
    if session is None:
        if cohort.source.name != SYNTHETIC_SOURCE.name:
            raise ConfigError(
                f"cohort {cohort.name} has no rule-based rationales (only synthetic-multimodal has); "
                "set a teacher (--teacher gguf:qwen2.5-coder-1.5b, openai:MODEL --base-url ...)"
            )
        return cohort_rationales(cohort, reference_rationales), "rules (reference_rationales)", None
    results = config.out / "rationales" / f"{cohort.name}-{part}.jsonl"
    label = f"teacher {session.config.backend}:{session.config.model} ({len(records)} stays)"
    run = run_and_save(
        session, cohort, records, load_prompt("clinragen-rationalize"), results, observer=observer, label=label
    )
    if not run.summary.kept:
        raise ConfigError(
            f"the teacher kept no rationale for the {len(records)} stay(s) of {cohort.name} "
            f"({run.summary.rejected} rejected, {run.summary.failed} failed); see the problems in {results}"
        )
    kept = {r.record_id: Rationales(*split_rationale(r.rationale or "")) for r in run.results if r.status == "kept"}
    counts = TeacherCounts.model_validate(run.summary.model_dump())
    return kept, f"teacher {run.summary.teacher} ({run.summary.prompt})", counts


def _saved_predictions(path: Path, records: list[PatientRecord]) -> list[MultimodalPrediction] | None:
    """A finished variant's answers (a rerun then only rescores them); None if absent or for other stays."""
    if not path.is_file():
        return None
    saved = [MultimodalPrediction(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
    return saved if [p.record_id for p in saved] == [r.id for r in records] else None


def _score(
    predictions: list[MultimodalPrediction], records: dict[str, PatientRecord], labels: list[str]
) -> VariantScores:
    metrics = multilabel_metrics([p.gold for p in predictions], [p.predicted for p in predictions], labels)
    supported, checked, invented = claim_tally((p.text, records[p.record_id]) for p in predictions)
    wrong = (checked - supported) / len(predictions) if predictions else None
    return VariantScores(
        micro_f1=metrics.micro_f1,
        macro_f1=metrics.macro_f1,
        micro_precision=metrics.micro_precision,
        micro_recall=metrics.micro_recall,
        subset_accuracy=metrics.subset_accuracy,
        verified_claim_rate=supported / checked if checked else None,
        claims_checked=checked,
        wrong_claims_per_rationale=wrong,
        invented_counts=invented,
        per_label_f1=metrics.per_label_f1,
    )


def _source_scores(
    learned: dict[str, Rationales],
    records: list[PatientRecord],
    by_id: dict[str, PatientRecord],
    counts: TeacherCounts | None,
) -> SourceScores:
    """The rationales a student learned from, checked on the test stays like the students' own."""
    scored = [(f"{learned[r.id].note}\n{learned[r.id].series}", by_id[r.id]) for r in records if r.id in learned]
    supported, checked = verified_claims(scored)
    return SourceScores(
        stays=len(scored),
        verified_claim_rate=supported / checked if checked else None,
        claims_checked=checked,
        teacher_run=counts,
    )


def _rationale_texts(learned: dict[str, Rationales], records: list[PatientRecord]) -> dict[str, str]:
    """The rationales a student learned from, by stay, as the report shows them."""
    return {
        r.id: f"Note rationale: {learned[r.id].note}\nLab rationale: {learned[r.id].series}"
        for r in records
        if r.id in learned
    }


def run_ablation(
    config: AblationConfig, observer: Observer | None = None, backend: TeacherBackend | None = None
) -> AblationSummary:
    """`backend` overrides the one `config.teacher` describes (e.g. a server client already set up)."""
    observer = observer or Observer()
    started = time.perf_counter()
    if config.teacher is not None and config.teacher_row is not None:
        raise ConfigError(
            "teacher_row adds a row trained on an LLM's rationales beside the rows trained on the rules; with "
            "teacher set every row already learns from the LLM: set one of them"
        )
    claim_folder(config.out, config)
    cohort = _load(config.cohort, config)
    test_cohort = _load(config.test_cohort, config) if config.test_cohort else None
    fractions = (0.85, 0.15, 0.0) if test_cohort else (0.7, 0.15, 0.15)
    splits = make_splits(cohort, seed=config.seed, fractions=fractions)
    splits.save(config.out / "splits.json")
    train_records, val_records = splits.apply(cohort, "train").records, splits.apply(cohort, "validation").records
    test_records = test_cohort.records if test_cohort else splits.apply(cohort, "test").records
    cohorts = [cohort, test_cohort or cohort]
    row_rationales: dict[str, Rationales] = {}
    row_test_rationales: dict[str, Rationales] = {}
    row_source: str | None = None
    row_counts: TeacherCounts | None = None
    row_test_counts: TeacherCounts | None = None
    with ExitStack() as stack:
        session = _connect(stack, config.teacher, config, cohorts, observer, backend)
        rationales, source, teacher_counts = _rationales(
            config, cohort, train_records + val_records, observer, session, "train"
        )
        # the same source on the test stays, only to score its faithfulness next to the students'
        test_rationales, _, test_counts = _rationales(
            config, test_cohort or cohort, test_records, observer, session, "test"
        )
        row_session = _connect(stack, config.teacher_row, config, cohorts, observer, backend)
        if row_session is not None:
            row_rationales, row_source, row_counts = _rationales(
                config, cohort, train_records + val_records, observer, row_session, "row-train"
            )
            row_test_rationales, _, row_test_counts = _rationales(
                config, test_cohort or cohort, test_records, observer, row_session, "row-test"
            )
    left_out = [r.id for r in train_records + val_records if r.id not in rationales]
    all_train, all_val = train_records, val_records
    train_records = [r for r in all_train if r.id in rationales]
    val_records = [r for r in all_val if r.id in rationales]
    base = load_student(config.student)
    tokenizer = base.tokenizer
    knowledge = knowledge_token_embeddings(knowledge_text(), tokenizer, base.model.get_input_embeddings())
    shape = {"d_model": config.d_model, "layers": config.layers, "heads": config.heads, "prototypes": config.prototypes}

    def stage(
        model: MultimodalStudent,
        number: Stage,
        folder: str,
        anomaly_text: bool = False,
        train: TrainConfig | None = None,
        learned: dict[str, Rationales] | None = None,
    ) -> MultimodalStudent:
        observer.phase(f"{folder}: stage {number}", None)
        learned = rationales if learned is None else learned
        trained, _ = train_stage(
            model,
            tokenizer,
            number,
            [r for r in all_train if r.id in learned],
            [r for r in all_val if r.id in learned],
            learned,
            train or config.train,
            config.out / folder,
            on_step=lambda s, t, loss: observer.advance(s, t, f"loss {loss:.3f}"),
            anomaly_text=anomaly_text,
        )
        return trained

    full = MultimodalStudent(base.model, tokenizer, knowledge=knowledge, **shape)
    stage1 = stage(full, 1, "stage1")
    stage2 = stage(stage1, 2, "full-stage2")
    stage3 = stage(stage2, 3, "full-stage3")
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    lm_folder = config.out / "stage1" / "best" / "lm"
    loader = AutoModelForSeq2SeqLM if getattr(stage1.config, "is_encoder_decoder", False) else AutoModelForCausalLM
    plain = MultimodalStudent(loader.from_pretrained(lm_folder), tokenizer, knowledge=None, **shape)
    plain.to(next(stage1.parameters()).device)
    plain2 = stage(plain, 2, "plain-stage2")
    plain3 = stage(plain2, 3, "plain-stage3")
    anomaly = "anomaly_text" in config.faithfulness
    if anomaly:  # the same full student from stage 1, with the anomaly description beside the series tokens
        again = MultimodalStudent.from_pretrained(config.out / "stage1" / "best", tokenizer)
        again.to(next(stage1.parameters()).device)
        anomaly2 = stage(again, 2, "anomaly-stage2", anomaly_text=True)
        stage(anomaly2, 3, "anomaly-stage3", anomaly_text=True)
        del again, anomaly2
    weighted = "claim_weight" in config.faithfulness
    if weighted:  # the same full student from stage 1, its claim tokens weighted in stages 2-3
        heavier = config.train.model_copy(update={"claim_weight": config.claim_weight})
        again = MultimodalStudent.from_pretrained(config.out / "stage1" / "best", tokenizer)
        again.to(next(stage1.parameters()).device)
        weighted2 = stage(again, 2, "claims-stage2", train=heavier)
        stage(weighted2, 3, "claims-stage3", train=heavier)
        del again, weighted2
    if config.teacher_row is not None:  # the full student again from the base model, on the LLM's rationales
        fresh = MultimodalStudent(load_student(config.student).model, tokenizer, knowledge=knowledge, **shape)
        fresh.to(next(stage1.parameters()).device)
        row1 = stage(fresh, 1, "teacher-stage1", learned=row_rationales)
        row2 = stage(row1, 2, "teacher-stage2", learned=row_rationales)
        stage(row2, 3, "teacher-stage3", learned=row_rationales)
        del fresh, row1, row2

    # Each variant is evaluated from its own best checkpoint (training later stages changes models in place).
    device = next(stage3.parameters()).device
    del full, stage1, stage2, stage3, plain, plain2, plain3
    k = config.candidates
    # (row, checkpoint folder, input mode, anomaly text in the prompt, candidates)
    variants: list[tuple[str, str, Mode, bool, int]] = [
        ("note only", "stage1", "note", False, 1),
        ("time series only", "full-stage2", "series", False, 1),
        ("joint without knowledge attention", "plain-stage3", "joint", False, 1),
        ("full (ClinRaGen)", "full-stage3", "joint", False, 1),
    ]
    if anomaly:
        variants += [
            ("time series only + anomaly text", "anomaly-stage2", "series", True, 1),
            ("full + anomaly text", "anomaly-stage3", "joint", True, 1),
        ]
    if "candidates" in config.faithfulness:
        variants.append((f"full + {k} candidates", "full-stage3", "joint", False, k))
        if anomaly:
            variants.append((f"full + anomaly text + {k} candidates", "anomaly-stage3", "joint", True, k))
    if weighted:
        variants.append((f"full + claim weight {config.claim_weight:g}", "claims-stage3", "joint", False, 1))
    if config.teacher_row is not None:
        variants.append((TEACHER_ROW, "teacher-stage3", "joint", False, 1))
    by_id = {r.id: r for r in [*cohort.records, *test_records]}  # test stays may come from another cohort
    results: dict[str, VariantScores] = {}
    for name, folder, mode, anomaly_text, count in variants:
        observer.phase(f"evaluating {name}", len(test_records))
        path = config.out / "predictions" / f"{name.replace(' ', '-')}.jsonl"
        predictions = _saved_predictions(path, test_records)
        if predictions is None:
            model = MultimodalStudent.from_pretrained(config.out / folder / "best", tokenizer).to(device)
            predictions = predict_multimodal(
                model,
                tokenizer,
                test_records,
                mode,
                cohort.labels,
                max_new_tokens=config.max_new_tokens,
                on_batch=lambda done, total: observer.advance(done, total, "patients"),
                anomaly_text=anomaly_text,
                candidates=count,
                seed=config.seed,
            )
            del model
            path.parent.mkdir(exist_ok=True)
            path.write_text("".join(json.dumps(p.__dict__) + "\n" for p in predictions))
        results[name] = _score(predictions, by_id, cohort.labels)
    summary = AblationSummary(
        cohort=cohort.name,
        patients=len(cohort),
        test_cohort=test_cohort.name if test_cohort else None,
        train_stays=len(train_records),
        validation_stays=len(val_records),
        test=len(test_records),
        seed=config.seed,
        student=config.student,
        train=config.train,
        rationale_source=source,
        teacher_run=teacher_counts,
        left_out_without_rationale=len(left_out),
        rationales_on_test=_source_scores(test_rationales, test_records, by_id, test_counts),
        teacher_row=None
        if row_source is None
        else TeacherRow(
            source=row_source,
            teacher_run=row_counts,
            left_out_without_rationale=sum(r.id not in row_rationales for r in all_train + all_val),
            rationales_on_test=_source_scores(row_test_rationales, test_records, by_id, row_test_counts),
        ),
        variants=results,
        seconds=time.perf_counter() - started,
    )
    (config.out / "ablation.json").write_text(summary.model_dump_json(indent=2) + "\n")
    (config.out / "ablation.md").write_text(summary.table().markdown())
    texts = {
        name: {p.record_id: p.text for p in saved}
        for name, _, _, _, _ in variants
        if (saved := _saved_predictions(config.out / "predictions" / f"{name.replace(' ', '-')}.jsonl", test_records))
    }
    texts["rationales learned from"] = _rationale_texts(test_rationales, test_records)
    if row_test_rationales:
        texts["LLM rationales (the last row learned from)"] = _rationale_texts(row_test_rationales, test_records)
    (config.out / "ablation.html").write_text(
        render_claims_report(
            f"ClinRaGen ablation on {cohort.name}",
            summary.table(),
            test_records[: config.report_stays],
            texts,
            check_series_claims,
            notes=[f"student {config.student}; rationales learned from {source}; seed {config.seed}"],
        )
    )
    return summary


def run_ablation_seeds(
    config: AblationConfig, seeds: list[int], observer: Observer | None = None
) -> tuple[list[AblationSummary], AblationSeeds]:
    """The ablation once per seed in `<out>/seed-<n>` (each resumable on its own), then mean ± sd and
    the paired differences with 95% intervals (corrected resampled t, `evaluate.paired`)."""
    observer = observer or Observer()
    started = time.perf_counter()
    summaries: list[AblationSummary] = []
    for seed in seeds:
        observer.note(f"ablation seed {seed} ({len(summaries) + 1} of {len(seeds)})")
        one = config.model_copy(update={"seed": seed, "out": config.out / f"seed-{seed}"})
        summaries.append(run_ablation(one, observer))
    names = list(dict.fromkeys(name for s in summaries for name in s.variants))

    def values(name: str, field: str) -> list[float | None]:
        return [getattr(s.variants[name], field) if name in s.variants else None for s in summaries]

    ratio = sum(s.test for s in summaries) / max(sum(s.train_stays for s in summaries), 1)
    pairs = [("full (ClinRaGen)", "joint without knowledge attention")]
    pairs += [(name, "full (ClinRaGen)") for name in names if name.startswith("full +") or name == TEACHER_ROW]
    differences = []
    for model, reference in pairs:
        if model in names and reference in names:
            for field in ("micro_f1", "verified_claim_rate"):
                diff = paired_difference(model, reference, field, values(model, field), values(reference, field), ratio)
                if diff is not None:
                    differences.append(diff)
    result = AblationSeeds(
        seeds=seeds,
        folders=[str(config.out / f"seed-{seed}") for seed in seeds],
        variants={name: {field: spread(values(name, field)) for field in ABLATION_METRICS} for name in names},
        differences=differences,
        seconds=time.perf_counter() - started,
    )
    config.out.mkdir(parents=True, exist_ok=True)
    (config.out / "ablation-seeds.json").write_text(result.model_dump_json(indent=2) + "\n")
    (config.out / "ablation-seeds.md").write_text(result.table().markdown())
    return summaries, result
