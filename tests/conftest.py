"""Shared fixtures: small files in the real layouts, written by the tests themselves."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ADNI_HEADER = [
    "RID",
    "PTID",
    "VISCODE",
    "SITE",
    "EXAMDATE",
    "DX_bl",
    "AGE",
    "PTGENDER",
    "PTEDUCAT",
    "PTETHCAT",
    "PTRACCAT",
    "PTMARRY",
    "APOE4",
    "CDRSB",
    "ADAS13",
    "MMSE",
    "Ventricles",
    "Hippocampus",
    "WholeBrain",
    "Entorhinal",
    "Fusiform",
    "MidTemp",
    "ICV",
    "DX",
    "Month",
]
ICV = 1_500_000.0


def _volumes(hippo_pct: float, ventricles_pct: float = 2.0) -> dict[str, float]:
    """Region volumes (mm3) from shares of ICV (percent); the other cortical regions scale with the
    hippocampus, so their z-scores equal the hippocampus's."""
    scale = hippo_pct / 0.5
    return {
        "Hippocampus": hippo_pct / 100 * ICV,
        "Ventricles": ventricles_pct / 100 * ICV,
        "WholeBrain": 68.0 * scale / 100 * ICV,
        "Entorhinal": 0.24 * scale / 100 * ICV,
        "Fusiform": 1.2 * scale / 100 * ICV,
        "MidTemp": 1.3 * scale / 100 * ICV,
    }


def adni_rows() -> list[dict[str, object]]:
    """12 subjects at baseline plus follow-up visits, in ADNIMERGE's layout and codes.

    CN hippocampal shares 0.50/0.52/0.48 % give mean 0.50, SD 0.02, so a share of 0.47 is z = -1.5
    (Mild) and 0.45 is z = -2.5 (Severe). CN ventricle shares 1.9/2.0/2.1 give mean 2.0, SD 0.1.
    """
    subjects = [
        # rid, dx_bl, dx, age, sex, educ, marry, apoe4, cdrsb, mmse, hippo %, ventricles %
        (2, "CN", "CN", 74.3, "Male", 16, "Married", 0, 0.0, 28, 0.50, 1.9),
        (3, "CN", "CN", 81.3, "Female", 18, "Widowed", 0, 0.0, 29, 0.52, 2.0),
        (4, "SMC", "CN", 67.5, "Female", 10, "Never married", 1, 0.0, 30, 0.48, 2.1),
        (5, "LMCI", "MCI", 73.7, "Male", 16, "Divorced", 1, 1.5, 27, 0.485, 2.05),
        (6, "EMCI", "", 80.4, "Female", 13, "Married", 0, 1.0, 26, 0.47, 2.15),
        (7, "AD", "Dementia", 74.0, "Male", 16, "Married", 2, 4.5, 22, 0.45, 2.25),
        (8, "AD", "Dementia", 69.9, "Female", 12, "Unknown", 1, 5.0, 20, None, None),
    ]
    rows: list[dict[str, object]] = []
    for rid, dx_bl, dx, age, sex, educ, marry, apoe4, cdrsb, mmse, hippo, vent in subjects:
        volumes = _volumes(hippo, vent) if hippo is not None else {k: "" for k in _volumes(0.5)}
        base = {
            "RID": rid,
            "PTID": f"011_S_{rid:04d}",
            "SITE": 11,
            "DX_bl": dx_bl,
            "AGE": age,
            "PTGENDER": sex,
            "PTEDUCAT": educ,
            "PTETHCAT": "Not Hisp/Latino",
            "PTRACCAT": "White",
            "PTMARRY": marry,
            "APOE4": apoe4,
            "CDRSB": cdrsb,
            "ADAS13": 10.67,
            "MMSE": mmse,
            "ICV": ICV,
            **volumes,
        }
        rows.append({**base, "VISCODE": "bl", "EXAMDATE": "2005-09-08", "DX": dx, "Month": 0})
        rows.append({**base, "VISCODE": "m06", "EXAMDATE": "2006-03-13", "DX": dx or "MCI", "Month": 6, "MMSE": ""})
    # A subject with no diagnosis at baseline: skipped on purpose and counted.
    rows.append({**rows[0], "RID": 9, "PTID": "011_S_0009", "DX_bl": "", "DX": ""})
    return rows


def write_csv(path: Path, header: list[str], rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="raise")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return path


@pytest.fixture
def adni_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "ADNIMERGE.csv", ADNI_HEADER, adni_rows())


@pytest.fixture
def make_adni_csv(tmp_path: Path) -> Callable[[Callable[[list[dict[str, object]]], None]], Path]:
    """Write the ADNI fixture after `edit` has changed its rows in place."""

    def make(edit: Callable[[list[dict[str, object]]], None]) -> Path:
        rows = adni_rows()
        edit(rows)
        header = list(dict.fromkeys(k for row in rows for k in row))
        return write_csv(tmp_path / "ADNIMERGE.csv", header, rows)

    return make


@pytest.fixture(scope="session")
def tokenizer() -> Any:
    """SmolLM2's tokenizer (with its chat template), read from the packaged GGUF."""
    from transformers import AutoTokenizer

    from clinreason.teacher.models import resolve_gguf

    gguf = resolve_gguf("smollm2-135m")
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def make_tiny_llama(tokenizer: Any, **config: Any) -> Any:
    """A tiny random Llama (seeded) sized for a tokenizer; keyword arguments go to LlamaConfig."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    sizes = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 2048,
    }
    return LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), **{**sizes, **config}))


@pytest.fixture
def tiny_llama() -> Callable[..., Any]:
    """A factory of tiny random Llamas (seeded) sized for a tokenizer; keyword arguments go to LlamaConfig."""
    return make_tiny_llama


@pytest.fixture
def tiny_student_dir(tmp_path: Path, tokenizer: Any, tiny_llama: Callable[..., Any]) -> Path:
    """A tiny random Llama saved with SmolLM2's tokenizer: a student folder that trains in seconds."""
    model = tiny_llama(tokenizer, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True)
    folder = tmp_path / "tiny-student"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any) -> Path:
    """A finished pipeline run with three tiny students (label, its gated numeric-aware twin
    label+values+linear-lr-gated, rationale_then_label) on 28 Pima patients."""
    from clinreason.pipeline.config import parse_run_config
    from clinreason.pipeline.run import run_pipeline
    from doubles import fill_teacher_cache

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
                "value_tokens": ["label"],
                "value_linear": True,
                "value_linear_init": "logistic",
                "value_linear_gate": True,
                "train": {"max_steps": 2, "batch_size": 4, "learning_rate": 1e-3, "precision": "fp32"},
            },
            "evaluation": {"max_new_tokens": 12, "bootstrap": 0, "report_patients": 0, "bertscore": False},
        }
    )
    run_pipeline(config)
    return root / "run"
