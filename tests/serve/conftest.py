"""A run with two tiny students trained here (shared by the serving tests), and a real uvicorn server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clinreason.pipeline.config import parse_run_config
from clinreason.pipeline.run import run_pipeline
from conftest import make_tiny_llama
from doubles import fill_teacher_cache


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any) -> Path:
    root = tmp_path_factory.mktemp("serve")
    student = root / "tiny-student"
    make_tiny_llama(tokenizer, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True).save_pretrained(student)
    tokenizer.save_pretrained(student)
    cache = root / "cache.sqlite"
    fill_teacher_cache(cache, ["pima-diabetes"])
    config = parse_run_config(
        {
            "name": "served",
            "out": str(root / "run"),
            "data": {"cohort": "pima-diabetes", "train_limit": 12, "validation_limit": 8, "test_limit": 8},
            "teacher": {"model": "smollm2-135m", "cache": str(cache), "use_seed": False},
            "student": {
                "model": str(student),
                "objectives": ["label", "rationale_then_label"],
                "train": {"max_steps": 2, "batch_size": 4, "learning_rate": 1e-3, "precision": "fp32"},
            },
            "evaluation": {"max_new_tokens": 12, "bootstrap": 0, "report_patients": 0, "bertscore": False},
        }
    )
    run_pipeline(config)
    return root / "run"
