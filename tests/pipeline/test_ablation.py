from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinreason.pipeline.ablation import AblationConfig, run_ablation
from clinreason.student.train import TrainConfig


@pytest.mark.slow
def test_ablation_runs_all_four_variants(tmp_path: Path, tiny_student_dir: Path) -> None:
    config = AblationConfig(
        patients=40,
        student=str(tiny_student_dir),
        d_model=16,
        layers=1,
        heads=2,
        prototypes=6,
        max_new_tokens=12,
        train=TrainConfig(epochs=1, batch_size=8, learning_rate=1e-3, precision="fp32", max_length=1024),
        out=tmp_path / "ablation",
    )
    summary = run_ablation(config)
    assert list(summary["variants"]) == [
        "note only",
        "time series only",
        "joint without knowledge attention",
        "full (ClinRaGen)",
    ]
    for metrics in summary["variants"].values():
        assert 0.0 <= metrics["micro_f1"] <= 1.0 and 0.0 <= metrics["macro_f1"] <= 1.0
    table = (tmp_path / "ablation" / "ablation.md").read_text()
    assert "| full (ClinRaGen) |" in table and "verified-claim rate" in table
    assert json.loads((tmp_path / "ablation" / "ablation.json").read_text())["test"] == summary["test"]
