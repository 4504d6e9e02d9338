from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from clinreason.records import Cohort
from clinreason.student.checkpoint import load_checkpoint
from clinreason.student.config import LoraSettings, TrainConfig
from clinreason.student.data import Objective, build_examples
from clinreason.student.model import Student
from clinreason.student.predict import predict
from clinreason.student.train import train
from clinreason.student.validation import ValidationScore


def _config(objective: Objective, **overrides: object) -> TrainConfig:
    values = {
        "objective": objective,
        "epochs": 4,
        "learning_rate": 1e-2,
        "batch_size": 4,
        "warmup_ratio": 0.0,
        "precision": "fp32",
        "eval_every": 3,
        "patience": 10,
        "max_length": 256,
    }
    return TrainConfig.model_validate({**values, **overrides})


def _data(cohort: Cohort, rationales: dict[str, str], objective: Objective) -> tuple[list, list]:
    train_records, val_records = cohort.records[:16], cohort.records[16:]
    return (
        build_examples(cohort, train_records, objective, rationales),
        build_examples(cohort, val_records, objective, rationales),
    )


def _scripted_validator(scores: list[float]) -> Callable[[Student], ValidationScore]:
    """A validator that returns these AUROCs in turn (and checks that it scores in eval mode)."""
    values = iter(scores)

    def validator(student: Student) -> ValidationScore:
        assert not student.model.training  # scored in eval mode
        return ValidationScore(patients=4, auroc=next(values), macro_f1=0.5, accuracy=0.5)

    return validator


@pytest.mark.parametrize("objective", ["label", "rationale_then_label", "multitask"])
def test_causal_student_loss_falls(
    tiny_causal: Callable[[], Student],
    toy_cohort: Cohort,
    toy_rationales: dict[str, str],
    out_dir: Path,
    objective: Objective,
) -> None:
    train_examples, val_examples = _data(toy_cohort, toy_rationales, objective)
    result = train(tiny_causal(), train_examples, val_examples, _config(objective), out_dir)
    losses = [point.val_loss for point in result.state.history]
    assert len(losses) >= 3
    assert losses[-1] < 0.7 * losses[0], losses
    assert result.state.finished and (out_dir / "best" / "student.json").is_file()
    assert result.state.best_val_loss == min(losses)
    assert not list((out_dir / "last").glob("accelerate*"))  # a finished run keeps no resume weights
    again = train(tiny_causal(), train_examples, val_examples, _config(objective), out_dir)
    assert again.state == result.state  # nothing retrained, nothing to resume from


def test_seq2seq_student_loss_falls_and_predicts(
    tiny_seq2seq: Callable[[], Student], toy_cohort: Cohort, toy_rationales: dict[str, str], out_dir: Path
) -> None:
    train_examples, val_examples = _data(toy_cohort, toy_rationales, "rationale_then_label")
    student = tiny_seq2seq()
    result = train(
        student,
        train_examples,
        val_examples,
        _config("rationale_then_label", learning_rate=3e-2, epochs=6),
        out_dir,
    )
    losses = [point.val_loss for point in result.state.history]
    assert losses[-1] < 0.7 * losses[0], losses
    predictions = predict(student, toy_cohort, toy_cohort.records[16:18], "rationale_then_label", max_new_tokens=12)
    assert all(abs(sum(p.probabilities.values()) - 1) < 1e-6 for p in predictions)
    assert all(p.text is not None for p in predictions)


def test_resume_after_a_crash_gives_the_same_model(
    tiny_causal: Callable[[], Student], toy_cohort: Cohort, toy_rationales: dict[str, str], tmp_path: Path
) -> None:
    train_examples, val_examples = _data(toy_cohort, toy_rationales, "label")
    config = _config("label", epochs=2, eval_every=1)
    straight = tiny_causal()
    train(straight, train_examples, val_examples, config, tmp_path / "straight")

    class Crash(Exception):
        pass

    def crash_at_step_5(step: int, total: int, loss: float) -> None:
        if step == 5:
            raise Crash

    interrupted = tiny_causal()
    with pytest.raises(Crash):
        train(interrupted, train_examples, val_examples, config, tmp_path / "resumed", on_step=crash_at_step_5)
    resumed = tiny_causal()  # a fresh process: new weights, restored from the checkpoint
    result = train(resumed, train_examples, val_examples, config, tmp_path / "resumed")
    assert result.state.global_step == 8
    for (name, a), (_, b) in zip(straight.model.named_parameters(), resumed.model.named_parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name
    assert [p.step for p in result.state.history] == list(range(1, 9))


def test_best_checkpoint_is_chosen_on_validation(
    tiny_causal: Callable[[], Student], toy_cohort: Cohort, toy_rationales: dict[str, str], out_dir: Path
) -> None:
    train_examples, val_examples = _data(toy_cohort, toy_rationales, "label")
    result = train(tiny_causal(), train_examples, val_examples, _config("label", learning_rate=3e-2, epochs=4), out_dir)
    best = min(result.state.history, key=lambda p: p.val_loss or 0)
    student, meta = load_checkpoint(out_dir / "best")
    assert meta.step == best.step == result.state.best_step
    predictions = predict(student, toy_cohort, toy_cohort.records[16:], "label")
    assert len(predictions) == 8 and all(p.predicted in toy_cohort.labels for p in predictions)


def test_early_stopping(
    tiny_causal: Callable[[], Student], toy_cohort: Cohort, toy_rationales: dict[str, str], out_dir: Path
) -> None:
    train_examples, val_examples = _data(toy_cohort, toy_rationales, "label")
    config = _config("label", learning_rate=0.5, epochs=10, eval_every=1, patience=2)  # diverges quickly
    result = train(tiny_causal(), train_examples, val_examples, config, out_dir)
    assert result.state.stopped_early and result.state.global_step < 40


def test_lora_student_trains_and_reloads(
    tiny_causal: Callable[[], Student], toy_cohort: Cohort, toy_rationales: dict[str, str], out_dir: Path
) -> None:
    train_examples, val_examples = _data(toy_cohort, toy_rationales, "label")
    student = tiny_causal()
    frozen = {n: p.detach().clone() for n, p in student.model.named_parameters()}
    config = _config("label", lora=LoraSettings(r=4, alpha=8, dropout=0.0), learning_rate=1e-2)
    result = train(student, train_examples, val_examples, config, out_dir)
    losses = [p.val_loss for p in result.state.history]
    assert losses[-1] < losses[0]
    base = student.model.get_base_model()
    unchanged = [
        torch.equal(frozen[n.replace(".base_layer", "")], p) for n, p in base.named_parameters() if "lora" not in n
    ]
    assert unchanged and all(unchanged)
    assert (out_dir / "best" / "adapter_config.json").is_file()


def test_two_runs_in_one_process_may_use_different_precisions(
    tiny_causal: Callable[[], Student], toy_cohort: Cohort, toy_rationales: dict[str, str], tmp_path: Path
) -> None:
    """The demo trains two students in one process; accelerate's state from the first must not block the second."""
    train_examples, val_examples = _data(toy_cohort, toy_rationales, "label")
    fp32 = _config("label", epochs=1, max_steps=1, precision="fp32", gradient_accumulation=1)
    bf16 = _config("label", epochs=1, max_steps=1, precision="bf16", gradient_accumulation=2)
    assert train(tiny_causal(), train_examples, val_examples, fp32, tmp_path / "a").state.finished
    assert train(tiny_causal(), train_examples, val_examples, bf16, tmp_path / "b").state.finished


def test_a_failed_compile_trains_eagerly_with_a_warning(
    tiny_causal: Callable[[], Student],
    toy_cohort: Cohort,
    toy_rationales: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A machine without a C++ compiler fails inside the first compiled call; training must go on eagerly
    and end with the model an eager run gives."""

    def broken_compile(model: object, **_: object) -> Callable[..., object]:
        def call(*args: object, **kwargs: object) -> object:
            raise RuntimeError("InductorError: no C++ compiler found\nmore detail")

        return call

    train_examples, val_examples = _data(toy_cohort, toy_rationales, "label")
    eager = train(tiny_causal(), train_examples, val_examples, _config("label", compile="off"), tmp_path / "eager")
    monkeypatch.setattr(torch, "compile", broken_compile)
    with caplog.at_level("WARNING", logger="clinreason.student.train"):
        result = train(tiny_causal(), train_examples, val_examples, _config("label", compile="on"), tmp_path / "c")
    assert "torch.compile failed (InductorError: no C++ compiler found); training without it" in caplog.text
    assert [p.val_loss for p in result.state.history] == pytest.approx([p.val_loss for p in eager.state.history])


def test_the_best_checkpoint_is_chosen_on_the_validation_diagnosis_metric(
    tiny_causal: Callable[[], Student], toy_cohort: Cohort, toy_rationales: dict[str, str], out_dir: Path
) -> None:
    """A scripted validator: AUROC peaks at the second evaluation while the loss keeps falling; the
    selection follows AUROC, and patience counts evaluations without a better AUROC."""
    validator = _scripted_validator([0.6, 0.9, 0.7, 0.8, 0.85, 0.5, 0.5, 0.5])
    train_examples, val_examples = _data(toy_cohort, toy_rationales, "label")
    config = _config("label", select_on="auroc", patience=3)
    result = train(tiny_causal(), train_examples, val_examples, config, out_dir, validator=validator)
    history = result.state.history
    assert [p.val_auroc for p in history] == [0.6, 0.9, 0.7, 0.8, 0.85]  # stopped after 3 without a better one
    assert result.state.stopped_early and result.state.selected_on == "auroc"
    assert result.state.best_step == history[1].step and result.state.best_metric == 0.9
    assert history[-1].val_loss < history[1].val_loss  # the loss alone would have chosen a later step


@pytest.mark.parametrize(
    ("scores", "min_delta", "best_index", "evaluations"),
    [
        # AUROC 0.85, then 0.004 and 0.007 above it, then worse
        ([0.85, 0.854, 0.857, 0.5, 0.5, 0.5], 0.0, 2, 6),
        ([0.85, 0.854, 0.857, 0.5, 0.5, 0.5], 0.008, 0, 4),  # neither small gain counts
        ([0.85, 0.854, 0.87, 0.5, 0.5, 0.5], 0.008, 2, 6),  # 0.02 over the best does
    ],
)
def test_a_gain_below_min_delta_is_not_an_improvement(
    tiny_causal: Callable[[], Student],
    toy_cohort: Cohort,
    toy_rationales: dict[str, str],
    out_dir: Path,
    scores: list[float],
    min_delta: float,
    best_index: int,
    evaluations: int,
) -> None:
    """With a margin, an evaluation replaces the best only when it beats it by more than the margin, and
    patience counts the evaluations that do not."""
    train_examples, val_examples = _data(toy_cohort, toy_rationales, "label")
    config = _config("label", select_on="auroc", patience=3, min_delta=min_delta)
    result = train(tiny_causal(), train_examples, val_examples, config, out_dir, validator=_scripted_validator(scores))
    history = result.state.history
    assert len(history) == evaluations
    assert result.state.best_step == history[best_index].step and result.state.best_metric == scores[best_index]


@pytest.mark.parametrize(
    ("metric", "value", "min_delta", "better"),
    [
        ("loss", 0.5, 0.0, False),
        ("loss", 0.49, 0.0, True),
        ("loss", 0.49, 0.02, False),  # down by 0.01, the margin asks for more than 0.02
        ("loss", 0.47, 0.02, True),
        ("auroc", 0.81, 0.02, False),
        ("auroc", 0.83, 0.02, True),
    ],
)
def test_better_by_more_than_the_margin(metric: str, value: float, min_delta: float, better: bool) -> None:
    """Against a best of 0.5 (loss) or 0.8 (AUROC)."""
    from clinreason.student.train import _better

    best = 0.5 if metric == "loss" else 0.8
    assert _better(metric, value, best, min_delta) is better


def test_eval_on_start_keeps_the_starting_model_when_training_only_makes_it_worse(
    tiny_causal: Callable[[], Student], toy_cohort: Cohort, toy_rationales: dict[str, str], out_dir: Path
) -> None:
    """A warm-started student must not be replaced by a worse trained one: with `eval_on_start` the model
    before step 1 is evaluated (step 0) and stays the best checkpoint while no later AUROC beats it."""
    validator = _scripted_validator([0.9, 0.7, 0.8])
    student = tiny_causal()
    start = {name: p.detach().clone() for name, p in student.model.named_parameters()}
    train_examples, val_examples = _data(toy_cohort, toy_rationales, "label")
    config = _config("label", select_on="auroc", eval_on_start=True, max_steps=8, eval_every=None, evals_per_epoch=1)
    result = train(student, train_examples, val_examples, config, out_dir, validator=validator)
    assert [(p.step, p.val_auroc) for p in result.state.history] == [(0, 0.9), (4, 0.7), (8, 0.8)]
    assert result.state.best_step == 0 and result.state.best_metric == 0.9
    best, meta = load_checkpoint(out_dir / "best")
    assert meta.step == 0
    for name, p in best.model.named_parameters():
        assert torch.allclose(p, start[name]), name  # the saved best is the model before training
    assert any(not torch.allclose(p, start[n]) for n, p in student.model.named_parameters())  # it did train


def test_balanced_class_weights_by_hand() -> None:
    from clinreason.student.data import Example
    from clinreason.student.train import class_weights

    examples = [Example(str(i), "p", "t", "label", label=label) for i, label in enumerate("aaab")]
    # n / (classes x n_class): 4 / (2 x 3) for a, 4 / (2 x 1) for b
    assert class_weights(examples) == pytest.approx([2 / 3, 2 / 3, 2 / 3, 2.0])


def test_the_validator_scores_in_full_precision_under_bf16_training(
    tiny_causal: Callable[[], Student], toy_cohort: Cohort, toy_rationales: dict[str, str], out_dir: Path
) -> None:
    """accelerate wraps the prepared model's forward in bf16 autocast; in bf16 a weak student's close class
    scores round together (the demo's label student measured validation AUROC 0.59 that way, 0.82 in
    fp32). The validator must see the model as `predict` sees a loaded checkpoint: without autocast."""
    from clinreason.student.validation import ValidationScore

    seen: list[bool] = []
    student = tiny_causal()

    def record(module: object, args: object) -> None:
        seen.append(torch.is_autocast_enabled("cpu"))

    def validator(scored: Student) -> ValidationScore:
        seen.clear()
        scored.model(input_ids=torch.tensor([[1, 2, 3]]))
        assert seen == [False], "the validator's forward ran under autocast"
        return ValidationScore(patients=1, auroc=0.5, macro_f1=0.5, accuracy=0.5)

    student.model.model.register_forward_pre_hook(record)
    train_examples, val_examples = _data(toy_cohort, toy_rationales, "label")
    config = _config("label", precision="bf16", epochs=1, max_steps=2, eval_every=1, select_on="auroc")
    seen_in_training: list[bool] = []
    result = train(
        student,
        train_examples,
        val_examples,
        config,
        out_dir,
        validator=validator,
        on_step=lambda *_: seen_in_training.append(any(seen)),
    )
    assert [p.val_auroc for p in result.state.history] == [0.5, 0.5]
    assert seen_in_training and all(seen_in_training)  # the training steps themselves ran in bf16


def test_evaluations_are_spread_over_each_epoch_without_a_double_at_its_end(
    tiny_causal: Callable[[], Student], toy_cohort: Cohort, toy_rationales: dict[str, str], out_dir: Path
) -> None:
    """20 examples in batches of 4: 5 steps an epoch; two evaluations an epoch fall at steps 3 and 5 of
    each epoch (a global every-3-steps counter gave 3, 5, 6, 9, 10: two in a row at each epoch's end)."""
    examples = build_examples(toy_cohort, toy_cohort.records[:20], "label", toy_rationales)
    config = _config("label", epochs=2, eval_every=None, evals_per_epoch=2, learning_rate=1e-3)
    result = train(tiny_causal(), examples, examples[:4], config, out_dir)
    assert [p.step for p in result.state.history] == [3, 5, 8, 10]


def test_claim_token_weights_enter_the_loss_as_a_weighted_token_mean() -> None:
    """Two answer tokens with per-token losses l1, l2 and weights 1, 3: (l1 + 3 l2) / 4."""
    from clinreason.student.train import batch_loss

    class Fixed(torch.nn.Module):
        def __init__(self, logits: torch.Tensor) -> None:
            super().__init__()
            self.logits = logits

        def forward(self, **_: object) -> object:
            return type("Out", (), {"logits": self.logits})()

    torch.manual_seed(0)
    logits = torch.randn(1, 4, 5)  # positions 0-3; positions 1 and 2 predict the answer tokens 2 and 3
    labels = torch.tensor([[-100, -100, 1, 4]])
    batch = {"input_ids": torch.zeros(1, 4, dtype=torch.long), "attention_mask": torch.ones(1, 4), "labels": labels}
    token = torch.nn.functional.cross_entropy(logits[0, 1:3], labels[0, 2:], reduction="none")
    plain = batch_loss(Fixed(logits), batch, "causal", "rationale_then_label", 0.5, keep=False)
    weighted = batch_loss(
        Fixed(logits),
        {**batch, "token_weights": torch.tensor([[1.0, 1.0, 1.0, 3.0]])},
        "causal",
        "rationale_then_label",
        0.5,
        keep=False,
    )
    assert float(plain) == pytest.approx(float(token.mean()))
    assert float(weighted) == pytest.approx(float((token[0] + 3 * token[1]) / 4))
