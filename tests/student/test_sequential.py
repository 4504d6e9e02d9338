from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from clinreason.records.synthetic import make_multimodal_cohort, reference_rationales
from clinreason.student.config import TrainConfig
from clinreason.student.multimodal_model import TS_TOKEN, MultimodalStudent
from clinreason.student.sequential import (
    Rationales,
    cohort_rationales,
    predict_multimodal,
    prompt,
    stated_diseases,
    target,
    train_stage,
)


def test_prompts_and_targets_per_mode() -> None:
    cohort = make_multimodal_cohort(n=5, seed=0)
    record = cohort.records[0]
    assert TS_TOKEN not in prompt(record, "note") and "Brief hospital course:" in prompt(record, "note")
    assert prompt(record, "series").count(TS_TOKEN) == 11 and "Brief hospital course" not in prompt(record, "series")
    assert prompt(record, "joint").count(TS_TOKEN) == 11
    r = Rationales(note="N.", series="S.")
    assert target(["Shock"], r, "joint") == "Diseases: Shock\nNote rationale: N.\nLab rationale: S."
    assert target([], r, "series") == "Diseases: No disease is diagnosed\nLab rationale: S."
    assert stated_diseases("Diseases: Shock, Pneumonia\nNote rationale: x") == "Shock, Pneumonia"


def test_three_stages_train_what_they_should(tokenizer: Any, tiny_llama: Callable[..., Any], tmp_path: Path) -> None:
    tok = copy.deepcopy(tokenizer)
    lm = tiny_llama(tok)
    model = MultimodalStudent(lm, tok, d_model=16, layers=1, heads=2, knowledge=torch.randn(30, 32), prototypes=6)
    cohort = make_multimodal_cohort(n=14, seed=0)
    rationales = cohort_rationales(cohort, reference_rationales)
    train_records, val_records = cohort.records[:10], cohort.records[10:]
    config = TrainConfig(epochs=1, batch_size=5, learning_rate=1e-3, precision="fp32", max_length=1024)
    snapshots = []
    for stage in (1, 2, 3):
        lm_before = copy.deepcopy(model.lm.state_dict())
        encoder_before = copy.deepcopy(model.encoder.state_dict())
        model, result = train_stage(
            model, tok, stage, train_records, val_records, rationales, config, tmp_path / f"stage{stage}"
        )
        assert result.state.global_step == 2
        lm_changed = any(not torch.equal(v, model.lm.state_dict()[k]) for k, v in lm_before.items())
        encoder_changed = any(not torch.equal(v, model.encoder.state_dict()[k]) for k, v in encoder_before.items())
        snapshots.append((lm_changed, encoder_changed))
    assert snapshots == [(True, False), (False, True), (True, False)]
    predictions = predict_multimodal(
        model,
        tok,
        val_records[:2],
        "joint",
        cohort.labels,
        max_new_tokens=8,
        match=lambda text, names: [n for n in names if n in text],
    )
    assert len(predictions) == 2 and all(set(p.predicted) <= set(cohort.labels) for p in predictions)


def test_the_anomaly_text_option_puts_the_series_description_in_the_prompt() -> None:
    from clinreason.records.timeseries import timeseries_text

    record = make_multimodal_cohort(n=5, seed=0).records[0]
    plain, described = prompt(record, "series"), prompt(record, "series", anomaly_text=True)
    assert "Lab test anomalies" not in plain
    assert described.startswith(plain) and timeseries_text(record.time_series) in described
    assert prompt(record, "note", anomaly_text=True) == prompt(record, "note")  # no series in the note mode


def test_the_candidate_whose_claims_verify_is_kept() -> None:
    from clinreason.records.timeseries import describe_series, summarise
    from clinreason.student.sequential import choose_verified

    record = make_multimodal_cohort(n=5, seed=0).records[0]
    true = describe_series(summarise(record.time_series)["heart_rate"])  # what the anomaly text says
    invented = "Heart rate is higher than normal 97 times and lower than normal 95 times."
    vague = "The patient was unwell."
    assert choose_verified([invented, true, vague], record) == 1
    assert choose_verified([vague, invented], record) == 0  # no claim beats a wrong one
    assert choose_verified([true, true], record) == 0  # ties keep the greedy answer
