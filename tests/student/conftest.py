"""Tiny students built from a config inside the tests (no download): a causal Llama and a seq2seq T5."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clinreason.records import Cohort, CohortSource, Finding, PatientRecord, ReferenceRange
from clinreason.student.model import Student, prepare


@pytest.fixture
def tiny_causal(tokenizer: Any, tiny_llama: Callable[..., Any]) -> Callable[[], Student]:
    def make() -> Student:
        model = tiny_llama(
            tokenizer, max_position_embeddings=1024, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True
        )
        return prepare(model, tokenizer, name="tiny-llama", device="cpu")

    return make


@pytest.fixture
def tiny_seq2seq(tokenizer: Any) -> Callable[[], Student]:
    def make() -> Student:
        import torch
        from transformers import T5Config, T5ForConditionalGeneration

        torch.manual_seed(0)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        config = T5Config(
            vocab_size=len(tokenizer),
            d_model=32,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_decoder_layers=2,
            num_heads=4,
            decoder_start_token_id=pad,
            pad_token_id=pad,
            eos_token_id=tokenizer.eos_token_id,
        )
        return prepare(T5ForConditionalGeneration(config), tokenizer, name="tiny-t5", device="cpu")

    return make


SOURCE = CohortSource(name="toy", citation="none", licence="CC0")


@pytest.fixture
def toy_cohort() -> Cohort:
    return make_toy_cohort()


def make_toy_cohort() -> Cohort:
    """24 patients whose label follows glucose (high -> diabetes), with teacher-like rationales."""
    records = []
    for i in range(24):
        glucose = 180.0 + i if i % 2 == 0 else 90.0 + i
        records.append(
            PatientRecord(
                id=f"p{i}",
                age=40 + i,
                sex="female",
                labels=["diabetes" if i % 2 == 0 else "no diabetes"],
                findings={
                    "glucose": Finding(
                        name="glucose", label="glucose", value=glucose, unit="mg/dL", normal=ReferenceRange(high=139)
                    )
                },
            )
        )
    return Cohort(
        name="toy",
        title="toy",
        source=SOURCE,
        labels=["diabetes", "no diabetes"],
        records=records,
        label_descriptions={"diabetes": "Diabetes", "no diabetes": "No diabetes"},
    )


@pytest.fixture
def toy_rationales(toy_cohort: Cohort) -> dict[str, str]:
    return make_toy_rationales(toy_cohort)


def make_toy_rationales(toy_cohort: Cohort) -> dict[str, str]:
    out = {}
    for record in toy_cohort.records:
        value = record.findings["glucose"].value
        word = "high" if record.label == "diabetes" else "normal"
        out[record.id] = f"1. Glucose: {value:g} mg/dL, {word}.\nConclusion: glucose is {word}."
    return out


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"
