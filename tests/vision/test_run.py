"""The whole segmentation run end to end on small synthetic data (slow: three trainings)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from clinreason.cli import app
from clinreason.errors import ConfigError
from clinreason.pipeline.segment import evaluate_run, run_segment
from clinreason.run_folder import claim_folder, read_folder_config
from clinreason.vision.config import SegmentConfig
from clinreason.vision.data import SliceSplit
from clinreason.vision.inference import predict_images
from clinreason.vision.results import SegmentSummary
from clinreason.vision.train import TrainSettings


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SegmentSummary]:
    out = tmp_path_factory.mktemp("segment") / "run"
    config = SegmentConfig(
        data="synthetic",
        synthetic_images=30,
        size=64,
        label_ratio=0.25,
        out=out,
        train=TrainSettings(epochs=2, batch_size=4, channels=(4, 8, 8, 16, 16), k=2, shortlist=4),
    )
    return out, run_segment(config)


@pytest.mark.slow
def test_run_writes_metrics_report_and_checkpoints(finished_run: tuple[Path, SegmentSummary]) -> None:
    out, summary = finished_run
    assert list(summary.methods) == ["supervised", "ssl", "cers", "dense"]
    assert summary.labelled + summary.unlabelled + summary.test == summary.slices == 30
    for metrics in summary.methods.values():
        assert metrics.dice is not None and 0.0 <= metrics.dice <= 1.0 and metrics.cases == summary.test
        assert metrics.both_present + metrics.missed + metrics.false_positive + metrics.both_empty == summary.test
    assert json.loads((out / "metrics.json").read_text())["methods"]["cers"]["dice"] == summary.methods["cers"].dice
    report = (out / "report.html").read_text()
    assert report.count('alt="overlay"') == summary.test and "CERS" in report
    assert "Per test slice" in report and report.count("Dice / HD95") == len(summary.methods)
    rows = [json.loads(line) for line in (out / "reasoning.jsonl").read_text().splitlines()]
    assert len(rows) == 30 and {r["source"] for r in rows} == {"rules"}
    assert all(r["text"].startswith("Texture:") for r in rows)
    for method in ("supervised", "ssl", "cers", "dense"):
        assert (out / method / "last.pt").is_file() and (out / "predictions" / f"{method}.npz").is_file()


@pytest.mark.slow
def test_rerun_trains_nothing_and_evaluate_reproduces_the_metrics(finished_run: tuple[Path, SegmentSummary]) -> None:
    out, summary = finished_run
    stamps = {m: (out / m / "last.pt").stat().st_mtime_ns for m in ("supervised", "ssl", "cers", "dense")}
    again = run_segment(read_folder_config(out, SegmentConfig))
    assert {m: (out / m / "last.pt").stat().st_mtime_ns for m in stamps} == stamps  # finished: not trained again
    assert again.methods["cers"].dice == pytest.approx(summary.methods["cers"].dice)
    evaluated = evaluate_run(out)
    for method in summary.methods:
        assert evaluated.methods[method].dice == pytest.approx(summary.methods[method].dice)
    result = CliRunner().invoke(app, ["segment", "evaluate", str(out)])
    assert result.exit_code == 0 and "CERS" in result.output
    assert "| CERS |" in (out / "metrics.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["cers", "dense"])
def test_predict_new_png_images(finished_run: tuple[Path, SegmentSummary], tmp_path: Path, method: str) -> None:
    out, _ = finished_run
    images = tmp_path / "new"
    images.mkdir()
    Image.fromarray((np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)).save(images / "a.png")
    (images / "._a.png").write_bytes(b"resource fork")  # skipped
    written = predict_images(out, images, method, tmp_path / "masks")  # type: ignore[arg-type]
    assert [p.name for p in written] == ["new-a-z000.png"]
    mask = np.asarray(Image.open(written[0]))
    assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0, 255}


def test_config_errors_come_before_any_training(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="teacher_sees_image needs an OpenAI-compatible vision model"):
        SegmentConfig(teacher="gguf:qwen2.5-coder-1.5b", teacher_sees_image=True)
    result = CliRunner().invoke(app, ["segment", "train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path)])
    assert result.exit_code != 0 and "is not pyradiomics, nuclei, synthetic or a dataset folder" in result.output
    too_many = SegmentConfig(data="synthetic", synthetic_images=10, size=64, split_by="fold", test_fraction=0.05)
    with pytest.raises(ConfigError, match=r"cannot split \(split_by fold\): 20 folds need at least 20 cases"):
        run_segment(too_many.model_copy(update={"out": tmp_path / "folds"}))
    assert not (tmp_path / "folds" / "supervised").exists()  # refused before any training


@pytest.mark.slow
def test_a_changed_label_ratio_on_a_finished_run_is_refused(finished_run: tuple[Path, SegmentSummary]) -> None:
    out, _ = finished_run
    config = read_folder_config(out, SegmentConfig)
    with pytest.raises(ConfigError, match=r"made with a different config \(label_ratio: 0.25 in the folder, 0.5 now\)"):
        run_segment(config.model_copy(update={"label_ratio": 0.5}))
    assert SliceSplit.load(out / "split.json").label_ratio == 0.25  # the old split was not touched


def test_the_cli_refuses_another_label_ratio_in_one_line(tmp_path: Path) -> None:
    claim_folder(tmp_path / "run", SegmentConfig(data="synthetic", out=tmp_path / "run"))
    args = ["segment", "train", "--data", "synthetic", "--label-ratio", "0.5", "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "label_ratio: 0.25 in the folder, 0.5 now" in lines[0], result.output


@pytest.mark.slow
def test_predict_writes_reasoning_with_the_runs_own_teacher(
    finished_run: tuple[Path, SegmentSummary], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run made with an LLM teacher: `segment predict` asks that teacher (here a scripted one) about
    each new image, not the descriptor rules, and saves the reasoning beside the masks."""
    import shutil

    import yaml

    from clinreason.teacher import Completion

    out, _ = finished_run
    copy = tmp_path / "run-with-teacher"
    shutil.copytree(out, copy)
    saved = yaml.safe_load((copy / "config.yaml").read_text())
    saved["teacher"] = "gguf:scripted-teacher"
    (copy / "config.yaml").write_text(yaml.safe_dump(saved))
    monkeypatch.setenv("CLINREASON_HOME", str(tmp_path / "home"))  # a fresh teacher cache

    class Scripted:
        kind, model_id, max_concurrency = "gguf", "scripted-teacher", 1
        calls = 0

        def check(self) -> None: ...

        def close(self) -> None: ...

        def chat(self, messages: object, sampling: object) -> Completion:
            Scripted.calls += 1
            return Completion(
                text="Texture: bright.\nBoundary: sharp.\nContext: inside the organ.\nSummary: a scripted lesion."
            )

    images = tmp_path / "new"
    images.mkdir()
    Image.fromarray((np.random.default_rng(1).random((64, 64)) * 255).astype(np.uint8)).save(images / "b.png")
    written = predict_images(copy, images, "cers", tmp_path / "masks", backend=Scripted())  # type: ignore[arg-type]
    assert [p.name for p in written] == ["new-b-z000.png"] and Scripted.calls == 1
    rows = [json.loads(line) for line in (tmp_path / "masks" / "reasoning.jsonl").read_text().splitlines()]
    assert rows == [
        {
            "id": "new-b-z000",
            "source": "teacher",
            "text": "Texture: bright.\nBoundary: sharp.\nContext: inside the organ.\nSummary: a scripted lesion.",
        }
    ]


def test_seeds_run_in_their_folders_and_dice_is_compared_to_the_unet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clinreason.pipeline import segment as module
    from clinreason.vision.results import MethodResult, ReasoningCounts
    from clinreason.vision.train import TrainSettings

    dice = {0: {"supervised": 0.70, "cers": 0.74}, 1: {"supervised": 0.60, "cers": 0.70}}
    seen: list[tuple[int, int, Path]] = []

    def fake(config: SegmentConfig, observer: object = None) -> SegmentSummary:
        seen.append((config.seed, config.train.seed, config.out))

        def result(value: float) -> MethodResult:
            return MethodResult(
                cases=4, dice=value, dice_std=0.1, iou=value - 0.1, iou_std=0.1, hd95=5.0, hd95_std=1.0, asd=1.0,
                asd_std=0.5, both_present=4, missed=0, false_positive=0, both_empty=0,
            )  # fmt: skip

        return SegmentSummary(
            data="nuclei", slices=20, labelled=4, unlabelled=12, test=4, label_ratio=0.1, seed=config.seed,
            reasoning=ReasoningCounts(teacher="rules", generated=0, cached=0, fallback=0), train=TrainSettings(),
            methods={m: result(v) for m, v in dice[config.seed].items()}, seconds=1.0,  # type: ignore[misc]
        )  # fmt: skip

    monkeypatch.setattr(module, "run_segment", fake)
    _, combined = module.run_segment_seeds(SegmentConfig(data="nuclei", out=tmp_path / "s"), [0, 1])
    assert seen == [(0, 0, tmp_path / "s" / "seed-0"), (1, 1, tmp_path / "s" / "seed-1")]
    (difference,) = combined.differences
    assert difference.model == "cers" and difference.differences == pytest.approx([0.04, 0.10])
    assert combined.methods["cers"]["dice"].mean == pytest.approx(0.72)
    assert "over seeds 0, 1" in (tmp_path / "s" / "segment-seeds.md").read_text()
