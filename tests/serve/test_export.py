"""`clinreason export`: a self-contained student folder that serve and predict load, refused when changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from clinreason.cli import app
from clinreason.errors import CheckpointError, ConfigError
from clinreason.serve import create_app, load_served
from clinreason.serve.export import export_student, verify_export
from doubles import Server

FLAT = {"age": 50, "sex": "female", "findings": {"glucose_2h": 171, "bmi": 35.1}}


@pytest.mark.slow
def test_an_export_serves_without_its_run_folder(run_folder: Path, tmp_path: Path) -> None:
    out = export_student(run_folder, tmp_path / "export", "label")
    manifest = verify_export(out)
    assert manifest.model_id == "served/label" and "model/student.json" in manifest.files
    assert {"spec.json", "card.json", "MODEL_CARD.md", "decision_rule.json"} <= set(manifest.files)
    moved = tmp_path / "elsewhere"
    shutil.copytree(out, moved)  # no path back to the run folder is needed
    original, exported = load_served(run_folder, "label"), load_served(moved)
    assert exported.rule == original.rule and exported.cohort.labels == original.cohort.labels
    assert exported.cohort.records == [] and set(exported.templates) == set(original.templates)
    with Server(create_app(exported)) as url:
        answer = httpx.post(f"{url}/v1/diagnose", json={"patient": FLAT}, timeout=60).json()["results"][0]
        assert httpx.get(f"{url}/v1/model").json()["model_id"] == "served/label"
    with Server(create_app(original)) as url:
        direct = httpx.post(f"{url}/v1/diagnose", json={"patient": FLAT}, timeout=60).json()["results"][0]
    assert answer["probabilities"] == pytest.approx(direct["probabilities"], abs=1e-6)  # the same model

    result = CliRunner().invoke(
        app, ["predict", "--checkpoint", str(moved), "--cohort", "pima-diabetes", "--out", str(tmp_path / "p.jsonl")]
    )
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) > 0


@pytest.mark.slow
def test_a_changed_export_is_refused_and_naming_the_file(run_folder: Path, tmp_path: Path) -> None:
    out = export_student(run_folder, tmp_path / "export", "label")
    card = json.loads((out / "card.json").read_text())
    card["intended_use"] = "anything"
    (out / "card.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=r"card\.json: its sha256 does not match"):
        load_served(out)
    result = CliRunner().invoke(app, ["serve", str(out)])
    assert result.exit_code == 2 and "sha256 does not match" in result.output
    with pytest.raises(ConfigError, match="not empty"):
        export_student(run_folder, out, "label")
    other = export_student(run_folder, tmp_path / "export2", "label")
    (other / "model" / "extra.bin").write_bytes(b"x")
    with pytest.raises(CheckpointError, match=r"extra\.bin: not part of the export"):
        verify_export(other)
